/*
 * test_content.c — documents held in memory (bc_batch_add_content): a
 * processor sees their bytes in bc_doc, the size limit refuses larger ones,
 * resume skips those finished and dedupe finds equal content. Many added in
 * one call (bc_batch_add_contents) run alike; a call with one refused
 * document adds none, and the message names it.
 */
#include "check.h"

#include <stdatomic.h>

static atomic_int calls;
/* While set, the document "mail-2" stops this batch (an interrupted run). */
static bc_batch *_Atomic interrupt;

/* Outputs the document's content; fails a document that has a path. */
static int echo_content(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)user_data;
    atomic_fetch_add(&calls, 1);
    if (!BC_DOC_HAS(doc, content) || doc->path != NULL || doc->content == NULL) {
        bc_call_set_error(call, "no content in bc_doc");
        return BC_OUTCOME_FAIL;
    }
    bc_batch *stop = atomic_load(&interrupt);
    if (stop != NULL && strcmp(doc->id, "mail-2") == 0) {
        bc_batch_cancel(stop, BC_CANCEL_HARD);
        return BC_OUTCOME_RETRY;
    }
    bc_call_set_output(call, doc->content, doc->content_len);
    return BC_OUTCOME_DONE;
}

static const unsigned char binary[] = {'a', 0, 'b', 0xff, '\n'};

static void add_documents(bc_batch *batch) {
    CHECK_RC(bc_batch_add_content(batch, "mail-1", "Hello", 5, "{\"from\":\"ann\"}"));
    CHECK_RC(bc_batch_add_content(batch, "blob", binary, sizeof binary, NULL));
    CHECK_RC(bc_batch_add_content(batch, "empty", NULL, 0, NULL));
    CHECK_RC(bc_batch_add_content(batch, "mail-2", "Again", 5, NULL));
}

static bc_batch *new_batch(bc_engine *engine, const char *dir, int resume) {
    char path[4096];
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return NULL;
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
    CHECK_RC(bc_batch_set(batch, "output", path));
    snprintf(path, sizeof path, "%s/out.journal", dir);
    CHECK_RC(bc_batch_set(batch, "checkpoint", path));
    CHECK_RC(bc_batch_set(batch, "keep_results", "true"));
    CHECK_RC(bc_batch_set(batch, "sequential", "true"));
    if (resume) CHECK_RC(bc_batch_set(batch, "resume", "true"));
    CHECK_RC(bc_batch_add_stage(batch, "echo", NULL));
    return batch;
}

/* The output of document `id` among the batch's results, checked against `want`. */
static void check_output(bc_batch *batch, const char *id, const void *want, size_t len) {
    bc_results *it = NULL;
    int found = 0;
    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    bc_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    while (bc_results_next(&r, it) == 1) {
        if (strcmp(r.id, id) != 0) continue;
        found = 1;
        CHECK(r.status == BC_STATUS_OK && r.path == NULL, "%s: status %u", id, r.status);
        CHECK(r.output_len == len && (len == 0 || memcmp(r.output, want, len) == 0), "%s: wrong output", id);
    }
    bc_results_free(it);
    CHECK(found, "no result for %s", id);
}

/* ---- Many documents in one call ----------------------------------------- */

enum { MANY = 1000 };
static char many_ids[MANY][16];
static unsigned char many_bodies[MANY][16];
static size_t many_lengths[MANY];
static char many_metadata[MANY][24];
static const char *many_id_ptrs[MANY];
static const void *many_data[MANY];
static const char *many_metadata_ptrs[MANY];

/* Document i: "many-i"; bytes "d<i>", a NUL, "z" (document 0 is empty);
 * metadata {"n":i}, none (NULL) for i = 3, 13, 23, ... */
