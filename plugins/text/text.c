/*
 * text — the bundled batchcore plugin that describes a document's bytes.
 *
 * For each document it reports, as one compact JSON object:
 *
 *   {"bytes":N,"lines":N,"words":N,"characters":N,
 *    "sha256":"<64 hex digits>","encoding":"utf-8"|"unknown"}
 *
 * In a later stage of a pipeline (doc->input non-NULL) it describes the
 * previous stage's output; a document held in memory (doc->content: given
 * by its content, or a fetched URL) is described from its bytes; otherwise
 * it reads the file at doc->path. Files
 * are streamed in chunks through every counter and the digest, so memory use
 * does not depend on the file's size.
 *
 * Conventions:
 *   bytes       the size in bytes.
 *   lines       the number of lines a person sees in an editor: every '\n'
 *               ends a line, and a last line without a final '\n' still
 *               counts. So "" has 0 lines, "a" 1, "a\n" 1, "a\nb" 2 and
 *               "a\n\n" 2. (`wc -l` counts only '\n' and says 0 for "a".)
 *               Only '\n' ends a line: "\r\n" counts once, a lone '\r' not.
 *   words       maximal runs of bytes that are not ASCII whitespace (space,
 *               \t, \n, \v, \f, \r). Bytes >= 0x80 are word bytes, so
 *               "naïve café" is 2 words and a non-breaking space joins words.
 *   encoding    "utf-8" when the bytes are well-formed UTF-8 (RFC 3629:
 *               overlong forms, surrogates U+D800..U+DFFF, code points above
 *               U+10FFFF and truncated sequences are ill-formed); "unknown"
 *               otherwise. ASCII and the empty document are "utf-8". A
 *               leading byte order mark is accepted and counted as a character.
 *   characters  the number of Unicode code points when the encoding is
 *               "utf-8", else the number of bytes.
 *
 * Option:
 *   max_bytes   refuse documents larger than this: a byte count with an
 *               optional binary suffix (K/KiB, M/MiB, G/GiB, T/TiB); "0", the
 *               default, means no limit. Bad values fail the stage at start.
 *
 * Failures (BC_OUTCOME_FAIL, message through set_error): no path and no
 * input, a file that cannot be opened or read (a missing file, a directory,
 * no permission), a document over max_bytes. A cancelled batch makes a long
 * read stop with BC_OUTCOME_RETRY, so the document stays unfinished.
 *
 * Thread safety: the state is written by create() only; process() keeps
 * everything it changes on its own stack or heap.
 */
#define _POSIX_C_SOURCE 200809L

#include "batchcore_plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Size of one read(). Overridable at build time (tests use tiny chunks to
 * split UTF-8 sequences at every possible place). */
#ifndef TEXT_CHUNK_SIZE
#define TEXT_CHUNK_SIZE (256u * 1024u)
#endif

/* ---- State shared by every worker (read-only after create) ------------- */

typedef struct text_state {
    const bc_host_api *host;
    uint64_t max_bytes; /* 0: no limit */
} text_state;

/* ---- Streaming analysis ----------------------------------------------- */

/* Everything known about the bytes seen so far. Chunks can end anywhere,
 * including inside a UTF-8 sequence, so the validator carries its state
 * (how many continuation bytes are still due and the range the next one must
 * fall in) from one chunk to the next. */
typedef struct text_stats {
    uint64_t bytes;
    uint64_t newlines;
    uint64_t words;
    uint64_t code_points;
    int in_word;            /* the previous byte was a word byte */
    unsigned char last;     /* the previous byte, when bytes > 0 */
    int utf8_valid;         /* no ill-formed sequence seen so far */
    unsigned utf8_pending;  /* continuation bytes still due */
    unsigned char utf8_lo;  /* range allowed for the next continuation byte */
    unsigned char utf8_hi;
    EVP_MD_CTX *sha;
} text_stats;

static int is_ascii_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r'); /* \t \n \v \f \r */
}

