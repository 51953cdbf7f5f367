/*
 * test_redis.c — distributed batches from C, against a redis-server of its own.
 *
 *  - a batch configured with bc_batch_* is submitted with bc_redis_submit
 *    (its stage names a processor the host registers), bc_redis_status
 *    finds it open with every document, a worker started with
 *    bc_redis_worker_start on another engine (which registered the same
 *    processor) runs it, and bc_redis_collect gives each document once;
 *  - bc_redis_collect stops when the callback returns non-zero;
 *  - a bad URL is BC_EINVAL, a refused server BC_EIO naming it, an unknown
 *    batch BC_ENOTFOUND, a document held in memory BC_EINPUT, and the
 *    submission of a batch without stages BC_ESTATE.
 */
#include "check.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#define DOCS 30

static int reverse_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)user_data;
    char out[256];
    size_t n = strlen(doc->id);
    if (n >= sizeof out) n = sizeof out - 1;
    for (size_t i = 0; i < n; i++) out[i] = doc->id[n - 1 - i];
    bc_call_set_output(call, out, n);
    return BC_OUTCOME_DONE;
}

static bc_engine *engine_with_reverse(void) {
    bc_engine *engine = NULL;
    CHECK_RC(bc_engine_new(&engine));
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "reverse";
    def.process = reverse_process;
    CHECK_RC(bc_engine_register_processor(engine, &def));
    return engine;
}

/* ---- A redis-server on a free loopback port ------------------------------ */

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        perror("free_port");
        exit(2);
    }
    close(s);
    return ntohs(a.sin_port);
}

