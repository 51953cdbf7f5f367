/*
 * test_results_many.c — reading results many at a time and while the batch
 * runs (bc_results_next_many, bc_batch_results_from):
 *
 *  - chunks of 7 give the same results, in the same order, as
 *    bc_results_next, each with struct_size set to the caller's stride;
 *  - a caller of 0.1's smaller bc_result gets 0.1's fields and nothing
 *    written past them;
 *  - a host follows a running batch: what it reads from index n on while
 *    documents are still held back, then after they are let go, is every
 *    document exactly once;
 *  - misuse: NULL out, struct_size unset or misaligned, an index past the
 *    end, capacity 0.
 */
#include "check.h"

#include <stddef.h>
#include <time.h>

#define NDOCS 300
#define HELD_FROM 100 /* documents doc-100 on wait for the gate */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;
static int gate_is_open;

static int doc_number(const char *id) {
    int n = -1;
    return id != NULL && sscanf(id, "doc-%d", &n) == 1 && n >= 0 && n < NDOCS ? n : -1;
}

/* Outputs "out-N"; documents from HELD_FROM on wait until the gate opens. */
static int gated_echo(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)user_data;
    int n = doc_number(doc->id);
    if (n >= HELD_FROM) {
        pthread_mutex_lock(&gate_lock);
        while (!gate_is_open) pthread_cond_wait(&gate_open, &gate_lock);
        pthread_mutex_unlock(&gate_lock);
    }
    char out[32];
    int len = snprintf(out, sizeof out, "out-%d", n);
    bc_call_set_output(call, out, (size_t)len);
    return BC_OUTCOME_DONE;
}

static void open_gate(void) {
    pthread_mutex_lock(&gate_lock);
    gate_is_open = 1;
    pthread_cond_broadcast(&gate_open);
    pthread_mutex_unlock(&gate_lock);
}

static bc_batch *new_batch(bc_engine *engine) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return NULL;
    CHECK_RC(bc_batch_set(batch, "workers", "4"));
    CHECK_RC(bc_batch_add_stage(batch, "gated-echo", NULL));
    for (int i = 0; i < NDOCS; i++) {
        char id[32];
        snprintf(id, sizeof id, "doc-%d", i);
        CHECK_RC(bc_batch_add_content(batch, id, "x", 1, NULL));
    }
    return batch;
}

/* Reads the results from index `first` on in chunks of `capacity`, counting
 * each document in seen[]; returns how many it read, or -1 after a failure. */
static int read_from(bc_batch *batch, size_t first, size_t capacity, int *seen) {
    bc_results *it = NULL;
    if (!CHECK_RC(bc_batch_results_from(&it, batch, first))) return -1;
    bc_result chunk[16];
    memset(chunk, 0xab, sizeof chunk); /* garbage, but for the first struct_size */
    chunk[0].struct_size = sizeof chunk[0];
    int total = 0, got;
    while ((got = bc_results_next_many(chunk, capacity, it)) > 0) {
        CHECK((size_t)got <= capacity, "%d results for a capacity of %zu", got, capacity);
        for (int i = 0; i < got; i++) {
            int n = doc_number(chunk[i].id);
            char want[32];
            snprintf(want, sizeof want, "out-%d", n);
            int ok = n >= 0 && chunk[i].struct_size == sizeof chunk[i] && chunk[i].status == BC_STATUS_OK &&
                     chunk[i].output_len == strlen(want) && memcmp(chunk[i].output, want, strlen(want)) == 0 &&
                     chunk[i].path == NULL && chunk[i].error == NULL && chunk[i].metadata_json == NULL;
            if (!CHECK(ok, "result %d of a chunk: id '%s' struct_size %u output_len %zu", i,
                       chunk[i].id ? chunk[i].id : "(NULL)", chunk[i].struct_size, chunk[i].output_len)) {
                bc_results_free(it);
                return -1;
            }
            seen[n]++;
        }
        total += got;
    }
    CHECK(got == 0, "bc_results_next_many returned %d: %s", got, check_message());
    bc_results_free(it);
    return total;
}

/* Chunks give what one at a time gives, in the same order. */
static void test_chunks_match_one_at_a_time(bc_batch *batch) {
    char order[NDOCS][16];
    int count = 0;
    bc_results *it = NULL;
    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    bc_result r = BC_RESULT_INIT;
    while (count < NDOCS && bc_results_next(&r, it) == 1) snprintf(order[count++], sizeof order[0], "%s", r.id);
    bc_results_free(it);
    CHECK(count == NDOCS, "%d results one at a time", count);

    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    bc_result chunk[7];
    chunk[0] = (bc_result)BC_RESULT_INIT;
    int index = 0, same = 1, got;
    while ((got = bc_results_next_many(chunk, 7, it)) > 0) {
        for (int i = 0; i < got; i++, index++) {
            if (index >= count || strcmp(chunk[i].id, order[index]) != 0) same = 0;
        }
    }
    bc_results_free(it);
    CHECK(same && index == count, "chunks of 7 gave %d results, %s order", index, same ? "in the same" : "not in the");
}

