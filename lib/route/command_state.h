/*
 * command_state.h - what a command does to the state of the connection it
 * runs on, so that a pooled connection only ever goes back clean.
 */
#ifndef AZR_LIB_COMMAND_STATE_H
#define AZR_LIB_COMMAND_STATE_H

#include <azroute/azroute.h>

typedef enum azr_conn_effect {
    AZR_EFFECT_NONE = 0,     /* leaves the connection as it was */
    AZR_EFFECT_STATEFUL,     /* changes it for good (SELECT, SUBSCRIBE,
                                CLIENT TRACKING, HELLO, AUTH, ...) */
    AZR_EFFECT_MULTI_OPEN,   /* MULTI: a transaction until EXEC/DISCARD */
    AZR_EFFECT_WATCH_OPEN,   /* WATCH: watched keys until EXEC/DISCARD/UNWATCH */
    AZR_EFFECT_TXN_CLOSE,    /* EXEC or DISCARD: ends MULTI and WATCH */
    AZR_EFFECT_UNWATCH       /* UNWATCH: ends WATCH */
} azr_conn_effect;

/* Classifies `cmd` by its name (and CLIENT's subcommand), case-insensitive
 * and binary-safe. `cmd` was validated (argc >= 1, no NULL argument). */
azr_conn_effect azr__command_effect(const azr_command *cmd);

/* Name of the command for messages ("SELECT", "CLIENT TRACKING"), written
 * into buf (upper case, printable, truncated). Returns buf. */
const char *azr__command_name(const azr_command *cmd, char *buf, size_t len);

/* A connection's open transaction state, tracked across commands. */
typedef struct azr_conn_state {
    unsigned dirty : 1;       /* a STATEFUL command ran */
    unsigned in_multi : 1;
    unsigned watching : 1;
} azr_conn_state;

/* Applies the effect of one command that the server answered. */
void azr__conn_state_apply(azr_conn_state *st, azr_conn_effect effect);

/* 1 if a connection in this state may serve another user. */
int azr__conn_state_clean(const azr_conn_state *st);

#endif /* AZR_LIB_COMMAND_STATE_H */
