/*
 * metadata_internal.h - the parts of the metadata module (lib/metadata*.c,
 * lib/az_cache.c) as seen by each other. Nothing here is part of the ABI.
 *
 *   metadata.c        source selection (override, env, [metadata] source)
 *   metadata_lambda.c Lambda execution-environment metadata endpoint
 *   metadata_imds.c   EC2 IMDSv2 (token PUT, then GET)
 *   metadata_ecs.c    ECS task metadata v4 (AZ name, mapped via [az_map])
 *   metadata_http.c   the one libcurl GET/PUT every source uses
 *   az_cache.c        the process-wide answer cache (+ optional file cache)
 *
 * Secrets (the Lambda token, the IMDS session token) travel only in request
 * headers. No message built by this module contains a header value.
 */
#ifndef AZR_LIB_METADATA_INTERNAL_H
#define AZR_LIB_METADATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <azroute/azroute.h>

#include "../config/config.h"

/* Largest response body accepted from any metadata endpoint. */
#define AZR_MD_BODY_MAX (64 * 1024)

/* A file-cache entry for an answer that came without max-age is trusted
 * for at most this long (the in-memory entry never expires). */
#define AZR_MD_FILE_CACHE_MAX_S 43200

/* What one source fetch produced. */
typedef struct azr_md_answer {
    azr_code code;               /* AZR_OK: value is set */
    char value[AZR_AZ_ID_MAX];   /* AZ ID (lambda, imds) or AZ name (ecs) */
    int64_t max_age_s;           /* Cache-Control max-age; -1: none given */
    char reason[AZR_ERRBUF_SIZE];/* one line when code != AZR_OK */
} azr_md_answer;

/* Monotonic clock in ns. */
uint64_t azr__md_now_ns(void);

/* Sets answer->code and a formatted reason; returns code. */
azr_code azr__md_fail(azr_md_answer *answer, azr_code code, const char *fmt,
                      ...) AZR_PRINTF(3, 4);

/* Copies `s` into `out` (size outlen) for use in a message: only when it is
 * short printable text without quotes and does not contain `secret`;
 * otherwise a placeholder "(N bytes, not shown)". */
void azr__md_quote(char *out, size_t outlen, const char *s, size_t len,
                   const char *secret);

/* ---- metadata_http.c ---------------------------------------------------- */

typedef struct azr_md_http_request {
    const char *method;          /* "GET" or "PUT" (empty body) */
    const char *url;             /* http:// only */
    const char *const *headers;  /* NULL-terminated "Name: value" lines, or
                                    NULL; may carry a secret */
    uint64_t deadline_ns;        /* azr__md_now_ns() bound for all attempts */
    unsigned timeout_ms;         /* the configured budget (for messages and
                                    as the connect timeout cap) */
} azr_md_http_request;

typedef struct azr_md_http_response {
    long status;                 /* HTTP status of the final attempt */
    char *body;                  /* NUL-terminated (may hold NULs: use len) */
    size_t len;
    int64_t max_age_s;           /* Cache-Control max-age (no-store,
                                    no-cache: 0); -1 when absent */
    int64_t token_ttl_s;         /* X-aws-ec2-metadata-token-ttl-seconds,
                                    -1 when absent */
    unsigned attempts;           /* 1 or 2 */
} azr_md_http_response;

/*
 * Performs one request on a fresh libcurl easy handle: no proxy, http only,
 * no redirects, body capped at AZR_MD_BODY_MAX, all attempts bounded by
 * req->deadline_ns. At most one retry, only after a transport error
 * (connect failure, reset, empty reply) or a 5xx status, and only while time
 * is left. Returns AZR_OK when a response arrived, whatever its status
 * (resp->status; free with azr__md_http_response_free), else AZR_E_TIMEOUT
 * (the deadline passed), AZR_E_NOMEM or AZR_E_METADATA, with a one-line
 * message in err that never contains a header value.
 */
azr_code azr__md_http(const azr_md_http_request *req,
                      azr_md_http_response *resp, char *err, size_t errlen);

void azr__md_http_response_free(azr_md_http_response *resp);

/* Describes a non-200 status for messages: "metadata token rejected (HTTP
 * 401)", "HTTP 500 (after 1 retry)", ... and returns the code to report
 * (AZR_E_METADATA_AUTH for 401/403, AZR_E_METADATA otherwise). */
azr_code azr__md_http_status_reason(const azr_md_http_response *resp,
                                    char *out, size_t outlen);

/* Parses `body` (len bytes) as a JSON object and copies its string member
 * `field` into answer->value (at most AZR_AZ_ID_MAX-1 bytes). On failure sets
 * answer (code AZR_E_METADATA) with `where` as the message prefix; `secret`
 * (may be NULL) is never quoted back. */
azr_code azr__md_json_string_field(const char *body, size_t len,
                                   const char *field, const char *where,
                                   const char *secret, azr_md_answer *answer);

/* ---- metadata_get.c ------------------------------------------------------ */

/* Performs `req` (a GET) and copies the string member `field` of the JSON
 * object answered with 200 into out->value, then requires valid(value)
 * ("FIELD" VALUE is not WHAT otherwise). Every failure is recorded in out
 * with `where` as the message prefix; `secret` (may be NULL) is never
 * quoted back. On success out->max_age_s is the response's max-age (-1 if
 * none). */
void azr__md_get_json_field(const azr_md_http_request *req, const char *where,
                            const char *field, int (*valid)(const char *),
                            const char *what, const char *secret,
                            azr_md_answer *out);

/* ---- az_cache.c --------------------------------------------------------- */

/* Fetches one answer; must finish by deadline_ns (give or take a few ms). */
typedef void (*azr_md_fetch_fn)(void *arg, uint64_t deadline_ns,
                                unsigned timeout_ms, azr_md_answer *out);

typedef struct azr_md_cached {
    azr_md_answer answer;
    int from_cache;       /* 1: not fetched by this call */
    double fetch_ms;      /* duration of the fetch that produced it */
    int64_t expires_in_s; /* -1: never */
} azr_md_cached;

/*
 * Returns the answer for `key` (source kind + endpoint; never a secret):
 * from memory while unexpired; else, when `cache_file` is set, from that file
 * if it holds an unexpired answer for `key` written after the last
 * azr_invalidate_az(); else from fetch(). One fetch per key is in flight at a
 * time: concurrent callers wait for it and share its result, success or
 * failure. Only successes are kept; a failure is never served to a later
 * caller. Thread-safe.
 */
void azr__az_cache_get(const char *key, const char *cache_file,
                       unsigned timeout_ms, azr_md_fetch_fn fetch, void *arg,
                       azr_md_cached *out);

/* Drops every cached answer (fetches in flight are not kept either) and
 * makes file-cache entries written before now stale. Thread-safe. */
void azr__az_cache_clear(void);

/* ---- the sources -------------------------------------------------------- */

/* Each fills *out for its source (reading its environment variables),
 * through the cache. Failures carry a reason naming the source and URL. */
void azr__md_lambda_get(const azr_config *cfg, azr_md_cached *out);
void azr__md_imds_get(const azr_config *cfg, azr_md_cached *out);
void azr__md_ecs_get(const azr_config *cfg, azr_md_cached *out);

/* Drops the cached IMDSv2 session token (a 401 does it; also for tests). */
void azr__md_imds_forget_token(void);

#endif /* AZR_LIB_METADATA_INTERNAL_H */
