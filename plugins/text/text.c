#include "batchcore_plugin.h"
#include <openssl/sha.h>
const bc_plugin *batchcore_plugin_entry(void) { return 0; }
