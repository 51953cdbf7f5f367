/*
 * older_minor — a plugin built against ABI 1.0, the first header: its
 * descriptor is that header's struct, which ends with destroy(), has
 * `reserved` (0) where abi_minor is now, and a smaller struct_size. The host
 * must load and run it, reading nothing past its struct_size: the words
 * right after it are traps that abort if the host took them for estimate()
 * or prepare().
 */
#include "batchcore_plugin.h"

#include <stdlib.h>
#include <string.h>

/* bc_plugin as ABI 1.0 declared it. */
typedef struct plugin_1_0 {
    uint32_t struct_size;
    uint32_t abi_version;
    const char *name;
    const char *version;
    const char *description;
    uint32_t flags;
    uint32_t reserved;
    const bc_plugin_option *options;
    int (*create)(const bc_host_api *host, const bc_config *config, void **state, char *errbuf,
                  size_t errbuf_size);
    int (*process)(void *state, bc_call *call, const bc_doc *doc);
    void (*destroy)(void *state);
} plugin_1_0;

static int old_create(const bc_host_api *host, const bc_config *config, void **state,
                      char *errbuf, size_t errbuf_size) {
    (void)config;
    (void)errbuf;
    (void)errbuf_size;
    *state = (void *)host;
    return 0;
}

static int old_process(void *state, bc_call *call, const bc_doc *doc) {
    const bc_host_api *host = state;
    static const char prefix[] = "old:";
    char out[256];
    size_t n = strlen(doc->id);
    if (n > sizeof out - sizeof prefix) n = sizeof out - sizeof prefix;
    memcpy(out, prefix, sizeof prefix - 1);
    memcpy(out + sizeof prefix - 1, doc->id, n);
    host->set_output(call, out, sizeof prefix - 1 + n);
    return BC_OUTCOME_DONE;
}

static int trap_estimate(void *state, const bc_doc *doc, uint64_t *input, uint64_t *output) {
    (void)state;
    (void)doc;
    (void)input;
    (void)output;
    abort(); /* read past struct_size */
}

static int trap_prepare(const bc_host_api *host, const bc_config *config, char *errbuf,
                        size_t errbuf_size) {
    (void)host;
    (void)config;
    (void)errbuf;
    (void)errbuf_size;
    abort(); /* read past struct_size */
}

/* The old descriptor, then what a host reading a whole bc_plugin would
 * take for estimate() and prepare(). */
static const struct {
    plugin_1_0 descriptor;
    int (*estimate)(void *, const bc_doc *, uint64_t *, uint64_t *);
    int (*prepare)(const bc_host_api *, const bc_config *, char *, size_t);
} image = {
    {sizeof(plugin_1_0), 1, "older_minor", "1.0.0", "Built against ABI 1.0", 0, 0, NULL,
     old_create, old_process, NULL},
    trap_estimate,
    trap_prepare,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return (const bc_plugin *)(const void *)&image.descriptor;
}
