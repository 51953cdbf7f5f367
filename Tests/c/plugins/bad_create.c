/*
 * bad_create — a plugin whose create() refuses to start. bc_batch_start must
 * fail with BC_EPLUGIN and carry this plugin's message.
 */
#include "batchcore_plugin.h"

#include <stdio.h>
#include <stdlib.h>

#define BAD_CREATE_MESSAGE "bad_create: cannot reach the model server at 127.0.0.1:9"

static int failing_create(const bc_host_api *host, const bc_config *config, void **state,
                          char *errbuf, size_t errbuf_size) {
    (void)host;
    (void)config;
    (void)state;
    snprintf(errbuf, errbuf_size, "%s", BAD_CREATE_MESSAGE);
    return 1;
}

static int never_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    (void)call;
    (void)doc;
    abort(); /* the batch must not start */
}

static const bc_plugin descriptor = {
    sizeof(bc_plugin),
    BC_PLUGIN_ABI_MAJOR,
    "bad_create",
    "1.0.0",
    "create() always fails",
    BC_PLUGIN_FLAG_NONE,
    0,
    NULL,
    failing_create,
    never_process,
    NULL,
    NULL,
    NULL,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &descriptor;
}
