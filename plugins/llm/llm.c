/*
 * llm — the bundled batchcore plugin that asks a large language model about
 * each document, through an OpenAI-compatible Chat Completions endpoint
 * (OpenAI, Ollama, vLLM, LM Studio, ...) or Anthropic's Messages API.
 *
 * For each document it expands the prompt template (the document's text is
 * the previous stage's output, or the file at its path in the first stage),
 * sends one request, and outputs the reply's text — or, with json=true, the
 * reply parsed as JSON. Token usage comes from the API's usage fields.
 * With attach= the document's own PDF or image goes with the prompt, in the
 * block each API documents (attach.c). With prepare_prompt= one request is
 * made in prepare(), once per batch stage, and its answer is every
 * document's {shared}.
 *
 * Outcomes:
 *   DONE     a reply (valid JSON when json=true).
 *   PARTIAL  a reply cut off at max_tokens, or not JSON with json=true: the
 *            raw text is kept as the output, the reason is the error.
 *   RETRY    429, 503, 529 (with the wait the server asks for), other 5xx,
 *            408, 409, connection errors, timeouts, a malformed reply body,
 *            and a call the host cancelled.
 *   FAIL     any other status (400, 401, 403, 404, ...) with the API's own
 *            message; a prompt that cannot be built (unreadable file,
 *            missing metadata, text that is not UTF-8); an empty document
 *            with nothing attached ("empty input: nothing to send"); an
 *            attachment of the wrong kind or over the provider's limits.
 *            None of these sends a request.
 *
 * The API key is read from an environment variable in create() and only
 * ever written into request headers; it is scrubbed from every message the
 * plugin reports, since some APIs quote it back in their errors.
 *
 * Thread safety: the state is written by create() only, except the handle
 * pool, which has its own lock.
 */
#define _POSIX_C_SOURCE 200809L

#include "llm.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct llm_state {
    const bc_host_api *host;
    llm_config cfg;
    llm_pool pool;
    int uses_text;
    size_t fixed_prompt_bytes; /* template and system text, for estimate() */
    char *shared;              /* prepare_prompt's answer ({shared}); NULL without one */
} llm_state;

/* ---- Reporting ---------------------------------------------------------- */

/* Sets the document's error (with the key scrubbed) and returns outcome. */
static int report(const llm_state *st, bc_call *call, int outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int report(const llm_state *st, bc_call *call, int outcome, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    llm_redact(msg, st->cfg.api_key);
    st->host->set_error(call, msg);
    return outcome;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Replies ------------------------------------------------------------ */

/* Models often wrap JSON in a Markdown fence despite being asked not to:
 * ```json\n{...}\n``` -> {...}. Returns the inner span. */
static void strip_fence(const char **text, size_t *len) {
    const char *s = *text, *e = s + *len;
    while (s < e && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\t')) e--;
    if (e - s >= 6 && strncmp(s, "```", 3) == 0 && strncmp(e - 3, "```", 3) == 0) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));
        if (nl != NULL && nl < e - 3) {
            s = nl + 1;
            e -= 3;
        }
    }
    *text = s;
    *len = (size_t)(e - s);
}

/* Outputs the reply and picks the outcome. */
static int deliver(const llm_state *st, bc_call *call, const llm_reply *reply) {
    const bc_host_api *host = st->host;
    size_t len = strlen(reply->text);
    char cut[128] = "";
    if (reply->truncated)
        snprintf(cut, sizeof cut, "the reply was cut off at max_tokens (%llu)",
                 (unsigned long long)st->cfg.max_tokens);

    if (st->cfg.json) {
        const char *json = reply->text;
        size_t json_len = len;
        strip_fence(&json, &json_len);
        json_error_t jerr;
        json_t *value = json_loadb(json, json_len, JSON_DECODE_ANY, &jerr);
        json_decref(value);
        if (value != NULL && host->set_output_json(call, json, json_len) == 0) {
            return reply->truncated ? report(st, call, BC_OUTCOME_PARTIAL, "%s", cut) : BC_OUTCOME_DONE;
        }
        host->set_output(call, reply->text, len);
        return report(st, call, BC_OUTCOME_PARTIAL, "the reply is not valid JSON (%s)%s%s",
                      value == NULL ? jerr.text : "refused by the host", cut[0] ? "; " : "", cut);
    }
    host->set_output(call, reply->text, len);
    return reply->truncated ? report(st, call, BC_OUTCOME_PARTIAL, "%s", cut) : BC_OUTCOME_DONE;
}

