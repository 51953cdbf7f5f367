/*
 * pdf — the bundled batchcore plugin that extracts the text of PDF files
 * with poppler.
 *
 * For each document (the file at doc->path) it outputs the text of the
 * selected pages:
 *   format=text  the pages' text, each page ended by a form feed ("\f"), as
 *                pdftotext does;
 *   format=json  {"metadata": {"title", "author", "creation_date" (ISO
 *                8601), "producer", "pages" (the document's page count)},
 *                "pages": [{"page": 1, "text": "...", "text_layer": true}],
 *                "no_text_layer": [pages without text]}; with ocr=auto a
 *                page read by OCR also has "ocr": true and "confidence".
 *
 * A page has no text layer when poppler finds only white space on it (a
 * scan). A document where no selected page has one is PARTIAL with the
 * error "no text layer: scanned? use ocr=auto or the ocr processor" (or
 * "no text layer, and OCR found no text either" with ocr=auto), unless
 * ocr=auto: then those pages are rendered at `dpi` and read by tesseract
 * (lang) with the ocr plugin's own code: create() loads libbatchcore-ocr.so
 * from this plugin's directory and takes its batchcore_ocr_api(), so
 * without ocr=auto tesseract is never loaded.
 *
 * Pages are read one at a time and their text appended to the output at
 * once, so a document's text is never held twice.
 *
 * Failures (FAIL): no path; a file poppler cannot open (encrypted, damaged,
 * not a PDF), with poppler's reason; `pages` selecting no page of the
 * document. A cancelled call stops between pages with RETRY.
 *
 * The descriptor sets BC_PLUGIN_FLAG_PREFERS_PROCESS: PDFs come from
 * outside, and a malformed one must cost only its own document.
 *
 * Thread safety: the state is read-only after create(), except the OCR
 * handle pool, which has its own lock.
 */
#define _GNU_SOURCE /* dladdr */

#include "batchcore_plugin.h"
#include "doccore.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pdf_state {
    const bc_host_api *host;
    doc_format format;
    int layout;
    int ocr_auto;
    int dpi;
    doc_pages pages;
    /* With ocr=auto only: the ocr plugin's library, its OCR and a pool. */
    void *ocr_library;
    const ocr_api *ocr_api;
    ocr_pool *ocr;
} pdf_state;

/* ---- Page text ---------------------------------------------------------- */

static int is_blank(const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\f' && *p != '\v') return 0;
    return 1;
}

/* layout=true: the page's text as rows of characters placed at their
 * columns, as pdftotext -layout does, from the position of every
 * character. Characters are grouped into rows by their vertical middle, a
 * column is the page's mean character width, and a word's characters stay
 * together: spaces are put only where the page has a gap. Falls back to
 * the plain text when poppler has no positions for it. */
typedef struct placed {
    double x1, x2, mid;
    long row;
    const char *text;
    int len;
} placed;

static int by_middle(const void *a, const void *b) {
    const placed *p = a, *q = b;
    return (p->mid > q->mid) - (p->mid < q->mid);
}

static int by_row_then_x(const void *a, const void *b) {
    const placed *p = a, *q = b;
    if (p->row != q->row) return (p->row > q->row) - (p->row < q->row);
    return (p->x1 > q->x1) - (p->x1 < q->x1);
}

