/*
 * options.c — options the pdf and ocr plugins share, and error reports.
 */
#define _POSIX_C_SOURCE 200809L

#include "doccore.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_spaces(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* A page number at *p (1 or more); advances *p. -1 when there is none. */
static long page_number(const char **p) {
    const char *s = skip_spaces(*p);
    if (*s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno != 0 || n < 1 || n > INT32_MAX - 1) return -1;
    *p = skip_spaces(end);
    return n;
}

int doc_pages_parse(doc_pages *pages, const char *text, char *err, size_t err_size) {
    memset(pages, 0, sizeof *pages);
    if (text == NULL) return 0;
    const char *p = text;
    size_t cap = 0;
    for (;;) {
        long first = page_number(&p), last = first;
        if (first < 0) goto bad;
        if (*p == '-') {
            p = skip_spaces(p + 1);
            if (*p == ',' || *p == '\0') last = INT32_MAX;
            else if ((last = page_number(&p)) < first) goto bad;
        }
        if (pages->count == cap) {
            cap = cap ? cap * 2 : 4;
            void *grown = realloc(pages->ranges, cap * sizeof *pages->ranges);
            if (grown == NULL) goto bad;
            pages->ranges = grown;
        }
        pages->ranges[pages->count].first = (int)first;
        pages->ranges[pages->count].last = (int)last;
        pages->count++;
        if (*p == '\0') return 0;
        if (*p != ',') goto bad;
        p++;
    }
bad:
    doc_pages_free(pages);
    snprintf(err, err_size, "invalid value '%s' for option 'pages': expected page numbers from 1 "
             "and ranges, such as 1-3, 2,5,7-9 or 10- (to the last page)", text);
    return -1;
}

int doc_pages_contains(const doc_pages *pages, int page) {
    if (pages->count == 0) return 1;
    for (size_t i = 0; i < pages->count; i++)
        if (page >= pages->ranges[i].first && page <= pages->ranges[i].last) return 1;
    return 0;
}

void doc_pages_free(doc_pages *pages) {
    free(pages->ranges);
    memset(pages, 0, sizeof *pages);
}

int doc_option_format(const char *value, doc_format *out, char *err, size_t err_size) {
    if (value == NULL) return 0;
    if (strcasecmp(value, "text") == 0) *out = DOC_TEXT;
    else if (strcasecmp(value, "json") == 0) *out = DOC_JSON;
    else {
        snprintf(err, err_size, "invalid value '%s' for option 'format': expected text or json", value);
        return -1;
    }
    return 0;
}

int doc_option_bool(const char *name, const char *value, int *out, char *err, size_t err_size) {
    if (value == NULL) return 0;
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(value, yes[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(value, no[i]) == 0) { *out = 0; return 0; }
    }
    snprintf(err, err_size, "invalid value '%s' for option '%s': expected true or false", value, name);
    return -1;
}

int doc_option_dpi(const char *value, int *out, char *err, size_t err_size) {
    if (value == NULL) return 0;
    char *end;
    errno = 0;
    long dpi = strtol(value, &end, 10);
    if (end == value || *end != '\0' || errno != 0 || dpi < 50 || dpi > 1200) {
        snprintf(err, err_size, "invalid value '%s' for option 'dpi': expected a whole number "
                 "from 50 to 1200 (300 suits most scans)", value);
        return -1;
    }
    *out = (int)dpi;
    return 0;
}

int doc_report(const bc_host_api *host, bc_call *call, int outcome, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host->set_error(call, msg);
    return outcome;
}
