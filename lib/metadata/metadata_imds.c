/*
 * metadata_imds.c - EC2 instance metadata, IMDSv2 only.
 *
 *   PUT  $ENDPOINT/latest/api/token
 *        X-aws-ec2-metadata-token-ttl-seconds: 21600       -> token (text)
 *   GET  $ENDPOINT/latest/meta-data/placement/availability-zone-id
 *        X-aws-ec2-metadata-token: TOKEN                   -> "apne1-az4"
 *
 * $ENDPOINT is $AWS_EC2_METADATA_SERVICE_ENDPOINT, else (by
 * $AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE) http://169.254.169.254 or
 * http://[fd00:ec2::254]. The session token is kept process-wide, per
 * endpoint, for its TTL minus a margin, and survives azr_invalidate_az(): a
 * restored snapshot that finds it stale gets a 401, which drops the token and
 * fetches a new one, once. Like the Lambda token it never reaches a message.
 *
 * AWS_EC2_METADATA_DISABLED=true (any case) forbids contacting IMDS at all,
 * also when [metadata] source = imds names it explicitly.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metadata_internal.h"

#define IMDS_TOKEN_PATH "/latest/api/token"
#define IMDS_AZ_ID_PATH "/latest/meta-data/placement/availability-zone-id"
#define IMDS_TOKEN_TTL_S 21600
#define IMDS_TOKEN_MAX 4096

/* The one cached session token (a process talks to one IMDS). */
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;
static char *token_endpoint;
static char *token_value;
static uint64_t token_expires_ns;

/* fork() must not leave the child with token_lock held. */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void lock_tokens(void)
{
    pthread_mutex_lock(&token_lock);
}

static void unlock_tokens(void)
{
    pthread_mutex_unlock(&token_lock);
}

static void register_atfork(void)
{
    pthread_atfork(lock_tokens, unlock_tokens, unlock_tokens);
}

static void token_clear_locked(void)
{
    if (token_value) {
        explicit_bzero(token_value, strlen(token_value));
        free(token_value);
    }
    free(token_endpoint);
    token_value = NULL;
    token_endpoint = NULL;
    token_expires_ns = 0;
}

void azr__md_imds_forget_token(void)
{
    pthread_mutex_lock(&token_lock);
    token_clear_locked();
    pthread_mutex_unlock(&token_lock);
}

/* A copy of the cached token for `endpoint` if still fresh, else NULL. */
static char *token_get(const char *endpoint)
{
    char *t = NULL;
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&token_lock);
    if (token_value && token_endpoint && strcmp(token_endpoint, endpoint) == 0 &&
        azr__md_now_ns() < token_expires_ns)
        t = strdup(token_value);
    pthread_mutex_unlock(&token_lock);
    return t;
}

static void token_put(const char *endpoint, const char *token, int64_t ttl_s)
{
    /* Renew well before the server lets the token lapse. */
    int64_t margin = ttl_s > 600 ? 300 : ttl_s / 2;
    int64_t keep = ttl_s - margin;
    if (keep < 1)
        return;
    char *e = strdup(endpoint), *t = strdup(token);
    pthread_mutex_lock(&token_lock);
    token_clear_locked();
    if (e && t) {
        token_endpoint = e;
        token_value = t;
        token_expires_ns = azr__md_now_ns() + (uint64_t)keep * 1000000000u;
        e = t = NULL;
    }
    pthread_mutex_unlock(&token_lock);
    free(e);
    if (t) {
        explicit_bzero(t, strlen(t));
        free(t);
    }
}

