/*
 * metadata_http.c - the one HTTP request every metadata source makes.
 *
 * One libcurl easy handle per call. The endpoints are link-local (or, in the
 * tests, loopback), so: no proxy, plain http only, no redirects, the whole
 * call (including its single retry) bounded by one deadline, and a body cap
 * so a confused endpoint cannot make us buffer megabytes.
 *
 * Secrets only travel in req->headers. Messages are built from the method,
 * the status, the curl error code and errno only; CURLOPT_ERRORBUFFER and
 * CURLOPT_VERBOSE are never used, so no header value can reach a message.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json.h>

#include "metadata_internal.h"

/* curl_global_init() is not safe to race with itself on every libcurl
 * version we accept, so it runs exactly once per process. It is never
 * undone: other threads may be fetching at exit. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

uint64_t azr__md_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

azr_code azr__md_fail(azr_md_answer *answer, azr_code code, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(answer->reason, sizeof answer->reason, fmt, ap);
    va_end(ap);
    answer->code = code;
    answer->value[0] = '\0';
    return code;
}

void azr__md_quote(char *out, size_t outlen, const char *s, size_t len,
                   const char *secret)
{
    int ok = len > 0 && len <= 48;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\'' || c == '"' || c == '\\')
            ok = 0;
    }
    if (ok && secret && secret[0] && memmem(s, len, secret, strlen(secret)))
        ok = 0;
    if (ok)
        snprintf(out, outlen, "'%.*s'", (int)len, s);
    else
        snprintf(out, outlen, "(%zu bytes, not shown)", len);
}

/* What the callbacks collect for one attempt. */
typedef struct xfer {
    char *buf;
    size_t len, cap;
    int too_big;
    int64_t max_age_s;
    int64_t token_ttl_s;
} xfer;

static void xfer_reset(xfer *x)
{
    x->len = 0;
    x->too_big = 0;
    x->max_age_s = -1;
    x->token_ttl_s = -1;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nmemb;
    if (n > AZR_MD_BODY_MAX - x->len) {
        /* Returning less than n aborts the transfer (CURLE_WRITE_ERROR). */
        x->too_big = 1;
        return 0;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 1024;
        while (cap < x->len + n + 1)
            cap *= 2;
        if (cap > AZR_MD_BODY_MAX + 1)
            cap = AZR_MD_BODY_MAX + 1;
        char *p = realloc(x->buf, cap);
        if (!p)
            return 0;
        x->buf = p;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/* If the header line `h` (n bytes) is "name: value", returns the value
 * (trimmed at the front) and sets *vlen (trimmed at the back), else NULL. */
static const char *header_value(const char *h, size_t n, const char *name,
                                size_t *vlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(h, name, nl) != 0 || h[nl] != ':')
        return NULL;
    const char *v = h + nl + 1;
    const char *end = h + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

/* Parses a non-negative decimal of at most 10 digits; -1 if not one. */
static int64_t parse_seconds(const char *s, size_t n)
{
    if (n == 0 || n > 10)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Cache-Control: max-age=N wins; no-store / no-cache mean "do not keep". */
static int64_t parse_cache_control(const char *v, size_t n)
{
    int64_t max_age = -1;
    int no_store = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && isspace((unsigned char)v[a]))
            a++;
        while (b > a && isspace((unsigned char)v[b - 1]))
            b--;
        if (b - a > 8 && strncasecmp(v + a, "max-age=", 8) == 0) {
            const char *d = v + a + 8;
            size_t dl = b - a - 8;
            if (dl >= 2 && d[0] == '"' && d[dl - 1] == '"') {
                d++;
                dl -= 2;
            }
            int64_t s = parse_seconds(d, dl);
            if (s > 31536000)
                s = 31536000; /* a year is "forever" for us */
            if (s >= 0)
                max_age = s;
        } else if ((b - a == 8 && strncasecmp(v + a, "no-store", 8) == 0) ||
                   (b - a == 8 && strncasecmp(v + a, "no-cache", 8) == 0)) {
            no_store = 1;
        }
        i = j + 1;
    }
    return no_store ? 0 : max_age;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nitems;
    const char *v;
    size_t vl;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (e.g. after 100 Continue): forget the last one. */
        x->max_age_s = -1;
        x->token_ttl_s = -1;
    } else if ((v = header_value(ptr, n, "Cache-Control", &vl))) {
        x->max_age_s = parse_cache_control(v, vl);
    } else if ((v = header_value(ptr, n, "X-aws-ec2-metadata-token-ttl-seconds",
                                 &vl))) {
        x->token_ttl_s = parse_seconds(v, vl);
    }
    return n;
}

