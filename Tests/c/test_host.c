/*
 * test_host.c — a C host drives libbatchcore with in-process processors.
 *
 *  - versions: the library matches the header it was built from;
 *  - 200 files, 4 workers: every document processed once, outputs and
 *    token usage as the processor reported them, stats add up, the worker
 *    cap holds, the processor's user_data is released once;
 *  - per-document isolation: documents whose processor call fails are
 *    failed with the processor's message, the others are unaffected;
 *  - a bc_call used after its process() returned is refused (BC_ESTATE);
 *  - token and unit counts saturate at INT64_MAX instead of wrapping.
 */
#include "check.h"

#include <stddef.h>

#define NDOCS 200
#define NWORKERS 4

/* ---- Versions ------------------------------------------------------------ */

static void test_versions(void) {
    CHECK(bc_version_number() == BC_VERSION_NUMBER, "library %d, header %d",
          bc_version_number(), BC_VERSION_NUMBER);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BC_VERSION_MAJOR, BC_VERSION_MINOR, BC_VERSION_PATCH);
    const char *got = bc_version_string();
    CHECK(got != NULL && strcmp(got, want) == 0, "bc_version_string() is '%s', expected '%s'",
          got ? got : "(NULL)", want);
    CHECK(strcmp(BC_VERSION_STRING, want) == 0, "BC_VERSION_STRING is '%s', expected '%s'",
          BC_VERSION_STRING, want);
    CHECK(bc_error_message() != NULL, "bc_error_message() is NULL before any failure");
    CHECK(bc_error_name(BC_EOPTION) != NULL && strcmp(bc_error_name(BC_EOPTION), "BC_EOPTION") == 0,
          "bc_error_name(BC_EOPTION) is '%s'", check_name(BC_EOPTION));
}

/* ---- The echo processor ------------------------------------------------- */

/* What echo outputs for a document id. */
static void expected_output(char *buf, size_t size, const char *id) {
    snprintf(buf, size, "processed %s (%zu bytes of id)", id, strlen(id));
}

typedef struct probe {
    pthread_mutex_t lock;
    int in_flight, max_in_flight;
    unsigned long calls;
    unsigned long bad_fields;  /* documents that broke the bc_doc contract */
    unsigned long host_errors; /* bc_call_* calls that failed */
    int releases;
} probe;

static int echo_process(bc_call *call, const bc_doc *doc, void *user_data) {
    probe *p = user_data;
    pthread_mutex_lock(&p->lock);
    p->calls++;
    if (++p->in_flight > p->max_in_flight) p->max_in_flight = p->in_flight;
    pthread_mutex_unlock(&p->lock);

    int fields_ok = doc->struct_size >= offsetof(bc_doc, input_len) + sizeof(size_t) &&
                    doc->stage == 0 && doc->attempt == 1 && doc->id != NULL &&
                    doc->path != NULL && strcmp(doc->id, doc->path) == 0 &&
                    doc->metadata_json != NULL && doc->input == NULL;

    char out[4096];
    expected_output(out, sizeof out, doc->id);
    int rc1 = bc_call_set_output(call, out, strlen(out));
    int rc2 = bc_call_add_usage(call, 2, 3);
    sleep_ms(1); /* long enough for the workers to overlap */

    pthread_mutex_lock(&p->lock);
    p->in_flight--;
    if (!fields_ok) p->bad_fields++;
    if (rc1 != 0 || rc2 != 0) p->host_errors++;
    pthread_mutex_unlock(&p->lock);
    return BC_OUTCOME_DONE;
}

static void probe_release(void *user_data) {
    probe *p = user_data;
    pthread_mutex_lock(&p->lock);
    p->releases++;
    pthread_mutex_unlock(&p->lock);
}

/* Index of a document from its path ".../doc-123.txt", or -1. */
static int doc_index(const char *path) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    int n = -1;
    char tail[8];
    if (slash == NULL || sscanf(slash + 1, "doc-%d%7s", &n, tail) != 2 || strcmp(tail, ".txt") != 0)
        return -1;
    return (n >= 0 && n < NDOCS) ? n : -1;
}

