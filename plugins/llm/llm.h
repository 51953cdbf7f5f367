/*
 * llm.h — declarations shared by the files of the llm plugin.
 *
 * The plugin is split by concept:
 *   llm.c          descriptor, create/process/destroy/estimate
 *   config.c       stage options -> llm_config, checked once in create()
 *   prompt.c       the prompt template and the document's text
 *   attach.c       the document's own file (PDF or image) sent with the prompt
 *   api.c          request bodies and replies of the two wire formats
 *   http.c         the libcurl handle pool and one POST
 *   retry_delay.c  how long a 429/503 asks us to wait, from its headers
 *   prices.c       list prices of well-known models
 *   buf.c          a growable byte buffer
 *
 * Nothing here is exported: the only public symbol of the shared object is
 * batchcore_plugin_entry().
 */
#ifndef BATCHCORE_LLM_H
#define BATCHCORE_LLM_H

#include "batchcore_plugin.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* ---- buf.c ------------------------------------------------------------- */

/* A growable byte buffer, always NUL-terminated so it can be read as text. */
typedef struct llm_buf {
    char *data;
    size_t len;
    size_t cap;
} llm_buf;

int llm_buf_append(llm_buf *b, const void *data, size_t len); /* 0, or -1 out of memory */
int llm_buf_appendf(llm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void llm_buf_free(llm_buf *b);

/* Reads a whole file into b. Returns 0, or an errno value. */
int llm_read_file(llm_buf *b, const char *path);

/* strerror, thread-safe: the message for errno value err, written to buf. */
const char *llm_strerror(int err, char *buf, size_t size);

/* ---- config.c ---------------------------------------------------------- */

typedef enum llm_provider {
    LLM_OPENAI = 0,    /* Chat Completions: OpenAI, Ollama, vLLM, LM Studio, ... */
    LLM_ANTHROPIC = 1  /* Messages API */
} llm_provider;

/* attach=: whether the document's file goes with the prompt (attach.c). */
typedef enum llm_attach_mode {
    LLM_ATTACH_AUTO = 0,
    LLM_ATTACH_PDF = 1,
    LLM_ATTACH_IMAGE = 2,
    LLM_ATTACH_NONE = 3
} llm_attach_mode;

/* Everything create() learnt from the stage options. Read-only afterwards,
 * shared by every worker thread. */
typedef struct llm_config {
    llm_provider provider;
    char *url;           /* full endpoint: base_url + /chat/completions or /messages */
    char *model;
    char *api_key;       /* from the environment; NULL when none is needed */
    char *prompt;        /* the template, already loaded from @file */
    char *prepare_prompt; /* asked once per stage in prepare(); NULL when unset */
    char *system;        /* NULL when unset */
    uint64_t max_tokens;
    double temperature;  /* < 0: not sent */
    int json;            /* ask for JSON and parse the reply */
    long timeout_ms;     /* whole request */
    int max_completion_tokens; /* send OpenAI's newer field name (api.openai.com only) */
    llm_attach_mode attach;
    struct curl_slist *headers; /* every request header, auth included */
} llm_config;

/* Fills cfg from the stage options. On failure writes a message to errbuf
 * and returns -1; cfg is then freed already. */
int llm_config_load(llm_config *cfg, const bc_host_api *host, const bc_config *config,
                    char *errbuf, size_t errbuf_size);
void llm_config_free(llm_config *cfg);

/* Replaces every occurrence of `secret` in `text` with "***", in place. */
void llm_redact(char *text, const char *secret);

/* ---- prompt.c ---------------------------------------------------------- */

/* True when the template uses {text} (the document must then be read). */
int llm_prompt_uses_text(const char *tmpl);

/* Expands the template for one document into out; {shared} is `shared`
 * (prepare_prompt's answer; "" when NULL). On failure writes a message to
 * err (the document's own problem: a missing metadata key, an unreadable
 * file) and returns -1. */
int llm_prompt_render(llm_buf *out, const char *tmpl, const bc_doc *doc, const char *shared,
                      char *err, size_t err_size);

/* ---- attach.c ---------------------------------------------------------- */

/* "auto", "pdf", "image", "none" -> mode. Returns 0, or -1 for another value. */
int llm_attach_parse(const char *value, llm_attach_mode *mode);

/* The document's file, when it goes with the prompt. */
typedef struct llm_attachment {
    llm_buf bytes;          /* the file; data NULL when nothing is attached */
    const char *media_type; /* "application/pdf", "image/png", ... */
    const char *filename;   /* the path's last component (borrowed from the doc) */
    unsigned pages;         /* PDF pages, as counted */
} llm_attachment;

/* Loads the attachment this document gets under cfg->attach (none, maybe).
 * Returns 0, or -1 with a message in err: a file of the wrong kind, an
 * unreadable one, one over the provider's size or page limits. */
int llm_attachment_load(llm_attachment *a, const llm_config *cfg, const bc_doc *doc,
                        char *err, size_t err_size);
void llm_attachment_free(llm_attachment *a);

/* The file as base64 text (malloc'd), NULL when out of memory. */
char *llm_attachment_base64(const llm_attachment *a);

/* Tokens the attachment will likely cost (per PDF page, per image). */
uint64_t llm_attachment_tokens(const llm_attachment *a, const llm_config *cfg);

/* For estimate(): the tokens of the file this document would send. Returns
 * 1 when a file goes (then the text is not counted), else 0. */
int llm_attach_estimate(const llm_config *cfg, const bc_doc *doc, uint64_t *tokens);

/* True when the document's text (the previous stage's output, or the file)
 * is empty or white space. */
int llm_text_is_blank(const bc_doc *doc);

/* ---- api.c ------------------------------------------------------------- */

/* The JSON body of one request: the prompt, after the attachment when
 * there is one (NULL or empty: none). Returns 0, or -1 when the text is not
 * UTF-8 (the message is in err). */
int llm_request_body(llm_buf *out, const llm_config *cfg, const char *user_text,
                     size_t user_len, const llm_attachment *attachment, char *err, size_t err_size);

/* What a successful (2xx) reply said. */
typedef struct llm_reply {
    char *text;             /* the answer, malloc'd */
    uint64_t input_tokens;
    uint64_t output_tokens;
    int truncated;          /* stopped at max_tokens */
} llm_reply;

/* Parses a 2xx body. Returns 0, or -1 with a message in err when the body
 * is not the shape the API documents. */
int llm_reply_parse(llm_reply *reply, const llm_config *cfg, const char *body,
                    size_t len, char *err, size_t err_size);

/* The API's own message in an error body (both APIs use error.message), or
 * the start of the body when it has none. Writes into err. */
void llm_error_message(const char *body, size_t len, char *err, size_t err_size);

/* ---- http.c ------------------------------------------------------------ */

/* Idle easy handles. A worker takes one for a request and gives it back, so
 * there are never more handles than workers running at once, and a handle
 * keeps its open connections between requests. */
typedef struct llm_pool {
    pthread_mutex_t lock;
    CURL **idle;
    size_t count;
    size_t cap;
} llm_pool;

int llm_pool_init(llm_pool *pool);
void llm_pool_destroy(llm_pool *pool);

/* Headers of a response that say when to try again (raw values, trimmed;
 * "" when absent). */
typedef struct llm_wait_headers {
    char retry_after[64];     /* Retry-After: seconds or an HTTP date */
    char retry_after_ms[32];  /* retry-after-ms (OpenAI) */
    char anthropic_reset[64]; /* anthropic-ratelimit-requests-reset: RFC 3339 time */
    char openai_reset[32];    /* x-ratelimit-reset-requests: "1s", "6m0s", "20ms" */
} llm_wait_headers;

typedef struct llm_response {
    long status;            /* HTTP status, 0 when no response came */
    llm_buf body;
    llm_wait_headers wait;
    CURLcode curl_code;
    char curl_error[CURL_ERROR_SIZE];
} llm_response;

/* POSTs body to cfg->url. Never fails without filling resp: a transport
 * error leaves status 0 and curl_code/curl_error set. */
void llm_post(llm_response *resp, llm_pool *pool, const llm_config *cfg,
              const bc_host_api *host, bc_call *call, const char *body, size_t len);

/* ---- retry_delay.c ----------------------------------------------------- */

/* Milliseconds the server asks us to wait, or -1 when its headers do not
 * say. `now` is the current time in seconds since the epoch. */
int64_t llm_retry_delay_ms(const llm_wait_headers *h, double now);

/* ---- prices.c ---------------------------------------------------------- */

/* List price of a model in USD per million tokens. Returns 0 when known. */
int llm_model_prices(const char *model, double *input, double *output);

#endif /* BATCHCORE_LLM_H */
