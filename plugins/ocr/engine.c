/*
 * engine.c — the tesseract handle pool, rendering a PDF page, recognising
 * an image (see engine.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>

struct ocr_pool {
    pthread_mutex_t lock;
    char *lang;
    TessBaseAPI **idle;
    size_t count;
    size_t cap;
};

/* A handle with the language loaded and tesseract's chatter silenced (it
 * would write "Estimating resolution..." to stderr for every page). */
static TessBaseAPI *new_handle(const char *lang, char *err, size_t err_size) {
    TessBaseAPI *api = TessBaseAPICreate();
    if (api == NULL) {
        snprintf(err, err_size, "ocr: out of memory creating a tesseract handle");
        return NULL;
    }
    if (TessBaseAPIInit3(api, NULL, lang) != 0) {
        TessBaseAPIDelete(api);
        snprintf(err, err_size,
                 "tesseract cannot load language '%s': is its data installed? (Debian: apt-get "
                 "install tesseract-ocr-%s; or set TESSDATA_PREFIX)", lang, lang);
        return NULL;
    }
    TessBaseAPISetVariable(api, "debug_file", "/dev/null");
    return api;
}

ocr_pool *ocr_pool_new(const char *lang, char *err, size_t err_size) {
    /* Leptonica reports every damaged image on stderr; the document's own
     * error says it already. (A process-wide setting, the same each time.) */
    setMsgSeverity(L_SEVERITY_NONE);
    ocr_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL || (pool->lang = strdup(lang)) == NULL ||
        pthread_mutex_init(&pool->lock, NULL) != 0) {
        if (pool) free(pool->lang);
        free(pool);
        snprintf(err, err_size, "ocr: out of memory");
        return NULL;
    }
    TessBaseAPI *first = new_handle(lang, err, err_size);
    if (first == NULL) {
        ocr_pool_free(pool);
        return NULL;
    }
    pool->idle = malloc(sizeof *pool->idle * 4);
    if (pool->idle == NULL) {
        TessBaseAPIDelete(first);
        ocr_pool_free(pool);
        snprintf(err, err_size, "ocr: out of memory");
        return NULL;
    }
    pool->cap = 4;
    pool->idle[pool->count++] = first;
    return pool;
}

void ocr_pool_free(ocr_pool *pool) {
    if (pool == NULL) return;
    for (size_t i = 0; i < pool->count; i++) {
        TessBaseAPIEnd(pool->idle[i]);
        TessBaseAPIDelete(pool->idle[i]);
    }
    free(pool->idle);
    free(pool->lang);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

static TessBaseAPI *take(ocr_pool *pool, char *err, size_t err_size) {
    TessBaseAPI *api = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->count > 0) api = pool->idle[--pool->count];
    pthread_mutex_unlock(&pool->lock);
    return api ? api : new_handle(pool->lang, err, err_size);
}

static void give_back(ocr_pool *pool, TessBaseAPI *api) {
    TessBaseAPIClear(api);
    pthread_mutex_lock(&pool->lock);
    if (pool->count == pool->cap) {
        size_t cap = pool->cap * 2;
        TessBaseAPI **grown = realloc(pool->idle, sizeof *grown * cap);
        if (grown == NULL) {
            pthread_mutex_unlock(&pool->lock);
            TessBaseAPIEnd(api);
            TessBaseAPIDelete(api);
            return;
        }
        pool->idle = grown;
        pool->cap = cap;
    }
    pool->idle[pool->count++] = api;
    pthread_mutex_unlock(&pool->lock);
}

/* Tesseract polls this between words. */
typedef struct cancel_probe {
    ocr_cancel_fn fn;
    const void *arg;
} cancel_probe;

static bool probe_cancel(void *this, int words) {
    (void)words;
    const cancel_probe *p = this;
    return p->fn != NULL && p->fn(p->arg) != 0;
}