static void test_many_documents(void) {
    char *dir = make_temp_dir("host");
    char path[4096];
    for (int i = 0; i < NDOCS; i++) {
        snprintf(path, sizeof path, "%s/doc-%03d.txt", dir, i);
        char body[64];
        int n = snprintf(body, sizeof body, "document %d\n", i);
        if (write_file(path, body, (size_t)n) != 0) {
            CHECK(0, "cannot write %s", path);
            return;
        }
    }

    probe p;
    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.lock, NULL);

    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return;

    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "echo";
    def.description = "Reports the document id";
    def.process = echo_process;
    def.release = probe_release;
    def.user_data = &p;
    CHECK_RC(bc_engine_register_processor(engine, &def));
    /* A second processor under the same name is refused. */
    CHECK_CODE(bc_engine_register_processor(engine, &def), BC_EINVAL);
    CHECK_CONTAINS(check_msg, "echo");

    char *listing = NULL;
    if (CHECK_RC(bc_engine_list_processors(&listing, engine))) {
        CHECK_CONTAINS(listing, "\"echo\"");
    }
    bc_free(listing);

    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_set(batch, "workers", "4"));
    CHECK_RC(bc_batch_add_stage(batch, "echo", NULL));
    int not_added = 0;
    for (int i = 0; i < NDOCS; i++) {
        snprintf(path, sizeof path, "%s/doc-%03d.txt", dir, i);
        int rc = bc_batch_add_file(batch, path, NULL, NULL);
        if (rc != 0 && not_added++ == 0) fprintf(stderr, "    bc_batch_add_file: %s\n", check_message());
    }
    CHECK(not_added == 0, "%d of %d files not added", not_added, NDOCS);
    if (CHECK_RC(bc_batch_start(batch))) CHECK_RC(wait_bounded(batch, 60000));

    bc_stats s = stats_of(batch);
    CHECK(s.state == BC_BATCH_FINISHED, "state %u", s.state);
    CHECK(s.total == NDOCS, "total %llu", (unsigned long long)s.total);
    CHECK(s.total_known == 1, "total_known %u", s.total_known);
    CHECK(s.ok == NDOCS, "ok %llu", (unsigned long long)s.ok);
    CHECK(s.failed == 0 && s.partial == 0 && s.skipped == 0, "failed %llu partial %llu skipped %llu",
          (unsigned long long)s.failed, (unsigned long long)s.partial, (unsigned long long)s.skipped);
    CHECK(s.in_flight == 0 && s.retry_waiting == 0, "in_flight %llu retry_waiting %llu",
          (unsigned long long)s.in_flight, (unsigned long long)s.retry_waiting);
    CHECK(s.attempts == NDOCS && s.retries == 0, "attempts %llu retries %llu",
          (unsigned long long)s.attempts, (unsigned long long)s.retries);
    CHECK(s.workers == NWORKERS, "workers %u", s.workers);
    CHECK(s.input_tokens == 2 * NDOCS && s.output_tokens == 3 * NDOCS, "tokens %llu/%llu",
          (unsigned long long)s.input_tokens, (unsigned long long)s.output_tokens);
    CHECK(s.elapsed_seconds > 0, "elapsed %f", s.elapsed_seconds);

    pthread_mutex_lock(&p.lock);
    CHECK(p.calls == NDOCS, "processor called %lu times for %d documents", p.calls, NDOCS);
    CHECK(p.bad_fields == 0, "%lu documents broke the bc_doc contract", p.bad_fields);
    CHECK(p.host_errors == 0, "%lu bc_call_* calls failed", p.host_errors);
    CHECK(p.max_in_flight <= NWORKERS, "%d calls ran at once with workers=%d", p.max_in_flight, NWORKERS);
    CHECK(p.max_in_flight >= 2, "calls never overlapped (max %d at once) with workers=%d",
          p.max_in_flight, NWORKERS);
    pthread_mutex_unlock(&p.lock);

    /* Every document once, with the output echo produced for it. */
    int seen[NDOCS];
    memset(seen, 0, sizeof seen);
    unsigned long results = 0, wrong = 0, strangers = 0;
    bc_results *it = NULL;
    if (CHECK_RC(bc_batch_results(&it, batch))) {
        bc_result r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        int more;
        while ((more = bc_results_next(&r, it)) == 1) {
            results++;
            int i = doc_index(r.id);
            if (i < 0) {
                if (strangers++ < 3) fprintf(stderr, "    unexpected result id '%s'\n", r.id ? r.id : "(NULL)");
                continue;
            }
            seen[i]++;
            char want[4096];
            expected_output(want, sizeof want, r.id);
            char *got = output_string(&r);
            int ok = r.status == BC_STATUS_OK && strcmp(got, want) == 0 && r.output_len == strlen(want) &&
                     r.error == NULL && r.attempts == 1 && r.path != NULL && strcmp(r.path, r.id) == 0 &&
                     r.input_tokens == 2 && r.output_tokens == 3;
            if (!ok && wrong++ < 3) {
                fprintf(stderr, "    result '%s': status %u output '%s' error '%s' attempts %u tokens %llu/%llu\n",
                        r.id, r.status, got, r.error ? r.error : "(none)", r.attempts,
                        (unsigned long long)r.input_tokens, (unsigned long long)r.output_tokens);
            }
            free(got);
        }
        CHECK(more == 0, "bc_results_next returned %d: %s", more, check_message());
        bc_results_free(it);
    }
    int missing = 0, twice = 0;
    for (int i = 0; i < NDOCS; i++) {
        if (seen[i] == 0) missing++;
        if (seen[i] > 1) twice++;
    }
    CHECK(results == NDOCS, "%lu results for %d documents", results, NDOCS);
    CHECK(strangers == 0, "%lu results with ids that were never added", strangers);
    CHECK(missing == 0 && twice == 0, "%d documents without a result, %d with several", missing, twice);
    CHECK(wrong == 0, "%lu results differ from what the processor reported", wrong);

    /* The engine lives while its batch does; user_data is released once,
     * when both are gone. */
    bc_engine_free(engine);
    bc_batch_free(batch);
    pthread_mutex_lock(&p.lock);
    CHECK(p.releases == 1, "release called %d times", p.releases);
    pthread_mutex_unlock(&p.lock);
    pthread_mutex_destroy(&p.lock);

    remove_temp_dir(dir);
    free(dir);
}

