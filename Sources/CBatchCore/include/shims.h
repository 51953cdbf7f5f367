/* Small accessors for C globals and macros Swift cannot reach directly. */
#ifndef BATCHCORE_SHIMS_H
#define BATCHCORE_SHIMS_H

#include <dlfcn.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/prctl.h>

static inline char **bc_shim_environ(void) {
    extern char **environ;
    return environ;
}

/* Names the calling thread (seen in top, gdb and /proc). */
static inline void bc_shim_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

/* Path of the binary image (library or executable) holding the engine. */
const char *bc_shim_image_path(void);

#endif
