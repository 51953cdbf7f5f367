/*
 * test_events.c — events, waiting and cancelling.
 *
 *  - the callback gets one BC_EVENT_DOC_FINISHED per document and one
 *    BC_EVENT_FINISHED, last; one event at a time, never on the caller's
 *    thread;
 *  - from the callback, bc_batch_stats and bc_batch_cancel work (no
 *    deadlock) and bc_batch_wait returns BC_ESTATE;
 *  - bc_batch_wait times out while a processor is busy;
 *  - a graceful cancel lets in-flight documents finish, dispatches nothing
 *    new and leaves the rest pending (not failed);
 *  - a hard cancel makes bc_call_is_cancelled() non-zero in running calls;
 *  - after a hard cancel a slow callback does not get the backlog of
 *    document events: bc_batch_wait and bc_batch_free return in seconds;
 *  - from inside a processor call of the batch, bc_batch_wait returns
 *    BC_ESTATE, and bc_batch_free (there or in the event callback) returns
 *    at once while the batch ends in the background.
 *
 * A watchdog (SIGALRM) turns a deadlock into a failure.
 */
#include "check.h"

static pthread_t main_thread;
static char *work_dir;

/* ---- Documents ------------------------------------------------------------ */

/* Adds n documents with ids "doc-0".."doc-<n-1>", backed by small files
 * (one check for all of them; the first problem is printed). */
static void add_docs(bc_batch *batch, int n) {
    char path[4096], id[32];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/doc-%d", work_dir, i);
        snprintf(id, sizeof id, "doc-%d", i);
        if (write_file(path, id, strlen(id)) != 0) {
            if (bad++ == 0) fprintf(stderr, "    cannot write %s\n", path);
            continue;
        }
        int rc = check_capture(bc_batch_add_file(batch, path, id, NULL));
        if (rc != 0 && bad++ == 0) fprintf(stderr, "    bc_batch_add_file: %s\n", check_msg);
    }
    CHECK(bad == 0, "%d of %d documents not added", bad, n);
}

static int doc_number(const char *id, int n) {
    int i = -1;
    char extra;
    if (id == NULL || sscanf(id, "doc-%d%c", &i, &extra) != 1) return -1;
    return (i >= 0 && i < n) ? i : -1;
}

/* ---- Processors ----------------------------------------------------------- */

typedef struct proc {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long sleep_ms;            /* "sleepy": time per document */
    int gate_open;            /* "gated": calls block until this is set */
    unsigned long entered;    /* calls started */
    unsigned long returned;   /* calls ended */
    unsigned long saw_cancel; /* calls that saw bc_call_is_cancelled() != 0 */
    unsigned long cancelled_on_entry;
    unsigned long gave_up;    /* "stubborn" calls never told to stop */
} proc;

static void proc_init(proc *p) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
}

static void proc_destroy(proc *p) {
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

static void proc_count(proc *p, unsigned long *counter) {
    pthread_mutex_lock(&p->lock);
    (*counter)++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static unsigned long proc_read(proc *p, const unsigned long *counter) {
    pthread_mutex_lock(&p->lock);
    unsigned long v = *counter;
    pthread_mutex_unlock(&p->lock);
    return v;
}

/* Waits up to timeout_ms for *counter >= want; returns the last value. */
static unsigned long proc_wait_for(proc *p, const unsigned long *counter, unsigned long want, long timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (*counter < want && pthread_cond_timedwait(&p->cond, &p->lock, &deadline) == 0) {
    }
    unsigned long v = *counter;
    pthread_mutex_unlock(&p->lock);
    return v;
}

static int quick_process(bc_call *call, const bc_doc *doc, void *user_data) {
    proc *p = user_data;
    proc_count(p, &p->entered);
    bc_call_set_output(call, doc->id, strlen(doc->id));
    proc_count(p, &p->returned);
    return BC_OUTCOME_DONE;
}

static int sleepy_process(bc_call *call, const bc_doc *doc, void *user_data) {
    proc *p = user_data;
    proc_count(p, &p->entered);
    if (bc_call_is_cancelled(call)) proc_count(p, &p->cancelled_on_entry);
    sleep_ms(p->sleep_ms);
    if (bc_call_is_cancelled(call)) proc_count(p, &p->saw_cancel);
    bc_call_set_output(call, doc->id, strlen(doc->id));
    proc_count(p, &p->returned);
    return BC_OUTCOME_DONE;
}

static int gated_process(bc_call *call, const bc_doc *doc, void *user_data) {
    proc *p = user_data;
    proc_count(p, &p->entered);
    pthread_mutex_lock(&p->lock);
    while (!p->gate_open) pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    bc_call_set_output(call, doc->id, strlen(doc->id));
    proc_count(p, &p->returned);
    return BC_OUTCOME_DONE;
}

/* Runs until told to stop (at most 20 s), as a long API call would. */
static int stubborn_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)doc;
    proc *p = user_data;
    if (bc_call_is_cancelled(call)) proc_count(p, &p->cancelled_on_entry);
    proc_count(p, &p->entered);
    for (int i = 0; i < 20000; i++) {
        if (bc_call_is_cancelled(call)) {
            proc_count(p, &p->saw_cancel);
            proc_count(p, &p->returned);
            bc_call_set_error(call, "stopped: the batch was cancelled");
            return BC_OUTCOME_RETRY;
        }
        sleep_ms(1);
    }
    proc_count(p, &p->gave_up);
    proc_count(p, &p->returned);
    bc_call_set_error(call, "never cancelled");
    return BC_OUTCOME_FAIL;
}

