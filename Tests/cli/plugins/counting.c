/* A test plugin that records every call, so tests can prove what ran.
 * Options:
 *   calls     file to append "<id>\n" to on every call (O_APPEND: whole lines)
 *   sleep_us  microseconds to sleep per call (default 0)
 *   fail      documents whose id contains this string fail
 */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const bc_host_api *host;
    int calls_fd;
    long sleep_us;
    const char *fail;
} counting;

static int create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf, size_t size) {
    counting *c = calloc(1, sizeof *c);
    if (!c) return snprintf(errbuf, size, "out of memory"), 1;
    c->host = host;
    c->calls_fd = -1;
    const char *calls = host->config_get(config, "calls");
    if (calls && (c->calls_fd = open(calls, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        snprintf(errbuf, size, "cannot open calls file '%s'", calls);
        free(c);
        return 1;
    }
    const char *sleep_us = host->config_get(config, "sleep_us");
    c->sleep_us = sleep_us ? atol(sleep_us) : 0;
    c->fail = host->config_get(config, "fail");
    *state = c;
    return 0;
}

static int process(void *state, bc_call *call, const bc_doc *doc) {
    counting *c = state;
    if (c->calls_fd >= 0) {
        char line[512];
        int n = snprintf(line, sizeof line, "%s\n", doc->id);
        if (write(c->calls_fd, line, (size_t)n) != n) return BC_OUTCOME_RETRY;
    }
    if (c->sleep_us > 0) {
        struct timespec ts = { c->sleep_us / 1000000, (c->sleep_us % 1000000) * 1000 };
        nanosleep(&ts, NULL);
    }
    if (c->fail && strstr(doc->id, c->fail)) {
        c->host->set_error(call, "failing on purpose");
        return BC_OUTCOME_FAIL;
    }
    char json[600];
    int n = snprintf(json, sizeof json, "{\"seen\":\"%s\",\"attempt\":%u}", doc->id, doc->attempt);
    c->host->set_output_json(call, json, (size_t)n);
    return BC_OUTCOME_DONE;
}

static void destroy(void *state) {
    counting *c = state;
    if (c->calls_fd >= 0) close(c->calls_fd);
    free(c);
}

static const bc_plugin_option options[] = {
    {"calls", NULL, "file recording every call"},
    {"sleep_us", "0", "sleep per call, microseconds"},
    {"fail", NULL, "fail documents whose id contains this"},
    {NULL, NULL, NULL},
};

static const bc_plugin descriptor = {
    .struct_size = sizeof(bc_plugin),
    .abi_version = BC_PLUGIN_ABI_VERSION,
    .name = "counting",
    .version = "1.0.0",
    .description = "Test plugin: records calls, sleeps, fails on request",
    .options = options,
    .create = create,
    .process = process,
    .destroy = destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &descriptor; }
