/*
 * api.c — the two wire formats: request bodies and replies.
 *
 *   openai     POST {base_url}/chat/completions  (OpenAI, Ollama, vLLM, LM Studio, ...)
 *   anthropic  POST {base_url}/messages          (Anthropic's Messages API)
 *
 * One user message per document; the system text, when any, goes where each
 * API wants it (a "system" message, or the top-level "system" field).
 */
#define _POSIX_C_SOURCE 200809L

#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Added to the system text with json=true. Plain instructions work with
 * every server, unlike the vendors' different "JSON mode" switches. */
static const char json_instruction[] =
    "Answer with one JSON value and nothing else: no prose, no code fences.";

/* The system text to send, or NULL. Caller frees. */
static char *system_text(const llm_config *cfg) {
    llm_buf b = {0};
    if (cfg->system) llm_buf_append(&b, cfg->system, strlen(cfg->system));
    if (cfg->json) {
        if (b.len > 0) llm_buf_append(&b, "\n\n", 2);
        llm_buf_append(&b, json_instruction, strlen(json_instruction));
    }
    return b.data;
}

static json_t *message(const char *role, json_t *content) {
    return json_pack("{s:s, s:o}", "role", role, "content", content);
}

/* The attachment as each API documents it:
 *   anthropic  {"type":"document"|"image","source":{"type":"base64",
 *               "media_type":"application/pdf"|"image/png",...,"data":B64}}
 *   openai     {"type":"file","file":{"filename":NAME,
 *               "file_data":"data:application/pdf;base64,B64"}} or
 *              {"type":"image_url","image_url":{"url":"data:image/png;base64,B64"}} */
static json_t *attachment_block(const llm_config *cfg, const llm_attachment *a) {
    char *data = llm_attachment_base64(a);
    if (data == NULL) return NULL;
    int pdf = strcmp(a->media_type, "application/pdf") == 0;
    json_t *block;
    if (cfg->provider == LLM_ANTHROPIC) {
        block = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", pdf ? "document" : "image", "source",
                          "type", "base64", "media_type", a->media_type, "data", data);
    } else {
        llm_buf url = {0};
        llm_buf_appendf(&url, "data:%s;base64,%s", a->media_type, data);
        block = url.data == NULL ? NULL
              : pdf ? json_pack("{s:s, s:{s:s, s:s}}", "type", "file", "file", "filename", a->filename,
                                "file_data", url.data)
                    : json_pack("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url", url.data);
        llm_buf_free(&url);
    }
    free(data);
    return block;
}

/* The user message's content: the prompt as a string, or with an
 * attachment an array of the file's block and then the prompt's text
 * block (left out when the prompt is empty: both APIs refuse empty text). */
static json_t *user_content(const llm_config *cfg, json_t *text, const llm_attachment *a) {
    if (a == NULL || a->bytes.data == NULL) return text;
    json_t *parts = json_array();
    json_t *file = attachment_block(cfg, a);
    if (parts == NULL || file == NULL) {
        json_decref(parts);
        json_decref(file);
        json_decref(text);
        return NULL;
    }
    json_array_append_new(parts, file);
    if (json_string_length(text) > 0)
        json_array_append_new(parts, json_pack("{s:s, s:o}", "type", "text", "text", text));
    else
        json_decref(text);
    return parts;
}

int llm_request_body(llm_buf *out, const llm_config *cfg, const char *user_text, size_t user_len,
                     const llm_attachment *attachment, char *err, size_t size) {
    json_t *content = json_stringn(user_text, user_len);
    if (content == NULL) {
        snprintf(err, size, "the prompt for this document is not UTF-8 text (convert the document "
                            "to text first, e.g. with a pdftotext stage)");
        return -1;
    }
    char *system = system_text(cfg);
    json_t *sys = system ? json_string(system) : NULL;
    free(system);
    if (cfg->system && sys == NULL) {
        json_decref(content);
        snprintf(err, size, "option 'system' is not UTF-8 text");
        return -1;
    }

    json_t *body = json_object();
    json_t *messages = json_array();
    json_object_set_new(body, "model", json_string(cfg->model));
    if (cfg->provider == LLM_ANTHROPIC) {
        json_object_set_new(body, "max_tokens", json_integer((json_int_t)cfg->max_tokens));
        if (sys) json_object_set_new(body, "system", sys);
    } else {
        json_object_set_new(body, cfg->max_completion_tokens ? "max_completion_tokens" : "max_tokens",
                            json_integer((json_int_t)cfg->max_tokens));
        if (sys) json_array_append_new(messages, message("system", sys));
        json_object_set_new(body, "stream", json_false());
    }
    if ((content = user_content(cfg, content, attachment)) == NULL) {
        json_decref(body);
        json_decref(messages);
        snprintf(err, size, "llm: out of memory");
        return -1;
    }
    json_array_append_new(messages, message("user", content));
    json_object_set_new(body, "messages", messages);
    if (cfg->temperature >= 0) json_object_set_new(body, "temperature", json_real(cfg->temperature));

    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = text ? llm_buf_append(out, text, strlen(text)) : -1;
    free(text);
    if (rc != 0) snprintf(err, size, "llm: out of memory");
    return rc;
}