static bc_engine *engine_with(const char *name, int (*fn)(bc_call *, const bc_doc *, void *), proc *p) {
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return NULL;
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = name;
    def.process = fn;
    def.user_data = p;
    if (!CHECK_RC(bc_engine_register_processor(engine, &def))) {
        bc_engine_free(engine);
        return NULL;
    }
    return engine;
}

/* ---- The event recorder ----------------------------------------------------- */

#define MAX_DOCS 1000

typedef struct recorder {
    pthread_mutex_t lock;
    bc_batch *batch;
    int ndocs;
    int cancel_after;              /* cancel gracefully at this DOC_FINISHED (0: never) */
    int inside;                    /* a callback is running */
    unsigned long overlapping;     /* callbacks that ran at once */
    unsigned long on_main_thread;
    unsigned long doc_finished, finished, progress, logs, unknown;
    unsigned long after_finished;  /* events after BC_EVENT_FINISHED */
    unsigned long bad_events;      /* missing stats, id, ... */
    unsigned long stats_failed;    /* bc_batch_stats from the callback failed */
    unsigned long wait_not_estate; /* bc_batch_wait from the callback did not say BC_ESTATE */
    unsigned long cancel_failed;
    unsigned long statuses[5];     /* DOC_FINISHED events by bc_status */
    unsigned char seen[MAX_DOCS];
    unsigned final_state;
    unsigned long long final_ok, final_failed;
} recorder;

static void recorder_init(recorder *r, bc_batch *batch, int ndocs) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->batch = batch;
    r->ndocs = ndocs;
}

static void on_event(const bc_event *event, void *user_data) {
    recorder *r = user_data;
    int cancel_now = 0;

    pthread_mutex_lock(&r->lock);
    if (r->inside) r->overlapping++;
    r->inside = 1;
    if (pthread_equal(pthread_self(), main_thread)) r->on_main_thread++;
    if (r->finished > 0) r->after_finished++;
    if (event == NULL || event->stats == NULL) {
        r->bad_events++;
    } else if (event->type == BC_EVENT_DOC_FINISHED) {
        r->doc_finished++;
        int i = doc_number(event->doc_id, r->ndocs);
        if (i < 0 || event->status > BC_STATUS_SKIPPED) {
            r->bad_events++;
        } else {
            r->seen[i]++;
            r->statuses[event->status]++;
        }
        if (r->cancel_after > 0 && r->doc_finished == (unsigned long)r->cancel_after) cancel_now = 1;
    } else if (event->type == BC_EVENT_FINISHED) {
        r->finished++;
        r->final_state = event->stats->state;
        r->final_ok = event->stats->ok;
        r->final_failed = event->stats->failed;
    } else if (event->type == BC_EVENT_PROGRESS) {
        r->progress++;
    } else if (event->type == BC_EVENT_LOG) {
        r->logs++;
    } else {
        r->unknown++;
    }
    pthread_mutex_unlock(&r->lock);

    /* Calls back into the engine, with no lock of ours held. */
    bc_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    int stats_rc = bc_batch_stats(&s, r->batch);
    int wait_rc = BC_ESTATE;
    if (event != NULL && (event->type == BC_EVENT_DOC_FINISHED || event->type == BC_EVENT_FINISHED))
        wait_rc = bc_batch_wait(r->batch, 0);
    int cancel_rc = cancel_now ? bc_batch_cancel(r->batch, BC_CANCEL_GRACEFUL) : 0;

    pthread_mutex_lock(&r->lock);
    if (stats_rc != 0) r->stats_failed++;
    if (wait_rc != BC_ESTATE) r->wait_not_estate++;
    if (cancel_rc != 0) r->cancel_failed++;
    r->inside = 0;
    pthread_mutex_unlock(&r->lock);
}