static void token_drop(const char *endpoint)
{
    pthread_mutex_lock(&token_lock);
    if (token_endpoint && strcmp(token_endpoint, endpoint) == 0)
        token_clear_locked();
    pthread_mutex_unlock(&token_lock);
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Strips trailing whitespace in place; returns the new length. */
static size_t rtrim(char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return len;
}

typedef struct imds_arg {
    char endpoint[256];
} imds_arg;

/* One request to the IMDS with a single extra header (which may hold the
 * session token: azr__md_http never puts headers into err). */
static azr_code imds_http(const char *method, const char *url,
                          const char *header, uint64_t deadline_ns,
                          unsigned timeout_ms, azr_md_http_response *resp,
                          char *err, size_t errlen)
{
    const char *headers[] = {header, NULL};
    azr_md_http_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .deadline_ns = deadline_ns,
        .timeout_ms = timeout_ms,
    };
    return azr__md_http(&req, resp, err, errlen);
}

/* PUT for a new session token; *token receives it (free_secret). */
static azr_code fetch_token(const imds_arg *arg, uint64_t deadline_ns,
                            unsigned timeout_ms, char **token,
                            azr_md_answer *out)
{
    char url[320];
    snprintf(url, sizeof url, "%s" IMDS_TOKEN_PATH, arg->endpoint);
    char ttl_hdr[64];
    snprintf(ttl_hdr, sizeof ttl_hdr,
             "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL_S);
    azr_md_http_response resp;
    char err[200];
    azr_code rc = imds_http("PUT", url, ttl_hdr, deadline_ns, timeout_ms,
                            &resp, err, sizeof err);
    if (rc != AZR_OK)
        return azr__md_fail(out, rc, "imds PUT %s: %s", url, err);
    if (resp.status != 200) {
        char why[160];
        azr__md_http_status_reason(&resp, why, sizeof why);
        azr__md_http_response_free(&resp);
        /* A refused token request is not a rejected token. */
        return azr__md_fail(out, AZR_E_METADATA,
                            "imds PUT %s: token request refused: %s", url,
                            why);
    }
    size_t len = rtrim(resp.body, resp.len);
    int ok = len > 0 && len <= IMDS_TOKEN_MAX && strlen(resp.body) == len;
    for (size_t i = 0; ok && i < len; i++)
        if ((unsigned char)resp.body[i] < 0x21 ||
            (unsigned char)resp.body[i] >= 0x7f)
            ok = 0;
    if (!ok) {
        explicit_bzero(resp.body, resp.len);
        azr__md_http_response_free(&resp);
        return azr__md_fail(out, AZR_E_METADATA,
                            "imds PUT %s: the token in the response is not "
                            "usable (%zu bytes)", url, len);
    }
    int64_t ttl = resp.token_ttl_s > 0 && resp.token_ttl_s < IMDS_TOKEN_TTL_S
                      ? resp.token_ttl_s
                      : IMDS_TOKEN_TTL_S;
    token_put(arg->endpoint, resp.body, ttl);
    *token = resp.body; /* handed over; the caller wipes it */
    resp.body = NULL;
    return AZR_OK;
}

/* GET the AZ ID with `token`; *rejected is set on a 401. */
static azr_code get_az_id(const imds_arg *arg, uint64_t deadline_ns,
                          unsigned timeout_ms, const char *token,
                          int *rejected, azr_md_answer *out)
{
    *rejected = 0;
    char url[320];
    snprintf(url, sizeof url, "%s" IMDS_AZ_ID_PATH, arg->endpoint);
    size_t hlen = strlen("X-aws-ec2-metadata-token: ") + strlen(token) + 1;
    char *hdr = malloc(hlen);
    if (!hdr)
        return azr__md_fail(out, AZR_E_NOMEM, "imds GET %s: out of memory",
                            url);
    snprintf(hdr, hlen, "X-aws-ec2-metadata-token: %s", token);
    azr_md_http_response resp;
    char err[200];
    azr_code rc = imds_http("GET", url, hdr, deadline_ns, timeout_ms,
                            &resp, err, sizeof err);
    explicit_bzero(hdr, hlen);
    free(hdr);
    if (rc != AZR_OK)
        return azr__md_fail(out, rc, "imds GET %s: %s", url, err);
    if (resp.status != 200) {
        char why[160];
        azr_code sc = azr__md_http_status_reason(&resp, why, sizeof why);
        if (resp.status == 401) {
            *rejected = 1;
            snprintf(why, sizeof why, "IMDS session token rejected (HTTP 401)");
        }
        azr__md_http_response_free(&resp);
        return azr__md_fail(out, sc, "imds GET %s: %s", url, why);
    }
    size_t len = rtrim(resp.body, resp.len);
    if (len == 0 || len >= sizeof out->value || strlen(resp.body) != len ||
        !azr__az_id_valid(resp.body)) {
        char q[64];
        azr__md_quote(q, sizeof q, resp.body, len, token);
        azr__md_http_response_free(&resp);
        return azr__md_fail(out, AZR_E_METADATA,
                            "imds GET %s: response %s is not an AZ ID", url,
                            q);
    }
    memcpy(out->value, resp.body, len + 1);
    out->code = AZR_OK;
    out->reason[0] = '\0';
    out->max_age_s = resp.max_age_s;
    azr__md_http_response_free(&resp);
    return AZR_OK;
}

static void imds_fetch(void *argp, uint64_t deadline_ns, unsigned timeout_ms,
                       azr_md_answer *out)
{
    const imds_arg *arg = argp;
    out->max_age_s = -1;
    char *token = token_get(arg->endpoint);
    if (!token &&
        fetch_token(arg, deadline_ns, timeout_ms, &token, out) != AZR_OK)
        return;
    int rejected;
    get_az_id(arg, deadline_ns, timeout_ms, token, &rejected, out);
    if (rejected) {
        /* The token expired or belongs to another host (restored
         * snapshot): drop it and try once more with a new one. */
        token_drop(arg->endpoint);
        free_secret(token);
        token = NULL;
        if (fetch_token(arg, deadline_ns, timeout_ms, &token, out) != AZR_OK)
            return;
        get_az_id(arg, deadline_ns, timeout_ms, token, &rejected, out);
        if (rejected)
            token_drop(arg->endpoint);
    }
    free_secret(token);
}

/* http://host[:port] with no path, query, credentials or odd bytes; a
 * trailing '/' is dropped. */
static int endpoint_ok(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    if (n <= 7 || n >= outlen || strncasecmp(s, "http://", 7) != 0 ||
        !azr__cfg_chars_valid(s + 7, n - 7, &azr__cfg_address_chars))
        return 0;
    memcpy(out, "http://", 7);
    memcpy(out + 7, s + 7, n - 7);
    out[n] = '\0';
    return 1;
}

void azr__md_imds_get(const azr_config *cfg, azr_md_cached *out)
{
    memset(out, 0, sizeof *out);
    out->expires_in_s = -1;
    const char *dis = secure_getenv("AWS_EC2_METADATA_DISABLED");
    if (dis && strcasecmp(dis, "true") == 0) {
        azr__md_fail(&out->answer, AZR_E_METADATA,
                     "imds: disabled by AWS_EC2_METADATA_DISABLED=true");
        return;
    }
    imds_arg arg;
    const char *ep = secure_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (ep && ep[0]) {
        if (!endpoint_ok(ep, arg.endpoint, sizeof arg.endpoint)) {
            azr__md_fail(&out->answer, AZR_E_METADATA,
                         "imds: AWS_EC2_METADATA_SERVICE_ENDPOINT is not an "
                         "http://host[:port] URL");
            return;
        }
    } else {
        const char *mode = secure_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
        if (mode && strcasecmp(mode, "IPv6") == 0)
            snprintf(arg.endpoint, sizeof arg.endpoint, "http://[fd00:ec2::254]");
        else
            snprintf(arg.endpoint, sizeof arg.endpoint, "http://169.254.169.254");
    }
    char key[300];
    snprintf(key, sizeof key, "imds %s", arg.endpoint);
    unsigned timeout = cfg && cfg->md_timeout_ms ? cfg->md_timeout_ms
                                                 : AZR_MD_DEFAULT_TIMEOUT_MS;
    azr__az_cache_get(key, cfg ? cfg->md_cache_file : NULL, timeout,
                      imds_fetch, &arg, out);
}
