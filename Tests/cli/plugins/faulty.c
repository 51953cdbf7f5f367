/* A test plugin that misbehaves on request, chosen by the document's id:
 *   crash  dereferences NULL (SIGSEGV)
 *   abort  calls abort() (SIGABRT)
 *   hang   spins forever, ignoring cancellation
 *   leak   allocates and touches memory until malloc fails, then aborts
 *   exit   calls exit(7)
 * Any other document succeeds with {"pid": getpid(), "id": ...}, so tests
 * can tell which process ran it.
 * Option `log`: set to 1 to log one line per document.
 */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const bc_host_api *host;
    int log;
} faulty;

static int create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf, size_t size) {
    faulty *f = calloc(1, sizeof *f);
    if (!f) return snprintf(errbuf, size, "out of memory"), 1;
    f->host = host;
    const char *log = host->config_get(config, "log");
    f->log = log && strcmp(log, "1") == 0;
    *state = f;
    return 0;
}

static volatile int *volatile nowhere = NULL;

static int process(void *state, bc_call *call, const bc_doc *doc) {
    faulty *f = state;
    if (strstr(doc->id, "crash")) return *nowhere;
    if (strstr(doc->id, "abort")) abort();
    if (strstr(doc->id, "exit")) exit(7);
    if (strstr(doc->id, "hang")) {
        for (volatile unsigned long spin = 0;; spin++) {}
    }
    if (strstr(doc->id, "leak")) {
        for (;;) {
            char *block = malloc(16u << 20);
            if (!block) abort(); /* what most code does when memory runs out */
            memset(block, 1, 16u << 20);
        }
    }
    if (f->log) {
        char line[600];
        snprintf(line, sizeof line, "processing %s", doc->id);
        f->host->log(call, BC_LOG_INFO, line);
    }
    char json[600];
    int n = snprintf(json, sizeof json, "{\"pid\":%ld,\"id\":\"%s\"}", (long)getpid(), doc->id);
    f->host->add_usage(call, 3, 4);
    f->host->set_output_json(call, json, (size_t)n);
    return BC_OUTCOME_DONE;
}

static void destroy(void *state) { free(state); }

static const bc_plugin_option options[] = {
    {"log", "0", "1: log a line per document"},
    {NULL, NULL, NULL},
};

static const bc_plugin descriptor = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "faulty",
    .version = "1.0.0",
    .description = "Test plugin: crashes, aborts, hangs or leaks on request",
    .options = options,
    .create = create,
    .process = process,
    .destroy = destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &descriptor; }