static void stats_feed(text_stats *s, const unsigned char *p, size_t n) {
    uint64_t newlines = 0, words = 0, code_points = 0;
    int in_word = s->in_word;
    int valid = s->utf8_valid;
    unsigned pending = s->utf8_pending;
    unsigned char lo = s->utf8_lo, hi = s->utf8_hi;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];

        if (c == '\n') newlines++;
        if (is_ascii_space(c)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }

        if (!valid) continue;
        if (pending > 0) {
            /* A continuation byte, within the range the lead byte allows. */
            if (c < lo || c > hi) { valid = 0; continue; }
            pending--;
            lo = 0x80;
            hi = 0xBF;
            continue;
        }
        code_points++;
        if (c < 0x80) continue;
        lo = 0x80;
        hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            pending = 1;
        } else if (c == 0xE0) {
            pending = 2; lo = 0xA0;           /* no overlong 3-byte forms */
        } else if (c == 0xED) {
            pending = 2; hi = 0x9F;           /* no surrogates */
        } else if (c >= 0xE1 && c <= 0xEF) {
            pending = 2;
        } else if (c == 0xF0) {
            pending = 3; lo = 0x90;           /* no overlong 4-byte forms */
        } else if (c >= 0xF1 && c <= 0xF3) {
            pending = 3;
        } else if (c == 0xF4) {
            pending = 3; hi = 0x8F;           /* nothing above U+10FFFF */
        } else {
            valid = 0; /* 0x80..0xC1 (stray continuation, overlong 2-byte), 0xF5..0xFF */
        }
    }

    if (n > 0) s->last = p[n - 1];
    s->bytes += n;
    s->newlines += newlines;
    s->words += words;
    s->code_points += code_points;
    s->in_word = in_word;
    s->utf8_valid = valid;
    s->utf8_pending = pending;
    s->utf8_lo = lo;
    s->utf8_hi = hi;
}

/* ---- Reporting helpers ------------------------------------------------- */

/* strerror() may share a buffer between threads; use the reentrant form in
 * whichever flavour the C library gives us. */
static const char *errno_text(int err, char *buf, size_t size) {
#if defined(_GNU_SOURCE) && defined(__GLIBC__)
    return strerror_r(err, buf, size);
#else
    if (strerror_r(err, buf, size) != 0) snprintf(buf, size, "error %d", err);
    return buf;
#endif
}

/* Record a printf-style error message for the document; returns FAIL (or
 * the given outcome) so callers can `return report(...)`. */
static int report(const bc_host_api *host, bc_call *call, int outcome, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        host->set_error(call, "text: could not format an error message");
        return outcome;
    }
    if ((size_t)n < sizeof small) {
        host->set_error(call, small);
        return outcome;
    }
    char *big = malloc((size_t)n + 1); /* long paths */
    if (big == NULL) {
        host->set_error(call, small); /* truncated, better than nothing */
        return outcome;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    host->set_error(call, big);
    free(big);
    return outcome;
}

/* ---- process() --------------------------------------------------------- */

/* Streams the file at `path` into `s`. Returns an outcome; on failure the
 * message is already set. */
