/*
 * attach.c — sending the document itself (a PDF or an image) with the
 * prompt: which file goes, its checks against each provider's limits, and
 * its token estimate.
 *
 * attach=auto   the document's file goes when it is a PDF or an image (by
 *               its first bytes) and the text is missing: in the first
 *               stage always, in a later stage when the previous stage's
 *               output is blank (a scan the pdf stage found no text in).
 *               Otherwise the text goes, as with none.
 *   pdf | image the file always goes, and must be of that kind.
 *   none        text only.
 * When nothing is attached, a document whose text is empty or white space
 * fails with "empty input: nothing to send": no request, no charge.
 *
 * Limits, checked before any request (from each provider's documentation;
 * sizes are of the base64 text that travels):
 *   anthropic  PDF: 100 pages, 32 MB request; image: 5 MB
 *   openai     PDF: 100 pages, 32 MB;         image: 20 MB
 * Pages are counted from the PDF's page objects (/Type /Page); a PDF whose
 * page objects are compressed counts as its /Count, or as one page.
 *
 * Token estimates (what a rate limit and a budget reserve): 3,000 per PDF
 * page (the page's text and its image, the top of Anthropic's published
 * 1,500–3,000); per image the most one can cost: 1,600 (Anthropic: images
 * are scaled to about 1.15 megapixels, width × height / 750 tokens) or
 * 1,445 (OpenAI, high detail: 8 tiles of 170 plus 85).
 */
#define _GNU_SOURCE /* memmem */

#include "llm.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#define MB (1000u * 1000u)

typedef struct provider_limits {
    size_t pdf_bytes;    /* base64 */
    unsigned pdf_pages;
    size_t image_bytes;  /* base64 */
    uint64_t image_tokens;
} provider_limits;

static const provider_limits anthropic_limits = {32 * MB, 100, 5 * MB, 1600};
static const provider_limits openai_limits = {32 * MB, 100, 20 * MB, 1445};

#define PDF_PAGE_TOKENS 3000

static const provider_limits *limits_of(const llm_config *cfg) {
    return cfg->provider == LLM_ANTHROPIC ? &anthropic_limits : &openai_limits;
}

int llm_attach_parse(const char *value, llm_attach_mode *mode) {
    static const char *names[] = {"auto", "pdf", "image", "none"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            *mode = (llm_attach_mode)i;
            return 0;
        }
    }
    return -1;
}

/* The media type of the bytes at m (n of them), or NULL when they are
 * neither a PDF nor an image both APIs take. */
static const char *media_type(const unsigned char *m, size_t n) {
    if (n >= 5 && memcmp(m, "%PDF-", 5) == 0) return "application/pdf";
    if (n >= 8 && memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
    if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) return "image/jpeg";
    if (n >= 6 && (memcmp(m, "GIF87a", 6) == 0 || memcmp(m, "GIF89a", 6) == 0)) return "image/gif";
    if (n >= 12 && memcmp(m, "RIFF", 4) == 0 && memcmp(m + 8, "WEBP", 4) == 0) return "image/webp";
    return NULL;
}

static int is_pdf(const char *type) { return type != NULL && strcmp(type, "application/pdf") == 0; }

/* The first bytes of the file at path; 0 bytes when it cannot be read. */
static size_t sniff(const char *path, unsigned char *m, size_t size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    size_t n = fread(m, 1, size, f);
    fclose(f);
    return n;
}

static int blank(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace(p[i])) return 0;
    return 1;
}

/* Whether this document's file goes with the prompt. Sets *type. */
static int wants_file(const llm_config *cfg, const bc_doc *doc, const char **type) {
    unsigned char m[16];
    *type = doc->path ? media_type(m, sniff(doc->path, m, sizeof m)) : NULL;
    switch (cfg->attach) {
    case LLM_ATTACH_NONE: return 0;
    case LLM_ATTACH_PDF:
    case LLM_ATTACH_IMAGE: return 1;
    case LLM_ATTACH_AUTO: break;
    }
    return *type != NULL && (doc->input == NULL || blank(doc->input, doc->input_len));
}

