/*
 * command_state.c - classifies commands by what they do to the connection
 * (see command_state.h).
 *
 * The list is closed on purpose: a command is STATEFUL only when the
 * server keeps something on the connection that a later, unrelated user
 * of a pooled connection would inherit (a database, a subscription, a
 * tracking table, a protocol version, an identity, a reply mode, a
 * replication stream). Everything else is NONE.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "command_state.h"

static size_t arg_len(const azr_command *cmd, size_t i)
{
    return cmd->argvlen != NULL ? cmd->argvlen[i] : strlen(cmd->argv[i]);
}

/* A command name and its length, so that a lookup compares lengths first
 * and letters only on a length match: this runs for every command. */
typedef struct name_effect {
    const char *name;
    size_t len;
    azr_conn_effect effect;
} name_effect;

#define NAME(s, e) { s, sizeof s - 1, e }

static const name_effect commands[] = {
    NAME("SUBSCRIBE", AZR_EFFECT_STATEFUL),
    NAME("PSUBSCRIBE", AZR_EFFECT_STATEFUL),
    NAME("SSUBSCRIBE", AZR_EFFECT_STATEFUL),
    NAME("UNSUBSCRIBE", AZR_EFFECT_STATEFUL),
    NAME("PUNSUBSCRIBE", AZR_EFFECT_STATEFUL),
    NAME("SUNSUBSCRIBE", AZR_EFFECT_STATEFUL),
    NAME("MONITOR", AZR_EFFECT_STATEFUL),
    NAME("SELECT", AZR_EFFECT_STATEFUL),
    NAME("RESET", AZR_EFFECT_STATEFUL),
    NAME("HELLO", AZR_EFFECT_STATEFUL),
    NAME("AUTH", AZR_EFFECT_STATEFUL),
    NAME("QUIT", AZR_EFFECT_STATEFUL),
    NAME("READONLY", AZR_EFFECT_STATEFUL),
    NAME("READWRITE", AZR_EFFECT_STATEFUL),
    NAME("SYNC", AZR_EFFECT_STATEFUL),
    NAME("PSYNC", AZR_EFFECT_STATEFUL),
    NAME("REPLCONF", AZR_EFFECT_STATEFUL),
    NAME("MULTI", AZR_EFFECT_MULTI_OPEN),
    NAME("WATCH", AZR_EFFECT_WATCH_OPEN),
    NAME("EXEC", AZR_EFFECT_TXN_CLOSE),
    NAME("DISCARD", AZR_EFFECT_TXN_CLOSE),
    NAME("UNWATCH", AZR_EFFECT_UNWATCH),
};

/* CLIENT subcommands that change how the server treats the connection's
 * later commands. (SETNAME and SETINFO only label it: not state a later
 * user could trip on.) */
static const name_effect client_subcommands[] = {
    NAME("TRACKING", AZR_EFFECT_STATEFUL),
    NAME("REPLY", AZR_EFFECT_STATEFUL),
    NAME("NO-EVICT", AZR_EFFECT_STATEFUL),
    NAME("NO-TOUCH", AZR_EFFECT_STATEFUL),
    NAME("CACHING", AZR_EFFECT_STATEFUL),
};

/* The effect of argument i looked up in table[0..n), NONE if absent. */
static azr_conn_effect lookup(const azr_command *cmd, size_t i,
                              const name_effect *table, size_t n)
{
    if (i >= cmd->argc)
        return AZR_EFFECT_NONE;
    size_t len = arg_len(cmd, i);
    for (size_t k = 0; k < n; k++)
        if (table[k].len == len &&
            strncasecmp(cmd->argv[i], table[k].name, len) == 0)
            return table[k].effect;
    return AZR_EFFECT_NONE;
}

static int arg_is(const azr_command *cmd, size_t i, const char *name)
{
    size_t n = strlen(name);
    return i < cmd->argc && arg_len(cmd, i) == n &&
           strncasecmp(cmd->argv[i], name, n) == 0;
}

azr_conn_effect azr__command_effect(const azr_command *cmd)
{
    if (arg_is(cmd, 0, "CLIENT"))
        return lookup(cmd, 1, client_subcommands,
                      sizeof client_subcommands / sizeof *client_subcommands);
    return lookup(cmd, 0, commands, sizeof commands / sizeof *commands);
}

static size_t copy_name(char *out, size_t room, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < room && k < 32; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A')
                   : c >= 0x21 && c < 0x7f ? (char)c : '?';
    }
    out[k] = '\0';
    return k;
}

const char *azr__command_name(const azr_command *cmd, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    size_t k = copy_name(buf, len, cmd->argv[0], arg_len(cmd, 0));
    if (arg_is(cmd, 0, "CLIENT") && cmd->argc > 1 && k + 2 < len) {
        buf[k++] = ' ';
        copy_name(buf + k, len - k, cmd->argv[1], arg_len(cmd, 1));
    }
    return buf;
}

void azr__conn_state_apply(azr_conn_state *st, azr_conn_effect effect)
{
    switch (effect) {
    case AZR_EFFECT_STATEFUL:
        st->dirty = 1;
        break;
    case AZR_EFFECT_MULTI_OPEN:
        st->in_multi = 1;
        break;
    case AZR_EFFECT_WATCH_OPEN:
        st->watching = 1;
        break;
    case AZR_EFFECT_TXN_CLOSE:
        st->in_multi = 0;
        st->watching = 0;
        break;
    case AZR_EFFECT_UNWATCH:
        st->watching = 0;
        break;
    case AZR_EFFECT_NONE:
        break;
    }
}

int azr__conn_state_clean(const azr_conn_state *st)
{
    return !st->dirty && !st->in_multi && !st->watching;
}
