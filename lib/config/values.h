/*
 * values.h - the value rules of azroute.ini, shared by the loader, the
 * nodes_env parser, the [stats] keys and the layers above (the plugin
 * loader, the metadata sources), so that one kind of name is checked by
 * one rule wherever it is written.
 *
 * Every name rule is one character class with length bounds
 * (azr_cfg_chars), checked by the one validator azr__cfg_chars_valid().
 * Nothing here allocates or depends on the locale.
 */
#ifndef AZR_LIB_CONFIG_VALUES_H
#define AZR_LIB_CONFIG_VALUES_H

#include <stddef.h>

#include <azroute/azroute.h>

/* Longest value quoted back in an error message (longer ones end in
 * "..."), so that a message always fits AZR_ERRBUF_SIZE with its file name
 * and never echoes a whole nodes_env value. */
#define AZR_CFG_QUOTE_MAX 48
/* Size of a buffer for azr__cfg_quote(). */
#define AZR_CFG_QUOTE_BUF (AZR_CFG_QUOTE_MAX + 4)

/* Longest node id, host name and plain plugin name. */
#define AZR_CFG_NODE_ID_MAX 64
#define AZR_CFG_HOST_MAX 253
#define AZR_CFG_PLUGIN_NAME_MAX 32

/* Character ranges a class may allow (azr_cfg_chars.ranges). */
#define AZR_CHARS_LOWER 0x1u  /* a-z */
#define AZR_CHARS_UPPER 0x2u  /* A-Z */
#define AZR_CHARS_DIGIT 0x4u  /* 0-9 */
#define AZR_CHARS_ALNUM (AZR_CHARS_LOWER | AZR_CHARS_UPPER | AZR_CHARS_DIGIT)
/* Every byte but the C0 controls (0x00-0x1f) and DEL (0x7f): text, UTF-8
 * included. */
#define AZR_CHARS_TEXT 0x8u

/* A character class with length bounds: what one kind of name may be made
 * of. */
typedef struct azr_cfg_chars {
    unsigned ranges;    /* AZR_CHARS_* */
    const char *extra;  /* further characters allowed ("" for none) */
    size_t min_len;     /* length bounds in bytes, inclusive */
    size_t max_len;
} azr_cfg_chars;

/* 1 if s[0..len) has a length within cc's bounds and is made of cc's
 * characters only, else 0. A NUL byte is never allowed. */
int azr__cfg_chars_valid(const char *s, size_t len, const azr_cfg_chars *cc);

/* The classes of the names azroute.ini has. */
/* A node id: [A-Za-z0-9._:-]{1,64}. */
extern const azr_cfg_chars azr__cfg_node_id_chars;
/* A host: a DNS name, an IPv4 or an IPv6 address, [A-Za-z0-9._:%-]{1,253}
 * (resolution happens at connect time). */
extern const azr_cfg_chars azr__cfg_host_chars;
/* An AZ name ("ap-northeast-1a", "us-west-2-lax-1a"), and the characters
 * of an AZ ID: [a-z0-9-]{1,63}. */
extern const azr_cfg_chars azr__cfg_az_name_chars;
/* A plain plugin name: [a-z0-9_]{1,32}. */
extern const azr_cfg_chars azr__cfg_plugin_name_chars;
/* An environment variable name: [A-Za-z0-9_]{1,64} (a leading digit is
 * refused apart, azr__cfg_env_name_valid). */
extern const azr_cfg_chars azr__cfg_env_name_chars;
/* A host[:port] of a metadata endpoint, IPv6 in brackets:
 * [A-Za-z0-9.:_[]-]{1,255}. */
extern const azr_cfg_chars azr__cfg_address_chars;

/* Writes a printable, length-capped copy of `s` into buf (non-printable
 * bytes become '?') and returns buf. */
const char *azr__cfg_quote(char buf[AZR_CFG_QUOTE_BUF], const char *s);

/* Formats one line into err (err may be NULL or errlen 0) and returns
 * code. */
azr_code azr__cfg_err(char *err, size_t errlen, azr_code code,
                      const char *fmt, ...) AZR_PRINTF(4, 5);

/* 1 for the blanks of azroute.ini: ' ', \t, \n, \v, \f and \r, whatever
 * the locale. */
int azr__cfg_is_blank(char c);

/* Parses a decimal integer in [min, max]: digits only, no sign, no
 * whitespace, no trailing characters. Returns 0 and sets *out, or -1. */
int azr__cfg_parse_uint(const char *s, unsigned min, unsigned max,
                        unsigned *out);

/* Parses "primary" / "replica". Returns 0 and sets *role, or -1. */
int azr__cfg_parse_role(const char *s, azr_role *role);

/* Returns 1 if `s` looks like an AZ ID ("apne1-az4", "use1-az6",
 * "usw2-lax1-az1": lowercase letters/digits, dash-separated, ending in
 * "-az" + digits, at most AZR_AZ_ID_MAX-1 chars). */
int azr__az_id_valid(const char *s);

/* 1 if `s` names a plugin the loader accepts: a plain name
 * (azr__cfg_plugin_name_chars) or an absolute path without control
 * characters. */
int azr__cfg_plugin_name_valid(const char *s);
/* The rule above, for messages. */
#define AZR_CFG_PLUGIN_NAME_RULE \
    "a name of a-z 0-9 _ (at most 32) or an absolute path"

/* 1 if `s` is an environment variable name: azr__cfg_env_name_chars, not
 * starting with a digit. */
int azr__cfg_env_name_valid(const char *s);

/* The name a plugin given by path is known by in section headers: its
 * base name without ".so" ("/opt/p/mine.so" -> "mine"), cut to buflen - 1
 * bytes, written into buf (buflen >= 1). Returns buf. */
const char *azr__cfg_plugin_stem(const char *entry, char *buf, size_t buflen);

#endif /* AZR_LIB_CONFIG_VALUES_H */
