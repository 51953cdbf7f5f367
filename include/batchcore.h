/*
 * batchcore.h — the host API of libbatchcore.
 *
 * Conventions (see README, "C API"):
 *  - Every function returns int: 0 on success, a negative BC_E* code on
 *    failure. The message of the last failure on the calling thread is
 *    bc_error_message(); it is never NULL.
 *  - Out-parameters come first; a callback's `void *user_data` comes last.
 *  - Ownership is stated on every function. Strings the library hands out
 *    are either freed with bc_free() or documented as borrowed, with how long
 *    they live.
 *  - Thread annotations: [thread-safe] may be called from any thread at any
 *    time; [one at a time] from any thread, but not concurrently for the same
 *    handle.
 *  - Structs that may grow start with `uint32_t struct_size`: the caller sets
 *    it to sizeof(struct) (the BC_*_INIT initialisers do) and the library
 *    reads or writes no further. Members are only ever appended.
 *  - Every declaration says since which version it exists ("since 0.1").
 *    Exported functions are declared BC_EXTERN; replaced ones BC_DEPRECATED.
 */
#ifndef BATCHCORE_H
#define BATCHCORE_H

#include <stddef.h>
#include <stdint.h>

#include "batchcore_plugin.h"
#include "batchcore_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions --------------------------------------------------------- */

/* BC_VERSION_MAJOR/MINOR/PATCH, BC_VERSION_NUMBER and BC_VERSION_STRING are
 * in batchcore_version.h, included above. */

/* [thread-safe] The library's version as "MAJOR.MINOR.PATCH". Static. */
BC_EXTERN const char *bc_version_string(void); /* since 0.1 */

/* [thread-safe] The library's BC_VERSION_NUMBER, to compare with the header's. */
BC_EXTERN int bc_version_number(void); /* since 0.1 */

/* ---- Errors ----------------------------------------------------------- */

/* Error codes. since 0.1 */
#define BC_OK 0
#define BC_ERROR (-1)     /* unspecified failure */
#define BC_EINVAL (-2)    /* invalid argument (NULL handle, bad enum, ...) */
#define BC_EOPTION (-3)   /* unknown option key or invalid option value */
#define BC_ENOTFOUND (-4) /* file, directory, processor or stage not found */
#define BC_EPLUGIN (-5)   /* plugin could not be loaded or refused to start */
#define BC_EABI (-6)      /* plugin built for another ABI version */
#define BC_EINPUT (-7)    /* malformed input (manifest, list) */
#define BC_ESTATE (-8)    /* not allowed in the handle's current state */
#define BC_ETIMEOUT (-9)  /* bc_batch_wait timed out; the batch still runs */
#define BC_EIO (-10)      /* read or write failure (output file, ...) */


/* [thread-safe] Message of the last failure on this thread: what was wrong,
 * where, and what to do. Never NULL; empty before the first failure; a
 * successful call leaves it unchanged. Borrowed: valid until the next
 * failing batchcore call on this thread. */
BC_EXTERN const char *bc_error_message(void); /* since 0.1 */

/* [thread-safe] Short static name of an error code, e.g. "BC_EOPTION". */
BC_EXTERN const char *bc_error_name(int code); /* since 0.1 */

/* [thread-safe] Free memory the library returned (JSON strings, ...).
 * NULL is ignored. */
BC_EXTERN void bc_free(void *ptr); /* since 0.1 */

/* ---- Engine ----------------------------------------------------------- */

/* An engine owns the worker threads, the global worker cap and the loaded
 * processors. Batches keep their engine alive: the engine is released when
 * bc_engine_free() was called and its last batch is freed. since 0.1 */
typedef struct bc_engine bc_engine;

/* [thread-safe] Create an engine. *out is freed with bc_engine_free(). */
BC_EXTERN int bc_engine_new(bc_engine **out); /* since 0.1 */

/* [thread-safe] Release the caller's reference. NULL is ignored. When this
 * and the last bc_batch_free of the engine's batches have returned, the
 * engine is gone and every registered processor's release() has run. */
BC_EXTERN void bc_engine_free(bc_engine *engine); /* since 0.1 */

/* [thread-safe] Set an engine option (copied):
 *   "max_workers"  global cap on worker threads over all batches (default 256);
 *                  the pending calls of a BC_PLUGIN_FLAG_NONBLOCKING processor
 *                  hold no thread and count only against their batch's
 *                  "workers" and their tenant's cap (since 0.2)
 *   "plugin_dir"   add a directory to the plugin search path (repeatable;
 *                  searched before $BATCHCORE_PLUGIN_PATH, ./plugins and the
 *                  directory holding libbatchcore.so)
 *   "tenant.max_workers"  "TENANT=N": at most N workers over all batches of
 *                  that tenant (the batch option "tenant"); N=0 removes the
 *                  cap (repeatable, one tenant each; since 0.2)
 * BC_EOPTION names the key, the value and what was expected. */
