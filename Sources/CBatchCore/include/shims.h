/* Small accessors for C globals and macros Swift cannot reach directly. */
#ifndef BATCHCORE_SHIMS_H
#define BATCHCORE_SHIMS_H

#include <dlfcn.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "../../../include/batchcore_version.h"

/* BC_VERSION_STRING, which Swift cannot expand. Static storage. */
static inline const char *bc_shim_version_string(void) {
    return BC_VERSION_STRING;
}

static inline char **bc_shim_environ(void) {
    extern char **environ;
    return environ;
}

/* The kernel's id of the calling thread (as top and /proc show it), asked
   of the kernel once per thread: every engine call reads it. */
static inline long bc_shim_thread_id(void) {
    static __thread long id;
    if (id == 0) id = syscall(SYS_gettid);
    return id;
}

/* Names the calling thread (seen in top, gdb and /proc). */
static inline void bc_shim_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

/* Path of the binary image (library or executable) holding the engine. */
const char *bc_shim_image_path(void);

/* Reads an HTTP date (RFC 9110: IMF-fixdate, or the obsolete RFC 850 and
   asctime forms) into Unix seconds; 0 when `text` is not one, all of it.
   strptime and timegm, which Swift's Glibc module does not export. */
int bc_shim_http_date(const char *text, long long *seconds);

/* SHA-256 of a file's content as 64 hex digits (OpenSSL); 0 or an errno. */
int bc_shim_sha256_file(const char *path, char out_hex[65]);

/* SHA-256 of `len` bytes as 64 hex digits (OpenSSL). */
void bc_shim_sha256(const void *data, size_t len, char out_hex[65]);

#include <sys/eventfd.h>

/* A non-blocking, close-on-exec eventfd (a bc_call_queue's wake-up). */
static inline int bc_shim_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/* ---- Child processes (the exec processor) ------------------------------ */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* GNU extensions Swift's Glibc module does not show (no _GNU_SOURCE). */
#ifndef __USE_GNU
extern int pipe2(int __pipedes[2], int __flags) __THROW;
extern int posix_spawn_file_actions_addchdir_np(
    posix_spawn_file_actions_t *__restrict __actions, const char *__restrict __path) __THROW;
extern int posix_spawn_file_actions_addclosefrom_np(
    posix_spawn_file_actions_t *__actions, int __from) __THROW;
#endif

/* A pipe whose two ends are close-on-exec in this process. */
static inline int bc_shim_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

/* Spawn file action: change to `path` before exec (glibc >= 2.29). */
static inline int bc_shim_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

/* Spawn file action: close every descriptor >= `from` (glibc >= 2.34). */
static inline int bc_shim_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

/* The wait(2) status macros. */
static inline int bc_shim_wifexited(int status) { return WIFEXITED(status); }
static inline int bc_shim_wexitstatus(int status) { return WEXITSTATUS(status); }
static inline int bc_shim_wifsignaled(int status) { return WIFSIGNALED(status); }
static inline int bc_shim_wtermsig(int status) { return WTERMSIG(status); }
static inline int bc_shim_wcoredump(int status) {
#ifdef WCOREDUMP
    return WCOREDUMP(status);
#else
    (void)status;
    return 0;
#endif
}

/* A descriptor that polls readable once process `pid` exits (Linux >= 5.3;
   always close-on-exec). -1 with errno ENOSYS where unsupported. */
static inline int bc_shim_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* siginfo_t.si_pid (a union member Swift cannot name portably). */
static inline pid_t bc_shim_siginfo_pid(const siginfo_t *info) { return info->si_pid; }


/* ---- Worker processes (isolation = process) ---------------------------- */

#include <sys/socket.h>

/* A connected pair of close-on-exec stream sockets. */
static inline int bc_shim_socketpair_cloexec(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

/* poll(2)'s POLLRDHUP (a GNU extension): the peer closed its end. */
static const short bc_shim_pollrdhup = 0x2000;

/* Caps this process's address space (RLIMIT_AS) at `bytes` (0: no cap) and
   turns off core dumps; 0 or an errno. */
int bc_shim_limit_memory(unsigned long long bytes);

/* In a worker: on a fatal signal (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE,
   SIGTRAP), write one "dying" frame to `fd` (the signal, errno at the time
   and the address-space size), then die of that signal. Async-signal-safe;
   the frame layout is Frame.swift's `dying`. */
void bc_shim_install_crash_report(int fd);

#endif
