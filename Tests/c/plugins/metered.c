/* A plugin that bills: its list price comes from create() (set_prices), it
 * announces each call's tokens with estimate() and reports usage and units.
 * Option `stuck`: documents whose id contains it wait until the host asks
 * them to stop (is_cancelled), as a well-behaved slow call would. */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <string.h>
#include <time.h>

static const bc_host_api *host_api;
static char stuck[64];

static int metered_create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf,
                          size_t size) {
    (void)errbuf;
    (void)size;
    host_api = host;
    const char *s = host->config_get(config, "stuck");
    stuck[0] = '\0';
    if (s != NULL) strncat(stuck, s, sizeof stuck - 1);
    *state = NULL;
    /* $2 per million input tokens, $8 per million output tokens. */
    return BC_HOST_HAS(host, set_prices) ? host->set_prices(config, 2.0, 8.0) : 0;
}

static int metered_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    if (stuck[0] != '\0' && strstr(doc->id, stuck) != NULL) {
        struct timespec tick = {0, 1000000};
        while (!host_api->is_cancelled(call)) nanosleep(&tick, NULL);
        return BC_OUTCOME_RETRY;
    }
    host_api->add_usage(call, 100, 50);
    host_api->add_units(call, 2);
    host_api->set_output(call, "billed", 6);
    return BC_OUTCOME_DONE;
}

static int metered_estimate(void *state, const bc_doc *doc, uint64_t *input_tokens, uint64_t *output_tokens) {
    (void)state;
    (void)doc;
    *input_tokens = 100;
    *output_tokens = 50;
    return 0;
}

static const bc_plugin_option metered_options[] = {
    {"stuck", NULL, "documents whose id contains this wait for is_cancelled"},
    {NULL, NULL, NULL},
};

static const bc_plugin metered_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "metered",
    .version = "1.0.0",
    .description = "Reports usage at a list price",
    .options = metered_options,
    .create = metered_create,
    .process = metered_process,
    .estimate = metered_estimate,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &metered_plugin; }
