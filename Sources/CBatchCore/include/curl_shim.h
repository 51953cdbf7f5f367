/* libcurl, loaded with dlopen on first use: libbatchcore.so does not link
 * it, so hosts that fetch nothing never load it. curl.h gives the types and
 * option numbers only; every call goes through the functions below, which
 * also stand in for curl's variadic setopt/getinfo (Swift cannot call them). */
#ifndef BATCHCORE_CURL_SHIM_H
#define BATCHCORE_CURL_SHIM_H

#include <stddef.h>
#include <curl/curl.h>

/* Loads libcurl.so.4 and initialises it, once per process; thread-safe.
 * NULL on success, else a static message saying what is missing. */
const char *bc_curl_load(void);

/* The loaded library's version, e.g. "7.88.1". */
const char *bc_curl_version(void);

CURL *bc_curl_easy_init(void);
void bc_curl_easy_cleanup(CURL *handle);
void bc_curl_easy_reset(CURL *handle);
CURLcode bc_curl_easy_perform(CURL *handle);
const char *bc_curl_easy_strerror(CURLcode code);

CURLcode bc_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode bc_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
/* Strings (copied by libcurl), lists, user data. */
CURLcode bc_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value);
CURLcode bc_curl_setopt_write(CURL *handle, CURLoption option,
                              size_t (*callback)(char *, size_t, size_t, void *));
/* CURLOPT_XFERINFOFUNCTION: a non-zero return aborts the transfer. */
CURLcode bc_curl_setopt_progress(CURL *handle,
                                 int (*callback)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t));

CURLcode bc_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);

struct curl_slist *bc_curl_slist_append(struct curl_slist *list, const char *line);
void bc_curl_slist_free_all(struct curl_slist *list);

#endif
