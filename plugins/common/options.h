/*
 * options.h - reading numeric plugin options through the host services.
 *
 * Shared by the built-in plugins (failover, weighted_latency, same_az's
 * spill-over, resp_tls): the source is compiled into each module that
 * uses it, where -fvisibility=hidden keeps these functions internal, so
 * they are part of no ABI and each module still exports only its
 * descriptor. Like the rest of a plugin they use only the public plugin
 * ABI (<azroute/plugin.h>). The example plugin does not use them: it is
 * built on its own, out of tree.
 *
 * Call the readers only during create() (host->option is valid only
 * then). An absent key leaves *val alone, so initialise it to the
 * default. A bad value is described through host->error with the key, so
 * the host prefixes the message with the option's file:line, and the
 * reader returns AZR_E_CONFIG; the message reads
 *     invalid KEY 'VALUE': expected <what a valid value is>
 */
#ifndef AZR_PLUGINS_COMMON_OPTIONS_H
#define AZR_PLUGINS_COMMON_OPTIONS_H

#include <azroute/plugin.h>

/* Parses `s` as a decimal integer in [min, max]: digits only, no sign,
 * blank or suffix. Returns 0 and sets *out, or -1 (*out untouched). */
int azr__opt_parse_uint(const char *s, unsigned long long min,
                       unsigned long long max, unsigned long long *out);

/* Parses `s` as a decimal of azroute.ini's syntax (lib/config/decimal.h: digits,
 * optionally '.' and digits; no sign, exponent or hex form, and '.' as the
 * decimal point whatever the locale) in [min, max], or in (min, max] when
 * `open_min`. Returns 0 and sets *out, or -1 (*out untouched). */
int azr__opt_parse_double(const char *s, double min, int open_min, double max,
                         double *out);

/* Reports `value` of option `key` as invalid: "invalid KEY 'VALUE':
 * expected " followed by `expect_fmt` formatted. Returns AZR_E_CONFIG. */
int azr__opt_invalid(azr_plugin_env *env, const azr_host_services *host,
                    const char *key, const char *value,
                    const char *expect_fmt, ...) AZR_PRINTF(5, 6);

/* Reads option `key` as an integer in [min, max] into *val (see
 * azr__opt_parse_uint). A bad value expects "an integer in MIN..MAX".
 * Returns 0 (also when the key is absent) or AZR_E_CONFIG. */
int azr__opt_uint(azr_plugin_env *env, const azr_host_services *host,
                 const char *key, unsigned long long min,
                 unsigned long long max, unsigned long long *val);

/* Reads option `key` as a number in [min, max] ((min, max] when
 * `open_min`) into *val (see azr__opt_parse_double). A bad value is
 * reported with `expect_fmt` formatted as what was expected. Returns 0
 * (also when the key is absent) or AZR_E_CONFIG. */
int azr__opt_double(azr_plugin_env *env, const azr_host_services *host,
                   const char *key, double min, int open_min, double max,
                   double *val, const char *expect_fmt, ...)
    AZR_PRINTF(8, 9);

#endif /* AZR_PLUGINS_COMMON_OPTIONS_H */
