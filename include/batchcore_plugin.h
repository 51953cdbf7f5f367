/*
 * batchcore_plugin.h — the plugin ABI of batchcore.
 *
 * A plugin is a shared object that exports one function:
 *
 *     const bc_plugin *batchcore_plugin_entry(void);
 *
 * It needs nothing but this header to build:
 *
 *     cc -shared -fPIC -Iinclude my.c -o plugins/my.so
 *
 * A plugin never links against libbatchcore. It talks back to the host
 * through the bc_host_api vtable handed to create(), in the manner of
 * SQLite's sqlite3_api_routines. The vtable only grows at its end within one
 * ABI major: check `host->struct_size` before using a member added after
 * the one you were built against (BC_HOST_HAS(host, member)).
 *
 * Versions: see "ABI version" below for which plugins a host loads. Every
 * declaration says since which batchcore version it exists ("since 0.1").
 *
 * Thread annotations used below:
 *   [main]        called on one thread at a time, never concurrently with
 *                 process() of the same state.
 *   [thread-safe] called from many worker threads at once.
 *
 * Process isolation. With the batch option isolation=process (or with
 * isolation=auto, the default, for a plugin whose descriptor sets
 * BC_PLUGIN_FLAG_PREFERS_PROCESS) the plugin is loaded and run in worker
 * processes (the batchcore-worker executable), one per engine worker
 * thread, each serving one document at a time:
 *   - create() runs once per worker process, in that process, with the
 *     stage's options; destroy() runs there when the worker retires (the
 *     batch ends, or worker.max_documents was reached). State made in
 *     create() is never shared between workers: one-time setup costs once
 *     per worker process, not once per batch — unless it is done in
 *     prepare(), which runs once in the engine and hands every worker's
 *     create() the same bytes (host->shared). A worker that crashes, is
 *     killed at a timeout or hits worker.memory_limit never runs destroy().
 *   - The engine process loads the library to read the descriptor and to
 *     run prepare(); it does not call create().
 *   - A create() that fails in the first worker stops the batch before it
 *     starts, as in thread mode.
 *   - is_cancelled() turns non-zero when the engine sends the worker
 *     SIGTERM (a timeout or a hard cancel); SIGKILL follows after the
 *     batch's timeout.grace. Do not install a SIGTERM handler of your own.
 *   - Everything the host vtable collects (output, error, usage, units,
 *     retry_after, log lines) is passed back to the engine after the call.
 *   - What the plugin writes to stdout goes to the engine's stderr.
 *
 * Standard output. With isolation=thread the plugin shares the host's
 * stdout: `batchhost run` points it at stderr for the run (the results go
 * to a copy of the original stdout), so a printf() never lands among the
 * results; a host of your own decides for itself.
 */
#ifndef BATCHCORE_PLUGIN_H
#define BATCHCORE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Declaration macros (shared with batchcore.h) ---------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define BC_VISIBLE_ __attribute__((visibility("default")))
#else
#define BC_VISIBLE_
#endif

/* Marks a function the library (or, for batchcore_plugin_entry, a plugin)
 * exports: default visibility, so builds with -fvisibility=hidden still see
 * it, and C linkage when included from C++. since 0.2 */
#ifndef BC_EXTERN
#ifdef __cplusplus
#define BC_EXTERN extern "C" BC_VISIBLE_
#else
#define BC_EXTERN extern BC_VISIBLE_
#endif
#endif

/* Marks a declaration that is kept for old callers; using it warns with
 * `msg`, which says what to use instead. since 0.2 */
#ifndef BC_DEPRECATED
#if defined(__GNUC__) || defined(__clang__)
#define BC_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define BC_DEPRECATED(msg)
#endif
#endif

/* Visibility for the definition of the entry point in a plugin, so plugins
 * built with -fvisibility=hidden still export it. since 0.1 */
#define BC_PLUGIN_EXPORT BC_VISIBLE_

/* ---- ABI version ------------------------------------------------------- */

