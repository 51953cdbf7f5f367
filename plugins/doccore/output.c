/*
 * output.c — the output buffer the pdf and ocr plugins fill page by page.
 */
#define _POSIX_C_SOURCE 200809L

#include "doccore.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(doc_out *o, size_t more) {
    if (o->failed) return -1;
    if (o->len + more + 1 <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more + 1) cap *= 2;
    char *grown = realloc(o->data, cap);
    if (grown == NULL) {
        o->failed = 1;
        return -1;
    }
    o->data = grown;
    o->cap = cap;
    return 0;
}

void doc_out_append(doc_out *o, const char *data, size_t len) {
    if (reserve(o, len) != 0) return;
    memcpy(o->data + o->len, data, len);
    o->len += len;
    o->data[o->len] = '\0';
}

void doc_out_appendf(doc_out *o, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        doc_out_append(o, small, (size_t)n);
        return;
    }
    if (reserve(o, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(o->data + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629), 0 if none. */
static size_t utf8_sequence(const unsigned char *s) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < lo || s[i] > hi) return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return n;
}

void doc_out_json_string(doc_out *o, const char *text) {
    if (text == NULL) {
        doc_out_append(o, "null", 4);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    doc_out_append(o, "\"", 1);
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        const unsigned char *run = s;
        while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\') s++;
        doc_out_append(o, (const char *)run, (size_t)(s - run));
        if (*s == '\0') break;
        if (*s == '"' || *s == '\\') {
            char esc[2] = {'\\', (char)*s++};
            doc_out_append(o, esc, 2);
        } else if (*s == '\n') {
            doc_out_append(o, "\\n", 2), s++;
        } else if (*s == '\t') {
            doc_out_append(o, "\\t", 2), s++;
        } else if (*s < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 15]};
            doc_out_append(o, esc, 6), s++;
        } else {
            size_t n = utf8_sequence(s);
            if (n == 0) {
                doc_out_append(o, "\xEF\xBF\xBD", 3), s++;
            } else {
                doc_out_append(o, (const char *)s, n), s += n;
            }
        }
    }
    doc_out_append(o, "\"", 1);
}

void doc_out_free(doc_out *o) {
    free(o->data);
    memset(o, 0, sizeof *o);
}
