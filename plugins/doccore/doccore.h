/*
 * doccore.h — what the pdf and ocr plugins share:
 *   options.c  page ranges, dpi and format options, error reports
 *   output.c   the output buffer, built page by page (text or JSON)
 *   pdf.c      opening a PDF with poppler, with poppler's reason on failure
 *   ocr.c      a pool of tesseract handles, rendering a PDF page with cairo,
 *              recognising one image
 *
 * Tesseract handles are costly to make (the language model is loaded in
 * TessBaseAPIInit3, a few hundred milliseconds), so a stage keeps a pool: a
 * worker thread takes an idle handle for a page and gives it back, so there
 * are never more handles than workers running at once and none is made per
 * document. The pool makes its first handle in create(), which also checks
 * that the language data is installed.
 *
 * Nothing here is exported from the plugins (hidden visibility).
 */
#ifndef BATCHCORE_DOCCORE_H
#define BATCHCORE_DOCCORE_H

#include "batchcore_plugin.h"

#include <stddef.h>
#include <stdint.h>

#include <poppler.h>
#include <tesseract/capi.h>
#include <leptonica/allheaders.h>

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

/* Pages wider or taller than this many pixels at the chosen dpi are not
 * rendered: a hostile MediaBox must not allocate gigabytes. */
#define DOCCORE_MAX_SIDE 20000
/* Nor more pixels than this in all (an A0 sheet at 300 dpi is 140 M). */
#define DOCCORE_MAX_PIXELS (160u * 1000u * 1000u)

typedef struct ocr_pool ocr_pool;

/* Makes a pool for `lang` ("eng", "eng+deu"), with one handle ready.
 * Returns NULL with a message in err when tesseract cannot load the
 * language (not installed: apt-get install tesseract-ocr-LANG). */
DOCCORE_API ocr_pool *ocr_pool_new(const char *lang, char *err, size_t err_size);
DOCCORE_API void ocr_pool_free(ocr_pool *pool);

/* Non-zero when the caller wants recognition to stop (a cancelled call). */
typedef int (*ocr_cancel_fn)(const void *arg);

/* What one page gave. */
typedef struct ocr_page {
    char *text;      /* UTF-8, malloc'd */
    int confidence;  /* tesseract's mean word confidence, 0..100 */
} ocr_page;

/* Recognises `pix` (any depth leptonica knows) at `dpi`. Returns 0, or -1
 * with a message in err (cancelled, out of memory, no handle). */
DOCCORE_API int ocr_recognize(ocr_pool *pool, PIX *pix, int dpi, ocr_cancel_fn cancel,
                              const void *cancel_arg, ocr_page *out, char *err, size_t err_size);

/* Renders a PDF page to an 8-bit grey image on white at `dpi`. Returns
 * NULL with a message in err when the page is too large or cairo fails. */
DOCCORE_API PIX *ocr_render_page(PopplerPage *page, int dpi, char *err, size_t err_size);

#endif /* BATCHCORE_DOCCORE_H */
