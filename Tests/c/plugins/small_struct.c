/*
 * small_struct — a descriptor whose struct_size is too small to hold the
 * vtable (as if built against a header from before create/process existed).
 * The host must refuse it without reading past struct_size or calling it.
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
    abort();
}

static int never_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    (void)call;
    (void)doc;
    abort();
}

static const bc_plugin descriptor = {
    offsetof(bc_plugin, options), /* stops before the options and the vtable */
    BC_PLUGIN_ABI_MAJOR,
    "small_struct",
    "1.0.0",
    "Descriptor too small for the vtable",
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
