/*
 * ocr — the bundled batchcore plugin that reads the text of scans and
 * images with tesseract.
 *
 * It reads the file at doc->path, recognised by its first bytes:
 *   PNG, JPEG, TIFF (every page of a multi-page TIFF)  through leptonica;
 *   PDF  each selected page rendered by poppler and cairo at `dpi`.
 * Output:
 *   format=text  the pages' text, each page ended by a form feed ("\f");
 *   format=json  {"pages": [{"page": 1, "text": "...", "confidence": 91}],
 *                "confidence": the mean over the pages}. Confidence is
 *                tesseract's mean word confidence, 0 to 100.
 * A document in which tesseract finds no text at all is PARTIAL ("no text
 * found"). Units: one per page.
 *
 * Tesseract handles (with the language model loaded) come from a pool made
 * in create(): at most one per worker running at once, never one per
 * document (engine.c). The same engine is exported as batchcore_ocr_api()
 * for the pdf plugin's ocr=auto.
 *
 * Failures (FAIL): no path; a file that is none of the types above; an
 * image leptonica cannot decode; a PDF poppler cannot open (its reason); a
 * page too large to render. A cancelled call stops with RETRY.
 *
 * The descriptor sets BC_PLUGIN_FLAG_PREFERS_PROCESS: images and PDFs come
 * from outside, and a malformed one must cost only its own document.
 */
#define _POSIX_C_SOURCE 200809L

#include "batchcore_plugin.h"
#include "doccore.h"
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ocr_state {
    const bc_host_api *host;
    doc_format format;
    int dpi;
    doc_pages pages;
    ocr_pool *pool;
} ocr_state;

typedef enum file_kind { KIND_UNKNOWN, KIND_PDF, KIND_PNG, KIND_JPEG, KIND_TIFF } file_kind;

/* The kind of file at path, from its first bytes. -1 (errno set) when it
 * cannot be read. */
static int sniff(const char *path, file_kind *kind) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    unsigned char m[8] = {0};
    size_t n = fread(m, 1, sizeof m, f);
    fclose(f);
    *kind = KIND_UNKNOWN;
    if (n >= 5 && memcmp(m, "%PDF-", 5) == 0) *kind = KIND_PDF;
    else if (n >= 8 && memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0) *kind = KIND_PNG;
    else if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF) *kind = KIND_JPEG;
    else if (n >= 4 && (memcmp(m, "II*\0", 4) == 0 || memcmp(m, "MM\0*", 4) == 0)) *kind = KIND_TIFF;
    return 0;
}

/* ---- One document ------------------------------------------------------- */

typedef struct ocr_run {
    const ocr_state *st;
    bc_call *call;
    const char *path;
    doc_out out;
    int pages;
    long confidence_sum;
    int with_text;
} ocr_run;

static int cancelled(const void *arg) {
    const ocr_run *run = arg;
    return run->st->host->is_cancelled(run->call);
}

/* Appends one recognised page (and frees its text). */
static void put_page(ocr_run *run, ocr_page *result, int number) {
    ocr_page page = *result;
    const char *p = page.text;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\f') p++;
    if (*p != '\0') run->with_text++;
    if (run->st->format == DOC_JSON) {
        doc_out_appendf(&run->out, "%s{\"page\":%d,\"text\":", run->pages ? "," : "", number);
        doc_out_json_string(&run->out, page.text);
        doc_out_appendf(&run->out, ",\"confidence\":%d}", page.confidence);
    } else {
        doc_out_append(&run->out, page.text, strlen(page.text));
        doc_out_append(&run->out, "\f", 1);
    }
    run->pages++;
    run->confidence_sum += page.confidence;
    free(page.text);
}