/* The plugin ABI this header describes, as MAJOR.MINOR. A descriptor
 * carries the ABI it was built for (bc_plugin.abi_version is the major,
 * bc_plugin.abi_minor the minor). A host loads a plugin of its own major and
 * any minor up to its own: a minor only appends members and flags, which
 * the host reads within the descriptor's struct_size. It refuses, with
 * BC_EABI naming both versions, a plugin of another major or of a newer
 * minor (built against a newer batchcore than the host). since 0.2 */
#define BC_PLUGIN_ABI_MAJOR 1
#define BC_PLUGIN_ABI_MINOR 1

/* Deprecated: the ABI major, under its first name. since 0.1 */
enum {
    BC_PLUGIN_ABI_VERSION BC_DEPRECATED("use BC_PLUGIN_ABI_MAJOR, and set bc_plugin.abi_minor to "
                                        "BC_PLUGIN_ABI_MINOR (BC_PLUGIN_ABI_FIELDS sets both)") =
        BC_PLUGIN_ABI_MAJOR
};

/* Outcome of one process() call. since 0.1 */
typedef enum bc_outcome {
    BC_OUTCOME_DONE = 0,    /* the document is processed; output is final */
    BC_OUTCOME_PARTIAL = 1, /* usable output, but incomplete; the batch goes on */
    BC_OUTCOME_RETRY = 2,   /* transient failure: try again under the retry policy */
    BC_OUTCOME_FAIL = 3,    /* permanent failure: never retried */
    BC_OUTCOME_PENDING = 4  /* since 0.2: finished later with bc_host_api.finish */
} bc_outcome;

/* Log levels for bc_host_api.log. since 0.1 */
typedef enum bc_log_level {
    BC_LOG_DEBUG = 0,
    BC_LOG_INFO = 1,
    BC_LOG_WARN = 2,
    BC_LOG_ERROR = 3
} bc_log_level;

/* Opaque handles owned by the host. since 0.1 */
typedef struct bc_call bc_call;     /* one process() call; valid until it returns (see bc_host_api) */
typedef struct bc_config bc_config; /* the options of one stage; valid from create() to destroy() */

/* One document as a processor sees it. Every pointer is borrowed: valid for
 * the duration of the process() call only; copy what you keep. Filled by the
 * host. since 0.1 */
typedef struct bc_doc {
    uint32_t struct_size;        /* sizeof(bc_doc) as the host knows it */
    uint32_t stage;              /* 0-based index of this stage in the batch */
    uint32_t attempt;            /* 1 on the first try, 2 on the first retry, ... */
    uint32_t reserved;
    const char *id;              /* never NULL, NUL-terminated */
    const char *path;            /* the source file; NULL for documents without one */
    const char *metadata_json;   /* JSON object text, "{}" when none; never NULL */
    const unsigned char *input;  /* previous stage's output: NULL in the first stage,
                                    never NULL after it (an empty output is length 0) */
    size_t input_len;            /* length of input in bytes */
    /* since 0.2 (read them only when BC_DOC_HAS(doc, content)): */
    const unsigned char *content; /* the document's bytes when it is held in memory
                                    (no file: path is NULL); NULL otherwise */
    size_t content_len;          /* length of content in bytes */
} bc_doc;

/* True when the host's bc_doc is new enough to hold `member`. since 0.2 */
#define BC_DOC_HAS(doc, member) \
    ((doc)->struct_size >= offsetof(bc_doc, member) + sizeof((doc)->member))

/* Services the host offers a plugin. Every function is [thread-safe] unless
 * stated. Functions return 0 or a negative error code.
 *
 * A bc_call is valid only while the process() call that received it runs
 * (after BC_OUTCOME_PENDING: until finish).
 * During it, its functions may be called from any thread (they are
 * serialised). Once process() has returned, every function taking that
 * bc_call returns BC_PLUGIN_ESTATE and changes nothing (is_cancelled
 * returns it too, which is non-zero: stop), and log() writes to stderr,
 * attributed to no document: a handle kept for later can never reach
 * another document's call. Work that outlives the call reports nothing
 * through it. Filled by the host. since 0.1 */
