/*
 * headers.c — the public headers compile alone, in either order, as strict
 * C99, and their growable structs start with struct_size. Compiled (not
 * linked) with: cc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -c
 */
#include "batchcore_plugin.h" /* the plugin header alone */
#include "batchcore.h"        /* includes it again: guards */
#include "batchcore_plugin.h"

/* C99 has no _Static_assert: a negative array size fails the build. */
#define STATIC_CHECK(name, cond) typedef char static_check_##name[(cond) ? 1 : -1]

STATIC_CHECK(plugin_size_first, offsetof(bc_plugin, struct_size) == 0);
STATIC_CHECK(plugin_abi_second, offsetof(bc_plugin, abi_version) == 4);
STATIC_CHECK(host_size_first, offsetof(bc_host_api, struct_size) == 0);
STATIC_CHECK(host_abi_second, offsetof(bc_host_api, abi_version) == 4);
STATIC_CHECK(doc_size_first, offsetof(bc_doc, struct_size) == 0);
STATIC_CHECK(def_size_first, offsetof(bc_processor_def, struct_size) == 0);
STATIC_CHECK(stats_size_first, offsetof(bc_stats, struct_size) == 0);
STATIC_CHECK(event_size_first, offsetof(bc_event, struct_size) == 0);
STATIC_CHECK(result_size_first, offsetof(bc_result, struct_size) == 0);
STATIC_CHECK(plugin_minor_in_abi_1_0, offsetof(bc_plugin, abi_minor) == 36);
STATIC_CHECK(version_number, BC_VERSION_NUMBER ==
             BC_VERSION_MAJOR * 10000 + BC_VERSION_MINOR * 100 + BC_VERSION_PATCH);
STATIC_CHECK(version_string, sizeof(BC_VERSION_STRING) >= sizeof("0.0.0"));
STATIC_CHECK(einval_shared, BC_PLUGIN_EINVAL == BC_EINVAL);
STATIC_CHECK(outcomes, BC_OUTCOME_DONE == 0 && BC_OUTCOME_FAIL == 3);

/* Every declaration has the type a caller expects. */
static const bc_plugin *(*const entry_type)(void) = (bc_plugin_entry_fn)0;
static int (*const start_type)(bc_batch *) = bc_batch_start;
static int (*const stats_type)(bc_stats *, const bc_batch *) = bc_batch_stats;
static int (*const next_type)(bc_result *, bc_results *) = bc_results_next;
static const bc_host_api *(*const host_type)(void) = bc_host_api_get;
static bc_event_fn const callback_type = (bc_event_fn)0;
static int (*const register_type)(bc_engine *, const bc_plugin *, void (*)(void *), void *) =
    bc_engine_register_plugin;

/* The declaration macros work on a declaration of one's own. */
BC_EXTERN int headers_c_exported(void);
BC_EXTERN int headers_c_old(void) BC_DEPRECATED("use headers_c_exported");

/* A static descriptor in the documented form. */
static const bc_plugin static_descriptor = { BC_PLUGIN_ABI_FIELDS, .name = "static" };

/* Every *_INIT sets struct_size (and, for bc_plugin, the ABI it was built for). */
int headers_c_inits(void);
int headers_c_inits(void) {
    bc_plugin plugin = BC_PLUGIN_INIT;
    bc_doc doc = BC_DOC_INIT;
    bc_host_api host = BC_HOST_API_INIT;
    bc_processor_def def = BC_PROCESSOR_DEF_INIT;
    bc_stats stats = BC_STATS_INIT;
    bc_event event = BC_EVENT_INIT;
    bc_result result = BC_RESULT_INIT;
    bc_journal_summary summary = BC_JOURNAL_SUMMARY_INIT;
    return plugin.struct_size == sizeof plugin && plugin.abi_version == BC_PLUGIN_ABI_MAJOR &&
           plugin.abi_minor == BC_PLUGIN_ABI_MINOR && plugin.name == NULL &&
           static_descriptor.abi_minor == BC_PLUGIN_ABI_MINOR &&
           doc.struct_size == sizeof doc && host.struct_size == sizeof host &&
           def.struct_size == sizeof def && def.process == NULL && stats.struct_size == sizeof stats &&
           event.struct_size == sizeof event && result.struct_size == sizeof result &&
           result.metadata_json == NULL && summary.struct_size == sizeof summary;
}

int headers_c_uses(const bc_host_api *host);
int headers_c_uses(const bc_host_api *host) {
    (void)entry_type;
    (void)start_type;
    (void)stats_type;
    (void)next_type;
    (void)host_type;
    (void)callback_type;
    (void)register_type;
    return BC_HOST_HAS(host, config_get) && BC_HOST_HAS(host, set_output);
}
