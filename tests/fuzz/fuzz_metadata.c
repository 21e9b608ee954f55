/*
 * fuzz_metadata.c - libFuzzer target for the metadata response handling:
 * HTTP status + headers + body -> AZ ID or error, for every source (Lambda,
 * ECS, IMDSv2 with its token PUT), through the real code from the response
 * callbacks up to the azr_az_info a caller gets.
 *
 * How HTTP is taken out: every source makes its requests through
 * azr__md_http() (lib/metadata/metadata_http.c), which does the libcurl
 * transfer and feeds what arrives to two static callbacks (on_header:
 * Cache-Control max-age, the IMDS token TTL; on_body: the 64 KiB body cap).
 * This file includes metadata_http.c with azr__md_http renamed, and defines
 * its own azr__md_http that takes each "response" from the fuzz input and
 * feeds it to those same callbacks the way libcurl would (the status line,
 * each header line with CRLF, the blank line; the body in chunks), then
 * fills the response exactly as the real one does, with the same single
 * retry for transport errors and 5xx. Everything above that - status
 * reasons, JSON parsing, AZ ID / AZ name validation, the IMDS token handling
 * and 401 renewal, [az_map] mapping, the cache, azr__md_resolve - is the
 * library's own code, compiled in unchanged (the rest of lib/metadata/,
 * and lib/config/). No socket is ever opened.
 *
 * Input layout: byte 0 picks the source (% 3: lambda, ecs, imds); the rest
 * is a list of responses separated by the line "=====" (that is, by
 * "\n=====\n"), served in order, one per request. A response is
 *   "HTTP/1.1 200 OK\r\n" header lines... blank line, then the body
 *   (LF or CRLF line ends both work), or
 *   "!timeout", "!refused", "!reset", "!nothing", "!partial", "!other":
 *   a transport failure of that kind.
 * When the responses run out, a request fails as "connection refused".
 *
 * Checked for every input: a known AZ ID is AZ-ID shaped; an unknown one
 * comes with an error code and a reason that is one printable line; the
 * reason never contains the secret sent with the requests (the Lambda
 * token for Lambda; for IMDS a distinctive session token the input
 * served); the ECS answer is a mapped ID or a valid ID.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The real metadata_http.c, with its libcurl request renamed out of the
 * way; its static callbacks and helpers become reachable here. */
#define azr__md_http azr_md_http_libcurl
#include "metadata/metadata_http.c"
#undef azr__md_http

#include "metadata/metadata.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
azr_code azr__md_http(const azr_md_http_request *req,
                      azr_md_http_response *resp, char *err, size_t errlen);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#define LAMBDA_TOKEN "fuzz~lambda~token~5f1e0c2a9b"
#define SEP "\n=====\n"

/* The responses of the current input. */
static const char *served;
static size_t served_len, served_pos;
static int exhausted;
/* The IMDS session token of the last PUT (trimmed), if distinctive. */
static char imds_token[256];

/* Takes the next response; returns 0 when there is none. */
static int next_response(const char **p, size_t *n)
{
    if (exhausted || served_pos > served_len)
        return 0;
    const char *start = served + served_pos;
    size_t left = served_len - served_pos;
    const char *sep = memmem(start, left, SEP, strlen(SEP));
    if (sep) {
        *n = (size_t)(sep - start);
        served_pos += *n + strlen(SEP);
    } else {
        *n = left;
        exhausted = 1;
    }
    *p = start;
    return 1;
}

static CURLcode failure_kind(const char *p, size_t n)
{
    static const struct {
        const char *name;
        CURLcode cc;
    } kinds[] = {
        {"!timeout", CURLE_OPERATION_TIMEDOUT},
        {"!refused", CURLE_COULDNT_CONNECT},
        {"!reset", CURLE_RECV_ERROR},
        {"!nothing", CURLE_GOT_NOTHING},
        {"!partial", CURLE_PARTIAL_FILE},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t l = strlen(kinds[i].name);
        if (n >= l && memcmp(p, kinds[i].name, l) == 0)
            return kinds[i].cc;
    }
    return CURLE_RECV_ERROR;
}

/* Feeds one response to the callbacks as libcurl would; returns the
 * transfer's result and sets *status. */