BC_EXTERN int bc_engine_set(bc_engine *engine, const char *key, const char *value); /* since 0.1 */

/* A processor implemented by the host, called in-process: the first and
 * simplest form of bc_engine_register_plugin (below), which it is a thin
 * wrapper of. Start from BC_PROCESSOR_DEF_INIT. since 0.1 */
typedef struct bc_processor_def {
    uint32_t struct_size;    /* sizeof(bc_processor_def); any size from the
                                0.1 struct's on is accepted */
    uint32_t reserved;
    const char *name;        /* copied at registration */
    const char *description; /* one line, copied; may be NULL */
    /* [thread-safe] Called from worker threads for each document; returns a
     * bc_outcome. Report output and errors with the bc_call_* functions. */
    int (*process)(bc_call *call, const bc_doc *doc, void *user_data);
    /* Called once when the engine no longer needs user_data. May be NULL. */
    void (*release)(void *user_data);
    void *user_data;
    /* since 0.2: BC_PLUGIN_FLAG_* bits (batchcore_plugin.h), such as
     * BC_PLUGIN_FLAG_NONBLOCKING for a process() that only starts the work */
    uint32_t flags;
} bc_processor_def;

/* [thread-safe] Register an in-process processor under def->name. It shadows
 * plugins of the same name. BC_EINVAL if the name is taken by another
 * registered processor. `def` is copied; user_data must live until release. */
BC_EXTERN int bc_engine_register_processor(bc_engine *engine, const bc_processor_def *def); /* since 0.1 */

/* [thread-safe] Register an in-process processor described by the same
 * bc_plugin descriptor a plugin exports (start from BC_PLUGIN_INIT), so it
 * declares options, estimates tokens, gives list prices (set_prices from
 * create), and may have prepare() and destroy(). Checked as a plugin's:
 * BC_EABI for another ABI major, a newer minor or a struct_size too small,
 * naming both versions; BC_EINVAL without a name or process(), or when the
 * name is taken by another registered processor. It shadows plugins of the
 * same name.
 *
 * user_data reaches the callbacks as their state: create() is called with
 * *state set to user_data, and may keep it or replace it; a NULL create()
 * keeps it. process(), estimate() and destroy() then receive that state.
 * prepare() has no state; do the work that needs user_data in create().
 * As a plugin's, prepare()'s bytes are kept in the journal: a resumed batch
 * hands them to create() without calling prepare() again, unless the stage
 * option prepare_again is true.
 * Report through the host vtable create() receives or the bc_call_*
 * functions below, which are the same.
 *
 * The descriptor is copied within its struct_size, with its strings and its
 * options array: it may be a local. The functions and user_data must stay
 * valid until release(user_data) runs, once, when the engine no longer
 * needs them (after the last destroy()); release may be NULL. A processor
 * registered here lives in the host's memory, so it cannot run with
 * isolation=process, and BC_PLUGIN_FLAG_PREFERS_PROCESS does not apply. */
BC_EXTERN int bc_engine_register_plugin(bc_engine *engine, const bc_plugin *plugin,
                                        void (*release)(void *user_data),
                                        void *user_data); /* since 0.2 */

/* [thread-safe] Describe every processor the engine can find, as a JSON
 * array of {"name","version","description","kind","path","options"} objects
 * (plugins that fail to load carry "error"). *out_json is freed with
 * bc_free(). */
BC_EXTERN int bc_engine_list_processors(char **out_json, bc_engine *engine); /* since 0.1 */

/* [thread-safe] The engine's numbers now, as a JSON object: "batches" (each
 * running batch: "tenant", "total", "ok", "partial", "failed", "in_flight",
 * "workers_in_use", "cost_usd"), "tenants" (the same summed per tenant, the
 * batch option `tenant`, with "batches" and, since 0.2, "max_workers": the
 * tenant's cap or null), "workers_in_use" and
 * "max_workers". *out_json is freed with bc_free(). */
BC_EXTERN int bc_engine_stats(char **out_json, bc_engine *engine); /* since 0.1 */

/* [thread-safe] The batch option registry as a JSON array of
 * {"key","default","help"} objects. *out_json is freed with bc_free(). */
BC_EXTERN int bc_options_describe(char **out_json); /* since 0.1 */

/* ---- Batch ------------------------------------------------------------ */

/* A set of documents and stages. since 0.1 */
typedef struct bc_batch bc_batch;

/* [thread-safe] Create a batch on `engine` (the batch keeps it alive).
 * *out is freed with bc_batch_free(). */
BC_EXTERN int bc_batch_new(bc_batch **out, bc_engine *engine); /* since 0.1 */

