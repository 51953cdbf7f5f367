/* A plugin whose calls finish later, from a thread of its own: process()
 * queues the call and returns BC_OUTCOME_PENDING; the finisher thread sets
 * the output ("later:" + the document id) and finishes the call through the
 * host vtable. It then tries the handle once more, which must be refused,
 * and appends that return code to the file named by option `report`. */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAPACITY 1024

typedef struct deferred {
    const bc_host_api *host;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    bc_call *calls[CAPACITY];
    char *ids[CAPACITY];
    size_t head, count;
    int stopping;
    char report[512];
    pthread_t thread;
} deferred;

static void finish_one(deferred *d, bc_call *call, char *id) {
    char output[256];
    snprintf(output, sizeof output, "later:%s", id);
    d->host->set_output(call, output, strlen(output));
    int rc = d->host->finish(call, BC_OUTCOME_DONE);
    int after = d->host->set_output(call, "x", 1); /* the handle is invalid now */
    if (d->report[0] != '\0') {
        FILE *f = fopen(d->report, "a");
        if (f != NULL) {
            fprintf(f, "%d %d\n", rc, after);
            fclose(f);
        }
    }
    free(id);
}

static void *finisher(void *arg) {
    deferred *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (d->count == 0 && !d->stopping) pthread_cond_wait(&d->ready, &d->lock);
        if (d->count == 0) break;
        bc_call *call = d->calls[d->head];
        char *id = d->ids[d->head];
        d->head = (d->head + 1) % CAPACITY;
        d->count--;
        pthread_mutex_unlock(&d->lock);
        finish_one(d, call, id);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static int deferred_create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf,
                           size_t size) {
    if (!BC_HOST_HAS(host, finish)) {
        snprintf(errbuf, size, "this host cannot finish calls later");
        return 1;
    }
    deferred *d = calloc(1, sizeof *d);
    if (d == NULL) return 1;
    d->host = host;
    const char *report = host->config_get(config, "report");
    if (report != NULL) strncat(d->report, report, sizeof d->report - 1);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->ready, NULL);
    pthread_create(&d->thread, NULL, finisher, d);
    *state = d;
    return 0;
}

static int deferred_process(void *state, bc_call *call, const bc_doc *doc) {
    deferred *d = state;
    char *id = malloc(strlen(doc->id) + 1);
    if (id == NULL) return BC_OUTCOME_FAIL;
    strcpy(id, doc->id);
    pthread_mutex_lock(&d->lock);
    if (d->count == CAPACITY) {
        pthread_mutex_unlock(&d->lock);
        free(id);
        return BC_OUTCOME_RETRY;
    }
    size_t tail = (d->head + d->count) % CAPACITY;
    d->calls[tail] = call;
    d->ids[tail] = id;
    d->count++;
    pthread_cond_signal(&d->ready);
    pthread_mutex_unlock(&d->lock);
    return BC_OUTCOME_PENDING;
}

static void deferred_destroy(void *state) {
    deferred *d = state;
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_signal(&d->ready);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->ready);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static const bc_plugin_option deferred_options[] = {
    {"report", NULL, "a file each finish appends its return codes to"},
    {NULL, NULL, NULL},
};

static const bc_plugin deferred_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "deferred",
    .version = "1.0.0",
    .description = "Finishes its calls later, from its own thread",
    .options = deferred_options,
    .create = deferred_create,
    .process = deferred_process,
    .destroy = deferred_destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &deferred_plugin; }
