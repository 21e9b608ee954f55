/*
 * check_metadata.c - AZ discovery (lib/metadata/).
 *
 * Every network test starts its own tests/mdserver on 127.0.0.1 (ephemeral
 * port, killed by PID, and by PR_SET_PDEATHSIG / its --lifetime cap should a
 * test die). Nothing here contacts a non-loopback address: IMDS tests point
 * AWS_EC2_METADATA_SERVICE_ENDPOINT at the local server before they lift
 * AWS_EC2_METADATA_DISABLED.
 *
 * Each test runs in its own process (Check's fork mode), so the process-wide
 * cache starts empty in every test.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <azroute/azroute.h>

#include "config/config.h"
#include "metadata/metadata.h"
#include "metadata/metadata_internal.h"

#define LAMBDA_TOKEN "tok-SECRET-7f3a9c51e2"
#define SLACK_MS 100

/* ---- the test server ---------------------------------------------------- */

static pid_t md_pid = -1;
static unsigned md_port;

static char *mdserver_path(void)
{
    static char path[PATH_MAX];
    const char *b = getenv("AZR_TEST_BUILDDIR");
    if (b) {
        snprintf(path, sizeof path, "%s/tests/mdserver", b);
        if (access(path, X_OK) == 0)
            return path;
    }
    char self[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s/mdserver", self);
            if (access(path, X_OK) == 0)
                return path;
            snprintf(path, sizeof path, "%s/../mdserver", self);
            if (access(path, X_OK) == 0)
                return path;
        }
    }
    snprintf(path, sizeof path, "tests/mdserver");
    return path;
}

/* Starts mdserver with extra arguments (NULL-terminated). */
static void md_start_v(const char *const *extra)
{
    const char *argv[32];
    size_t a = 0;
    argv[a++] = mdserver_path();
    argv[a++] = "--lifetime";
    argv[a++] = "30";
    argv[a++] = "--token";
    argv[a++] = LAMBDA_TOKEN;
    for (size_t i = 0; extra && extra[i] && a < 30; i++)
        argv[a++] = extra[i];
    argv[a] = NULL;

    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    md_pid = pid;
    char buf[32] = "";
    size_t len = 0;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    while (len < sizeof buf - 1 && !memchr(buf, '\n', len)) {
        int r = poll(&pf, 1, 5000);
        ck_assert_msg(r == 1, "mdserver (%s) did not report its port",
                      argv[0]);
        ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
        ck_assert_msg(n > 0, "mdserver (%s) exited early", argv[0]);
        len += (size_t)n;
        buf[len] = '\0';
    }
    close(p[0]);
    md_port = (unsigned)strtoul(buf, NULL, 10);
    ck_assert_uint_gt(md_port, 0);
}

#define md_start(...)                                     \
    do {                                                  \
        const char *const md_args_[] = {__VA_ARGS__, NULL}; \
        md_start_v(md_args_);                             \
    } while (0)

static void md_stop(void)
{
    if (md_pid <= 0)
        return;
    kill(md_pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(md_pid, NULL, WNOHANG) == md_pid) {
            md_pid = -1;
            return;
        }
        usleep(10000);
    }
    kill(md_pid, SIGKILL);
    waitpid(md_pid, NULL, 0);
    md_pid = -1;
}

static size_t collect(char *ptr, size_t size, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = size * n;
    if (have + add >= 256)
        add = 255 - have;
    memcpy(buf + have, ptr, add);
    buf[have + add] = '\0';
    return size * n;
}

/* One request to the test server (control paths, or to check how it
 * behaves); returns the HTTP status, body into out (256 bytes). */
static long md_request(const char *method, const char *path,
                       const char *header, char *out)
{
    char url[256], buf[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", md_port, path);
    CURL *h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    struct curl_slist *hl = header ? curl_slist_append(NULL, header) : NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hl);
    ck_assert_msg(cc == CURLE_OK, "control request %s failed: %s", path,
                  curl_easy_strerror(cc));
    if (out)
        strcpy(out, buf);
    return status;
}

typedef struct counts {
    unsigned long total, lambda, imds_put, imds_get, ecs, other;
} counts;

static counts md_counts(void)
{
    char body[256];
    counts c = {0};
    md_request("GET", "/_count", NULL, body);
    ck_assert_int_eq(sscanf(body,
                            "total=%lu lambda=%lu imds_put=%lu imds_get=%lu "
                            "ecs=%lu other=%lu",
                            &c.total, &c.lambda, &c.imds_put, &c.imds_get,
                            &c.ecs, &c.other),
                     6);
    return c;
}

/* The IMDS requests the test server has seen: token PUTs and AZ GETs. */
static void assert_imds_requests(unsigned long put, unsigned long get)
{
    counts c = md_counts();
    ck_assert_uint_eq(c.imds_put, put);
    ck_assert_uint_eq(c.imds_get, get);
}

static void md_mode(const char *mode)
{
    char path[64];
    snprintf(path, sizeof path, "/_mode/%s", mode);
    ck_assert_int_eq(md_request("GET", path, NULL, NULL), 200);
}

/* ---- configuration and environment -------------------------------------- */

static azr_config test_cfg;
static azr_cfg_az_map_entry test_map[] = {
    {(char *)"ap-northeast-1a", (char *)"apne1-az4", 10},
    {(char *)"ap-northeast-1c", (char *)"apne1-az1", 11},
};

static azr_config *cfg_of(azr_md_source_kind kind, unsigned timeout_ms)
{
    memset(&test_cfg, 0, sizeof test_cfg);
    test_cfg.path = (char *)"TEST.ini";
    test_cfg.md_source = kind;
    test_cfg.md_timeout_ms = timeout_ms;
    return &test_cfg;
}