/* Maps a finished transfer to an outcome. */
static int outcome_of(const llm_state *st, bc_call *call, llm_response *resp) {
    const bc_host_api *host = st->host;
    const char *body = resp->body.data ? resp->body.data : "";
    size_t body_len = resp->body.len;

    if (resp->status == 0) {
        switch (resp->curl_code) {
        case CURLE_ABORTED_BY_CALLBACK:
            return report(st, call, BC_OUTCOME_RETRY, "cancelled");
        case CURLE_OPERATION_TIMEDOUT:
            return report(st, call, BC_OUTCOME_RETRY, "no reply from %s within request_timeout (%.3gs)",
                          st->cfg.url, (double)st->cfg.timeout_ms / 1000.0);
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return report(st, call, BC_OUTCOME_FAIL, "bad URL %s: %s", st->cfg.url, resp->curl_error);
        default:
            return report(st, call, BC_OUTCOME_RETRY, "request to %s failed: %s", st->cfg.url,
                          resp->curl_error);
        }
    }

    if (resp->status >= 200 && resp->status < 300) {
        llm_reply reply;
        char err[512];
        if (llm_reply_parse(&reply, &st->cfg, body, body_len, err, sizeof err) != 0)
            return report(st, call, BC_OUTCOME_RETRY, "%s", err);
        host->add_usage(call, reply.input_tokens, reply.output_tokens);
        int outcome = deliver(st, call, &reply);
        free(reply.text);
        return outcome;
    }

    char api_message[1024];
    llm_error_message(body, body_len, api_message, sizeof api_message);
    long s = resp->status;
    int transient = s == 429 || s == 503 || s == 529 || s >= 500 || s == 408 || s == 409;
    if (!transient) return report(st, call, BC_OUTCOME_FAIL, "HTTP %ld: %s", s, api_message);
    int64_t wait = llm_retry_delay_ms(&resp->wait, now_seconds());
    if (wait >= 0) host->retry_after(call, (uint64_t)wait);
    return report(st, call, BC_OUTCOME_RETRY, "HTTP %ld: %s", s, api_message);
}

/* ---- process() / estimate() --------------------------------------------- */

/* The prompt and the body of this document's request. Returns 0, or -1
 * with the reason in err (nothing is sent then). */
static int build_request(const llm_state *st, const bc_doc *doc, llm_buf *body, char *err, size_t size) {
    llm_attachment att;
    if (llm_attachment_load(&att, &st->cfg, doc, err, size) != 0) return -1;
    int attached = att.bytes.data != NULL;
    if (!attached && st->uses_text && llm_text_is_blank(doc)) {
        snprintf(err, size, "empty input: nothing to send");
        return -1;
    }
    /* An attached file is the document: {text} is then the previous
     * stage's output, or nothing in the first stage (not the file's bytes). */
    bc_doc text_doc = *doc;
    if (attached && text_doc.input == NULL) {
        text_doc.input = (const unsigned char *)"";
        text_doc.input_len = 0;
    }
    llm_buf prompt = {0};
    int rc = llm_prompt_render(&prompt, st->cfg.prompt, &text_doc, st->shared, err, size) != 0 ||
             llm_request_body(body, &st->cfg, prompt.data, prompt.len, &att, err, size) != 0 ? -1 : 0;
    llm_buf_free(&prompt);
    llm_attachment_free(&att);
    return rc;
}

static int llm_process(void *state, bc_call *call, const bc_doc *doc) {
    llm_state *st = state;
    llm_buf body = {0};
    char err[1024];

    if (build_request(st, doc, &body, err, sizeof err) != 0) {
        llm_buf_free(&body);
        return report(st, call, BC_OUTCOME_FAIL, "%s", err);
    }

    llm_response resp;
    llm_post(&resp, &st->pool, &st->cfg, st->host, call, body.data, body.len);
    llm_buf_free(&body);
    int outcome = outcome_of(st, call, &resp);
    llm_buf_free(&resp.body);
    return outcome;
}

/* About four bytes a token, for the prompt; an attached file by its pages
 * or as an image (attach.c); the reply may use max_tokens. */
