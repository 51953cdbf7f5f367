/* A test plugin that prints to standard output, as careless plugins do:
 * a line from create(), and per document a line and a half (the half line
 * is left unflushed in stdio's buffer until the next one). */
#include "batchcore_plugin.h"

#include <stdio.h>
#include <string.h>

static const bc_host_api *host_api;

static int chatty_create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf,
                         size_t size) {
    (void)config;
    (void)errbuf;
    (void)size;
    host_api = host;
    *state = NULL;
    printf("chatty: ready\n");
    fflush(stdout);
    return 0;
}

static int chatty_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    printf("chatty: processing %s\nchatty: half a line... ", doc->id);
    fflush(stdout);
    host_api->set_output(call, doc->id, strlen(doc->id));
    return BC_OUTCOME_DONE;
}

static void chatty_destroy(void *state) {
    (void)state;
    printf("chatty: done\n");
    fflush(stdout);
}

static const bc_plugin chatty_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "chatty",
    .version = "1.0.0",
    .description = "Prints to stdout while it works",
    .create = chatty_create,
    .process = chatty_process,
    .destroy = chatty_destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &chatty_plugin; }