static void env_clean(void)
{
    unsetenv("AZROUTE_AZ_ID");
    unsetenv("AWS_LAMBDA_METADATA_API");
    unsetenv("AWS_LAMBDA_METADATA_TOKEN");
    unsetenv("ECS_CONTAINER_METADATA_URI_V4");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void env_lambda(const char *token)
{
    char api[64];
    snprintf(api, sizeof api, "127.0.0.1:%u", md_port);
    setenv("AWS_LAMBDA_METADATA_API", api, 1);
    if (token)
        setenv("AWS_LAMBDA_METADATA_TOKEN", token, 1);
    else
        unsetenv("AWS_LAMBDA_METADATA_TOKEN");
}

/* IMDS only ever against the local server: endpoint first, then enable. */
static void env_imds(void)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%u", md_port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
    ck_assert_str_eq(getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"), ep);
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
}

static void env_ecs(void)
{
    char uri[96];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%u/v4/0123-task", md_port);
    setenv("ECS_CONTAINER_METADATA_URI_V4", uri, 1);
}

static void setup(void)
{
    env_clean();
    md_pid = -1;
}

static void teardown(void)
{
    md_stop();
}

/* ---- helpers ------------------------------------------------------------- */

static double now_ms(void)
{
    return (double)azr__md_now_ns() / 1e6;
}

/* Resolves and returns the elapsed time in ms. */
static double resolve(const azr_config *cfg, const char *override,
                      azr_az_info *info)
{
    azr_md_request req = {.cfg = cfg, .override_az_id = override};
    memset(info, 0x5a, sizeof *info); /* no field may be left unset */
    double t0 = now_ms();
    azr__md_resolve(&req, info);
    return now_ms() - t0;
}

/* No secret in anything the module reports. */
static void assert_no_secret(const azr_az_info *info)
{
    ck_assert_msg(strstr(info->reason, LAMBDA_TOKEN) == NULL,
                  "token leaked into reason: %s", info->reason);
    ck_assert_msg(strstr(info->reason, "IMDS-SECRET") == NULL,
                  "IMDS token leaked into reason: %s", info->reason);
    ck_assert_msg(strstr(info->az_id, LAMBDA_TOKEN) == NULL,
                  "token in az_id");
    ck_assert_msg(strchr(info->reason, '\n') == NULL,
                  "reason is not one line: %s", info->reason);
}

static void assert_known(const azr_az_info *info, const char *az,
                         azr_az_source src)
{
    ck_assert_msg(info->known == 1, "not known: %s", info->reason);
    ck_assert_str_eq(info->az_id, az);
    ck_assert_int_eq(info->source, src);
    ck_assert_int_eq(info->error, AZR_OK);
    ck_assert_str_eq(info->reason, "");
}

static void assert_unknown(const azr_az_info *info, azr_code code,
                           const char *needle)
{
    ck_assert_msg(info->known == 0, "unexpectedly known: %s", info->az_id);
    ck_assert_str_eq(info->az_id, "");
    ck_assert_int_eq(info->error, code);
    ck_assert_msg(strstr(info->reason, needle) != NULL,
                  "reason \"%s\" lacks \"%s\"", info->reason, needle);
    assert_no_secret(info);
}

/* A loopback port nobody listens on. */
static unsigned closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s);
    return ntohs(sa.sin_port);
}

/* ---- source selection ---------------------------------------------------- */

START_TEST(test_source_names)
{
    ck_assert_str_eq(azr_az_source_name(AZR_AZ_SOURCE_NONE), "none");
    ck_assert_str_eq(azr_az_source_name(AZR_AZ_SOURCE_STATIC), "static");
    ck_assert_str_eq(azr_az_source_name(AZR_AZ_SOURCE_LAMBDA), "lambda");
    ck_assert_str_eq(azr_az_source_name(AZR_AZ_SOURCE_IMDS), "imds");
    ck_assert_str_eq(azr_az_source_name(AZR_AZ_SOURCE_ECS), "ecs");
    ck_assert_str_eq(azr_az_source_name((azr_az_source)99), "unknown");
}
END_TEST

START_TEST(test_override_wins)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda(LAMBDA_TOKEN);
    setenv("AZROUTE_AZ_ID", "apne1-az1", 1);
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), "use1-az6", &info);
    assert_known(&info, "use1-az6", AZR_AZ_SOURCE_STATIC);
    ck_assert_int_eq(info.from_cache, 0);
    ck_assert_int_eq(info.expires_in_s, -1);
    ck_assert(info.fetch_ms == 0.0);
    ck_assert_uint_eq(md_counts().total, 0);
}
END_TEST

START_TEST(test_override_invalid)
{
    azr_az_info info;
    resolve(cfg_of(AZR_MD_NONE, 1000), "Not An AZ", &info);
    assert_unknown(&info, AZR_E_METADATA, "azr_open_options.az_id");
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_STATIC);
}
END_TEST

START_TEST(test_env_az_id)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda(LAMBDA_TOKEN);
    setenv("AZROUTE_AZ_ID", "usw2-lax1-az1", 1);
    resolve(cfg_of(AZR_MD_AUTO, 1000), NULL, &info);
    assert_known(&info, "usw2-lax1-az1", AZR_AZ_SOURCE_STATIC);
    ck_assert_uint_eq(md_counts().total, 0);
}
END_TEST

START_TEST(test_env_az_id_invalid)
{
    azr_az_info info;
    setenv("AZROUTE_AZ_ID", "ap-northeast-1a", 1);
    resolve(cfg_of(AZR_MD_STATIC, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "AZROUTE_AZ_ID");
    ck_assert_msg(strstr(info.reason, "'ap-northeast-1a' is not an AZ ID"),
                  "%s", info.reason);
}
END_TEST

START_TEST(test_env_az_id_empty_ignored)
{
    azr_az_info info;
    setenv("AZROUTE_AZ_ID", "", 1);
    resolve(cfg_of(AZR_MD_NONE, 1000), NULL, &info);
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_NONE);
}
END_TEST