/* [one at a time] Free a batch. A running batch is cancelled hard and waited
 * for first; document events not yet delivered to a slow callback are
 * dropped, as after a hard cancel, even when every document is done.
 * NULL is ignored.
 * From inside one of this batch's own processor calls or event callbacks it
 * does not wait (that would wait for itself): it cancels the batch hard and
 * returns at once. The batch then ends in the background and the engine
 * releases it; its event callback still receives events up to
 * BC_EVENT_FINISHED, so keep the callback's user_data valid until then. */
BC_EXTERN void bc_batch_free(bc_batch *batch); /* since 0.1 */

/* [one at a time] Set a batch option from the registry (see
 * bc_options_describe, README "Options"), e.g. ("workers", "8"). Before
 * bc_batch_start only. BC_EOPTION names the key, the value and what was
 * expected. */
BC_EXTERN int bc_batch_set(bc_batch *batch, const char *key, const char *value); /* since 0.1 */

/* [one at a time] Append a stage running `processor` (a registered name, a
 * plugin name, "exec", or a path to a plugin file). `label` names the stage
 * for bc_batch_set_stage; NULL uses the processor name (then "name-2", ...
 * for repeats). The processor is resolved at bc_batch_start: a name found
 * nowhere is BC_ENOTFOUND (the message lists where it looked), a path that
 * does not exist BC_ENOTFOUND, a file that is no usable plugin BC_EPLUGIN,
 * a descriptor of another ABI version or too small BC_EABI. */
BC_EXTERN int bc_batch_add_stage(bc_batch *batch, const char *processor, const char *label); /* since 0.1 */

/* [one at a time] Set option `key` of the stage labelled `stage` (NULL: the
 * last stage added). Checked against the processor's declared options at
 * bc_batch_start. */
BC_EXTERN int bc_batch_set_stage(bc_batch *batch, const char *stage, const char *key, const char *value); /* since 0.1 */

/* [one at a time] Add one file. `id` defaults to the path; `metadata_json`
 * (a JSON object) may be NULL, else BC_EINPUT when it is not an object.
 * The file need not exist yet: a missing file fails that document, not the
 * batch. All strings copied. Since 0.2, `path` may be a URL (http://,
 * https://, s3://bucket/key; also in manifests and lists): the document is
 * fetched before its first stage (README, "Remote inputs"); an S3 prefix
 * (s3://bucket/prefix/, ending in '/') with `id` and `metadata_json` NULL
 * adds every object under it, listed as the batch runs. */
BC_EXTERN int bc_batch_add_file(bc_batch *batch, const char *path, const char *id, const char *metadata_json); /* since 0.1 */

/* [one at a time] Add one document held in memory: `len` bytes at `data`
 * (NULL when len is 0), copied, under `id` (required; unique in the batch).
 * Processors see the bytes instead of a file: plugins in bc_doc.content,
 * exec commands on stdin, or in a temporary file when the template names
 * {}. Dedupe hashes them; a resumed batch skips the ids already finished.
 * BC_EINPUT when len is over the batch option content.max_size (16 MiB by
 * default), or `metadata_json` (may be NULL) is not an object. */
BC_EXTERN int bc_batch_add_content(bc_batch *batch, const char *id, const void *data, size_t len,
                                   const char *metadata_json); /* since 0.2 */

/* [one at a time] Add `count` documents held in memory in one call, each as
 * bc_batch_add_content would: document i is `lengths[i]` bytes at `data[i]`
 * (NULL when the length is 0), copied, under `ids[i]`, with
 * `metadata_json[i]` (the array, or an element, may be NULL: none). All or
 * nothing: when one is refused, none is added, and the message says which,
 * "document 3 of 10: ...". Besides bc_batch_add_content's errors, BC_EINPUT
 * when an id is given twice in the call or was given before to a file or a
 * document held in memory (a manifest's, a directory's or a list's ids are
 * checked at bc_batch_start). BC_EINVAL when `ids`, `data` or `lengths` is
 * NULL and count is not 0; count 0 adds nothing. */
BC_EXTERN int bc_batch_add_contents(bc_batch *batch, const char *const *ids, const void *const *data,
                                    const size_t *lengths, const char *const *metadata_json,
                                    size_t count); /* since 0.2 */

/* [one at a time] Add every regular file under `dir`, recursively, in a
 * stable (sorted) order. `glob` (fnmatch pattern on the path relative to
 * `dir`, or on the file name when it has no '/') may be NULL. Since 0.2,
 * `dir` may be an S3 prefix (s3://bucket/prefix/) with `glob` NULL: every
 * object under it, listed as the batch runs. */
BC_EXTERN int bc_batch_add_dir(bc_batch *batch, const char *dir, const char *glob); /* since 0.1 */

