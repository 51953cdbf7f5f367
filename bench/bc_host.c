/*
 * bc_host.c — the batchcore side of the benchmarks that go through the C
 * API: a host that runs one batch and prints how long it took as JSON.
 *
 *   bc_host (--manifest FILE | --list FILE)
 *           (--processor NAME_OR_PATH | --register noop | --register sleep=MS)
 *           [-O KEY=VALUE]...      batch options (bc_batch_set)
 *           [--set KEY=VALUE]...   stage options (bc_batch_set_stage)
 *
 * --register defines the processor in this program with
 * bc_engine_register_processor (a host function, the way Python bindings
 * register theirs); --processor loads a plugin.
 *
 * Prints {"seconds":S,"free_s":S,"docs":N,"ok":N,"failed":N}. "seconds" runs
 * from before bc_engine_new to after bc_batch_wait: reading the manifest,
 * loading the plugin and starting the threads are part of what is measured.
 * "free_s" is bc_batch_free + bc_engine_free, reported apart because it is
 * teardown, not processing. Exits 1 when a document failed or anything went
 * wrong.
 */
#define _POSIX_C_SOURCE 200809L
#include "batchcore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int noop_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)call; (void)doc; (void)user_data;
    return BC_OUTCOME_DONE;
}

static int sleep_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)call; (void)doc;
    struct timespec left = *(const struct timespec *)user_data;
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
    return BC_OUTCOME_DONE;
}

static int check(int rc, const char *what) {
    if (rc == 0) return 0;
    fprintf(stderr, "bc_host: %s: %s (%s)\n", what, bc_error_message(), bc_error_name(rc));
    return 1;
}

static int usage(void) {
    fprintf(stderr, "usage: bc_host (--manifest FILE | --list FILE) "
                    "(--processor NAME | --register noop | --register sleep=MS) "
                    "[-O KEY=VALUE]... [--set KEY=VALUE]...\n");
    return 2;
}

/* Splits "KEY=VALUE" in place; NULL when there is no '='. */
static char *split_assignment(char *text) {
    char *eq = strchr(text, '=');
    if (!eq || eq == text) return NULL;
    *eq = '\0';
    return eq + 1;
}

int main(int argc, char **argv) {
    const char *manifest = NULL, *list = NULL, *processor = NULL, *registered = NULL;
    char **batch_options = calloc((size_t)argc, sizeof *batch_options);
    char **stage_options = calloc((size_t)argc, sizeof *stage_options);
    int n_batch = 0, n_stage = 0;
    if (!batch_options || !stage_options) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return usage();
        if (!strcmp(a, "--manifest")) manifest = argv[++i];
        else if (!strcmp(a, "--list")) list = argv[++i];
        else if (!strcmp(a, "--processor")) processor = argv[++i];
        else if (!strcmp(a, "--register")) registered = argv[++i];
        else if (!strcmp(a, "-O")) batch_options[n_batch++] = argv[++i];
        else if (!strcmp(a, "--set")) stage_options[n_stage++] = argv[++i];
        else return usage();
    }
    if ((!manifest == !list) || (!processor == !registered)) return usage();

    struct timespec delay = {0, 0};
    bc_processor_def def = {.struct_size = sizeof def};
    if (registered) {
        if (!strcmp(registered, "noop")) {
            def.name = "host-noop";
            def.process = noop_process;
        } else if (!strncmp(registered, "sleep=", 6)) {
            long ms = strtol(registered + 6, NULL, 10);
            delay.tv_sec = ms / 1000;
            delay.tv_nsec = (ms % 1000) * 1000000L;
            def.name = "host-sleep";
            def.process = sleep_process;
            def.user_data = &delay;
        } else {
            return usage();
        }
    }

    double started = now_seconds();
    bc_engine *engine = NULL;
    bc_batch *batch = NULL;
    int failed = 1;
    if (check(bc_engine_new(&engine), "bc_engine_new")) return 1;
    if (registered && check(bc_engine_register_processor(engine, &def), "register")) goto done;
    if (check(bc_batch_new(&batch, engine), "bc_batch_new")) goto done;
    if (check(bc_batch_add_stage(batch, registered ? def.name : processor, NULL), "add stage")) goto done;
    for (int i = 0; i < n_batch; i++) {
        char *value = split_assignment(batch_options[i]);
        if (!value) return usage();
        if (check(bc_batch_set(batch, batch_options[i], value), batch_options[i])) goto done;
    }
    for (int i = 0; i < n_stage; i++) {
        char *value = split_assignment(stage_options[i]);
        if (!value) return usage();
        if (check(bc_batch_set_stage(batch, NULL, stage_options[i], value), stage_options[i])) goto done;
    }
    if (manifest && check(bc_batch_add_manifest(batch, manifest), "add manifest")) goto done;
    if (list && check(bc_batch_add_list(batch, list), "add list")) goto done;
    if (check(bc_batch_start(batch), "start")) goto done;
    if (check(bc_batch_wait(batch, -1), "wait")) goto done;
    double seconds = now_seconds() - started;

    bc_stats stats = {.struct_size = sizeof stats};
    if (check(bc_batch_stats(&stats, batch), "stats")) goto done;
    double freeing = now_seconds();
    bc_batch_free(batch);
    bc_engine_free(engine);
    batch = NULL;
    engine = NULL;
    printf("{\"seconds\":%.6f,\"free_s\":%.6f,\"docs\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"failed\":%" PRIu64 "}\n",
           seconds, now_seconds() - freeing, stats.ok + stats.partial + stats.failed + stats.skipped,
           stats.ok, stats.failed);
    failed = stats.failed != 0 || stats.state != BC_BATCH_FINISHED;

done:
    bc_batch_free(batch);
    bc_engine_free(engine);
    free(batch_options);
    free(stage_options);
    return failed;
}
