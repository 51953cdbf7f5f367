/*
 * upper.c — a complete batchcore plugin, written as a tutorial.
 *
 * It outputs each document's text in upper case (ASCII letters only; every
 * other byte is copied unchanged), after an optional prefix. With the stage
 * option prefix=">> ", a file holding "Hello, world\n" gives the output
 * ">> HELLO, WORLD\n".
 *
 * Build it with nothing but the plugin header (no batchcore library needed):
 *
 *     cc -shared -fPIC -Iinclude examples/plugin/upper.c -o plugins/upper.so
 *
 * and run it:
 *
 *     batchhost run docs/ --processor upper
 *
 * batchcore finds `upper.so` in ./plugins (or any directory given with
 * --plugin-dir, $BATCHCORE_PLUGIN_PATH or bc_engine_set(engine,
 * "plugin_dir", ...)) and calls the one function it exports,
 * batchcore_plugin_entry(), to get the plugin's descriptor.
 *
 * Copy this file to start your own plugin. The parts, in order:
 *   1. the state create() builds once and every worker shares,
 *   2. process(), called for each document, from many threads at once,
 *   3. create() and destroy(),
 *   4. the options the plugin understands,
 *   5. the descriptor and the exported entry point.
 */

/* We use POSIX's strerror_r (thread-safe, unlike strerror). Ask for it
 * before including any system header. */
#define _POSIX_C_SOURCE 200809L

/* The only batchcore header a plugin needs. Never link against
 * libbatchcore: everything the host offers comes through the bc_host_api
 * table it hands to create(). */
#include "batchcore_plugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * 1. State
 *
 * create() runs once per batch stage and returns a pointer that batchcore
 * passes back to every process() call. All worker threads share it, so
 * after create() returns we only ever read it: no locks needed.
 * ------------------------------------------------------------------------ */
typedef struct upper_state {
    /* The host's service table. It is only handed to create(), so keep it:
     * process() needs it to report output and errors. */
    const bc_host_api *host;

    /* The "prefix" option. The string belongs to the host and stays valid
     * until destroy(), so we can keep the pointer without copying it. */
    const char *prefix;
    size_t prefix_len;
} upper_state;

/* ------------------------------------------------------------------------
 * 2. process()
 * ------------------------------------------------------------------------ */

/* Reads a whole file into a malloc'd buffer. Returns 0, or an errno value.
 * (Fine for a tutorial; a plugin meant for huge files should stream, as
 * plugins/text/text.c does.) */