static int read_pdf(ocr_run *run, char *err, size_t size) {
    PopplerDocument *doc = doc_pdf_open(run->path, err, size);
    if (doc == NULL) return -1;
    int count = poppler_document_get_n_pages(doc), rc = 0;
    if (count <= 0) {
        snprintf(err, size, "the PDF has no pages (damaged?)");
        rc = -1;
    }
    for (int i = 0; i < count && rc == 0; i++) {
        if (!doc_pages_contains(&run->st->pages, i + 1)) continue;
        if (cancelled(run)) {
            snprintf(err, size, "cancelled");
            rc = -1;
            break;
        }
        PopplerPage *page = poppler_document_get_page(doc, i);
        if (page == NULL) {
            snprintf(err, size, "poppler cannot read page %d", i + 1);
            rc = -1;
            break;
        }
        ocr_page result;
        rc = ocr_read_page(run->st->pool, page, run->st->dpi, cancelled, run, &result, err, size);
        g_object_unref(page);
        if (rc == 0) put_page(run, &result, i + 1);
    }
    g_object_unref(doc);
    if (rc == 0 && run->pages == 0) {
        snprintf(err, size, "option 'pages' selects no page of this document, which has %d", count);
        rc = -1;
    }
    return rc;
}

/* The resolution an image says it has, or the dpi option when it says none
 * (tesseract sizes its expectations of letters by it). */
static int image_dpi(const ocr_state *st, PIX *pix) {
    int x = pixGetXRes(pix);
    return x >= 50 && x <= 2400 ? x : st->dpi;
}

static int read_image(ocr_run *run, file_kind kind, char *err, size_t size) {
    int count = 1;
    if (kind == KIND_TIFF) {
        FILE *f = fopen(run->path, "rb");
        if (f == NULL || tiffGetCount(f, &count) != 0) count = 1;
        if (f) fclose(f);
    }
    for (int i = 0; i < count; i++) {
        if (!doc_pages_contains(&run->st->pages, i + 1)) continue;
        PIX *pix = kind == KIND_TIFF ? pixReadTiff(run->path, i) : pixRead(run->path);
        if (pix == NULL) {
            snprintf(err, size, "cannot decode the %s image%s (damaged or unsupported)",
                     kind == KIND_PNG ? "PNG" : kind == KIND_JPEG ? "JPEG" : "TIFF",
                     count > 1 ? " page" : "");
            return -1;
        }
        if ((double)pixGetWidth(pix) * pixGetHeight(pix) > (double)OCR_MAX_PIXELS) {
            snprintf(err, size, "the image is %dx%d pixels: more than %u", pixGetWidth(pix),
                     pixGetHeight(pix), OCR_MAX_PIXELS);
            pixDestroy(&pix);
            return -1;
        }
        ocr_page result;
        int rc = ocr_recognize(run->st->pool, pix, image_dpi(run->st, pix), cancelled, run, &result, err, size);
        pixDestroy(&pix);
        if (rc != 0) return -1;
        put_page(run, &result, i + 1);
    }
    if (run->pages == 0) {
        snprintf(err, size, "option 'pages' selects no page of this image, which has %d", count);
        return -1;
    }
    return 0;
}

static int deliver(ocr_run *run) {
    const bc_host_api *host = run->st->host;
    if (run->st->format == DOC_JSON)
        doc_out_appendf(&run->out, "],\"confidence\":%.1f}", (double)run->confidence_sum / run->pages);
    if (run->out.failed) return doc_report(host, run->call, BC_OUTCOME_RETRY, "ocr: out of memory");
    int rc = run->st->format == DOC_JSON ? host->set_output_json(run->call, run->out.data, run->out.len)
                                         : host->set_output(run->call, run->out.data, run->out.len);
    if (rc != 0) return doc_report(host, run->call, BC_OUTCOME_FAIL, "ocr: the host refused the output (error %d)", rc);
    host->add_units(run->call, (uint64_t)run->pages);
    if (run->with_text == 0)
        return doc_report(host, run->call, BC_OUTCOME_PARTIAL, "no text found in '%s'", run->path);
    return BC_OUTCOME_DONE;
}