/* ---- Per-document isolation --------------------------------------------- */

#define NPICKY 20

static int picky_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)user_data;
    if (strstr(doc->id, "bad") != NULL) {
        char message[256];
        snprintf(message, sizeof message, "refusing %s: it is bad", doc->id);
        bc_call_set_error(call, message);
        return BC_OUTCOME_FAIL;
    }
    bc_call_set_output(call, doc->metadata_json, strlen(doc->metadata_json));
    return BC_OUTCOME_DONE;
}

static void test_isolation(void) {
    char *dir = make_temp_dir("isolation");
    bc_engine *engine = NULL;
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return;

    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "picky";
    def.process = picky_process;
    CHECK_RC(bc_engine_register_processor(engine, &def));

    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_set(batch, "workers", "3"));
    CHECK_RC(bc_batch_add_stage(batch, "picky", NULL));
    for (int i = 0; i < NPICKY; i++) {
        char path[4096], id[32], meta[32];
        snprintf(path, sizeof path, "%s/file-%02d", dir, i);
        snprintf(id, sizeof id, "%s-%02d", i % 2 ? "bad" : "good", i);
        snprintf(meta, sizeof meta, "{\"n\":%d}", i);
        write_file(path, "x", 1);
        CHECK_RC(bc_batch_add_file(batch, path, id, meta));
    }
    if (CHECK_RC(bc_batch_start(batch))) CHECK_RC(wait_bounded(batch, 60000));

    bc_stats s = stats_of(batch);
    CHECK(s.state == BC_BATCH_FINISHED, "state %u", s.state);
    CHECK(s.ok == NPICKY / 2 && s.failed == NPICKY / 2, "ok %llu failed %llu",
          (unsigned long long)s.ok, (unsigned long long)s.failed);
    CHECK(s.attempts == NPICKY, "FAIL must not be retried: %llu attempts for %d documents",
          (unsigned long long)s.attempts, NPICKY);

    unsigned long results = 0, wrong = 0;
    bc_results *it = NULL;
    if (CHECK_RC(bc_batch_results(&it, batch))) {
        bc_result r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        while (bc_results_next(&r, it) == 1) {
            results++;
            int i = -1;
            char kind[8] = "";
            if (r.id == NULL || sscanf(r.id, "%4[a-z]-%d", kind, &i) != 2 || i < 0 || i >= NPICKY) {
                wrong++;
                continue;
            }
            char *out = output_string(&r);
            int ok;
            if (i % 2) {
                char want[64];
                snprintf(want, sizeof want, "refusing %s: it is bad", r.id);
                ok = strcmp(kind, "bad") == 0 && r.status == BC_STATUS_FAILED && r.error != NULL &&
                     strcmp(r.error, want) == 0 && r.failed_stage == 0 && r.attempts == 1;
            } else {
                char want[32];
                snprintf(want, sizeof want, "\"n\":%d", i);
                ok = strcmp(kind, "good") == 0 && r.status == BC_STATUS_OK && r.error == NULL &&
                     strstr(out, want) != NULL;
            }
            if (!ok && wrong++ < 3) {
                fprintf(stderr, "    result '%s': status %u error '%s' output '%s' failed_stage %u attempts %u\n",
                        r.id, r.status, r.error ? r.error : "(none)", out, r.failed_stage, r.attempts);
            }
            free(out);
        }
        bc_results_free(it);
    }
    CHECK(results == NPICKY, "%lu results for %d documents", results, NPICKY);
    CHECK(wrong == 0, "%lu results are wrong (see above)", wrong);

    bc_batch_free(batch);
    bc_engine_free(engine);
    remove_temp_dir(dir);
    free(dir);
}