static char *layout_text(PopplerPage *page, char *plain) {
    PopplerRectangle *rects = NULL;
    guint n = 0;
    if (!poppler_page_get_text_layout(page, &rects, &n) || n == 0 ||
        (glong)n != g_utf8_strlen(plain, -1)) {
        g_free(rects);
        return plain;
    }
    placed *chars = g_new(placed, n);
    size_t count = 0;
    double width = 0, height = 0;
    const char *p = plain;
    for (guint i = 0; i < n; i++) {
        const char *next = g_utf8_next_char(p);
        if (!g_unichar_isspace(g_utf8_get_char(p))) {
            chars[count++] = (placed){rects[i].x1, rects[i].x2, (rects[i].y1 + rects[i].y2) / 2, 0, p,
                                      (int)(next - p)};
            width += rects[i].x2 - rects[i].x1;
            height += rects[i].y2 - rects[i].y1;
        }
        p = next;
    }
    g_free(rects);
    if (count == 0) {
        g_free(chars);
        return plain;
    }
    double column = width / count > 1 ? width / count : 1, line = height / count;
    qsort(chars, count, sizeof *chars, by_middle);
    double row_mid = chars[0].mid;
    for (size_t i = 1; i < count; i++) {
        chars[i].row = chars[i - 1].row;
        if (chars[i].mid - row_mid > line / 2) {
            chars[i].row++;
            row_mid = chars[i].mid;
        }
    }
    qsort(chars, count, sizeof *chars, by_row_then_x);

    GString *out = g_string_sized_new(strlen(plain) * 2);
    long at = 0; /* the column the next character lands on */
    for (size_t i = 0; i < count; i++) {
        const placed *c = &chars[i];
        if (i > 0 && c->row != chars[i - 1].row) {
            g_string_append_c(out, '\n');
            at = 0;
        }
        int word_start = i == 0 || c->row != chars[i - 1].row || c->x1 - chars[i - 1].x2 > column / 3;
        if (word_start) {
            long want = (long)(c->x1 / column + 0.5);
            if (i > 0 && c->row == chars[i - 1].row && want <= at) want = at + 1;
            for (; at < want && at < 1000; at++) g_string_append_c(out, ' ');
        }
        g_string_append_len(out, c->text, c->len);
        at++;
    }
    g_free(chars);
    g_free(plain);
    return g_string_free(out, FALSE);
}

/* The text of one page (g_free it), NULL when poppler has none. */
static char *page_text(const pdf_state *st, PopplerPage *page) {
    char *text = poppler_page_get_text(page);
    if (text != NULL && st->layout) text = layout_text(page, text);
    return text;
}

/* ---- Metadata ----------------------------------------------------------- */

static void json_field(doc_out *out, const char *key, char *value) {
    doc_out_appendf(out, "\"%s\":", key);
    doc_out_json_string(out, value);
    doc_out_append(out, ",", 1);
    g_free(value);
}

static void put_metadata(doc_out *out, PopplerDocument *doc, int page_count) {
    doc_out_append(out, "{\"metadata\":{", 13);
    json_field(out, "title", poppler_document_get_title(doc));
    json_field(out, "author", poppler_document_get_author(doc));
    GDateTime *created = poppler_document_get_creation_date_time(doc);
    json_field(out, "creation_date", created ? g_date_time_format_iso8601(created) : NULL);
    if (created) g_date_time_unref(created);
    json_field(out, "producer", poppler_document_get_producer(doc));
    doc_out_appendf(out, "\"pages\":%d},\"pages\":[", page_count);
}

/* ---- process() ---------------------------------------------------------- */

typedef struct pdf_run {
    const pdf_state *st;
    bc_call *call;
    doc_out out;
    GString *blank;   /* page numbers without a text layer, "2,5" */
    int pages_read;
    int pages_with_text;
} pdf_run;

static int cancelled(const void *arg) {
    const pdf_run *run = arg;
    return run->st->host->is_cancelled(run->call);
}

/* Appends one page to the output. Returns 0, or -1 with err. */
static int put_page(pdf_run *run, PopplerPage *page, int number, char *err, size_t size) {
    const pdf_state *st = run->st;
    char *text = page_text(st, page);
    int layer = text != NULL && !is_blank(text);
    ocr_page ocr = {NULL, -1};
    if (!layer) {
        g_string_append_printf(run->blank, "%s%d", run->blank->len ? "," : "", number);
        if (st->ocr_auto) {
            if (st->ocr_api->read_page(st->ocr, page, st->dpi, cancelled, run, &ocr, err, size) != 0) {
                g_free(text);
                return -1;
            }
        }
    }
    const char *body = ocr.text ? ocr.text : text ? text : "";
    if (layer || (ocr.text && !is_blank(ocr.text))) run->pages_with_text++;

    if (st->format == DOC_JSON) {
        doc_out_appendf(&run->out, "%s{\"page\":%d,\"text\":", run->pages_read ? "," : "", number);
        doc_out_json_string(&run->out, body);
        doc_out_appendf(&run->out, ",\"text_layer\":%s", layer ? "true" : "false");
        if (ocr.text) doc_out_appendf(&run->out, ",\"ocr\":true,\"confidence\":%d", ocr.confidence);
        doc_out_append(&run->out, "}", 1);
    } else {
        doc_out_append(&run->out, body, strlen(body));
        doc_out_append(&run->out, "\f", 1);
    }
    run->pages_read++;
    free(ocr.text);
    g_free(text);
    return 0;
}

