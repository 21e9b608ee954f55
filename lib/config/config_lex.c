/*
 * config_lex.c - azroute.ini read line by line: blank lines and comments
 * skipped, "[...]" headers opening their section, "key = value" lines
 * handed to the handlers of the section being read (config_keys.c).
 *
 * The syntax is the INI dialect inih reads (azroute.ini(5), SYNTAX), lexed
 * here rather than by inih's ini_parse_stream(), which could not give
 * what the format promises:
 *  - lines up to AZR_CFG_LINE_MAX characters: inih's line buffer is fixed
 *    when libinih is built (199 characters in Debian's), too short for a
 *    253-character host or a long path; a longer line is refused, never
 *    split;
 *  - a syntax that no one else in the process can change: Debian's libinih
 *    turns its build options into process-wide variables (ini_max_line,
 *    ini_allow_no_value, ini_allow_inline_comments, ...), so an embedding
 *    program that also uses inih could change how azroute reads its file,
 *    or crash it (a key without '=' handed over with a NULL value);
 *  - blanks are ' ', \t, \n, \v, \f and \r whatever the locale (inih uses
 *    isspace());
 *  - line numbers, sections with no keys, section names of any length,
 *    and no continuation lines: an indented "key = value" is an ordinary
 *    key.
 * Parsing stops at the first error; the message names FILE:LINE.
 */
#include <string.h>

#include "config_parse.h"

/* Opens the section named by `inner`, the text between '[' and ']'
 * (modified in place). */
static int open_section(azr_cfg_parser *p, char *inner)
{
    char q[AZR_CFG_QUOTE_BUF];
    char *b, *e, *word_end, *arg;
    unsigned *first = NULL;
    azr_cfg_sec_kind fixed = SEC_NONE;

    b = inner;
    while (azr__cfg_is_blank(*b))
        b++;
    e = b + strlen(b);
    while (e > b && azr__cfg_is_blank(e[-1]))
        *--e = '\0';
    word_end = b;
    while (*word_end != '\0' && !azr__cfg_is_blank(*word_end))
        word_end++;
    arg = word_end;
    while (azr__cfg_is_blank(*arg))
        arg++;
    *word_end = '\0';

    p->sec = SEC_NONE; /* until opened successfully */
    if (strcmp(b, "azroute") == 0) {
        fixed = SEC_AZROUTE;
        first = &p->azroute_line;
    } else if (strcmp(b, "metadata") == 0) {
        fixed = SEC_METADATA;
        first = &p->cfg->md_line;
    } else if (strcmp(b, "az_map") == 0) {
        fixed = SEC_AZ_MAP;
        first = &p->az_map_line;
    } else if (strcmp(b, "stats") == 0) {
        fixed = SEC_STATS;
        first = &p->stats_line;
    } else if (strcmp(b, "topology") == 0) {
        fixed = SEC_TOPOLOGY;
        first = &p->cfg->topo_line;
    }
    if (fixed != SEC_NONE && *arg == '\0') {
        if (*first != 0)
            return azr__cfg_dup_section(p,
                                        fixed == SEC_AZROUTE    ? "[azroute]"
                                        : fixed == SEC_METADATA ? "[metadata]"
                                        : fixed == SEC_STATS    ? "[stats]"
                                        : fixed == SEC_TOPOLOGY ? "[topology]"
                                                                : "[az_map]",
                                        *first);
        *first = p->lineno;
        p->sec = fixed;
        return 1;
    }
    if (fixed == SEC_NONE) {
        azr_cfg_sec_kind named = strcmp(b, "node") == 0 ? SEC_NODE
                                 : strcmp(b, "policy") == 0 ? SEC_POLICY
                                 : strcmp(b, "transport") == 0 ? SEC_TRANSPORT
                                 : SEC_NONE;
        if (named != SEC_NONE && *arg == '\0')
            return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                                 "section [%s] needs a name: [%s %s]", b, b,
                                 named == SEC_NODE ? "ID" : "NAME");
        if (named == SEC_NODE)
            return azr__cfg_open_node(p, arg);
        if (named != SEC_NONE)
            return azr__cfg_open_plugin_section(p, named, arg);
    }
    /* Show the header as written (trimmed), words rejoined. */
    if (*arg != '\0')
        word_end[0] = ' ';
    return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG, "unknown section [%s]",
                         azr__cfg_quote(q, b));
}

