#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "shims.h"

/* The file of the binary image holding this code: libbatchcore.so for C and
 * Python hosts, the executable for batchhost. Bundled plugins sit beside it. */
const char *bc_shim_image_path(void) {
    Dl_info info;
    if (dladdr((void *)&bc_shim_image_path, &info) == 0 || info.dli_fname == NULL) return NULL;
    return info.dli_fname;
}
