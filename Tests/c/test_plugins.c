/*
 * test_plugins.c — plugins loaded with dlopen, good and broken.
 *
 * Usage: test_plugins PLUGIN_DIR
 *
 * PLUGIN_DIR holds upper.so (examples/plugin/upper.c) and the broken plugins
 * of Tests/c/plugins: wrong_abi.so, newer_minor.so, older_minor.so,
 * small_struct.so, bad_create.so,
 * no_entry.so, null_entry.so, and stasher.so (keeps its call handles). The bundled `text` plugin is not in it: the
 * engine must find it next to libbatchcore.so.
 */
#include "check.h"

static const char *plugin_dir;
static char *work_dir;

/* ---- Helpers ---------------------------------------------------------- */

static bc_engine *new_engine(void) {
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return NULL;
    CHECK_RC(bc_engine_set(engine, "plugin_dir", plugin_dir));
    return engine;
}

static char *make_file(const char *name, const char *content) {
    size_t n = strlen(work_dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path == NULL) abort();
    snprintf(path, n, "%s/%s", work_dir, name);
    if (write_file(path, content, strlen(content)) != 0) CHECK(0, "cannot write %s", path);
    return path;
}

/* Runs `batch` to its end; 1 when it started and finished. */
static int run(bc_batch *batch) {
    if (!CHECK_RC(bc_batch_start(batch))) return 0;
    if (!CHECK_RC(wait_bounded(batch, 60000))) return 0;
    bc_stats s = stats_of(batch);
    return CHECK(s.state == BC_BATCH_FINISHED, "state %u", s.state);
}

/* The result of the document with this id, copied: status, output, error.
 * Returns 0 when there is no such result. */
typedef struct found {
    unsigned status;
    char *output;
    char *error;
} found;

static int find_result(found *out, bc_batch *batch, const char *id) {
    memset(out, 0, sizeof *out);
    bc_results *it = NULL;
    if (!CHECK_RC(bc_batch_results(&it, batch))) return 0;
    bc_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    int hit = 0;
    while (!hit && bc_results_next(&r, it) == 1) {
        if (r.id == NULL || strcmp(r.id, id) != 0) continue;
        hit = 1;
        out->status = r.status;
        out->output = output_string(&r);
        if (r.error != NULL) {
            out->error = malloc(strlen(r.error) + 1);
            if (out->error == NULL) abort();
            strcpy(out->error, r.error);
        }
    }
    bc_results_free(it);
    return CHECK(hit, "no result for document '%s'", id);
}

static void found_free(found *f) {
    free(f->output);
    free(f->error);
}

/* Starts a one-document batch on `processor` and expects bc_batch_start to
 * fail with `code`; returns a copy of the message (caller frees). */
static char *start_failure(bc_engine *engine, const char *processor, const char *key,
                           const char *value, int code) {
    char *file = make_file("start-failure.txt", "x\n");
    bc_batch *batch = NULL;
    char *message = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_file(batch, file, NULL, NULL));
        CHECK_RC(bc_batch_add_stage(batch, processor, NULL));
        if (key != NULL) CHECK_RC(bc_batch_set_stage(batch, NULL, key, value));
        int rc = check_capture(bc_batch_start(batch));
        message = malloc(strlen(check_msg) + 1);
        if (message == NULL) abort();
        strcpy(message, check_msg);
        CHECK(rc == code, "starting '%s' returned %d (%s), expected %d (%s); message: %s", processor, rc,
              check_name(rc), code, check_name(code), message);
        if (rc == 0) wait_bounded(batch, 10000);
        bc_batch_free(batch);
    }
    free(file);
    return message;
}

static char *plugin_path(const char *name) {
    size_t n = strlen(plugin_dir) + strlen(name) + 8;
    char *p = malloc(n);
    if (p == NULL) abort();
    snprintf(p, n, "%s/%s.so", plugin_dir, name);
    return p;
}

/* ---- (a) upper, the example plugin -------------------------------------- */

