/*
 * mdserver.c - a local stand-in for the AWS metadata endpoints, for tests.
 *
 * Listens on 127.0.0.1 on an ephemeral port, prints the port on stdout (one
 * line) and serves, one thread per connection, "Connection: close":
 *
 *   GET  /2026-01-15/metadata/execution-environment      (Lambda)
 *        Authorization: Bearer TOKEN -> 200 {"AvailabilityZoneID": AZ, ...}
 *        with Cache-Control: private, max-age=MAXAGE, immutable;
 *        wrong or missing token -> 401; any other method -> 405
 *   PUT  /latest/api/token                               (IMDSv2)
 *        X-aws-ec2-metadata-token-ttl-seconds: 1..21600 -> a new token;
 *        missing/bad TTL -> 400; other methods -> 405
 *   GET  /latest/meta-data/placement/availability-zone-id
 *        X-aws-ec2-metadata-token: a token we issued -> AZ (text); else 401
 *   GET  /<anything>/task                                (ECS v4)
 *        -> 200 {"AvailabilityZone": ECS_AZ, ...}
 *
 * Control (never counted):  GET /_count -> "total=N lambda=N imds_put=N
 * imds_get=N ecs=N other=N";  GET /_mode/MODE switches the fault mode (and
 * re-arms the one-shot modes);  GET /_reset zeroes the counters.
 *
 * Fault modes (--mode or /_mode), applied to the Lambda, IMDS GET and ECS
 * requests after the method/token checks:
 *   ok         normal answers
 *   slow       sleep --slow-ms (default 3000) before answering
 *   500        always HTTP 500
 *   500once    HTTP 500 for the first request, then normal
 *   401once    IMDS GET: reject the first valid token (and revoke all
 *              tokens issued so far), then normal
 *   malformed  200 with truncated JSON (IMDS: binary junk)
 *   missing    200 with valid JSON lacking the field (IMDS: empty body)
 *   badshape   200 with a field value that is not AZ-ID/name shaped
 *   huge       200 with a 10 MiB body and a Content-Length
 *   hugechunk  200 with a 10 MiB body and no Content-Length
 *   reset      read the request, then reset the connection (RST)
 *   redirect   302 to /elsewhere
 *   statusNNN  HTTP NNN (e.g. status405, status401, status404)
 *
 * Options: --token T (Lambda, default "t"), --az ID (default apne1-az4),
 * --ecs-az NAME (default ap-northeast-1a), --max-age N (default 43200),
 * --delay-ms N (delay every metadata answer), --imds-ttl N (grant IMDS
 * tokens at most N seconds; they are not expired server-side), --count-file F (rewritten
 * after every counted request), --lifetime S (hard exit, default 60).
 *
 * Exits on SIGTERM (default action) and when --lifetime runs out (SIGALRM).
 * Prints nothing but the port: request headers (tokens) are never echoed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LAMBDA_PATH "/2026-01-15/metadata/execution-environment"
#define IMDS_TOKEN_PATH "/latest/api/token"
#define IMDS_AZ_PATH "/latest/meta-data/placement/availability-zone-id"
#define REQ_MAX 16384
#define HUGE_SIZE (10 * 1024 * 1024)

static const char *opt_token = "t";
static const char *opt_az = "apne1-az4";
static const char *opt_ecs_az = "ap-northeast-1a";
static long opt_max_age = 43200;
static long opt_delay_ms = 0;
static long opt_slow_ms = 3000;
static long opt_imds_ttl = 21600; /* longest token TTL granted */
static const char *opt_count_file;

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static char mode[32] = "ok";
static int oneshot_armed = 1; /* for 500once / 401once */
static unsigned long n_lambda, n_imds_put, n_imds_get, n_ecs, n_other;
#define MAX_TOKENS 64
static char tokens[MAX_TOKENS][48];
static unsigned n_tokens;
static unsigned long token_serial;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void respond(int fd, int status, const char *reason, const char *ctype,
                    const char *extra_headers, const char *body)
{
    char head[1024];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "Connection: close\r\n\r\n",
                     status, reason, ctype, blen,
                     extra_headers ? extra_headers : "");
    if (send_all(fd, head, (size_t)n) == 0 && blen)
        send_all(fd, body, blen);
}

/* Writes the counters to --count-file (atomically, via rename). Called
 * with state_lock held. */
static void write_counts_locked(void)
{
    if (!opt_count_file)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", opt_count_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%lu\n", n_lambda + n_imds_put + n_imds_get + n_ecs + n_other);
    fclose(f);
    rename(tmp, opt_count_file);
}

