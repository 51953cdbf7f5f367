/*
 * test_options.c — bad input through the C API gets a clear error, never a
 * crash: unknown and invalid options, unknown processors, malformed
 * manifests, NULL handles, calls in the wrong state.
 */
#include "check.h"

#include <sys/stat.h>

static int noop_process(bc_call *call, const bc_doc *doc, void *user_data) {
    (void)call;
    (void)doc;
    (void)user_data;
    return BC_OUTCOME_DONE;
}

static bc_processor_def noop_def(const char *name) {
    bc_processor_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    def.name = name;
    def.process = noop_process;
    return def;
}

/* ---- Options ---------------------------------------------------------- */

static void test_batch_options(bc_engine *engine) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;

    CHECK_CODE(bc_batch_set(batch, "no_such_option", "1"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "no_such_option");

    /* A near miss is suggested. */
    CHECK_CODE(bc_batch_set(batch, "wrkers", "4"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "wrkers");
    CHECK_CONTAINS(check_msg, "workers");

    CHECK_CODE(bc_batch_set(batch, "workers", "abc"), BC_EOPTION);
    const char *m = check_msg;
    CHECK_CONTAINS(m, "workers");
    CHECK_CONTAINS(m, "abc");
    CHECK_CONTAINS(m, "expected");

    CHECK_CODE(bc_batch_set(batch, "workers", "0"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "expected");
    CHECK_CODE(bc_batch_set(batch, "workers", "-3"), BC_EOPTION);
    CHECK_CODE(bc_batch_set(batch, "workers", ""), BC_EOPTION);
    CHECK_CODE(bc_batch_set(batch, "retry.base", "soon"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "retry.base");

    CHECK_RC(bc_batch_set(batch, "workers", "8"));
    CHECK_RC(bc_batch_set(batch, "retry.base", "250ms"));
    CHECK_RC(bc_batch_set(batch, "sequential", "false"));

    char *json = NULL;
    if (CHECK_RC(bc_options_describe(&json))) {
        CHECK_CONTAINS(json, "\"workers\"");
        CHECK_CONTAINS(json, "\"retry.attempts\"");
        CHECK(json != NULL && json[0] == '[', "bc_options_describe is not a JSON array: %s", json ? json : "(NULL)");
    }
    bc_free(json);

    bc_batch_free(batch);
}

static void test_engine_options(bc_engine *engine) {
    CHECK_CODE(bc_engine_set(engine, "max_workers", "0"), BC_EOPTION);
    const char *m = check_msg;
    CHECK_CONTAINS(m, "max_workers");
    CHECK_CONTAINS(m, "0");
    CHECK_CONTAINS(m, "expected");

    CHECK_CODE(bc_engine_set(engine, "max_workers", "lots"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "lots");

    CHECK_CODE(bc_engine_set(engine, "no_such_engine_option", "1"), BC_EOPTION);
    CHECK_CONTAINS(check_msg, "no_such_engine_option");

    CHECK_RC(bc_engine_set(engine, "max_workers", "64"));
}

/* ---- Processors -------------------------------------------------------- */

static void test_unknown_processor(bc_engine *engine, const char *dir) {
    char file[4096];
    snprintf(file, sizeof file, "%s/one.txt", dir);
    write_file(file, "one\n", 4);

    /* A plugin directory of our own: the message must list it. */
    char plugins[4096];
    snprintf(plugins, sizeof plugins, "%s/plugins", dir);
    CHECK(mkdir(plugins, 0755) == 0, "mkdir %s", plugins);
    CHECK_RC(bc_engine_set(engine, "plugin_dir", plugins));

    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_add_file(batch, file, NULL, NULL));
    /* Resolved at start, not here. */
    CHECK_RC(bc_batch_add_stage(batch, "no-such-processor-xyz", NULL));
    CHECK_CODE(bc_batch_start(batch), BC_ENOTFOUND);
    const char *m = check_msg;
    CHECK_CONTAINS(m, "no-such-processor-xyz");
    CHECK_CONTAINS(m, "looked");
    CHECK_CONTAINS(m, plugins);

    /* Nothing ran. */
    bc_stats s = stats_of(batch);
    CHECK(s.state == BC_BATCH_NEW, "state %u after a failed start", s.state);
    CHECK(s.ok + s.failed + s.attempts == 0, "ok %llu failed %llu attempts %llu after a failed start",
          (unsigned long long)s.ok, (unsigned long long)s.failed, (unsigned long long)s.attempts);
    bc_batch_free(batch);

    /* A stage label that does not exist. */
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_add_stage(batch, "noop", "first"));
    CHECK_CODE(bc_batch_set_stage(batch, "second", "key", "value"), BC_ENOTFOUND);
    CHECK_CONTAINS(check_msg, "second");
    bc_batch_free(batch);

    /* A path to a plugin file that does not exist. */
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/missing-plugin.so", dir);
    CHECK_RC(bc_batch_add_file(batch, file, NULL, NULL));
    CHECK_RC(bc_batch_add_stage(batch, missing, NULL));
    int rc = check_capture(bc_batch_start(batch));
    CHECK(rc == BC_ENOTFOUND || rc == BC_EPLUGIN, "start with a missing plugin file returned %d (%s)",
          rc, check_name(rc));
    CHECK_CONTAINS(check_msg, missing);
    bc_batch_free(batch);

    /* A batch without stages cannot start. */
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_add_file(batch, file, NULL, NULL));
    rc = check_capture(bc_batch_start(batch));
    CHECK(rc < 0, "a batch without stages started");
    CHECK(check_msg[0] != '\0', "no message for a batch without stages");
    bc_batch_free(batch);
}

/* ---- Sources ----------------------------------------------------------- */

static void test_manifests(bc_engine *engine, const char *dir) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;

    char path[4096];
    const char *lines = "{\"path\": \"a.txt\", \"id\": \"a\"}\n"
                        "{\"path\": \"b.txt\", \"id\": \n"
                        "{\"path\": \"c.txt\"}\n";
    snprintf(path, sizeof path, "%s/broken.jsonl", dir);
    write_file(path, lines, strlen(lines));
    CHECK_CODE(bc_batch_add_manifest(batch, path), BC_EINPUT);
    const char *m = check_msg;
    CHECK_CONTAINS(m, "broken.jsonl");
    CHECK(strstr(m, "line 2") != NULL || strstr(m, ":2") != NULL,
          "the message does not name line 2: %s", m);

    /* An entry needs a "path", or at least an "id" (a document without a file). */
    const char *nopath = "{\"path\": \"a.txt\"}\n{\"metadata\": {}}\n";
    snprintf(path, sizeof path, "%s/nopath.jsonl", dir);
    write_file(path, nopath, strlen(nopath));
    CHECK_CODE(bc_batch_add_manifest(batch, path), BC_EINPUT);
    m = check_msg;
    CHECK_CONTAINS(m, "nopath.jsonl");
    CHECK_CONTAINS(m, "path");

    const char *array = "[{\"path\": \"a.txt\"}, {\"path\": 42}]";
    snprintf(path, sizeof path, "%s/array.json", dir);
    write_file(path, array, strlen(array));
    CHECK_CODE(bc_batch_add_manifest(batch, path), BC_EINPUT);
    CHECK_CONTAINS(check_msg, "array.json");

    const char *notjson = "this is not json";
    snprintf(path, sizeof path, "%s/garbage.json", dir);
    write_file(path, notjson, strlen(notjson));
    CHECK_CODE(bc_batch_add_manifest(batch, path), BC_EINPUT);
    CHECK_CONTAINS(check_msg, "garbage.json");

    snprintf(path, sizeof path, "%s/absent.jsonl", dir);
    int rc = check_capture(bc_batch_add_manifest(batch, path));
    CHECK(rc == BC_ENOTFOUND || rc == BC_EIO, "a missing manifest returned %d (%s)", rc, check_name(rc));
    CHECK_CONTAINS(check_msg, "absent.jsonl");

    snprintf(path, sizeof path, "%s/no-such-dir", dir);
    CHECK_CODE(bc_batch_add_dir(batch, path, NULL), BC_ENOTFOUND);
    CHECK_CONTAINS(check_msg, "no-such-dir");

    snprintf(path, sizeof path, "%s/x.txt", dir);
    rc = check_capture(bc_batch_add_file(batch, path, NULL, "not json"));
    CHECK(rc == BC_EINPUT || rc == BC_EINVAL, "metadata that is not JSON returned %d (%s)", rc, check_name(rc));
    CHECK_CONTAINS(check_msg, "metadata");
    rc = bc_batch_add_file(batch, path, NULL, "[1, 2]");
    CHECK(rc == BC_EINPUT || rc == BC_EINVAL, "metadata that is not an object returned %d (%s)", rc,
          check_name(rc));

    bc_batch_free(batch);
}

