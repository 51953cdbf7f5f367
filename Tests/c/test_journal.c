/*
 * test_journal.c — checkpoint and resume through the C API: a batch with a
 * journal, a resumed batch that calls the processor for nothing already
 * finished, stats that count the resumed documents, and the bc_journal_*
 * readers (summary, streamed results filtered by status, export).
 */
#include "check.h"

#include <stdatomic.h>
#include <sys/stat.h>

#define NDOCS 300

static atomic_int calls;

/* Fails ids ending in 7; writes the id otherwise. */
static int seven_fails(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)user_data;
    atomic_fetch_add(&calls, 1);
    size_t n = strlen(doc->id);
    if (doc->id[n - 1] == '7') {
        bc_call_set_error(call, "sevens are refused");
        return BC_OUTCOME_FAIL;
    }
    bc_call_set_output(call, doc->id, n);
    return BC_OUTCOME_DONE;
}

static int run_batch(bc_engine *engine, const char *dir, const char *journal, const char *out, int resume,
                     bc_stats *stats) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return -1;
    CHECK_RC(bc_batch_add_stage(batch, "sevens", NULL));
    CHECK_RC(bc_batch_set(batch, "checkpoint", journal));
    CHECK_RC(bc_batch_set(batch, "output", out));
    CHECK_RC(bc_batch_set(batch, "workers", "4"));
    if (resume) CHECK_RC(bc_batch_set(batch, "resume", "true"));
    CHECK_RC(bc_batch_add_dir(batch, dir, NULL));
    int rc = check_capture(bc_batch_start(batch));
    if (rc == 0) {
        CHECK_RC(bc_batch_wait(batch, 60000));
        stats->struct_size = sizeof *stats;
        CHECK_RC(bc_batch_stats(stats, batch));
    }
    bc_batch_free(batch);
    return rc;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

