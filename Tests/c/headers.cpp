// headers.cpp — the public headers compile as C++17 (extern "C", no C-only
// constructs). Compiled (not linked) with:
//   c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c
#include "batchcore.h"        // includes batchcore_plugin.h
#include "batchcore_plugin.h" // guards

#include <cstddef>
#include <type_traits>

static_assert(offsetof(bc_plugin, struct_size) == 0, "bc_plugin starts with struct_size");
static_assert(offsetof(bc_host_api, struct_size) == 0, "bc_host_api starts with struct_size");
static_assert(offsetof(bc_stats, struct_size) == 0, "bc_stats starts with struct_size");
static_assert(offsetof(bc_result, struct_size) == 0, "bc_result starts with struct_size");
static_assert(offsetof(bc_event, struct_size) == 0, "bc_event starts with struct_size");
static_assert(offsetof(bc_processor_def, struct_size) == 0, "bc_processor_def starts with struct_size");
static_assert(std::is_standard_layout<bc_plugin>::value, "bc_plugin is a C struct");
static_assert(std::is_trivially_copyable<bc_stats>::value, "bc_stats is a C struct");
static_assert(BC_PLUGIN_EINVAL == BC_EINVAL, "plugin and host error codes agree");

// A plugin written in C++: the entry point has C linkage via the header.
namespace {
int cpp_create(const bc_host_api *host, const bc_config *, void **state, char *, size_t) {
    *state = nullptr;
    return BC_HOST_HAS(host, config_get) ? 0 : 1;
}
int cpp_process(void *, bc_call *, const bc_doc *) { return BC_OUTCOME_DONE; }

const bc_plugin_option cpp_options[] = {{"key", nullptr, "help"}, {nullptr, nullptr, nullptr}};
const bc_plugin cpp_plugin = {
    sizeof(bc_plugin), BC_PLUGIN_ABI_MAJOR, "cpp", "1.0.0", "C++ plugin",
    BC_PLUGIN_FLAG_NONE, BC_PLUGIN_ABI_MINOR, cpp_options, cpp_create, cpp_process, nullptr, nullptr, nullptr,
};

// The same descriptor filled member by member from BC_PLUGIN_INIT.
bc_plugin filled_plugin() {
    bc_plugin plugin = BC_PLUGIN_INIT;
    plugin.name = "cpp";
    plugin.create = cpp_create;
    plugin.process = cpp_process;
    return plugin;
}
} // namespace

BC_EXTERN int headers_cpp_exported();
BC_EXTERN int headers_cpp_old() BC_DEPRECATED("use headers_cpp_exported");

// Every *_INIT is valid C++ and sets struct_size.
int headers_cpp_inits();
int headers_cpp_inits() {
    bc_plugin plugin = filled_plugin();
    bc_doc doc = BC_DOC_INIT;
    bc_host_api host = BC_HOST_API_INIT;
    bc_processor_def def = BC_PROCESSOR_DEF_INIT;
    bc_stats stats = BC_STATS_INIT;
    bc_event event = BC_EVENT_INIT;
    bc_result result = BC_RESULT_INIT;
    bc_journal_summary summary = BC_JOURNAL_SUMMARY_INIT;
    return plugin.struct_size == sizeof plugin && plugin.abi_version == BC_PLUGIN_ABI_MAJOR &&
           plugin.abi_minor == BC_PLUGIN_ABI_MINOR && doc.struct_size == sizeof doc &&
           host.struct_size == sizeof host && def.struct_size == sizeof def &&
           stats.struct_size == sizeof stats && event.struct_size == sizeof event &&
           result.struct_size == sizeof result && summary.struct_size == sizeof summary;
}

extern "C" BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &cpp_plugin; }

// Host API entry points are callable from C++ with the expected types.
int headers_cpp_uses();
int headers_cpp_uses() {
    int (*start)(bc_batch *) = bc_batch_start;
    int (*stats)(bc_stats *, const bc_batch *) = bc_batch_stats;
    bc_event_fn callback = [](const bc_event *, void *) {};
    bc_plugin_entry_fn entry = batchcore_plugin_entry;
    return (start != nullptr) + (stats != nullptr) + (callback != nullptr) + (entry() != nullptr);
}