/* [one at a time] Add the documents of a manifest: `.jsonl` (one object per
 * line) or `.json` (an array of objects); each object has "path", optional
 * "id" and optional "metadata" (an object); an entry with an "id" and no
 * "path" is a document without a file; since 0.2, "content" (text) or
 * "content_base64" (bytes) with an "id" in place of "path" is a document
 * held in memory (see bc_batch_add_content). Relative paths are relative to the
 * manifest's directory. Validated now: BC_ENOTFOUND when the manifest does
 * not exist, BC_EINPUT naming the file, line and problem when it is
 * malformed (duplicate ids included). */
BC_EXTERN int bc_batch_add_manifest(bc_batch *batch, const char *path); /* since 0.1 */

/* [one at a time] Add newline-separated paths read from `path` ("-" reads
 * standard input, streamed while the batch runs). */
BC_EXTERN int bc_batch_add_list(bc_batch *batch, const char *path); /* since 0.1 */

/* Events delivered to the callback. since 0.1 */
typedef enum bc_event_type {
    BC_EVENT_DOC_FINISHED = 1, /* a document reached its final status */
    BC_EVENT_PROGRESS = 2,     /* periodic; every "progress.interval" */
    BC_EVENT_LOG = 3,          /* a processor logged a message */
    BC_EVENT_FINISHED = 4      /* the batch ended; the last event */
} bc_event_type;

/* Document status. since 0.1 */
typedef enum bc_status {
    BC_STATUS_PENDING = 0,
    BC_STATUS_OK = 1,
    BC_STATUS_PARTIAL = 2,
    BC_STATUS_FAILED = 3,
    BC_STATUS_SKIPPED = 4
} bc_status;

/* Batch state. since 0.1 */
typedef enum bc_batch_state {
    BC_BATCH_NEW = 0,
    BC_BATCH_RUNNING = 1,
    BC_BATCH_FINISHED = 2,  /* every document reached a final status */
    BC_BATCH_CANCELLED = 3  /* stopped early by bc_batch_cancel */
} bc_batch_state;

/* A statistics snapshot. Start from BC_STATS_INIT. since 0.1 */
typedef struct bc_stats {
    uint32_t struct_size;   /* set by the caller: sizeof(bc_stats) */
    uint32_t state;         /* bc_batch_state */
    uint64_t total;         /* documents known so far */
    uint32_t total_known;   /* 1 when every source has been read to its end */
    uint32_t workers;       /* effective worker cap of this batch */
    uint64_t ok, partial, failed, skipped;
    uint64_t in_flight;     /* documents being processed now */
    uint64_t retry_waiting; /* documents waiting for a retry */
    uint64_t attempts;      /* processor calls made, all stages */
    uint64_t retries;       /* attempts that were retries */
    uint64_t input_tokens, output_tokens;
    double elapsed_seconds;
    double docs_per_hour;   /* documents processed per hour so far (this run) */
    double mean_doc_ms;     /* mean processing time of a processed document */
    /* Since 0.1: */
    uint64_t resumed;       /* finished in the journal before this run: counted in ok/partial/failed, not run */
    uint64_t deduplicated;  /* results reused from identical content ("dedupe") */
    uint64_t rate_limit_waiting; /* documents waiting for the rate limit (holding no worker) */
    uint64_t timeouts;      /* attempts that overran the "timeout" option */
    uint64_t units;         /* free-form units processors reported (bc_call_add_units) */
    double cost_usd;        /* spent so far at the stages' prices, earlier runs of the journal included */
    double estimated_total_cost_usd; /* spent plus the mean cost per document times those left; 0 until known */
    uint32_t budget_reached;  /* 1 when the "budget" option stopped the batch */
    uint32_t reserved;
    uint64_t sampled_from;  /* "sample": documents in the whole input (0 when not sampling) */
    double projected_seconds; /* "sample": time the whole input would take at these settings */
    double projected_cost_usd; /* "sample": what the whole input would cost */
} bc_stats;

/* An event. Every pointer is borrowed for the duration of the callback.
 * since 0.1 */
typedef struct bc_event {
    uint32_t struct_size;      /* sizeof(bc_event) as the library knows it */
    uint32_t type;             /* bc_event_type */
    const bc_stats *stats;     /* snapshot at the time of the event */
    /* BC_EVENT_DOC_FINISHED and BC_EVENT_LOG (NULL when not about a doc): */
    const char *doc_id;
    const char *doc_path;      /* may be NULL */
    uint32_t status;           /* bc_status */
    uint32_t attempts;
    const char *error;         /* NULL unless failed or partial with a message */
    double duration_ms;
    /* BC_EVENT_LOG: */
    int32_t log_level;         /* bc_log_level */
    const char *message;
} bc_event;

typedef void (*bc_event_fn)(const bc_event *event, void *user_data); /* since 0.1 */