static int read_file(const text_state *st, bc_call *call, const char *path, text_stats *s) {
    const bc_host_api *host = st->host;
    char ebuf[256];

    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        return report(host, call, BC_OUTCOME_FAIL, "cannot read '%s': %s", path,
                      errno_text(err, ebuf, sizeof ebuf));
    }

    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return report(host, call, BC_OUTCOME_FAIL, "cannot read '%s': %s", path,
                      errno_text(err, ebuf, sizeof ebuf));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return report(host, call, BC_OUTCOME_FAIL, "cannot read '%s': %s", path,
                      errno_text(EISDIR, ebuf, sizeof ebuf));
    }
    /* Refuse an oversized regular file before reading any of it. Pipes and
     * growing files are also checked while reading, below. */
    if (st->max_bytes > 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > st->max_bytes) {
        close(fd);
        return report(host, call, BC_OUTCOME_FAIL,
                      "'%s' is %" PRIu64 " bytes, more than max_bytes (%" PRIu64 ")",
                      path, (uint64_t)sb.st_size, st->max_bytes);
    }

    unsigned char *buf = malloc(TEXT_CHUNK_SIZE);
    if (buf == NULL) {
        close(fd);
        return report(host, call, BC_OUTCOME_RETRY, "text: out of memory reading '%s'", path);
    }

    int outcome = BC_OUTCOME_DONE;
    for (;;) {
        if (host->is_cancelled(call)) {
            outcome = report(host, call, BC_OUTCOME_RETRY,
                             "cancelled while reading '%s'", path);
            break;
        }
        ssize_t got = read(fd, buf, TEXT_CHUNK_SIZE);
        if (got < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            outcome = report(host, call, BC_OUTCOME_FAIL, "cannot read '%s': %s", path,
                             errno_text(err, ebuf, sizeof ebuf));
            break;
        }
        if (got == 0) break;
        if (st->max_bytes > 0 && s->bytes + (uint64_t)got > st->max_bytes) {
            outcome = report(host, call, BC_OUTCOME_FAIL,
                             "'%s' has more than max_bytes (%" PRIu64 ") bytes",
                             path, st->max_bytes);
            break;
        }
        if (EVP_DigestUpdate(s->sha, buf, (size_t)got) != 1) {
            outcome = report(host, call, BC_OUTCOME_FAIL, "text: SHA-256 failed on '%s'", path);
            break;
        }
        stats_feed(s, buf, (size_t)got);
    }
    free(buf);
    close(fd);
    return outcome;
}

static int text_process(void *state, bc_call *call, const bc_doc *doc) {
    const text_state *st = state;
    const bc_host_api *host = st->host;

    text_stats s;
    memset(&s, 0, sizeof s);
    s.utf8_valid = 1;
    s.utf8_lo = 0x80;
    s.utf8_hi = 0xBF;
    s.sha = EVP_MD_CTX_new();
    if (s.sha == NULL || EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s.sha);
        return report(host, call, BC_OUTCOME_RETRY, "text: cannot start SHA-256 (out of memory?)");
    }

    int outcome;
    /* A later stage describes the previous stage's output; a first stage,
     * the document's bytes when it is held in memory. */
    const unsigned char *bytes = doc->input;
    size_t len = doc->input_len;
    if (bytes == NULL && BC_DOC_HAS(doc, content) && doc->content != NULL) {
        bytes = doc->content;
        len = doc->content_len;
    }
    if (bytes != NULL) {
        if (st->max_bytes > 0 && (uint64_t)len > st->max_bytes) {
            outcome = report(host, call, BC_OUTCOME_FAIL,
                             "input of document '%s' is %" PRIu64 " bytes, more than max_bytes (%" PRIu64 ")",
                             doc->id, (uint64_t)len, st->max_bytes);
        } else if (EVP_DigestUpdate(s.sha, bytes, len) != 1) {
            outcome = report(host, call, BC_OUTCOME_FAIL, "text: SHA-256 failed");
        } else {
            stats_feed(&s, bytes, len);
            outcome = BC_OUTCOME_DONE;
        }
    } else if (doc->path != NULL) {
        outcome = read_file(st, call, doc->path, &s);
    } else {
        outcome = report(host, call, BC_OUTCOME_FAIL,
                         "document '%s' has neither a path nor input from a previous stage",
                         doc->id);
    }

    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (outcome == BC_OUTCOME_DONE &&
        (EVP_DigestFinal_ex(s.sha, digest, &digest_len) != 1 || digest_len != 32)) {
        outcome = report(host, call, BC_OUTCOME_FAIL, "text: SHA-256 failed");
    }
    EVP_MD_CTX_free(s.sha);
    if (outcome != BC_OUTCOME_DONE) return outcome;

    /* A sequence cut off by the end of the data is ill-formed too. */
    int utf8 = s.utf8_valid && s.utf8_pending == 0;
    uint64_t lines = s.newlines + (s.bytes > 0 && s.last != '\n' ? 1 : 0);

    char hex[65];
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';

    char json[320];
    int n = snprintf(json, sizeof json,
                     "{\"bytes\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"words\":%" PRIu64
                     ",\"characters\":%" PRIu64 ",\"sha256\":\"%s\",\"encoding\":\"%s\"}",
                     s.bytes, lines, s.words, utf8 ? s.code_points : s.bytes, hex,
                     utf8 ? "utf-8" : "unknown");
    if (n < 0 || (size_t)n >= sizeof json) {
        return report(host, call, BC_OUTCOME_FAIL, "text: output too long");
    }
    int rc = host->set_output_json(call, json, (size_t)n);
    if (rc != 0) {
        return report(host, call, BC_OUTCOME_FAIL, "text: the host refused the output (error %d)", rc);
    }
    return BC_OUTCOME_DONE;
}