int main(void) {
    check_watchdog(120);
    char *dir = make_temp_dir("journal");
    char docs[512], journal[512], out[512], exported[512], path[600];
    snprintf(docs, sizeof docs, "%s/docs", dir);
    snprintf(journal, sizeof journal, "%s/run.journal", dir);
    snprintf(out, sizeof out, "%s/out.jsonl", dir);
    snprintf(exported, sizeof exported, "%s/failed.csv", dir);
    mkdir(docs, 0755);
    for (int i = 0; i < NDOCS; i++) {
        snprintf(path, sizeof path, "%s/d%03d", docs, i);
        write_file(path, "x", 1);
    }
    int sevens = 0;
    for (int i = 0; i < NDOCS; i++) sevens += i % 10 == 7;

    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    bc_processor_def def = {.struct_size = sizeof def, .name = "sevens", .process = seven_fails};
    CHECK_RC(bc_engine_register_processor(engine, &def));

    bc_stats stats;
    CHECK_RC(run_batch(engine, docs, journal, out, 0, &stats));
    CHECK(atomic_load(&calls) == NDOCS, "%d calls", atomic_load(&calls));
    CHECK(stats.ok == (uint64_t)(NDOCS - sevens) && stats.failed == (uint64_t)sevens && stats.resumed == 0,
          "ok %llu failed %llu resumed %llu", (unsigned long long)stats.ok, (unsigned long long)stats.failed,
          (unsigned long long)stats.resumed);
    CHECK(count_lines(out) == NDOCS, "%d output lines", count_lines(out));

    /* A second start without "resume" is refused: the journal holds a run. */
    CHECK_CODE(run_batch(engine, docs, journal, out, 0, &stats), BC_ESTATE);
    CHECK_CONTAINS(check_msg, "resume");

    /* Resuming runs nothing: every document is in the journal. */
    CHECK_RC(run_batch(engine, docs, journal, out, 1, &stats));
    CHECK(atomic_load(&calls) == NDOCS, "resume called the processor %d times", atomic_load(&calls) - NDOCS);
    CHECK(stats.resumed == NDOCS && stats.ok == (uint64_t)(NDOCS - sevens), "resumed %llu ok %llu",
          (unsigned long long)stats.resumed, (unsigned long long)stats.ok);
    CHECK(count_lines(out) == NDOCS, "%d output lines after resume", count_lines(out));

    /* Reading the journal. */
    bc_journal *j = NULL;
    CHECK_CODE(bc_journal_open(&j, "/no/such/journal"), BC_ENOTFOUND);
    CHECK_CODE(bc_journal_open(&j, out), BC_EINPUT);
    if (CHECK_RC(bc_journal_open(&j, journal))) {
        bc_journal_summary summary = {.struct_size = sizeof summary};
        CHECK_RC(bc_journal_summary_get(&summary, j));
        CHECK(summary.ok == (uint64_t)(NDOCS - sevens) && summary.failed == (uint64_t)sevens && summary.runs == 2,
              "summary ok %llu failed %llu runs %u", (unsigned long long)summary.ok,
              (unsigned long long)summary.failed, summary.runs);

        bc_results *it = NULL;
        int failed_seen = 0, wrong = 0;
        CHECK_RC(bc_journal_results(&it, j, BC_STATUS_FAILED));
        bc_result r = {.struct_size = sizeof r};
        while (bc_results_next(&r, it) == 1) {
            failed_seen++;
            if (r.status != BC_STATUS_FAILED || r.error == NULL || strcmp(r.error, "sevens are refused") != 0 ||
                r.id[strlen(r.id) - 1] != '7')
                wrong++;
        }
        bc_results_free(it);
        CHECK(failed_seen == sevens && wrong == 0, "%d failed results, %d wrong", failed_seen, wrong);

        int all = 0;
        CHECK_RC(bc_journal_results(&it, j, 0));
        while (bc_results_next(&r, it) == 1) all++;
        bc_results_free(it);
        CHECK(all == NDOCS, "%d results", all);
        CHECK_CODE(bc_journal_results(&it, j, 42), BC_EINVAL);

        CHECK_RC(bc_journal_export(j, exported, "csv", BC_STATUS_FAILED));
        CHECK(count_lines(exported) == sevens + 1, "%d csv lines", count_lines(exported));
        CHECK_CODE(bc_journal_export(j, exported, "yaml", 0), BC_EINVAL);
        bc_journal_free(j);
    }

    /* Resume needs a journal; dedupe too. */
    bc_batch *batch = NULL;
    CHECK_RC(bc_batch_new(&batch, engine));
    CHECK_RC(bc_batch_add_stage(batch, "sevens", NULL));
    CHECK_RC(bc_batch_set(batch, "resume", "true"));
    CHECK_CODE(bc_batch_start(batch), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "checkpoint");
    bc_batch_free(batch);

    /* The sink option: a URL is checked when set; a sink needs the journal. */
    CHECK_RC(bc_batch_new(&batch, engine));
    CHECK_CODE(bc_batch_set(batch, "sink", "mysql://db"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "sqlite://");
    /* A refused URL is named without its password. */
    CHECK_CODE(bc_batch_set(batch, "sink", "postgresql://ann:hunter22@db/crm?table=a-b"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "postgresql://ann@db/crm");
    CHECK(strstr(check_msg, "hunter22") == NULL, "the password shows: %s", check_msg);
    char database[1100];
    snprintf(database, sizeof database, "sqlite://%s/results.db?table=results", dir);
    CHECK_RC(bc_batch_set(batch, "sink", database));
    CHECK_RC(bc_batch_add_stage(batch, "sevens", NULL));
    CHECK_RC(bc_batch_add_dir(batch, dir, NULL));
    CHECK_CODE(bc_batch_start(batch), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "a sink needs the journal");
    bc_batch_free(batch);

    bc_engine_free(engine);
    remove_temp_dir(dir);
    return check_summary();
}
