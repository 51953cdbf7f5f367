/*
 * test_register.c — a host registers processors in its own process.
 *
 *  - a bc_plugin descriptor (the one plugins export) with user_data:
 *    create() finds *state set to user_data and the bytes prepare() left
 *    for it; declared options are checked;
 *    estimate() is asked under a token limit; list prices from create()
 *    turn usage into cost; destroy() then release() run once each;
 *  - the results carry what the output line carries: JSON output, units,
 *    cost, the failing stage's label, the metadata, the reused result;
 *  - descriptors of another ABI major, a newer minor or too small a
 *    struct_size are refused with BC_EABI, and user_data is not released;
 *  - bc_processor_def of the first version's size still registers;
 *  - a registered descriptor's prepare() is kept in the journal: a resume
 *    hands create() the same bytes without calling it; prepare_again does.
 */
#include "check.h"

#include <math.h>
#include <stddef.h>

/* ---- A descriptor with options, estimate and prices ---------------------- */

typedef struct counters {
    pthread_mutex_t lock;
    const bc_host_api *host;
    int state_was_user_data;
    unsigned long estimates, destroys, releases;
    char greeting[32];
    char shared[32];
} counters;

static int greeter_prepare(const bc_host_api *host, const bc_config *config, char *errbuf,
                           size_t errbuf_size) {
    (void)errbuf;
    (void)errbuf_size;
    return host->set_shared(config, "prepared", 8);
}

static int greeter_create(const bc_host_api *host, const bc_config *config, void **state,
                          char *errbuf, size_t errbuf_size) {
    counters *c = *state; /* the user_data given at registration */
    if (c == NULL) {
        snprintf(errbuf, errbuf_size, "greeter: *state is NULL, not the user_data");
        return 1;
    }
    c->state_was_user_data = 1;
    c->host = host;
    size_t len = 0;
    const char *shared = host->shared(config, &len);
    if (shared != NULL && len < sizeof c->shared) memcpy(c->shared, shared, len);
    const char *greeting = host->config_get(config, "greeting");
    snprintf(c->greeting, sizeof c->greeting, "%s", greeting ? greeting : "hello");
    return host->set_prices(config, 2.0, 8.0); /* $ per million tokens */
}

static int greeter_process(void *state, bc_call *call, const bc_doc *doc) {
    counters *c = state;
    if (strstr(doc->id, "bad") != NULL) {
        bc_call_set_error(call, "greeter: refuses bad documents");
        return BC_OUTCOME_FAIL;
    }
    char json[256];
    int n = snprintf(json, sizeof json, "{\"greeting\":\"%s\"}", c->greeting);
    c->host->set_output_json(call, json, (size_t)n);
    bc_call_add_usage(call, 100, 50);
    bc_call_add_units(call, 2);
    return BC_OUTCOME_DONE;
}

static int greeter_estimate(void *state, const bc_doc *doc, uint64_t *input, uint64_t *output) {
    (void)doc;
    counters *c = state;
    pthread_mutex_lock(&c->lock);
    c->estimates++;
    pthread_mutex_unlock(&c->lock);
    *input = 100;
    *output = 50;
    return 0;
}

static void greeter_destroy(void *state) {
    counters *c = state;
    c->destroys++;
}

static void counters_release(void *user_data) {
    counters *c = user_data;
    c->releases++;
}

static const bc_plugin_option greeter_options[] = {
    {"greeting", "hello", "what to say"},
    {NULL, NULL, NULL},
};

/* A descriptor on the stack: registration copies it. */
static int register_greeter(bc_engine *engine, counters *c) {
    bc_plugin plugin = BC_PLUGIN_INIT;
    plugin.name = "greeter";
    plugin.version = "2.1.0";
    plugin.description = "Greets";
    plugin.options = greeter_options;
    plugin.create = greeter_create;
    plugin.process = greeter_process;
    plugin.destroy = greeter_destroy;
    plugin.estimate = greeter_estimate;
    plugin.prepare = greeter_prepare;
    return bc_engine_register_plugin(engine, &plugin, counters_release, c);
}

static char *write_doc(const char *dir, const char *name, const char *content) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path == NULL) abort();
    snprintf(path, n, "%s/%s", dir, name);
    if (write_file(path, content, strlen(content)) != 0) CHECK(0, "cannot write %s", path);
    return path;
}

