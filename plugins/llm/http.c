/*
 * http.c — one POST with libcurl, on a pooled easy handle.
 *
 * A worker takes an idle handle from the pool for each request and puts it
 * back after, so the pool never holds more handles than workers ran at once
 * and each handle keeps its connection (and TLS session) open for the next
 * request. A pool owned by the stage, rather than thread-local handles, is
 * freed in destroy(): thread-exit destructors could run after the plugin
 * was unloaded. TLS uses libcurl's default, the system CA store.
 */
#define _POSIX_C_SOURCE 200809L

#include "llm.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The most reply body we keep: far above any chat reply. */
#define MAX_BODY (64u * 1024u * 1024u)

int llm_pool_init(llm_pool *pool) {
    memset(pool, 0, sizeof *pool);
    return pthread_mutex_init(&pool->lock, NULL) == 0 ? 0 : -1;
}

void llm_pool_destroy(llm_pool *pool) {
    for (size_t i = 0; i < pool->count; i++) curl_easy_cleanup(pool->idle[i]);
    free(pool->idle);
    pthread_mutex_destroy(&pool->lock);
}

static CURL *pool_take(llm_pool *pool) {
    CURL *h = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->count > 0) h = pool->idle[--pool->count];
    pthread_mutex_unlock(&pool->lock);
    return h ? h : curl_easy_init();
}

static void pool_give(llm_pool *pool, CURL *h) {
    pthread_mutex_lock(&pool->lock);
    if (pool->count == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 16;
        CURL **idle = realloc(pool->idle, cap * sizeof *idle);
        if (idle == NULL) { /* keep going without reuse rather than fail */
            pthread_mutex_unlock(&pool->lock);
            curl_easy_cleanup(h);
            return;
        }
        pool->idle = idle;
        pool->cap = cap;
    }
    pool->idle[pool->count++] = h;
    pthread_mutex_unlock(&pool->lock);
}

/* ---- Callbacks ---------------------------------------------------------- */

typedef struct transfer {
    llm_response *resp;
    const bc_host_api *host;
    bc_call *call;
} transfer;

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    llm_response *resp = ((transfer *)user)->resp;
    size_t len = size * n;
    if (resp->body.len + len > MAX_BODY || llm_buf_append(&resp->body, data, len) != 0) return 0;
    return len;
}

/* Copies the value of header line `line` into dst when its name is `name`. */
static void keep_header(const char *line, size_t len, const char *name, char *dst, size_t dst_size) {
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0) return;
    const char *v = line + n + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t vlen = (size_t)(end - v);
    if (vlen >= dst_size) vlen = dst_size - 1;
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *user) {
    llm_wait_headers *w = &((transfer *)user)->resp->wait;
    size_t len = size * n;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        memset(w, 0, sizeof *w); /* a new response (after a 100 Continue, say) */
        return len;
    }
    keep_header(line, len, "retry-after", w->retry_after, sizeof w->retry_after);
    keep_header(line, len, "retry-after-ms", w->retry_after_ms, sizeof w->retry_after_ms);
    keep_header(line, len, "anthropic-ratelimit-requests-reset", w->anthropic_reset, sizeof w->anthropic_reset);
    keep_header(line, len, "x-ratelimit-reset-requests", w->openai_reset, sizeof w->openai_reset);
    return len;
}

/* Stops the transfer once the host cancels the call. libcurl calls this
 * many times a second while data moves, about once a second when idle. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    transfer *t = user;
    return t->host->is_cancelled(t->call) ? 1 : 0;
}

/* ---- The request -------------------------------------------------------- */

void llm_post(llm_response *resp, llm_pool *pool, const llm_config *cfg, const bc_host_api *host,
              bc_call *call, const char *body, size_t len) {
    memset(resp, 0, sizeof *resp);
    CURL *h = pool_take(pool);
    if (h == NULL) {
        resp->curl_code = CURLE_OUT_OF_MEMORY;
        strcpy(resp->curl_error, "cannot create a libcurl handle");
        return;
    }
    transfer t = {resp, host, call};

    curl_easy_reset(h); /* keeps the open connections */
    curl_easy_setopt(h, CURLOPT_URL, cfg->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, cfg->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "batchcore-llm/1.0");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);        /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout_ms < 30000 ? cfg->timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->curl_error);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

    resp->curl_code = curl_easy_perform(h);
    if (resp->curl_code == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    else resp->status = 0;
    if (resp->curl_error[0] == '\0') snprintf(resp->curl_error, sizeof resp->curl_error, "%s",
                                              curl_easy_strerror(resp->curl_code));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL); /* resp is about to go out of scope */
    pool_give(pool, h);
}
