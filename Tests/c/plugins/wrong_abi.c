/*
 * wrong_abi — a plugin built for the next plugin ABI major (or, compiled with
 * -DBUILT_FOR_ABI=N, for ABI N). The host must refuse it from the
 * descriptor alone, naming both versions, and call nothing.
 */
#include "batchcore_plugin.h"

#ifndef BUILT_FOR_ABI
#define BUILT_FOR_ABI (BC_PLUGIN_ABI_MAJOR + 1)
#endif

#include <stdlib.h>

static int never_create(const bc_host_api *host, const bc_config *config, void **state,
                        char *errbuf, size_t errbuf_size) {
    (void)host;
    (void)config;
    (void)state;
    (void)errbuf;
    (void)errbuf_size;
    abort(); /* the host must not call a plugin it refused */
}

static int never_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    (void)call;
    (void)doc;
    abort();
}

static const bc_plugin descriptor = {
    sizeof(bc_plugin),
    BUILT_FOR_ABI,
    "wrong_abi",
    "1.0.0",
    "Built for another plugin ABI",
    BC_PLUGIN_FLAG_NONE,
    0,
    NULL,
    never_create,
    never_process,
    NULL,
    NULL,
    NULL,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &descriptor;
}
