#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "curl_shim.h"

/* libcurl's functions, resolved once by bc_curl_load. */
static struct {
    CURLcode (*global_init)(long);
    curl_version_info_data *(*version_info)(CURLversion);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl;

static const char *load_error;
static char load_message[512];

static void *symbol(void *library, const char *name) {
    void *address = dlsym(library, name);
    if (address == NULL && load_error == NULL) {
        snprintf(load_message, sizeof load_message,
                 "libcurl.so.4 lacks %s: install a newer libcurl4 (apt-get install libcurl4)", name);
        load_error = load_message;
    }
    return address;
}

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(load_message, sizeof load_message,
                 "http(s):// and s3:// inputs need libcurl: %s; install Debian's libcurl4 (apt-get install libcurl4)",
                 reason ? reason : "libcurl.so.4 not found");
        load_error = load_message;
        return;
    }
    *(void **)&curl.global_init = symbol(library, "curl_global_init");
    *(void **)&curl.version_info = symbol(library, "curl_version_info");
    *(void **)&curl.easy_init = symbol(library, "curl_easy_init");
    *(void **)&curl.easy_cleanup = symbol(library, "curl_easy_cleanup");
    *(void **)&curl.easy_reset = symbol(library, "curl_easy_reset");
    *(void **)&curl.easy_perform = symbol(library, "curl_easy_perform");
    *(void **)&curl.easy_strerror = symbol(library, "curl_easy_strerror");
    *(void **)&curl.easy_setopt = symbol(library, "curl_easy_setopt");
    *(void **)&curl.easy_getinfo = symbol(library, "curl_easy_getinfo");
    *(void **)&curl.slist_append = symbol(library, "curl_slist_append");
    *(void **)&curl.slist_free_all = symbol(library, "curl_slist_free_all");
    if (load_error != NULL) return;
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        load_error = "libcurl failed to initialise (curl_global_init)";
        return;
    }
    /* CURLOPT_AWS_SIGV4 signs s3:// requests; it came in 7.75.0. */
    if (curl.version_info(CURLVERSION_NOW)->version_num < 0x074b00) {
        snprintf(load_message, sizeof load_message,
                 "libcurl %s is too old: s3:// inputs need 7.75.0 or newer (AWS SigV4 signing)",
                 curl.version_info(CURLVERSION_NOW)->version);
        load_error = load_message;
    }
}

const char *bc_curl_load(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load);
    return load_error;
}

const char *bc_curl_version(void) { return curl.version_info(CURLVERSION_NOW)->version; }
CURL *bc_curl_easy_init(void) { return curl.easy_init(); }
void bc_curl_easy_cleanup(CURL *handle) { curl.easy_cleanup(handle); }
void bc_curl_easy_reset(CURL *handle) { curl.easy_reset(handle); }
CURLcode bc_curl_easy_perform(CURL *handle) { return curl.easy_perform(handle); }
const char *bc_curl_easy_strerror(CURLcode code) { return curl.easy_strerror(code); }

CURLcode bc_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl.easy_setopt(handle, option, value);
}

CURLcode bc_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl.easy_setopt(handle, option, value);
}

CURLcode bc_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl.easy_setopt(handle, option, value);
}

CURLcode bc_curl_setopt_write(CURL *handle, CURLoption option,
                              size_t (*callback)(char *, size_t, size_t, void *)) {
    return curl.easy_setopt(handle, option, callback);
}

CURLcode bc_curl_setopt_progress(CURL *handle,
                                 int (*callback)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t)) {
    CURLcode code = curl.easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
    return code != CURLE_OK ? code : curl.easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
}

CURLcode bc_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl.easy_getinfo(handle, info, value);
}

struct curl_slist *bc_curl_slist_append(struct curl_slist *list, const char *line) {
    return curl.slist_append(list, line);
}

void bc_curl_slist_free_all(struct curl_slist *list) { curl.slist_free_all(list); }
