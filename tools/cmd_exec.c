/*
 * cmd_exec.c - `azroute exec [--read|--write] [--timeout-ms MS] CMD
 * [ARG...]`: runs one command on the routed node (retrying on other
 * candidates) and prints the reply the way redis-cli does. Exit 1 on an
 * error reply, as redis-cli does. --timeout-ms gives the reply its own
 * deadline, for commands the server holds on purpose (BLPOP ... 5 with
 * --timeout-ms 5500): azr_exec_ex with AZR_EXEC_BLOCKING.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

typedef struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) AZR_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A quoted, escaped string like redis-cli's sdscatrepr(). */
static void sb_repr(sbuf *b, const char *s, size_t len)
{
    sb_str(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\\': sb_str(b, "\\\\"); break;
        case '"': sb_str(b, "\\\""); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        case '\a': sb_str(b, "\\a"); break;
        case '\b': sb_str(b, "\\b"); break;
        default:
            if (isprint(c))
                sb_add(b, (const char *)&c, 1);
            else
                sb_printf(b, "\\x%02x", c);
        }
    }
    sb_str(b, "\"");
}

static const char *raw(const azr_reply *r)
{
    return r->str != NULL ? r->str : "";
}

/* Mirrors redis-cli's cliFormatReplyTTY(): nested aggregates are numbered
 * and indented, maps print "key => value". */
static void format_reply(sbuf *b, const azr_reply *r, const char *prefix)
{
    switch (r->type) {
    case AZR_REPLY_ERROR:
    case AZR_REPLY_BLOB_ERROR:
        sb_str(b, "(error) ");
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_STATUS:
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_INTEGER:
        sb_printf(b, "(integer) %lld\n", r->integer);
        return;
    case AZR_REPLY_DOUBLE:
        sb_str(b, "(double) ");
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_STRING:
        sb_repr(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_VERBATIM:
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_NIL:
        sb_str(b, "(nil)\n");
        return;
    case AZR_REPLY_BOOL:
        sb_str(b, r->integer ? "(true)\n" : "(false)\n");
        return;
    case AZR_REPLY_BIGNUM:
        sb_str(b, "(big number) ");
        sb_add(b, raw(r), r->len);
        sb_str(b, "\n");
        return;
    case AZR_REPLY_ARRAY:
    case AZR_REPLY_MAP:
    case AZR_REPLY_SET:
    case AZR_REPLY_PUSH:
        break;
    default:
        sb_printf(b, "(unknown reply type %d)\n", (int)r->type);
        return;
    }

    if (r->elements == 0) {
        sb_str(b, r->type == AZR_REPLY_MAP   ? "(empty hash)\n"
                  : r->type == AZR_REPLY_SET ? "(empty set)\n"
                  : r->type == AZR_REPLY_PUSH ? "(empty push)\n"
                                              : "(empty array)\n");
        return;
    }
    int is_map = r->type == AZR_REPLY_MAP;
    char sep = r->type == AZR_REPLY_SET ? '~' : is_map ? '#' : ')';
    size_t count = is_map ? r->elements / 2 : r->elements;
    unsigned idxlen = 0;
    for (size_t i = count; ; i /= 10) {
        idxlen++;
        if (i < 10)
            break;
    }
    size_t plen = strlen(prefix);
    char *inner = malloc(plen + idxlen + 3);
    if (inner == NULL) {
        b->failed = 1;
        return;
    }
    memcpy(inner, prefix, plen);
    memset(inner + plen, ' ', idxlen + 2);
    inner[plen + idxlen + 2] = '\0';

    for (size_t i = 0; i < r->elements; i++) {
        size_t human = (is_map ? i / 2 : i) + 1;
        sb_printf(b, "%s%*zu%c ", i == 0 ? "" : prefix, (int)idxlen, human,
                  sep);
        format_reply(b, r->element[i], inner);
        if (is_map && i + 1 < r->elements) {
            i++;
            if (b->len > 0 && !b->failed)
                b->data[--b->len] = '\0'; /* the key's newline */
            sb_str(b, " => ");
            format_reply(b, r->element[i], inner);
        }
    }
    free(inner);
}

int azr_cli_exec(azr_ctx *ctx, int argc, char **argv)
{
    azr_exec_options opts = { .struct_size = sizeof opts,
                              .intent = AZR_INTENT_READ };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--timeout-ms") == 0) {
            unsigned long ms;
            if (!azr_cli_parse_count("exec --timeout-ms",
                                     i + 1 < argc ? argv[++i] : NULL,
                                     600000, &ms))
                return AZR_EXIT_USAGE;
            opts.timeout_ms = (unsigned)ms;
            opts.flags = AZR_EXEC_BLOCKING;
        } else if (!azr_cli_parse_intent(argv[i], &opts.intent)) {
            azr_cli_error("exec: unknown option '%s' (usage: exec "
                          "[--read|--write] [--timeout-ms MS] CMD [ARG...])",
                          argv[i]);
            return AZR_EXIT_USAGE;
        }
    }
    if (i == argc) {
        azr_cli_error("exec: missing command (usage: exec [--read|--write] "
                      "[--timeout-ms MS] CMD [ARG...])");
        return AZR_EXIT_USAGE;
    }
    if (!azr_cli_has_transport(ctx, argv[0]))
        return AZR_EXIT_USAGE;

    const azr_command cmd = {
        .argc = (size_t)(argc - i),
        .argv = (const char *const *)(argv + i),
    };
    azr_reply *reply = NULL;
    size_t node = 0;
    char err[AZR_ERRBUF_SIZE];
    azr_code rc = azr_exec_ex(ctx, &opts, &cmd, &reply, &node, err);
    if (rc != AZR_OK) {
        azr_cli_error("%s", err[0] != '\0' ? err : azr_strerror(rc));
        return azr_cli_exit_for(rc);
    }
    if (azr_cli.verbose) {
        azr_node_info info;
        if (azr_node_get(ctx, node, &info) == AZR_OK)
            fprintf(stderr, "azroute: answered by node %s (%s:%u)\n",
                    info.id, info.host, (unsigned)info.port);
    }
    sbuf out = { 0 };
    format_reply(&out, reply, "");
    int status = reply->type == AZR_REPLY_ERROR ||
                         reply->type == AZR_REPLY_BLOB_ERROR
                     ? AZR_EXIT_RUNTIME : AZR_EXIT_OK;
    azr_reply_free(reply);
    if (out.failed) {
        free(out.data);
        azr_cli_error("exec: out of memory");
        return AZR_EXIT_RUNTIME;
    }
    fwrite(out.data, 1, out.len, stdout);
    free(out.data);
    return status;
}