/* The checks every recorded batch must pass. */
static void check_recorder(recorder *r, const char *what) {
    pthread_mutex_lock(&r->lock);
    CHECK(r->finished == 1, "%s: %lu BC_EVENT_FINISHED events", what, r->finished);
    CHECK(r->after_finished == 0, "%s: %lu events after BC_EVENT_FINISHED", what, r->after_finished);
    CHECK(r->overlapping == 0, "%s: %lu callbacks ran at the same time", what, r->overlapping);
    CHECK(r->on_main_thread == 0, "%s: %lu callbacks on the thread that started the batch", what,
          r->on_main_thread);
    CHECK(r->bad_events == 0 && r->unknown == 0, "%s: %lu malformed events, %lu of unknown type", what,
          r->bad_events, r->unknown);
    CHECK(r->stats_failed == 0, "%s: bc_batch_stats failed %lu times inside the callback", what, r->stats_failed);
    CHECK(r->wait_not_estate == 0, "%s: bc_batch_wait inside the callback did not return BC_ESTATE %lu times",
          what, r->wait_not_estate);
    CHECK(r->cancel_failed == 0, "%s: bc_batch_cancel failed inside the callback", what);
    unsigned long twice = 0;
    for (int i = 0; i < r->ndocs; i++)
        if (r->seen[i] > 1) twice++;
    CHECK(twice == 0, "%s: %lu documents finished more than once", what, twice);
    pthread_mutex_unlock(&r->lock);
}

/* ---- Tests ------------------------------------------------------------------ */

static void test_every_event_once(void) {
    enum { N = 50 };
    proc p;
    proc_init(&p);
    bc_engine *engine = engine_with("quick", quick_process, &p);
    bc_batch *batch = NULL;
    if (engine == NULL || !CHECK_RC(bc_batch_new(&batch, engine))) return;
    recorder r;
    recorder_init(&r, batch, N);
    CHECK_RC(bc_batch_set(batch, "workers", "4"));
    CHECK_RC(bc_batch_add_stage(batch, "quick", NULL));
    CHECK_RC(bc_batch_set_event_callback(batch, on_event, &r));
    add_docs(batch, N);
    if (CHECK_RC(bc_batch_start(batch))) CHECK_RC(wait_bounded(batch, 60000));

    /* bc_batch_wait returned: every event has been delivered. */
    check_recorder(&r, "events");
    pthread_mutex_lock(&r.lock);
    unsigned long missing = 0;
    for (int i = 0; i < N; i++)
        if (r.seen[i] == 0) missing++;
    CHECK(r.doc_finished == N && missing == 0, "%lu DOC_FINISHED events for %d documents, %lu never seen",
          r.doc_finished, N, missing);
    CHECK(r.statuses[BC_STATUS_OK] == N, "%lu documents reported ok", r.statuses[BC_STATUS_OK]);
    CHECK(r.final_state == BC_BATCH_FINISHED && r.final_ok == N, "FINISHED event: state %u ok %llu",
          r.final_state, r.final_ok);
    pthread_mutex_unlock(&r.lock);

    bc_batch_free(batch);
    bc_engine_free(engine);
    proc_destroy(&p);
}