START_TEST(test_static)
{
    azr_az_info info;
    azr_config *cfg = cfg_of(AZR_MD_STATIC, 1000);
    cfg->md_az_id = (char *)"apne1-az2";
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az2", AZR_AZ_SOURCE_STATIC);
    ck_assert_int_eq(info.expires_in_s, -1);

    cfg->md_az_id = NULL;
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "az_id is not set");

    cfg->md_az_id = (char *)"apne1-AZ2";
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "[metadata] az_id 'apne1-AZ2'");
}
END_TEST

START_TEST(test_none)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda(LAMBDA_TOKEN);
    resolve(cfg_of(AZR_MD_NONE, 1000), NULL, &info);
    ck_assert_int_eq(info.known, 0);
    ck_assert_int_eq(info.error, AZR_OK);
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_NONE);
    ck_assert_str_eq(info.reason,
                     "metadata source is 'none' (no node counts as same-AZ)");
    ck_assert_uint_eq(md_counts().total, 0);
}
END_TEST

START_TEST(test_auto_nothing)
{
    azr_az_info info;
    setenv("AWS_EC2_METADATA_DISABLED", "TrUe", 1);
    double ms = resolve(cfg_of(AZR_MD_AUTO, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "no AZ source found");
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_NONE);
    ck_assert_msg(ms < 50, "auto with nothing took %.1f ms", ms);
    /* A NULL config is auto with defaults. */
    azr_md_request req = {.cfg = NULL, .override_az_id = NULL};
    azr__md_resolve(&req, &info);
    assert_unknown(&info, AZR_E_METADATA, "no AZ source found");
}
END_TEST

START_TEST(test_auto_prefers_lambda)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda(LAMBDA_TOKEN);
    env_ecs();
    env_imds();
    resolve(cfg_of(AZR_MD_AUTO, 1000), NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    counts c = md_counts();
    ck_assert_uint_eq(c.lambda, 1);
    ck_assert_uint_eq(c.total, 1);
}
END_TEST

START_TEST(test_auto_ecs_before_imds)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_ecs();
    env_imds();
    azr_config *cfg = cfg_of(AZR_MD_AUTO, 1000);
    cfg->az_map = test_map;
    cfg->n_az_map = 2;
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_ECS);
    counts c = md_counts();
    ck_assert_uint_eq(c.ecs, 1);
    ck_assert_uint_eq(c.total, 1);
}
END_TEST

START_TEST(test_auto_imds)
{
    azr_az_info info;
    md_start("--mode", "ok", "--az", "use1-az6");
    env_imds();
    resolve(cfg_of(AZR_MD_AUTO, 1000), NULL, &info);
    assert_known(&info, "use1-az6", AZR_AZ_SOURCE_IMDS);
}
END_TEST

/* ---- Lambda -------------------------------------------------------------- */

START_TEST(test_lambda_ok_and_cached)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda(LAMBDA_TOKEN);
    azr_config *cfg = cfg_of(AZR_MD_LAMBDA, 1000);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.from_cache, 0);
    ck_assert(info.fetch_ms > 0.0 && info.fetch_ms < 1000.0);
    ck_assert_int_eq(info.expires_in_s, 43200);
    double first_fetch = info.fetch_ms;

    for (int i = 0; i < 100; i++) {
        resolve(cfg, NULL, &info);
        assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
        ck_assert_int_eq(info.from_cache, 1);
        ck_assert(info.fetch_ms == first_fetch);
        ck_assert_int_le(info.expires_in_s, 43200);
        ck_assert_int_ge(info.expires_in_s, 43190);
    }
    ck_assert_uint_eq(md_counts().lambda, 1);
}
END_TEST

START_TEST(test_lambda_wrong_token)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda("wrong-" LAMBDA_TOKEN);
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA_AUTH,
                   "metadata token rejected (HTTP 401)");
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_LAMBDA);
    ck_assert_msg(strstr(info.reason, "wrong-") == NULL, "%s", info.reason);
    /* 401 is never retried. */
    ck_assert_uint_eq(md_counts().lambda, 1);
}
END_TEST

START_TEST(test_lambda_missing_token)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda(NULL);
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA_AUTH,
                   "AWS_LAMBDA_METADATA_TOKEN is not set");
    ck_assert_uint_eq(md_counts().total, 0);

    setenv("AWS_LAMBDA_METADATA_TOKEN", "a\r\nX-Injected: 1", 1);
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA_AUTH, "not allowed in a header");
    ck_assert_uint_eq(md_counts().total, 0);
}
END_TEST

START_TEST(test_lambda_missing_api)
{
    azr_az_info info;
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "AWS_LAMBDA_METADATA_API is not set");
    setenv("AWS_LAMBDA_METADATA_API", "127.0.0.1:1/../x?y", 1);
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "not a host:port address");
}
END_TEST

/* The token is read at each fetch, and a failure is not cached. */
START_TEST(test_lambda_token_reread)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda("stale-token");
    azr_config *cfg = cfg_of(AZR_MD_LAMBDA, 1000);
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA_AUTH, "HTTP 401");
    setenv("AWS_LAMBDA_METADATA_TOKEN", LAMBDA_TOKEN, 1);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.from_cache, 0);
    ck_assert_uint_eq(md_counts().lambda, 2);
}
END_TEST

START_TEST(test_lambda_max_age_expiry)
{
    azr_az_info info;
    md_start("--mode", "ok", "--max-age", "1");
    env_lambda(LAMBDA_TOKEN);
    azr_config *cfg = cfg_of(AZR_MD_LAMBDA, 1000);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.expires_in_s, 1);
    resolve(cfg, NULL, &info);
    ck_assert_int_eq(info.from_cache, 1);
    ck_assert_uint_eq(md_counts().lambda, 1);
    usleep(1100000);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.from_cache, 0);
    ck_assert_uint_eq(md_counts().lambda, 2);
}
END_TEST

