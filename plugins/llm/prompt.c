/*
 * prompt.c — the prompt template.
 *
 * Placeholders are {text}, {id}, {path}, {shared} (the answer to
 * prepare_prompt) and {metadata.KEY} (KEY may be a dotted path into nested
 * objects: {metadata.client.name}). The brace rule
 * is the one of exec's argv templates: only these placeholders are
 * expanded, any other brace text ({"name": "..."}, {nmae}) is kept as it
 * is, and {{ and }} are literal braces.
 */
#define _POSIX_C_SOURCE 200809L

#include "llm.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int is_name_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static int is_name_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-'; }

static int named(const char *name, size_t n, const char *what) {
    return strlen(what) == n && strncmp(name, what, n) == 0;
}

static int is_metadata(const char *name, size_t n) {
    return n > 9 && strncmp(name, "metadata.", 9) == 0;
}

/* When p starts a known placeholder "{name}", returns the length of name
 * and points *name at it; else 0 (the brace is literal). */
static size_t placeholder_at(const char *p, const char **name) {
    if (p[0] != '{' || !is_name_start(p[1])) return 0;
    size_t n = 1;
    while (is_name_char(p[1 + n])) n++;
    if (p[1 + n] != '}') return 0;
    const char *candidate = p + 1;
    if (!named(candidate, n, "text") && !named(candidate, n, "id") && !named(candidate, n, "path") &&
        !named(candidate, n, "shared") && !is_metadata(candidate, n)) return 0;
    *name = candidate;
    return n;
}

int llm_prompt_uses_text(const char *tmpl) {
    for (const char *p = tmpl; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) { p++; continue; }
        const char *name;
        size_t n = placeholder_at(p, &name);
        if (n > 0 && named(name, n, "text")) return 1;
        if (n > 0) p += n + 1;
    }
    return 0;
}

/* The document's text: the previous stage's output, or its file. */
static int document_text(llm_buf *text, const bc_doc *doc, char *err, size_t size) {
    if (doc->input != NULL) return llm_buf_append(text, doc->input, doc->input_len) == 0 ? 0 : -1;
    if (doc->path == NULL) {
        snprintf(err, size, "document '%s' has neither a path nor input from a previous stage", doc->id);
        return -1;
    }
    int e = llm_read_file(text, doc->path);
    if (e != 0) {
        char reason[128];
        snprintf(err, size, "cannot read '%s': %s", doc->path, llm_strerror(e, reason, sizeof reason));
        return -1;
    }
    return 0;
}

/* Appends metadata value at the dotted `key` (strings as they are, other
 * values as compact JSON). */
static int append_metadata(llm_buf *out, json_t **meta, const bc_doc *doc, const char *key,
                           size_t n, char *err, size_t size) {
    if (*meta == NULL) *meta = json_loads(doc->metadata_json, JSON_DECODE_ANY, NULL);
    json_t *v = *meta;
    const char *p = key, *end = key + n;
    while (v != NULL && p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t len = (size_t)((dot ? dot : end) - p);
        v = json_is_object(v) ? json_object_getn(v, p, len) : NULL;
        p += len + (dot ? 1 : 0);
    }
    if (v == NULL || json_is_null(v)) {
        snprintf(err, size, "document '%s' has no metadata '%.*s' (the prompt uses {metadata.%.*s})",
                 doc->id, (int)n, key, (int)n, key);
        return -1;
    }
    if (json_is_string(v)) return llm_buf_append(out, json_string_value(v), json_string_length(v));
    char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = dump ? llm_buf_append(out, dump, strlen(dump)) : -1;
    free(dump);
    return rc;
}

int llm_prompt_render(llm_buf *out, const char *tmpl, const bc_doc *doc, const char *shared,
                      char *err, size_t size) {
    llm_buf text = {0};
    int have_text = 0;
    json_t *meta = NULL;
    int rc = 0;
    err[0] = '\0';

    for (const char *p = tmpl; *p && rc == 0; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            rc = llm_buf_append(out, p, 1);
            p++;
            continue;
        }
        const char *name;
        size_t n = placeholder_at(p, &name);
        if (n == 0) {
            rc = llm_buf_append(out, p, 1);
            continue;
        }
        p += n + 1;
        if (named(name, n, "text")) {
            if (!have_text && (rc = document_text(&text, doc, err, size)) != 0) break;
            have_text = 1;
            rc = llm_buf_append(out, text.data, text.len);
        } else if (named(name, n, "id")) {
            rc = llm_buf_append(out, doc->id, strlen(doc->id));
        } else if (named(name, n, "shared")) {
            rc = llm_buf_append(out, shared ? shared : "", shared ? strlen(shared) : 0);
        } else if (named(name, n, "path")) {
            const char *path = doc->path ? doc->path : doc->id;
            rc = llm_buf_append(out, path, strlen(path));
        } else {
            rc = append_metadata(out, &meta, doc, name + 9, n - 9, err, size);
        }
    }
    if (out->data == NULL && rc == 0) rc = llm_buf_append(out, "", 0);
    if (rc != 0 && err[0] == '\0') snprintf(err, size, "llm: out of memory");
    json_decref(meta);
    llm_buf_free(&text);
    return rc != 0 ? -1 : 0;
}