/* [one at a time] Receive events on a thread owned by the batch, one event at
 * a time, in order, with no engine lock held: the callback may call
 * bc_batch_stats and bc_batch_cancel. bc_batch_wait from it returns
 * BC_ESTATE; bc_batch_free from it does not wait (see bc_batch_free).
 * Before bc_batch_start only. */
BC_EXTERN int bc_batch_set_event_callback(bc_batch *batch, bc_event_fn callback, void *user_data); /* since 0.1 */

/* [one at a time] Resolve the stages (load plugins, run their create) and
 * start processing. Returns at once. BC_ENOTFOUND/BC_EPLUGIN/BC_EABI/
 * BC_EOPTION when a stage cannot start; nothing is processed then. With a
 * checkpoint: BC_ESTATE when another batch (of any process) holds the journal
 * (the message names its pid and start time) or the output holds results the
 * journal does not record; BC_EINPUT when the journal is damaged. */
BC_EXTERN int bc_batch_start(bc_batch *batch); /* since 0.1 */

/* [thread-safe] Wait until the batch ends and every event was delivered.
 * timeout_ms < 0 waits forever; BC_ETIMEOUT when time ran out first.
 * BC_ESTATE (at once) from this batch's own event callback or from inside
 * one of its processor calls, where the wait would never end. */
BC_EXTERN int bc_batch_wait(bc_batch *batch, int64_t timeout_ms); /* since 0.1 */

/* Cancel modes. since 0.1 */
#define BC_CANCEL_GRACEFUL 0 /* dispatch nothing new; in-flight documents finish */
#define BC_CANCEL_HARD 1     /* also ask in-flight calls to stop (is_cancelled), and
                                stop delivering events about single documents */

/* [thread-safe] Cancel a running batch. Returns at once; bc_batch_wait tells
 * when it has stopped, and BC_EVENT_FINISHED is still the last event.
 * Documents never dispatched, and documents stopped by a hard cancel, stay
 * pending: they are neither failed nor written to the output.
 * After a hard cancel, events about single documents (BC_EVENT_DOC_FINISHED,
 * and BC_EVENT_LOG about a document) still queued or yet to come are not
 * delivered, nor BC_EVENT_PROGRESS: one BC_EVENT_LOG says how many were
 * dropped, then BC_EVENT_FINISHED comes. A slow callback then delays the
 * end by the callback in flight and those last events, not by the backlog;
 * the results, the output and the journal still hold every finished
 * document. */
BC_EXTERN int bc_batch_cancel(bc_batch *batch, int mode); /* since 0.1 */

/* [thread-safe] Run again, in the running batch, those of the `count`
 * documents named in `ids` that failed in this run: each goes back to the
 * queue at once with a fresh set of retries, its attempts counting on; its
 * new result replaces the failed one in the journal and, once the batch
 * ends, in the output file. Documents that did not fail in this run, or
 * already wait to run again, are left out. *requeued (may be NULL) receives
 * how many went back. BC_ESTATE when the batch is not running or keeps no
 * journal (set `checkpoint`); BC_EINVAL naming a document added from memory
 * (bc_batch_add_content): its content is not kept once it ends. since 0.2 */
BC_EXTERN int bc_batch_retry(size_t *requeued, bc_batch *batch, const char *const *ids, size_t count); /* since 0.2 */

/* [thread-safe] Pause (paused non-zero) or resume dispatching: calls in
 * flight go on; no document starts while paused. BC_ESTATE when the batch
 * is not running. since 0.2 */
BC_EXTERN int bc_batch_pause(bc_batch *batch, int paused); /* since 0.2 */

/* [thread-safe] Copy a statistics snapshot into *out (set out->struct_size). */
BC_EXTERN int bc_batch_stats(bc_stats *out, const bc_batch *batch); /* since 0.1 */

/* ---- Results ---------------------------------------------------------- */

/* One document's result: what its line of the JSONL output holds. Pointers
 * are borrowed until the next bc_results_next(_many) or bc_results_free on
 * the same iterator. Start from BC_RESULT_INIT. since 0.1 */
typedef struct bc_result {
    uint32_t struct_size;  /* set by the caller: sizeof(bc_result) */
    uint32_t status;       /* bc_status */
    const char *id;
    const char *path;      /* may be NULL */
    const unsigned char *output; /* last stage's output; NULL when none */
    size_t output_len;
    const char *error;     /* NULL when none */
    uint32_t attempts;     /* 1 + retries of this document, any stage */
    uint32_t failed_stage; /* index of the stage that failed, when failed */
    double duration_ms;
    uint64_t input_tokens, output_tokens;
    /* since 0.2: */
    uint32_t output_is_json; /* 1 when output is JSON text (set_output_json) */
    uint32_t reserved;
    uint64_t units;          /* free-form units reported (bc_call_add_units) */
    double cost_usd;         /* what the tokens cost at the stages' prices */
    const char *failed_stage_label; /* label of the stage that failed; NULL unless failed */
    const char *metadata_json; /* the document's metadata (a JSON object); NULL when none */
    const char *duplicate_of;  /* id of the document whose result was reused ("dedupe"); NULL when none */
} bc_result;