static void test_upper(void) {
    bc_engine *engine = new_engine();
    if (engine == NULL) return;
    char *hello = make_file("hello.txt", "Hello, world\n");
    char *mixed = make_file("mixed.txt", "caf\xc3\xa9 mIxEd 42");
    char *empty = make_file("empty.txt", "");

    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_stage(batch, "upper", NULL));
        CHECK_RC(bc_batch_set_stage(batch, "upper", "prefix", ">> "));
        CHECK_RC(bc_batch_add_file(batch, hello, "hello", NULL));
        CHECK_RC(bc_batch_add_file(batch, mixed, "mixed", NULL));
        CHECK_RC(bc_batch_add_file(batch, empty, "empty", NULL));
        if (run(batch)) {
            bc_stats s = stats_of(batch);
            CHECK(s.ok == 3 && s.failed == 0, "ok %llu failed %llu", (unsigned long long)s.ok,
                  (unsigned long long)s.failed);
            static const char *const ids[] = {"hello", "mixed", "empty"};
            static const char *const want[] = {">> HELLO, WORLD\n", ">> CAF\xc3\xa9 MIXED 42", ">> "};
            for (int i = 0; i < 3; i++) {
                found f;
                if (!find_result(&f, batch, ids[i])) continue;
                CHECK(f.status == BC_STATUS_OK && strcmp(f.output, want[i]) == 0,
                      "'%s': status %u output '%s', expected '%s'", ids[i], f.status, f.output, want[i]);
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }

    /* A key upper does not declare is refused at start, naming the known one. */
    char *m = start_failure(engine, "upper", "prefx", "x", BC_EOPTION);
    CHECK_CONTAINS(m, "prefx");
    CHECK_CONTAINS(m, "prefix");
    free(m);

    /* By path, too. */
    char *path = plugin_path("upper");
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_stage(batch, path, NULL));
        CHECK_RC(bc_batch_add_file(batch, hello, "hello", NULL));
        if (run(batch)) {
            found f;
            if (find_result(&f, batch, "hello")) {
                CHECK(strcmp(f.output, "HELLO, WORLD\n") == 0, "output '%s'", f.output);
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }
    free(path);

    char *listing = NULL;
    if (CHECK_RC(bc_engine_list_processors(&listing, engine))) {
        CHECK_CONTAINS(listing, "\"upper\"");
        CHECK_CONTAINS(listing, "\"text\"");
        CHECK_CONTAINS(listing, "\"prefix\"");
    }
    bc_free(listing);

    free(hello);
    free(mixed);
    free(empty);
    bc_engine_free(engine);
}

/* ---- An older minor of the ABI ----------------------------------------- */

/* A plugin built against ABI 1.0 (its descriptor is shorter and has no
 * abi_minor) loads, runs, and is read no further than its struct_size. */
static void test_older_minor(void) {
    bc_engine *engine = new_engine();
    if (engine == NULL) return;
    char *file = make_file("old.txt", "x");
    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_file(batch, file, "doc-1", NULL));
        CHECK_RC(bc_batch_add_stage(batch, "older_minor", NULL));
        CHECK_RC(bc_batch_set(batch, "token_limit", "1000000/s")); /* asks estimate() */
        if (run(batch)) {
            found f;
            if (find_result(&f, batch, "doc-1")) {
                CHECK(f.status == BC_STATUS_OK, "status %u, error %s", f.status, f.error ? f.error : "-");
                CHECK(f.output != NULL && strcmp(f.output, "old:doc-1") == 0, "output '%s'",
                      f.output ? f.output : "(null)");
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }
    char *listing = NULL;
    if (CHECK_RC(bc_engine_list_processors(&listing, engine))) {
        CHECK_CONTAINS(listing, "\"description\":\"Built against ABI 1.0\"");
        bc_free(listing);
    }
    free(file);
    bc_engine_free(engine);
}

/* ---- (b)-(d) broken plugins --------------------------------------------- */