/* PUT with an empty body. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    (void)buf;
    (void)size;
    (void)nitems;
    (void)userdata;
    return 0;
}

static int64_t remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = azr__md_now_ns();
    if (now >= deadline_ns)
        return 0;
    return (int64_t)((deadline_ns - now) / 1000000u);
}

/* Worth a second attempt: the request may not have reached a working
 * server. Timeouts are not retried (the budget is spent), nor is anything
 * the server said on purpose (4xx) or a body over the cap. */
static int transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

static void describe_curl_error(CURLcode cc, long os_errno, const xfer *x,
                                unsigned timeout_ms, char *out, size_t outlen)
{
    char detail[96] = "";
    if (os_errno > 0)
        snprintf(detail, sizeof detail, ": %s", strerror((int)os_errno));
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, outlen, "timed out after %u ms", timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(out, outlen, "could not connect%s", detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, outlen, "could not resolve the host");
        break;
    case CURLE_RECV_ERROR:
        snprintf(out, outlen, "connection failed while receiving%s",
                 detail[0] ? detail : ": connection reset");
        break;
    case CURLE_SEND_ERROR:
        snprintf(out, outlen, "connection failed while sending%s", detail);
        break;
    case CURLE_GOT_NOTHING:
        snprintf(out, outlen, "connection closed without a response");
        break;
    case CURLE_PARTIAL_FILE:
        snprintf(out, outlen, "connection closed before the whole response");
        break;
    case CURLE_WRITE_ERROR:
        if (x->too_big)
            snprintf(out, outlen, "response body exceeds %d KiB",
                     AZR_MD_BODY_MAX / 1024);
        else
            snprintf(out, outlen, "out of memory reading the response");
        break;
    case CURLE_FILESIZE_EXCEEDED:
        snprintf(out, outlen, "response body exceeds %d KiB",
                 AZR_MD_BODY_MAX / 1024);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(out, outlen, "unsupported protocol (only http:// is used)");
        break;
    case CURLE_URL_MALFORMAT:
        snprintf(out, outlen, "malformed URL");
        break;
    case CURLE_OUT_OF_MEMORY:
        snprintf(out, outlen, "out of memory");
        break;
    default:
        /* curl_easy_strerror returns fixed text, never request data. */
        snprintf(out, outlen, "%s", curl_easy_strerror(cc));
        break;
    }
}

/* Sets one libcurl option, or makes the function return -1. */
#define SETOPT(h, opt, val)                                              \
    do {                                                                 \
        if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)             \
            return -1;                                                   \
    } while (0)

/* Sets up `h` for one attempt of `req`: http only, no proxy, no redirect,
 * no .netrc, the body capped, the callbacks collecting into `x`, connect
 * within conn_ms and all within left_ms. 0, or -1 when libcurl refused an
 * option. */
static int set_options(CURL *h, const azr_md_http_request *req,
                       struct curl_slist *hdrs, xfer *x, int64_t conn_ms,
                       int64_t left_ms)
{
    SETOPT(h, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(h, CURLOPT_PROTOCOLS_STR, "http");
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http");
#else
    SETOPT(h, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
    SETOPT(h, CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_NOPROXY, "*");
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_VERBOSE, 0L);
    SETOPT(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    SETOPT(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(h, CURLOPT_USERAGENT, "azroute/" AZR_VERSION_STRING);
    SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, (long)conn_ms);
    SETOPT(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
    SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)AZR_MD_BODY_MAX);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, x);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, x);
    SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(req->method, "PUT") == 0) {
        SETOPT(h, CURLOPT_UPLOAD, 1L);
        SETOPT(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
        SETOPT(h, CURLOPT_READFUNCTION, on_read);
    } else {
        SETOPT(h, CURLOPT_HTTPGET, 1L);
    }
    return 0;
}

