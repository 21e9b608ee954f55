/*
 * config_stats.c - the [stats] section of azroute.ini: how statistics are
 * exported (azr_stats_format).
 *
 *   namespace = NAME              CloudWatch namespace of the EMF line
 *                                 (default azroute): 1..255 of
 *                                 [A-Za-z0-9 ._/#:-], not starting "AWS/"
 *   dimensions = Name=Value, ...  static EMF dimensions, at most 29 (the
 *                                 30th is AzId); names [A-Za-z0-9_.-]{1,64}
 *                                 and not "AzId", values 1..255 printable
 *   cross_az_price_per_gb = D     USD per GB and direction (default 0.01),
 *                                 a decimal (azroute.ini(5), decimal.h)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"
#include "decimal.h"

#define STATS_DIMENSIONS_MAX 29
#define STATS_NAME_MAX 64
#define STATS_VALUE_MAX 255

static azr_code why_err(char *why, size_t whylen, const char *fmt, ...)
    AZR_PRINTF(3, 4);
static azr_code why_err(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return AZR_E_CONFIG;
}

/* A namespace: 1..255 of [A-Za-z0-9 ._/#:-]. */
static const azr_cfg_chars namespace_chars = {
    AZR_CHARS_ALNUM, " ._/#:-", 1, 255
};
/* A dimension's name and value. */
static const azr_cfg_chars dim_name_chars = {
    AZR_CHARS_ALNUM, "_.-", 1, STATS_NAME_MAX
};
static const azr_cfg_chars dim_value_chars = {
    AZR_CHARS_TEXT, "", 1, STATS_VALUE_MAX
};

azr_code azr__cfg_stats_namespace(azr_cfg_stats *st, const char *value,
                                  char *why, size_t whylen)
{
    char q[AZR_CFG_QUOTE_BUF];
    size_t n = strlen(value);
    if (!azr__cfg_chars_valid(value, n, &namespace_chars) ||
        strncmp(value, "AWS/", 4) == 0)
        return why_err(why, whylen, "bad namespace '%s' (expected 1 to 255 "
                       "of A-Z a-z 0-9 . _ / # : - and space, not starting "
                       "with AWS/)", azr__cfg_quote(q, value));
    char *copy = strdup(value);
    if (copy == NULL) {
        snprintf(why, whylen, "out of memory");
        return AZR_E_NOMEM;
    }
    free(st->emf_namespace);
    st->emf_namespace = copy;
    return AZR_OK;
}

/* Trims blanks at both ends of s[0..*n) in place; returns the start. */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        (*n)--;
    }
    while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/* Parses one "Name=Value" item of s[0..n) into d (strings allocated). */
static azr_code parse_dimension(const char *s, size_t n, azr_cfg_dimension *d,
                                char *why, size_t whylen)
{
    const char *eq = memchr(s, '=', n);
    if (eq == NULL)
        return why_err(why, whylen, "bad dimension '%.*s' (expected "
                       "Name=Value)", (int)(n < 48 ? n : 48), s);
    size_t kn = (size_t)(eq - s), vn = n - kn - 1;
    const char *k = trim(s, &kn), *v = trim(eq + 1, &vn);
    if (!azr__cfg_chars_valid(k, kn, &dim_name_chars) ||
        (kn == 4 && strncmp(k, "AzId", 4) == 0))
        return why_err(why, whylen, "bad dimension name '%.*s' (expected 1 "
                       "to %d of A-Z a-z 0-9 _ . -, not AzId, which azroute "
                       "adds)", (int)(kn < 48 ? kn : 48), k, STATS_NAME_MAX);
    if (!azr__cfg_chars_valid(v, vn, &dim_value_chars))
        return why_err(why, whylen, "bad value for dimension '%.*s' "
                       "(expected 1 to %d printable characters)", (int)kn,
                       k, STATS_VALUE_MAX);
    d->name = strndup(k, kn);
    d->value = strndup(v, vn);
    if (d->name == NULL || d->value == NULL) {
        free(d->name);
        free(d->value);
        return AZR_E_NOMEM;
    }
    return AZR_OK;
}

azr_code azr__cfg_stats_dimensions(azr_cfg_stats *st, const char *value,
                                   char *why, size_t whylen)
{
    azr_cfg_dimension dims[STATS_DIMENSIONS_MAX];
    size_t n = 0;
    azr_code rc = AZR_OK;
    for (const char *item = value; rc == AZR_OK && *value != '\0';) {
        const char *comma = strchr(item, ',');
        size_t len = comma != NULL ? (size_t)(comma - item) : strlen(item);
        if (n == STATS_DIMENSIONS_MAX)
            rc = why_err(why, whylen, "more than %d dimensions",
                         STATS_DIMENSIONS_MAX);
        else if ((rc = parse_dimension(item, len, &dims[n], why, whylen)) ==
                 AZR_OK) {
            for (size_t i = 0; i < n; i++)
                if (strcmp(dims[i].name, dims[n].name) == 0)
                    rc = why_err(why, whylen, "dimension '%s' given twice",
                                 dims[n].name);
            n++;
        }
        if (comma == NULL)
            break;
        item = comma + 1;
    }
    if (rc == AZR_OK && n > 0) {
        azr_cfg_dimension *copy = malloc(n * sizeof *copy);
        if (copy == NULL)
            rc = AZR_E_NOMEM;
        else {
            memcpy(copy, dims, n * sizeof *copy);
            for (size_t i = 0; i < st->n_dimensions; i++) {
                free(st->dimensions[i].name);
                free(st->dimensions[i].value);
            }
            free(st->dimensions);
            st->dimensions = copy;
            st->n_dimensions = n;
            return AZR_OK;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(dims[i].name);
        free(dims[i].value);
    }
    if (rc == AZR_E_NOMEM)
        snprintf(why, whylen, "out of memory");
    return rc;
}

azr_code azr__cfg_stats_price(azr_cfg_stats *st, const char *value, char *why,
                              size_t whylen)
{
    char q[AZR_CFG_QUOTE_BUF];
    double v;
    if (azr__decimal_parse(value, &v) != 0 || v > 1000.0)
        return why_err(why, whylen, "bad cross_az_price_per_gb '%s' "
                       "(expected a decimal from 0 to 1000, e.g. 0.01)",
                       azr__cfg_quote(q, value));
    st->price_per_gb = v;
    return AZR_OK;
}

void azr__cfg_stats_clear(azr_cfg_stats *st)
{
    free(st->emf_namespace);
    for (size_t i = 0; i < st->n_dimensions; i++) {
        free(st->dimensions[i].name);
        free(st->dimensions[i].value);
    }
    free(st->dimensions);
    memset(st, 0, sizeof *st);
}
