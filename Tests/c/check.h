/*
 * check.h — the tiny assertion harness shared by the C tests in Tests/c.
 *
 *   CHECK(cond, fmt, ...)   count a pass, or print file:line, the failing
 *                           expression and the formatted explanation
 *   CHECK_RC(call)          CHECK(call == 0) that prints the error code,
 *                           bc_error_name and bc_error_message on failure
 *   CHECK_CODE(call, code)  CHECK(call == code), printing the same on failure
 *   CHECK_CONTAINS(s, sub)  CHECK(s != NULL && strstr(s, sub))
 *   check_capture(rc)       copies bc_error_message() into check_msg and
 *                           returns rc: `int rc = check_capture(bc_x(...));`
 *   check_msg               the message captured by the last check_capture,
 *                           CHECK_CODE or CHECK_RC (main thread only)
 *   check_summary()         prints "N passed, N failed"; returns the exit code
 *   check_watchdog(sec)     kill the test (SIGALRM) if it runs longer: a
 *                           deadlock fails the test instead of hanging it
 *
 * CHECK may be called from any thread (processors and event callbacks).
 * Include this header first: it selects POSIX.1-2008 (with XSI).
 */
#ifndef BATCHCORE_TEST_CHECK_H
#define BATCHCORE_TEST_CHECK_H

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* POSIX.1-2008 with XSI (nftw) */
#endif

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batchcore.h"

static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long check_passed, check_failed;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 5, 6)))
#endif
static inline int check_report(int ok, const char *file, int line, const char *expr, const char *fmt, ...) {
    pthread_mutex_lock(&check_lock);
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: FAILED: %s\n    ", file, line, expr);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&check_lock);
    return ok;
}

/* Evaluates to the truth of `cond`, so tests can skip what depends on it. */
#define CHECK(cond, ...) check_report((cond) ? 1 : 0, __FILE__, __LINE__, #cond, __VA_ARGS__)

static inline const char *check_name(int code) {
    const char *name = bc_error_name(code);
    return name != NULL ? name : "(null name)";
}

static inline const char *check_message(void) {
    const char *m = bc_error_message();
    return m != NULL ? m : "(NULL message)";
}

/* bc_error_message() is borrowed until the next batchcore call on the
 * thread, so tests copy it right after the call they check. */
static char check_msg[8192];

static inline int check_capture(int rc) {
    snprintf(check_msg, sizeof check_msg, "%s", check_message());
    return rc;
}

#define CHECK_CODE(call, code)                                                          \
    check_code_impl(check_capture(call), (code), __FILE__, __LINE__, #call " == " #code)

static inline int check_code_impl(int got, int want, const char *file, int line, const char *expr) {
    if (got == want) return check_report(1, file, line, expr, "%s", "");
    return check_report(0, file, line, expr, "returned %d (%s), expected %d (%s); message: %s",
                        got, check_name(got), want, check_name(want), check_msg);
}

#define CHECK_RC(call) CHECK_CODE((call), 0)

#define CHECK_CONTAINS(haystack, needle)                                                \
    check_contains_impl((haystack), (needle), __FILE__, __LINE__, #haystack " contains " #needle)

static inline int check_contains_impl(const char *haystack, const char *needle, const char *file,
                               int line, const char *expr) {
    int ok = haystack != NULL && strstr(haystack, needle) != NULL;
    return check_report(ok, file, line, expr, "'%s' not found in: %s", needle,
                        haystack != NULL ? haystack : "(NULL)");
}

static inline int check_summary(void) {
    pthread_mutex_lock(&check_lock);
    unsigned long passed = check_passed, failed = check_failed;
    pthread_mutex_unlock(&check_lock);
    printf("%lu passed, %lu failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

static inline void check_watchdog(unsigned seconds) {
    alarm(seconds);
}

/* ---- Small helpers shared by the tests --------------------------------- */

static inline void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Writes `len` bytes to `path`; returns 0 or -1. */
static inline int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t wrote = len > 0 ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    return (wrote == len && rc == 0) ? 0 : -1;
}

/* A fresh directory under $TMPDIR (or /tmp); exits on failure. The caller
 * frees the string. */
static inline char *make_temp_dir(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    if (path == NULL) abort();
    snprintf(path, n, "%s/batchcore-%s.XXXXXX", base, tag);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    return path;
}

static inline int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
    return 0;
}

/* Removes a directory tree made by a test. */
static inline void remove_temp_dir(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A copy of a result's output as a NUL-terminated string (caller frees). */
static inline char *output_string(const bc_result *r) {
    char *s = malloc(r->output_len + 1);
    if (s == NULL) abort();
    if (r->output != NULL && r->output_len > 0) memcpy(s, r->output, r->output_len);
    s[r->output_len] = '\0';
    return s;
}

/* Waits (bounded) for a batch to end: returns bc_batch_wait's code. On a
 * timeout the batch is cancelled hard and waited for, so the test can go on. */
static inline int wait_bounded(bc_batch *batch, int64_t timeout_ms) {
    int rc = bc_batch_wait(batch, timeout_ms);
    if (rc == BC_ETIMEOUT) {
        bc_batch_cancel(batch, BC_CANCEL_HARD);
        bc_batch_wait(batch, 10000);
    }
    return rc;
}

/* Threads of this process now. */
static inline int thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    int n = 0;
    if (dir == NULL) return -1;
    while (readdir(dir) != NULL) n++;
    closedir(dir);
    return n - 2; /* "." and ".." */
}

/* A stats snapshot (struct_size set); zeroed when the call fails. */
static inline bc_stats stats_of(const bc_batch *batch) {
    bc_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    if (bc_batch_stats(&s, batch) != 0) {
        memset(&s, 0, sizeof s);
        s.state = 0xFFFFFFFFu;
    }
    return s;
}

#endif /* BATCHCORE_TEST_CHECK_H */