typedef struct bc_host_api {
    uint32_t struct_size;  /* sizeof(bc_host_api) as the host knows it */
    uint32_t abi_version;  /* the host's BC_PLUGIN_ABI_MAJOR */

    /* Set the document's output for this stage. The bytes are copied; a later
     * call replaces an earlier one. */
    int (*set_output)(bc_call *call, const void *data, size_t len);

    /* Set the output and declare it JSON: it is embedded as a JSON value in
     * the batch's output file. Returns BC_PLUGIN_EINVAL (and sets nothing)
     * when data is not valid JSON. Copied. */
    int (*set_output_json)(bc_call *call, const char *json, size_t len);

    /* Set the error message recorded for this document. Copied. */
    int (*set_error)(bc_call *call, const char *message);

    /* Add token usage (input and output tokens) for this call. Additive;
     * the counts are unsigned (there is no negative usage) and sums
     * saturate at INT64_MAX instead of wrapping, here and in every total. */
    int (*add_usage)(bc_call *call, uint64_t input_tokens, uint64_t output_tokens);

    /* Ask to be retried no sooner than `ms` milliseconds from now. Meaningful
     * with BC_OUTCOME_RETRY. */
    int (*retry_after)(bc_call *call, uint64_t ms);

    /* Non-zero once the host wants this call to stop (the batch was
     * cancelled hard; a graceful cancel lets calls finish and keeps this 0).
     * A long call should poll it and return BC_OUTCOME_RETRY: the document
     * is then not retried and stays pending (not failed). */
    int (*is_cancelled)(const bc_call *call);

    /* Log a message, attributed to the current document when `call` is
     * non-NULL. `call` may be NULL (e.g. from create()). Copied. */
    void (*log)(bc_call *call, int level, const char *message);

    /* Value of a stage option, or NULL when unset (a declared default is
     * help text only: the plugin applies its own default). Borrowed: valid
     * until destroy(). */
    const char *(*config_get)(const bc_config *config, const char *key);

    /* Add a free-form unit count for this call (pages, images, seconds of
     * audio: whatever the plugin bills by). Additive, saturating as
     * add_usage; reported in stats. */
    int (*add_units)(bc_call *call, uint64_t units);

    /* [main] From create() only: the list price of this stage's tokens, in
     * US dollars per million tokens. Used to turn usage into cost when the
     * user set no price (price.input / price.output) of their own. */
    int (*set_prices)(const bc_config *config, double input_usd_per_mtok,
                      double output_usd_per_mtok);

    /* [main] From prepare() only: the bytes every create() of this stage
     * receives (see bc_plugin.prepare). Copied; a later call replaces an
     * earlier one. */
    int (*set_shared)(const bc_config *config, const void *data, size_t len);

    /* [main] From create(): the bytes prepare() handed over, and their
     * length in *len; NULL (and *len 0) when there are none. Borrowed:
     * valid until destroy(). */
    const void *(*shared)(const bc_config *config, size_t *len);

    /* Since 0.2 (check struct_size). Finish a call whose process() returned
     * BC_OUTCOME_PENDING, from any thread, once: the document goes on as if
     * process() had returned `outcome`. Report output, errors and usage
     * through `call` before finishing it; the handle is invalid after. The
     * call's worker slot stays taken until then, and its timeout applies:
     * past it the call counts as timed out and a late finish returns
     * BC_PLUGIN_ESTATE. BC_PLUGIN_EINVAL for a NULL call or an outcome
     * other than done, partial, retry or fail. With isolation=process the
     * worker process waits for the finish before answering the host. */
    int (*finish)(bc_call *call, int outcome);

    /* Since 0.2 (check struct_size). [main] From prepare() only: tokens
     * prepare() spent (a model call made once for the stage). Counted once
     * in the batch's usage, cost (at the stage's prices) and budget, and
     * kept in the journal with prepare()'s bytes, so a resume that reuses
     * them does not count them again. Additive, saturating as add_usage. */
    int (*add_prepare_usage)(const bc_config *config, uint64_t input_tokens, uint64_t output_tokens);
} bc_host_api;