/* ---- create() / destroy() ---------------------------------------------- */

/* Parses "0", "1048576", "512K", "512KiB", "100 MiB", "2GiB", "1T" (binary
 * multiples, case-insensitive suffix). Returns 0 on success. */
static int parse_byte_count(const char *text, uint64_t *out) {
    const char *p = text;
    while (*p == ' ' || *p == '\t') p++;
    if (*p < '0' || *p > '9') return -1;
    uint64_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10) return -1;
        n = n * 10 + d;
    }
    while (*p == ' ' || *p == '\t') p++;
    unsigned shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    case 't': case 'T': shift = 40; p++; break;
    default: break;
    }
    if (shift != 0 && (p[0] == 'i' || p[0] == 'I') && (p[1] == 'b' || p[1] == 'B')) p += 2;
    while (*p == ' ' || *p == '\t') p++;
    if (*p != '\0') return -1;
    if (shift != 0 && n > (UINT64_MAX >> shift)) return -1;
    *out = n << shift;
    return 0;
}

static int text_create(const bc_host_api *host, const bc_config *config,
                       void **state, char *errbuf, size_t errbuf_size) {
    if (host == NULL || host->abi_version != BC_PLUGIN_ABI_MAJOR ||
        !BC_HOST_HAS(host, config_get)) {
        snprintf(errbuf, errbuf_size, "text: the host's service table is too old for this plugin");
        return -1;
    }

    uint64_t max_bytes = 0;
    const char *value = host->config_get(config, "max_bytes");
    if (value != NULL && parse_byte_count(value, &max_bytes) != 0) {
        snprintf(errbuf, errbuf_size,
                 "invalid value '%s' for option 'max_bytes': expected a byte count such as "
                 "0 (no limit), 1048576, 512KiB, 100MiB or 2GiB",
                 value);
        return -1;
    }

    text_state *st = malloc(sizeof *st);
    if (st == NULL) {
        snprintf(errbuf, errbuf_size, "text: out of memory");
        return -1;
    }
    st->host = host;
    st->max_bytes = max_bytes;
    *state = st;
    return 0;
}

static void text_destroy(void *state) {
    free(state);
}

/* ---- Descriptor -------------------------------------------------------- */

static const bc_plugin_option text_options[] = {
    {"max_bytes", "0",
     "Fail documents larger than this many bytes (suffixes KiB, MiB, GiB; 0: no limit)"},
    {NULL, NULL, NULL},
};

static const bc_plugin text_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "text",
    .version = "1.0.0",
    .description = "Counts bytes, lines, words and characters, checks UTF-8 and hashes with SHA-256",
    .flags = BC_PLUGIN_FLAG_NONE,
    .options = text_options,
    .create = text_create,
    .process = text_process,
    .destroy = text_destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &text_plugin;
}