static pid_t start_redis(int port, const char *dir) {
    char port_text[16], log[512];
    snprintf(port_text, sizeof port_text, "%d", port);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/redis-server", "redis-server", "--port", port_text, "--bind", "127.0.0.1", "--dir", dir,
              "--save", "", "--appendonly", "no", "--logfile", log, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits (bounded) until the server answers: status of every batch succeeds. */
static int redis_ready(const char *url) {
    for (int i = 0; i < 400; i++) {
        char *json = NULL;
        if (bc_redis_status(&json, url, NULL) == 0) {
            bc_free(json);
            return 1;
        }
        sleep_ms(25);
    }
    return 0;
}

/* ---- Collecting ------------------------------------------------------------- */

typedef struct seen {
    int count[DOCS];
    int lines, bad;
} seen;

static int take_line(const char *line, size_t len, void *user_data) {
    seen *s = user_data;
    char copy[1024];
    if (len >= sizeof copy) len = sizeof copy - 1;
    memcpy(copy, line, len);
    copy[len] = '\0';
    s->lines++;
    const char *id = strstr(copy, "\"id\":\"doc-");
    int n = -1;
    if (id == NULL || sscanf(id + 10, "%d", &n) != 1 || n < 0 || n >= DOCS || strstr(copy, "\"status\":\"ok\"") == NULL) {
        s->bad++;
        fprintf(stderr, "unexpected line: %s\n", copy);
        return 0;
    }
    s->count[n]++;
    return 0;
}

static int stop_at_first(const char *line, size_t len, void *user_data) {
    (void)line;
    (void)len;
    (*(int *)user_data)++;
    return 1;
}

static char *submit_docs(const char *url, const char *dir) {
    bc_engine *engine = engine_with_reverse();
    bc_batch *batch = NULL;
    CHECK_RC(bc_batch_new(&batch, engine));
    CHECK_RC(bc_batch_add_stage(batch, "reverse", NULL));
    CHECK_RC(bc_batch_set(batch, "retry.attempts", "2"));
    for (int i = 0; i < DOCS; i++) {
        char path[512], id[32];
        snprintf(path, sizeof path, "%s/doc-%02d.txt", dir, i);
        snprintf(id, sizeof id, "doc-%02d", i);
        write_file(path, "x\n", 2);
        CHECK_RC(bc_batch_add_file(batch, path, id, NULL));
    }
    char *id = NULL;
    CHECK_RC(bc_redis_submit(&id, batch, url, 5000));
    bc_batch_free(batch);
    bc_engine_free(engine);
    return id;
}

static int state_is(const char *url, const char *id, const char *state) {
    char *json = NULL;
    if (bc_redis_status(&json, url, id) != 0) return 0;
    char want[64];
    snprintf(want, sizeof want, "\"state\":\"%s\"", state);
    int found = strstr(json, want) != NULL;
    bc_free(json);
    return found;
}

static void test_submit_work_collect(const char *url, const char *dir) {
    char *id = submit_docs(url, dir);
    CHECK(id != NULL && strncmp(id, "b-", 2) == 0, "batch id %s", id ? id : "(NULL)");
    if (id == NULL) return;
    char *json = NULL;
    CHECK_RC(bc_redis_status(&json, url, id));
    CHECK_CONTAINS(json, "\"total\":30");
    CHECK_CONTAINS(json, "\"state\":\"open\"");
    bc_free(json);

    bc_engine *engine = engine_with_reverse();
    bc_redis_worker *worker = NULL;
    CHECK_RC(bc_redis_worker_start(&worker, engine, url, 3, NULL, 1));
    int finished = 0;
    for (int i = 0; i < 1200 && !finished; i++) {
        finished = state_is(url, id, "finished");
        if (!finished) sleep_ms(50);
    }
    CHECK(finished, "batch %s finished within a minute", id);
    CHECK_RC(bc_redis_worker_stop(worker, BC_CANCEL_GRACEFUL));
    bc_redis_worker_free(worker);
    bc_engine_free(engine);

    seen s;
    memset(&s, 0, sizeof s);
    CHECK_RC(bc_redis_collect(url, id, 0, take_line, &s));
    CHECK(s.lines == DOCS && s.bad == 0, "%d lines, %d unexpected", s.lines, s.bad);
    int once = 1;
    for (int i = 0; i < DOCS; i++) once &= s.count[i] == 1;
    CHECK(once, "every document collected exactly once");

    int calls = 0;
    CHECK_RC(bc_redis_collect(url, id, 0, stop_at_first, &calls));
    CHECK(calls == 1, "collect stopped after the first line (%d calls)", calls);
    memset(&s, 0, sizeof s);
    CHECK_RC(bc_redis_collect(url, id, 1, take_line, &s));
    CHECK(s.lines == 0, "no failed documents (%d)", s.lines);
    bc_free(id);
}

static void test_errors(const char *url) {
    char *json = NULL;
    CHECK_CODE(bc_redis_status(&json, "http://localhost", NULL), BC_EINVAL);
    CHECK_CODE(bc_redis_status(&json, "redis://127.0.0.1:1", NULL), BC_EIO);
    CHECK_CONTAINS(check_msg, "127.0.0.1:1");
    CHECK_CODE(bc_redis_status(&json, url, "b-none"), BC_ENOTFOUND);
    int calls = 0;
    CHECK_CODE(bc_redis_collect(url, "b-none", 0, stop_at_first, &calls), BC_ENOTFOUND);
    CHECK_CONTAINS(check_msg, "no batch 'b-none'");

    bc_engine *engine = engine_with_reverse();
    bc_batch *batch = NULL;
    char *id = NULL;
    CHECK_RC(bc_batch_new(&batch, engine));
    CHECK_RC(bc_batch_add_content(batch, "a", "hello", 5, NULL));
    CHECK_CODE(bc_redis_submit(&id, batch, url, 0), BC_ESTATE);  /* no stage yet */
    CHECK_RC(bc_batch_add_stage(batch, "reverse", NULL));
    CHECK_CODE(bc_redis_submit(&id, batch, url, 0), BC_EINPUT);
    CHECK_CONTAINS(check_msg, "held in memory");
    bc_batch_free(batch);
    bc_engine_free(engine);
}

int main(void) {
    check_watchdog(240);
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        fprintf(stderr, "test_redis: /usr/bin/redis-server is missing: install Debian's redis-server\n");
        CHECK(0, "%s", "redis-server installed");
        return check_summary();
    }
    char *dir = make_temp_dir("redis");
    int port = free_port();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    pid_t server = start_redis(port, dir);
    if (CHECK(redis_ready(url), "redis-server answers at %s", url)) {
        test_submit_work_collect(url, dir);
        test_errors(url);
    }
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    remove_temp_dir(dir);
    free(dir);
    return check_summary();
}