static CURLcode deliver(const char *p, size_t n, xfer *x, long *status)
{
    *status = 0;
    if (n == 0)
        return CURLE_GOT_NOTHING;
    if (p[0] == '!')
        return failure_kind(p, n);

    /* The head ends at the first empty line. */
    size_t head_end = n, body_start = n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n')
            continue;
        size_t j = i + 1;
        if (j < n && p[j] == '\r')
            j++;
        if (j < n && p[j] == '\n') {
            head_end = i;
            body_start = j + 1;
            break;
        }
    }
    /* The status line: "HTTP/d.d NNN ...", as libcurl accepts it. */
    size_t l0 = 0;
    while (l0 < head_end && p[l0] != '\n')
        l0++;
    if (l0 < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
        p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
        p[11] < '0' || p[11] > '9')
        return CURLE_WEIRD_SERVER_REPLY;
    *status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    char line[1024];
    size_t i = 0;
    while (i < head_end) {
        size_t e = i;
        while (e < head_end && p[e] != '\n')
            e++;
        size_t len = e - i;
        if (len > 0 && p[i + len - 1] == '\r')
            len--;
        if (len + 2 > sizeof line)
            len = sizeof line - 2;
        memcpy(line, p + i, len);
        line[len] = '\r';
        line[len + 1] = '\n';
        CHECK(on_header(line, 1, len + 2, x) == len + 2);
        i = e + 1;
    }
    CHECK(on_header((char *)"\r\n", 1, 2, x) == 2);

    /* The body, in chunks of varying size. */
    size_t pos = body_start, k = 0;
    while (pos < n) {
        size_t chunk = 1 + (k++ * 131 + n) % 4096;
        if (chunk > n - pos)
            chunk = n - pos;
        if (on_body((char *)p + pos, 1, chunk, x) != chunk)
            return CURLE_WRITE_ERROR;
        pos += chunk;
    }
    return CURLE_OK;
}

/* Stands in for metadata_http.c's azr__md_http: the same request checks,
 * attempt loop, retry rule and result, with deliver() for the transfer. */
azr_code azr__md_http(const azr_md_http_request *req,
                      azr_md_http_response *resp, char *err, size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    resp->max_age_s = -1;
    resp->token_ttl_s = -1;
    CHECK(req->method && (strcmp(req->method, "GET") == 0 ||
                          strcmp(req->method, "PUT") == 0));
    if (strncmp(req->url, "http://", 7) != 0) {
        snprintf(err, errlen, "unsupported URL scheme (only http:// is used)");
        return AZR_E_METADATA;
    }
    /* No header line may carry a CR or LF (header injection). */
    for (const char *const *h = req->headers; h && *h; h++)
        CHECK(strpbrk(*h, "\r\n") == NULL);

    xfer x = {0};
    azr_code rc = AZR_E_METADATA;
    char last[160] = "";
    unsigned attempts = 0;
    for (;;) {
        xfer_reset(&x);
        attempts++;
        const char *p;
        size_t n;
        long status = 0;
        CURLcode cc = next_response(&p, &n) ? deliver(p, n, &x, &status)
                                            : CURLE_COULDNT_CONNECT;
        if (cc == CURLE_OK) {
            resp->status = status;
            rc = AZR_OK;
            if (status >= 500 && attempts < 2)
                continue;
            break;
        }
        rc = cc == CURLE_OPERATION_TIMEDOUT ? AZR_E_TIMEOUT : AZR_E_METADATA;
        describe_curl_error(cc, cc == CURLE_COULDNT_CONNECT ? 111 : 0, &x,
                            req->timeout_ms, last, sizeof last);
        if (!transient(cc) || attempts >= 2)
            break;
    }
    resp->attempts = attempts;
    if (rc == AZR_OK) {
        resp->max_age_s = x.max_age_s;
        resp->token_ttl_s = x.token_ttl_s;
        if (!x.buf)
            x.buf = calloc(1, 1);
        CHECK(x.buf != NULL);
        resp->body = x.buf;
        resp->len = x.len;
        x.buf = NULL;
        /* Remember the IMDS session token now in use (the last one a PUT
         * got) for the secrecy check, if it is distinctive: a token made
         * of ordinary words could occur in a URL. An older token that was
         * rejected and replaced is not checked: quoting a value the
         * server sent that happens to equal it is no leak. */
        if (strcmp(req->method, "PUT") == 0 && resp->status == 200) {
            size_t tl = resp->len;
            while (tl > 0 && isspace((unsigned char)resp->body[tl - 1]))
                tl--;
            imds_token[0] = '\0';
            if (tl >= 12 && tl < sizeof imds_token &&
                memchr(resp->body, '~', tl) && strlen(resp->body) >= tl) {
                memcpy(imds_token, resp->body, tl);
                imds_token[tl] = '\0';
            }
        }
    } else if (attempts > 1) {
        snprintf(err, errlen, "%s (after 1 retry)", last);
    } else {
        snprintf(err, errlen, "%s", last);
    }
    free(x.buf);
    return rc;
}

