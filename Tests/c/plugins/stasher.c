/* A plugin that misbehaves on purpose: it keeps each call's bc_call and, from
 * a thread of its own, uses it again while the next document's process()
 * runs (run it with workers=1). The host must refuse the stale handle
 * (BC_PLUGIN_ESTATE) and keep it away from the document being processed.
 *
 * Each output is "ID first" for the first document, else "ID stale:R1,..."
 * with the return codes of the stale set_output, add_usage, set_error,
 * add_units, retry_after and is_cancelled. Each call reports 1 + 1 tokens. */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { STALE_CALLS = 6 };

static const bc_host_api *host_api;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static pthread_t helper;
static bc_call *stashed;      /* the previous call's handle */
static int requested, served, quitting, logged;
static int codes[STALE_CALLS];

/* The helper thread: on request, uses the stashed handle as a plugin that
 * kept it would. */
static void *use_stashed(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!requested && !quitting) pthread_cond_wait(&changed, &lock);
        if (quitting) break;
        requested = 0;
        bc_call *call = stashed;
        codes[0] = host_api->set_output(call, "STALE", 5);
        codes[1] = host_api->add_usage(call, 1000, 1000);
        codes[2] = host_api->set_error(call, "stale error");
        codes[3] = host_api->add_units(call, 7);
        codes[4] = host_api->retry_after(call, 5);
        codes[5] = host_api->is_cancelled(call);
        if (!logged) host_api->log(call, BC_LOG_DEBUG, "a stale handle logs to stderr, about no document");
        logged = 1;
        served = 1;
        pthread_cond_broadcast(&changed);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static int stasher_create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf,
                          size_t size) {
    (void)config;
    host_api = host;
    *state = NULL;
    stashed = NULL;
    quitting = 0;
    if (pthread_create(&helper, NULL, use_stashed, NULL) != 0) {
        snprintf(errbuf, size, "cannot start a thread");
        return 1;
    }
    return 0;
}

/* Has the helper use the stashed handle now; 0 when it did within 10 s. */
static int use_stashed_now(void) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&lock);
    served = 0;
    requested = 1;
    pthread_cond_broadcast(&changed);
    int rc = 0;
    while (!served && rc == 0) rc = pthread_cond_timedwait(&changed, &lock, &deadline);
    pthread_mutex_unlock(&lock);
    return served ? 0 : -1;
}

static int stasher_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    char text[256];
    if (stashed == NULL) {
        snprintf(text, sizeof text, "%s first", doc->id);
    } else if (use_stashed_now() != 0) {
        snprintf(text, sizeof text, "%s helper-stuck", doc->id);
    } else {
        snprintf(text, sizeof text, "%s stale:%d,%d,%d,%d,%d,%d", doc->id, codes[0], codes[1], codes[2], codes[3],
                 codes[4], codes[5]);
    }
    host_api->set_output(call, text, strlen(text));
    host_api->add_usage(call, 1, 1);
    stashed = call;
    return BC_OUTCOME_DONE;
}

static void stasher_destroy(void *state) {
    (void)state;
    pthread_mutex_lock(&lock);
    quitting = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    pthread_join(helper, NULL);
}

static const bc_plugin stasher_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "stasher",
    .version = "1.0.0",
    .description = "Keeps its call handles and uses them after the call (a misuse test)",
    .create = stasher_create,
    .process = stasher_process,
    .destroy = stasher_destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &stasher_plugin; }
