/*
 * newer_minor — a plugin built against a newer minor of the plugin ABI than
 * this host's (as if its header defined BC_PLUGIN_ABI_MINOR one higher). The
 * host must refuse it, naming both versions, and call nothing.
 */
#include "batchcore_plugin.h"

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
    .struct_size = sizeof(bc_plugin),
    .abi_version = BC_PLUGIN_ABI_MAJOR,
    .abi_minor = BC_PLUGIN_ABI_MINOR + 1,
    .name = "newer_minor",
    .create = never_create,
    .process = never_process,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &descriptor;
}