START_TEST(test_lambda_no_store)
{
    azr_az_info info;
    md_start("--mode", "ok", "--max-age", "0");
    env_lambda(LAMBDA_TOKEN);
    azr_config *cfg = cfg_of(AZR_MD_LAMBDA, 1000);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.expires_in_s, 0);
    resolve(cfg, NULL, &info);
    ck_assert_int_eq(info.from_cache, 0);
    ck_assert_uint_eq(md_counts().lambda, 2);
}
END_TEST

START_TEST(test_lambda_invalidate)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_lambda(LAMBDA_TOKEN);
    azr_config *cfg = cfg_of(AZR_MD_LAMBDA, 1000);
    resolve(cfg, NULL, &info);
    resolve(cfg, NULL, &info);
    ck_assert_uint_eq(md_counts().lambda, 1);
    azr_invalidate_az();
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.from_cache, 0);
    ck_assert_uint_eq(md_counts().lambda, 2);
    azr_invalidate_az(); /* twice in a row is harmless */
    azr_invalidate_az();
    resolve(cfg, NULL, &info);
    ck_assert_uint_eq(md_counts().lambda, 3);
}
END_TEST

/* The stand-in behaves like the real endpoint (as the seed article saw
 * it), so the other tests mean something. */
START_TEST(test_server_like_lambda)
{
    char body[256];
    md_start("--mode", "ok");
    const char *path = "/2026-01-15/metadata/execution-environment";
    ck_assert_int_eq(md_request("GET", path,
                                "Authorization: Bearer " LAMBDA_TOKEN, body),
                     200);
    ck_assert(strstr(body, "\"AvailabilityZoneID\":\"apne1-az4\""));
    ck_assert_int_eq(md_request("GET", path, NULL, NULL), 401);
    ck_assert_int_eq(md_request("GET", path, "Authorization: Bearer x", NULL),
                     401);
    ck_assert_int_eq(md_request("POST", path,
                                "Authorization: Bearer " LAMBDA_TOKEN, NULL),
                     405);
    ck_assert_int_eq(md_request("PUT", "/latest/api/token", NULL, NULL), 400);
    ck_assert_int_eq(md_request("GET", "/latest/api/token",
                                "X-aws-ec2-metadata-token-ttl-seconds: 5",
                                NULL),
                     405);
}
END_TEST

/* Every status the endpoint may answer has its own message; 4xx are
 * never retried. */
static const struct status_case {
    const char *mode;
    azr_code code;
    const char *needle;
    unsigned long requests;
} status_cases[] = {
    {"status401", AZR_E_METADATA_AUTH, "metadata token rejected (HTTP 401)", 1},
    {"status403", AZR_E_METADATA_AUTH, "forbidden (HTTP 403)", 1},
    {"status404", AZR_E_METADATA, "no such path (HTTP 404)", 1},
    {"status405", AZR_E_METADATA, "refused the method (HTTP 405)", 1},
    {"status429", AZR_E_METADATA, "throttling requests (HTTP 429)", 1},
    {"status418", AZR_E_METADATA, "rejected the request (HTTP 418)", 1},
    {"status503", AZR_E_METADATA, "failed (HTTP 503, after 1 retry)", 2},
    {"status204", AZR_E_METADATA, "unexpected HTTP status 204", 1},
};

START_TEST(test_lambda_statuses)
{
    const struct status_case *sc = &status_cases[_i];
    azr_az_info info;
    md_start("--mode", sc->mode);
    env_lambda(LAMBDA_TOKEN);
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), NULL, &info);
    assert_unknown(&info, sc->code, sc->needle);
    ck_assert_uint_eq(md_counts().lambda, sc->requests);
}
END_TEST

/* Fault modes: each ends within timeout_ms + SLACK_MS with its own message
 * and never mentions the token. */
static const struct fault_case {
    const char *mode;
    const char *needle;
    unsigned long requests; /* seen by the server; 0: don't check */
    azr_code code;
} fault_cases[] = {
    {"slow", "timed out after 300 ms", 1, AZR_E_TIMEOUT},
    {"500", "endpoint failed (HTTP 500, after 1 retry)", 2, AZR_E_METADATA},
    {"malformed", "response is not valid JSON", 1, AZR_E_METADATA},
    {"missing", "response has no \"AvailabilityZoneID\" field", 1, AZR_E_METADATA},
    {"badshape", "\"AvailabilityZoneID\" 'Not An AZ!' is not an AZ ID", 1, AZR_E_METADATA},
    {"huge", "response body exceeds 64 KiB", 1, AZR_E_METADATA},
    {"hugechunk", "response body exceeds 64 KiB", 1, AZR_E_METADATA},
    {"reset", "(after 1 retry)", 2, AZR_E_METADATA},
    {"redirect", "unexpected redirect (HTTP 302", 1, AZR_E_METADATA},
    {"refused", "could not connect: Connection refused (after 1 retry)", 0, AZR_E_METADATA},
};
#define N_FAULTS (sizeof fault_cases / sizeof *fault_cases)

static void run_fault(const struct fault_case *fc, azr_az_info *info,
                      double *ms)
{
    if (strcmp(fc->mode, "refused") == 0) {
        md_port = closed_port();
    } else {
        md_start("--mode", fc->mode, "--slow-ms", "1500");
    }
    env_lambda(LAMBDA_TOKEN);
    *ms = resolve(cfg_of(AZR_MD_LAMBDA, 300), NULL, info);
    if (fc->requests)
        ck_assert_uint_eq(md_counts().lambda, fc->requests);
    md_stop();
}

START_TEST(test_lambda_faults)
{
    const struct fault_case *fc = &fault_cases[_i];
    azr_az_info info;
    double ms;
    run_fault(fc, &info, &ms);
    assert_unknown(&info, fc->code, fc->needle);
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_LAMBDA);
    ck_assert_msg(ms <= 300 + SLACK_MS, "%s took %.1f ms", fc->mode, ms);
    printf("fault %-10s %7.1f ms  %s\n", fc->mode, ms, info.reason);
}
END_TEST

