/*
 * sleep.c — a processor that waits `ms` milliseconds (default 20) and does
 * nothing else: a stand-in for a call to a remote API, to measure how well
 * the engine hides latency with many workers.
 *
 *     cc -shared -fPIC -Iinclude bench/plugins/sleep.c -o sleep.so
 */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct { struct timespec delay; } sleep_state;

static int create(const bc_host_api *host, const bc_config *config, void **state,
                  char *errbuf, size_t errbuf_size) {
    const char *text = host->config_get(config, "ms");
    char *end = NULL;
    long ms = text ? strtol(text, &end, 10) : 20;
    if (text && (*text == '\0' || *end != '\0' || ms < 0)) {
        snprintf(errbuf, errbuf_size, "ms: expected a whole number of milliseconds, got '%s'", text);
        return 1;
    }
    sleep_state *s = malloc(sizeof *s);
    if (!s) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return 1;
    }
    s->delay.tv_sec = ms / 1000;
    s->delay.tv_nsec = (ms % 1000) * 1000000L;
    *state = s;
    return 0;
}

static int process(void *state, bc_call *call, const bc_doc *doc) {
    (void)call; (void)doc;
    struct timespec left = ((const sleep_state *)state)->delay;
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
    return BC_OUTCOME_DONE;
}

static void destroy(void *state) { free(state); }

static const bc_plugin_option options[] = {
    {"ms", "20", "milliseconds to wait per document"},
    {NULL, NULL, NULL},
};

static const bc_plugin descriptor = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "sleep",
    .version = "1.0.0",
    .description = "Waits a fixed time per document (simulated I/O latency)",
    .options = options,
    .create = create,
    .process = process,
    .destroy = destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &descriptor; }