static void check_results(bc_batch *batch) {
    bc_results *it = NULL;
    if (!CHECK_RC(bc_batch_results(&it, batch))) return;
    bc_result r = BC_RESULT_INIT;
    int seen = 0;
    const double cost = (100 * 2.0 + 50 * 8.0) / 1e6;
    while (bc_results_next(&r, it) == 1) {
        seen++;
        if (strcmp(r.id, "bad") == 0) {
            CHECK(r.status == BC_STATUS_FAILED, "bad: status %u", r.status);
            CHECK(r.failed_stage_label != NULL && strcmp(r.failed_stage_label, "greet") == 0,
                  "bad: failed_stage_label '%s'", r.failed_stage_label ? r.failed_stage_label : "(null)");
            CHECK(r.output_is_json == 0 && r.units == 0 && r.cost_usd == 0.0,
                  "bad: json %u units %llu cost %f", r.output_is_json, (unsigned long long)r.units, r.cost_usd);
            continue;
        }
        char *out = output_string(&r);
        CHECK(r.status == BC_STATUS_OK, "%s: status %u (%s)", r.id, r.status, r.error ? r.error : "-");
        CHECK(strcmp(out, "{\"greeting\":\"hi\"}") == 0, "%s: output '%s'", r.id, out);
        CHECK(r.output_is_json == 1, "%s: output_is_json %u", r.id, r.output_is_json);
        CHECK(r.units == 2, "%s: units %llu", r.id, (unsigned long long)r.units);
        CHECK(fabs(r.cost_usd - cost) < 1e-12, "%s: cost_usd %.9f, expected %.9f", r.id, r.cost_usd, cost);
        CHECK(r.failed_stage_label == NULL, "%s: failed_stage_label '%s'", r.id, r.failed_stage_label);
        if (strcmp(r.id, "tagged") == 0) {
            CHECK(r.metadata_json != NULL && strcmp(r.metadata_json, "{\"lang\":\"en\"}") == 0,
                  "tagged: metadata_json '%s'", r.metadata_json ? r.metadata_json : "(null)");
        } else {
            CHECK(r.metadata_json == NULL, "%s: metadata_json '%s'", r.id, r.metadata_json);
        }
        free(out);
    }
    CHECK(seen == 3, "%d results", seen);
    bc_results_free(it);
}

static void test_descriptor(void) {
    char *dir = make_temp_dir("register");
    char *plain = write_doc(dir, "plain.txt", "one");
    char *tagged = write_doc(dir, "tagged.txt", "two");
    char *bad = write_doc(dir, "bad.txt", "three");
    counters c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);

    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return;
    CHECK_RC(register_greeter(engine, &c));
    CHECK_CODE(register_greeter(engine, &c), BC_EINVAL); /* the name is taken */

    char *listing = NULL;
    if (CHECK_RC(bc_engine_list_processors(&listing, engine))) {
        CHECK_CONTAINS(listing, "\"name\":\"greeter\"");
        CHECK_CONTAINS(listing, "\"version\":\"2.1.0\"");
        CHECK_CONTAINS(listing, "\"name\":\"greeting\"");
        CHECK_CONTAINS(listing, "\"kind\":\"host\"");
        bc_free(listing);
    }

    /* A key the descriptor does not declare is refused, naming the known ones. */
    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_file(batch, plain, "plain", NULL));
        CHECK_RC(bc_batch_add_stage(batch, "greeter", "greet"));
        CHECK_RC(bc_batch_set_stage(batch, NULL, "greting", "hi"));
        CHECK_CODE(bc_batch_start(batch), BC_EOPTION);
        CHECK_CONTAINS(check_msg, "greeting");
        bc_batch_free(batch);
    }

    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_file(batch, plain, "plain", NULL));
        CHECK_RC(bc_batch_add_file(batch, tagged, "tagged", "{\"lang\":\"en\"}"));
        CHECK_RC(bc_batch_add_file(batch, bad, "bad", NULL));
        CHECK_RC(bc_batch_add_stage(batch, "greeter", "greet"));
        CHECK_RC(bc_batch_set_stage(batch, NULL, "greeting", "hi"));
        CHECK_RC(bc_batch_set(batch, "token_limit", "1000000/s")); /* asks estimate() */
        CHECK_RC(bc_batch_set(batch, "retry.attempts", "1"));
        if (CHECK_RC(bc_batch_start(batch)) && CHECK_RC(wait_bounded(batch, 60000))) {
            bc_stats s = stats_of(batch);
            CHECK(s.ok == 2 && s.failed == 1, "ok %llu failed %llu", (unsigned long long)s.ok,
                  (unsigned long long)s.failed);
            check_results(batch);
        }
        bc_batch_free(batch);
    }
    CHECK(c.state_was_user_data, "create() did not find *state set to user_data");
    CHECK(strcmp(c.shared, "prepared") == 0, "create() found '%s' from prepare()", c.shared);
    CHECK(c.estimates >= 3, "estimate() called %lu times for 3 documents", c.estimates);
    CHECK(c.destroys == 1, "destroy() ran %lu times", c.destroys);
    CHECK(c.releases == 0, "release() ran %lu times while the engine lives", c.releases);
    bc_engine_free(engine);
    CHECK(c.releases == 1, "release() ran %lu times after bc_engine_free", c.releases);

    free(plain);
    free(tagged);
    free(bad);
    remove_temp_dir(dir);
    free(dir);
}

