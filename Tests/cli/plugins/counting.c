/* A test plugin that records every call, so tests can prove what ran.
 * Options:
 *   calls     file to append "<id>\n" to on every call (O_APPEND: whole lines)
 *   sleep_us  microseconds to sleep per call (default 0)
 *   fail      documents whose id contains this string fail
 *   hang      documents whose id contains this string never return by
 *             themselves, in attempts up to hang_attempts (default: all)
 *   hang_polls "1": a hung call polls is_cancelled and returns when asked
 *   throttle  documents whose id contains this string ask for a retry after
 *             300 ms on their first attempt (as an API's 429 would)
 *   usage     "IN,OUT": tokens reported per call
 *   estimate  "IN,OUT": tokens estimate() announces (none: the host guesses)
 *   units     free-form units reported per call
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
    const char *hang;
    const char *throttle;
    unsigned hang_attempts;
    int hang_polls;
    unsigned long long usage_in, usage_out;
    int has_estimate;
    unsigned long long estimate_in, estimate_out;
    unsigned long long units;
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
    c->hang = host->config_get(config, "hang");
    c->throttle = host->config_get(config, "throttle");
    const char *hang_attempts = host->config_get(config, "hang_attempts");
    c->hang_attempts = hang_attempts ? (unsigned)atoi(hang_attempts) : ~0u;
    const char *hang_polls = host->config_get(config, "hang_polls");
    c->hang_polls = hang_polls && strcmp(hang_polls, "1") == 0;
    const char *usage = host->config_get(config, "usage");
    if (usage) sscanf(usage, "%llu,%llu", &c->usage_in, &c->usage_out);
    const char *estimate = host->config_get(config, "estimate");
    if (estimate) c->has_estimate = sscanf(estimate, "%llu,%llu", &c->estimate_in, &c->estimate_out) == 2;
    const char *units = host->config_get(config, "units");
    if (units) c->units = strtoull(units, NULL, 10);
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
    if (c->throttle && strstr(doc->id, c->throttle) && doc->attempt == 1) {
        c->host->set_error(call, "429 too many requests");
        c->host->retry_after(call, 300);
        return BC_OUTCOME_RETRY;
    }
    if (c->sleep_us > 0) {
        struct timespec ts = { c->sleep_us / 1000000, (c->sleep_us % 1000000) * 1000 };
        nanosleep(&ts, NULL);
    }
    if (c->hang && strstr(doc->id, c->hang) && doc->attempt <= c->hang_attempts) {
        struct timespec tick = { 0, 1000000 };
        for (;;) {
            if (c->hang_polls && c->host->is_cancelled(call)) {
                c->host->set_error(call, "stopped when asked");
                return BC_OUTCOME_RETRY;
            }
            nanosleep(&tick, NULL);
        }
    }
    if (c->usage_in || c->usage_out) c->host->add_usage(call, c->usage_in, c->usage_out);
    if (c->units) c->host->add_units(call, c->units);
    if (c->fail && strstr(doc->id, c->fail)) {
        c->host->set_error(call, "failing on purpose");
        return BC_OUTCOME_FAIL;
    }
    char json[600];
    int n = snprintf(json, sizeof json, "{\"seen\":\"%s\",\"attempt\":%u}", doc->id, doc->attempt);
    c->host->set_output_json(call, json, (size_t)n);
    return BC_OUTCOME_DONE;
}

static int estimate(void *state, const bc_doc *doc, uint64_t *input_tokens, uint64_t *output_tokens) {
    counting *c = state;
    (void)doc;
    if (!c->has_estimate) return 1;
    *input_tokens = c->estimate_in;
    *output_tokens = c->estimate_out;
    return 0;
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
    {"hang", NULL, "never return for documents whose id contains this"},
    {"throttle", NULL, "first attempt of documents whose id contains this: retry after 300 ms (a 429)"},
    {"hang_attempts", NULL, "hang only in attempts up to this one"},
    {"hang_polls", "0", "1: a hung call returns once is_cancelled says so"},
    {"usage", NULL, "IN,OUT tokens reported per call"},
    {"estimate", NULL, "IN,OUT tokens announced by estimate()"},
    {"units", NULL, "units reported per call"},
    {NULL, NULL, NULL},
};

static const bc_plugin descriptor = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "counting",
    .version = "1.0.0",
    .description = "Test plugin: records calls, sleeps, fails on request",
    .options = options,
    .create = create,
    .process = process,
    .destroy = destroy,
    .estimate = estimate,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &descriptor; }