static void make_many(void) {
    for (int i = 0; i < MANY; i++) {
        snprintf(many_ids[i], sizeof many_ids[i], "many-%d", i);
        int n = snprintf((char *)many_bodies[i], sizeof many_bodies[i], "d%d", i);
        many_bodies[i][n + 1] = 'z';
        many_lengths[i] = i == 0 ? 0 : (size_t)n + 2;
        snprintf(many_metadata[i], sizeof many_metadata[i], "{\"n\":%d}", i);
        many_id_ptrs[i] = many_ids[i];
        many_data[i] = i == 0 ? NULL : many_bodies[i];
        many_metadata_ptrs[i] = i % 10 == 3 ? NULL : many_metadata[i];
    }
}

/* Every one of the MANY documents and "early" came back, with its bytes and
 * metadata, and nothing else. */
static void check_many_results(bc_batch *batch) {
    bc_results *it = NULL;
    int seen = 0, early = 0, wrong = 0, others = 0;
    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    bc_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    while (bc_results_next(&r, it) == 1) {
        int i = -1;
        if (strcmp(r.id, "early") == 0) {
            early++;
            continue;
        }
        if (sscanf(r.id, "many-%d", &i) != 1 || i < 0 || i >= MANY) {
            others++;
            fprintf(stderr, "unexpected document %s\n", r.id);
            continue;
        }
        seen++;
        /* Results give no metadata (NULL) for a document that had none. */
        const char *metadata = i % 10 == 3 ? NULL : many_metadata[i];
        int same = r.status == BC_STATUS_OK && r.output_len == many_lengths[i]
            && (many_lengths[i] == 0 || memcmp(r.output, many_bodies[i], many_lengths[i]) == 0)
            && (metadata == NULL ? r.metadata_json == NULL
                                 : r.metadata_json != NULL && strcmp(r.metadata_json, metadata) == 0);
        if (!same && wrong++ == 0) {
            fprintf(stderr, "%s: status %u, %zu bytes, metadata %s\n", r.id, r.status, r.output_len,
                    r.metadata_json != NULL ? r.metadata_json : "(NULL)");
        }
    }
    bc_results_free(it);
    CHECK(seen == MANY && early == 1 && others == 0, "%d of %d documents, early %d, others %d", seen, MANY, early, others);
    CHECK(wrong == 0, "%d documents came back with other bytes or metadata", wrong);
}

/* A call of `count` documents (ids, bytes as strings, metadata) that must be
 * refused with `code` and a message holding `place` and `what`. */
static void check_refused(bc_batch *batch, const char *const *ids, const char *const *texts,
                          const char *const *metadata, size_t count, int code, const char *place, const char *what) {
    const void *data[4];
    size_t lengths[4];
    for (size_t i = 0; i < count; i++) {
        data[i] = texts[i];
        lengths[i] = texts[i] != NULL ? strlen(texts[i]) : 3;
    }
    CHECK_CODE(bc_batch_add_contents(batch, ids, data, lengths, metadata, count), code);
    CHECK_CONTAINS(check_msg, place);
    CHECK_CONTAINS(check_msg, what);
}