/* ---- Refused descriptors ---------------------------------------------------- */

static int noop_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    (void)call;
    (void)doc;
    return BC_OUTCOME_DONE;
}

static void never_release(void *user_data) {
    (void)user_data;
    CHECK(0, "release() ran for a refused descriptor");
}

static void expect_refused(bc_engine *engine, bc_plugin plugin, int code, const char *needle) {
    CHECK_CODE(bc_engine_register_plugin(engine, &plugin, never_release, NULL), code);
    CHECK_CONTAINS(check_msg, needle);
}

static void test_refused(void) {
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return;
    bc_plugin good = BC_PLUGIN_INIT;
    good.name = "refused";
    good.process = noop_process;
    char text[128];

    bc_plugin p = good;
    p.abi_version = BC_PLUGIN_ABI_MAJOR + 1;
    snprintf(text, sizeof text, "built for ABI %d.%d, this host speaks ABI %d.%d", BC_PLUGIN_ABI_MAJOR + 1,
             BC_PLUGIN_ABI_MINOR, BC_PLUGIN_ABI_MAJOR, BC_PLUGIN_ABI_MINOR);
    expect_refused(engine, p, BC_EABI, text);

    p = good;
    p.abi_minor = BC_PLUGIN_ABI_MINOR + 1;
    snprintf(text, sizeof text, "built for ABI %d.%d, newer than this host's ABI %d.%d", BC_PLUGIN_ABI_MAJOR,
             BC_PLUGIN_ABI_MINOR + 1, BC_PLUGIN_ABI_MAJOR, BC_PLUGIN_ABI_MINOR);
    expect_refused(engine, p, BC_EABI, text);

    p = good;
    p.struct_size = (uint32_t)offsetof(bc_plugin, process);
    expect_refused(engine, p, BC_EABI, "needs at least");

    p = good;
    p.struct_size = 4;
    expect_refused(engine, p, BC_EABI, "too small to say its ABI");

    p = good;
    p.process = NULL;
    expect_refused(engine, p, BC_EINVAL, "process()");

    /* The good one registers: nothing above took its name. */
    CHECK_RC(bc_engine_register_plugin(engine, &good, NULL, NULL));
    bc_engine_free(engine);
}

/* ---- bc_processor_def of the first version --------------------------------- */

/* bc_processor_def as 0.1 declared it: a host built then passes this size. */
typedef struct processor_def_0_1 {
    uint32_t struct_size;
    uint32_t reserved;
    const char *name;
    const char *description;
    int (*process)(bc_call *call, const bc_doc *doc, void *user_data);
    void (*release)(void *user_data);
    void *user_data;
} processor_def_0_1;

static int def_process(bc_call *call, const bc_doc *doc, void *user_data) {
    const char *word = user_data;
    char out[128];
    int n = snprintf(out, sizeof out, "%s %s", word, doc->id);
    bc_call_set_output(call, out, (size_t)n);
    return BC_OUTCOME_DONE;
}

static int def_releases;
static void def_release(void *user_data) {
    (void)user_data;
    def_releases++;
}

