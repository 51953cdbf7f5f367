/*
 * test_pending.c — calls that finish later (BC_OUTCOME_PENDING).
 *
 * Usage: test_pending PLUGIN_DIR
 *
 * A host-registered processor queues its calls and a thread of the test
 * finishes them with bc_call_finish (or several at once with
 * bc_call_finish_many, or with their outputs, bc_call_finish_with_outputs);
 * the deferred plugin (Tests/c/plugins/
 * deferred.c) does the same through its host vtable, in threads and in
 * worker processes.
 */
#include "check.h"

static const char *plugin_dir;

/* ---- A processor finished by a thread of the test --------------------- */

#define QUEUE 256

typedef struct later {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    bc_call *calls[QUEUE];
    char ids[QUEUE][64];
    char inputs[QUEUE][128];
    size_t count;
    int stopping;
    /* The call never finished in time, and how many calls were pending at once. */
    bc_call *late_call;
    int pending_now, pending_peak;
    int retried;
} later;

static int later_process(bc_call *call, const bc_doc *doc, void *user_data) {
    later *l = user_data;
    pthread_mutex_lock(&l->lock);
    if (strstr(doc->id, "late") != NULL) {
        l->late_call = call; /* finished only after its timeout */
    } else {
        size_t i = l->count++;
        l->calls[i] = call;
        snprintf(l->ids[i], sizeof l->ids[i], "%s", doc->id);
        size_t n = doc->input_len < sizeof l->inputs[i] - 1 ? doc->input_len : sizeof l->inputs[i] - 1;
        if (doc->input != NULL) memcpy(l->inputs[i], doc->input, n);
        l->inputs[i][doc->input != NULL ? n : 0] = '\0';
        if (++l->pending_now > l->pending_peak) l->pending_peak = l->pending_now;
    }
    pthread_cond_signal(&l->ready);
    pthread_mutex_unlock(&l->lock);
    return BC_OUTCOME_PENDING;
}

/* Finishes queued calls: stage 1 outputs the id, stage 2 the input plus "!".
 * A document whose id holds "flaky" asks for a retry on its first try. */
static void *later_finisher(void *arg) {
    later *l = arg;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (l->count == 0 && !l->stopping) pthread_cond_wait(&l->ready, &l->lock);
        if (l->count == 0) break;
        size_t i = --l->count;
        bc_call *call = l->calls[i];
        char id[64], input[128], output[200];
        memcpy(id, l->ids[i], sizeof id);
        memcpy(input, l->inputs[i], sizeof input);
        l->pending_now--;
        int retry = strstr(id, "flaky") != NULL && input[0] == '\0' && !l->retried;
        if (retry) l->retried = 1;
        pthread_mutex_unlock(&l->lock);
        if (input[0] == '\0') snprintf(output, sizeof output, "%s", id);
        else snprintf(output, sizeof output, "%s!", input);
        CHECK_RC(bc_call_set_output(call, output, strlen(output)));
        CHECK_RC(bc_call_finish(call, retry ? BC_OUTCOME_RETRY : BC_OUTCOME_DONE));
        /* The handle is spent: using or finishing it again is refused. */
        CHECK_CODE(bc_call_set_output(call, "x", 1), BC_ESTATE);
        CHECK_CODE(bc_call_finish(call, BC_OUTCOME_DONE), BC_ESTATE);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static bc_engine *engine_with_later(later *l) {
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return NULL;
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "later";
    def.process = later_process;
    def.user_data = l;
    CHECK_RC(bc_engine_register_processor(engine, &def));
    return engine;
}

static void add_docs(bc_batch *batch, const char *dir, const char *const *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.txt", dir, ids[i]);
        write_file(path, ids[i], strlen(ids[i]));
        CHECK_RC(bc_batch_add_file(batch, path, ids[i], NULL));
    }
}

/* Counts results by status; checks each ok output is "<id>!". */
static void check_results(bc_batch *batch, unsigned *ok, unsigned *failed, char *late_error, size_t size) {
    *ok = *failed = 0;
    bc_results *it = NULL;
    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    bc_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    while (bc_results_next(&r, it) == 1) {
        if (r.status == BC_STATUS_OK) {
            char want[128];
            snprintf(want, sizeof want, "%s!", r.id);
            char *got = output_string(&r);
            CHECK(strcmp(got, want) == 0, "%s: output '%s', expected '%s'", r.id, got, want);
            free(got);
            (*ok)++;
        } else {
            if (r.error != NULL) snprintf(late_error, size, "%s: %s", r.id, r.error);
            (*failed)++;
        }
    }
    bc_results_free(it);
}