static void count(unsigned long *c)
{
    pthread_mutex_lock(&state_lock);
    (*c)++;
    write_counts_locked();
    pthread_mutex_unlock(&state_lock);
}

/* Header value (trimmed) by case-insensitive name, copied into out. */
static int get_header(const char *req, const char *name, char *out,
                      size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = strstr(req, "\r\n");
    while (p && p[2] != '\r' && p[2] != '\0') {
        const char *line = p + 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 &&
            line[nl] == ':') {
            const char *v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            size_t vl = (size_t)(e - v);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        p = eol;
    }
    return 0;
}

static void current_mode(char *out, size_t outlen, int *oneshot)
{
    pthread_mutex_lock(&state_lock);
    snprintf(out, outlen, "%s", mode);
    *oneshot = 0;
    if ((strcmp(mode, "500once") == 0 || strcmp(mode, "401once") == 0) &&
        oneshot_armed) {
        *oneshot = 1;
    }
    pthread_mutex_unlock(&state_lock);
}

static int take_oneshot(void)
{
    pthread_mutex_lock(&state_lock);
    int armed = oneshot_armed;
    oneshot_armed = 0;
    pthread_mutex_unlock(&state_lock);
    return armed;
}

static void send_reset(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

static void send_huge(int fd, int with_length)
{
    char head[256];
    int n;
    if (with_length)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n\r\n",
                     HUGE_SIZE);
    else
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\n\r\n");
    if (send_all(fd, head, (size_t)n) != 0)
        return;
    static char chunk[65536];
    memset(chunk, ' ', sizeof chunk);
    chunk[0] = '{';
    for (size_t sent = 0; sent < HUGE_SIZE; sent += sizeof chunk)
        if (send_all(fd, chunk, sizeof chunk) != 0)
            return;
}

/* A 200 answer that is no usable answer: on a JSON endpoint `json_fmt`
 * with the field name for its %s, on a text endpoint `text` (sent as
 * application/json either way). */
static void respond_bad_body(int fd, char kind, const char *field,
                             const char *json_fmt, const char *text)
{
    char body[256];
    if (kind == 'j')
        snprintf(body, sizeof body, json_fmt, field);
    else
        snprintf(body, sizeof body, "%s", text);
    respond(fd, 200, "OK", "application/json", NULL, body);
}

/* Applies the --delay-ms wait, then a fault mode; returns 1 if the fault
 * produced the whole answer. kind: 'j' JSON endpoint, 't' text endpoint;
 * `field` the JSON key. */
static int apply_fault(int fd, const char *m, int oneshot, char kind,
                       const char *field)
{
    if (opt_delay_ms)
        sleep_ms(opt_delay_ms);
    if (strcmp(m, "slow") == 0) {
        sleep_ms(opt_slow_ms);
        return 0;
    }
    if (strcmp(m, "500") == 0 || (strcmp(m, "500once") == 0 && oneshot &&
                                  take_oneshot())) {
        respond(fd, 500, "Internal Server Error", "text/plain", NULL,
                "internal error\n");
        return 1;
    }
    if (strcmp(m, "malformed") == 0) {
        respond_bad_body(fd, kind, field, "{\"%s\": \"apne1-az4\", ",
                         "\x01\x02\x03junk");
        return 1;
    }
    if (strcmp(m, "missing") == 0) {
        respond(fd, 200, "OK", kind == 'j' ? "application/json" : "text/plain",
                NULL, kind == 'j' ? "{\"Something\": \"else\"}" : "");
        return 1;
    }
    if (strcmp(m, "badshape") == 0) {
        respond_bad_body(fd, kind, field, "{\"%s\": \"Not An AZ!\"}",
                         "Not An AZ!");
        return 1;
    }
    if (strcmp(m, "huge") == 0) {
        send_huge(fd, 1);
        return 1;
    }
    if (strcmp(m, "hugechunk") == 0) {
        send_huge(fd, 0);
        return 1;
    }
    if (strcmp(m, "reset") == 0) {
        send_reset(fd);
        return 1;
    }
    if (strncmp(m, "status", 6) == 0) {
        respond(fd, atoi(m + 6), "Status", "text/plain", NULL, "status\n");
        return 1;
    }
    if (strcmp(m, "redirect") == 0) {
        respond(fd, 302, "Found", "text/plain",
                "Location: http://127.0.0.1:1/elsewhere\r\n", "moved\n");
        return 1;
    }
    return 0;
}

/* Answers 405 (empty text body) unless the method is `want`; returns 1 if
 * it did. */
static int wrong_method(int fd, const char *method, const char *want)
{
    if (strcmp(method, want) == 0)
        return 0;
    respond(fd, 405, "Method Not Allowed", "text/plain", NULL, "");
    return 1;
}