static int read_whole_file(const char *path, unsigned char **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return errno;

    errno = 0;
    size_t cap = 64 * 1024, len = 0;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        return ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                fclose(f);
                return ENOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    /* fread() returns 0 both at the end of the file and on an error (on
     * Linux, fopen() even succeeds on a directory and only reading fails
     * with EISDIR), so ask which one it was. */
    int err = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
    fclose(f);
    if (err != 0) {
        free(buf);
        return err;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Reports a failure for this document: "cannot read '<path>': <reason>".
 * set_error copies the message, so a stack buffer is fine. */
static int fail_unreadable(const upper_state *st, bc_call *call, const char *path, int err) {
    char reason[128];
    if (strerror_r(err, reason, sizeof reason) != 0) {
        snprintf(reason, sizeof reason, "error %d", err);
    }
    char message[1024];
    snprintf(message, sizeof message, "cannot read '%s': %s", path, reason);
    st->host->set_error(call, message);
    /* FAIL means "permanent, do not retry": a missing file will still be
     * missing in a second. For transient problems (a network timeout, an
     * API's 429) return BC_OUTCOME_RETRY instead, optionally after
     * host->retry_after(call, ms). */
    return BC_OUTCOME_FAIL;
}

/* Called for every document, from many worker threads at once: touch only
 * the (read-only) state, the document and your own local variables.
 *
 * `call` identifies this call to the host; pass it to every host function.
 * `doc` and everything it points to are borrowed for the duration of the
 * call: copy what you want to keep.
 *
 * The return value is a bc_outcome: DONE, PARTIAL, RETRY or FAIL. */
static int upper_process(void *state, bc_call *call, const bc_doc *doc) {
    const upper_state *st = state;
    const bc_host_api *host = st->host;

    /* Where does the text come from? In the first stage of a batch,
     * doc->input is NULL and we read the file. In a later stage of a
     * pipeline (e.g. `--processor pdf2text --processor upper`), doc->input
     * holds the previous stage's output. */
    const unsigned char *text;
    size_t text_len;
    unsigned char *file_bytes = NULL; /* what we must free */

    if (doc->input != NULL) {
        text = doc->input;
        text_len = doc->input_len;
    } else if (doc->path != NULL) {
        int err = read_whole_file(doc->path, &file_bytes, &text_len);
        if (err != 0) return fail_unreadable(st, call, doc->path, err);
        text = file_bytes;
    } else {
        /* Documents from a manifest may have no file at all. */
        host->set_error(call, "upper: the document has no path and no input");
        return BC_OUTCOME_FAIL;
    }

    /* Build the output: prefix, then the upper-cased text. */
    size_t out_len = st->prefix_len + text_len;
    unsigned char *out = malloc(out_len > 0 ? out_len : 1);
    if (out == NULL) {
        free(file_bytes);
        host->set_error(call, "upper: out of memory");
        return BC_OUTCOME_RETRY; /* maybe there is more memory later */
    }
    memcpy(out, st->prefix, st->prefix_len);
    for (size_t i = 0; i < text_len; i++) {
        unsigned char c = text[i];
        /* ASCII only, on purpose: toupper() depends on the process locale,
         * and upper-casing UTF-8 properly needs a Unicode library. */
        out[st->prefix_len + i] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
    }

    /* Hand the output to the host. It copies the bytes, so we free ours
     * right after. (For JSON output use host->set_output_json: the host
     * checks it and embeds it as JSON in the batch's output file.) */
    int rc = host->set_output(call, out, out_len);
    free(out);
    free(file_bytes);
    if (rc != 0) {
        host->set_error(call, "upper: the host refused the output");
        return BC_OUTCOME_FAIL;
    }

    /* A long-running plugin (an API call, OCR) should poll
     * host->is_cancelled(call) now and then and return early when it
     * becomes non-zero. Ours is quick, so there is nothing to poll. */
    return BC_OUTCOME_DONE;
}

/* ------------------------------------------------------------------------
 * 3. create() and destroy()
 * ------------------------------------------------------------------------ */

/* Called once per batch stage, on one thread, before any process(). Read
 * your options here, validate them, do expensive one-time setup (load a
 * model, open a connection pool), and store the result in *state.
 *
 * On failure write a message into errbuf and return non-zero: the batch does
 * not start and bc_batch_start() / batchhost shows your message. Make it say
 * what was wrong and what would be right. */
static int upper_create(const bc_host_api *host, const bc_config *config,
                        void **state, char *errbuf, size_t errbuf_size) {
    /* The host table only grows at its end. If you use a member that a
     * later batchcore added, check the host has it first; config_get is the
     * last member of ABI 1, so this check covers everything we use. */
    if (!BC_HOST_HAS(host, config_get)) {
        snprintf(errbuf, errbuf_size, "upper: this batchcore is too old for the plugin");
        return 1;
    }

    /* Options are strings; config_get returns NULL for options the user did
     * not set, so apply your own default. */
    const char *prefix = host->config_get(config, "prefix");
    if (prefix == NULL) prefix = "";

    upper_state *st = malloc(sizeof *st);
    if (st == NULL) {
        snprintf(errbuf, errbuf_size, "upper: out of memory");
        return 1;
    }
    st->host = host;
    st->prefix = prefix;
    st->prefix_len = strlen(prefix);
    *state = st;
    return 0;
}

/* Called once after the last process() of the stage: free what create()
 * allocated. */
static void upper_destroy(void *state) {
    free(state);
}

/* ------------------------------------------------------------------------
 * 4. Options
 *
 * Declaring them lets batchcore list them (`batchhost processors`) and
 * refuse misspelt keys before the batch starts ("unknown option 'prefx'
 * (did you mean 'prefix'?)"). The array ends with a {NULL} entry.
 * ------------------------------------------------------------------------ */
static const bc_plugin_option upper_options[] = {
    {"prefix", "", "Text written before each document's output"},
    {NULL, NULL, NULL},
};

/* ------------------------------------------------------------------------
 * 5. The descriptor and the entry point
 *
 * A static const: it must stay valid for as long as the plugin is loaded.
 * BC_PLUGIN_ABI_FIELDS sets struct_size and the ABI version (major and
 * minor) this header describes: a host loads the plugin if it speaks that
 * major and at least that minor, and refuses it, saying why, otherwise.
 * ------------------------------------------------------------------------ */
static const bc_plugin upper_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "upper",        /* what users pass to --processor */
    .version = "1.0.0",     /* your plugin's own */
    .description = "Upper-cases ASCII letters of each document, after an optional prefix",
    .flags = BC_PLUGIN_FLAG_NONE,
    .options = upper_options, /* NULL would accept any key */
    .create = upper_create,
    .process = upper_process,
    .destroy = upper_destroy,
    /* Members added by later headers (such as .estimate) stay NULL. */
};

/* The one symbol batchcore looks up (by the name BC_PLUGIN_ENTRY_SYMBOL).
 * BC_PLUGIN_EXPORT keeps it visible even with -fvisibility=hidden. */
BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &upper_plugin;
}
