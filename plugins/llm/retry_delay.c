/*
 * retry_delay.c — how long a 429, 503 or 529 reply asks us to wait.
 *
 * In order of preference:
 *   retry-after-ms                       milliseconds (OpenAI)
 *   Retry-After                          seconds, or an HTTP date (RFC 9110)
 *   anthropic-ratelimit-requests-reset   an RFC 3339 time: 2025-01-31T12:00:30Z
 *   x-ratelimit-reset-requests           a Go duration: 1s, 6m0s, 1m30.5s, 20ms
 * A time in the past means "now" (0 ms).
 */
#define _DEFAULT_SOURCE /* timegm */

#include "llm.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t clamp_ms(double ms) {
    if (!(ms > 0)) return 0;
    if (ms > 7 * 86400e3) ms = 7 * 86400e3; /* a week: past that, something is wrong */
    return (int64_t)ceil(ms);
}

/* A plain non-negative decimal number, nothing else. */
static int plain_number(const char *s, double *out) {
    if (!isdigit((unsigned char)s[0])) return -1;
    char *end;
    double d = strtod(s, &end);
    if (*end != '\0') return -1;
    *out = d;
    return 0;
}

/* "2025-01-31T12:00:30Z", "2025-01-31T12:00:30.250+01:00" -> seconds since the epoch. */
static int parse_rfc3339(const char *s, double *out) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int consumed = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 || consumed == 0)
        return -1;
    const char *p = s + consumed;
    double fraction = 0;
    if (*p == '.') {
        char *end;
        fraction = strtod(p, &end);
        p = end;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2) return -1;
        offset = (*p == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    *out = (double)t - offset + fraction;
    return 0;
}

/* "6m0s", "1h2m3.5s", "20ms", "1.5s" -> milliseconds. */
static int parse_go_duration(const char *s, double *out) {
    double total = 0;
    if (*s == '\0') return -1;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0) return -1;
        s = end;
        static const struct { const char *unit; double ms; } units[] = {
            {"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3},
        };
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t n = strlen(units[i].unit);
            if (n > best_len && strncmp(s, units[i].unit, n) == 0) { best = i; best_len = n; }
        }
        if (best_len == 0) return -1;
        total += v * units[best].ms;
        s += best_len;
    }
    *out = total;
    return 0;
}

int64_t llm_retry_delay_ms(const llm_wait_headers *h, double now) {
    double v;
    if (plain_number(h->retry_after_ms, &v) == 0) return clamp_ms(v);
    if (plain_number(h->retry_after, &v) == 0) return clamp_ms(v * 1000);
    if (h->retry_after[0] != '\0') {
        time_t t = curl_getdate(h->retry_after, NULL);
        if (t != (time_t)-1) return clamp_ms(((double)t - now) * 1000);
    }
    if (parse_rfc3339(h->anthropic_reset, &v) == 0) return clamp_ms((v - now) * 1000);
    if (parse_go_duration(h->openai_reset, &v) == 0) return clamp_ms(v);
    return -1;
}
