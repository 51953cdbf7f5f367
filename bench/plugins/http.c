/*
 * http.c — a processor that makes one HTTP GET per document, URL/doc/ID,
 * with libcurl: the batchcore side of the rate-limit benchmark.
 *
 *   200           DONE, the response body is the output
 *   429           RETRY, after the server's Retry-After (which also pauses
 *                 the batch's rate limiter for every worker)
 *   anything else RETRY under the batch's retry policy
 *
 * Every worker thread keeps its own CURL handle (an easy handle must not be
 * used by two threads at once), so connections are reused across documents.
 *
 *     cc -shared -fPIC -Iinclude bench/plugins/http.c -lcurl -pthread -o http.so
 */
#define _POSIX_C_SOURCE 200809L
#include "batchcore_plugin.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const bc_host_api *host;
    char *url;
    pthread_key_t handle_key; /* this thread's CURL handle */
    pthread_mutex_t lock;     /* guards handles, count, capacity */
    CURL **handles;           /* every handle made, freed by destroy() */
    size_t count, capacity;
} http_state;

typedef struct {
    char *data;
    size_t len;
} buffer;

static size_t append(char *chunk, size_t size, size_t n, void *userdata) {
    buffer *b = userdata;
    size_t add = size * n;
    char *grown = realloc(b->data, b->len + add);
    if (!grown)
        return 0; /* libcurl then fails the transfer */
    memcpy(grown + b->len, chunk, add);
    b->data = grown;
    b->len += add;
    return add;
}

static int create(const bc_host_api *host, const bc_config *config, void **state,
                  char *errbuf, size_t errbuf_size) {
    const char *url = host->config_get(config, "url");
    if (!url || !*url) {
        snprintf(errbuf, errbuf_size, "url: required, e.g. --set url=http://127.0.0.1:8080");
        return 1;
    }
    /* Here, on one thread, before any worker runs: curl_global_init is not
     * thread-safe in every libcurl build. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errbuf, errbuf_size, "curl_global_init failed");
        return 1;
    }
    http_state *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url)) || pthread_key_create(&s->handle_key, NULL) != 0) {
        if (s)
            free(s->url);
        free(s);
        curl_global_cleanup();
        snprintf(errbuf, errbuf_size, "out of memory");
        return 1;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->host = host;
    *state = s;
    return 0;
}

/* The calling thread's handle, made on its first document. */
static CURL *thread_handle(http_state *s) {
    CURL *h = pthread_getspecific(s->handle_key);
    if (h)
        return h;
    if (!(h = curl_easy_init()))
        return NULL;
    pthread_mutex_lock(&s->lock);
    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? 2 * s->capacity : 64;
        CURL **grown = realloc(s->handles, capacity * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&s->lock);
            curl_easy_cleanup(h);
            return NULL;
        }
        s->handles = grown;
        s->capacity = capacity;
    }
    s->handles[s->count++] = h;
    pthread_mutex_unlock(&s->lock);
    pthread_setspecific(s->handle_key, h);
    return h;
}

static int process(void *state, bc_call *call, const bc_doc *doc) {
    http_state *s = state;
    const bc_host_api *host = s->host;
    CURL *h = thread_handle(s);
    if (!h) {
        host->set_error(call, "curl_easy_init failed");
        return BC_OUTCOME_RETRY;
    }
    size_t url_len = strlen(s->url) + strlen("/doc/") + strlen(doc->id) + 1;
    char *url = malloc(url_len);
    if (!url) {
        host->set_error(call, "out of memory");
        return BC_OUTCOME_RETRY;
    }
    snprintf(url, url_len, "%s/doc/%s", s->url, doc->id);

    buffer body = {NULL, 0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM: we are one of many threads */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    CURLcode rc = curl_easy_perform(h);
    free(url);

    int outcome = BC_OUTCOME_RETRY;
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    char message[128];
    if (rc != CURLE_OK) {
        snprintf(message, sizeof message, "%s", curl_easy_strerror(rc));
        host->set_error(call, message);
    } else if (status == 200) {
        host->set_output(call, body.data, body.len);
        outcome = BC_OUTCOME_DONE;
    } else {
        curl_off_t retry_after = 0; /* seconds; 0 when the header is absent */
        curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
        if (status == 429 && retry_after > 0)
            host->retry_after(call, (uint64_t)retry_after * 1000);
        snprintf(message, sizeof message, "HTTP %ld", status);
        host->set_error(call, message);
    }
    free(body.data);
    return outcome;
}

static void destroy(void *state) {
    http_state *s = state;
    for (size_t i = 0; i < s->count; i++)
        curl_easy_cleanup(s->handles[i]);
    free(s->handles);
    pthread_key_delete(s->handle_key);
    pthread_mutex_destroy(&s->lock);
    free(s->url);
    free(s);
    curl_global_cleanup();
}

static const bc_plugin_option options[] = {
    {"url", NULL, "base URL of the endpoint; each document is fetched from URL/doc/ID"},
    {NULL, NULL, NULL},
};

static const bc_plugin descriptor = {
    BC_PLUGIN_ABI_FIELDS,
    .name = "http",
    .version = "1.0.0",
    .description = "One HTTP GET per document (rate-limit benchmark)",
    .options = options,
    .create = create,
    .process = process,
    .destroy = destroy,
};

BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &descriptor; }
