/*
 * metadata_lambda.c - the Lambda execution-environment metadata endpoint.
 *
 *   GET http://$AWS_LAMBDA_METADATA_API/2026-01-15/metadata/execution-environment
 *   Authorization: Bearer $AWS_LAMBDA_METADATA_TOKEN
 *   -> 200 {"AvailabilityZoneID": "apne1-az4", ...}
 *      Cache-Control: private, max-age=43200, immutable
 *   -> 401 bad or missing token, 405 any method but GET
 *
 * The token is read from the environment on every fetch (a restored
 * snapshot may carry a new one) and lives only in the request header: it is
 * wiped from our buffer after use and never quoted in a message, not even
 * if the endpoint echoes it back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metadata_internal.h"

#define LAMBDA_PATH "/2026-01-15/metadata/execution-environment"

/* host:port, IPv4, a name or a bracketed IPv6 literal: nothing that could
 * change the URL's meaning (no '/', '@', '?', '#', spaces). */
static int api_address_ok(const char *s)
{
    return azr__cfg_chars_valid(s, strlen(s), &azr__cfg_address_chars);
}

/* A token goes into a header line: printable, no CR/LF. */
static int token_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 4096)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c >= 0x7f)
            return 0;
    }
    return 1;
}

typedef struct lambda_arg {
    const char *api; /* validated host:port */
    char url[320];
} lambda_arg;

static void lambda_fetch(void *argp, uint64_t deadline_ns, unsigned timeout_ms,
                         azr_md_answer *out)
{
    lambda_arg *arg = argp;
    snprintf(arg->url, sizeof arg->url, "http://%s" LAMBDA_PATH, arg->api);
    char where[400];
    snprintf(where, sizeof where, "lambda metadata GET %s", arg->url);

    const char *token = secure_getenv("AWS_LAMBDA_METADATA_TOKEN");
    if (!token || !token[0]) {
        azr__md_fail(out, AZR_E_METADATA_AUTH,
                     "lambda metadata: AWS_LAMBDA_METADATA_TOKEN is not set");
        return;
    }
    if (!token_ok(token)) {
        azr__md_fail(out, AZR_E_METADATA_AUTH,
                     "lambda metadata: AWS_LAMBDA_METADATA_TOKEN contains "
                     "characters not allowed in a header");
        return;
    }
    size_t hlen = strlen("Authorization: Bearer ") + strlen(token) + 1;
    char *auth = malloc(hlen);
    if (!auth) {
        azr__md_fail(out, AZR_E_NOMEM, "%s: out of memory", where);
        return;
    }
    snprintf(auth, hlen, "Authorization: Bearer %s", token);
    const char *headers[] = {auth, "Accept: application/json", NULL};
    azr_md_http_request req = {
        .method = "GET",
        .url = arg->url,
        .headers = headers,
        .deadline_ns = deadline_ns,
        .timeout_ms = timeout_ms,
    };
    azr__md_get_json_field(&req, where, "AvailabilityZoneID", azr__az_id_valid,
                           "an AZ ID", token, out);
    explicit_bzero(auth, hlen);
    free(auth);
}

void azr__md_lambda_get(const azr_config *cfg, azr_md_cached *out)
{
    memset(out, 0, sizeof *out);
    out->expires_in_s = -1;
    const char *api = secure_getenv("AWS_LAMBDA_METADATA_API");
    if (!api || !api[0]) {
        azr__md_fail(&out->answer, AZR_E_METADATA,
                     "lambda metadata: AWS_LAMBDA_METADATA_API is not set");
        return;
    }
    if (!api_address_ok(api)) {
        azr__md_fail(&out->answer, AZR_E_METADATA,
                     "lambda metadata: AWS_LAMBDA_METADATA_API is not a "
                     "host:port address");
        return;
    }
    lambda_arg arg = {.api = api};
    char key[300];
    snprintf(key, sizeof key, "lambda %s", api);
    unsigned timeout = cfg && cfg->md_timeout_ms ? cfg->md_timeout_ms
                                                 : AZR_MD_DEFAULT_TIMEOUT_MS;
    azr__az_cache_get(key, cfg ? cfg->md_cache_file : NULL, timeout,
                      lambda_fetch, &arg, out);
}