static void test_host_processor_finishes_later(void) {
    later l;
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.lock, NULL);
    pthread_cond_init(&l.ready, NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, later_finisher, &l);
    char *dir = make_temp_dir("pending");
    bc_engine *engine = engine_with_later(&l);
    bc_batch *batch = NULL;
    CHECK_RC(bc_batch_new(&batch, engine));
    CHECK_RC(bc_batch_add_stage(batch, "later", "first"));
    CHECK_RC(bc_batch_add_stage(batch, "later", "second"));
    CHECK_RC(bc_batch_set(batch, "workers", "2"));
    CHECK_RC(bc_batch_set(batch, "retry.base", "10ms"));
    CHECK_RC(bc_batch_set(batch, "retry.attempts", "2"));
    CHECK_RC(bc_batch_set(batch, "timeout", "300ms"));
    CHECK_RC(bc_batch_set(batch, "timeout.grace", "50ms"));
    const char *ids[] = {"a", "b", "c", "flaky", "d", "e", "late", "f", "g", "h"};
    add_docs(batch, dir, ids, sizeof ids / sizeof ids[0]);

    CHECK_RC(bc_batch_start(batch));
    CHECK_RC(wait_bounded(batch, 60000));
    bc_stats s = stats_of(batch);
    CHECK(s.state == BC_BATCH_FINISHED, "state %u", s.state);
    CHECK(s.ok == 9 && s.failed == 1, "ok %llu failed %llu", (unsigned long long)s.ok, (unsigned long long)s.failed);
    CHECK(s.timeouts == 2, "timeouts %llu (the late document's two attempts)", (unsigned long long)s.timeouts);
    CHECK(s.in_flight == 0, "in flight %llu", (unsigned long long)s.in_flight);
    unsigned ok, failed;
    char late_error[256] = "";
    check_results(batch, &ok, &failed, late_error, sizeof late_error);
    CHECK(ok == 9 && failed == 1, "results: %u ok, %u failed", ok, failed);
    CHECK_CONTAINS(late_error, "late: gave up after 2 attempts: timed out after 300ms");
    /* Pending calls keep their worker slot: never more than two at once. */
    CHECK(l.pending_peak <= 2, "%d calls pending at once with 2 workers", l.pending_peak);

    /* The late call's deadline passed: finishing it now is refused. */
    CHECK(l.late_call != NULL, "the late document was called");
    CHECK_CODE(bc_call_finish(l.late_call, BC_OUTCOME_DONE), BC_ESTATE);
    CHECK_CODE(bc_call_finish(NULL, BC_OUTCOME_DONE), BC_EINVAL);
    CHECK_CODE(bc_call_finish(l.late_call, (bc_outcome)7), BC_EINVAL);

    bc_batch_free(batch);
    bc_engine_free(engine);
    pthread_mutex_lock(&l.lock);
    l.stopping = 1;
    pthread_cond_signal(&l.ready);
    pthread_mutex_unlock(&l.lock);
    pthread_join(thread, NULL);
    remove_temp_dir(dir);
    free(dir);
}

/* ---- Finishing many calls in one C call --------------------------------- */

/* A batch of the documents `ids` started on the later processor, once all n
 * of its calls are pending. */
static bc_batch *start_pending(later *l, bc_engine **engine, const char *dir, const char *const *ids, size_t n) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->ready, NULL);
    *engine = engine_with_later(l);
    bc_batch *batch = NULL;
    CHECK_RC(bc_batch_new(&batch, *engine));
    CHECK_RC(bc_batch_add_stage(batch, "later", "only"));
    CHECK_RC(bc_batch_set(batch, "workers", "8"));
    add_docs(batch, dir, ids, n);
    CHECK_RC(bc_batch_start(batch));
    pthread_mutex_lock(&l->lock);
    while (l->count < n) pthread_cond_wait(&l->ready, &l->lock); /* the watchdog bounds the wait */
    pthread_mutex_unlock(&l->lock);
    return batch;
}

