/*
 * pdf.c — opening a PDF with poppler, with poppler's reason on failure.
 */
#define _POSIX_C_SOURCE 200809L

#include "doccore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

PopplerDocument *doc_pdf_open(const char *path, char *err, size_t err_size) {
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        snprintf(err, err_size, "cannot read '%s': %s", path, g_strerror(errno));
        return NULL;
    }
    GError *error = NULL;
    PopplerDocument *doc = poppler_document_new_from_fd(fd, NULL, &error); /* owns fd, even on failure */
    if (doc != NULL) return doc;
    const char *why = error && error->message ? error->message : "unknown error";
    if (error && error->domain == POPPLER_ERROR && error->code == POPPLER_ERROR_ENCRYPTED)
        snprintf(err, err_size, "'%s' is encrypted: %s (a password is needed; decrypt it first, "
                 "e.g. qpdf --decrypt --password=... in.pdf out.pdf)", path, why);
    else
        snprintf(err, err_size, "'%s' is not a readable PDF: %s", path, why);
    g_clear_error(&error);
    return NULL;
}
