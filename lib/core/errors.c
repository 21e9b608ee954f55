/*
 * errors.c - result codes, their descriptions, the library version, and
 * the error-buffer helper every module uses.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Indexed by azr_code; the numbers are ABI, so entries are only appended. */
static const char *const azr_code_text[] = {
    [AZR_OK] = "no error",
    [AZR_E_INVALID_ARGUMENT] = "invalid argument",
    [AZR_E_NOMEM] = "out of memory",
    [AZR_E_CONFIG] = "invalid configuration",
    [AZR_E_PLUGIN] = "plugin refused or failed",
    [AZR_E_NO_NODE] = "no node available for this request",
    [AZR_E_METADATA] = "availability zone ID could not be learned",
    [AZR_E_METADATA_AUTH] = "metadata endpoint rejected the token",
    [AZR_E_TIMEOUT] = "operation timed out",
    [AZR_E_CONNECT] = "connection failed",
    [AZR_E_TLS] = "TLS failure",
    [AZR_E_PROTOCOL] = "protocol error",
    [AZR_E_SERVER_REPLY] = "server replied with an error",
    [AZR_E_IO] = "I/O error",
    [AZR_E_NO_TRANSPORT] = "no transport configured",
    [AZR_E_UNSUPPORTED] = "operation not supported",
    [AZR_E_AUTH] = "authentication failed",
    [AZR_E_NOT_FOUND] = "not found",
};

AZR_EXTERN const char *azr_strerror(azr_code code)
{
    size_t n = sizeof azr_code_text / sizeof azr_code_text[0];
    if ((size_t)code >= n || azr_code_text[code] == NULL)
        return "unknown error code";
    return azr_code_text[code];
}

AZR_EXTERN const char *azr_version(unsigned *num)
{
    if (num != NULL)
        *num = AZR_VERSION_NUM;
    return AZR_VERSION_STRING;
}

azr_code azr_set_err(char *errbuf, azr_code code, const char *fmt, ...)
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