static void test_broken_plugins(void) {
    bc_engine *engine = new_engine();
    if (engine == NULL) return;
    char built_for[64], host_speaks[64], newer[64];
    snprintf(built_for, sizeof built_for, "built for ABI %d.0", BC_PLUGIN_ABI_MAJOR + 1);
    snprintf(host_speaks, sizeof host_speaks, "this host speaks ABI %d.%d", BC_PLUGIN_ABI_MAJOR,
             BC_PLUGIN_ABI_MINOR);
    snprintf(newer, sizeof newer, "built for ABI %d.%d, newer than this host's ABI %d.%d",
             BC_PLUGIN_ABI_MAJOR, BC_PLUGIN_ABI_MINOR + 1, BC_PLUGIN_ABI_MAJOR, BC_PLUGIN_ABI_MINOR);

    /* (b) wrong ABI: by path, and by name from the plugin directory. */
    char *path = plugin_path("wrong_abi");
    char *m = start_failure(engine, path, NULL, NULL, BC_EABI);
    CHECK_CONTAINS(m, built_for);
    CHECK_CONTAINS(m, host_speaks);
    CHECK_CONTAINS(m, "wrong_abi");
    free(m);
    free(path);
    m = start_failure(engine, "wrong_abi", NULL, NULL, BC_EABI);
    CHECK_CONTAINS(m, built_for);
    CHECK_CONTAINS(m, host_speaks);
    free(m);

    /* A newer minor of this major: the plugin may rely on what this host
     * does not know; refused, saying what to do. */
    m = start_failure(engine, "newer_minor", NULL, NULL, BC_EABI);
    CHECK_CONTAINS(m, newer);
    CHECK_CONTAINS(m, "newer_minor");
    CHECK_CONTAINS(m, "upgrade batchcore");
    free(m);

    /* (c) a descriptor too small to hold the vtable. */
    path = plugin_path("small_struct");
    char *file = make_file("small.txt", "x");
    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_file(batch, file, NULL, NULL));
        CHECK_RC(bc_batch_add_stage(batch, path, NULL));
        int rc = check_capture(bc_batch_start(batch));
        CHECK(rc == BC_EABI, "small_struct: start returned %d (%s): %s", rc, check_name(rc), check_msg);
        CHECK_CONTAINS(check_msg, "small_struct");
        CHECK_CONTAINS(check_msg, "40-byte descriptor");
        if (rc == 0) wait_bounded(batch, 10000);
        bc_batch_free(batch);
    }
    free(file);
    free(path);

    /* (d) create() fails: its message reaches the host. */
    m = start_failure(engine, "bad_create", NULL, NULL, BC_EPLUGIN);
    CHECK_CONTAINS(m, "bad_create: cannot reach the model server at 127.0.0.1:9");
    free(m);

    /* Shared objects that are not plugins. */
    path = plugin_path("no_entry");
    m = start_failure(engine, path, NULL, NULL, BC_EPLUGIN);
    CHECK_CONTAINS(m, "batchcore_plugin_entry");
    free(m);
    free(path);
    path = plugin_path("null_entry");
    m = start_failure(engine, path, NULL, NULL, BC_EPLUGIN);
    CHECK_CONTAINS(m, "null_entry");
    free(m);
    free(path);

    /* A file that is not a shared object at all. */
    char *junk = make_file("junk.so", "this is not an ELF file\n");
    m = start_failure(engine, junk, NULL, NULL, BC_EPLUGIN);
    CHECK_CONTAINS(m, "junk.so");
    free(m);
    free(junk);

    /* Broken neighbours do not stop a good plugin from loading. */
    char *hello = make_file("neighbours.txt", "ok");
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_stage(batch, "upper", NULL));
        CHECK_RC(bc_batch_add_file(batch, hello, "n", NULL));
        if (run(batch)) {
            found f;
            if (find_result(&f, batch, "n")) {
                CHECK(strcmp(f.output, "OK") == 0, "output '%s'", f.output);
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }
    free(hello);
    bc_engine_free(engine);
}

/* ---- (e) the bundled text plugin ---------------------------------------- */