/* An iterator over results. since 0.1 */
typedef struct bc_results bc_results;

/* [thread-safe] An iterator over the results finished so far, in finishing
 * order (kept in memory unless "keep_results" is false). *out is freed with
 * bc_results_free(). */
BC_EXTERN int bc_batch_results(bc_results **out, bc_batch *batch); /* since 0.1 */

/* [thread-safe] As bc_batch_results, without the first `first` results:
 * while the batch runs, a host that has read n results reads those that
 * finished since with first = n (an iterator does not grow). since 0.2 */
BC_EXTERN int bc_batch_results_from(bc_results **out, bc_batch *batch, size_t first); /* since 0.2 */

/* [one at a time] Fill *out with the next result: returns 1 when it did,
 * 0 at the end, negative on error. */
BC_EXTERN int bc_results_next(bc_result *out, bc_results *results); /* since 0.1 */

/* [one at a time] Fill out[0..capacity-1] with the next results, one call
 * for many: returns how many (0 at the end), negative on error. Set
 * out[0].struct_size (BC_RESULT_INIT); it is the stride between elements.
 * Every pointer in them is borrowed until the next call on the iterator. */
BC_EXTERN int bc_results_next_many(bc_result *out, size_t capacity, bc_results *results); /* since 0.2 */

/* [one at a time] Free an iterator. NULL is ignored. */
BC_EXTERN void bc_results_free(bc_results *results); /* since 0.1 */

/* ---- Journals ---------------------------------------------------------- */

/* A batch with the "checkpoint" option records every finished document in a
 * journal (SQLite); with "resume" it continues that run (see README,
 * "Checkpoint and resume"). These functions read a journal without changing
 * it, while its run goes on or after it ended. since 0.1 */
typedef struct bc_journal bc_journal;

/* [thread-safe] Open a journal read-only. BC_ENOTFOUND when `path` does not
 * exist, BC_EINPUT when it is not a batchcore journal. *out is freed with
 * bc_journal_free(). */
BC_EXTERN int bc_journal_open(bc_journal **out, const char *path); /* since 0.1 */

/* [one at a time] Close a journal. NULL is ignored. */
BC_EXTERN void bc_journal_free(bc_journal *journal); /* since 0.1 */

/* A journal's counts. Start from BC_JOURNAL_SUMMARY_INIT. since 0.1 */
typedef struct bc_journal_summary {
    uint32_t struct_size;  /* set by the caller: sizeof(bc_journal_summary) */
    uint32_t runs;         /* runs recorded: the first and each resume */
    uint64_t ok, partial, failed, skipped;
    uint64_t attempts;
    uint64_t input_tokens, output_tokens;
    double docs_per_hour;  /* over the time the runs were running */
} bc_journal_summary;

/* [one at a time] Counts of a journal. */
BC_EXTERN int bc_journal_summary_get(bc_journal_summary *out, bc_journal *journal); /* since 0.1 */

/* [one at a time] Iterate the journal's results in output order, read from
 * the journal as you go (never all in memory); `status` is a bc_status to
 * keep only those (e.g. BC_STATUS_FAILED), or 0 for all. Use
 * bc_results_next and bc_results_free; the iterator keeps the journal open. */
BC_EXTERN int bc_journal_results(bc_results **out, bc_journal *journal, int status); /* since 0.1 */

/* [one at a time] Write the results to `path` ("-" for stdout) as "jsonl",
 * "json" (one array) or "csv". `status`: as for bc_journal_results. */
BC_EXTERN int bc_journal_export(bc_journal *journal, const char *path, const char *format, int status); /* since 0.1 */

/* ---- Distributed batches (Redis) ----------------------------------------- */

/* A batch shared by workers on any number of machines through one Redis
 * server (README, "Many machines (Redis)"; docs/redis.md). `url` is
 * redis://[user[:password]@]host[:port][/db] or unix:///path?db=N. hiredis
 * is loaded on first use (Debian's libhiredis0.14); its absence is BC_EIO
 * naming the package. A bad URL is BC_EINVAL; a refused connection, wrong
 * credentials or a Redis error BC_EIO, the password masked in the message.
 * Documents are paths every worker reads (shared storage): a document added
 * with bc_batch_add_content cannot be submitted (BC_EINPUT). since 0.2 */
typedef struct bc_redis_worker bc_redis_worker;

