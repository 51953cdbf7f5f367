/*
 * test_engine_stats.c — bc_engine_stats while several batches run: each
 * batch, totals per tenant and the workers in use.
 */
#include "check.h"

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open = 0;

/* Holds every call until the test opens the gate. */
static int held_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)call;
    (void)doc;
    (void)user_data;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    return BC_OUTCOME_DONE;
}

static bc_batch *start_batch(bc_engine *engine, const char *dir, const char *tenant, const char *workers) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return NULL;
    CHECK_RC(bc_batch_set(batch, "tenant", tenant));
    CHECK_RC(bc_batch_set(batch, "workers", workers));
    CHECK_RC(bc_batch_add_stage(batch, "held", NULL));
    CHECK_RC(bc_batch_add_dir(batch, dir, NULL));
    CHECK_RC(bc_batch_start(batch));
    return batch;
}

/* True when some "workers_in_use" of `json` is `n` (the engine's total is
   the only one that can reach the sum over every batch). */
static int shows_workers(const char *json, int n) {
    char want[64];
    int len = snprintf(want, sizeof want, "\"workers_in_use\":%d", n);
    for (const char *at = json; (at = strstr(at, want)) != NULL; at++) {
        if (at[len] == ',' || at[len] == '}') return 1;
    }
    return 0;
}

/* The engine's stats once `workers` workers are in use (NULL after 30 s). */
static char *stats_with_workers(bc_engine *engine, int workers) {
    for (int i = 0; i < 3000; i++) {
        char *json = NULL;
        if (bc_engine_stats(&json, engine) != 0) return NULL;
        if (shows_workers(json, workers)) return json;
        bc_free(json);
        sleep_ms(10);
    }
    return NULL;
}

int main(void) {
    check_watchdog(120);
    char *dir = make_temp_dir("engine-stats");
    char path[4096];
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/doc-%d.txt", dir, i);
        write_file(path, "x", 1);
    }
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    CHECK_RC(bc_engine_set(engine, "max_workers", "8"));
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "held";
    def.process = held_process;
    CHECK_RC(bc_engine_register_processor(engine, &def));

    bc_batch *batches[3] = {
        start_batch(engine, dir, "alice", "2"),
        start_batch(engine, dir, "alice", "1"),
        start_batch(engine, dir, "bob", "2"),
    };
    char *json = stats_with_workers(engine, 5);
    CHECK(json != NULL, "the engine never showed 5 workers in use");
    if (json) {
        CHECK_CONTAINS(json, "\"tenant\":\"alice\"");
        CHECK_CONTAINS(json, "\"tenant\":\"bob\"");
        const char *alice = strstr(json, "\"tenants\"");
        CHECK(alice != NULL && strstr(alice, "\"batches\":2") != NULL, "alice's two batches are not summed: %s", json);
        CHECK(shows_workers(json, 3), "alice's 3 workers are not summed: %s", json);
    }
    bc_free(json);

    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    for (int i = 0; i < 3; i++) {
        if (batches[i]) CHECK_RC(wait_bounded(batches[i], 60000));
        bc_batch_free(batches[i]);
    }
    json = stats_with_workers(engine, 0);
    CHECK(json != NULL && strstr(json, "\"batches\":[]") != NULL, "batches remain after they ended: %s", json ? json : "");
    bc_free(json);
    bc_engine_free(engine);
    remove_temp_dir(dir);
    return check_summary();
}
