/*
 * refused — a plugin the host must refuse from its descriptor alone, naming
 * what is wrong, without calling it. Tests/c/run.sh builds it three ways:
 *   wrong_abi     built for another ABI major (-DBUILT_FOR_ABI=N; default
 *                 the next major);
 *   newer_minor   -DNEWER_MINOR: built against a newer minor of this major;
 *   small_struct  -DSMALL_STRUCT: struct_size too small to hold the vtable
 *                 (as if built against a header from before create/process).
 */
#include "batchcore_plugin.h"

#include <stddef.h>
#include <stdlib.h>

#if defined(NEWER_MINOR)
#define PLUGIN_NAME "newer_minor"
#elif defined(SMALL_STRUCT)
#define PLUGIN_NAME "small_struct"
#else
#define PLUGIN_NAME "wrong_abi"
#endif

#ifndef BUILT_FOR_ABI
#if defined(NEWER_MINOR) || defined(SMALL_STRUCT)
#define BUILT_FOR_ABI BC_PLUGIN_ABI_MAJOR
#else
#define BUILT_FOR_ABI (BC_PLUGIN_ABI_MAJOR + 1)
#endif
#endif

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
#ifdef SMALL_STRUCT
    .struct_size = offsetof(bc_plugin, options), /* stops before the options and the vtable */
#else
    .struct_size = sizeof(bc_plugin),
#endif
    .abi_version = BUILT_FOR_ABI,
#ifdef NEWER_MINOR
    .abi_minor = BC_PLUGIN_ABI_MINOR + 1,
#endif
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .description = "Refused by the host from its descriptor",
    .create = never_create,
    .process = never_process,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &descriptor;
}
