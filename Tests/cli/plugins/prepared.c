/* A test plugin with a prepare(): it records where prepare() and create()
 * run, and every document's output names the bytes create() received.
 * Option `log`: file to append "prepare PID" and "create PID SHARED" lines to.
 * Option `refuse`: "prepare" makes prepare() fail. */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const bc_host_api *host;
    char shared[128];
} prepared;

static void log_line(const bc_host_api *host, const bc_config *config, const char *line) {
    const char *log = host->config_get(config, "log");
    if (log == NULL) return;
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (write(fd, line, strlen(line)) < 0) { /* the test sees the missing line */ }
    close(fd);
}

static int prepare(const bc_host_api *host, const bc_config *config, char *errbuf, size_t size) {
    const char *refuse = host->config_get(config, "refuse");
    if (refuse != NULL && strcmp(refuse, "prepare") == 0) {
        snprintf(errbuf, size, "the research failed");
        return 1;
    }
    char line[64], research[64];
    snprintf(line, sizeof line, "prepare %ld\n", (long)getpid());
    log_line(host, config, line);
    int n = snprintf(research, sizeof research, "research by %ld", (long)getpid());
    return host->set_shared(config, research, (size_t)n);
}

static int create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf, size_t size) {
    prepared *p = calloc(1, sizeof *p);
    if (p == NULL) return snprintf(errbuf, size, "out of memory"), 1;
    p->host = host;
    size_t len = 0;
    const void *shared = host->shared(config, &len);
    if (shared != NULL && len < sizeof p->shared) memcpy(p->shared, shared, len);
    char line[192];
    snprintf(line, sizeof line, "create %ld %s\n", (long)getpid(), shared ? p->shared : "(none)");
    log_line(host, config, line);
    *state = p;
    return 0;
}

static int process(void *state, bc_call *call, const bc_doc *doc) {
    prepared *p = state;
    (void)doc;
    char out[192];
    int n = snprintf(out, sizeof out, "{\"shared\":\"%s\",\"pid\":%ld}", p->shared, (long)getpid());
    p->host->set_output_json(call, out, (size_t)n);
    return BC_OUTCOME_DONE;
}

static void destroy(void *state) { free(state); }

static const bc_plugin_option options[] = {
    {"log", NULL, "file recording prepare() and create() calls"},
    {"refuse", NULL, "\"prepare\": prepare() fails"},
    {NULL, NULL, NULL},
};

static const bc_plugin descriptor = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "prepared",
    .version = "1.0.0",
    .description = "Test plugin: research once in prepare(), shared by every create()",
    .options = options,
    .create = create,
    .process = process,
    .destroy = destroy,
    .prepare = prepare,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &descriptor; }