/* Pages of the PDF in b: page objects counted, else the largest /Count. */
static unsigned pdf_pages(const llm_buf *b) {
    unsigned objects = 0, count = 0;
    const char *p = b->data, *end = b->data + b->len;
    while ((p = memmem(p, (size_t)(end - p), "/Type", 5)) != NULL) {
        p += 5;
        while (p < end && (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t')) p++;
        if (end - p >= 5 && memcmp(p, "/Page", 5) == 0 && (end - p == 5 || !isalnum((unsigned char)p[5])))
            objects++;
    }
    for (p = b->data; (p = memmem(p, (size_t)(end - p), "/Count", 6)) != NULL;) {
        p += 6;
        unsigned long n = strtoul(p, NULL, 10); /* the buffer is NUL-terminated */
        if (n > count && n < 1000000) count = (unsigned)n;
    }
    unsigned pages = objects > count ? objects : count;
    return pages > 0 ? pages : 1;
}

static size_t base64_length(size_t n) { return (n + 2) / 3 * 4; }

/* The provider's limits for a file of `bytes` bytes and `pages` pages (0:
 * not counted yet). Returns 0, or -1 with a message in err. */
static int check_limits(const llm_config *cfg, const char *path, const char *type, size_t bytes,
                        unsigned pages, char *err, size_t size) {
    const provider_limits *lim = limits_of(cfg);
    const char *api = cfg->provider == LLM_ANTHROPIC ? "anthropic" : "openai";
    size_t sent = base64_length(bytes);
    if (is_pdf(type) && (pages > lim->pdf_pages || sent > lim->pdf_bytes)) {
        char counted[48] = "";
        if (pages > 0) snprintf(counted, sizeof counted, "%u pages and ", pages);
        snprintf(err, size, "'%s' is too large to send to %s: %s%zu bytes in base64; the API takes at "
                 "most %u pages and %zu bytes (split it, or send its text with a pdf stage and "
                 "attach=none)", path, api, counted, sent, lim->pdf_pages, lim->pdf_bytes);
        return -1;
    }
    if (!is_pdf(type) && sent > lim->image_bytes) {
        snprintf(err, size, "'%s' is too large to send to %s: %zu bytes in base64; the API takes at "
                 "most %zu bytes per image (scale it down first)", path, api, sent, lim->image_bytes);
        return -1;
    }
    return 0;
}

int llm_attachment_load(llm_attachment *a, const llm_config *cfg, const bc_doc *doc,
                        char *err, size_t size) {
    memset(a, 0, sizeof *a);
    const char *type;
    if (!wants_file(cfg, doc, &type)) return 0;
    const char *mode = cfg->attach == LLM_ATTACH_PDF ? "pdf" : "image";
    if (doc->path == NULL) {
        snprintf(err, size, "attach=%s: document '%s' has no file to send", mode, doc->id);
        return -1;
    }
    if (cfg->attach == LLM_ATTACH_PDF && !is_pdf(type)) {
        snprintf(err, size, "attach=pdf: '%s' is not a PDF (by its first bytes)", doc->path);
        return -1;
    }
    if (cfg->attach == LLM_ATTACH_IMAGE && (type == NULL || is_pdf(type))) {
        snprintf(err, size, "attach=image: '%s' is not a PNG, JPEG, GIF or WebP image (by its first "
                 "bytes)", doc->path);
        return -1;
    }
    /* The size is checked before the file is read, the pages after. */
    struct stat sb;
    if (stat(doc->path, &sb) == 0 && check_limits(cfg, doc->path, type, (size_t)sb.st_size, 0, err, size) != 0)
        return -1;
    int e = llm_read_file(&a->bytes, doc->path);
    if (e != 0) {
        char reason[128];
        snprintf(err, size, "cannot read '%s': %s", doc->path, llm_strerror(e, reason, sizeof reason));
        llm_buf_free(&a->bytes);
        return -1;
    }
    a->media_type = type;
    a->filename = strrchr(doc->path, '/') ? strrchr(doc->path, '/') + 1 : doc->path;
    a->pages = is_pdf(type) ? pdf_pages(&a->bytes) : 0;
    if (check_limits(cfg, doc->path, type, a->bytes.len, a->pages, err, size) != 0) {
        llm_attachment_free(a);
        return -1;
    }
    return 0;
}

void llm_attachment_free(llm_attachment *a) {
    llm_buf_free(&a->bytes);
    memset(a, 0, sizeof *a);
}

char *llm_attachment_base64(const llm_attachment *a) {
    char *out = malloc(base64_length(a->bytes.len) + 1);
    if (out != NULL) EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)a->bytes.data, (int)a->bytes.len);
    return out;
}

uint64_t llm_attachment_tokens(const llm_attachment *a, const llm_config *cfg) {
    if (a->bytes.data == NULL) return 0;
    return is_pdf(a->media_type) ? (uint64_t)a->pages * PDF_PAGE_TOKENS : limits_of(cfg)->image_tokens;
}

int llm_attach_estimate(const llm_config *cfg, const bc_doc *doc, uint64_t *tokens) {
    const char *type;
    *tokens = 0;
    if (!wants_file(cfg, doc, &type) || type == NULL) return 0;
    if (!is_pdf(type)) {
        *tokens = limits_of(cfg)->image_tokens;
        return 1;
    }
    llm_buf b = {0};
    unsigned pages = llm_read_file(&b, doc->path) == 0 ? pdf_pages(&b) : 1;
    llm_buf_free(&b);
    *tokens = (uint64_t)pages * PDF_PAGE_TOKENS;
    return 1;
}

int llm_text_is_blank(const bc_doc *doc) {
    if (doc->input != NULL) return blank(doc->input, doc->input_len);
    if (doc->path == NULL) return 0;
    FILE *f = fopen(doc->path, "rb");
    if (f == NULL) return 0; /* the prompt reports the unreadable file */
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c)) {}
    fclose(f);
    return c == EOF;
}