/* Where a key, value or header ends: at one of `chars` (NULL: none), or at
 * an inline comment, a ';' that follows a blank (inih's rule: "a;b" is a
 * value, "a ;b" is "a" and a comment). */
static char *find_chars_or_comment(char *s, const char *chars)
{
    int was_space = 0;
    while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
           !(was_space && *s == ';')) {
        was_space = azr__cfg_is_blank(*s);
        s++;
    }
    return s;
}

/* `s` without leading blanks. */
static char *lskip(char *s)
{
    while (azr__cfg_is_blank(*s))
        s++;
    return s;
}

/* Cuts the blanks off the end of `s`, whose terminating NUL is at `end`. */
static char *rstrip(char *s, char *end)
{
    while (end > s && azr__cfg_is_blank(end[-1]))
        *--end = '\0';
    return s;
}

/* A "[...]" line (blanks already trimmed): opens its section. */
static int section_line(azr_cfg_parser *p, char *line)
{
    char *end, *after;

    end = find_chars_or_comment(line + 1, "]");
    if (*end != ']')
        return azr__cfg_perr(
            p, p->lineno, AZR_E_CONFIG,
            "syntax error (section header without closing ']')");
    after = lskip(end + 1);
    if (*after != '\0' && *after != ';')
        return azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                             "syntax error (text after section header)");
    *end = '\0';
    return open_section(p, line + 1);
}

/* One line of the file (its own copy, without the line break; NUL-free).
 * Blank lines and comments are skipped, headers open their section, and
 * "key = value" (or "key: value") goes to azr__cfg_on_key. Returns 0 once
 * an error is recorded. */
static int lex_line(azr_cfg_parser *p, char *line, size_t len)
{
    char *start = rstrip(lskip(line), line + len), *end, *value;

    if (*start == '\0' || *start == ';' || *start == '#')
        return 1;
    if (*start == '[')
        return section_line(p, start);
    end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':')
        return azr__cfg_perr(
            p, p->lineno, AZR_E_CONFIG,
            "syntax error (expected [section] or key = value)");
    *end = '\0';
    rstrip(start, end);
    value = end + 1;
    end = find_chars_or_comment(value, NULL);
    *end = '\0';
    value = lskip(value);
    rstrip(value, end);
    return azr__cfg_on_key(p, start, value);
}

void azr__cfg_lex(azr_cfg_parser *p, char *buf)
{
    while (!p->has_err && p->pos < p->len) {
        const char *s = p->text + p->pos;
        const char *nl = memchr(s, '\n', p->len - p->pos);
        size_t linelen = nl != NULL ? (size_t)(nl - s) : p->len - p->pos;

        p->pos += linelen + (nl != NULL);
        p->lineno++;
        if (linelen > 0 && s[linelen - 1] == '\r')
            linelen--;
        if (memchr(s, '\0', linelen) != NULL) {
            azr__cfg_perr(p, p->lineno, AZR_E_CONFIG, "NUL character in line");
            return;
        }
        if (linelen > AZR_CFG_LINE_MAX) {
            azr__cfg_perr(p, p->lineno, AZR_E_CONFIG,
                          "line too long (max %d characters)",
                          AZR_CFG_LINE_MAX);
            return;
        }
        if (p->lineno == 1 && linelen >= 3 &&
            memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            linelen -= 3;
        }
        memcpy(buf, s, linelen);
        buf[linelen] = '\0';
        lex_line(p, buf, linelen);
    }
}