static void test_many(bc_engine *engine) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_set(batch, "keep_results", "true"));
    CHECK_RC(bc_batch_set(batch, "content.max_size", "64"));
    CHECK_RC(bc_batch_add_stage(batch, "echo", NULL));
    make_many();
    CHECK_RC(bc_batch_add_content(batch, "early", "e", 1, NULL));
    CHECK_RC(bc_batch_add_contents(batch, many_id_ptrs, many_data, many_lengths, many_metadata_ptrs, MANY));

    /* Missing arrays, and an empty call. */
    size_t one = 1;
    const void *x[] = {"x"};
    const char *fresh[] = {"fresh-0"};
    CHECK_CODE(bc_batch_add_contents(batch, NULL, x, &one, NULL, 1), BC_EINVAL);
    CHECK_CONTAINS(check_msg, "ids, data and lengths must not be NULL");
    CHECK_CODE(bc_batch_add_contents(batch, fresh, NULL, &one, NULL, 1), BC_EINVAL);
    CHECK_CODE(bc_batch_add_contents(batch, fresh, x, NULL, NULL, 1), BC_EINVAL);
    CHECK_CODE(bc_batch_add_contents(NULL, fresh, x, &one, NULL, 1), BC_EINVAL);
    CHECK_RC(bc_batch_add_contents(batch, NULL, NULL, NULL, NULL, 0));

    /* One refused document refuses its call, naming it. */
    const char *dup_ids[] = {"fresh-1", "fresh-2", "fresh-1"};
    const char *texts[] = {"a", "b", "c"};
    check_refused(batch, dup_ids, texts, NULL, 3, BC_EINPUT, "document 3 of 3: ",
                  "duplicate id \"fresh-1\", first given as document 1 of 3");
    const char *again_ids[] = {"fresh-3", "many-5"};
    check_refused(batch, again_ids, texts, NULL, 2, BC_EINPUT, "document 2 of 2: ",
                  "duplicate id \"many-5\", first given in content many-5, added before");
    const char *early_ids[] = {"early"};
    check_refused(batch, early_ids, texts, NULL, 1, BC_EINPUT, "document 1 of 1: ", "first given in content early");
    const char *big_ids[] = {"fresh-4", "huge"};
    const char *big_texts[] = {"a", "0123456789012345678901234567890123456789012345678901234567890123456789"};
    check_refused(batch, big_ids, big_texts, NULL, 2, BC_EINPUT, "document 2 of 2: ",
                  "the content of 'huge' is 70 bytes, over the limit of 64 bytes");
    const char *null_data_ids[] = {"fresh-5", "fresh-6"};
    const char *null_texts[] = {"a", NULL};
    check_refused(batch, null_data_ids, null_texts, NULL, 2, BC_EINVAL, "document 2 of 2: ",
                  "the data of 'fresh-6' is NULL but its length is 3");
    const char *null_id_ids[] = {"fresh-7", NULL};
    check_refused(batch, null_id_ids, texts, NULL, 2, BC_EINVAL, "document 2 of 2: ", "id must not be NULL");
    const char *empty_ids[] = {""};
    check_refused(batch, empty_ids, texts, NULL, 1, BC_EINVAL, "document 1 of 1: ", "non-empty id");
    const char *bad_metadata_ids[] = {"fresh-8", "fresh-9"};
    const char *bad_metadata[] = {NULL, "[1]"};
    check_refused(batch, bad_metadata_ids, texts, bad_metadata, 2, BC_EINPUT, "document 2 of 2: ",
                  "the metadata of 'fresh-9'");

    /* The batch runs only what the calls that succeeded added. */
    CHECK_RC(bc_batch_start(batch));
    CHECK_RC(wait_bounded(batch, 60000));
    bc_stats s = stats_of(batch);
    CHECK(s.ok == MANY + 1 && s.failed == 0, "ok %llu, failed %llu", (unsigned long long)s.ok, (unsigned long long)s.failed);
    check_many_results(batch);
    CHECK_CODE(bc_batch_add_contents(batch, fresh, x, &one, NULL, 1), BC_ESTATE);
    bc_batch_free(batch);
}

/* content.max_size set after the documents were added is checked at the start. */
static void test_late_limit(bc_engine *engine) {
    const char *ids[] = {"small", "late"};
    const void *data[] = {"abc", "Hello"};
    size_t lengths[] = {3, 5};
    for (int together = 0; together <= 1; together++) {
        bc_batch *batch = NULL;
        if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
        CHECK_RC(bc_batch_add_stage(batch, "echo", NULL));
        if (together) {
            CHECK_RC(bc_batch_add_contents(batch, ids, data, lengths, NULL, 2));
        } else {
            for (int i = 0; i < 2; i++) CHECK_RC(bc_batch_add_content(batch, ids[i], data[i], lengths[i], NULL));
        }
        CHECK_RC(bc_batch_set(batch, "content.max_size", "4"));
        CHECK_CODE(bc_batch_start(batch), BC_EINPUT);
        CHECK_CONTAINS(check_msg, "the content of 'late' is 5 bytes, over the limit of 4 bytes");
        bc_batch_free(batch);
    }
}

