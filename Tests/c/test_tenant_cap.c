/*
 * test_tenant_cap.c — a tenant's cap (tenant.max_workers) holds over all its
 * batches together, and another tenant still progresses while it is full.
 */
#include "check.h"

#include <stdatomic.h>

#define ALICE_CAP 3

static atomic_int alice_in_flight;
static atomic_int alice_most;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open = 0;

/* Counts alice's calls in flight and holds each until the gate opens. */
static int alice_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)call;
    (void)doc;
    (void)user_data;
    int now = atomic_fetch_add(&alice_in_flight, 1) + 1;
    int most = atomic_load(&alice_most);
    while (now > most && !atomic_compare_exchange_weak(&alice_most, &most, now)) {}
    pthread_mutex_lock(&gate_lock);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_sub(&alice_in_flight, 1);
    return BC_OUTCOME_DONE;
}

static int bob_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)call;
    (void)doc;
    (void)user_data;
    return BC_OUTCOME_DONE;
}

static void register_processor(bc_engine *engine, const char *name,
                               int (*process)(bc_call *, const bc_doc *, void *)) {
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = name;
    def.process = process;
    CHECK_RC(bc_engine_register_processor(engine, &def));
}

static bc_batch *start_batch(bc_engine *engine, const char *dir, const char *tenant, const char *cap) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return NULL;
    CHECK_RC(bc_batch_set(batch, "tenant", tenant));
    CHECK_RC(bc_batch_set(batch, "workers", "4"));
    if (cap) CHECK_RC(bc_batch_set(batch, "tenant.max_workers", cap));
    CHECK_RC(bc_batch_add_stage(batch, tenant, NULL));
    CHECK_RC(bc_batch_add_dir(batch, dir, NULL));
    CHECK_RC(bc_batch_start(batch));
    return batch;
}

static void open_gate(void) {
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Waits (30 s at most) until alice's calls in flight reach `n`. */
static int alice_reaches(int n) {
    for (int i = 0; i < 3000 && atomic_load(&alice_in_flight) < n; i++) sleep_ms(10);
    return atomic_load(&alice_in_flight) >= n;
}

int main(void) {
    check_watchdog(120);
    char *dir = make_temp_dir("tenant-cap");
    char path[4096];
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "%s/doc-%d.txt", dir, i);
        write_file(path, "x", 1);
    }
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    CHECK_RC(bc_engine_set(engine, "max_workers", "16"));
    CHECK_CODE(bc_engine_set(engine, "tenant.max_workers", "alice"), BC_EOPTION);
    CHECK_CONTAINS(bc_error_message(), "TENANT=N");
    register_processor(engine, "alice", alice_process);
    register_processor(engine, "bob", bob_process);

    /* Two batches of 4 workers each, capped at 3 together. */
    char cap[16];
    snprintf(cap, sizeof cap, "%d", ALICE_CAP);
    bc_batch *alice1 = start_batch(engine, dir, "alice", cap);
    bc_batch *alice2 = start_batch(engine, dir, "alice", NULL);
    CHECK(alice_reaches(ALICE_CAP), "alice never had %d calls in flight", ALICE_CAP);

    /* Alice is full: bob's batch still runs to its end. */
    bc_batch *bob = start_batch(engine, dir, "bob", NULL);
    if (bob) CHECK_RC(wait_bounded(bob, 60000));
    CHECK(stats_of(bob).ok == 8, "bob's batch did not finish every document");

    char *json = NULL;
    CHECK_RC(bc_engine_stats(&json, engine));
    if (json) {
        const char *tenants = strstr(json, "\"tenants\"");
        CHECK(tenants && strstr(tenants, "\"max_workers\":3"), "the stats do not show alice's cap: %s", json);
        CHECK(tenants && strstr(tenants, "\"workers_in_use\":3"), "the stats do not show alice's 3 workers: %s", json);
    }
    bc_free(json);

    open_gate();
    if (alice1) CHECK_RC(wait_bounded(alice1, 60000));
    if (alice2) CHECK_RC(wait_bounded(alice2, 60000));
    CHECK(stats_of(alice1).ok == 8 && stats_of(alice2).ok == 8, "alice's batches did not finish every document");
    CHECK(atomic_load(&alice_most) == ALICE_CAP, "alice had %d calls in flight at once, over her cap of %d",
          atomic_load(&alice_most), ALICE_CAP);
    bc_batch_free(alice1);
    bc_batch_free(alice2);
    bc_batch_free(bob);
    bc_engine_free(engine);
    remove_temp_dir(dir);
    return check_summary();
}
