/*
 * test_call_queue.c — a host with its own event loop (poll on the queue's
 * file descriptor) takes calls in batches from a bc_call_queue and finishes
 * them: every document goes through two stages with its bytes, input and
 * metadata intact, calls arrive several per take, the engine's threads
 * stay few, and a non-blocking processor's pending calls are not held to
 * the engine's max_workers (a thread cap). Misuse gets clear answers.
 */
#include "check.h"

#include <poll.h>

#define DOCS 400
#define TAKE_MAX 37 /* odd, so takes end mid-queue */

static int released;

static void on_release(void *user_data) {
    (void)user_data;
    released++;
}

static int readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void register_queue(bc_engine *engine, const char *name, void *queue) {
    bc_plugin plugin = BC_PLUGIN_INIT;
    plugin.name = name;
    plugin.version = "1";
    plugin.description = "calls taken by an event loop";
    plugin.process = bc_call_queue_push;
    plugin.flags = BC_PLUGIN_FLAG_NONBLOCKING;
    CHECK_RC(bc_engine_register_plugin(engine, &plugin, on_release, queue));
}

/* What the loop saw. */
static int most_taken, takes, bad_docs, most_threads;

/* The stage's output for a document: "<stage>:<what it read>". */
static void answer(bc_call *call, const bc_doc *doc) {
    char expected[64], out[160];
    int n = atoi(doc->id + 4);
    if (doc->stage == 0) {
        snprintf(expected, sizeof expected, "content-%d", n);
        if (doc->input != NULL || doc->content == NULL || doc->path != NULL ||
            doc->content_len != strlen(expected) || memcmp(doc->content, expected, doc->content_len) != 0)
            bad_docs++;
        if (n % 10 == 0 && strstr(doc->metadata_json, "\"tenth\"") == NULL) bad_docs++;
    } else {
        snprintf(expected, sizeof expected, "0:content-%d", n);
        if (doc->input == NULL || doc->input_len != strlen(expected) ||
            memcmp(doc->input, expected, doc->input_len) != 0)
            bad_docs++;
    }
    snprintf(out, sizeof out, "%u:%.*s", doc->stage, (int)(doc->stage == 0 ? doc->content_len : doc->input_len),
             (const char *)(doc->stage == 0 ? doc->content : doc->input));
    bc_call_set_output(call, out, strlen(out));
}

/* The event loop: wait for the descriptor, take, answer, finish in one call. */
static void run_loop(bc_call_queue *queue, bc_batch *batch) {
    int fd = bc_call_queue_fd(queue);
    bc_call *calls[TAKE_MAX];
    const bc_doc *docs[TAKE_MAX];
    bc_outcome outcomes[TAKE_MAX];
    int results[TAKE_MAX];
    while (bc_batch_wait(batch, 0) == BC_ETIMEOUT) {
        if (!readable(fd, 50)) continue;
        sleep_ms(2); /* let calls gather, as a busy loop's turn would */
        size_t n = bc_call_queue_take(queue, calls, docs, TAKE_MAX);
        takes++;
        if ((int)n > most_taken) most_taken = (int)n;
        int threads = thread_count();
        if (threads > most_threads) most_threads = threads;
        for (size_t i = 0; i < n; i++) {
            answer(calls[i], docs[i]);
            outcomes[i] = BC_OUTCOME_DONE;
        }
        CHECK(bc_call_finish_many(calls, outcomes, results, n) == (int)n, "a finish was refused");
    }
}

int main(void) {
    check_watchdog(120);
    int before = thread_count();
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    CHECK_RC(bc_engine_set(engine, "max_workers", "4")); /* a thread cap, not a cap on pending calls */

    bc_call_queue *queue = NULL;
    if (!CHECK_RC(bc_call_queue_new(&queue))) return check_summary();
    int fd = bc_call_queue_fd(queue);
    CHECK(fd >= 0, "bc_call_queue_fd gave %d", fd);
    CHECK(!readable(fd, 0), "an empty queue's descriptor is readable");
    register_queue(engine, "looped", queue);

    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return check_summary();
    CHECK_RC(bc_batch_set(batch, "workers", "100"));
    CHECK_RC(bc_batch_add_stage(batch, "looped", NULL));
    CHECK_RC(bc_batch_add_stage(batch, "looped", NULL));
    char id[32], content[32];
    for (int i = 0; i < DOCS; i++) {
        snprintf(id, sizeof id, "doc-%d", i);
        snprintf(content, sizeof content, "content-%d", i);
        CHECK_RC(bc_batch_add_content(batch, id, content, strlen(content), i % 10 == 0 ? "{\"tenth\": true}" : NULL));
    }
    CHECK_RC(bc_batch_start(batch));
    run_loop(queue, batch);
    CHECK_RC(wait_bounded(batch, 60000));

    bc_stats stats = stats_of(batch);
    CHECK(stats.ok == DOCS, "%llu of %d documents finished", (unsigned long long)stats.ok, DOCS);
    CHECK(bad_docs == 0, "%d documents reached the loop damaged", bad_docs);
    CHECK(most_taken > 4, "at most %d calls per take: the engine's max_workers (4) held back pending calls",
          most_taken);
    CHECK(takes < 2 * DOCS, "%d takes for %d calls: calls did not arrive in batches", takes, 2 * DOCS);
    CHECK(most_threads - before <= 12, "%d threads for the loop's calls", most_threads - before);

    bc_results *results = NULL;
    int checked = 0, right = 0;
    if (CHECK_RC(bc_batch_results(&results, batch))) {
        bc_result r = BC_RESULT_INIT;
        while (bc_results_next(&r, results) == 1) {
            char expected[64];
            snprintf(expected, sizeof expected, "1:0:content-%d", atoi(r.id + 4));
            char *out = output_string(&r);
            right += strcmp(out, expected) == 0;
            checked++;
            free(out);
        }
        bc_results_free(results);
    }
    CHECK(checked == DOCS && right == DOCS, "%d of %d outputs as expected", right, checked);
    CHECK(!readable(fd, 0), "the drained queue's descriptor is still readable");
    CHECK(bc_call_queue_take(queue, (bc_call *[1]){NULL}, NULL, 1) == 0, "a drained queue gave a call");
    bc_batch_free(batch);

    /* A descriptor registered without its queue: the documents fail, saying why. */
    register_queue(engine, "no-queue", NULL);
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_stage(batch, "no-queue", NULL));
        CHECK_RC(bc_batch_add_content(batch, "lonely", "x", 1, NULL));
        CHECK_RC(bc_batch_start(batch));
        CHECK_RC(wait_bounded(batch, 30000));
        CHECK(stats_of(batch).failed == 1, "the document did not fail");
        if (CHECK_RC(bc_batch_results(&results, batch))) {
            bc_result r = BC_RESULT_INIT;
            if (CHECK(bc_results_next(&r, results) == 1, "no result")) CHECK_CONTAINS(r.error, "bc_call_queue");
            bc_results_free(results);
        }
        bc_batch_free(batch);
    }

    /* Misuse. */
    CHECK_CODE(bc_call_queue_fd(NULL), BC_EINVAL);
    CHECK_CODE(bc_call_queue_new(NULL), BC_EINVAL);
    CHECK(bc_call_queue_take(NULL, (bc_call *[1]){NULL}, NULL, 1) == 0, "take from NULL");
    CHECK(bc_call_queue_take(queue, NULL, NULL, 1) == 0, "take into NULL");
    bc_call_queue_free(NULL);

    bc_engine_free(engine);
    CHECK(released == 2, "release ran %d times, not once per registration", released);
    bc_call_queue_free(queue);
    return check_summary();
}