static int ocr_process(void *state, bc_call *call, const bc_doc *doc) {
    const ocr_state *st = state;
    const bc_host_api *host = st->host;
    if (doc->path == NULL)
        return doc_report(host, call, BC_OUTCOME_FAIL,
                          "document '%s' has no file: the ocr processor reads the image or PDF at the "
                          "document's path (use it as the first stage)", doc->id);
    file_kind kind;
    if (sniff(doc->path, &kind) != 0)
        return doc_report(host, call, BC_OUTCOME_FAIL, "cannot read '%s': %s", doc->path, g_strerror(errno));
    if (kind == KIND_UNKNOWN)
        return doc_report(host, call, BC_OUTCOME_FAIL,
                          "'%s' is not a PDF, PNG, JPEG or TIFF file (by its first bytes)", doc->path);

    ocr_run run = {.st = st, .call = call, .path = doc->path};
    if (st->format == DOC_JSON) doc_out_append(&run.out, "{\"pages\":[", 10);
    char err[1024];
    int rc = kind == KIND_PDF ? read_pdf(&run, err, sizeof err) : read_image(&run, kind, err, sizeof err);
    int outcome;
    if (rc != 0) {
        int again = host->is_cancelled(call);
        outcome = doc_report(host, call, again ? BC_OUTCOME_RETRY : BC_OUTCOME_FAIL, "'%s': %s", doc->path, err);
    } else {
        outcome = deliver(&run);
    }
    doc_out_free(&run.out);
    return outcome;
}

/* ---- create() / destroy() ----------------------------------------------- */

static void ocr_destroy(void *state) {
    ocr_state *st = state;
    if (st == NULL) return;
    ocr_pool_free(st->pool);
    doc_pages_free(&st->pages);
    free(st);
}

static int ocr_create(const bc_host_api *host, const bc_config *config, void **state,
                      char *errbuf, size_t errbuf_size) {
    if (host == NULL || host->abi_version != BC_PLUGIN_ABI_MAJOR || !BC_HOST_HAS(host, add_units)) {
        snprintf(errbuf, errbuf_size, "ocr: the host's service table is too old for this plugin");
        return -1;
    }
    ocr_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(errbuf, errbuf_size, "ocr: out of memory");
        return -1;
    }
    st->host = host;
    st->dpi = 300;
    const char *lang = host->config_get(config, "lang");
    if (doc_option_format(host->config_get(config, "format"), &st->format, errbuf, errbuf_size) != 0 ||
        doc_option_dpi(host->config_get(config, "dpi"), &st->dpi, errbuf, errbuf_size) != 0 ||
        doc_pages_parse(&st->pages, host->config_get(config, "pages"), errbuf, errbuf_size) != 0 ||
        (st->pool = ocr_pool_new(lang ? lang : "eng", errbuf, errbuf_size)) == NULL) {
        ocr_destroy(st);
        return -1;
    }
    *state = st;
    return 0;
}

/* ---- Descriptor --------------------------------------------------------- */

static const bc_plugin_option ocr_options[] = {
    {"lang", "eng", "Tesseract language(s), e.g. eng or eng+deu (Debian: tesseract-ocr-LANG)"},
    {"dpi", "300", "Resolution PDF pages are rendered at (and assumed for images that state none)"},
    {"format", "text", "text (pages ended by a form feed) or json (text and mean confidence per page)"},
    {"pages", NULL, "Pages of a PDF or multi-page TIFF to read, e.g. 1-3 or 2,5,9- (default: all)"},
    {NULL, NULL, NULL},
};

static const bc_plugin ocr_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "ocr",
    .version = "1.0.0",
    .description = "Reads the text of scans (PNG, JPEG, TIFF, PDF pages) with tesseract",
    .flags = BC_PLUGIN_FLAG_PREFERS_PROCESS,
    .options = ocr_options,
    .create = ocr_create,
    .process = ocr_process,
    .destroy = ocr_destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &ocr_plugin;
}

/* ---- For the pdf plugin ------------------------------------------------- */

static const ocr_api exported_api = {
    .struct_size = sizeof(ocr_api),
    .pool_new = ocr_pool_new,
    .pool_free = ocr_pool_free,
    .read_page = ocr_read_page,
};

/* The OCR that the pdf plugin's ocr=auto loads (dlopen) from this file. */
BC_PLUGIN_EXPORT const ocr_api *batchcore_ocr_api(void);
BC_PLUGIN_EXPORT const ocr_api *batchcore_ocr_api(void) {
    return &exported_api;
}