static void test_cancel_from_callback(void) {
    enum { N = 200 };
    proc p;
    proc_init(&p);
    p.sleep_ms = 2;
    bc_engine *engine = engine_with("sleepy", sleepy_process, &p);
    bc_batch *batch = NULL;
    if (engine == NULL || !CHECK_RC(bc_batch_new(&batch, engine))) return;
    recorder r;
    recorder_init(&r, batch, N);
    r.cancel_after = 5;
    CHECK_RC(bc_batch_set(batch, "workers", "2"));
    CHECK_RC(bc_batch_add_stage(batch, "sleepy", NULL));
    CHECK_RC(bc_batch_set_event_callback(batch, on_event, &r));
    add_docs(batch, N);
    if (CHECK_RC(bc_batch_start(batch))) CHECK_RC(wait_bounded(batch, 60000));

    check_recorder(&r, "cancel from the callback");
    bc_stats s = stats_of(batch);
    CHECK(s.state == BC_BATCH_CANCELLED, "state %u", s.state);
    CHECK(s.ok >= 5 && s.ok < N && s.failed == 0, "ok %llu failed %llu", (unsigned long long)s.ok,
          (unsigned long long)s.failed);
    pthread_mutex_lock(&r.lock);
    CHECK(r.doc_finished == s.ok + s.failed + s.partial + s.skipped,
          "%lu DOC_FINISHED events, %llu documents ended", r.doc_finished,
          (unsigned long long)(s.ok + s.failed + s.partial + s.skipped));
    CHECK(r.final_state == BC_BATCH_CANCELLED, "FINISHED event: state %u", r.final_state);
    pthread_mutex_unlock(&r.lock);

    bc_batch_free(batch);
    bc_engine_free(engine);
    proc_destroy(&p);
}

static void test_wait_timeout(void) {
    proc p;
    proc_init(&p);
    bc_engine *engine = engine_with("gated", gated_process, &p);
    bc_batch *batch = NULL;
    if (engine == NULL || !CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_add_stage(batch, "gated", NULL));
    add_docs(batch, 1);
    if (CHECK_RC(bc_batch_start(batch))) {
        CHECK(proc_wait_for(&p, &p.entered, 1, 20000) == 1, "the processor was never called");
        CHECK_CODE(bc_batch_wait(batch, 50), BC_ETIMEOUT);
        CHECK_CODE(bc_batch_wait(batch, 0), BC_ETIMEOUT);
        bc_stats s = stats_of(batch);
        CHECK(s.state == BC_BATCH_RUNNING && s.in_flight == 1, "while blocked: state %u in_flight %llu",
              s.state, (unsigned long long)s.in_flight);

        pthread_mutex_lock(&p.lock);
        p.gate_open = 1;
        pthread_cond_broadcast(&p.cond);
        pthread_mutex_unlock(&p.lock);

        CHECK_RC(wait_bounded(batch, 30000));
        s = stats_of(batch);
        CHECK(s.state == BC_BATCH_FINISHED && s.ok == 1, "state %u ok %llu", s.state, (unsigned long long)s.ok);
    }
    bc_batch_free(batch);
    bc_engine_free(engine);
    proc_destroy(&p);
}

static void test_graceful_cancel(void) {
    enum { N = 1000 };
    proc p;
    proc_init(&p);
    p.sleep_ms = 5;
    bc_engine *engine = engine_with("sleepy", sleepy_process, &p);
    bc_batch *batch = NULL;
    if (engine == NULL || !CHECK_RC(bc_batch_new(&batch, engine))) return;
    recorder r;
    recorder_init(&r, batch, N);
    CHECK_RC(bc_batch_set(batch, "workers", "2"));
    CHECK_RC(bc_batch_set(batch, "progress.interval", "20ms"));
    CHECK_RC(bc_batch_add_stage(batch, "sleepy", NULL));
    CHECK_RC(bc_batch_set_event_callback(batch, on_event, &r));
    add_docs(batch, N);
    if (!CHECK_RC(bc_batch_start(batch))) {
        bc_batch_free(batch);
        bc_engine_free(engine);
        return;
    }
    CHECK(proc_wait_for(&p, &p.returned, 10, 20000) >= 10, "fewer than 10 documents processed in 20 s");
    CHECK_RC(bc_batch_cancel(batch, BC_CANCEL_GRACEFUL));
    CHECK_RC(wait_bounded(batch, 30000));

    bc_stats s = stats_of(batch);
    unsigned long entered = proc_read(&p, &p.entered), returned = proc_read(&p, &p.returned);
    CHECK(s.state == BC_BATCH_CANCELLED, "state %u", s.state);
    CHECK(s.total == N, "total %llu", (unsigned long long)s.total);
    CHECK(s.ok >= 10 && s.ok + s.failed < N, "ok %llu failed %llu", (unsigned long long)s.ok,
          (unsigned long long)s.failed);
    CHECK(s.failed == 0 && s.skipped == 0 && s.partial == 0,
          "pending documents were counted: failed %llu skipped %llu partial %llu",
          (unsigned long long)s.failed, (unsigned long long)s.skipped, (unsigned long long)s.partial);
    CHECK(s.in_flight == 0, "in_flight %llu after the wait", (unsigned long long)s.in_flight);
    /* In-flight documents finished; nothing was dispatched after the cancel. */
    CHECK(entered == returned && returned == s.ok, "calls started %lu, ended %lu, documents ok %llu", entered,
          returned, (unsigned long long)s.ok);
    CHECK(proc_read(&p, &p.saw_cancel) == 0 && proc_read(&p, &p.cancelled_on_entry) == 0,
          "a graceful cancel made bc_call_is_cancelled() non-zero");

    unsigned long results = 0, not_ok = 0;
    bc_results *it = NULL;
    if (CHECK_RC(bc_batch_results(&it, batch))) {
        bc_result res;
        memset(&res, 0, sizeof res);
        res.struct_size = sizeof res;
        while (bc_results_next(&res, it) == 1) {
            results++;
            if (res.status != BC_STATUS_OK) not_ok++;
        }
        bc_results_free(it);
    }
    CHECK(results == s.ok && not_ok == 0, "%lu results (%lu not ok) for %llu finished documents", results,
          not_ok, (unsigned long long)s.ok);

    check_recorder(&r, "graceful cancel");
    pthread_mutex_lock(&r.lock);
    CHECK(r.doc_finished == s.ok, "%lu DOC_FINISHED events, %llu documents ok", r.doc_finished,
          (unsigned long long)s.ok);
    CHECK(r.final_state == BC_BATCH_CANCELLED, "FINISHED event: state %u", r.final_state);
    pthread_mutex_unlock(&r.lock);

    bc_batch_free(batch);
    bc_engine_free(engine);
    proc_destroy(&p);
}

