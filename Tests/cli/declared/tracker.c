/* A C library for the declared-processor tests, used only through a
 * declaration file (no batchcore header): handles that notice being used by
 * two threads, a function that fails with its own message, and a function
 * that fills an output buffer and reports the length it wrote. */
#define _DEFAULT_SOURCE /* usleep */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int number;
    atomic_int busy;
    int has_user;
    pthread_t user;
    char log[1024];
} tracker;

/* Per thread, not per handle: a handle shared on purpose must not have one
 * thread's message overwritten while another reads it. */
static _Thread_local char error[512];

static atomic_int opened = 0;

/* One line per event, appended in a single write so threads do not mix lines. */
static void log_line(const char *log, const char *event, int number) {
    char line[64];
    int n = snprintf(line, sizeof line, "%s %d\n", event, number);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) != n) { /* the test sees the missing line */ }
        close(fd);
    }
}

tracker *tracker_open(const char *log) {
    tracker *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->number = atomic_fetch_add(&opened, 1) + 1;
    snprintf(t->log, sizeof t->log, "%s", log);
    log_line(t->log, "open", t->number);
    return t;
}

void tracker_close(tracker *t) {
    log_line(t->log, "close", t->number);
    free(t);
}

const char *tracker_error(tracker *t) { (void)t; return error; }

/* Writes "handle N" to out. Returns -1, with a message for tracker_error,
 * when the handle is used by two threads (at once or one after the other)
 * or when the path contains "reject". */
int tracker_process(tracker *t, const char *path, char *out, size_t capacity) {
    if (atomic_exchange(&t->busy, 1)) {
        snprintf(error, sizeof error, "handle %d used by two threads at once", t->number);
        return -1;
    }
    int rc = 0;
    if (!t->has_user) {
        t->user = pthread_self();
        t->has_user = 1;
    } else if (!pthread_equal(t->user, pthread_self())) {
        snprintf(error, sizeof error, "handle %d used by a second thread", t->number);
        rc = -1;
    }
    usleep(3000); /* long enough for workers to overlap */
    if (rc == 0 && strstr(path, "reject")) {
        snprintf(error, sizeof error, "tracker refuses '%s': rejected by policy", path);
        rc = -1;
    }
    if (rc == 0) snprintf(out, capacity, "handle %d", t->number);
    atomic_store(&t->busy, 0);
    return rc;
}

/* The handle's number, whichever thread asks (for thread-safe use). */
long tracker_number(tracker *t) {
    usleep(1000);
    return t->number;
}

/* Upper-cases bytes into out and sets *written; -1 when they do not fit. */
int tracker_upper(const unsigned char *bytes, size_t length, char *out, size_t capacity, size_t *written) {
    if (length > capacity) return -1;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = bytes[i];
        out[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    *written = length;
    return 0;
}