static void test_text(void) {
    bc_engine *engine = new_engine();
    if (engine == NULL) return;
    /* 23 bytes, 2 lines, 4 words, 21 code points. */
    char *file = make_file("words.txt", "h\xc3\xa9llo w\xc3\xb6rld\nline two\n");
    size_t n = strlen(work_dir) + 32;
    char *missing = malloc(n);
    if (missing == NULL) abort();
    snprintf(missing, n, "%s/does-not-exist.txt", work_dir);

    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_stage(batch, "text", NULL));
        CHECK_RC(bc_batch_add_file(batch, file, "words", NULL));
        CHECK_RC(bc_batch_add_file(batch, missing, "missing", NULL));
        CHECK_RC(bc_batch_add_file(batch, work_dir, "directory", NULL));
        if (run(batch)) {
            bc_stats s = stats_of(batch);
            CHECK(s.ok == 1 && s.failed == 2, "ok %llu failed %llu", (unsigned long long)s.ok,
                  (unsigned long long)s.failed);
            found f;
            if (find_result(&f, batch, "words")) {
                CHECK(f.status == BC_STATUS_OK, "status %u error %s", f.status, f.error ? f.error : "-");
                CHECK_CONTAINS(f.output, "\"sha256\":\"b674b8d9640facb5f8667549ea9de7009327fcd3c65495719c2a81489ff4d3c2\"");
                CHECK_CONTAINS(f.output, "\"bytes\":23");
                CHECK_CONTAINS(f.output, "\"lines\":2");
                CHECK_CONTAINS(f.output, "\"words\":4");
                CHECK_CONTAINS(f.output, "\"characters\":21");
                CHECK_CONTAINS(f.output, "\"encoding\":\"utf-8\"");
                found_free(&f);
            }
            if (find_result(&f, batch, "missing")) {
                CHECK(f.status == BC_STATUS_FAILED, "missing file: status %u", f.status);
                CHECK_CONTAINS(f.error, "cannot read");
                CHECK_CONTAINS(f.error, missing);
                found_free(&f);
            }
            if (find_result(&f, batch, "directory")) {
                CHECK(f.status == BC_STATUS_FAILED, "directory: status %u", f.status);
                CHECK_CONTAINS(f.error, work_dir);
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }

    /* max_bytes: a document over the limit fails; a bad value stops the start. */
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_stage(batch, "text", NULL));
        CHECK_RC(bc_batch_set_stage(batch, "text", "max_bytes", "10"));
        CHECK_RC(bc_batch_add_file(batch, file, "words", NULL));
        if (run(batch)) {
            found f;
            if (find_result(&f, batch, "words")) {
                CHECK(f.status == BC_STATUS_FAILED, "over max_bytes: status %u", f.status);
                CHECK_CONTAINS(f.error, "max_bytes");
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }
    char *m = start_failure(engine, "text", "max_bytes", "lots", BC_EPLUGIN);
    CHECK_CONTAINS(m, "max_bytes");
    CHECK_CONTAINS(m, "lots");
    free(m);
    m = start_failure(engine, "text", "bogus", "1", BC_EOPTION);
    CHECK_CONTAINS(m, "bogus");
    CHECK_CONTAINS(m, "max_bytes");
    free(m);

    /* A pipeline: text describes upper's output, not the file. */
    char *hello = make_file("pipeline.txt", "hello world\n");
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_stage(batch, "upper", NULL));
        CHECK_RC(bc_batch_add_stage(batch, "text", NULL));
        CHECK_RC(bc_batch_add_file(batch, hello, "p", NULL));
        if (run(batch)) {
            found f;
            if (find_result(&f, batch, "p")) {
                /* sha256 of "HELLO WORLD\n" */
                CHECK_CONTAINS(f.output, "\"sha256\":\"2949725604dd9eef82100f8ff39fcced9d3682700ee2fb5c4205e3e584defee6\"");
                CHECK_CONTAINS(f.output, "\"bytes\":12");
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }
    free(hello);

    free(file);
    free(missing);
    bc_engine_free(engine);
}

/* ---- (d) usage, prices, cost, timeouts ---------------------------------- */

/* A batch of `n` documents named doc-N (and stuck-N when `stuck`) on the
 * metered plugin, with batch options as key/value pairs ending with NULL. */
static bc_batch *metered_batch(bc_engine *engine, int n, const char *const *options) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return NULL;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s-%d", i == 0 && options != NULL && options[0] != NULL &&
                 strcmp(options[0], "timeout") == 0 ? "stuck" : "doc", i);
        char *file = make_file(id, "text\n");
        CHECK_RC(bc_batch_add_file(batch, file, id, NULL));
        free(file);
    }
    CHECK_RC(bc_batch_add_stage(batch, "metered", NULL));
    CHECK_RC(bc_batch_set_stage(batch, NULL, "stuck", "stuck"));
    for (const char *const *o = options; o != NULL && o[0] != NULL; o += 2) CHECK_RC(bc_batch_set(batch, o[0], o[1]));
    return batch;
}