int ocr_recognize(ocr_pool *pool, PIX *pix, int dpi, ocr_cancel_fn cancel, const void *cancel_arg,
                  ocr_page *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    TessBaseAPI *api = take(pool, err, err_size);
    if (api == NULL) return -1;
    ETEXT_DESC *monitor = TessMonitorCreate();
    cancel_probe probe = {cancel, cancel_arg};
    if (monitor != NULL) {
        TessMonitorSetCancelFunc(monitor, probe_cancel);
        TessMonitorSetCancelThis(monitor, &probe);
    }
    TessBaseAPISetImage2(api, pix);
    TessBaseAPISetSourceResolution(api, dpi);
    int rc = TessBaseAPIRecognize(api, monitor);
    if (monitor != NULL) TessMonitorDelete(monitor);
    if (cancel != NULL && cancel(cancel_arg)) {
        give_back(pool, api);
        snprintf(err, err_size, "cancelled");
        return -1;
    }
    if (rc != 0) {
        give_back(pool, api);
        snprintf(err, err_size, "tesseract could not recognise the image (%dx%d pixels)",
                 pixGetWidth(pix), pixGetHeight(pix));
        return -1;
    }
    char *text = TessBaseAPIGetUTF8Text(api);
    out->confidence = TessBaseAPIMeanTextConf(api);
    give_back(pool, api);
    out->text = strdup(text ? text : "");
    if (text) TessDeleteText(text);
    if (out->text == NULL) {
        snprintf(err, err_size, "ocr: out of memory");
        return -1;
    }
    return 0;
}

PIX *ocr_render_page(PopplerPage *page, int dpi, char *err, size_t err_size) {
    double width_pt = 0, height_pt = 0;
    poppler_page_get_size(page, &width_pt, &height_pt);
    double scale = dpi / 72.0;
    double w = ceil(width_pt * scale), h = ceil(height_pt * scale);
    if (!(w >= 1 && h >= 1 && w <= OCR_MAX_SIDE && h <= OCR_MAX_SIDE &&
          w * h <= (double)OCR_MAX_PIXELS)) {
        snprintf(err, err_size, "page %d is %.0fx%.0f points: too large to render at %d dpi "
                 "(at most %d pixels a side, %u in all)", poppler_page_get_index(page) + 1,
                 width_pt, height_pt, dpi, OCR_MAX_SIDE, OCR_MAX_PIXELS);
        return NULL;
    }
    int iw = (int)w, ih = (int)h;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, iw, ih);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        snprintf(err, err_size, "cannot render page %d at %d dpi: %s", poppler_page_get_index(page) + 1,
                 dpi, cairo_status_to_string(cairo_surface_status(surface)));
        cairo_surface_destroy(surface);
        return NULL;
    }
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
    poppler_page_render_for_printing(page, cr);
    cairo_destroy(cr);
    cairo_surface_flush(surface);

    /* Grey, so the image costs a quarter of the colour one while tesseract
     * (which binarises anyway) reads it. */
    PIX *pix = pixCreate(iw, ih, 8);
    if (pix == NULL) {
        cairo_surface_destroy(surface);
        snprintf(err, err_size, "ocr: out of memory for a %dx%d page image", iw, ih);
        return NULL;
    }
    pixSetResolution(pix, dpi, dpi);
    const unsigned char *src = cairo_image_surface_get_data(surface);
    int stride = cairo_image_surface_get_stride(surface);
    l_uint32 *dst = pixGetData(pix);
    int wpl = pixGetWpl(pix);
    for (int y = 0; y < ih; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(src + (size_t)y * (size_t)stride);
        l_uint32 *line = dst + (size_t)y * (size_t)wpl;
        for (int x = 0; x < iw; x++) {
            uint32_t p = row[x];
            unsigned r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
            SET_DATA_BYTE(line, x, (r * 77 + g * 150 + b * 29) >> 8);
        }
    }
    cairo_surface_destroy(surface);
    return pix;
}

int ocr_read_page(ocr_pool *pool, PopplerPage *page, int dpi, ocr_cancel_fn cancel, const void *cancel_arg,
                  ocr_page *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    PIX *pix = ocr_render_page(page, dpi, err, err_size);
    if (pix == NULL) return -1;
    int rc = ocr_recognize(pool, pix, dpi, cancel, cancel_arg, out, err, err_size);
    pixDestroy(&pix);
    return rc;
}