static int llm_estimate(void *state, const bc_doc *doc, uint64_t *input_tokens, uint64_t *output_tokens) {
    const llm_state *st = state;
    uint64_t bytes = st->fixed_prompt_bytes, file_tokens = 0;
    int attached = llm_attach_estimate(&st->cfg, doc, &file_tokens);
    if (st->uses_text) {
        struct stat sb;
        if (doc->input != NULL) bytes += doc->input_len;
        else if (!attached && doc->path != NULL && stat(doc->path, &sb) == 0) bytes += (uint64_t)sb.st_size;
    }
    *input_tokens = (bytes + 3) / 4 + file_tokens;
    *output_tokens = st->cfg.max_tokens;
    return 0;
}

/* ---- create() / destroy() ----------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

/* Once per process; never undone, since other code in the process may use
 * libcurl too. */
static void init_curl(void) { curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The host can serve this plugin, and libcurl started. */
static int check_host(const bc_host_api *host, char *errbuf, size_t errbuf_size) {
    if (host == NULL || host->abi_version != BC_PLUGIN_ABI_MAJOR || !BC_HOST_HAS(host, config_get)) {
        snprintf(errbuf, errbuf_size, "llm: the host's service table is too old for this plugin");
        return -1;
    }
    pthread_once(&curl_once, init_curl);
    if (curl_init_code != CURLE_OK) {
        snprintf(errbuf, errbuf_size, "llm: libcurl failed to start: %s", curl_easy_strerror(curl_init_code));
        return -1;
    }
    return 0;
}

/* The one request of prepare_prompt: its answer goes to every create()
 * (set_shared), its tokens to the stage's prepare usage. Not retried: a
 * failure stops the batch before any document, with the API's message. */
static int ask_once(llm_state *st, const bc_config *config, char *errbuf, size_t size) {
    const bc_host_api *host = st->host;
    bc_doc doc = BC_DOC_INIT;
    doc.id = "prepare_prompt";
    doc.metadata_json = "{}";
    doc.input = (const unsigned char *)"";
    llm_buf prompt = {0}, body = {0};
    llm_response resp = {0};
    int rc = -1;
    char err[1024];
    if (llm_prompt_render(&prompt, st->cfg.prepare_prompt, &doc, NULL, err, sizeof err) != 0 ||
        llm_request_body(&body, &st->cfg, prompt.data, prompt.len, NULL, err, sizeof err) != 0) {
        snprintf(errbuf, size, "llm: prepare_prompt: %s", err);
        goto done;
    }
    llm_post(&resp, &st->pool, &st->cfg, host, NULL, body.data, body.len);
    if (resp.status < 200 || resp.status >= 300) {
        if (resp.status == 0) snprintf(err, sizeof err, "request to %s failed: %s", st->cfg.url, resp.curl_error);
        else {
            char api[768];
            llm_error_message(resp.body.data ? resp.body.data : "", resp.body.len, api, sizeof api);
            snprintf(err, sizeof err, "HTTP %ld: %s", resp.status, api);
        }
        snprintf(errbuf, size, "llm: prepare_prompt: %s", err);
        goto done;
    }
    llm_reply reply;
    if (llm_reply_parse(&reply, &st->cfg, resp.body.data ? resp.body.data : "", resp.body.len, err, sizeof err) != 0) {
        snprintf(errbuf, size, "llm: prepare_prompt: %s", err);
        goto done;
    }
    rc = host->set_shared(config, reply.text, strlen(reply.text)) == 0 ? 0 : -1;
    if (rc != 0) snprintf(errbuf, size, "llm: prepare_prompt: the host refused the answer");
    if (BC_HOST_HAS(host, add_prepare_usage)) host->add_prepare_usage(config, reply.input_tokens, reply.output_tokens);
    free(reply.text);
done:
    llm_redact(errbuf, st->cfg.api_key);
    llm_buf_free(&prompt);
    llm_buf_free(&body);
    llm_buf_free(&resp.body);
    return rc;
}

static int llm_prepare(const bc_host_api *host, const bc_config *config, char *errbuf, size_t errbuf_size) {
    if (check_host(host, errbuf, errbuf_size) != 0 || !BC_HOST_HAS(host, set_shared)) return -1;
    llm_state st = {.host = host};
    if (llm_config_load(&st.cfg, host, config, errbuf, errbuf_size) != 0) return -1;
    int rc = 0;
    if (st.cfg.prepare_prompt != NULL) {
        if (llm_pool_init(&st.pool) != 0) {
            snprintf(errbuf, errbuf_size, "llm: cannot create a lock");
            rc = -1;
        } else {
            rc = ask_once(&st, config, errbuf, errbuf_size);
            llm_pool_destroy(&st.pool);
        }
    }
    llm_config_free(&st.cfg);
    return rc;
}

static int llm_create(const bc_host_api *host, const bc_config *config, void **state,
                      char *errbuf, size_t errbuf_size) {
    if (check_host(host, errbuf, errbuf_size) != 0) return -1;

    llm_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(errbuf, errbuf_size, "llm: out of memory");
        return -1;
    }
    st->host = host;
    if (llm_config_load(&st->cfg, host, config, errbuf, errbuf_size) != 0) {
        free(st);
        return -1;
    }
    if (llm_pool_init(&st->pool) != 0) {
        llm_config_free(&st->cfg);
        free(st);
        snprintf(errbuf, errbuf_size, "llm: cannot create a lock");
        return -1;
    }
    size_t shared_len = 0;
    const void *shared = BC_HOST_HAS(host, shared) ? host->shared(config, &shared_len) : NULL;
    if (shared != NULL && (st->shared = malloc(shared_len + 1)) != NULL) {
        memcpy(st->shared, shared, shared_len);
        st->shared[shared_len] = '\0';
    }
    st->uses_text = llm_prompt_uses_text(st->cfg.prompt);
    st->fixed_prompt_bytes = strlen(st->cfg.prompt) + (st->cfg.system ? strlen(st->cfg.system) : 0);

    double in, out;
    if (BC_HOST_HAS(host, set_prices) && llm_model_prices(st->cfg.model, &in, &out) == 0)
        host->set_prices(config, in, out);
    *state = st;
    return 0;
}