/* Error codes returned by bc_host_api functions (same values as BC_E* in
 * batchcore.h). since 0.1 */
#define BC_PLUGIN_EINVAL (-2) /* a NULL argument, or output that is not JSON */
#define BC_PLUGIN_ESTATE (-8) /* the call has ended: its process() returned */

/* True when the host's vtable is new enough to hold `member`. since 0.1 */
#define BC_HOST_HAS(host, member) \
    ((host)->struct_size >= offsetof(bc_host_api, member) + sizeof((host)->member))

/* An option a plugin understands. Arrays of these end with a {NULL} entry.
 * since 0.1 */
typedef struct bc_plugin_option {
    const char *name;          /* key, e.g. "encoding" */
    const char *default_value; /* shown in help; NULL when none */
    const char *help;          /* one line */
} bc_plugin_option;

/* Plugin flags, OR-ed into bc_plugin.flags. New bits are only ever
 * appended; a host ignores the bits it does not know. since 0.1 */
#define BC_PLUGIN_FLAG_NONE 0u

/* The plugin reads documents from outside with a library that may crash,
 * hang or balloon on a malformed file (a PDF renderer, an image decoder).
 * Under the batch option isolation=auto (the default) its stages run in
 * worker processes, as with isolation=process; an explicit isolation=thread
 * keeps them in the engine's process. A stage that runs in worker processes
 * for such a plugin also gets the host's limits for hostile documents when
 * the user set none: timeout 2m per attempt and worker.memory_limit 2GiB.
 * since 0.1 */
#define BC_PLUGIN_FLAG_PREFERS_PROCESS (1u << 0)

/* process() never blocks: it starts the work, returns (usually
 * BC_OUTCOME_PENDING) and finishes the call later from a thread of its own
 * (an event loop). A pending call holds a worker slot, never a thread; with
 * this flag the engine also starts no extra thread while process() runs, so
 * thousands of calls in flight need only a few threads. Ignored for stages
 * that run in worker processes. since 0.2 */
#define BC_PLUGIN_FLAG_NONBLOCKING (1u << 1)

/* The descriptor a plugin returns from batchcore_plugin_entry(). It must
 * stay valid and unchanged until the library is unloaded (a static const).
 * Fill it with designated initializers starting with BC_PLUGIN_ABI_FIELDS:
 * members a later header appends then stay NULL in your source.
 *
 *     static const bc_plugin descriptor = {
 *         BC_PLUGIN_ABI_FIELDS, .name = "my", .create = create, ...
 *     };
 *
 * A host reads it only within struct_size: members past it (appended by a
 * later minor of the ABI than the plugin was built for) read as NULL/0.
 *
 * A host program may register the same descriptor for a processor that runs
 * in its own process (bc_engine_register_plugin in batchcore.h); see there
 * how its user_data reaches the callbacks. since 0.1 */