/* The attempts of one request on `h`, collecting into `x`: a second one
 * only after a transport error or a 5xx, and only while time is left.
 * Returns AZR_OK when a response arrived (resp->status), else the failure,
 * described in `last` (lastlen bytes); sets resp->attempts. *refused = 1
 * (and AZR_E_METADATA, resp->attempts untouched) when libcurl refused an
 * option. */
static azr_code perform(CURL *h, const azr_md_http_request *req,
                        struct curl_slist *hdrs, xfer *x,
                        azr_md_http_response *resp, char *last,
                        size_t lastlen, int *refused)
{
    azr_code rc = AZR_E_METADATA;
    unsigned attempts = 0;
    for (;;) {
        int64_t left = remaining_ms(req->deadline_ns);
        if (left < 1) {
            if (resp->status) {
                rc = AZR_OK; /* keep the 5xx we already have */
            } else if (!last[0]) {
                rc = AZR_E_TIMEOUT;
                snprintf(last, lastlen, "timed out after %u ms",
                         req->timeout_ms);
            }
            break;
        }
        int64_t conn = left < (int64_t)req->timeout_ms ? left
                                                       : (int64_t)req->timeout_ms;
        xfer_reset(x);
        attempts++;
        if (set_options(h, req, hdrs, x, conn, left) != 0) {
            *refused = 1;
            return AZR_E_METADATA;
        }

        CURLcode cc = curl_easy_perform(h);
        if (cc == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            resp->status = status;
            rc = AZR_OK;
            if (status >= 500 && attempts < 2 &&
                remaining_ms(req->deadline_ns) >= 1)
                continue; /* the single retry */
            break;
        }
        rc = cc == CURLE_OUT_OF_MEMORY        ? AZR_E_NOMEM
             : cc == CURLE_OPERATION_TIMEDOUT ? AZR_E_TIMEOUT
                                              : AZR_E_METADATA;
        long os_errno = 0;
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        describe_curl_error(cc, os_errno, x, req->timeout_ms, last, lastlen);
        if (!transient(cc) || attempts >= 2)
            break;
    }
    resp->attempts = attempts ? attempts : 1;
    return rc;
}

/* The request's header lines as a libcurl list into *out (NULL for none).
 * AZR_OK, or AZR_E_NOMEM with nothing left allocated. */
static azr_code header_list(const char *const *headers,
                            struct curl_slist **out)
{
    struct curl_slist *hdrs = NULL;
    for (const char *const *h = headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(hdrs, *h);
        if (!n) {
            curl_slist_free_all(hdrs);
            return AZR_E_NOMEM;
        }
        hdrs = n;
    }
    *out = hdrs;
    return AZR_OK;
}

/* Hands what `perform` left over: on AZR_OK the collected body (never
 * NULL) and the headers' findings go to resp; otherwise err gets `last`,
 * with " (after 1 retry)" when there were two attempts. Returns the code
 * of the request. */
static azr_code finish(azr_code rc, xfer *x, const char *last,
                       azr_md_http_response *resp, char *err, size_t errlen)
{
    if (rc != AZR_OK) {
        if (resp->attempts > 1)
            snprintf(err, errlen, "%s (after 1 retry)", last);
        else
            snprintf(err, errlen, "%s", last);
        return rc;
    }
    resp->max_age_s = x->max_age_s;
    resp->token_ttl_s = x->token_ttl_s;
    if (!x->buf) {
        x->buf = calloc(1, 1);
        if (!x->buf) {
            snprintf(err, errlen, "out of memory");
            return AZR_E_NOMEM;
        }
    }
    resp->body = x->buf;
    resp->len = x->len;
    x->buf = NULL;
    return AZR_OK;
}

azr_code azr__md_http(const azr_md_http_request *req,
                      azr_md_http_response *resp, char *err, size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    resp->max_age_s = -1;
    resp->token_ttl_s = -1;

    if (strncmp(req->url, "http://", 7) != 0) {
        snprintf(err, errlen, "unsupported URL scheme (only http:// is used)");
        return AZR_E_METADATA;
    }
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK) {
        snprintf(err, errlen, "libcurl initialisation failed: %s",
                 curl_easy_strerror(curl_init_result));
        return AZR_E_METADATA;
    }

    struct curl_slist *hdrs;
    if (header_list(req->headers, &hdrs) != AZR_OK) {
        snprintf(err, errlen, "out of memory");
        return AZR_E_NOMEM;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        curl_slist_free_all(hdrs);
        snprintf(err, errlen, "out of memory (curl_easy_init)");
        return AZR_E_NOMEM;
    }

    xfer x = {0};
    char last[160] = "";
    int refused = 0;
    azr_code rc = perform(h, req, hdrs, &x, resp, last, sizeof last,
                          &refused);
    if (refused) {
        snprintf(err, errlen, "libcurl refused an option (libcurl %s too "
                 "old?)", curl_version_info(CURLVERSION_NOW)->version);
        rc = AZR_E_METADATA;
    } else {
        rc = finish(rc, &x, last, resp, err, errlen);
    }
    free(x.buf);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    return rc;
}