/* The pending call of document `id`. */
static bc_call *pending_call(later *l, const char *id) {
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->ids[i], id) == 0) return l->calls[i];
    CHECK(0, "no pending call for '%s'", id);
    return NULL;
}

static void test_finish_many(void) {
    later l;
    char *dir = make_temp_dir("pending-many");
    bc_engine *engine = NULL;
    const char *ids[] = {"a", "b", "c", "d"};
    bc_batch *batch = start_pending(&l, &engine, dir, ids, 4);

    bc_call *calls[5];
    bc_outcome outcomes[5] = {BC_OUTCOME_DONE, BC_OUTCOME_DONE, BC_OUTCOME_DONE, BC_OUTCOME_FAIL, BC_OUTCOME_DONE};
    for (size_t i = 0; i < 4; i++) {
        char output[80];
        snprintf(output, sizeof output, "%s!", l.ids[i]);
        calls[i] = l.calls[i];
        CHECK_RC(bc_call_set_output(calls[i], output, strlen(output)));
    }
    calls[4] = calls[0]; /* finished already, a moment before in the same batch */
    int results[5] = {1, 1, 1, 1, 1};
    CHECK(bc_call_finish_many(calls, outcomes, results, 5) == 4, "four calls finish");
    CHECK(results[0] == 0 && results[3] == 0 && results[4] == BC_ESTATE, "results %d %d %d", results[0], results[3],
          results[4]);
    CHECK_CODE(bc_call_finish_many(NULL, outcomes, NULL, 1), BC_EINVAL);
    CHECK(bc_call_finish_many(NULL, NULL, NULL, 0) == 0, "nothing to finish");
    CHECK_RC(wait_bounded(batch, 60000));
    bc_stats s = stats_of(batch);
    CHECK(s.ok == 3 && s.failed == 1, "ok %llu failed %llu", (unsigned long long)s.ok, (unsigned long long)s.failed);

    bc_batch_free(batch);
    bc_engine_free(engine);
    remove_temp_dir(dir);
    free(dir);
}

/* Each call's output is set as it finishes: raw or JSON, kept when NULL; an
 * output that is not JSON fails its document, saying so. */
static void test_finish_with_outputs(void) {
    later l;
    char *dir = make_temp_dir("pending-outputs");
    bc_engine *engine = NULL;
    const char *ids[] = {"raw", "json", "notjson", "kept", "last"};
    bc_batch *batch = start_pending(&l, &engine, dir, ids, 5);
    CHECK_RC(bc_call_set_output(pending_call(&l, "kept"), "set before", 10));

    bc_call *calls[5] = {pending_call(&l, "raw"), pending_call(&l, "json"), pending_call(&l, "notjson"),
                         pending_call(&l, "kept"), pending_call(&l, "raw")}; /* the last: finished a moment before */
    bc_outcome outcomes[5] = {BC_OUTCOME_DONE, BC_OUTCOME_DONE, BC_OUTCOME_DONE, BC_OUTCOME_DONE, BC_OUTCOME_DONE};
    const void *outputs[5] = {"{not json, but raw", "{\"n\":[1,2]}", "{nope", NULL, "x"};
    size_t lengths[5] = {18, 11, 5, 0, 1};
    unsigned char json[5] = {0, 1, 1, 1, 0};
    int results[5] = {1, 1, 1, 1, 1};
    CHECK_CODE(bc_call_finish_with_outputs(calls, outcomes, NULL, lengths, json, results, 5), BC_EINVAL);
    CHECK_CODE(bc_call_finish_with_outputs(calls, outcomes, outputs, NULL, json, results, 5), BC_EINVAL);
    CHECK(bc_call_finish_with_outputs(NULL, NULL, NULL, NULL, NULL, NULL, 0) == 0, "nothing to finish");
    CHECK(bc_call_finish_with_outputs(calls, outcomes, outputs, lengths, json, results, 5) == 4, "four calls finish");
    CHECK(results[0] == 0 && results[1] == 0 && results[2] == BC_EINVAL && results[3] == 0 && results[4] == BC_ESTATE,
          "results %d %d %d %d %d", results[0], results[1], results[2], results[3], results[4]);
    /* Without json flags every output is raw. */
    bc_call *last = pending_call(&l, "last");
    CHECK(bc_call_finish_with_outputs(&last, outcomes, (const void *[]){"{}"}, (size_t[]){2}, NULL, NULL, 1) == 1,
          "the last call finishes");
    CHECK_RC(wait_bounded(batch, 60000));

    bc_results *it = NULL;
    CHECK_RC(bc_batch_results(&it, batch));
    bc_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    int seen = 0;
    while (bc_results_next(&r, it) == 1) {
        char *got = output_string(&r);
        const char *want = strcmp(r.id, "raw") == 0 ? "{not json, but raw" : strcmp(r.id, "json") == 0 ? "{\"n\":[1,2]}"
                           : strcmp(r.id, "kept") == 0 ? "set before" : strcmp(r.id, "last") == 0 ? "{}" : NULL;
        if (want != NULL) {
            CHECK(r.status == BC_STATUS_OK && strcmp(got, want) == 0, "%s: status %d, output '%s'", r.id, r.status, got);
            CHECK(r.output_is_json == (strcmp(r.id, "json") == 0), "%s: output_is_json %u", r.id, r.output_is_json);
        } else {
            CHECK(r.status == BC_STATUS_FAILED && r.output == NULL, "%s: status %d", r.id, r.status);
            CHECK_CONTAINS(r.error, "not valid JSON");
        }
        free(got);
        seen++;
    }
    bc_results_free(it);
    CHECK(seen == 5, "%d results", seen);

    bc_batch_free(batch);
    bc_engine_free(engine);
    remove_temp_dir(dir);
    free(dir);
}

