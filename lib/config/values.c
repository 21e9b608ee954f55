/*
 * values.c - the value rules of azroute.ini (see values.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

const azr_cfg_chars azr__cfg_node_id_chars = {
    AZR_CHARS_ALNUM, "._:-", 1, AZR_CFG_NODE_ID_MAX
};
const azr_cfg_chars azr__cfg_host_chars = {
    AZR_CHARS_ALNUM, "._:%-", 1, AZR_CFG_HOST_MAX
};
const azr_cfg_chars azr__cfg_az_name_chars = {
    AZR_CHARS_LOWER | AZR_CHARS_DIGIT, "-", 1, AZR_AZ_ID_MAX - 1
};
const azr_cfg_chars azr__cfg_plugin_name_chars = {
    AZR_CHARS_LOWER | AZR_CHARS_DIGIT, "_", 1, AZR_CFG_PLUGIN_NAME_MAX
};
const azr_cfg_chars azr__cfg_env_name_chars = {
    AZR_CHARS_ALNUM, "_", 1, 64
};
const azr_cfg_chars azr__cfg_address_chars = {
    AZR_CHARS_ALNUM, ".-:[]_", 1, 255
};

static int in_class(unsigned char c, const azr_cfg_chars *cc)
{
    if (c == '\0')
        return 0;
    if ((cc->ranges & AZR_CHARS_LOWER) && c >= 'a' && c <= 'z')
        return 1;
    if ((cc->ranges & AZR_CHARS_UPPER) && c >= 'A' && c <= 'Z')
        return 1;
    if ((cc->ranges & AZR_CHARS_DIGIT) && c >= '0' && c <= '9')
        return 1;
    if ((cc->ranges & AZR_CHARS_TEXT) && c >= 0x20 && c != 0x7f)
        return 1;
    return strchr(cc->extra, c) != NULL;
}

int azr__cfg_chars_valid(const char *s, size_t len, const azr_cfg_chars *cc)
{
    if (len < cc->min_len || len > cc->max_len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!in_class((unsigned char)s[i], cc))
            return 0;
    return 1;
}

const char *azr__cfg_quote(char buf[AZR_CFG_QUOTE_BUF], const char *s)
{
    size_t i = 0;
    if (s == NULL)
        s = "";
    for (; i < AZR_CFG_QUOTE_MAX && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

azr_code azr__cfg_err(char *err, size_t errlen, azr_code code,
                      const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int azr__cfg_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

int azr__cfg_parse_uint(const char *s, unsigned min, unsigned max,
                        unsigned *out)
{
    size_t n = 0;
    unsigned long v;
    char *end;

    if (s == NULL)
        return -1;
    for (; s[n] != '\0'; n++)
        if (s[n] < '0' || s[n] > '9')
            return -1;
    /* Ten digits cover every unsigned; more is out of range anyway. */
    if (n == 0 || n > 10)
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int azr__cfg_parse_role(const char *s, azr_role *role)
{
    if (strcmp(s, "primary") == 0)
        *role = AZR_ROLE_PRIMARY;
    else if (strcmp(s, "replica") == 0)
        *role = AZR_ROLE_REPLICA;
    else
        return -1;
    return 0;
}

int azr__az_id_valid(const char *s)
{
    /* Dash-separated groups of [a-z0-9]+, at least two, the last being
     * "az" followed by digits: apne1-az4, use1-az6, usw2-lax1-az1. The
     * characters and the length are those of an AZ name. */
    size_t n, groups = 0, start = 0;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (!azr__cfg_chars_valid(s, n, &azr__cfg_az_name_chars))
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (s[i] != '-' && s[i] != '\0')
            continue;
        if (i == start)
            return 0; /* empty group */
        groups++;
        start = i + 1;
    }
    /* The last group (from the last '-', or the whole string): az[0-9]+. */
    const char *last = strrchr(s, '-');
    last = last != NULL ? last + 1 : s;
    if (strlen(last) < 3 || last[0] != 'a' || last[1] != 'z')
        return 0;
    for (const char *d = last + 2; *d != '\0'; d++)
        if (*d < '0' || *d > '9')
            return 0;
    return groups >= 2;
}

int azr__cfg_plugin_name_valid(const char *s)
{
    /* A path: '/' and at least one more character, no control ones. */
    static const azr_cfg_chars path_chars = {
        AZR_CHARS_TEXT, "", 2, SIZE_MAX
    };
    const azr_cfg_chars *cc = s[0] == '/' ? &path_chars
                                          : &azr__cfg_plugin_name_chars;
    return azr__cfg_chars_valid(s, strlen(s), cc);
}

int azr__cfg_env_name_valid(const char *s)
{
    return azr__cfg_chars_valid(s, strlen(s), &azr__cfg_env_name_chars) &&
           !(s[0] >= '0' && s[0] <= '9');
}

const char *azr__cfg_plugin_stem(const char *entry, char *buf, size_t buflen)
{
    const char *base = strrchr(entry, '/');
    size_t n;
    base = base != NULL ? base + 1 : entry;
    n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".so") == 0)
        n -= 3;
    if (n >= buflen)
        n = buflen - 1;
    memcpy(buf, base, n);
    buf[n] = '\0';
    return buf;
}