static void test_hard_cancel(void) {
    proc p;
    proc_init(&p);
    bc_engine *engine = engine_with("stubborn", stubborn_process, &p);
    bc_batch *batch = NULL;
    if (engine == NULL || !CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_set(batch, "workers", "2"));
    CHECK_RC(bc_batch_add_stage(batch, "stubborn", NULL));
    add_docs(batch, 4);
    if (!CHECK_RC(bc_batch_start(batch))) {
        bc_batch_free(batch);
        bc_engine_free(engine);
        return;
    }
    CHECK(proc_wait_for(&p, &p.entered, 2, 20000) >= 2, "two calls did not start within 20 s");
    CHECK_RC(bc_batch_cancel(batch, BC_CANCEL_HARD));
    CHECK_RC(wait_bounded(batch, 30000));

    bc_stats s = stats_of(batch);
    CHECK(s.state == BC_BATCH_CANCELLED, "state %u", s.state);
    CHECK(proc_read(&p, &p.cancelled_on_entry) == 0, "bc_call_is_cancelled() was non-zero before the cancel");
    CHECK(proc_read(&p, &p.saw_cancel) == 2, "%lu of 2 running calls saw bc_call_is_cancelled()",
          proc_read(&p, &p.saw_cancel));
    CHECK(proc_read(&p, &p.gave_up) == 0, "a running call was never told to stop");
    CHECK(proc_read(&p, &p.entered) == 2, "%lu calls: documents were dispatched after a hard cancel",
          proc_read(&p, &p.entered));
    CHECK(s.ok == 0 && s.in_flight == 0, "ok %llu in_flight %llu", (unsigned long long)s.ok,
          (unsigned long long)s.in_flight);

    bc_batch_free(batch);
    bc_engine_free(engine);
    proc_destroy(&p);
}

/* ---- A slow callback and a hard cancel --------------------------------------- */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct slow_sink {
    pthread_mutex_t lock;
    int hurry;                     /* set: stop sleeping (clean-up) */
    unsigned long doc_events, finished, events_after_finished;
    unsigned long dropped;         /* as the LOG event about dropped events says */
} slow_sink;

static slow_sink slow;

static void on_event_slowly(const bc_event *event, void *user_data) {
    (void)user_data;
    pthread_mutex_lock(&slow.lock);
    if (slow.finished) slow.events_after_finished++;
    int hurry = slow.hurry;
    if (event->type == BC_EVENT_DOC_FINISHED) slow.doc_events++;
    if (event->type == BC_EVENT_FINISHED) slow.finished++;
    if (event->type == BC_EVENT_LOG && event->doc_id == NULL && event->message != NULL &&
        strstr(event->message, "not delivered") != NULL)
        sscanf(event->message, "cancelled: %lu", &slow.dropped);
    pthread_mutex_unlock(&slow.lock);
    if (!hurry) sleep_ms(300);
}

