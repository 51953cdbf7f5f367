/*
 * config.c — the llm stage options, parsed and checked once in create().
 *
 * Every mistake a user can make in an option is reported here, before any
 * document runs, with the option's name, the value and what was expected.
 * The one exception is the API key: its value is never printed, and neither
 * is api_key_env's (a user who pasted the key there must not see it echoed
 * into logs).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* explicit_bzero */

#include "llm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define OPENAI_DEFAULT_URL "https://api.openai.com/v1"
#define ANTHROPIC_DEFAULT_URL "https://api.anthropic.com/v1"
#define ANTHROPIC_VERSION "2023-06-01"

/* ---- Value parsers ------------------------------------------------------ */

static int parse_bool(const char *v, int *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(v, no[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

static int parse_number(const char *v, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

/* "300", "2.5s", "500ms", "2m", "1h" -> milliseconds. */
static int parse_duration_ms(const char *v, long *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || errno != 0 || !isfinite(d) || d <= 0) return -1;
    double scale = 1000;
    if (strcmp(end, "ms") == 0) scale = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0') scale = 1000;
    else if (strcmp(end, "m") == 0) scale = 60000;
    else if (strcmp(end, "h") == 0) scale = 3600000;
    else return -1;
    double ms = d * scale;
    if (ms < 1 || ms > 86400000.0) return -1;
    *out = (long)ms;
    return 0;
}

static int is_env_name(const char *v) {
    if (!(isalpha((unsigned char)*v) || *v == '_')) return 0;
    for (; *v; v++) if (!(isalnum((unsigned char)*v) || *v == '_')) return 0;
    return 1;
}

/* An HTTP header name is a token (RFC 9110). */
static int is_header_name(const char *v) {
    if (*v == '\0') return 0;
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (!(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c))) return 0;
    }
    return 1;
}

/* "@file" loads the file; anything else is the text itself. */
static char *load_text(const char *option, const char *value, char *errbuf, size_t size) {
    if (value[0] != '@') {
        char *copy = strdup(value);
        if (copy == NULL) snprintf(errbuf, size, "llm: out of memory");
        return copy;
    }
    llm_buf b = {0};
    int err = llm_read_file(&b, value + 1);
    if (err != 0) {
        char reason[128];
        snprintf(errbuf, size, "option '%s': cannot read '%s': %s", option, value + 1,
                 llm_strerror(err, reason, sizeof reason));
        llm_buf_free(&b);
        return NULL;
    }
    if (strlen(b.data) != b.len) {
        snprintf(errbuf, size, "option '%s': '%s' holds a NUL byte; it must be text", option, value + 1);
        llm_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---- Headers ------------------------------------------------------------ */

static int append_header(struct curl_slist **list, const char *fmt, const char *a, const char *b) {
    llm_buf line = {0};
    if (llm_buf_appendf(&line, fmt, a, b) != 0) return -1;
    struct curl_slist *next = curl_slist_append(*list, line.data);
    explicit_bzero(line.data, line.len); /* it may hold the key */
    llm_buf_free(&line);
    if (next == NULL) return -1;
    *list = next;
    return 0;
}

/* Whether the user's headers object names `name` (case-insensitively). */
static int user_sets(json_t *user, const char *name) {
    const char *key;
    json_t *value;
    json_object_foreach(user, key, value) {
        if (strcasecmp(key, name) == 0) return 1;
    }
    return 0;
}

/* Builds every request header: ours first, then the user's, which replace
 * ours of the same name. */
static int build_headers(llm_config *cfg, const char *headers_json, char *errbuf, size_t size) {
    json_t *user = NULL;
    if (headers_json != NULL) {
        json_error_t jerr;
        user = json_loads(headers_json, 0, &jerr);
        if (user == NULL || !json_is_object(user)) {
            snprintf(errbuf, size,
                     "invalid value for option 'headers': expected a JSON object of strings, "
                     "such as {\"OpenAI-Organization\":\"org-123\"}%s%s",
                     user == NULL ? ": " : "", user == NULL ? jerr.text : "");
            json_decref(user);
            return -1;
        }
        const char *key;
        json_t *value;
        json_object_foreach(user, key, value) {
            const char *text = json_string_value(value);
            if (!is_header_name(key) || text == NULL || strpbrk(text, "\r\n") != NULL) {
                snprintf(errbuf, size,
                         "invalid header '%s' in option 'headers': names are HTTP tokens and "
                         "values strings on one line",
                         key);
                json_decref(user);
                return -1;
            }
        }
    }

    struct curl_slist **h = &cfg->headers;
    int rc = 0;
    json_t *none = json_object();
    json_t *u = user ? user : none;
    if (!user_sets(u, "Content-Type")) rc |= append_header(h, "%s%s", "Content-Type: application/json", "");
    if (!user_sets(u, "Accept")) rc |= append_header(h, "%s%s", "Accept: application/json", "");
    rc |= append_header(h, "%s%s", "Expect:", ""); /* no 100-continue round trip */
    if (cfg->provider == LLM_ANTHROPIC) {
        if (!user_sets(u, "anthropic-version"))
            rc |= append_header(h, "%s%s", "anthropic-version: ", ANTHROPIC_VERSION);
        if (cfg->api_key && !user_sets(u, "x-api-key"))
            rc |= append_header(h, "%s%s", "x-api-key: ", cfg->api_key);
    } else if (cfg->api_key && !user_sets(u, "Authorization")) {
        rc |= append_header(h, "%s%s", "Authorization: Bearer ", cfg->api_key);
    }
    const char *key;
    json_t *value;
    json_object_foreach(u, key, value) {
        rc |= append_header(h, "%s: %s", key, json_string_value(value));
    }
    json_decref(none);
    json_decref(user);
    if (rc != 0) snprintf(errbuf, size, "llm: out of memory");
    return rc != 0 ? -1 : 0;
}

/* ---- The API key -------------------------------------------------------- */

/* Reads the key from the environment variable the user named. An unset
 * variable is an error, except for a plain-http base URL (a local server
 * such as Ollama) when the user did not name a variable: it gets no key. */
static int load_key(llm_config *cfg, const char *env_option, const char *base_url,
                    char *errbuf, size_t size) {
    const char *name = env_option;
    if (name == NULL) name = cfg->provider == LLM_ANTHROPIC ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY";
    if (!is_env_name(name)) {
        snprintf(errbuf, size,
                 "option 'api_key_env' names the environment variable holding the key "
                 "(letters, digits, '_'; such as OPENAI_API_KEY), not the key itself");
        return -1;
    }
    const char *key = getenv(name);
    if (key != NULL && *key != '\0') {
        if (strpbrk(key, "\r\n") != NULL) {
            snprintf(errbuf, size, "the API key in $%s holds a line break", name);
            return -1;
        }
        cfg->api_key = strdup(key);
        if (cfg->api_key == NULL) {
            snprintf(errbuf, size, "llm: out of memory");
            return -1;
        }
        return 0;
    }
    if (env_option == NULL && strncasecmp(base_url, "http://", 7) == 0) return 0;
    snprintf(errbuf, size,
             "the environment variable %s holding the API key is not set: export it, or name "
             "another with --set api_key_env=NAME%s",
             name, env_option == NULL ? " (a local http:// base_url needs no key)" : "");
    return -1;
}

/* ---- Loading ------------------------------------------------------------ */

void llm_redact(char *text, const char *secret) {
    if (text == NULL || secret == NULL) return;
    size_t n = strlen(secret);
    if (n < 4) return; /* "***" must not be longer than what it replaces */
    char *hit;
    while ((hit = strstr(text, secret)) != NULL) {
        memcpy(hit, "***", 3);
        memmove(hit + 3, hit + n, strlen(hit + n) + 1);
    }
}

void llm_config_free(llm_config *cfg) {
    if (cfg->api_key) explicit_bzero(cfg->api_key, strlen(cfg->api_key));
    for (struct curl_slist *h = cfg->headers; h; h = h->next) explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(cfg->headers);
    free(cfg->api_key);
    free(cfg->url);
    free(cfg->model);
    free(cfg->prompt);
    free(cfg->prepare_prompt);
    free(cfg->system);
    memset(cfg, 0, sizeof *cfg);
}

#define FAIL(...) do { snprintf(errbuf, size, __VA_ARGS__); goto fail; } while (0)

int llm_config_load(llm_config *cfg, const bc_host_api *host, const bc_config *config,
                    char *errbuf, size_t size) {
    memset(cfg, 0, sizeof *cfg);
    cfg->max_tokens = 1024;
    cfg->temperature = -1;
    cfg->timeout_ms = 300000;
#define OPT(name) host->config_get(config, name)
    const char *v;

    if ((v = OPT("provider")) != NULL) {
        if (strcmp(v, "openai") == 0) cfg->provider = LLM_OPENAI;
        else if (strcmp(v, "anthropic") == 0) cfg->provider = LLM_ANTHROPIC;
        else FAIL("invalid value '%s' for option 'provider': expected openai (any OpenAI-compatible "
                  "Chat Completions server: OpenAI, Ollama, vLLM, LM Studio) or anthropic", v);
    }

    const char *base = OPT("base_url");
    if (base == NULL) base = cfg->provider == LLM_ANTHROPIC ? ANTHROPIC_DEFAULT_URL : OPENAI_DEFAULT_URL;
    if (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0)
        FAIL("invalid value '%s' for option 'base_url': expected an http:// or https:// URL "
             "such as %s", base, cfg->provider == LLM_ANTHROPIC ? ANTHROPIC_DEFAULT_URL : OPENAI_DEFAULT_URL);
    {
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/') n--;
        llm_buf url = {0};
        if (llm_buf_append(&url, base, n) != 0 ||
            llm_buf_appendf(&url, "%s", cfg->provider == LLM_ANTHROPIC ? "/messages" : "/chat/completions") != 0)
            FAIL("llm: out of memory");
        cfg->url = url.data;
        /* OpenAI's reasoning models refuse max_tokens; other servers only know it. */
        cfg->max_completion_tokens = cfg->provider == LLM_OPENAI &&
                                     strncasecmp(base, "https://api.openai.com/", 23) == 0;
    }

    if ((v = OPT("model")) == NULL || *v == '\0')
        FAIL("option 'model' is required: the model to ask, such as --set model=gpt-4o-mini "
             "(openai) or --set model=claude-3-5-haiku-latest (anthropic)");
    if ((cfg->model = strdup(v)) == NULL) FAIL("llm: out of memory");

    if ((v = OPT("max_tokens")) != NULL) {
        double d;
        if (parse_number(v, &d) != 0 || d < 1 || d > 1000000 || d != floor(d))
            FAIL("invalid value '%s' for option 'max_tokens': expected a whole number from 1 to 1000000", v);
        cfg->max_tokens = (uint64_t)d;
    }
    if ((v = OPT("temperature")) != NULL) {
        if (parse_number(v, &cfg->temperature) != 0 || cfg->temperature < 0 || cfg->temperature > 2)
            FAIL("invalid value '%s' for option 'temperature': expected a number from 0 to 2", v);
    }
    if ((v = OPT("json")) != NULL && parse_bool(v, &cfg->json) != 0)
        FAIL("invalid value '%s' for option 'json': expected true or false", v);
    if ((v = OPT("attach")) != NULL && llm_attach_parse(v, &cfg->attach) != 0)
        FAIL("invalid value '%s' for option 'attach': expected auto (a PDF or image file goes when "
             "there is no text), pdf, image or none", v);
    if ((v = OPT("request_timeout")) != NULL && parse_duration_ms(v, &cfg->timeout_ms) != 0)
        FAIL("invalid value '%s' for option 'request_timeout': expected a duration such as "
             "30s, 500ms, 2m (at most 24h)", v);

    if ((cfg->prompt = load_text("prompt", (v = OPT("prompt")) ? v : "{text}", errbuf, size)) == NULL)
        goto fail;
    if ((v = OPT("prepare_prompt")) != NULL) {
        if ((cfg->prepare_prompt = load_text("prepare_prompt", v, errbuf, size)) == NULL) goto fail;
    }
    if ((v = OPT("system")) != NULL) {
        if ((cfg->system = load_text("system", v, errbuf, size)) == NULL) goto fail;
    }

    if (load_key(cfg, OPT("api_key_env"), base, errbuf, size) != 0) goto fail;
    if (build_headers(cfg, OPT("headers"), errbuf, size) != 0) goto fail;
#undef OPT
    return 0;

fail:
    llm_config_free(cfg);
    return -1;
}