static void handle_lambda(int fd, const char *method, const char *req)
{
    count(&n_lambda);
    if (strcmp(method, "GET") != 0) {
        respond(fd, 405, "Method Not Allowed", "application/json",
                "Allow: GET\r\n", "{\"message\":\"Method Not Allowed\"}");
        return;
    }
    char auth[512], want[512];
    snprintf(want, sizeof want, "Bearer %s", opt_token);
    if (!get_header(req, "Authorization", auth, sizeof auth) ||
        strcmp(auth, want) != 0) {
        respond(fd, 401, "Unauthorized", "application/json", NULL,
                "{\"message\":\"Unauthorized\"}");
        return;
    }
    char m[32];
    int oneshot;
    current_mode(m, sizeof m, &oneshot);
    if (apply_fault(fd, m, oneshot, 'j', "AvailabilityZoneID"))
        return;
    char body[256], hdr[128];
    snprintf(body, sizeof body,
             "{\"AvailabilityZoneID\":\"%s\",\"ExecutionEnvironmentID\":"
             "\"ee-0123\",\"FutureField\":[1,2,3]}", opt_az);
    snprintf(hdr, sizeof hdr,
             "Cache-Control: private, max-age=%ld, immutable\r\n", opt_max_age);
    respond(fd, 200, "OK", "application/json", hdr, body);
}

static void handle_imds_token(int fd, const char *method, const char *req)
{
    count(&n_imds_put);
    if (wrong_method(fd, method, "PUT"))
        return;
    char ttl_s[32];
    long ttl = 0;
    if (get_header(req, "X-aws-ec2-metadata-token-ttl-seconds", ttl_s,
                   sizeof ttl_s))
        ttl = strtol(ttl_s, NULL, 10);
    if (ttl < 1 || ttl > 21600) {
        respond(fd, 400, "Bad Request", "text/plain", NULL, "");
        return;
    }
    if (ttl > opt_imds_ttl)
        ttl = opt_imds_ttl;
    char tok[48], hdr[96];
    pthread_mutex_lock(&state_lock);
    snprintf(tok, sizeof tok, "IMDS-SECRET-%lu-%ld", ++token_serial,
             (long)getpid());
    if (n_tokens < MAX_TOKENS)
        snprintf(tokens[n_tokens++], sizeof tokens[0], "%s", tok);
    pthread_mutex_unlock(&state_lock);
    snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token-ttl-seconds: %ld\r\n",
             ttl);
    respond(fd, 200, "OK", "text/plain", hdr, tok);
}

static int token_known(const char *t)
{
    int ok = 0;
    pthread_mutex_lock(&state_lock);
    for (unsigned i = 0; i < n_tokens && !ok; i++)
        ok = strcmp(tokens[i], t) == 0;
    pthread_mutex_unlock(&state_lock);
    return ok;
}

static void handle_imds_get(int fd, const char *method, const char *req)
{
    count(&n_imds_get);
    if (wrong_method(fd, method, "GET"))
        return;
    char tok[128];
    if (!get_header(req, "X-aws-ec2-metadata-token", tok, sizeof tok) ||
        !token_known(tok)) {
        respond(fd, 401, "Unauthorized", "text/plain", NULL, "");
        return;
    }
    char m[32];
    int oneshot;
    current_mode(m, sizeof m, &oneshot);
    if (strcmp(m, "401once") == 0 && oneshot && take_oneshot()) {
        pthread_mutex_lock(&state_lock);
        n_tokens = 0; /* every token issued so far is now stale */
        pthread_mutex_unlock(&state_lock);
        respond(fd, 401, "Unauthorized", "text/plain", NULL, "");
        return;
    }
    if (apply_fault(fd, m, oneshot, 't', NULL))
        return;
    respond(fd, 200, "OK", "text/plain", NULL, opt_az);
}

static void handle_ecs(int fd, const char *method)
{
    count(&n_ecs);
    if (wrong_method(fd, method, "GET"))
        return;
    char m[32];
    int oneshot;
    current_mode(m, sizeof m, &oneshot);
    if (apply_fault(fd, m, oneshot, 'j', "AvailabilityZone"))
        return;
    char body[512];
    snprintf(body, sizeof body,
             "{\"Cluster\":\"arn:aws:ecs:ap-northeast-1:123456789012:cluster/"
             "test\",\"TaskARN\":\"arn:aws:ecs:ap-northeast-1:123456789012:"
             "task/test/0123\",\"AvailabilityZone\":\"%s\",\"Containers\":[],"
             "\"LaunchType\":\"FARGATE\"}", opt_ecs_az);
    respond(fd, 200, "OK", "application/json", NULL, body);
}