/* The fault messages differ from each other. */
START_TEST(test_lambda_fault_messages_distinct)
{
    static char reasons[N_FAULTS][AZR_ERRBUF_SIZE];
    for (size_t i = 0; i < N_FAULTS; i++) {
        azr_az_info info;
        double ms;
        run_fault(&fault_cases[i], &info, &ms);
        /* strip the URL (it holds the port, which differs per run) */
        const char *p = strstr(info.reason, "execution-environment: ");
        ck_assert_ptr_nonnull(p);
        snprintf(reasons[i], sizeof reasons[i], "%s", p);
    }
    for (size_t i = 0; i < N_FAULTS; i++)
        for (size_t j = i + 1; j < N_FAULTS; j++) {
            if (strstr(fault_cases[i].needle, "64 KiB") &&
                strstr(fault_cases[j].needle, "64 KiB"))
                continue; /* the same fault, two ways to deliver it */
            ck_assert_msg(strcmp(reasons[i], reasons[j]) != 0,
                          "%s and %s give the same message: %s",
                          fault_cases[i].mode, fault_cases[j].mode,
                          reasons[i]);
        }
}
END_TEST

START_TEST(test_lambda_retry_5xx_once)
{
    azr_az_info info;
    md_start("--mode", "500once");
    env_lambda(LAMBDA_TOKEN);
    resolve(cfg_of(AZR_MD_LAMBDA, 1000), NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_uint_eq(md_counts().lambda, 2);
}
END_TEST

/* ---- IMDSv2 --------------------------------------------------------------- */

START_TEST(test_imds_token_flow)
{
    azr_az_info info;
    md_start("--mode", "ok", "--az", "apne1-az2");
    env_imds();
    azr_config *cfg = cfg_of(AZR_MD_IMDS, 1000);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az2", AZR_AZ_SOURCE_IMDS);
    ck_assert_int_eq(info.expires_in_s, -1); /* no max-age: process life */
    assert_imds_requests(1, 1);

    resolve(cfg, NULL, &info); /* cached answer: no request at all */
    ck_assert_int_eq(info.from_cache, 1);
    ck_assert_uint_eq(md_counts().total, 2);

    /* After an invalidate the AZ is fetched again, the token reused. */
    azr_invalidate_az();
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az2", AZR_AZ_SOURCE_IMDS);
    ck_assert_int_eq(info.from_cache, 0);
    assert_imds_requests(1, 2);
}
END_TEST

/* The token is kept for its TTL minus a margin (half of a short TTL). */
START_TEST(test_imds_token_ttl)
{
    azr_az_info info;
    md_start("--mode", "ok", "--imds-ttl", "2");
    env_imds();
    azr_config *cfg = cfg_of(AZR_MD_IMDS, 1000);
    resolve(cfg, NULL, &info);
    azr_invalidate_az();
    resolve(cfg, NULL, &info);
    ck_assert_uint_eq(md_counts().imds_put, 1); /* within 1 s: reused */
    usleep(1100000);
    azr_invalidate_az();
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_IMDS);
    assert_imds_requests(2, 3);
}
END_TEST

START_TEST(test_imds_401_refreshes_token_once)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_imds();
    azr_config *cfg = cfg_of(AZR_MD_IMDS, 1000);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_IMDS);
    /* The server forgets its tokens (as after a snapshot restore). */
    md_mode("401once");
    azr_invalidate_az();
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_IMDS);
    assert_imds_requests(2, 3);
}
END_TEST

START_TEST(test_imds_401_twice_fails)
{
    azr_az_info info;
    md_start("--mode", "status401");
    env_imds();
    resolve(cfg_of(AZR_MD_IMDS, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA_AUTH,
                   "IMDS session token rejected (HTTP 401)");
    assert_imds_requests(2, 2);
}
END_TEST

START_TEST(test_imds_disabled)
{
    azr_az_info info;
    md_start("--mode", "ok");
    env_imds();
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    resolve(cfg_of(AZR_MD_IMDS, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "AWS_EC2_METADATA_DISABLED=true");
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_IMDS);
    ck_assert_uint_eq(md_counts().total, 0);
}
END_TEST

START_TEST(test_imds_bad_endpoint)
{
    azr_az_info info;
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "https://127.0.0.1:1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    resolve(cfg_of(AZR_MD_IMDS, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://user@127.0.0.1:1", 1);
    resolve(cfg_of(AZR_MD_IMDS, 1000), NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
}
END_TEST

static const struct fault_case imds_faults[] = {
    {"slow", "timed out after 300 ms", 0, AZR_E_TIMEOUT},
    {"500", "endpoint failed (HTTP 500, after 1 retry)", 0, AZR_E_METADATA},
    {"malformed", "response (7 bytes, not shown) is not an AZ ID", 0, AZR_E_METADATA},
    {"missing", "response (0 bytes, not shown) is not an AZ ID", 0, AZR_E_METADATA},
    {"badshape", "response 'Not An AZ!' is not an AZ ID", 0, AZR_E_METADATA},
    {"huge", "response body exceeds 64 KiB", 0, AZR_E_METADATA},
    {"reset", "(after 1 retry)", 0, AZR_E_METADATA},
};

START_TEST(test_imds_faults)
{
    const struct fault_case *fc = &imds_faults[_i];
    azr_az_info info;
    md_start("--mode", fc->mode, "--slow-ms", "1500");
    env_imds();
    double ms = resolve(cfg_of(AZR_MD_IMDS, 300), NULL, &info);
    assert_unknown(&info, fc->code, fc->needle);
    ck_assert_msg(strstr(info.reason, "imds GET"), "%s", info.reason);
    ck_assert_msg(ms <= 300 + SLACK_MS, "%s took %.1f ms", fc->mode, ms);
    ck_assert_uint_eq(md_counts().imds_put, 1);
}
END_TEST

/* PUT and GET share one budget. */
START_TEST(test_imds_deadline_covers_put_and_get)
{
    azr_az_info info;
    md_start("--mode", "slow", "--slow-ms", "1500");
    env_imds();
    double ms = resolve(cfg_of(AZR_MD_IMDS, 250), NULL, &info);
    assert_unknown(&info, AZR_E_TIMEOUT, "timed out after 250 ms");
    ck_assert_msg(ms <= 250 + SLACK_MS, "took %.1f ms", ms);
}
END_TEST

/* ---- ECS ------------------------------------------------------------------ */

START_TEST(test_ecs_mapped)
{
    azr_az_info info;
    md_start("--mode", "ok", "--ecs-az", "ap-northeast-1c");
    env_ecs();
    azr_config *cfg = cfg_of(AZR_MD_ECS, 1000);
    cfg->az_map = test_map;
    cfg->n_az_map = 2;
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az1", AZR_AZ_SOURCE_ECS);
    ck_assert_int_eq(info.expires_in_s, -1);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az1", AZR_AZ_SOURCE_ECS);
    ck_assert_int_eq(info.from_cache, 1);
    ck_assert_uint_eq(md_counts().ecs, 1);
}
END_TEST

START_TEST(test_ecs_unmapped)
{
    azr_az_info info;
    md_start("--mode", "ok", "--ecs-az", "us-east-1a");
    env_ecs();
    azr_config *cfg = cfg_of(AZR_MD_ECS, 1000);
    cfg->az_map = test_map;
    cfg->n_az_map = 2;
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA,
                   "ECS reports AZ 'us-east-1a' but [az_map] has no entry "
                   "for it");
    ck_assert_int_eq(info.source, AZR_AZ_SOURCE_ECS);
    /* The name is cached; another configuration can map it. */
    static azr_cfg_az_map_entry more[] = {
        {(char *)"us-east-1a", (char *)"use1-az6", 3}};
    cfg->az_map = more;
    cfg->n_az_map = 1;
    resolve(cfg, NULL, &info);
    assert_known(&info, "use1-az6", AZR_AZ_SOURCE_ECS);
    ck_assert_uint_eq(md_counts().ecs, 1);
}
END_TEST