/* A caller built against 0.1's bc_result (smaller): 0.1's fields, nothing past them. */
static void test_an_older_struct_is_filled_to_its_size(bc_batch *batch) {
    size_t old_size = offsetof(bc_result, output_is_json);
    unsigned char buffer[3 * sizeof(bc_result)];
    memset(buffer, 0xcd, sizeof buffer);
    bc_result first;
    memset(&first, 0, sizeof first);
    first.struct_size = (uint32_t)old_size;
    memcpy(buffer, &first, sizeof first.struct_size);
    bc_results *it = NULL;
    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    int got = bc_results_next_many((bc_result *)(void *)buffer, 3, it);
    CHECK(got == 3, "bc_results_next_many gave %d of 3 old-size results", got);
    for (int i = 0; i < got; i++) {
        bc_result r;
        memcpy(&r, buffer + (size_t)i * old_size, old_size);
        CHECK(r.struct_size == old_size && doc_number(r.id) >= 0 && r.status == BC_STATUS_OK,
              "old-size result %d: struct_size %u", i, r.struct_size);
    }
    int untouched = 1;
    for (size_t b = 3 * old_size; b < sizeof buffer; b++) untouched &= buffer[b] == 0xcd;
    CHECK(untouched, "bytes past three old-size results were written");
    bc_results_free(it);
}

static void test_misuse(bc_batch *batch) {
    bc_results *it = NULL;
    CHECK_CODE(bc_batch_results_from(NULL, batch, 0), BC_EINVAL);
    CHECK_CODE(bc_batch_results_from(&it, NULL, 0), BC_EINVAL);
    if (!CHECK_RC(bc_batch_results_from(&it, batch, NDOCS))) return;
    bc_result chunk[4];
    chunk[0] = (bc_result)BC_RESULT_INIT;
    CHECK(bc_results_next_many(chunk, 4, it) == 0, "an iterator from the last index is not empty");
    bc_results_free(it);
    if (!CHECK_RC(bc_batch_results_from(&it, batch, SIZE_MAX))) return;
    CHECK(bc_results_next_many(chunk, 4, it) == 0, "an iterator from SIZE_MAX is not empty");
    bc_results_free(it);

    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    CHECK_CODE(bc_results_next_many(NULL, 4, it), BC_EINVAL);
    CHECK_CODE(bc_results_next_many(chunk, 4, NULL), BC_EINVAL);
    CHECK(bc_results_next_many(chunk, 0, it) == 0, "capacity 0 gave results");
    chunk[0].struct_size = 0;
    CHECK_CODE(bc_results_next_many(chunk, 4, it), BC_EINVAL);
    CHECK_CONTAINS(bc_error_message(), "struct_size");
    chunk[0].struct_size = sizeof chunk[0] - 1; /* elements would be misaligned */
    CHECK_CODE(bc_results_next_many(chunk, 4, it), BC_EINVAL);
    chunk[0] = (bc_result)BC_RESULT_INIT;
    CHECK(bc_results_next_many(chunk, 4, it) == 4, "the iterator did not go on after refused calls");
    bc_results_free(it);
}

int main(void) {
    check_watchdog(120);
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "gated-echo";
    def.process = gated_echo;
    CHECK_RC(bc_engine_register_processor(engine, &def));
    bc_batch *batch = new_batch(engine);
    if (batch == NULL) return check_summary();

    /* Follow the run: the first HELD_FROM finish while the others wait. */
    static int seen[NDOCS];
    size_t read = 0;
    CHECK_RC(bc_batch_start(batch));
    for (int tries = 0; read < HELD_FROM && tries < 6000; tries++) {
        int got = read_from(batch, read, 5, seen);
        if (got < 0) break;
        read += (size_t)got;
        if (read < HELD_FROM) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    CHECK(read == HELD_FROM, "%zu results read while documents %d on were held", read, HELD_FROM);
    open_gate();
    CHECK_RC(bc_batch_wait(batch, 60000));
    int rest = read_from(batch, read, 16, seen);
    CHECK(rest == NDOCS - HELD_FROM, "%d results after the gate opened", rest);
    int missing = 0, twice = 0;
    for (int i = 0; i < NDOCS; i++) {
        missing += seen[i] == 0;
        twice += seen[i] > 1;
    }
    CHECK(missing == 0 && twice == 0, "following the run: %d documents never read, %d read twice", missing, twice);

    test_chunks_match_one_at_a_time(batch);
    test_an_older_struct_is_filled_to_its_size(batch);
    test_misuse(batch);

    bc_batch_free(batch);
    bc_engine_free(engine);
    return check_summary();
}
