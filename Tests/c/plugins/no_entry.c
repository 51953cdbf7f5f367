/*
 * no_entry — a shared object that is not a batchcore plugin: it does not
 * export batchcore_plugin_entry. The host must say so (BC_EPLUGIN).
 */
int not_a_batchcore_plugin(void);

int not_a_batchcore_plugin(void) {
    return 42;
}