START_TEST(test_ecs_faults)
{
    azr_az_info info;
    md_start("--mode", "badshape");
    env_ecs();
    azr_config *cfg = cfg_of(AZR_MD_ECS, 300);
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "is not an AZ name");
    md_mode("missing");
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "no \"AvailabilityZone\" field");
    md_mode("malformed");
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "not valid JSON");
    ck_assert_msg(strstr(info.reason, "/v4/0123-task/task"), "%s",
                  info.reason);
    setenv("ECS_CONTAINER_METADATA_URI_V4", "file:///etc/passwd", 1);
    resolve(cfg, NULL, &info);
    assert_unknown(&info, AZR_E_METADATA, "not a plain http:// URL");
}
END_TEST

/* The same, with the configuration parsed from text by the loader. */
START_TEST(test_ecs_config_text)
{
    azr_az_info info;
    md_start("--mode", "ok", "--ecs-az", "ap-northeast-1d");
    env_ecs();
    const char *text =
        "[metadata]\nsource = ecs\ntimeout_ms = 500\n\n"
        "[az_map]\nap-northeast-1a = apne1-az4\nap-northeast-1d = apne1-az2\n\n"
        "[node a]\nhost = 127.0.0.1\nport = 6379\naz = ap-northeast-1a\n"
        "role = primary\n";
    azr_config *cfg = NULL;
    char err[AZR_ERRBUF_SIZE] = "";
    ck_assert_msg(azr__config_load_string(text, "ecs.ini", &cfg, err,
                                          sizeof err) == AZR_OK,
                  "load: %s", err);
    ck_assert_int_eq(cfg->md_source, AZR_MD_ECS);
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az2", AZR_AZ_SOURCE_ECS);
    azr__config_free(cfg);
}
END_TEST

/* ---- concurrency ---------------------------------------------------------- */

#define N_THREADS 8
static pthread_barrier_t barrier;
static azr_az_info thread_info[N_THREADS];

static void *resolver(void *arg)
{
    azr_az_info *info = arg;
    azr_md_request req = {.cfg = &test_cfg, .override_az_id = NULL};
    pthread_barrier_wait(&barrier);
    azr__md_resolve(&req, info);
    return NULL;
}

static void run_threads(void)
{
    pthread_t t[N_THREADS];
    pthread_barrier_init(&barrier, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, resolver,
                                        &thread_info[i]), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
}