static uint64_t count(json_t *usage, const char *key) {
    json_t *v = json_object_get(usage, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int parse_openai(llm_reply *r, json_t *root, llm_buf *text) {
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) return -1;
    json_t *content = json_object_get(msg, "content");
    if (!json_is_string(content)) content = json_object_get(msg, "refusal");
    if (json_is_string(content)) llm_buf_append(text, json_string_value(content), json_string_length(content));
    const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
    r->truncated = finish && strcmp(finish, "length") == 0;
    json_t *usage = json_object_get(root, "usage");
    r->input_tokens = count(usage, "prompt_tokens");
    r->output_tokens = count(usage, "completion_tokens");
    return 0;
}

static int parse_anthropic(llm_reply *r, json_t *root, llm_buf *text) {
    json_t *blocks = json_object_get(root, "content");
    if (!json_is_array(blocks)) return -1;
    size_t i;
    json_t *block;
    json_array_foreach(blocks, i, block) {
        const char *type = json_string_value(json_object_get(block, "type"));
        json_t *t = json_object_get(block, "text");
        if (type && strcmp(type, "text") == 0 && json_is_string(t))
            llm_buf_append(text, json_string_value(t), json_string_length(t));
    }
    const char *stop = json_string_value(json_object_get(root, "stop_reason"));
    r->truncated = stop && strcmp(stop, "max_tokens") == 0;
    json_t *usage = json_object_get(root, "usage");
    /* Cached prompt tokens are input tokens too (billed at other rates). */
    r->input_tokens = count(usage, "input_tokens") + count(usage, "cache_creation_input_tokens") +
                      count(usage, "cache_read_input_tokens");
    r->output_tokens = count(usage, "output_tokens");
    return 0;
}

int llm_reply_parse(llm_reply *r, const llm_config *cfg, const char *body, size_t len,
                    char *err, size_t size) {
    memset(r, 0, sizeof *r);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        snprintf(err, size, "the server's reply is not JSON (%s at byte %d)", jerr.text, jerr.position);
        return -1;
    }
    llm_buf text = {0};
    int rc = cfg->provider == LLM_ANTHROPIC ? parse_anthropic(r, root, &text)
                                            : parse_openai(r, root, &text);
    json_decref(root);
    if (rc != 0) {
        llm_buf_free(&text);
        snprintf(err, size, "the server's reply has no %s",
                 cfg->provider == LLM_ANTHROPIC ? "content array" : "choices[0].message");
        return -1;
    }
    if (text.data == NULL && llm_buf_append(&text, "", 0) != 0) {
        snprintf(err, size, "llm: out of memory");
        return -1;
    }
    r->text = text.data;
    return 0;
}

void llm_error_message(const char *body, size_t len, char *err, size_t size) {
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *e = json_object_get(root, "error");
    const char *msg = json_string_value(json_object_get(e, "message")); /* OpenAI, Anthropic */
    if (msg == NULL) msg = json_string_value(e);                         /* {"error":"..."} */
    if (msg == NULL) msg = json_string_value(json_object_get(root, "message"));
    if (msg == NULL) msg = json_string_value(json_object_get(root, "detail"));
    if (msg != NULL) {
        snprintf(err, size, "%s", msg);
    } else {
        /* No message field: the start of the body, on one line. */
        size_t n = len < 300 ? len : 300, j = 0;
        for (size_t i = 0; i < n && j + 1 < size; i++)
            err[j++] = (body[i] == '\n' || body[i] == '\r' || body[i] == '\t') ? ' ' : body[i];
        if (size > 0) err[j < size ? j : size - 1] = '\0';
    }
    json_decref(root);
}
