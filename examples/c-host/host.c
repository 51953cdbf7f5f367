/*
 * host.c — drive libbatchcore from C: a tutorial.
 *
 * Runs two batches over the files of a directory:
 *   1. with a processor defined right here, in this program ("id-length":
 *      outputs the length of each document's id);
 *   2. with the bundled `text` plugin (byte, line and word counts, SHA-256),
 *      which the engine loads from the directory holding libbatchcore.so.
 *
 * Build and run (after `swift build -c release`):
 *
 *     cc -std=c99 -Wall -Iinclude examples/c-host/host.c \
 *        -L.build/release -lbatchcore -Wl,-rpath,$PWD/.build/release \
 *        -o host
 *     ./host docs/
 *
 * Conventions you will see below (the same for every bc_ function):
 *   - functions return 0 on success or a negative BC_E* code;
 *   - bc_error_message() explains the last failure on this thread;
 *   - out-parameters come first: bc_batch_new(&batch, engine);
 *   - what the library gives you is freed with the matching *_free.
 */
#include "batchcore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints what failed and why, and returns non-zero: `if (failed(rc, "...")) goto done;` */
static int failed(int rc, const char *what) {
    if (rc == 0) return 0;
    fprintf(stderr, "host: %s failed: %s (%s)\n", what, bc_error_message(), bc_error_name(rc));
    return 1;
}

/* ------------------------------------------------------------------------
 * An in-process processor
 *
 * The engine calls it from its worker threads, several at once: it must be
 * thread-safe. Here it only reads the document, so it is.
 * ------------------------------------------------------------------------ */
static int id_length_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)user_data; /* whatever you registered with the processor */

    char out[32];
    int n = snprintf(out, sizeof out, "%zu", strlen(doc->id));

    /* Report the output through the call handle. The engine copies it.
     * Use bc_call_set_output_json for JSON, bc_call_set_error for a message
     * about a failure, bc_call_add_usage for LLM token counts. */
    if (bc_call_set_output(call, out, (size_t)n) != 0) return BC_OUTCOME_FAIL;
    return BC_OUTCOME_DONE;
}

/* ------------------------------------------------------------------------
 * One batch, from start to results
 * ------------------------------------------------------------------------ */
static int run_batch(bc_engine *engine, const char *dir, const char *processor) {
    int status = 1;
    bc_batch *batch = NULL;
    bc_results *results = NULL;

    printf("== %s over %s\n", processor, dir);

    if (failed(bc_batch_new(&batch, engine), "bc_batch_new")) return 1;

    /* Options come from the one registry shared with the CLI and Python
     * (bc_options_describe lists them). Values are strings, checked now. */
    if (failed(bc_batch_set(batch, "workers", "4"), "bc_batch_set workers")) goto done;

    /* A batch runs one or more stages; each stage's output feeds the next.
     * Processors are resolved (plugins loaded) when the batch starts. */
    if (failed(bc_batch_add_stage(batch, processor, NULL), "bc_batch_add_stage")) goto done;

    /* Every regular file under dir, recursively, sorted. NULL: no pattern. */
    if (failed(bc_batch_add_dir(batch, dir, NULL), "bc_batch_add_dir")) goto done;

    /* Start returns at once; the work happens on the engine's threads. */
    if (failed(bc_batch_start(batch), "bc_batch_start")) goto done;

    /* Wait for the end. -1 waits forever; a timeout in milliseconds returns
     * BC_ETIMEOUT while the batch keeps running, e.g. to print progress. */
    if (failed(bc_batch_wait(batch, -1), "bc_batch_wait")) goto done;

    /* A snapshot of the counters. BC_STATS_INIT sets struct_size, so that an
     * older program keeps working with a newer library that knows more fields. */
    bc_stats stats = BC_STATS_INIT;
    if (failed(bc_batch_stats(&stats, batch), "bc_batch_stats")) goto done;
    printf("%" PRIu64 " documents: %" PRIu64 " ok, %" PRIu64 " partial, %" PRIu64 " failed"
           " in %.3f s (%.0f docs/min)\n",
           stats.total, stats.ok, stats.partial, stats.failed, stats.elapsed_seconds,
           stats.docs_per_hour / 60);

    /* The results, in the order documents finished. Every pointer in a
     * bc_result is borrowed until the next bc_results_next call. */
    if (failed(bc_batch_results(&results, batch), "bc_batch_results")) goto done;
    bc_result r = BC_RESULT_INIT;
    int rc;
    while ((rc = bc_results_next(&r, results)) == 1) {
        if (r.status == BC_STATUS_FAILED) {
            printf("  FAILED %s: %s\n", r.id, r.error ? r.error : "(no message)");
        } else {
            /* Output is bytes, not a C string: print it with its length. */
            printf("  %-7s %s: %.*s\n", r.status == BC_STATUS_OK ? "ok" : "partial", r.id,
                   (int)r.output_len, r.output ? (const char *)r.output : "");
        }
    }
    if (rc < 0 && failed(rc, "bc_results_next")) goto done;

    status = stats.failed == 0 ? 0 : 1;

done:
    bc_results_free(results); /* NULL is fine */
    bc_batch_free(batch);     /* a running batch would be cancelled first */
    return status;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
        return 2;
    }

    /* The header and the library must agree. */
    if (bc_version_number() != BC_VERSION_NUMBER) {
        fprintf(stderr, "host: built against batchcore %d, running with %s\n", BC_VERSION_NUMBER,
                bc_version_string());
        return 1;
    }

    /* One engine per process is typical: it owns the worker threads and the
     * loaded plugins, and can run many batches at once. */
    bc_engine *engine = NULL;
    if (failed(bc_engine_new(&engine), "bc_engine_new")) return 1;

    /* Register our processor under a name stages can use. The definition
     * is copied; user_data (none here) must live until release is called. */
    bc_processor_def def = BC_PROCESSOR_DEF_INIT;
    def.name = "id-length";
    def.description = "Outputs the length of the document id";
    def.process = id_length_process;
    def.release = NULL;
    def.user_data = NULL;
    if (failed(bc_engine_register_processor(engine, &def), "bc_engine_register_processor")) {
        bc_engine_free(engine);
        return 1;
    }

    int status = run_batch(engine, argv[1], "id-length");
    status |= run_batch(engine, argv[1], "text"); /* the bundled plugin */

    /* The engine lives on while batches use it; freeing it here is safe. */
    bc_engine_free(engine);
    return status;
}