static void llm_destroy(void *state) {
    llm_state *st = state;
    llm_pool_destroy(&st->pool);
    llm_config_free(&st->cfg);
    free(st->shared);
    free(st);
}

/* ---- Descriptor --------------------------------------------------------- */

static const bc_plugin_option llm_options[] = {
    {"provider", "openai", "API flavour: openai (Chat Completions: OpenAI, Ollama, vLLM, LM Studio) or anthropic (Messages)"},
    {"base_url", "https://api.openai.com/v1 | https://api.anthropic.com/v1", "API root; /chat/completions or /messages is appended"},
    {"model", NULL, "Model name (required), e.g. gpt-4o-mini, claude-3-5-haiku-latest, llama3.1"},
    {"api_key_env", "OPENAI_API_KEY | ANTHROPIC_API_KEY", "Name of the environment variable holding the API key (never the key itself)"},
    {"prompt", "{text}", "Prompt template, or @FILE: {text}, {id}, {path}, {metadata.KEY}, {shared}; {{ and }} are braces"},
    {"prepare_prompt", NULL, "A prompt (or @FILE) asked once per batch stage before any document; its answer is {shared} in every prompt"},
    {"system", NULL, "System instructions, or @FILE"},
    {"max_tokens", "1024", "Most tokens in a reply"},
    {"temperature", NULL, "Sampling temperature, 0 to 2 (unset: the server's default)"},
    {"json", "false", "Ask for a JSON answer and output it as JSON; a reply that does not parse is partial"},
    {"attach", "auto", "Send the document's own file: auto (a PDF or image when there is no text), pdf, image or none"},
    {"request_timeout", "5m", "Longest time one request may take (30s, 2m, ...); then it is retried"},
    {"headers", NULL, "Extra request headers as a JSON object, e.g. {\"OpenAI-Organization\":\"org-1\"}"},
    {NULL, NULL, NULL},
};

static const bc_plugin llm_plugin = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "llm",
    .version = "1.0.0",
    .description = "Asks a language model about each document (OpenAI-compatible or Anthropic APIs)",
    .flags = BC_PLUGIN_FLAG_NONE,
    .options = llm_options,
    .prepare = llm_prepare,
    .create = llm_create,
    .process = llm_process,
    .destroy = llm_destroy,
    .estimate = llm_estimate,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) {
    return &llm_plugin;
}