typedef struct bc_plugin {
    uint32_t struct_size;  /* sizeof(bc_plugin) */
    uint32_t abi_version;  /* BC_PLUGIN_ABI_MAJOR */
    const char *name;        /* processor name, e.g. "text" */
    const char *version;     /* the plugin's own version, e.g. "1.0.0" */
    const char *description; /* one line */
    uint32_t flags;          /* BC_PLUGIN_FLAG_* */
    uint32_t abi_minor;      /* BC_PLUGIN_ABI_MINOR (since 0.2; 0 before: ABI 1.0) */

    /* Options the plugin reads, ending with {NULL}. When non-NULL the host
     * refuses any other key, naming the known ones. NULL accepts any key. */
    const bc_plugin_option *options;

    /* [main] Once per batch stage, before any process() (with
     * isolation=process: once per worker process; see the top of this
     * file). Read options through host->config_get(config, key) and store
     * what process() needs in *state (shared by every worker thread: treat
     * it as read-only or lock it).
     * On failure write a NUL-terminated message into errbuf (errbuf_size
     * bytes) and return non-zero; the batch does not start. Required in
     * a plugin: it is where the plugin keeps `host` for process(). A
     * descriptor a host registers may leave it NULL (see
     * bc_engine_register_plugin). */
    int (*create)(const bc_host_api *host, const bc_config *config,
                  void **state, char *errbuf, size_t errbuf_size);

    /* [thread-safe] Process one document; returns a bc_outcome. Report
     * output, errors and usage through the host vtable saved by create(). */
    int (*process)(void *state, bc_call *call, const bc_doc *doc);

    /* [main] Once per successful create(), after the last process(); never
     * after a create() that failed, nor in a worker process that died or
     * was killed. May be NULL. */
    void (*destroy)(void *state);

    /* [thread-safe] Optional (NULL, or absent in a shorter descriptor). The
     * tokens the next process() of `doc` will likely use, asked before the
     * call so a token rate limit and a budget can reserve them; the host
     * corrects the reservation with the usage the call reports. Return 0
     * after setting both counts, non-zero to let the host estimate (a token
     * for every four bytes of input, no output tokens). */
    int (*estimate)(void *state, const bc_doc *doc, uint64_t *input_tokens,
                    uint64_t *output_tokens);

    /* [main] Optional. Work done once per batch stage, in the engine's
     * process, before any create(): the "pre-research" every create()
     * needs (a downloaded model, a built index, a fetched schema). Hand its
     * result over as bytes with host->set_shared(config, data, len); each
     * create() reads them with host->shared(config, &len). With
     * isolation=thread it runs just before the one create(); with
     * isolation=process it still runs once, in the engine, and every
     * worker process's create() receives a copy of the bytes, so the work
     * is not repeated per worker. On failure write a message into errbuf
     * and return non-zero: the batch does not start. */
    int (*prepare)(const bc_host_api *host, const bc_config *config,
                   char *errbuf, size_t errbuf_size);
} bc_plugin;

/* The members saying which ABI a descriptor was built for, to start a
 * designated initializer of a static descriptor (C99, see bc_plugin).
 * since 0.2 */
#define BC_PLUGIN_ABI_FIELDS \
    .struct_size = sizeof(bc_plugin), .abi_version = BC_PLUGIN_ABI_MAJOR, \
    .abi_minor = BC_PLUGIN_ABI_MINOR

/* The one symbol a plugin exports. Declared here so the compiler checks a
 * plugin's definition (and -Wmissing-prototypes stays quiet). since 0.1 */
BC_EXTERN const bc_plugin *batchcore_plugin_entry(void);
typedef const bc_plugin *(*bc_plugin_entry_fn)(void); /* since 0.1 */
#define BC_PLUGIN_ENTRY_SYMBOL "batchcore_plugin_entry" /* since 0.1 */

/* Initialisers for the structs that start with struct_size: struct_size set
 * to this header's sizeof, every other member zero (for bc_plugin, the ABI
 * members set too), e.g. `bc_plugin p = BC_PLUGIN_INIT;` then fill p member
 * by member. Valid in C99 and C++. since 0.2 */
#ifdef __cplusplus
#define BC_SIZED_INIT_(type) (::bc_sized_init_<type>())
#define BC_PLUGIN_INIT (::bc_plugin_init_())
#else
#define BC_SIZED_INIT_(type) { .struct_size = sizeof(type) }
#define BC_PLUGIN_INIT { BC_PLUGIN_ABI_FIELDS }
#endif
#define BC_DOC_INIT BC_SIZED_INIT_(bc_doc)
#define BC_HOST_API_INIT BC_SIZED_INIT_(bc_host_api)

#ifdef __cplusplus
}

/* What the *_INIT macros expand to in C++ (before C++20, C++ has no
 * designated initializers). */
template <typename T> inline T bc_sized_init_() {
    T value = T();
    value.struct_size = sizeof(T);
    return value;
}
inline bc_plugin bc_plugin_init_() {
    bc_plugin value = bc_sized_init_<bc_plugin>();
    value.abi_version = BC_PLUGIN_ABI_MAJOR;
    value.abi_minor = BC_PLUGIN_ABI_MINOR;
    return value;
}
#endif

#endif /* BATCHCORE_PLUGIN_H */
