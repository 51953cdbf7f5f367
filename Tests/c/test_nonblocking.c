/*
 * test_nonblocking.c — a non-blocking processor (BC_PLUGIN_FLAG_NONBLOCKING)
 * whose calls all return BC_OUTCOME_PENDING: 200 calls in flight at once
 * need only a few of the engine's threads, not one per slot.
 */
#include "check.h"


#define DOCS 600
#define IN_FLIGHT 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static bc_call *queued[DOCS];
static int count, pending_peak, stopping;

static int queue_call(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)doc;
    (void)user_data;
    pthread_mutex_lock(&lock);
    queued[count++] = call;
    if (count > pending_peak) pending_peak = count;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return BC_OUTCOME_PENDING;
}

/* Finishes calls once IN_FLIGHT are pending at once (then as they come). */
static void *finisher(void *arg) {
    int *most_threads = arg;
    pthread_mutex_lock(&lock);
    while (!stopping && pending_peak < IN_FLIGHT) pthread_cond_wait(&changed, &lock);
    *most_threads = thread_count();
    for (;;) {
        while (count == 0 && !stopping) pthread_cond_wait(&changed, &lock);
        if (count == 0) break;
        bc_call *call = queued[--count];
        pthread_mutex_unlock(&lock);
        bc_call_finish(call, BC_OUTCOME_DONE);
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void) {
    check_watchdog(120);
    int before = thread_count();
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "queued";
    def.process = queue_call;
    def.flags = BC_PLUGIN_FLAG_NONBLOCKING;
    CHECK_RC(bc_engine_register_processor(engine, &def));

    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return check_summary();
    CHECK_RC(bc_batch_set(batch, "workers", "200"));
    CHECK_RC(bc_batch_add_stage(batch, "queued", NULL));
    char id[32];
    for (int i = 0; i < DOCS; i++) {
        snprintf(id, sizeof id, "doc-%d", i);
        CHECK_RC(bc_batch_add_content(batch, id, "x", 1, NULL));
    }
    int most_threads = 0;
    pthread_t thread;
    pthread_create(&thread, NULL, finisher, &most_threads);
    CHECK_RC(bc_batch_start(batch));
    CHECK_RC(wait_bounded(batch, 60000));
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);

    CHECK(stats_of(batch).ok == DOCS, "not every document finished");
    CHECK(pending_peak == IN_FLIGHT, "%d calls were pending at once, not %d", pending_peak, IN_FLIGHT);
    /* The finisher, the writer, events, the watchdog and a spare worker or two: a handful. */
    CHECK(most_threads - before <= 12, "%d threads ran %d pending calls", most_threads - before, IN_FLIGHT);
    bc_batch_free(batch);
    bc_engine_free(engine);
    return check_summary();
}
