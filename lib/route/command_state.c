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

static int arg_is(const azr_command *cmd, size_t i, const char *name)
{
    size_t n = strlen(name);
    return i < cmd->argc && arg_len(cmd, i) == n &&
           strncasecmp(cmd->argv[i], name, n) == 0;
}

static const char *const stateful[] = {
    "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
    "SUNSUBSCRIBE", "MONITOR", "SELECT", "RESET", "HELLO", "AUTH", "QUIT",
    "READONLY", "READWRITE", "SYNC", "PSYNC", "REPLCONF",
};

/* CLIENT subcommands that change how the server treats the connection's
 * later commands. (SETNAME and SETINFO only label it: not state a later
 * user could trip on.) */
static const char *const client_stateful[] = {
    "TRACKING", "REPLY", "NO-EVICT", "NO-TOUCH", "CACHING",
};

azr_conn_effect azr__command_effect(const azr_command *cmd)
{
    for (size_t i = 0; i < sizeof stateful / sizeof stateful[0]; i++)
        if (arg_is(cmd, 0, stateful[i]))
            return AZR_EFFECT_STATEFUL;
    if (arg_is(cmd, 0, "CLIENT")) {
        for (size_t i = 0;
             i < sizeof client_stateful / sizeof client_stateful[0]; i++)
            if (arg_is(cmd, 1, client_stateful[i]))
                return AZR_EFFECT_STATEFUL;
        return AZR_EFFECT_NONE;
    }
    if (arg_is(cmd, 0, "MULTI"))
        return AZR_EFFECT_MULTI_OPEN;
    if (arg_is(cmd, 0, "WATCH"))
        return AZR_EFFECT_WATCH_OPEN;
    if (arg_is(cmd, 0, "EXEC") || arg_is(cmd, 0, "DISCARD"))
        return AZR_EFFECT_TXN_CLOSE;
    if (arg_is(cmd, 0, "UNWATCH"))
        return AZR_EFFECT_UNWATCH;
    return AZR_EFFECT_NONE;
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