static void test_metered(void) {
    bc_engine *engine = new_engine();
    if (engine == NULL) return;

    /* The plugin's list price turns its usage into cost. */
    bc_batch *batch = metered_batch(engine, 10, NULL);
    if (batch != NULL && run(batch)) {
        bc_stats s = stats_of(batch);
        CHECK(s.input_tokens == 1000 && s.output_tokens == 500, "tokens %llu/%llu",
              (unsigned long long)s.input_tokens, (unsigned long long)s.output_tokens);
        CHECK(s.units == 20, "units %llu", (unsigned long long)s.units);
        double expected = 10 * (100 * 2.0 + 50 * 8.0) / 1e6;
        CHECK(s.cost_usd > expected - 1e-12 && s.cost_usd < expected + 1e-12, "cost %.9f, expected %.9f",
              s.cost_usd, expected);
        CHECK(s.estimated_total_cost_usd > expected - 1e-12 && s.estimated_total_cost_usd < expected + 1e-12,
              "estimated total %.9f", s.estimated_total_cost_usd);
    }
    bc_batch_free(batch);

    /* In worker processes, create() runs in the child: its list price still reaches the engine. */
    const char *const isolated[] = {"isolation", "process", "workers", "2", NULL};
    batch = metered_batch(engine, 6, isolated);
    if (batch != NULL && run(batch)) {
        bc_stats s = stats_of(batch);
        double expected = 6 * (100 * 2.0 + 50 * 8.0) / 1e6;
        CHECK(s.cost_usd > expected - 1e-12 && s.cost_usd < expected + 1e-12 && s.units == 12,
              "isolated cost %.9f, expected %.9f; units %llu", s.cost_usd, expected, (unsigned long long)s.units);
    }
    bc_batch_free(batch);

    /* The user's prices win over the plugin's. */
    const char *const priced[] = {"price.input", "10", "price.output", "0", NULL};
    batch = metered_batch(engine, 4, priced);
    if (batch != NULL && run(batch)) {
        bc_stats s = stats_of(batch);
        double expected = 4 * 100 * 10.0 / 1e6;
        CHECK(s.cost_usd > expected - 1e-12 && s.cost_usd < expected + 1e-12, "cost %.9f, expected %.9f",
              s.cost_usd, expected);
    }
    bc_batch_free(batch);

    /* A budget of 3 documents' worth stops the batch, cancelled, below it. */
    const char *const budgeted[] = {"budget", "0.0018", "workers", "1", NULL};
    batch = metered_batch(engine, 10, budgeted);
    if (batch != NULL && CHECK_RC(bc_batch_start(batch)) && CHECK_RC(wait_bounded(batch, 60000))) {
        bc_stats s = stats_of(batch);
        CHECK(s.state == BC_BATCH_CANCELLED && s.budget_reached == 1, "state %u, budget_reached %u", s.state,
              s.budget_reached);
        CHECK(s.ok == 3 && s.cost_usd <= 0.0018 + 1e-12, "ok %llu, cost %.6f", (unsigned long long)s.ok, s.cost_usd);
    }
    bc_batch_free(batch);

    /* A call past its timeout sees is_cancelled, returns, and counts as a timeout. */
    const char *const timed[] = {"timeout", "50ms", "retry.attempts", "2", "retry.base", "0", NULL};
    batch = metered_batch(engine, 3, timed);
    if (batch != NULL && CHECK_RC(bc_batch_start(batch)) && CHECK_RC(wait_bounded(batch, 60000))) {
        bc_stats s = stats_of(batch);
        CHECK(s.ok == 2 && s.failed == 1 && s.timeouts == 2, "ok %llu failed %llu timeouts %llu",
              (unsigned long long)s.ok, (unsigned long long)s.failed, (unsigned long long)s.timeouts);
        found f;
        if (find_result(&f, batch, "stuck-0")) {
            CHECK(f.error != NULL && strcmp(f.error, "gave up after 2 attempts: timed out after 50ms") == 0,
                  "error %s", f.error ? f.error : "(null)");
            found_free(&f);
        }
    }
    bc_batch_free(batch);
    bc_engine_free(engine);
}

/* ---- (f) isolation=process ---------------------------------------------- */

static int host_noop(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)call;
    (void)doc;
    (void)user_data;
    return BC_OUTCOME_DONE;
}

