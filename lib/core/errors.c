/*
 * errors.c - result codes, their descriptions, the library version, and
 * the error-buffer helper every module uses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * The description of every azr_code. A switch rather than a table indexed
 * by the code: with the warning for a missing enumerator made an error
 * here, a code added to the enum in <azroute/azroute.h> without its
 * description does not compile, and azr__code_from_plugin() below knows
 * every code without a bound of its own to keep in step. NULL for a value
 * that is no azr_code.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wswitch"
static const char *code_text(azr_code code)
{
    switch (code) {
    case AZR_OK: return "no error";
    case AZR_E_INVALID_ARGUMENT: return "invalid argument";
    case AZR_E_NOMEM: return "out of memory";
    case AZR_E_CONFIG: return "invalid configuration";
    case AZR_E_PLUGIN: return "plugin refused or failed";
    case AZR_E_NO_NODE: return "no node available for this request";
    case AZR_E_METADATA: return "availability zone ID could not be learned";
    case AZR_E_METADATA_AUTH: return "metadata endpoint rejected the token";
    case AZR_E_TIMEOUT: return "operation timed out";
    case AZR_E_CONNECT: return "connection failed";
    case AZR_E_TLS: return "TLS failure";
    case AZR_E_PROTOCOL: return "protocol error";
    case AZR_E_SERVER_REPLY: return "server replied with an error";
    case AZR_E_IO: return "I/O error";
    case AZR_E_NO_TRANSPORT: return "no transport configured";
    case AZR_E_UNSUPPORTED: return "operation not supported";
    case AZR_E_AUTH: return "authentication failed";
    case AZR_E_NOT_FOUND: return "not found";
    case AZR_E_CROSSSLOT: return "keys of one command in different slots";
    }
    return NULL;
}
#pragma GCC diagnostic pop

AZR_EXTERN const char *azr_strerror(azr_code code)
{
    const char *text = code_text(code);
    return text != NULL ? text : "unknown error code";
}

azr_code azr__code_from_plugin(int rc)
{
    if (rc == 0)
        return AZR_OK;
    if (rc > 0 && code_text((azr_code)rc) != NULL)
        return (azr_code)rc;
    return AZR_E_PLUGIN;
}

AZR_EXTERN const char *azr_version(unsigned *num)
{
    if (num != NULL)
        *num = AZR_VERSION_NUM;
    return AZR_VERSION_STRING;
}

azr_code azr__set_err(char *errbuf, azr_code code, const char *fmt, ...)
{
    if (errbuf != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, AZR_ERRBUF_SIZE, fmt, ap);
        va_end(ap);
        /* Messages are one line by contract, whatever a peer sent us. */
        for (char *p = errbuf; *p != '\0'; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    return code;
}