static void handle_control(int fd, const char *path)
{
    char body[256];
    if (strcmp(path, "/_count") == 0) {
        pthread_mutex_lock(&state_lock);
        snprintf(body, sizeof body,
                 "total=%lu lambda=%lu imds_put=%lu imds_get=%lu ecs=%lu "
                 "other=%lu\n",
                 n_lambda + n_imds_put + n_imds_get + n_ecs + n_other,
                 n_lambda, n_imds_put, n_imds_get, n_ecs, n_other);
        pthread_mutex_unlock(&state_lock);
        respond(fd, 200, "OK", "text/plain", NULL, body);
    } else if (strncmp(path, "/_mode/", 7) == 0 && strlen(path + 7) < 32) {
        pthread_mutex_lock(&state_lock);
        snprintf(mode, sizeof mode, "%s", path + 7);
        oneshot_armed = 1;
        pthread_mutex_unlock(&state_lock);
        respond(fd, 200, "OK", "text/plain", NULL, "ok\n");
    } else if (strcmp(path, "/_reset") == 0) {
        pthread_mutex_lock(&state_lock);
        n_lambda = n_imds_put = n_imds_get = n_ecs = n_other = 0;
        write_counts_locked();
        pthread_mutex_unlock(&state_lock);
        respond(fd, 200, "OK", "text/plain", NULL, "ok\n");
    } else {
        respond(fd, 404, "Not Found", "text/plain", NULL, "");
    }
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char *req = malloc(REQ_MAX + 1);
    size_t len = 0;
    if (!req)
        goto done;
    while (len < REQ_MAX) {
        ssize_t r = recv(fd, req + len, REQ_MAX - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto done;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[len] = '\0';
    if (!strstr(req, "\r\n\r\n"))
        goto done;
    char method[16], path[1024];
    if (sscanf(req, "%15s %1023s", method, path) != 2)
        goto done;

    if (strncmp(path, "/_", 2) == 0)
        handle_control(fd, path);
    else if (strcmp(path, LAMBDA_PATH) == 0)
        handle_lambda(fd, method, req);
    else if (strcmp(path, IMDS_TOKEN_PATH) == 0)
        handle_imds_token(fd, method, req);
    else if (strcmp(path, IMDS_AZ_PATH) == 0)
        handle_imds_get(fd, method, req);
    else if (strlen(path) >= 5 && strcmp(path + strlen(path) - 5, "/task") == 0)
        handle_ecs(fd, method);
    else {
        count(&n_other);
        respond(fd, 404, "Not Found", "text/plain", NULL, "");
    }
done:
    free(req);
    close(fd);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: mdserver [--mode M] [--token T] [--az ID] [--ecs-az NAME] "
            "[--max-age N] [--delay-ms N] [--slow-ms N] [--imds-ttl N] "
            "[--count-file F] "
            "[--lifetime S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long lifetime = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--mode") == 0 && strlen(v) < sizeof mode)
            snprintf(mode, sizeof mode, "%s", v);
        else if (strcmp(a, "--token") == 0)
            opt_token = v;
        else if (strcmp(a, "--az") == 0)
            opt_az = v;
        else if (strcmp(a, "--ecs-az") == 0)
            opt_ecs_az = v;
        else if (strcmp(a, "--max-age") == 0)
            opt_max_age = strtol(v, NULL, 10);
        else if (strcmp(a, "--delay-ms") == 0)
            opt_delay_ms = strtol(v, NULL, 10);
        else if (strcmp(a, "--slow-ms") == 0)
            opt_slow_ms = strtol(v, NULL, 10);
        else if (strcmp(a, "--imds-ttl") == 0)
            opt_imds_ttl = strtol(v, NULL, 10);
        else if (strcmp(a, "--count-file") == 0)
            opt_count_file = v;
        else if (strcmp(a, "--lifetime") == 0)
            lifetime = strtol(v, NULL, 10);
        else
            usage();
    }
    if (lifetime < 1 || lifetime > 3600)
        usage();
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)lifetime); /* SIGALRM's default action ends us */

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0) {
        perror("mdserver: socket");
        return 1;
    }
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t sl = sizeof sa;
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(ls, 128) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
        perror("mdserver: bind/listen");
        return 1;
    }
    pthread_mutex_lock(&state_lock);
    write_counts_locked();
    pthread_mutex_unlock(&state_lock);
    printf("%u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);

    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            perror("mdserver: accept");
            return 1;
        }
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, serve, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&at);
    }
}