START_TEST(test_concurrent_first_call)
{
    md_start("--mode", "ok", "--delay-ms", "150");
    env_lambda(LAMBDA_TOKEN);
    cfg_of(AZR_MD_LAMBDA, 1000);
    run_threads();
    int fetched = 0;
    for (int i = 0; i < N_THREADS; i++) {
        assert_known(&thread_info[i], "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
        fetched += !thread_info[i].from_cache;
    }
    ck_assert_int_eq(fetched, 1);
    ck_assert_uint_eq(md_counts().total, 1);
}
END_TEST

START_TEST(test_concurrent_first_call_failure_shared)
{
    md_start("--mode", "500", "--delay-ms", "100");
    env_lambda(LAMBDA_TOKEN);
    cfg_of(AZR_MD_LAMBDA, 1000);
    run_threads();
    for (int i = 0; i < N_THREADS; i++)
        assert_unknown(&thread_info[i], AZR_E_METADATA, "HTTP 500");
    /* one fetch (with its one retry) for all eight */
    ck_assert_uint_eq(md_counts().total, 2);
}
END_TEST

START_TEST(test_concurrent_imds)
{
    md_start("--mode", "ok", "--delay-ms", "100");
    env_imds();
    cfg_of(AZR_MD_IMDS, 1000);
    run_threads();
    for (int i = 0; i < N_THREADS; i++)
        assert_known(&thread_info[i], "apne1-az4", AZR_AZ_SOURCE_IMDS);
    assert_imds_requests(1, 1);
}
END_TEST

/* A child forked while another thread fetches neither deadlocks nor waits
 * for a fetch that no thread of its own will finish; it keeps what the
 * parent had already learned. */
static void *fetch_in_background(void *arg)
{
    (void)arg;
    azr_md_request req = {.cfg = &test_cfg, .override_az_id = NULL};
    azr__md_resolve(&req, &thread_info[0]);
    return NULL;
}

START_TEST(test_fork_during_fetch)
{
    md_start("--mode", "ok", "--delay-ms", "300");
    env_lambda(LAMBDA_TOKEN);
    cfg_of(AZR_MD_LAMBDA, 2000);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fetch_in_background, NULL), 0);
    usleep(100000); /* the fetch is in flight */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        azr_az_info info;
        azr_md_request req = {.cfg = &test_cfg, .override_az_id = NULL};
        azr__md_resolve(&req, &info);
        _exit(info.known && !info.from_cache ? 0 : 1);
    }
    int st = 0;
    for (int i = 0; i < 300 && waitpid(pid, &st, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ck_abort_msg("the forked child hung");
    }
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pthread_join(t, NULL);
    assert_known(&thread_info[0], "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_uint_eq(md_counts().lambda, 2);

    /* A child forked after the answer is kept uses it. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        azr_az_info info;
        azr_md_request req = {.cfg = &test_cfg, .override_az_id = NULL};
        azr__md_resolve(&req, &info);
        _exit(info.known && info.from_cache ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_uint_eq(md_counts().lambda, 2);
}
END_TEST

/* ---- file cache ------------------------------------------------------------ */

static char cache_dir[64];
static char cache_path[128];

static void make_cache_dir(void)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/azr-mdcache-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(cache_dir));
    snprintf(cache_path, sizeof cache_path, "%s/az.cache", cache_dir);
}

static void remove_cache_dir(void)
{
    unlink(cache_path);
    rmdir(cache_dir);
}

/* The Lambda test server, and a Lambda configuration with the file cache
 * in a new directory (remove_cache_dir() at the end). */
static azr_config *lambda_with_cache_file(void)
{
    make_cache_dir();
    md_start("--mode", "ok");
    env_lambda(LAMBDA_TOKEN);
    azr_config *cfg = cfg_of(AZR_MD_LAMBDA, 1000);
    cfg->md_cache_file = cache_path;
    return cfg;
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Resolves in a child process (a separate "process lifetime"). */
static void resolve_in_child(azr_config *cfg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        azr_az_info info;
        azr_md_request req = {.cfg = cfg, .override_az_id = NULL};
        azr__md_resolve(&req, &info);
        _exit(info.known ? 0 : 1);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(test_file_cache)
{
    azr_az_info info;
    azr_config *cfg = lambda_with_cache_file();

    resolve_in_child(cfg);
    ck_assert_uint_eq(md_counts().lambda, 1);
    struct stat st;
    ck_assert_int_eq(stat(cache_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    const char *text = slurp(cache_path);
    ck_assert_msg(strstr(text, LAMBDA_TOKEN) == NULL, "token in the file");
    ck_assert(strstr(text, "value apne1-az4\n"));

    /* This process has an empty memory cache: the file answers. */
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.from_cache, 1);
    ck_assert_int_gt(info.expires_in_s, 43000);
    ck_assert_uint_eq(md_counts().lambda, 1);

    /* After an invalidate, the file written before it is stale. */
    azr_invalidate_az();
    resolve(cfg, NULL, &info);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.from_cache, 0);
    ck_assert_uint_eq(md_counts().lambda, 2);
    remove_cache_dir();
}
END_TEST

static void write_cache_file(const char *key, const char *value,
                             long expires_in, mode_t mode)
{
    FILE *f = fopen(cache_path, "w");
    ck_assert_ptr_nonnull(f);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(f,
            "azroute-az-cache 1\nkey %s\nvalue %s\nfetched_at_ns %lld\n"
            "expires_at %lld\nfetch_ms 1.000\n",
            key, value, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
            (long long)(time(NULL) + expires_in));
    fclose(f);
    chmod(cache_path, mode);
}

START_TEST(test_file_cache_untrusted)
{
    azr_az_info info;
    azr_config *cfg = lambda_with_cache_file();
    char key[64];
    snprintf(key, sizeof key, "lambda 127.0.0.1:%u", md_port);

    /* A good file is used ... */
    write_cache_file(key, "use1-az1", 100, 0600);
    resolve(cfg, NULL, &info);
    assert_known(&info, "use1-az1", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_int_eq(info.from_cache, 1);
    ck_assert_uint_eq(md_counts().lambda, 0);

    /* ... but not a group/world-accessible one, an expired one, or one for
     * another endpoint (key NULL: this endpoint's): each time the server
     * is asked instead. */
    static const struct {
        const char *key;
        long expires_in;
        mode_t mode;
    } ignored[] = {
        {NULL, 100, 0644},
        {NULL, -5, 0600},
        {"lambda 127.0.0.1:1", 100, 0600},
    };
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
        azr_invalidate_az();
        usleep(2000);
        write_cache_file(ignored[i].key ? ignored[i].key : key, "use1-az2",
                         ignored[i].expires_in, ignored[i].mode);
        resolve(cfg, NULL, &info);
        assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
        ck_assert_uint_eq(md_counts().lambda, i + 1);
    }
    remove_cache_dir();
}
END_TEST

/* ---- through the public API -------------------------------------------------- */

typedef struct log_capture {
    pthread_mutex_t lock;
    char text[8192];
    int lines;
} log_capture;

static void capture_log(void *ud, azr_log_level level, const char *msg)
{
    log_capture *lc = ud;
    (void)level;
    pthread_mutex_lock(&lc->lock);
    size_t have = strlen(lc->text);
    snprintf(lc->text + have, sizeof lc->text - have, "%s\n", msg);
    lc->lines++;
    pthread_mutex_unlock(&lc->lock);
}

/* azr_open logs the failure once (without the token), keeps routing and
 * reports the reason through azr_az_info_get. */
START_TEST(test_open_logs_without_token)
{
    const char *plugins = getenv("AZROUTE_PLUGIN_DIR");
    if (!plugins || access(plugins, R_OK) != 0)
        return; /* run by `make check` only */
    make_cache_dir();
    md_start("--mode", "ok");
    env_lambda("bad-" LAMBDA_TOKEN);
    FILE *f = fopen(cache_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "[azroute]\npolicy = same_az\n\n"
            "[metadata]\nsource = lambda\ntimeout_ms = 500\n\n"
            "[node a]\nhost = 127.0.0.1\nport = 6379\naz = apne1-az4\n"
            "role = primary\n");
    fclose(f);
    log_capture lc = {.lock = PTHREAD_MUTEX_INITIALIZER};
    azr_open_options o = {0};
    o.struct_size = sizeof o;
    o.log = capture_log;
    o.log_userdata = &lc;
    o.log_level = AZR_LOG_DEBUG;
    azr_ctx *ctx = NULL;
    char err[AZR_ERRBUF_SIZE] = "";
    azr_code rc = azr_open_ex(&ctx, cache_path, &o, err);
    ck_assert_msg(rc == AZR_OK, "open: %s", err);
    azr_az_info info;
    ck_assert_int_eq(azr_az_info_get(ctx, &info), AZR_OK);
    assert_unknown(&info, AZR_E_METADATA_AUTH, "HTTP 401");
    size_t node;
    ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &node), AZR_OK);
    ck_assert_msg(strstr(lc.text, "HTTP 401"), "not logged: %s", lc.text);
    ck_assert_msg(strstr(lc.text, LAMBDA_TOKEN) == NULL, "token logged");

    /* refresh with the right token: the failure was not cached */
    setenv("AWS_LAMBDA_METADATA_TOKEN", LAMBDA_TOKEN, 1);
    ck_assert_int_eq(azr_refresh_az(ctx), AZR_OK);
    ck_assert_int_eq(azr_az_info_get(ctx, &info), AZR_OK);
    assert_known(&info, "apne1-az4", AZR_AZ_SOURCE_LAMBDA);
    ck_assert_msg(strstr(lc.text, LAMBDA_TOKEN) == NULL, "token logged");
    azr_close(ctx);
    ck_assert_uint_eq(md_counts().lambda, 2);
    remove_cache_dir();
}
END_TEST

