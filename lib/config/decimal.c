/*
 * decimal.c - azroute.ini's decimal numbers, whatever the locale.
 * The contract is in decimal.h.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>

#include "decimal.h"

/* Number of ASCII digits at the start of `s`. */
static size_t digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

int azr__decimal_parse(const char *s, double *out)
{
    if (s == NULL)
        return -1;
    /* The syntax is checked here, by hand: strtod alone would also take
     * blanks, a sign, exponents, hex floats, inf/nan and the locale's
     * decimal point. */
    size_t n = digits(s);
    if (n == 0)
        return -1;
    if (s[n] == '.') {
        size_t f = digits(s + n + 1);
        if (f == 0)
            return -1; /* "1." */
        n += 1 + f;
    }
    if (s[n] != '\0')
        return -1;

    /* Only the conversion is left to the C library, in the C locale so
     * that '.' is the decimal point. newlocale() of "C" with every
     * category is the static C locale in glibc (no allocation). */
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c == (locale_t)0)
        return -1;
    char *end;
    errno = 0;
    double v = strtod_l(s, &end, c);
    int range = errno;
    freelocale(c);
    if (end != s + n || range != 0 || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}