/* ---- Call handles and usage ---------------------------------------------- */

/* Keeps the handle of its one call, and reports usage far past any limit. */
static bc_call *kept_call;

static int greedy_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)doc;
    (void)user_data;
    kept_call = call;
    bc_call_set_output(call, "mine", 4);
    int rc = bc_call_add_usage(call, UINT64_MAX, 5);
    rc |= bc_call_add_usage(call, UINT64_MAX, UINT64_MAX);
    rc |= bc_call_add_units(call, UINT64_MAX);
    rc |= bc_call_add_units(call, 1);
    return rc == 0 ? BC_OUTCOME_DONE : BC_OUTCOME_FAIL;
}

static void test_calls_and_usage(void) {
    bc_engine *engine = NULL;
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return;
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "greedy";
    def.process = greedy_process;
    CHECK_RC(bc_engine_register_processor(engine, &def));
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_add_stage(batch, "greedy", NULL));
    CHECK_RC(bc_batch_add_file(batch, "/nonexistent/a", "a", NULL));
    CHECK_RC(bc_batch_add_file(batch, "/nonexistent/b", "b", NULL));
    CHECK_RC(bc_batch_set(batch, "workers", "1"));
    char *dir = make_temp_dir("usage");
    char journal_path[4096];
    snprintf(journal_path, sizeof journal_path, "%s/usage.journal", dir);
    CHECK_RC(bc_batch_set(batch, "checkpoint", journal_path));
    if (CHECK_RC(bc_batch_start(batch))) CHECK_RC(wait_bounded(batch, 60000));

    const uint64_t limit = (uint64_t)INT64_MAX;
    bc_journal *journal = NULL;
    if (CHECK_RC(bc_journal_open(&journal, journal_path))) {
        bc_journal_summary sum;
        memset(&sum, 0, sizeof sum);
        sum.struct_size = sizeof sum;
        if (CHECK_RC(bc_journal_summary_get(&sum, journal)))
            CHECK(sum.ok == 2 && sum.input_tokens == limit && sum.output_tokens == limit,
                  "journal: ok %llu, tokens %llu/%llu", (unsigned long long)sum.ok,
                  (unsigned long long)sum.input_tokens, (unsigned long long)sum.output_tokens);
        bc_journal_free(journal);
    }
    remove_temp_dir(dir);
    free(dir);
    bc_stats s = stats_of(batch);
    CHECK(s.ok == 2 && s.input_tokens == limit && s.output_tokens == limit && s.units == limit,
          "ok %llu, tokens %llu/%llu, units %llu: sums must saturate at INT64_MAX", (unsigned long long)s.ok,
          (unsigned long long)s.input_tokens, (unsigned long long)s.output_tokens, (unsigned long long)s.units);
    bc_results *it = NULL;
    if (CHECK_RC(bc_batch_results(&it, batch))) {
        bc_result r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        while (bc_results_next(&r, it) == 1)
            CHECK(r.input_tokens == limit && r.output_tokens == limit, "%s: tokens %llu/%llu", r.id,
                  (unsigned long long)r.input_tokens, (unsigned long long)r.output_tokens);
        bc_results_free(it);
    }

    /* The call has returned: its handle is refused, with a message. */
    CHECK_CODE(bc_call_set_output(kept_call, "late", 4), BC_ESTATE);
    CHECK_CONTAINS(check_msg, "bc_call has ended");
    CHECK_CODE(bc_call_add_usage(kept_call, 1, 1), BC_ESTATE);
    CHECK_CODE(bc_call_set_error(kept_call, "late"), BC_ESTATE);
    CHECK_CODE(bc_call_add_units(kept_call, 1), BC_ESTATE);
    CHECK_CODE(bc_call_retry_after(kept_call, 1), BC_ESTATE);
    CHECK_CODE(bc_call_is_cancelled(kept_call), BC_ESTATE);
    CHECK_CODE(bc_call_set_output_json(kept_call, "{}", 2), BC_ESTATE);
    CHECK_CODE(bc_call_set_output(NULL, "x", 1), BC_EINVAL);
    bc_call_log(kept_call, BC_LOG_DEBUG, "a late log line goes to stderr");

    bc_batch_free(batch);
    bc_engine_free(engine);
}

int main(void) {
    check_watchdog(180);
    test_versions();
    test_many_documents();
    test_isolation();
    test_calls_and_usage();
    return check_summary();
}