/* A test case of `s`, each test in its own fixture, at most 20 s each. */
static TCase *add_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *metadata_suite(void)
{
    Suite *s = suite_create("metadata");
    TCase *tc = add_tcase(s, "selection");
    tcase_add_test(tc, test_source_names);
    tcase_add_test(tc, test_override_wins);
    tcase_add_test(tc, test_override_invalid);
    tcase_add_test(tc, test_env_az_id);
    tcase_add_test(tc, test_env_az_id_invalid);
    tcase_add_test(tc, test_env_az_id_empty_ignored);
    tcase_add_test(tc, test_static);
    tcase_add_test(tc, test_none);
    tcase_add_test(tc, test_auto_nothing);
    tcase_add_test(tc, test_auto_prefers_lambda);
    tcase_add_test(tc, test_auto_ecs_before_imds);
    tcase_add_test(tc, test_auto_imds);

    tc = add_tcase(s, "lambda");
    tcase_add_test(tc, test_lambda_ok_and_cached);
    tcase_add_test(tc, test_lambda_wrong_token);
    tcase_add_test(tc, test_lambda_missing_token);
    tcase_add_test(tc, test_lambda_missing_api);
    tcase_add_test(tc, test_lambda_token_reread);
    tcase_add_test(tc, test_lambda_max_age_expiry);
    tcase_add_test(tc, test_lambda_no_store);
    tcase_add_test(tc, test_lambda_invalidate);
    tcase_add_test(tc, test_server_like_lambda);
    tcase_add_loop_test(tc, test_lambda_statuses, 0,
                        sizeof status_cases / sizeof *status_cases);
    tcase_add_loop_test(tc, test_lambda_faults, 0, N_FAULTS);
    tcase_add_test(tc, test_lambda_fault_messages_distinct);
    tcase_add_test(tc, test_lambda_retry_5xx_once);

    tc = add_tcase(s, "imds");
    tcase_add_test(tc, test_imds_token_flow);
    tcase_add_test(tc, test_imds_token_ttl);
    tcase_add_test(tc, test_imds_401_refreshes_token_once);
    tcase_add_test(tc, test_imds_401_twice_fails);
    tcase_add_test(tc, test_imds_disabled);
    tcase_add_test(tc, test_imds_bad_endpoint);
    tcase_add_loop_test(tc, test_imds_faults, 0,
                        sizeof imds_faults / sizeof *imds_faults);
    tcase_add_test(tc, test_imds_deadline_covers_put_and_get);

    tc = add_tcase(s, "ecs");
    tcase_add_test(tc, test_ecs_mapped);
    tcase_add_test(tc, test_ecs_unmapped);
    tcase_add_test(tc, test_ecs_faults);
    tcase_add_test(tc, test_ecs_config_text);

    tc = add_tcase(s, "cache");
    tcase_add_test(tc, test_concurrent_first_call);
    tcase_add_test(tc, test_concurrent_first_call_failure_shared);
    tcase_add_test(tc, test_concurrent_imds);
    tcase_add_test(tc, test_fork_during_fetch);
    tcase_add_test(tc, test_file_cache);
    tcase_add_test(tc, test_file_cache_untrusted);
    tcase_add_test(tc, test_open_logs_without_token);
    return s;
}

int main(void)
{
    /* Whatever the caller's environment, never reach a real endpoint. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(metadata_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