/* [one at a time] Submit a batch configured with bc_batch_set,
 * bc_batch_add_stage, bc_batch_set_stage and bc_batch_add_* instead of
 * starting it: its plan (stages, options) and documents go to Redis and
 * workers serve it from then on. `lease_ms` is how long a worker holds a
 * document without renewing its lease (0: 60 s). The batch itself is not
 * started. *batch_id (freed with bc_free) is the id to give the functions
 * below. BC_ESTATE: the batch has no stage. */
BC_EXTERN int bc_redis_submit(char **batch_id, bc_batch *batch, const char *url, int64_t lease_ms); /* since 0.2 */

/* [thread-safe] The state of one batch (`batch_id`), or of every batch
 * (NULL: a JSON array), as JSON: {"id", "state" (open, finished,
 * cancelled), "tenant", "total", "ok", "partial", "failed", "skipped",
 * "in_flight", "retry_waiting", "docs_per_minute", "eta_seconds",
 * "cost_usd", "workers": [{"name", "done", "state",
 * "seconds_since_seen"}]}; freed with bc_free. BC_ENOTFOUND: no such batch. */
BC_EXTERN int bc_redis_status(char **json, const char *url, const char *batch_id); /* since 0.2 */

/* Called with each result line of bc_redis_collect: one JSON object (the
 * fields of a run's output line) of `len` bytes, without newline, not
 * NUL-terminated, valid during the call. Return 0 to go on, non-zero to stop. */
typedef int (*bc_line_fn)(const char *line, size_t len, void *user_data); /* since 0.2 */

/* [thread-safe] Call `fn` with every committed result of a batch once, in
 * no particular order (only the failed ones when `only_failed` is
 * non-zero). BC_ENOTFOUND: no such batch. */
BC_EXTERN int bc_redis_collect(const char *url, const char *batch_id, int only_failed,
                               bc_line_fn fn, void *user_data); /* since 0.2 */

/* [one at a time] Start a worker in the background: it serves every open
 * batch on the server (only `tenant`'s when not NULL) with `workers` threads
 * of `engine` (0: the engine's max_workers), running each batch's stages with
 * the processors this engine knows (registered, built-in, plugins). A batch
 * whose processor this engine lacks is said so on stderr and left to other
 * workers. Messages go to stderr unless `quiet`. *out is stopped and freed
 * with bc_redis_worker_free. */
BC_EXTERN int bc_redis_worker_start(bc_redis_worker **out, bc_engine *engine, const char *url,
                                    int workers, const char *tenant, int quiet); /* since 0.2 */

/* [thread-safe] Stop a worker and wait until it has: BC_CANCEL_GRACEFUL
 * finishes the documents it holds, BC_CANCEL_HARD hands them back to other
 * workers. Calling it again (to go from graceful to hard) is allowed. */
BC_EXTERN int bc_redis_worker_stop(bc_redis_worker *worker, int mode); /* since 0.2 */

/* [one at a time] Stop (gracefully) and free a worker. NULL is ignored. */
BC_EXTERN void bc_redis_worker_free(bc_redis_worker *worker); /* since 0.2 */

/* ---- In a process callback -------------------------------------------- */

/* The host vtable handed to plugins; the same functions as below. Static. */
BC_EXTERN const bc_host_api *bc_host_api_get(void); /* since 0.1 */

/* Only while the process() call that received `call` runs (from any thread
 * during it; after BC_OUTCOME_PENDING, until bc_call_finish). Same semantics as the bc_host_api members of the same names:
 * once the call has returned they return BC_ESTATE (bc_call_is_cancelled
 * too) and change nothing. A failure sets bc_error_message. Token and unit
 * counts are unsigned; sums saturate at INT64_MAX. */
BC_EXTERN int bc_call_set_output(bc_call *call, const void *data, size_t len); /* since 0.1 */
BC_EXTERN int bc_call_set_output_json(bc_call *call, const char *json, size_t len); /* since 0.1 */
BC_EXTERN int bc_call_set_error(bc_call *call, const char *message); /* since 0.1 */
BC_EXTERN int bc_call_add_usage(bc_call *call, uint64_t input_tokens, uint64_t output_tokens); /* since 0.1 */
BC_EXTERN int bc_call_add_units(bc_call *call, uint64_t units); /* since 0.1 */
BC_EXTERN int bc_call_retry_after(bc_call *call, uint64_t ms); /* since 0.1 */
BC_EXTERN int bc_call_is_cancelled(const bc_call *call); /* since 0.1 */
BC_EXTERN void bc_call_log(bc_call *call, int level, const char *message); /* since 0.1 */
/* Finish a call whose process callback returned BC_OUTCOME_PENDING, from
 * any thread, once (see bc_host_api.finish). BC_EINVAL: NULL call or an
 * outcome other than done, partial, retry, fail; BC_ESTATE: the call
 * already finished, timed out, or was not pending. */
