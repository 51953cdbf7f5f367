/*
 * doccore.h — what the pdf and ocr plugins share:
 *   options.c  page ranges, dpi and format options, error reports
 *   output.c   the output buffer, built page by page (text or JSON)
 *   pdf.c      opening a PDF with poppler, with poppler's reason on failure
 * and the OCR interface (ocr_api) that the ocr plugin exports for the pdf
 * plugin's ocr=auto: pdf loads it only then, so extracting text never pays
 * for loading tesseract.
 *
 * Nothing here but batchcore_ocr_api() is exported from the plugins
 * (hidden visibility).
 */
#ifndef BATCHCORE_DOCCORE_H
#define BATCHCORE_DOCCORE_H

#include "batchcore_plugin.h"

#include <stddef.h>
#include <stdint.h>

#include <poppler.h>

#define DOCCORE_API __attribute__((visibility("hidden")))

/* ---- options.c ---------------------------------------------------------- */

/* A set of 1-based page numbers: "1-3,5,9-" (an open end runs to the last
 * page). Empty (NULL text) selects every page. */
typedef struct doc_pages {
    size_t count;
    struct { int first, last; } *ranges; /* last = INT32_MAX for "9-" */
} doc_pages;

/* Parses `text`; returns 0, or -1 with a message naming option 'pages'. */
DOCCORE_API int doc_pages_parse(doc_pages *pages, const char *text, char *err, size_t err_size);
DOCCORE_API int doc_pages_contains(const doc_pages *pages, int page);
DOCCORE_API void doc_pages_free(doc_pages *pages);

typedef enum doc_format { DOC_TEXT = 0, DOC_JSON = 1 } doc_format;

/* The options both plugins read the same way. On a bad value: -1 and a
 * message naming the option, the value and what was expected. */
DOCCORE_API int doc_option_format(const char *value, doc_format *out, char *err, size_t err_size);
DOCCORE_API int doc_option_bool(const char *name, const char *value, int *out, char *err, size_t err_size);
DOCCORE_API int doc_option_dpi(const char *value, int *out, char *err, size_t err_size);

/* Sets the document's error (printf-style) and returns `outcome`. */
DOCCORE_API int doc_report(const bc_host_api *host, bc_call *call, int outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- output.c ----------------------------------------------------------- */

/* The output, grown one page at a time so a document's text is held once. */
typedef struct doc_out {
    char *data;
    size_t len, cap;
    int failed; /* out of memory at some point */
} doc_out;

DOCCORE_API void doc_out_append(doc_out *o, const char *data, size_t len);
DOCCORE_API void doc_out_appendf(doc_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `text` as a JSON string (quoted and escaped; invalid UTF-8 bytes
 * become U+FFFD), or `null` when text is NULL. */
DOCCORE_API void doc_out_json_string(doc_out *o, const char *text);
DOCCORE_API void doc_out_free(doc_out *o);

/* ---- pdf.c -------------------------------------------------------------- */

/* Opens the PDF at `path`. Returns NULL with poppler's reason in err
 * ("'x.pdf' is encrypted: ...", "'x.pdf' is not a PDF or is damaged: ..."). */
DOCCORE_API PopplerDocument *doc_pdf_open(const char *path, char *err, size_t err_size);

/* ---- The OCR the ocr plugin exports ------------------------------------ */

/* A pool of tesseract handles for one language (see plugins/ocr/engine.c). */
typedef struct ocr_pool ocr_pool;

/* Non-zero when the caller wants recognition to stop (a cancelled call). */
typedef int (*ocr_cancel_fn)(const void *arg);

/* What one page gave. */
typedef struct ocr_page {
    char *text;      /* UTF-8, malloc'd */
    int confidence;  /* tesseract's mean word confidence, 0..100 */
} ocr_page;

/* What batchcore_ocr_api() of libbatchcore-ocr.so returns. */
typedef struct ocr_api {
    uint32_t struct_size;
    /* A pool for `lang` ("eng", "eng+deu") with one handle ready; NULL with
     * a message in err when tesseract cannot load the language. */
    ocr_pool *(*pool_new)(const char *lang, char *err, size_t err_size);
    void (*pool_free)(ocr_pool *pool);
    /* Renders a PDF page at `dpi` and recognises it. Returns 0, or -1 with
     * a message in err (page too large, cancelled, out of memory). */
    int (*read_page)(ocr_pool *pool, PopplerPage *page, int dpi, ocr_cancel_fn cancel,
                     const void *cancel_arg, ocr_page *out, char *err, size_t err_size);
} ocr_api;

typedef const ocr_api *(*ocr_api_fn)(void);
#define OCR_API_SYMBOL "batchcore_ocr_api"

#endif /* BATCHCORE_DOCCORE_H */
