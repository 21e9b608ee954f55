/*
 * decimal.h - the one parser of azroute.ini's decimal numbers.
 *
 * azroute.ini writes a decimal as ASCII digits, optionally followed by a
 * '.' and more digits ("3", "1.5", "0.05"); nothing else: no sign, blank,
 * exponent, hexadecimal form, "inf"/"nan", no ',' or other locale-specific
 * decimal point. The syntax and the value do not depend on the program's
 * locale (an embedding program may have called setlocale(LC_ALL, "")
 * with a locale whose decimal point is ',').
 *
 * The source is compiled into libazroute and into each plugin that reads
 * decimal options (through plugins/common/options.c), where hidden
 * visibility keeps it out of every ABI (the one libazroute source that
 * plugins compile in: they get everything else from the host services).
 */
#ifndef AZR_LIB_DECIMAL_H
#define AZR_LIB_DECIMAL_H

/* Parses `s`, the whole string, as such a decimal. Returns 0 with *out the
 * nearest double (as strtod rounds in the C locale), or -1 with *out
 * untouched when `s` is NULL, breaks the syntax, or is too large or too
 * small to represent (ERANGE). Thread-safe; never reads or changes the
 * process's or the thread's locale. */
int azr__decimal_parse(const char *s, double *out);

#endif /* AZR_LIB_DECIMAL_H */