/* A batch whose 300 ms callback is at least 1,000 document events (5 min)
 * behind; NULL when it could not get there. */
static bc_batch *backlogged_batch(bc_engine *engine) {
    enum { N = 3000 };
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return NULL;
    CHECK_RC(bc_batch_set(batch, "workers", "4"));
    CHECK_RC(bc_batch_add_stage(batch, "quick", NULL));
    CHECK_RC(bc_batch_set_event_callback(batch, on_event_slowly, NULL));
    add_docs(batch, N);
    if (!CHECK_RC(bc_batch_start(batch))) return batch;
    for (int i = 0; i < 3000 && stats_of(batch).ok < 1000; i++) sleep_ms(10);
    CHECK(stats_of(batch).ok >= 1000, "fewer than 1000 documents done in 30 s");
    return batch;
}

static void test_hard_cancel_skips_the_backlog(void) {
    proc p;
    proc_init(&p);
    memset(&slow, 0, sizeof slow);
    pthread_mutex_init(&slow.lock, NULL);
    bc_engine *engine = engine_with("quick", quick_process, &p);
    bc_batch *batch = engine == NULL ? NULL : backlogged_batch(engine);
    if (batch != NULL) {
        double began = now_seconds();
        CHECK_RC(bc_batch_cancel(batch, BC_CANCEL_HARD));
        CHECK_RC(bc_batch_wait(batch, 5000));
        double took = now_seconds() - began;
        CHECK(took < 5, "bc_batch_wait took %.1f s after a hard cancel", took);
        pthread_mutex_lock(&slow.lock);
        slow.hurry = 1;
        pthread_mutex_unlock(&slow.lock);
        wait_bounded(batch, 600000);

        bc_stats s = stats_of(batch);
        pthread_mutex_lock(&slow.lock);
        CHECK(slow.finished == 1 && slow.events_after_finished == 0, "%lu FINISHED events, %lu after it",
              slow.finished, slow.events_after_finished);
        CHECK(slow.dropped > 0 && slow.doc_events + slow.dropped == s.ok,
              "%lu document events delivered + %lu dropped, for %llu documents ok", slow.doc_events,
              slow.dropped, (unsigned long long)s.ok);
        pthread_mutex_unlock(&slow.lock);
        bc_batch_free(batch);
    }

    /* bc_batch_free cancels hard too, and returns as soon. */
    memset(&slow, 0, sizeof slow);
    pthread_mutex_init(&slow.lock, NULL);
    batch = engine == NULL ? NULL : backlogged_batch(engine);
    if (batch != NULL) {
        double began = now_seconds();
        bc_batch_free(batch);
        double took = now_seconds() - began;
        CHECK(took < 5, "bc_batch_free took %.1f s on a backlogged batch", took);
    }

    /* Every document done, the events still queued: free drops them too. */
    memset(&slow, 0, sizeof slow);
    pthread_mutex_init(&slow.lock, NULL);
    batch = engine == NULL ? NULL : backlogged_batch(engine);
    if (batch != NULL) {
        for (int i = 0; i < 3000 && stats_of(batch).ok < 3000; i++) sleep_ms(10);
        CHECK(stats_of(batch).ok == 3000, "3000 quick documents not done in 30 s");
        double began = now_seconds();
        bc_batch_free(batch);
        double took = now_seconds() - began;
        CHECK(took < 5, "bc_batch_free took %.1f s on a finished batch with a backlog of events", took);
    }
    bc_engine_free(engine);
    proc_destroy(&p);
}

/* ---- Waiting for and freeing a batch from inside it ---------------------------- */

typedef struct inside {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bc_batch *batch;
    int free_in_processor;  /* 1: free from the processor; 0: wait from it */
    int free_in_callback;   /* free from the first DOC_FINISHED event */
    int calls, wait_rc, freed, finished;
    unsigned finished_state;
} inside;

static inside in;

/* Waits up to 20 s for *flag. */
static int inside_wait_for(const int *flag) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&in.lock);
    while (!*flag && pthread_cond_timedwait(&in.cond, &in.lock, &deadline) == 0) {
    }
    int v = *flag;
    pthread_mutex_unlock(&in.lock);
    return v;
}

