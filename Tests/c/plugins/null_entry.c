/*
 * null_entry — batchcore_plugin_entry() returns NULL. The host must refuse
 * the plugin (BC_EPLUGIN) instead of dereferencing it.
 */
#include "batchcore_plugin.h"

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return NULL;
}