int main(void) {
    check_watchdog(120);
    char *dir = make_temp_dir("content");
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "echo";
    def.process = echo_content;
    CHECK_RC(bc_engine_register_processor(engine, &def));

    /* Bad arguments and the size limit. */
    bc_batch *limited = new_batch(engine, dir, 0);
    CHECK_CODE(bc_batch_add_content(limited, NULL, "x", 1, NULL), BC_EINVAL);
    CHECK_CODE(bc_batch_add_content(limited, "x", NULL, 3, NULL), BC_EINVAL);
    CHECK_CODE(bc_batch_add_content(limited, "x", "x", 1, "[1]"), BC_EINPUT);
    CHECK_RC(bc_batch_set(limited, "content.max_size", "4"));
    CHECK_CODE(bc_batch_add_content(limited, "big", "Hello", 5, NULL), BC_EINPUT);
    CHECK_CONTAINS(bc_error_message(), "content.max_size");
    CHECK_CONTAINS(bc_error_message(), "'big' is 5 bytes");
    bc_batch_free(limited);

    /* A run interrupted at its last document, then a resume that runs only that one. */
    bc_batch *first = new_batch(engine, dir, 0);
    add_documents(first);
    atomic_store(&interrupt, first);
    CHECK_RC(bc_batch_start(first));
    bc_batch_wait(first, 60000); /* cancelled: BC_ECANCELLED */
    atomic_store(&interrupt, NULL);
    CHECK(stats_of(first).ok == 3, "not every in-memory document before the interruption finished");
    check_output(first, "mail-1", "Hello", 5);
    check_output(first, "blob", binary, sizeof binary);
    check_output(first, "empty", "", 0);
    bc_batch_free(first);
    CHECK(atomic_load(&calls) == 4, "%d calls for 4 documents", atomic_load(&calls));

    bc_batch *resumed = new_batch(engine, dir, 1);
    add_documents(resumed);
    CHECK_RC(bc_batch_start(resumed));
    CHECK_RC(wait_bounded(resumed, 60000));
    check_output(resumed, "mail-2", "Again", 5);
    bc_batch_free(resumed);
    CHECK(atomic_load(&calls) == 5, "the resume ran %d documents, not just the unfinished one", atomic_load(&calls) - 4);

    /* Dedupe: equal content runs once. */
    bc_batch *deduped = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/dedupe.jsonl", dir);
    if (CHECK_RC(bc_batch_new(&deduped, engine))) {
        CHECK_RC(bc_batch_set(deduped, "output", path));
        snprintf(path, sizeof path, "%s/dedupe.journal", dir);
        CHECK_RC(bc_batch_set(deduped, "checkpoint", path));
        CHECK_RC(bc_batch_set(deduped, "dedupe", "true"));
        CHECK_RC(bc_batch_set(deduped, "sequential", "true"));
        CHECK_RC(bc_batch_add_stage(deduped, "echo", NULL));
        CHECK_RC(bc_batch_add_content(deduped, "a", "same", 4, NULL));
        CHECK_RC(bc_batch_add_content(deduped, "b", "same", 4, NULL));
        CHECK_RC(bc_batch_start(deduped));
        CHECK_RC(wait_bounded(deduped, 60000));
        bc_stats s = stats_of(deduped);
        CHECK(s.ok == 2 && s.deduplicated == 1, "dedupe: ok %llu, deduplicated %llu",
              (unsigned long long)s.ok, (unsigned long long)s.deduplicated);
        bc_batch_free(deduped);
    }
    CHECK(atomic_load(&calls) == 6, "equal content ran %d times", atomic_load(&calls) - 5);

    test_many(engine);
    test_late_limit(engine);

    bc_engine_free(engine);
    remove_temp_dir(dir);
    return check_summary();
}
