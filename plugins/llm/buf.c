/*
 * buf.c — a growable, always NUL-terminated byte buffer, and whole-file reads.
 */
#define _POSIX_C_SOURCE 200809L

#include "llm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int reserve(llm_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = realloc(b->data, cap);
    if (data == NULL) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int llm_buf_append(llm_buf *b, const void *data, size_t len) {
    if (reserve(b, len) != 0) return -1;
    if (len > 0) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int llm_buf_appendf(llm_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void llm_buf_free(llm_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int llm_read_file(llm_buf *b, const char *path) {
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    struct stat sb;
    int err = fstat(fd, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : 0;
    if (err != 0) {
        close(fd);
        return err;
    }
    char chunk[65536];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            err = errno;
            close(fd);
            return err;
        }
        if (got == 0) break;
        if (llm_buf_append(b, chunk, (size_t)got) != 0) {
            close(fd);
            return ENOMEM;
        }
    }
    close(fd);
    if (b->data == NULL && llm_buf_append(b, "", 0) != 0) return ENOMEM;
    return 0;
}

const char *llm_strerror(int err, char *buf, size_t size) {
#if defined(_GNU_SOURCE) && defined(__GLIBC__)
    return strerror_r(err, buf, size); /* the GNU flavour returns the text */
#else
    if (strerror_r(err, buf, size) != 0) snprintf(buf, size, "error %d", err);
    return buf;
#endif
}