/* The engine finds batchcore-worker beside libbatchcore.so by itself. */
static void test_isolation(void) {
    bc_engine *engine = new_engine();
    if (engine == NULL) return;
    char *hello = make_file("iso-hello.txt", "Hello\n");
    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_set(batch, "isolation", "process"));
        CHECK_RC(bc_batch_set(batch, "worker.max_documents", "1"));
        CHECK_RC(bc_batch_add_stage(batch, "upper", NULL));
        CHECK_RC(bc_batch_add_file(batch, hello, "a", NULL));
        CHECK_RC(bc_batch_add_file(batch, hello, "b", NULL));
        if (run(batch)) {
            for (int i = 0; i < 2; i++) {
                found f;
                if (!find_result(&f, batch, i == 0 ? "a" : "b")) continue;
                CHECK(f.status == BC_STATUS_OK && strcmp(f.output, "HELLO\n") == 0, "status %u output '%s'",
                      f.status, f.output);
                found_free(&f);
            }
        }
        bc_batch_free(batch);
    }

    /* A host processor lives in this process: it cannot move to a worker. */
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = "host_noop";
    def.process = host_noop;
    CHECK_RC(bc_engine_register_processor(engine, &def));
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_set(batch, "isolation", "process"));
        CHECK_RC(bc_batch_add_stage(batch, "host_noop", NULL));
        CHECK_RC(bc_batch_add_file(batch, hello, "a", NULL));
        CHECK_CODE(bc_batch_start(batch), BC_EOPTION);
        CHECK_CONTAINS(check_msg, "cannot run with isolation=process");
        bc_batch_free(batch);
    }
    free(hello);
    bc_engine_free(engine);
}

/* ---- (g) a call handle kept past its call ------------------------------- */

/* The stasher plugin uses each call's handle again, from its own thread,
 * while the next document's process() runs: every use is refused with
 * BC_ESTATE and nothing reaches the next document, in either isolation. */
static void test_stale_call(const char *isolation) {
    enum { N = 12 };
    bc_engine *engine = new_engine();
    if (engine == NULL) return;
    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_set(batch, "isolation", isolation));
        CHECK_RC(bc_batch_set(batch, "workers", "1"));
        CHECK_RC(bc_batch_add_stage(batch, "stasher", NULL));
        for (int i = 0; i < N; i++) {
            char id[32];
            snprintf(id, sizeof id, "doc-%02d", i);
            char *file = make_file(id, "text\n");
            CHECK_RC(bc_batch_add_file(batch, file, id, NULL));
            free(file);
        }
        if (run(batch)) {
            bc_stats s = stats_of(batch);
            CHECK(s.ok == N && s.input_tokens == N && s.output_tokens == N && s.units == 0,
                  "%s: ok %llu, tokens %llu/%llu, units %llu: a stale handle reached another document", isolation,
                  (unsigned long long)s.ok, (unsigned long long)s.input_tokens,
                  (unsigned long long)s.output_tokens, (unsigned long long)s.units);
            bc_results *it = NULL;
            int refused = 0, first = 0;
            if (CHECK_RC(bc_batch_results(&it, batch))) {
                bc_result r;
                memset(&r, 0, sizeof r);
                r.struct_size = sizeof r;
                while (bc_results_next(&r, it) == 1) {
                    char *out = output_string(&r);
                    char own[64];
                    snprintf(own, sizeof own, "%s ", r.id);
                    CHECK(strncmp(out, own, strlen(own)) == 0 && r.error == NULL && r.input_tokens == 1,
                          "%s: %s has output '%s', error %s, %llu input tokens", isolation, r.id, out,
                          r.error ? r.error : "(none)", (unsigned long long)r.input_tokens);
                    if (strstr(out, " first") != NULL) first++;
                    if (strstr(out, " stale:-8,-8,-8,-8,-8,-8") != NULL) refused++;
                    free(out);
                }
                bc_results_free(it);
            }
            CHECK(first == 1 && refused == N - 1, "%s: %d of %d stale uses refused with BC_ESTATE (%d first)",
                  isolation, refused, N - 1, first);
        }
        bc_batch_free(batch);
    }
    bc_engine_free(engine);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    check_watchdog(180);
    plugin_dir = argv[1];
    work_dir = make_temp_dir("plugins");

    test_upper();
    test_broken_plugins();
    test_older_minor();
    test_text();
    test_metered();
    test_isolation();
    test_stale_call("thread");
    test_stale_call("process");

    remove_temp_dir(work_dir);
    free(work_dir);
    return check_summary();
}