/* ---- NULL handles and arguments ------------------------------------------ */

/* Called as expect_einval(bc_x(...), "..."): the message is read before any
 * other batchcore call. */
static void expect_einval(int rc, const char *what) {
    check_capture(rc);
    CHECK(rc == BC_EINVAL, "%s returned %d (%s), expected BC_EINVAL", what, rc, check_name(rc));
    CHECK(check_msg[0] != '\0', "%s: empty message", what);
}

static void test_null_arguments(bc_engine *engine) {
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    bc_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    bc_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    bc_results *it = NULL;
    char *json = NULL;
    bc_batch *b2 = NULL;

    expect_einval(bc_engine_new(NULL), "bc_engine_new(NULL)");
    expect_einval(bc_engine_set(NULL, "max_workers", "4"), "bc_engine_set(NULL engine)");
    expect_einval(bc_engine_set(engine, NULL, "4"), "bc_engine_set(NULL key)");
    expect_einval(bc_engine_set(engine, "max_workers", NULL), "bc_engine_set(NULL value)");
    expect_einval(bc_engine_register_processor(NULL, NULL), "bc_engine_register_processor(NULL, NULL)");
    expect_einval(bc_engine_register_processor(engine, NULL), "bc_engine_register_processor(engine, NULL)");
    bc_processor_def def = noop_def(NULL);
    expect_einval(bc_engine_register_processor(engine, &def), "register with a NULL name");
    def = noop_def("no-process");
    def.process = NULL;
    expect_einval(bc_engine_register_processor(engine, &def), "register with a NULL process");
    expect_einval(bc_engine_list_processors(NULL, engine), "bc_engine_list_processors(NULL out)");
    expect_einval(bc_engine_list_processors(&json, NULL), "bc_engine_list_processors(NULL engine)");
    expect_einval(bc_options_describe(NULL), "bc_options_describe(NULL)");

    expect_einval(bc_batch_new(NULL, engine), "bc_batch_new(NULL out)");
    expect_einval(bc_batch_new(&b2, NULL), "bc_batch_new(NULL engine)");
    CHECK(b2 == NULL, "bc_batch_new with a NULL engine produced a batch");
    expect_einval(bc_batch_set(NULL, "workers", "2"), "bc_batch_set(NULL batch)");
    expect_einval(bc_batch_set(batch, NULL, "2"), "bc_batch_set(NULL key)");
    expect_einval(bc_batch_set(batch, "workers", NULL), "bc_batch_set(NULL value)");
    expect_einval(bc_batch_add_stage(NULL, "noop", NULL), "bc_batch_add_stage(NULL batch)");
    expect_einval(bc_batch_add_stage(batch, NULL, NULL), "bc_batch_add_stage(NULL processor)");
    expect_einval(bc_batch_set_stage(NULL, NULL, "k", "v"), "bc_batch_set_stage(NULL batch)");
    expect_einval(bc_batch_add_file(NULL, "/tmp/x", NULL, NULL), "bc_batch_add_file(NULL batch)");
    expect_einval(bc_batch_add_file(batch, NULL, NULL, NULL), "bc_batch_add_file(NULL path)");
    expect_einval(bc_batch_add_dir(NULL, "/tmp", NULL), "bc_batch_add_dir(NULL batch)");
    expect_einval(bc_batch_add_dir(batch, NULL, NULL), "bc_batch_add_dir(NULL dir)");
    expect_einval(bc_batch_add_manifest(NULL, "m.jsonl"), "bc_batch_add_manifest(NULL batch)");
    expect_einval(bc_batch_add_manifest(batch, NULL), "bc_batch_add_manifest(NULL path)");
    expect_einval(bc_batch_add_list(NULL, "-"), "bc_batch_add_list(NULL batch)");
    expect_einval(bc_batch_add_list(batch, NULL), "bc_batch_add_list(NULL path)");
    expect_einval(bc_batch_set_event_callback(NULL, NULL, NULL), "bc_batch_set_event_callback(NULL batch)");
    expect_einval(bc_batch_start(NULL), "bc_batch_start(NULL)");
    expect_einval(bc_batch_wait(NULL, 0), "bc_batch_wait(NULL)");
    expect_einval(bc_batch_cancel(NULL, BC_CANCEL_GRACEFUL), "bc_batch_cancel(NULL)");
    expect_einval(bc_batch_stats(NULL, batch), "bc_batch_stats(NULL out)");
    expect_einval(bc_batch_stats(&st, NULL), "bc_batch_stats(NULL batch)");
    expect_einval(bc_batch_results(NULL, batch), "bc_batch_results(NULL out)");
    expect_einval(bc_batch_results(&it, NULL), "bc_batch_results(NULL batch)");
    expect_einval(bc_results_next(&r, NULL), "bc_results_next(NULL iterator)");

    /* bc_call_* outside a call, with a NULL call. */
    expect_einval(bc_call_set_output(NULL, "x", 1), "bc_call_set_output(NULL)");
    expect_einval(bc_call_set_error(NULL, "x"), "bc_call_set_error(NULL)");

    /* Freeing NULL is a no-op. */
    bc_engine_free(NULL);
    bc_batch_free(NULL);
    bc_results_free(NULL);
    bc_free(NULL);
    CHECK(bc_error_message() != NULL, "bc_error_message() is NULL");
    CHECK(bc_error_name(-9999) != NULL, "bc_error_name of an unknown code is NULL");
    CHECK(bc_error_name(BC_OK) != NULL, "bc_error_name(BC_OK) is NULL");
    CHECK(bc_host_api_get() != NULL && bc_host_api_get()->abi_version == BC_PLUGIN_ABI_MAJOR,
          "bc_host_api_get() is NULL or speaks another ABI");

    bc_batch_free(batch);
}