static int finish(pdf_run *run, int page_count) {
    const bc_host_api *host = run->st->host;
    if (run->st->format == DOC_JSON)
        doc_out_appendf(&run->out, "],\"no_text_layer\":[%s]}", run->blank->str);
    if (run->out.failed)
        return doc_report(host, run->call, BC_OUTCOME_RETRY, "pdf: out of memory for the text of %d pages", page_count);
    const char *data = run->out.data ? run->out.data : "";
    int rc = run->st->format == DOC_JSON ? host->set_output_json(run->call, data, run->out.len)
                                         : host->set_output(run->call, data, run->out.len);
    if (rc != 0) return doc_report(host, run->call, BC_OUTCOME_FAIL, "pdf: the host refused the output (error %d)", rc);
    host->add_units(run->call, (uint64_t)run->pages_read);
    if (run->pages_with_text == 0 && run->st->ocr_auto)
        return doc_report(host, run->call, BC_OUTCOME_PARTIAL, "no text layer, and OCR found no text either");
    if (run->pages_with_text == 0)
        return doc_report(host, run->call, BC_OUTCOME_PARTIAL,
                          "no text layer: scanned? use ocr=auto or the ocr processor");
    return BC_OUTCOME_DONE;
}

static int read_pages(pdf_run *run, PopplerDocument *doc, const char *path) {
    const pdf_state *st = run->st;
    const bc_host_api *host = st->host;
    int count = poppler_document_get_n_pages(doc);
    if (count <= 0) return doc_report(host, run->call, BC_OUTCOME_FAIL, "'%s' has no pages (damaged?)", path);
    if (st->format == DOC_JSON) put_metadata(&run->out, doc, count);
    for (int i = 0; i < count; i++) {
        if (!doc_pages_contains(&st->pages, i + 1)) continue;
        if (host->is_cancelled(run->call))
            return doc_report(host, run->call, BC_OUTCOME_RETRY, "cancelled at page %d of '%s'", i + 1, path);
        PopplerPage *page = poppler_document_get_page(doc, i);
        if (page == NULL)
            return doc_report(host, run->call, BC_OUTCOME_FAIL, "'%s': poppler cannot read page %d", path, i + 1);
        char err[1024];
        int rc = put_page(run, page, i + 1, err, sizeof err);
        g_object_unref(page);
        if (rc != 0)
            return doc_report(host, run->call, host->is_cancelled(run->call) ? BC_OUTCOME_RETRY : BC_OUTCOME_FAIL,
                              "'%s': %s", path, err);
    }
    if (run->pages_read == 0)
        return doc_report(host, run->call, BC_OUTCOME_FAIL,
                          "option 'pages' selects no page of '%s', which has %d", path, count);
    return finish(run, count);
}

static int pdf_process(void *state, bc_call *call, const bc_doc *doc) {
    const pdf_state *st = state;
    const bc_host_api *host = st->host;
    if (doc->path == NULL)
        return doc_report(host, call, BC_OUTCOME_FAIL,
                          "document '%s' has no file: the pdf processor reads the PDF at the document's path "
                          "(use it as the first stage)", doc->id);
    char err[1024];
    PopplerDocument *pdf = doc_pdf_open(doc->path, err, sizeof err);
    if (pdf == NULL) return doc_report(host, call, BC_OUTCOME_FAIL, "%s", err);

    pdf_run run = {.st = st, .call = call, .blank = g_string_new(NULL)};
    int outcome = read_pages(&run, pdf, doc->path);
    g_string_free(run.blank, TRUE);
    doc_out_free(&run.out);
    g_object_unref(pdf);
    return outcome;
}

/* ---- create() / destroy() ----------------------------------------------- */

static void pdf_destroy(void *state) {
    pdf_state *st = state;
    if (st == NULL) return;
    if (st->ocr) st->ocr_api->pool_free(st->ocr);
    if (st->ocr_library) dlclose(st->ocr_library);
    doc_pages_free(&st->pages);
    free(st);
}

/* ocr=auto: the OCR of libbatchcore-ocr.so, beside this plugin, and a pool
 * of tesseract handles for `lang`. Returns 0, or -1 with a message. */