BC_EXTERN int bc_call_finish(bc_call *call, bc_outcome outcome); /* since 0.2 */
/* bc_call_finish of calls[i] with outcomes[i] for each i below `count`, in
 * order, in one call: for a host that pays for every crossing into C (a
 * language runtime's lock). results[i] (when results is non-NULL) gets what
 * bc_call_finish would have returned. Returns how many calls finished;
 * BC_EINVAL when count is non-zero and calls or outcomes is NULL. */
BC_EXTERN int bc_call_finish_many(bc_call *const *calls, const bc_outcome *outcomes, int *results,
                                  size_t count); /* since 0.2 */
/* bc_call_finish_many that first sets each call's output, in the same
 * crossing into C: outputs[i], lengths[i] bytes, as bc_call_set_output_json
 * sets it when json is non-NULL and json[i] is non-zero, else as
 * bc_call_set_output; a NULL outputs[i] leaves the call's output as it is.
 * A JSON output that does not parse is not set: that call fails instead
 * (its error says why) and results[i] is BC_EINVAL. Returns how many calls
 * finished; BC_EINVAL when count is non-zero and calls, outcomes, outputs or
 * lengths is NULL. */
BC_EXTERN int bc_call_finish_with_outputs(bc_call *const *calls, const bc_outcome *outcomes,
                                          const void *const *outputs, const size_t *lengths,
                                          const unsigned char *json, int *results, size_t count); /* since 0.2 */

/* ---- Calls taken by an event loop ------------------------------------- */

/* A queue of started calls for a host that runs its own event loop
 * (asyncio, libuv, epoll): the engine's threads never call into the host;
 * the loop's thread takes the calls in batches and finishes them with
 * bc_call_finish(_many). To use one, give a descriptor (BC_PLUGIN_INIT)
 *   process = bc_call_queue_push, flags = BC_PLUGIN_FLAG_NONBLOCKING,
 * and register it with bc_engine_register_plugin with the queue as
 * user_data (no create(), or a create() that leaves *state as it is): one
 * queue then serves every batch stage of the processor. Or let create()
 * set *state to a new queue for each batch stage, and destroy() free it.
 * since 0.2 */
typedef struct bc_call_queue bc_call_queue;

/* [thread-safe] A new, empty queue; *out is freed with bc_call_queue_free. */
BC_EXTERN int bc_call_queue_new(bc_call_queue **out); /* since 0.2 */

/* [thread-safe] A file descriptor that is readable exactly while calls wait
 * in the queue (level-triggered): watch it with poll, epoll or asyncio's
 * add_reader; never read, write or close it. With edge-triggered epoll,
 * take until bc_call_queue_take returns 0. BC_EINVAL for NULL. */
BC_EXTERN int bc_call_queue_fd(const bc_call_queue *queue); /* since 0.2 */

/* [thread-safe] A bc_plugin.process whose state is the queue: copies the
 * document, queues the call and returns BC_OUTCOME_PENDING. With a NULL
 * state the document fails, saying why. */
BC_EXTERN int bc_call_queue_push(void *queue, bc_call *call, const bc_doc *doc); /* since 0.2 */

/* [one at a time] Move up to `max` waiting calls, oldest first, into
 * calls[] and (when docs is non-NULL) their documents into docs[]; returns
 * how many (0 when none wait, or queue or calls is NULL). Each call is
 * pending: finish it once. The documents are copies owned by the queue,
 * valid until the next bc_call_queue_take on it or bc_call_queue_free. */
BC_EXTERN size_t bc_call_queue_take(bc_call_queue *queue, bc_call **calls, const bc_doc **docs,
                                    size_t max); /* since 0.2 */

/* [one at a time] Free a queue once no call can reach it any more: after
 * the release of the processor whose state it is, or the destroy() of its
 * stage instance. NULL is ignored. */
BC_EXTERN void bc_call_queue_free(bc_call_queue *queue); /* since 0.2 */

/* ---- Initialisers ------------------------------------------------------ */

/* struct_size set to this header's sizeof, every other member zero (see
 * BC_PLUGIN_INIT in batchcore_plugin.h), e.g. `bc_stats s = BC_STATS_INIT;`.
 * since 0.2 */
#define BC_PROCESSOR_DEF_INIT BC_SIZED_INIT_(bc_processor_def)
#define BC_STATS_INIT BC_SIZED_INIT_(bc_stats)
#define BC_EVENT_INIT BC_SIZED_INIT_(bc_event)
#define BC_RESULT_INIT BC_SIZED_INIT_(bc_result)
#define BC_JOURNAL_SUMMARY_INIT BC_SIZED_INIT_(bc_journal_summary)

#ifdef __cplusplus
}
#endif

#endif /* BATCHCORE_H */