void azr__md_http_response_free(azr_md_http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

azr_code azr__md_http_status_reason(const azr_md_http_response *resp,
                                    char *out, size_t outlen)
{
    long s = resp->status;
    const char *retry = resp->attempts > 1 ? ", after 1 retry" : "";
    if (s == 401) {
        snprintf(out, outlen, "metadata token rejected (HTTP 401)");
        return AZR_E_METADATA_AUTH;
    }
    if (s == 403) {
        snprintf(out, outlen, "metadata request forbidden (HTTP 403)");
        return AZR_E_METADATA_AUTH;
    }
    if (s == 405)
        snprintf(out, outlen, "endpoint refused the method (HTTP 405)");
    else if (s == 404)
        snprintf(out, outlen, "endpoint has no such path (HTTP 404)");
    else if (s == 429)
        snprintf(out, outlen, "endpoint is throttling requests (HTTP 429)");
    else if (s >= 400 && s < 500)
        snprintf(out, outlen, "endpoint rejected the request (HTTP %ld)", s);
    else if (s >= 500)
        snprintf(out, outlen, "endpoint failed (HTTP %ld%s)", s, retry);
    else if (s >= 300 && s < 400)
        snprintf(out, outlen,
                 "unexpected redirect (HTTP %ld; redirects are not followed)",
                 s);
    else
        snprintf(out, outlen, "unexpected HTTP status %ld", s);
    return AZR_E_METADATA;
}

azr_code azr__md_json_string_field(const char *body, size_t len,
                                   const char *field, const char *where,
                                   const char *secret, azr_md_answer *answer)
{
    if (len > INT32_MAX)
        return azr__md_fail(answer, AZR_E_METADATA,
                            "%s: response is too large", where);
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return azr__md_fail(answer, AZR_E_NOMEM, "%s: out of memory", where);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        if (jerr == json_tokener_continue)
            return azr__md_fail(answer, AZR_E_METADATA,
                                "%s: response is not valid JSON (it ends "
                                "early)", where);
        return azr__md_fail(answer, AZR_E_METADATA,
                            "%s: response is not valid JSON (%s)", where,
                            json_tokener_error_desc(jerr));
    }
    while (end < len && isspace((unsigned char)body[end]))
        end++;
    if (end < len) {
        json_object_put(root);
        return azr__md_fail(answer, AZR_E_METADATA,
                            "%s: response is not valid JSON (data after the "
                            "object)", where);
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return azr__md_fail(answer, AZR_E_METADATA,
                            "%s: response is not a JSON object", where);
    }
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, field, &v) || !v) {
        json_object_put(root);
        return azr__md_fail(answer, AZR_E_METADATA,
                            "%s: response has no \"%s\" field", where, field);
    }
    if (!json_object_is_type(v, json_type_string)) {
        json_object_put(root);
        return azr__md_fail(answer, AZR_E_METADATA,
                            "%s: \"%s\" in the response is not a string",
                            where, field);
    }
    const char *s = json_object_get_string(v);
    size_t sl = (size_t)json_object_get_string_len(v);
    if (sl == 0 || sl >= sizeof answer->value || strlen(s) != sl) {
        char q[64];
        azr__md_quote(q, sizeof q, s, sl, secret);
        json_object_put(root);
        return azr__md_fail(answer, AZR_E_METADATA,
                            "%s: \"%s\" value %s has a bad length", where,
                            field, q);
    }
    memcpy(answer->value, s, sl + 1);
    answer->code = AZR_OK;
    answer->reason[0] = '\0';
    json_object_put(root);
    return AZR_OK;
}