static int inward_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)user_data;
    pthread_mutex_lock(&in.lock);
    int first = in.calls++ == 0;
    pthread_mutex_unlock(&in.lock);
    if (first && in.free_in_processor) {
        bc_batch_free(in.batch);
        pthread_mutex_lock(&in.lock);
        in.freed = 1;
        pthread_cond_broadcast(&in.cond);
        pthread_mutex_unlock(&in.lock);
    } else if (first && !in.free_in_callback) {
        int rc = bc_batch_wait(in.batch, 5000);
        pthread_mutex_lock(&in.lock);
        in.wait_rc = rc;
        pthread_mutex_unlock(&in.lock);
    } else if (!first && in.free_in_callback) {
        inside_wait_for(&in.freed); /* the batch is still running when the callback frees it */
    }
    bc_call_set_output(call, doc->id, strlen(doc->id));
    return BC_OUTCOME_DONE;
}

static void on_inward_event(const bc_event *event, void *user_data) {
    (void)user_data;
    if (event->type == BC_EVENT_DOC_FINISHED && in.free_in_callback) {
        pthread_mutex_lock(&in.lock);
        int first = !in.freed;
        pthread_mutex_unlock(&in.lock);
        if (first) {
            bc_batch_free(in.batch);
            pthread_mutex_lock(&in.lock);
            in.freed = 1;
            pthread_cond_broadcast(&in.cond);
            pthread_mutex_unlock(&in.lock);
        }
    }
    if (event->type == BC_EVENT_FINISHED) {
        pthread_mutex_lock(&in.lock);
        in.finished = 1;
        in.finished_state = event->stats->state;
        pthread_cond_broadcast(&in.cond);
        pthread_mutex_unlock(&in.lock);
    }
}

static void run_inward(int free_in_processor, int free_in_callback) {
    memset(&in, 0, sizeof in);
    pthread_mutex_init(&in.lock, NULL);
    pthread_cond_init(&in.cond, NULL);
    in.free_in_processor = free_in_processor;
    in.free_in_callback = free_in_callback;
    in.wait_rc = 1;
    proc p;
    proc_init(&p);
    bc_engine *engine = engine_with("inward", inward_process, &p);
    if (engine == NULL || !CHECK_RC(bc_batch_new(&in.batch, engine))) return;
    CHECK_RC(bc_batch_set(in.batch, "workers", "1"));
    CHECK_RC(bc_batch_add_stage(in.batch, "inward", NULL));
    CHECK_RC(bc_batch_set_event_callback(in.batch, on_inward_event, NULL));
    add_docs(in.batch, 20);
    if (!CHECK_RC(bc_batch_start(in.batch))) return;
    if (free_in_processor || free_in_callback) {
        const char *where = free_in_processor ? "a processor call" : "the event callback";
        CHECK(inside_wait_for(&in.freed), "bc_batch_free from %s did not return within 20 s", where);
        CHECK(inside_wait_for(&in.finished), "no BC_EVENT_FINISHED after bc_batch_free from %s", where);
        CHECK(in.finished_state == BC_BATCH_CANCELLED, "the batch freed from %s ended in state %u", where,
              in.finished_state);
    } else {
        CHECK_RC(wait_bounded(in.batch, 60000));
        CHECK_CODE(in.wait_rc, BC_ESTATE);
        bc_stats s = stats_of(in.batch);
        CHECK(s.ok == 20, "ok %llu after a refused wait", (unsigned long long)s.ok);
        bc_batch_free(in.batch);
    }
    bc_engine_free(engine);
    proc_destroy(&p);
}

static void test_from_inside(void) {
    run_inward(0, 0); /* bc_batch_wait from a processor call: BC_ESTATE */
    run_inward(1, 0); /* bc_batch_free from a processor call */
    run_inward(0, 1); /* bc_batch_free from the event callback */
}

int main(void) {
    check_watchdog(240);
    main_thread = pthread_self();
    work_dir = make_temp_dir("events");

    test_every_event_once();
    test_cancel_from_callback();
    test_wait_timeout();
    test_graceful_cancel();
    test_hard_cancel();
    test_from_inside();
    test_hard_cancel_skips_the_backlog();

    remove_temp_dir(work_dir);
    free(work_dir);
    return check_summary();
}
