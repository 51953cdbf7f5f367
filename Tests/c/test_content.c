/*
 * test_content.c — documents held in memory (bc_batch_add_content): a
 * processor sees their bytes in bc_doc, the size limit refuses larger ones,
 * resume skips those finished and dedupe finds equal content.
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

    bc_engine_free(engine);
    remove_temp_dir(dir);
    return check_summary();
}