static void test_plugin_finishes_later(const char *isolation) {
    char *dir = make_temp_dir("deferred");
    char report[512];
    snprintf(report, sizeof report, "%s/report.txt", dir);
    bc_engine *engine = NULL;
    CHECK_RC(bc_engine_new(&engine));
    CHECK_RC(bc_engine_set(engine, "plugin_dir", plugin_dir));
    bc_batch *batch = NULL;
    CHECK_RC(bc_batch_new(&batch, engine));
    CHECK_RC(bc_batch_add_stage(batch, "deferred", NULL));
    CHECK_RC(bc_batch_set_stage(batch, NULL, "report", report));
    CHECK_RC(bc_batch_set(batch, "workers", "3"));
    CHECK_RC(bc_batch_set(batch, "isolation", isolation));
    const char *ids[] = {"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"};
    size_t n = sizeof ids / sizeof ids[0];
    add_docs(batch, dir, ids, n);
    CHECK_RC(bc_batch_start(batch));
    CHECK_RC(wait_bounded(batch, 60000));
    bc_stats s = stats_of(batch);
    CHECK(s.ok == n, "%s: ok %llu of %zu", isolation, (unsigned long long)s.ok, n);
    bc_results *it = NULL;
    if (CHECK_RC(bc_batch_results(&it, batch))) {
        bc_result r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        while (bc_results_next(&r, it) == 1) {
            char want[128];
            snprintf(want, sizeof want, "later:%s", r.id);
            char *got = output_string(&r);
            CHECK(strcmp(got, want) == 0, "%s: %s: output '%s'", isolation, r.id, got);
            free(got);
        }
        bc_results_free(it);
    }
    bc_batch_free(batch);
    bc_engine_free(engine);
    /* Each finish succeeded, and the handle was refused right after it. */
    FILE *f = fopen(report, "r");
    size_t lines = 0;
    int rc, after;
    while (f != NULL && fscanf(f, "%d %d", &rc, &after) == 2) {
        lines++;
        CHECK(rc == 0 && after == BC_PLUGIN_ESTATE, "%s: finish %d, then set_output %d", isolation, rc, after);
    }
    if (f != NULL) fclose(f);
    CHECK(lines == n, "%s: %zu finishes reported of %zu", isolation, lines, n);
    remove_temp_dir(dir);
    free(dir);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_pending PLUGIN_DIR\n");
        return 2;
    }
    plugin_dir = argv[1];
    check_watchdog(300);
    test_host_processor_finishes_later();
    test_finish_many();
    test_finish_with_outputs();
    test_plugin_finishes_later("thread");
    test_plugin_finishes_later("process");
    return check_summary();
}