/* ---- States ------------------------------------------------------------ */

static void ignore_event(const bc_event *event, void *user_data) {
    (void)event;
    (void)user_data;
}

static void test_states(bc_engine *engine, const char *dir) {
    char file[4096];
    snprintf(file, sizeof file, "%s/state.txt", dir);
    write_file(file, "s", 1);

    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    CHECK_RC(bc_batch_add_stage(batch, "noop", NULL));
    CHECK_RC(bc_batch_add_file(batch, file, NULL, NULL));
    if (!CHECK_RC(bc_batch_start(batch))) {
        bc_batch_free(batch);
        return;
    }
    CHECK_CODE(bc_batch_start(batch), BC_ESTATE);
    CHECK_CODE(bc_batch_set(batch, "workers", "2"), BC_ESTATE);
    CHECK_CONTAINS(check_msg, "workers");
    CHECK_CODE(bc_batch_add_stage(batch, "noop", NULL), BC_ESTATE);
    CHECK_CODE(bc_batch_set_event_callback(batch, ignore_event, NULL), BC_ESTATE);
    CHECK_RC(wait_bounded(batch, 30000));
    CHECK_RC(bc_batch_wait(batch, 0)); /* waiting again on an ended batch is fine */
    bc_stats s = stats_of(batch);
    CHECK(s.state == BC_BATCH_FINISHED && s.ok == 1, "state %u ok %llu", s.state, (unsigned long long)s.ok);
    bc_batch_free(batch);
}

int main(void) {
    check_watchdog(120);
    CHECK(bc_error_message() != NULL, "bc_error_message() is NULL before any call");

    char *dir = make_temp_dir("options");
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return check_summary();
    bc_processor_def def = noop_def("noop");
    CHECK_RC(bc_engine_register_processor(engine, &def));

    test_batch_options(engine);
    test_engine_options(engine);
    test_unknown_processor(engine, dir);
    test_manifests(engine, dir);
    test_null_arguments(engine);
    test_states(engine, dir);

    bc_engine_free(engine);
    remove_temp_dir(dir);
    free(dir);
    return check_summary();
}