static int load_ocr(pdf_state *st, const char *lang, char *errbuf, size_t size) {
    Dl_info self;
    if (dladdr((void *)load_ocr, &self) == 0 || self.dli_fname == NULL) {
        snprintf(errbuf, size, "ocr=auto: cannot tell where the pdf plugin was loaded from");
        return -1;
    }
    const char *slash = strrchr(self.dli_fname, '/');
    int dir = slash ? (int)(slash - self.dli_fname) : 1;
    char path[4096];
    snprintf(path, sizeof path, "%.*s/libbatchcore-ocr.so", dir, slash ? self.dli_fname : ".");
    st->ocr_library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ocr_api_fn entry = st->ocr_library ? (ocr_api_fn)dlsym(st->ocr_library, OCR_API_SYMBOL) : NULL;
    st->ocr_api = entry ? entry() : NULL;
    if (st->ocr_api == NULL || st->ocr_api->struct_size < sizeof(ocr_api)) {
        snprintf(errbuf, size, "ocr=auto needs the ocr plugin beside the pdf plugin: %s",
                 st->ocr_library ? "its OCR interface is missing or too old" : dlerror());
        return -1;
    }
    st->ocr = st->ocr_api->pool_new(lang, errbuf, size);
    return st->ocr ? 0 : -1;
}

static int pdf_create(const bc_host_api *host, const bc_config *config, void **state,
                      char *errbuf, size_t errbuf_size) {
    if (host == NULL || host->abi_version != BC_PLUGIN_ABI_MAJOR || !BC_HOST_HAS(host, add_units)) {
        snprintf(errbuf, errbuf_size, "pdf: the host's service table is too old for this plugin");
        return -1;
    }
    pdf_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(errbuf, errbuf_size, "pdf: out of memory");
        return -1;
    }
    st->host = host;
    st->dpi = 300;
#define OPT(name) host->config_get(config, name)
    const char *ocr = OPT("ocr");
    const char *lang = OPT("lang");
    if (doc_option_format(OPT("format"), &st->format, errbuf, errbuf_size) != 0 ||
        doc_option_bool("layout", OPT("layout"), &st->layout, errbuf, errbuf_size) != 0 ||
        doc_option_dpi(OPT("dpi"), &st->dpi, errbuf, errbuf_size) != 0 ||
        doc_pages_parse(&st->pages, OPT("pages"), errbuf, errbuf_size) != 0)
        goto fail;
#undef OPT
    if (ocr != NULL && strcmp(ocr, "auto") != 0 && strcmp(ocr, "off") != 0) {
        snprintf(errbuf, errbuf_size, "invalid value '%s' for option 'ocr': expected off (flag pages "
                 "without a text layer) or auto (read them by OCR)", ocr);
        goto fail;
    }
    st->ocr_auto = ocr != NULL && strcmp(ocr, "auto") == 0;
    if (st->ocr_auto && load_ocr(st, lang ? lang : "eng", errbuf, errbuf_size) != 0) goto fail;
    *state = st;
    return 0;
fail:
    pdf_destroy(st);
    return -1;
}

/* ---- Descriptor --------------------------------------------------------- */

static const bc_plugin_option pdf_options[] = {
    {"format", "text", "text (pages ended by a form feed) or json (pages, text per page, pages without a text layer, metadata)"},
    {"layout", "false", "Keep the physical layout: words at their columns, as pdftotext -layout"},
    {"pages", NULL, "Pages to read, e.g. 1-3 or 2,5,9- (default: all)"},
    {"ocr", "off", "auto: read pages without a text layer (scans) with tesseract; off: flag them"},
    {"lang", "eng", "With ocr=auto: tesseract language(s), e.g. eng or eng+deu"},
    {"dpi", "300", "With ocr=auto: resolution pages are rendered at for OCR"},
    {NULL, NULL, NULL},
};

static const bc_plugin pdf_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "pdf",
    .version = "1.0.0",
    .description = "Extracts the text and metadata of PDF files with poppler, page by page",
    .flags = BC_PLUGIN_FLAG_PREFERS_PROCESS,
    .options = pdf_options,
    .create = pdf_create,
    .process = pdf_process,
    .destroy = pdf_destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &pdf_plugin;
}
