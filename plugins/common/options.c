/*
 * options.c - reading numeric plugin options through the host services.
 * The contract is in options.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../lib/config/decimal.h"
#include "options.h"

int azr__opt_parse_uint(const char *s, unsigned long long min,
                       unsigned long long max, unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1; /* no sign, no blanks (strtoull would accept both) */
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int azr__opt_parse_double(const char *s, double min, int open_min, double max,
                         double *out)
{
    double v;
    if (azr__decimal_parse(s, &v) != 0 ||
        (open_min ? v <= min : v < min) || v > max)
        return -1;
    *out = v;
    return 0;
}

/* azr__opt_invalid with the expectation's arguments as a va_list. */
static int report_invalid(azr_plugin_env *env, const azr_host_services *host,
                          const char *key, const char *value,
                          const char *expect_fmt, va_list ap)
    AZR_PRINTF(5, 0);

static int report_invalid(azr_plugin_env *env, const azr_host_services *host,
                          const char *key, const char *value,
                          const char *expect_fmt, va_list ap)
{
    char expect[128];
    vsnprintf(expect, sizeof expect, expect_fmt, ap);
    return host->error(env, AZR_E_CONFIG, key,
                       "invalid %s '%s': expected %s", key, value, expect);
}

int azr__opt_invalid(azr_plugin_env *env, const azr_host_services *host,
                    const char *key, const char *value,
                    const char *expect_fmt, ...)
{
    va_list ap;
    va_start(ap, expect_fmt);
    int rc = report_invalid(env, host, key, value, expect_fmt, ap);
    va_end(ap);
    return rc;
}

int azr__opt_uint(azr_plugin_env *env, const azr_host_services *host,
                 const char *key, unsigned long long min,
                 unsigned long long max, unsigned long long *val)
{
    const char *v = host->option(env, key);
    if (v == NULL || azr__opt_parse_uint(v, min, max, val) == 0)
        return 0;
    return azr__opt_invalid(env, host, key, v, "an integer in %llu..%llu",
                           min, max);
}

int azr__opt_double(azr_plugin_env *env, const azr_host_services *host,
                   const char *key, double min, int open_min, double max,
                   double *val, const char *expect_fmt, ...)
{
    const char *v = host->option(env, key);
    if (v == NULL || azr__opt_parse_double(v, min, open_min, max, val) == 0)
        return 0;
    va_list ap;
    va_start(ap, expect_fmt);
    int rc = report_invalid(env, host, key, v, expect_fmt, ap);
    va_end(ap);
    return rc;
}
