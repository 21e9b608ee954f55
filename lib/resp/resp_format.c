/*
 * resp_format.c - encoding a command as a RESP array of bulk strings.
 *
 * The exact size is computed first so that the command is written into one
 * allocation. Arguments are binary-safe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/azroute.h>

/* Number of decimal digits of v. */
static size_t digits(size_t v)
{
    size_t d = 1;

    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* a += b, false on size_t overflow. */
static int add(size_t *a, size_t b)
{
    if (*a > SIZE_MAX - b)
        return 0;
    *a += b;
    return 1;
}

/* Writes the decimal form of v at p, returns the position after it. */
static char *put_num(char *p, size_t v)
{
    size_t d = digits(v);

    for (size_t i = d; i > 0; i--) {
        p[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + d;
}

azr_code azr_format_command(char **out, size_t *out_len, size_t argc,
                            const char *const *argv, const size_t *argvlen)
{
    size_t total = 1 + digits(argc) + 2; /* "*N\r\n" */
    char *buf, *p;

    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (out == NULL || out_len == NULL || argc == 0 || argv == NULL)
        return AZR_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < argc; i++) {
        size_t len;

        if (argv[i] == NULL && (argvlen == NULL || argvlen[i] != 0))
            return AZR_E_INVALID_ARGUMENT;
        len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        /* "$LEN\r\n" ARG "\r\n" */
        if (!add(&total, 1 + digits(len) + 2) || !add(&total, len) ||
            !add(&total, 2))
            return AZR_E_NOMEM;
    }
    if (!add(&total, 1)) /* a NUL after the command, for convenience */
        return AZR_E_NOMEM;
    buf = malloc(total);
    if (buf == NULL)
        return AZR_E_NOMEM;

    p = buf;
    *p++ = '*';
    p = put_num(p, argc);
    *p++ = '\r';
    *p++ = '\n';
    for (size_t i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);

        *p++ = '$';
        p = put_num(p, len);
        *p++ = '\r';
        *p++ = '\n';
        if (len > 0)
            memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    *out = buf;
    *out_len = (size_t)(p - buf);
    return AZR_OK;
}
