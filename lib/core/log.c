/*
 * log.c - delivery of log lines to the embedder's callback.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

void azr__logv(const azr_ctx *ctx, azr_log_level level, const char *fmt,
               va_list ap)
{
    if (ctx == NULL || ctx->log == NULL || level > ctx->log_level)
        return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    for (char *p = line; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    ctx->log(ctx->log_userdata, level, line);
}

void azr__log(const azr_ctx *ctx, azr_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    azr__logv(ctx, level, fmt, ap);
    va_end(ap);
}
