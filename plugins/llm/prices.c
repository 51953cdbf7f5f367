/*
 * prices.c — list prices of well-known models, in US dollars per million
 * tokens (standard tier, no batch or cache discounts), as published by
 * OpenAI and Anthropic in August 2025. They change: a user's own
 * --price-input/--price-output always wins, and models not listed here
 * report no price at all.
 *
 * A model matches its name exactly, or its name followed by a snapshot
 * suffix: -latest, -YYYYMMDD or -YYYY-MM-DD (gpt-4o-2024-08-06,
 * claude-sonnet-4-20250514). gpt-4o-mini is therefore not gpt-4o.
 */
#include "llm.h"

#include <ctype.h>
#include <string.h>

static const struct {
    const char *model;
    double input, output;
} prices[] = {
    /* OpenAI */
    {"gpt-5", 1.25, 10.00},
    {"gpt-5-mini", 0.25, 2.00},
    {"gpt-5-nano", 0.05, 0.40},
    {"gpt-4.1", 2.00, 8.00},
    {"gpt-4.1-mini", 0.40, 1.60},
    {"gpt-4.1-nano", 0.10, 0.40},
    {"gpt-4o", 2.50, 10.00},
    {"gpt-4o-mini", 0.15, 0.60},
    {"o3", 2.00, 8.00},
    {"o4-mini", 1.10, 4.40},
    /* Anthropic */
    {"claude-opus-4-1", 15.00, 75.00},
    {"claude-opus-4-0", 15.00, 75.00},
    {"claude-opus-4", 15.00, 75.00},
    {"claude-sonnet-4-0", 3.00, 15.00},
    {"claude-sonnet-4", 3.00, 15.00},
    {"claude-3-7-sonnet", 3.00, 15.00},
    {"claude-3-5-haiku", 0.80, 4.00},
    {"claude-3-haiku", 0.25, 1.25},
};

static int all_digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* "", "-latest", "-20250514" or "-2024-08-06". */
static int snapshot_suffix(const char *s) {
    if (*s == '\0' || strcmp(s, "-latest") == 0) return 1;
    if (s[0] != '-') return 0;
    s++;
    size_t n = strlen(s);
    if (n == 8) return all_digits(s, 8);
    return n == 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
           all_digits(s + 8, 2);
}

int llm_model_prices(const char *model, double *input, double *output) {
    for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++) {
        size_t n = strlen(prices[i].model);
        if (strncmp(model, prices[i].model, n) == 0 && snapshot_suffix(model + n)) {
            *input = prices[i].input;
            *output = prices[i].output;
            return 0;
        }
    }
    return -1;
}