static azr_config *cfg;
/* AZR_FUZZ_VERBOSE=1: print each verdict (to check what a seed reaches). */
static int verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Loopback addresses that nothing ever connects to: the requests go
     * to azr__md_http above. */
    setenv("AWS_LAMBDA_METADATA_API", "127.0.0.1:9", 1);
    setenv("AWS_LAMBDA_METADATA_TOKEN", LAMBDA_TOKEN, 1);
    setenv("ECS_CONTAINER_METADATA_URI_V4", "http://127.0.0.1:9/v4/fuzz", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9", 1);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    unsetenv("AZROUTE_AZ_ID");
    verbose = getenv("AZR_FUZZ_VERBOSE") != NULL;
    char err[AZR_ERRBUF_SIZE];
    static const char ini[] =
        "[metadata]\n"
        "source = lambda\n"
        "[az_map]\n"
        "ap-northeast-1a = apne1-az4\n"
        "ap-northeast-1d = apne1-az2\n"
        "us-east-1a = use1-az6\n"
        "[node a]\nhost = 127.0.0.1\nport = 6379\naz = apne1-az4\n"
        "role = primary\n";
    CHECK(azr__config_load_string(ini, "fuzz.ini", &cfg, err, sizeof err) ==
          AZR_OK);
    return 0;
}

/* `lambda`: the Lambda token was sent with the request, so it must not
 * come back; other sources never see it (an IMDS body that happens to hold
 * the same text may be quoted). */
static void check_reason(const char *reason, int lambda)
{
    size_t n = strnlen(reason, AZR_ERRBUF_SIZE);
    CHECK(n > 0 && n < AZR_ERRBUF_SIZE);
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)reason[i] >= 0x20 &&
              (unsigned char)reason[i] != 0x7f);
    if (lambda)
        CHECK(strstr(reason, LAMBDA_TOKEN) == NULL);
    if (imds_token[0])
        CHECK(strstr(reason, imds_token) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const azr_md_source_kind kinds[] = {AZR_MD_LAMBDA, AZR_MD_ECS,
                                               AZR_MD_IMDS};
    static const azr_az_source sources[] = {
        AZR_AZ_SOURCE_LAMBDA, AZR_AZ_SOURCE_ECS, AZR_AZ_SOURCE_IMDS};
    unsigned which = data[0] % 3;
    served = (const char *)data + 1;
    served_len = size - 1;
    served_pos = 0;
    exhausted = 0;
    imds_token[0] = '\0';

    /* Every input starts from nothing cached. */
    azr__az_cache_clear();
    azr__md_imds_forget_token();

    cfg->md_source = kinds[which];
    azr_md_request req = {.cfg = cfg, .override_az_id = NULL};
    azr_az_info info;
    memset(&info, 0xa5, sizeof info);
    azr__md_resolve(&req, &info);

    if (verbose)
        fprintf(stderr, "fuzz_metadata: %s: %s%s (max-age/expires %lld)\n",
                azr_az_source_name(info.source),
                info.known ? "AZ ID " : "error: ",
                info.known ? info.az_id : info.reason,
                (long long)info.expires_in_s);
    CHECK(info.source == sources[which]);
    if (info.known) {
        CHECK(info.error == AZR_OK);
        CHECK(strnlen(info.az_id, sizeof info.az_id) < sizeof info.az_id);
        CHECK(azr__az_id_valid(info.az_id));
        CHECK(!info.from_cache);
        CHECK(info.expires_in_s >= -1);
    } else {
        CHECK(info.error != AZR_OK);
        CHECK(info.az_id[0] == '\0');
        check_reason(info.reason, which == 0);
    }

    /* A second call is served from the cache after a success and fetches
     * again (consuming whatever responses are left) after a failure; it
     * must hold the same invariants. */
    azr_az_info again;
    memset(&again, 0x5a, sizeof again);
    azr__md_resolve(&req, &again);
    if (info.known && info.expires_in_s != 0) {
        CHECK(again.known && again.from_cache);
        CHECK(strcmp(again.az_id, info.az_id) == 0);
    } else if (again.known) {
        CHECK(azr__az_id_valid(again.az_id));
    } else {
        check_reason(again.reason, which == 0);
    }
    return 0;
}