static void test_old_processor_def(void) {
    char *dir = make_temp_dir("register-def");
    char *file = write_doc(dir, "a.txt", "a");
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return;

    processor_def_0_1 old = {sizeof old, 0, "old-def", "registered by a 0.1 host", def_process, def_release,
                             (void *)"seen"};
    CHECK_RC(bc_engine_register_processor(engine, (const bc_processor_def *)(const void *)&old));

    bc_processor_def tiny = BC_PROCESSOR_DEF_INIT;
    tiny.struct_size = 8;
    tiny.name = "tiny";
    tiny.process = def_process;
    CHECK_CODE(bc_engine_register_processor(engine, &tiny), BC_EINVAL);
    CHECK_CONTAINS(check_msg, "struct_size is 8");

    bc_batch *batch = NULL;
    if (CHECK_RC(bc_batch_new(&batch, engine))) {
        CHECK_RC(bc_batch_add_file(batch, file, "a", NULL));
        CHECK_RC(bc_batch_add_stage(batch, "old-def", NULL));
        if (CHECK_RC(bc_batch_start(batch)) && CHECK_RC(wait_bounded(batch, 60000))) {
            bc_results *it = NULL;
            bc_result r = BC_RESULT_INIT;
            if (CHECK_RC(bc_batch_results(&it, batch))) {
                if (CHECK(bc_results_next(&r, it) == 1, "no result")) {
                    char *out = output_string(&r);
                    CHECK(strcmp(out, "seen a") == 0, "output '%s'", out);
                    free(out);
                }
                bc_results_free(it);
            }
        }
        bc_batch_free(batch);
    }
    bc_engine_free(engine);
    CHECK(def_releases == 1, "release ran %d times", def_releases);
    free(file);
    remove_temp_dir(dir);
    free(dir);
}

/* ---- prepare()'s bytes kept in the journal -------------------------------- */

static int kept_prepares;
static char kept_shared[32];

static int kept_prepare(const bc_host_api *host, const bc_config *config, char *errbuf, size_t errbuf_size) {
    (void)errbuf;
    (void)errbuf_size;
    char made[32];
    snprintf(made, sizeof made, "prepared #%d", ++kept_prepares);
    return host->set_shared(config, made, strlen(made));
}

static int kept_create(const bc_host_api *host, const bc_config *config, void **state, char *errbuf,
                       size_t errbuf_size) {
    (void)state;
    (void)errbuf;
    (void)errbuf_size;
    size_t len = 0;
    const void *bytes = host->shared(config, &len);
    snprintf(kept_shared, sizeof kept_shared, "%.*s", (int)len, bytes != NULL ? (const char *)bytes : "");
    return 0;
}

static int kept_process(void *state, bc_call *call, const bc_doc *doc) {
    (void)state;
    (void)doc;
    return bc_call_set_output(call, "x", 1) == 0 ? BC_OUTCOME_DONE : BC_OUTCOME_FAIL;
}

/* Runs the "kept" stage over one document with a journal in `dir`. */
static void run_kept(bc_engine *engine, const char *dir, const char *file, int resume, int again) {
    char path[4096];
    bc_batch *batch = NULL;
    if (!CHECK_RC(bc_batch_new(&batch, engine))) return;
    snprintf(path, sizeof path, "%s/kept.journal", dir);
    CHECK_RC(bc_batch_set(batch, "checkpoint", path));
    if (resume) CHECK_RC(bc_batch_set(batch, "resume", "true"));
    CHECK_RC(bc_batch_add_file(batch, file, "a", NULL));
    CHECK_RC(bc_batch_add_stage(batch, "kept", NULL));
    if (again) CHECK_RC(bc_batch_set_stage(batch, NULL, "prepare_again", "true"));
    if (CHECK_RC(bc_batch_start(batch))) CHECK_RC(wait_bounded(batch, 60000));
    bc_batch_free(batch);
}

static void test_prepare_kept_in_the_journal(void) {
    char *dir = make_temp_dir("register-kept");
    char *file = write_doc(dir, "a.txt", "a");
    bc_engine *engine = NULL;
    if (!CHECK_RC(bc_engine_new(&engine))) return;
    bc_plugin plugin = BC_PLUGIN_INIT;
    plugin.name = "kept";
    plugin.create = kept_create;
    plugin.process = kept_process;
    plugin.prepare = kept_prepare;
    CHECK_RC(bc_engine_register_plugin(engine, &plugin, NULL, NULL));

    run_kept(engine, dir, file, 0, 0);
    CHECK(kept_prepares == 1 && strcmp(kept_shared, "prepared #1") == 0, "first run: %d prepares, '%s'",
          kept_prepares, kept_shared);
    run_kept(engine, dir, file, 1, 0);
    CHECK(kept_prepares == 1 && strcmp(kept_shared, "prepared #1") == 0,
          "a resume takes the journal's bytes: %d prepares, '%s'", kept_prepares, kept_shared);
    run_kept(engine, dir, file, 1, 1);
    CHECK(kept_prepares == 2 && strcmp(kept_shared, "prepared #2") == 0, "prepare_again: %d prepares, '%s'",
          kept_prepares, kept_shared);
    bc_engine_free(engine);
    free(file);
    remove_temp_dir(dir);
    free(dir);
}

int main(void) {
    check_watchdog(120);
    test_prepare_kept_in_the_journal();
    test_descriptor();
    test_refused();
    test_old_processor_def();
    return check_summary();
}
