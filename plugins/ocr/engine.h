/*
 * engine.h — tesseract for the ocr plugin (and, through ocr_api, for the
 * pdf plugin's ocr=auto): a pool of handles, rendering a PDF page with
 * cairo, recognising one image.
 *
 * Tesseract handles are costly to make (the language model is loaded in
 * TessBaseAPIInit3, a few hundred milliseconds), so a stage keeps a pool: a
 * worker thread takes an idle handle for a page and gives it back, so there
 * are never more handles than workers running at once and none is made per
 * document. The pool makes its first handle in create(), which also checks
 * that the language data is installed.
 */
#ifndef BATCHCORE_OCR_ENGINE_H
#define BATCHCORE_OCR_ENGINE_H

#include "doccore.h"

#include <tesseract/capi.h>
#include <leptonica/allheaders.h>

/* Pages wider or taller than this many pixels at the chosen dpi are not
 * rendered: a hostile MediaBox must not allocate gigabytes. */
#define OCR_MAX_SIDE 20000
/* Nor more pixels than this in all (an A0 sheet at 300 dpi is 140 M). */
#define OCR_MAX_PIXELS (160u * 1000u * 1000u)

DOCCORE_API ocr_pool *ocr_pool_new(const char *lang, char *err, size_t err_size);
DOCCORE_API void ocr_pool_free(ocr_pool *pool);

/* Recognises `pix` (any depth leptonica knows) at `dpi`. Returns 0, or -1
 * with a message in err (cancelled, out of memory, no handle). */
DOCCORE_API int ocr_recognize(ocr_pool *pool, PIX *pix, int dpi, ocr_cancel_fn cancel,
                              const void *cancel_arg, ocr_page *out, char *err, size_t err_size);

/* Renders a PDF page to an 8-bit grey image on white at `dpi`. Returns
 * NULL with a message in err when the page is too large or cairo fails. */
DOCCORE_API PIX *ocr_render_page(PopplerPage *page, int dpi, char *err, size_t err_size);

/* ocr_render_page, then ocr_recognize (ocr_api.read_page). */
DOCCORE_API int ocr_read_page(ocr_pool *pool, PopplerPage *page, int dpi, ocr_cancel_fn cancel,
                              const void *cancel_arg, ocr_page *out, char *err, size_t err_size);

#endif /* BATCHCORE_OCR_ENGINE_H */
