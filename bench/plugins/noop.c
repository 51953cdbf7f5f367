/*
 * noop.c — a processor that does nothing, so a benchmark measures only the
 * engine: reading documents, scheduling them, recording their status.
 *
 *     cc -shared -fPIC -Iinclude bench/plugins/noop.c -o noop.so
 */
#include "batchcore_plugin.h"

#include <stddef.h>

static int create(const bc_host_api *host, const bc_config *config, void **state,
                  char *errbuf, size_t errbuf_size) {
    (void)host; (void)config; (void)errbuf; (void)errbuf_size;
    *state = NULL;
    return 0;
}

static int process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state; (void)call; (void)doc;
    return BC_OUTCOME_DONE;
}

static const bc_plugin_option options[] = {{NULL, NULL, NULL}};

static const bc_plugin descriptor = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "noop",
    .version = "1.0.0",
    .description = "Does nothing (benchmarks the engine itself)",
    .options = options,
    .create = create,
    .process = process,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &descriptor; }
