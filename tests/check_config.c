/*
 * check_config.c - azroute.ini and nodes_env (lib/config/).
 *
 *  - tests/config/bad/NAME.ini: every file starts with
 *        ; expect: FILE:LINE: message
 *    (FILE stands for the path) and optionally
 *        ; env: NAME=VALUE
 *    and must fail to load with exactly that message.
 *  - tests/config/good/NAME.ini: loaded and their values asserted one by
 *    one.
 *  - conf/azroute.ini (the installed sample) must load.
 *  - allocation failures are injected at every allocation of a load
 *    (malloc & co. are wrapped with ld --wrap, see tests/config.am): each
 *    must give AZR_E_NOMEM and leave nothing allocated.
 *  - random mutations of valid files must never crash or misreport.
 *
 * Fixtures are found under $AZR_TEST_SRCDIR (default ".").
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

/* By folder: a plain "config.h" would find autoconf's header in the build
 * directory first. */
#include "config/config_priv.h"
#include "config/decimal.h"

/* ------------------------------------------------------------------ */
/* allocation wrappers (ld --wrap)                                     */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);
void __real_free(void *ptr);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void __wrap_free(void *ptr);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t max);

/* While `counting`, allocations are numbered from 0, the one numbered
 * `fail_at` fails, and `live` tracks blocks allocated minus freed. */
static int counting;
static long fail_at = -1;
static long n_allocs;
static long live;

static int inject(void)
{
    return counting && n_allocs++ == fail_at;
}

void *__wrap_malloc(size_t size)
{
    void *p;
    if (inject())
        return NULL;
    p = __real_malloc(size);
    if (p != NULL && counting)
        live++;
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;
    if (inject())
        return NULL;
    p = __real_calloc(n, size);
    if (p != NULL && counting)
        live++;
    return p;
}

void *__wrap_realloc(void *ptr, size_t size)
{
    void *p;
    if (inject())
        return NULL;
    p = __real_realloc(ptr, size);
    if (p != NULL && ptr == NULL && counting)
        live++;
    return p;
}

void __wrap_free(void *ptr)
{
    if (ptr != NULL && counting)
        live--;
    __real_free(ptr);
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = __wrap_malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

char *__wrap_strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = __wrap_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static const char *srcdir(void)
{
    const char *d = getenv("AZR_TEST_SRCDIR");
    return d != NULL && *d != '\0' ? d : ".";
}

static char *path_of(const char *rel)
{
    char *p;
    /* Also used outside tests (main), so no ck_assert here. */
    if (asprintf(&p, "%s/%s", srcdir(), rel) == -1)
        abort();
    return p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Loads tests/config/good/NAME and fails the test if it does not load. */
static azr_config *load_good(const char *name)
{
    char rel[256], err[AZR_ERRBUF_SIZE] = "";
    azr_config *cfg = NULL;
    char *path;
    azr_code rc;

    snprintf(rel, sizeof rel, "tests/config/good/%s", name);
    path = path_of(rel);
    rc = azr__config_load(path, &cfg, err, sizeof err);
    ck_assert_msg(rc == AZR_OK, "%s: rc %d: %s", name, rc, err);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(cfg->path, path);
    free(path);
    return cfg;
}

/* Loads `text` and expects failure with exactly "T.ini" + `expect`. */
static void expect_string_error(const char *text, azr_code code,
                                const char *expect)
{
    char err[AZR_ERRBUF_SIZE] = "", full[AZR_ERRBUF_SIZE];
    azr_config *cfg = (azr_config *)&cfg; /* must be reset to NULL */
    azr_code rc = azr__config_load_string(text, "T.ini", &cfg, err,
                                          sizeof err);
    snprintf(full, sizeof full, "T.ini%s", expect);
    ck_assert_msg(rc == code, "rc %d, want %d (%s)", rc, code, err);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, full);
}

static azr_config *load_string_ok(const char *text)
{
    char err[AZR_ERRBUF_SIZE] = "";
    azr_config *cfg = NULL;
    azr_code rc = azr__config_load_string(text, "T.ini", &cfg, err,
                                          sizeof err);
    ck_assert_msg(rc == AZR_OK, "rc %d: %s", rc, err);
    return cfg;
}

static const azr_cfg_node *node_by_id(const azr_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_nodes; i++)
        if (strcmp(cfg->nodes[i].id, id) == 0)
            return &cfg->nodes[i];
    ck_abort_msg("no node '%s'", id);
    return NULL;
}

static const char *option(azr_cfg_plugin_section *s, const char *key,
                          unsigned *line)
{
    for (size_t i = 0; i < s->n_options; i++) {
        if (strcmp(s->options[i].key, key) == 0) {
            if (line != NULL)
                *line = s->options[i].line;
            return s->options[i].value;
        }
    }
    return NULL;
}

#define ONE_NODE \
    "[node a]\nhost = 127.0.0.1\nport = 6379\naz_id = apne1-az4\n" \
    "role = primary\n"

/* ------------------------------------------------------------------ */
/* the bad corpus                                                      */

static char **bad_files;
static size_t n_bad_files;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the .ini files of tests/config/bad (sorted) before the suite is built, so that
 * each file is its own loop iteration. */
static void scan_bad_dir(void)
{
    char *dir = path_of("tests/config/bad");
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL) {
        fprintf(stderr, "check_config: cannot open %s: %s\n", dir,
                strerror(errno));
        free(dir);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".ini") == 0) {
            bad_files = realloc(bad_files,
                                (n_bad_files + 1) * sizeof *bad_files);
            if (bad_files == NULL)
                abort();
            bad_files[n_bad_files++] = strdup(e->d_name);
        }
    }
    closedir(d);
    free(dir);
    qsort(bad_files, n_bad_files, sizeof *bad_files, cmp_str);
}

START_TEST(test_bad_corpus_size)
{
    /* At least 30 distinct malformed files, each of them distributed. */
    char *am_path = path_of("tests/config.am");
    char *am = slurp(am_path);

    ck_assert_uint_ge(n_bad_files, 30);
    for (size_t i = 0; i < n_bad_files; i++) {
        char entry[300];
        snprintf(entry, sizeof entry, "tests/config/bad/%s", bad_files[i]);
        ck_assert_msg(strstr(am, entry) != NULL,
                      "%s is not listed in tests/config.am", entry);
    }
    free(am);
    free(am_path);
}
END_TEST

START_TEST(test_bad_fixture)
{
    const char *name = bad_files[_i];
    char rel[300], expect[AZR_ERRBUF_SIZE], want[2 * AZR_ERRBUF_SIZE];
    char err[AZR_ERRBUF_SIZE] = "", env_name[128] = "";
    char *path, *text, *line, *next;
    azr_config *cfg = NULL;
    azr_code rc;

    snprintf(rel, sizeof rel, "tests/config/bad/%s", name);
    path = path_of(rel);
    text = slurp(path);

    /* Header comments. */
    expect[0] = '\0';
    unsetenv("AZR_TEST_NODES");
    unsetenv("AZR_TEST_UNSET_NODES");
    for (line = text; line != NULL && *line == ';'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, "; expect: ", 10) == 0) {
            snprintf(expect, sizeof expect, "%s", line + 10);
        } else if (strncmp(line, "; env: ", 7) == 0) {
            char *eq = strchr(line + 7, '=');
            ck_assert_ptr_nonnull(eq);
            *eq = '\0';
            snprintf(env_name, sizeof env_name, "%s", line + 7);
            ck_assert_int_eq(setenv(env_name, eq + 1, 1), 0);
        }
    }
    ck_assert_msg(strncmp(expect, "FILE", 4) == 0,
                  "%s: no '; expect: FILE...' line", name);
    snprintf(want, sizeof want, "%s%s", path, expect + 4);

    rc = azr__config_load(path, &cfg, err, sizeof err);
    ck_assert_msg(rc == AZR_E_CONFIG, "%s: rc %d (%s)", name, rc, err);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, want);

    if (env_name[0] != '\0')
        unsetenv(env_name);
    free(text);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------ */
/* good files                                                          */

START_TEST(test_good_defaults)
{
    azr_config *cfg = load_good("defaults.ini");
    const azr_cfg_node *n;

    ck_assert_uint_eq(cfg->n_policy, 3);
    ck_assert_str_eq(cfg->policy[0], "failover");
    ck_assert_str_eq(cfg->policy[1], "same_az");
    ck_assert_str_eq(cfg->policy[2], "weighted_latency");
    ck_assert_uint_eq(cfg->policy_line, 0);
    ck_assert_ptr_null(cfg->transport);
    ck_assert_uint_eq(cfg->transport_line, 0);
    ck_assert_ptr_null(cfg->plugin_dir);
    ck_assert_ptr_null(cfg->nodes_env);
    ck_assert_uint_eq(cfg->max_attempts, 3);
    ck_assert_int_eq(cfg->md_source, AZR_MD_AUTO);
    ck_assert_ptr_null(cfg->md_az_id);
    ck_assert_uint_eq(cfg->md_timeout_ms, 1000);
    ck_assert_ptr_null(cfg->md_cache_file);
    ck_assert_uint_eq(cfg->md_line, 0);
    ck_assert_uint_eq(cfg->n_az_map, 0);
    ck_assert_uint_eq(cfg->n_sections, 0);
    ck_assert_uint_eq(cfg->n_nodes, 1);
    n = &cfg->nodes[0];
    ck_assert_str_eq(n->id, "only");
    ck_assert_str_eq(n->host, "127.0.0.1");
    ck_assert_uint_eq(n->port, 6379);
    ck_assert_str_eq(n->az_id, "apne1-az4");
    ck_assert_ptr_null(n->az_name);
    ck_assert_int_eq(n->role, AZR_ROLE_PRIMARY);
    ck_assert_uint_eq(n->weight, 1);
    ck_assert_uint_eq(n->priority, 0);
    ck_assert_uint_eq(n->line, 2);
    ck_assert_int_eq(n->has_role, 1);
    /* no [topology]: static, the discovery settings at their defaults */
    ck_assert_int_eq(cfg->topo_mode, AZR_TOPO_STATIC);
    ck_assert_uint_eq(cfg->topo_line, 0);
    ck_assert_ptr_null(cfg->seeds);
    ck_assert_uint_eq(cfg->n_seeds, 0);
    ck_assert_uint_eq(cfg->refresh_ms, 60000);
    ck_assert_uint_eq(cfg->failover_wait_ms, 2000);
    azr__config_free(cfg);
}
END_TEST

START_TEST(test_good_az_map)
{
    azr_config *cfg = load_good("az_map.ini");
    const azr_cfg_node *n;

    ck_assert_uint_eq(cfg->n_az_map, 3);
    ck_assert_str_eq(cfg->az_map[0].name, "ap-northeast-1a");
    ck_assert_str_eq(cfg->az_map[0].id, "apne1-az4");
    ck_assert_uint_eq(cfg->az_map[0].line, 39);
    ck_assert_str_eq(azr__config_map_az(cfg, "ap-northeast-1c"), "apne1-az1");
    ck_assert_ptr_null(azr__config_map_az(cfg, "ap-northeast-1z"));
    ck_assert_ptr_null(azr__config_map_az(cfg, "apne1-az4"));

    ck_assert_uint_eq(cfg->n_nodes, 5);
    /* file order */
    ck_assert_str_eq(cfg->nodes[0].id, "by-name");
    ck_assert_str_eq(cfg->nodes[4].id, "name-not-mapped");

    n = node_by_id(cfg, "by-name"); /* a name, mapped after the node */
    ck_assert_str_eq(n->host, "cache-1.example.internal");
    ck_assert_str_eq(n->az_id, "apne1-az4");
    ck_assert_str_eq(n->az_name, "ap-northeast-1a");
    ck_assert_int_eq(n->role, AZR_ROLE_PRIMARY);
    ck_assert_uint_eq(n->line, 2);

    n = node_by_id(cfg, "by-id"); /* an ID in `az` */
    ck_assert_str_eq(n->az_id, "apne1-az1");
    ck_assert_ptr_null(n->az_name);
    ck_assert_int_eq(n->role, AZR_ROLE_REPLICA);
    ck_assert_uint_eq(n->port, 6380);
    ck_assert_uint_eq(n->weight, 5);
    ck_assert_uint_eq(n->priority, 2);

    n = node_by_id(cfg, "explicit"); /* az_id only, ranges' upper ends */
    ck_assert_str_eq(n->host, "::1");
    ck_assert_str_eq(n->az_id, "usw2-lax1-az1");
    ck_assert_ptr_null(n->az_name);
    ck_assert_uint_eq(n->port, 65535);
    ck_assert_uint_eq(n->weight, 1000000);
    ck_assert_uint_eq(n->priority, 1000);

    n = node_by_id(cfg, "both"); /* name and ID agree */
    ck_assert_str_eq(n->az_id, "apne1-az2");
    ck_assert_str_eq(n->az_name, "ap-northeast-1d");
    ck_assert_uint_eq(n->port, 1);

    n = node_by_id(cfg, "name-not-mapped"); /* az_id wins, name kept */
    ck_assert_str_eq(n->host, "localhost");
    ck_assert_str_eq(n->az_id, "apne1-az9");
    ck_assert_str_eq(n->az_name, "ap-northeast-1z");
    ck_assert_uint_eq(n->line, 31);
    azr__config_free(cfg);
}
END_TEST

START_TEST(test_good_plugins)
{
    azr_config *cfg = load_good("plugins.ini");
    azr_cfg_plugin_section *s;
    unsigned line = 0;

    ck_assert_uint_eq(cfg->n_policy, 4);
    ck_assert_str_eq(cfg->policy[0], "failover");
    ck_assert_str_eq(cfg->policy[1], "same_az");
    ck_assert_str_eq(cfg->policy[2], "/opt/azroute/mine.so");
    ck_assert_str_eq(cfg->policy[3], "weighted_latency");
    ck_assert_uint_eq(cfg->policy_line, 3);
    ck_assert_str_eq(cfg->transport, "resp_tls");
    ck_assert_uint_eq(cfg->transport_line, 4);
    ck_assert_str_eq(cfg->plugin_dir, "/usr/lib/azroute");
    ck_assert_uint_eq(cfg->plugin_dir_line, 5);
    ck_assert_uint_eq(cfg->max_attempts, 16);
    ck_assert_int_eq(cfg->md_source, AZR_MD_IMDS);
    ck_assert_uint_eq(cfg->md_timeout_ms, 60000);
    ck_assert_str_eq(cfg->md_cache_file, "/var/cache/azroute/az_id");
    ck_assert_uint_eq(cfg->md_line, 8);

    ck_assert_uint_eq(cfg->n_sections, 4);
    s = azr__config_section(cfg, AZR_CFG_POLICY, "same_az");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->kind, AZR_CFG_POLICY);
    ck_assert_uint_eq(s->line, 13);
    ck_assert_uint_eq(s->n_options, 2);
    ck_assert_str_eq(option(s, "spill", &line), "2");
    ck_assert_uint_eq(line, 14);
    ck_assert_str_eq(option(s, "roles", &line), "primary,replica");
    ck_assert_uint_eq(line, 15);
    ck_assert_int_eq(s->options[0].read, 0);

    /* A chain entry given by path finds the section by its base name. */
    s = azr__config_section(cfg, AZR_CFG_POLICY, "/opt/azroute/mine.so");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->name, "mine");
    ck_assert_ptr_eq(s, azr__config_section(cfg, AZR_CFG_POLICY, "mine"));
    ck_assert_ptr_null(
        azr__config_section(cfg, AZR_CFG_POLICY, "/x/other.so"));
    ck_assert_str_eq(option(s, "threshold", NULL), "0.5;kept");
    ck_assert_str_eq(option(s, "empty", &line), "");
    ck_assert_uint_eq(line, 18);

    s = azr__config_section(cfg, AZR_CFG_POLICY, "weighted_latency");
    ck_assert_ptr_nonnull(s); /* an empty section is still a section */
    ck_assert_uint_eq(s->n_options, 0);
    ck_assert_ptr_null(azr__config_section(cfg, AZR_CFG_POLICY, "failover"));
    ck_assert_ptr_null(azr__config_section(cfg, AZR_CFG_POLICY, "resp_tls"));

    s = azr__config_section(cfg, AZR_CFG_TRANSPORT, "resp_tls");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->kind, AZR_CFG_TRANSPORT);
    ck_assert_uint_eq(s->n_options, 3);
    ck_assert_str_eq(option(s, "tls", NULL), "yes");
    ck_assert_str_eq(option(s, "ca_file", NULL),
                     "/etc/ssl/certs/ca-certificates.crt");
    ck_assert_str_eq(option(s, "password_env", &line), "AZROUTE_PASSWORD");
    ck_assert_uint_eq(line, 23);
    ck_assert_ptr_null(azr__config_section(cfg, AZR_CFG_TRANSPORT, "same_az"));
    azr__config_free(cfg);
}
END_TEST

START_TEST(test_section_by_path)
{
    /* A section named by path is found by the plugin's plain name too. */
    azr_config *cfg = load_string_ok(
        "[azroute]\npolicy = failover, /opt/p/mine.so\n"
        "[policy /opt/p/mine.so]\nk = v\n" ONE_NODE);
    azr_cfg_plugin_section *s =
        azr__config_section(cfg, AZR_CFG_POLICY, "/opt/p/mine.so");

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(s, azr__config_section(cfg, AZR_CFG_POLICY, "mine"));
    ck_assert_ptr_null(azr__config_section(cfg, AZR_CFG_TRANSPORT, "mine"));
    ck_assert_ptr_null(azr__config_section(cfg, AZR_CFG_POLICY, "failover"));
    ck_assert_ptr_null(azr__config_section(NULL, AZR_CFG_POLICY, "mine"));
    azr__config_free(cfg);
}
END_TEST

START_TEST(test_good_metadata)
{
    azr_config *cfg = load_good("metadata_auto_az_id.ini");
    ck_assert_int_eq(cfg->md_source, AZR_MD_STATIC);
    ck_assert_str_eq(cfg->md_az_id, "use1-az6");
    ck_assert_uint_eq(cfg->md_line, 2);
    azr__config_free(cfg);

    cfg = load_good("metadata_none.ini");
    ck_assert_int_eq(cfg->md_source, AZR_MD_NONE);
    ck_assert_ptr_null(cfg->md_az_id); /* empty means unset */
    ck_assert_uint_eq(cfg->md_timeout_ms, 1);
    ck_assert_uint_eq(cfg->max_attempts, 1);
    ck_assert_uint_eq(cfg->n_policy, 1);
    ck_assert_str_eq(cfg->policy[0], "failover");
    ck_assert_int_eq(cfg->nodes[0].role, AZR_ROLE_REPLICA);
    azr__config_free(cfg);

    /* Every source name. */
    {
        static const char *const names[] = {
            "auto", "lambda", "imds", "ecs", "none"
        };
        static const azr_md_source_kind kinds[] = {
            AZR_MD_AUTO, AZR_MD_LAMBDA, AZR_MD_IMDS, AZR_MD_ECS, AZR_MD_NONE
        };
        for (size_t i = 0; i < 5; i++) {
            char text[512];
            snprintf(text, sizeof text, "[metadata]\nsource = %s\n" ONE_NODE,
                     names[i]);
            cfg = load_string_ok(text);
            ck_assert_int_eq(cfg->md_source, kinds[i]);
            azr__config_free(cfg);
        }
        cfg = load_string_ok("[metadata]\nsource = static\n"
                             "az_id = apne1-az4\n" ONE_NODE);
        ck_assert_int_eq(cfg->md_source, AZR_MD_STATIC);
        ck_assert_str_eq(cfg->md_az_id, "apne1-az4");
        azr__config_free(cfg);
    }
}
END_TEST

START_TEST(test_good_nodes_env)
{
    azr_config *cfg;
    const azr_cfg_node *n;

    ck_assert_int_eq(setenv("AZR_TEST_NODES",
        " n1|10.0.0.1|6379|apne1-az4|ap-northeast-1a|primary ,"
        " n2 | 10.0.0.2 | 6380 | | ap-northeast-1c | replica,"
        "n3|host-3.example|6381||apne1-az2|replica", 1), 0);
    cfg = load_good("nodes_env.ini");
    ck_assert_str_eq(cfg->nodes_env, "AZR_TEST_NODES");
    ck_assert_uint_eq(cfg->nodes_env_line, 3);
    ck_assert_uint_eq(cfg->n_nodes, 3);

    n = &cfg->nodes[0]; /* az_id and az_name: both kept */
    ck_assert_str_eq(n->id, "n1");
    ck_assert_str_eq(n->host, "10.0.0.1");
    ck_assert_uint_eq(n->port, 6379);
    ck_assert_str_eq(n->az_id, "apne1-az4");
    ck_assert_str_eq(n->az_name, "ap-northeast-1a");
    ck_assert_int_eq(n->role, AZR_ROLE_PRIMARY);
    ck_assert_uint_eq(n->weight, 1);
    ck_assert_uint_eq(n->priority, 0);
    ck_assert_uint_eq(n->line, 3);

    n = &cfg->nodes[1]; /* blanks trimmed, name mapped */
    ck_assert_str_eq(n->id, "n2");
    ck_assert_str_eq(n->host, "10.0.0.2");
    ck_assert_uint_eq(n->port, 6380);
    ck_assert_str_eq(n->az_id, "apne1-az1");
    ck_assert_str_eq(n->az_name, "ap-northeast-1c");
    ck_assert_int_eq(n->role, AZR_ROLE_REPLICA);

    n = &cfg->nodes[2]; /* an ID in the az_name field */
    ck_assert_str_eq(n->id, "n3");
    ck_assert_str_eq(n->host, "host-3.example");
    ck_assert_str_eq(n->az_id, "apne1-az2");
    ck_assert_ptr_null(n->az_name);
    azr__config_free(cfg);
    unsetenv("AZR_TEST_NODES");
}
END_TEST

START_TEST(test_good_mixed)
{
    azr_config *cfg;

    ck_assert_int_eq(setenv("AZR_TEST_NODES",
        "env-1|127.0.0.1|7001|apne1-az1||replica,"
        "env-2|127.0.0.1|7002||ap-northeast-1a|replica", 1), 0);
    cfg = load_good("mixed.ini");
    ck_assert_uint_eq(cfg->n_nodes, 3);
    /* sections first, then the variable's entries */
    ck_assert_str_eq(cfg->nodes[0].id, "file-1");
    ck_assert_uint_eq(cfg->nodes[0].line, 6);
    ck_assert_uint_eq(cfg->nodes[0].weight, 3);
    ck_assert_str_eq(cfg->nodes[0].az_name, "ap-northeast-1a");
    ck_assert_str_eq(cfg->nodes[1].id, "env-1");
    ck_assert_uint_eq(cfg->nodes[1].port, 7001);
    ck_assert_uint_eq(cfg->nodes[1].line, 4);
    ck_assert_str_eq(cfg->nodes[2].id, "env-2");
    ck_assert_str_eq(cfg->nodes[2].az_id, "apne1-az4");
    azr__config_free(cfg);

    /* Duplicate across both (also in the bad corpus, here via the API). */
    ck_assert_int_eq(setenv("AZR_TEST_NODES",
        "file-1|127.0.0.1|7001|apne1-az1||replica", 1), 0);
    {
        char *path = path_of("tests/config/good/mixed.ini");
        char err[AZR_ERRBUF_SIZE], want[AZR_ERRBUF_SIZE];
        azr_config *c2 = NULL;
        ck_assert_int_eq(azr__config_load(path, &c2, err, sizeof err),
                         AZR_E_CONFIG);
        snprintf(want, sizeof want,
                 "%s:4: nodes_env AZR_TEST_NODES entry 1: duplicate node "
                 "id 'file-1' (first defined at line 6)", path);
        ck_assert_str_eq(err, want);
        free(path);
    }
    unsetenv("AZR_TEST_NODES");
}
END_TEST

START_TEST(test_sample_conf)
{
    char *path = path_of("conf/azroute.ini");
    char err[AZR_ERRBUF_SIZE] = "";
    azr_config *cfg = NULL;
    azr_code rc = azr__config_load(path, &cfg, err, sizeof err);

    ck_assert_msg(rc == AZR_OK, "%s", err);
    ck_assert_uint_eq(cfg->n_policy, 3);
    ck_assert_str_eq(cfg->policy[0], "failover");
    ck_assert_str_eq(cfg->policy[1], "same_az");
    ck_assert_str_eq(cfg->policy[2], "weighted_latency");
    ck_assert_ptr_null(cfg->transport);
    ck_assert_int_eq(cfg->md_source, AZR_MD_STATIC);
    ck_assert_str_eq(cfg->md_az_id, "apne1-az4");
    ck_assert_uint_eq(cfg->n_az_map, 3);
    ck_assert_uint_eq(cfg->n_nodes, 3);
    ck_assert_str_eq(cfg->nodes[0].az_id, "apne1-az4");
    ck_assert_int_eq(cfg->nodes[0].role, AZR_ROLE_PRIMARY);
    ck_assert_uint_eq(cfg->nodes[0].port, 6379);
    ck_assert_str_eq(cfg->nodes[1].az_id, "apne1-az1");
    ck_assert_int_eq(cfg->nodes[1].role, AZR_ROLE_REPLICA);
    ck_assert_uint_eq(cfg->nodes[1].port, 6380);
    ck_assert_str_eq(cfg->nodes[2].az_id, "apne1-az2");
    ck_assert_int_eq(cfg->nodes[2].role, AZR_ROLE_REPLICA);
    ck_assert_uint_eq(cfg->nodes[2].port, 6381);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(cfg->nodes[i].host, "127.0.0.1");
    azr__config_free(cfg);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------ */
/* [topology]                                                          */

START_TEST(test_good_topology)
{
    azr_config *cfg = load_good("topology.ini");
    const azr_cfg_node *n;

    ck_assert_int_eq(cfg->topo_mode, AZR_TOPO_REPLICATION);
    ck_assert_uint_eq(cfg->topo_line, 7);
    ck_assert_uint_eq(cfg->refresh_ms, 30000);
    ck_assert_uint_eq(cfg->failover_wait_ms, 5000);
    ck_assert_uint_eq(cfg->n_seeds, 4);
    ck_assert_str_eq(cfg->seeds[0].host, "master.cache.example");
    ck_assert_uint_eq(cfg->seeds[0].port, 6379); /* the default */
    ck_assert_str_eq(cfg->seeds[1].host, "replica-1.cache.example");
    ck_assert_uint_eq(cfg->seeds[1].port, 6380);
    ck_assert_str_eq(cfg->seeds[2].host, "2001:db8::7"); /* no brackets */
    ck_assert_uint_eq(cfg->seeds[2].port, 6381);
    ck_assert_str_eq(cfg->seeds[3].host, "fe80::1%eth0");
    ck_assert_uint_eq(cfg->seeds[3].port, 6379);

    ck_assert_uint_eq(cfg->n_nodes, 2);
    n = node_by_id(cfg, "cache-001"); /* an AZ hint, through [az_map] */
    ck_assert_str_eq(n->host, "master.cache.example");
    ck_assert_str_eq(n->az_id, "apne1-az4");
    ck_assert_str_eq(n->az_name, "ap-northeast-1a");
    ck_assert_int_eq(n->has_role, 0);
    ck_assert_uint_eq(n->weight, 2);
    n = node_by_id(cfg, "cache-002"); /* no AZ hint */
    ck_assert_uint_eq(n->port, 6380);
    ck_assert_ptr_null(n->az_id);
    ck_assert_ptr_null(n->az_name);
    ck_assert_int_eq(n->has_role, 0);
    ck_assert_uint_eq(n->priority, 1);
    azr__config_free(cfg);
}
END_TEST

static const char *host_253(char buf[254]);

#define TOPO_HEAD "[azroute]\ntransport = resp_tls\n[topology]\n"

START_TEST(test_topology_modes)
{
    azr_config *cfg;

    /* mode = static written out: today's rules, and the same node */
    cfg = load_string_ok("[topology]\nmode = static\n" ONE_NODE);
    ck_assert_int_eq(cfg->topo_mode, AZR_TOPO_STATIC);
    ck_assert_uint_eq(cfg->topo_line, 1);
    ck_assert_uint_eq(cfg->n_seeds, 0);
    ck_assert_str_eq(cfg->nodes[0].az_id, "apne1-az4");
    ck_assert_int_eq(cfg->nodes[0].role, AZR_ROLE_PRIMARY);
    ck_assert_int_eq(cfg->nodes[0].has_role, 1);
    azr__config_free(cfg);

    /* cluster: accepted by the loader (the context decides about it) */
    cfg = load_string_ok(TOPO_HEAD "mode = cluster\nseeds = cfg.example\n"
                         "refresh_ms = 0\nfailover_wait_ms = 0\n");
    ck_assert_int_eq(cfg->topo_mode, AZR_TOPO_CLUSTER);
    ck_assert_uint_eq(cfg->topo_line, 3);
    ck_assert_uint_eq(cfg->n_nodes, 0);
    ck_assert_uint_eq(cfg->refresh_ms, 0);
    ck_assert_uint_eq(cfg->failover_wait_ms, 0);
    azr__config_free(cfg);

    /* the upper bounds; [node] hints alone, az_id or an ID in az */
    cfg = load_string_ok(TOPO_HEAD "mode = replication\n"
                         "refresh_ms = 86400000\nfailover_wait_ms = 60000\n"
                         "[node a]\nhost = 10.0.0.1\nport = 6379\n"
                         "[node b]\nhost = 10.0.0.2\nport = 6379\n"
                         "az = use1-az1\n"
                         "[node c]\nhost = 10.0.0.3\nport = 6379\n"
                         "az_id = use1-az2\n");
    ck_assert_uint_eq(cfg->refresh_ms, 86400000);
    ck_assert_uint_eq(cfg->failover_wait_ms, 60000);
    ck_assert_uint_eq(cfg->n_seeds, 0);
    ck_assert_ptr_null(cfg->nodes[0].az_id);
    ck_assert_str_eq(cfg->nodes[1].az_id, "use1-az1");
    ck_assert_ptr_null(cfg->nodes[1].az_name);
    ck_assert_str_eq(cfg->nodes[2].az_id, "use1-az2");
    azr__config_free(cfg);

    /* the static rules stay exactly as they were */
    expect_string_error("[node a]\nhost = h\nport = 1\nrole = primary\n",
                        AZR_E_CONFIG, ":1: [node a]: missing key 'az' (or "
                                      "'az_id')");
    expect_string_error("[topology]\nmode = static\n", AZR_E_CONFIG,
                        ": no nodes configured ([node NAME] sections or "
                        "nodes_env)");
    /* the earliest line wins between the mode's checks */
    expect_string_error("[node a]\nhost = h\nport = 1\nrole = primary\n"
                        "[topology]\nmode = cluster\n", AZR_E_CONFIG,
                        ":4: [node a]: role is learned from the servers in "
                        "mode = cluster; remove it");
}
END_TEST

START_TEST(test_topology_seeds)
{
    static const struct {
        const char *seeds;
        const char *host;
        unsigned port;
    } ok[] = {
        { "h", "h", 6379 },
        { "  h.example:1  ", "h.example", 1 },
        { "10.0.0.1:65535", "10.0.0.1", 65535 },
        { "[::1]", "::1", 6379 },
        { "[::1]:7000", "::1", 7000 },
        { "cache_1-a.example", "cache_1-a.example", 6379 },
    };
    char text[512];
    azr_config *cfg;

    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        snprintf(text, sizeof text, TOPO_HEAD "mode = replication\n"
                 "seeds = %s\n", ok[i].seeds);
        cfg = load_string_ok(text);
        ck_assert_uint_eq(cfg->n_seeds, 1);
        ck_assert_str_eq(cfg->seeds[0].host, ok[i].host);
        ck_assert_uint_eq(cfg->seeds[0].port, ok[i].port);
        azr__config_free(cfg);
    }
    /* same host, other port: two seeds; a host of 253 characters */
    {
        char host[254];
        snprintf(text, sizeof text, TOPO_HEAD "mode = replication\n"
                 "seeds = a:1,a:2 , %s:3\n", host_253(host));
        cfg = load_string_ok(text);
        ck_assert_uint_eq(cfg->n_seeds, 3);
        ck_assert_uint_eq(cfg->seeds[1].port, 2);
        ck_assert_str_eq(cfg->seeds[2].host, host);
        azr__config_free(cfg);
        /* 254 characters: the host rule refuses it */
        snprintf(text, sizeof text, TOPO_HEAD "mode = replication\n"
                 "seeds = x%s\n", host);
        cfg = (azr_config *)&cfg;
        ck_assert_int_eq(azr__config_load_string(text, "T.ini", &cfg, NULL,
                                                 0), AZR_E_CONFIG);
        ck_assert_ptr_null(cfg);
    }
    expect_string_error(TOPO_HEAD "mode = replication\nseeds = a]:1\n",
                        AZR_E_CONFIG, ":5: bad seed 'a]:1' (bad host)");
    expect_string_error(TOPO_HEAD "mode = replication\nseeds = []:1\n",
                        AZR_E_CONFIG, ":5: bad seed '[]:1' (expected host, "
                        "host:port or [IPv6 address]:port)");
    expect_string_error(TOPO_HEAD "mode = replication\nseeds = [::1]x\n",
                        AZR_E_CONFIG, ":5: bad seed '[::1]x' (expected host, "
                        "host:port or [IPv6 address]:port)");
    expect_string_error(TOPO_HEAD "mode = replication\nseeds = h:+1\n",
                        AZR_E_CONFIG, ":5: bad seed 'h:+1' (bad port '+1', "
                        "expected 1..65535)");
    expect_string_error(TOPO_HEAD "mode = replication\nseeds = ,\n",
                        AZR_E_CONFIG, ":5: seeds: empty entry 1");
    /* an entry longer than any host is cut before it is looked at */
    memset(text, 0, sizeof text);
    memcpy(text, TOPO_HEAD "mode = replication\nseeds = a,",
           strlen(TOPO_HEAD "mode = replication\nseeds = a,"));
    memset(text + strlen(text), 'b', 400);
    strcat(text, ":1\n");
    expect_string_error(text, AZR_E_CONFIG,
                        ":5: bad seed 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                        "bbbbbbbb...' (bad host)");
}
END_TEST

START_TEST(test_topology_too_many_seeds)
{
    size_t cap = 64 + (AZR_MAX_NODES + 1) * 8;
    char *text = malloc(cap), *p = text;
    azr_config *cfg;

    ck_assert_ptr_nonnull(text);
    p += sprintf(p, TOPO_HEAD "mode = cluster\nseeds = h:1");
    for (int i = 2; i <= AZR_MAX_NODES; i++)
        p += sprintf(p, ",h:%d", i);
    strcpy(p, "\n");
    cfg = load_string_ok(text);
    ck_assert_uint_eq(cfg->n_seeds, AZR_MAX_NODES);
    ck_assert_uint_eq(cfg->seeds[AZR_MAX_NODES - 1].port, AZR_MAX_NODES);
    azr__config_free(cfg);
    strcpy(p, ",h:9999\n");
    expect_string_error(text, AZR_E_CONFIG, ":5: too many seeds (max 1024)");
    free(text);
}
END_TEST

START_TEST(test_topology_nodes_env)
{
    azr_config *cfg;
    const azr_cfg_node *n;

    /* Hints: no AZ, an ID, a mapped name; the role field empty. */
    ck_assert_int_eq(setenv("AZR_TEST_NODES",
        "n1|10.0.0.1|6379|||, n2|10.0.0.2|6379|apne1-az4|| ,"
        "n3|10.0.0.3|6379||ap-northeast-1a|", 1), 0);
    cfg = load_string_ok("[azroute]\ntransport = resp_tls\n"
                         "nodes_env = AZR_TEST_NODES\n"
                         "[az_map]\nap-northeast-1a = apne1-az1\n"
                         "[topology]\nmode = replication\n");
    ck_assert_uint_eq(cfg->n_nodes, 3);
    n = node_by_id(cfg, "n1");
    ck_assert_ptr_null(n->az_id);
    ck_assert_ptr_null(n->az_name);
    ck_assert_int_eq(n->has_role, 0);
    ck_assert_str_eq(node_by_id(cfg, "n2")->az_id, "apne1-az4");
    n = node_by_id(cfg, "n3");
    ck_assert_str_eq(n->az_id, "apne1-az1");
    ck_assert_str_eq(n->az_name, "ap-northeast-1a");
    azr__config_free(cfg);

    /* nodes_env alone is enough to start discovery from */
    cfg = load_string_ok("[azroute]\ntransport = resp_tls\n"
                         "nodes_env = AZR_TEST_NODES\n"
                         "[az_map]\nap-northeast-1a = apne1-az1\n"
                         "[topology]\nmode = cluster\n");
    ck_assert_uint_eq(cfg->n_seeds, 0);
    azr__config_free(cfg);

    /* static: the AZ and the role stay required */
    expect_string_error("[azroute]\nnodes_env = AZR_TEST_NODES\n"
                        "[topology]\nmode = static\n", AZR_E_CONFIG,
                        ":2: nodes_env AZR_TEST_NODES entry 1: no AZ (az_id "
                        "and az_name are empty)");
    ck_assert_int_eq(setenv("AZR_TEST_NODES",
                            "n1|10.0.0.1|6379|apne1-az4||", 1), 0);
    expect_string_error("[azroute]\nnodes_env = AZR_TEST_NODES\n",
                        AZR_E_CONFIG, ":2: nodes_env AZR_TEST_NODES entry 1: "
                        "bad role '' (expected primary or replica)");
    cfg = load_string_ok("[azroute]\nnodes_env = AZR_TEST_NODES\n"
                         "transport = resp_tls\n[topology]\n"
                         "mode = replication\n");
    ck_assert_int_eq(cfg->nodes[0].has_role, 0);
    azr__config_free(cfg);
    ck_assert_int_eq(setenv("AZR_TEST_NODES",
                            "n1|10.0.0.1|6379|apne1-az4||primary", 1), 0);
    cfg = load_string_ok("[azroute]\nnodes_env = AZR_TEST_NODES\n");
    ck_assert_int_eq(cfg->nodes[0].has_role, 1);
    ck_assert_int_eq(cfg->nodes[0].role, AZR_ROLE_PRIMARY);
    azr__config_free(cfg);
    expect_string_error("[azroute]\nnodes_env = AZR_TEST_NODES\n"
                        "transport = resp_tls\n[topology]\nmode = cluster\n",
                        AZR_E_CONFIG, ":2: nodes_env AZR_TEST_NODES entry 1: "
                        "role is learned from the servers in mode = cluster; "
                        "leave the role field empty");
    unsetenv("AZR_TEST_NODES");
}
END_TEST

/* ------------------------------------------------------------------ */
/* text-level details                                                  */

START_TEST(test_line_endings_and_bom)
{
    azr_config *cfg = load_string_ok(
        "\xEF\xBB\xBF[node a]\r\nhost = h1\r\nport = 1\r\n"
        "az_id = apne1-az4\r\nrole = primary\r\n"
        "\t[node b]   ; comment\n\t\thost=h2\n  port:2\n az=apne1-az1\n"
        "role = replica");   /* no final newline */
    ck_assert_uint_eq(cfg->n_nodes, 2);
    ck_assert_str_eq(cfg->nodes[0].host, "h1");
    ck_assert_str_eq(cfg->nodes[1].host, "h2");
    ck_assert_uint_eq(cfg->nodes[1].port, 2);
    ck_assert_uint_eq(cfg->nodes[1].line, 6);
    azr__config_free(cfg);
}
END_TEST

/* A host of 253 characters (the longest DNS name) in four labels of at
 * most 63, into buf. */
static const char *host_253(char buf[254])
{
    static const int label[] = { 63, 63, 63, 61 };
    char *at = buf;
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            *at++ = '.';
        memset(at, 'a' + i, (size_t)label[i]);
        at += label[i];
    }
    *at = '\0';
    return buf;
}

START_TEST(test_line_length_limit)
{
    enum { MAX = 8192 };
    static char text[2 * MAX];
    char host[254];
    azr_config *cfg;

    /* Every legal value fits: a 253-character host, with a comment. */
    snprintf(text, sizeof text, "[node a]\nhost = %s   ; the longest name\n"
             "port = 1\naz_id = apne1-az4\nrole = primary\n",
             host_253(host));
    cfg = load_string_ok(text);
    ck_assert_uint_eq(strlen(host), 253);
    ck_assert_str_eq(cfg->nodes[0].host, host);
    azr__config_free(cfg);

    /* MAX characters (plus CRLF): accepted, and the value is whole. */
    int n = snprintf(text, sizeof text, "[node a]\nhost = 127.0.0.1\n"
                     "port = 1\naz_id = apne1-az4\nrole = primary\n"
                     "[policy same_az]\nk = ");
    memset(text + n, 'v', MAX - 4);
    snprintf(text + n + MAX - 4, sizeof text - (size_t)n - MAX + 4,
             "\r\n");
    cfg = load_string_ok(text);
    ck_assert_uint_eq(cfg->n_sections, 1);
    ck_assert_uint_eq(strlen(cfg->sections[0].options[0].value), MAX - 4);
    azr__config_free(cfg);

    /* MAX + 1: refused, wherever the line is, never split. */
    text[n + MAX - 4] = 'v';
    snprintf(text + n + MAX - 3, sizeof text - (size_t)n - MAX + 3, "\n");
    expect_string_error(text, AZR_E_CONFIG,
                        ":7: line too long (max 8192 characters)");
    n = snprintf(text, sizeof text, ONE_NODE "; ");
    memset(text + n, 'c', MAX - 1);
    text[n + MAX - 1] = '\0';                      /* last line, no break */
    expect_string_error(text, AZR_E_CONFIG,
                        ":6: line too long (max 8192 characters)");

    /* A section header longer than any fixed buffer keeps its name. */
    char path[600];
    memset(path, 'p', sizeof path);
    path[0] = '/';
    memcpy(path + sizeof path - 4, ".so", 4);
    snprintf(text, sizeof text, "[azroute]\npolicy = %s\n" ONE_NODE
             "[policy %s]\nk = v\n", path, path);
    cfg = load_string_ok(text);
    ck_assert_uint_eq(cfg->n_sections, 1);
    ck_assert_str_eq(cfg->sections[0].name, path);
    azr__config_free(cfg);
}
END_TEST

START_TEST(test_long_section_name)
{
    /* inih truncates section names to 49 characters; ids of 64 work. */
    char id[65], text[512];
    azr_config *cfg;

    memset(id, 'x', 64);
    id[64] = '\0';
    id[60] = '1';
    snprintf(text, sizeof text,
             "[node %s]\nhost = h\nport = 1\naz_id = apne1-az4\n"
             "role = primary\n[node %.60s2xxx]\nhost = h\nport = 2\n"
             "az_id = apne1-az4\nrole = primary\n", id, id);
    cfg = load_string_ok(text);
    ck_assert_uint_eq(cfg->n_nodes, 2);
    ck_assert_str_eq(cfg->nodes[0].id, id);
    ck_assert_uint_eq(cfg->nodes[1].port, 2);
    azr__config_free(cfg);
}
END_TEST

START_TEST(test_no_continuation_lines)
{
    /* An indented key after a value is a key, not a continuation. */
    azr_config *cfg = load_string_ok(
        "[node a]\nhost = h\n    port = 5\n    az_id = apne1-az4\n"
        "    role = primary\n");
    ck_assert_str_eq(cfg->nodes[0].host, "h");
    ck_assert_uint_eq(cfg->nodes[0].port, 5);
    azr__config_free(cfg);

    /* An indented line without '=' is a syntax error, not a value. */
    expect_string_error("[node a]\nhost = h\n   more\n", AZR_E_CONFIG,
                        ":3: syntax error (expected [section] or key = "
                        "value)");
}
END_TEST

START_TEST(test_file_errors)
{
    char err[AZR_ERRBUF_SIZE], want[AZR_ERRBUF_SIZE];
    char tmpl[] = "/tmp/check_config_XXXXXX";
    azr_config *cfg = NULL;
    int fd;
    static const char nul_text[] = "[node a]\nhost = a\0b\n";

    ck_assert_int_eq(azr__config_load("/nonexistent/azroute.ini", &cfg, err,
                                      sizeof err), AZR_E_CONFIG);
    ck_assert_str_eq(err, "/nonexistent/azroute.ini: cannot open: "
                          "No such file or directory");
    ck_assert_ptr_null(cfg);

    ck_assert_int_eq(azr__config_load("/", &cfg, err, sizeof err),
                     AZR_E_CONFIG);
    ck_assert_str_eq(err, "/: cannot read: Is a directory");

    /* A NUL byte inside the file. */
    fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, nul_text, sizeof nul_text - 1),
                     (ssize_t)(sizeof nul_text - 1));
    close(fd);
    ck_assert_int_eq(azr__config_load(tmpl, &cfg, err, sizeof err),
                     AZR_E_CONFIG);
    snprintf(want, sizeof want, "%s:2: NUL character in line", tmpl);
    ck_assert_str_eq(err, want);
    unlink(tmpl);

    ck_assert_int_eq(azr__config_load(NULL, &cfg, err, sizeof err),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr__config_load_string(NULL, "x", &cfg, err, sizeof err),
                     AZR_E_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_error_buffer)
{
    char small[16];
    azr_config *cfg = NULL;

    /* NULL or tiny buffers are fine; messages are truncated, not
     * overflowed. */
    ck_assert_int_eq(azr__config_load_string("[x]\n", "T.ini", &cfg, NULL, 0),
                     AZR_E_CONFIG);
    memset(small, 'z', sizeof small);
    ck_assert_int_eq(azr__config_load_string("[x]\n", "T.ini", &cfg, small,
                                             sizeof small), AZR_E_CONFIG);
    ck_assert_str_eq(small, "T.ini:1: unknow");
    /* Default name. */
    {
        char err[AZR_ERRBUF_SIZE];
        ck_assert_int_eq(azr__config_load_string("", NULL, &cfg, err,
                                                 sizeof err), AZR_E_CONFIG);
        ck_assert_str_eq(err, "<string>: no nodes configured ([node NAME] "
                              "sections or nodes_env)");
    }
    /* A long value is quoted shortened and without control characters. */
    {
        char text[300];
        snprintf(text, sizeof text, "[node a]\nrole = %0150d\x01\n", 7);
        expect_string_error(text, AZR_E_CONFIG,
            ":2: bad role '000000000000000000000000000000000000000000000000..."
            "' (expected primary or replica)");
        expect_string_error("[node a]\nrole = a\x01" "b\n", AZR_E_CONFIG,
            ":2: bad role 'a?b' (expected primary or replica)");
    }
}
END_TEST

START_TEST(test_too_many_nodes)
{
    size_t cap = (AZR_MAX_NODES + 1) * 100;
    char *text = malloc(cap), *p = text;
    azr_config *cfg;

    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < AZR_MAX_NODES; i++)
        p += sprintf(p, "[node n%d]\nhost=h\nport=1\naz_id=use1-az1\n"
                        "role=replica\n", i);
    cfg = load_string_ok(text);
    ck_assert_uint_eq(cfg->n_nodes, AZR_MAX_NODES);
    azr__config_free(cfg);
    sprintf(p, "[node last]\n");
    expect_string_error(text, AZR_E_CONFIG, ":5121: too many nodes (max "
                                            "1024)");

    /* The same limit through nodes_env. */
    {
        char err[AZR_ERRBUF_SIZE];
        ck_assert_int_eq(setenv("AZR_TEST_NODES",
                                "x|h|1|use1-az1||replica", 1), 0);
        p = text;
        for (int i = 0; i < AZR_MAX_NODES; i++)
            p += sprintf(p, "[node n%d]\nhost=h\nport=1\naz_id=use1-az1\n"
                            "role=replica\n", i);
        sprintf(p, "[azroute]\nnodes_env = AZR_TEST_NODES\n");
        cfg = NULL;
        ck_assert_int_eq(azr__config_load_string(text, "T.ini", &cfg, err,
                                                 sizeof err), AZR_E_CONFIG);
        ck_assert_str_eq(err, "T.ini:5122: nodes_env AZR_TEST_NODES entry 1: "
                              "too many nodes (max 1024)");
        unsetenv("AZR_TEST_NODES");
    }
    free(text);
}
END_TEST

START_TEST(test_nodes_env_whitespace_only)
{
    ck_assert_int_eq(setenv("AZR_TEST_NODES", " \t ", 1), 0);
    expect_string_error("[azroute]\nnodes_env = AZR_TEST_NODES\n",
                        AZR_E_CONFIG, ":2: nodes_env AZR_TEST_NODES is empty");
    unsetenv("AZR_TEST_NODES");
}
END_TEST

/* ------------------------------------------------------------------ */
/* API pieces                                                          */

/* azroute.ini's decimals (lib/config/decimal.h): digits, optionally '.' and
 * digits; the value is strtod's in the C locale. */
START_TEST(test_decimal_parse)
{
    static const struct {
        const char *s;
        double v;
    } good[] = {
        { "0", 0.0 }, { "1", 1.0 }, { "1.5", 1.5 }, { "0.05", 0.05 },
        { "007", 7.0 }, { "2.50", 2.5 }, { "3600000", 3600000.0 },
        { "0.1", 0.1 }, { "123456789012345678901234567890",
                          123456789012345678901234567890.0 },
        { "0.000000000000000000001", 1e-21 },
    };
    static const char *const bad[] = {
        "", " 1", "1 ", "+1", "-1", "-0", "1.", ".5", ".", "1,5", "1e3",
        "1E3", "0x10", "0x1.8p1", "inf", "nan", "INF", "1..5", "1.5.2",
        "1_000", "\xd9\xa1", /* Arabic-Indic digit one */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double v = -1.0;
        ck_assert_msg(azr__decimal_parse(good[i].s, &v) == 0, "'%s' refused",
                      good[i].s);
        ck_assert_msg(v == good[i].v, "'%s' read as %.17g", good[i].s, v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = -1.0;
        ck_assert_msg(azr__decimal_parse(bad[i], &v) == -1, "'%s' accepted",
                      bad[i]);
        ck_assert_msg(v == -1.0, "'%s' changed the output", bad[i]);
    }
    /* Out of a double's range: refused, not inf or 0. */
    char big[420], tiny[420];
    memset(big, '9', 400);
    big[400] = '\0';
    memcpy(tiny, "0.", 2);
    memset(tiny + 2, '0', 400);
    memcpy(tiny + 402, "1", 2);
    double v = -1.0;
    ck_assert_int_eq(azr__decimal_parse(big, &v), -1);
    ck_assert_int_eq(azr__decimal_parse(tiny, &v), -1);
    ck_assert_int_eq(azr__decimal_parse(NULL, &v), -1);
    ck_assert(v == -1.0);
}
END_TEST

START_TEST(test_az_id_valid)
{
    static const char *const good[] = {
        "apne1-az4", "use1-az6", "usw2-lax1-az1", "euc1-az10", "a-az0",
        "cnn1-az1"
    };
    static const char *const bad[] = {
        "", "az4", "apne1", "apne1-", "-az4", "apne1--az4", "apne1-az",
        "apne1-azx", "APNE1-az4", "apne1-AZ4", "apne1_az4", "apne1-az4 ",
        "ap-northeast-1a", "apne1-az4-", "apne1-az4a", "apne1.az4",
        "apne1-bz4"
    };
    char longid[AZR_AZ_ID_MAX + 8];

    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(azr__az_id_valid(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!azr__az_id_valid(bad[i]), "%s", bad[i]);
    ck_assert(!azr__az_id_valid(NULL));

    /* AZR_AZ_ID_MAX - 1 characters is the longest accepted. */
    memset(longid, 'a', sizeof longid);
    memcpy(longid + AZR_AZ_ID_MAX - 1 - 4, "-az1", 4);
    longid[AZR_AZ_ID_MAX - 1] = '\0';
    ck_assert(azr__az_id_valid(longid));
    memset(longid, 'a', sizeof longid);
    memcpy(longid + AZR_AZ_ID_MAX - 4, "-az1", 4);
    longid[AZR_AZ_ID_MAX] = '\0';
    ck_assert(!azr__az_id_valid(longid));
}
END_TEST

START_TEST(test_add_nodes_env_api)
{
    azr_config *cfg = load_string_ok("[az_map]\nap-northeast-1a = apne1-az4\n"
                                     ONE_NODE);
    char err[AZR_ERRBUF_SIZE];

    ck_assert_int_eq(azr__config_add_nodes_env(cfg,
        "b|h|2|apne1-az1||replica", "W", err, sizeof err), AZR_OK);
    ck_assert_uint_eq(cfg->n_nodes, 2);

    /* A failing call adds nothing, even after good entries. */
    ck_assert_int_eq(azr__config_add_nodes_env(cfg,
        "c|h|3||ap-northeast-1a|replica,d|h|4|apne1-az1||boss", "W", err,
        sizeof err), AZR_E_CONFIG);
    ck_assert_str_eq(err, "W entry 2: bad role 'boss' (expected primary or "
                          "replica)");
    ck_assert_uint_eq(cfg->n_nodes, 2);
    ck_assert_int_eq(azr__config_add_nodes_env(cfg, "b|h|2|apne1-az1||replica",
                                               NULL, err, sizeof err),
                     AZR_E_CONFIG);
    ck_assert_str_eq(err, "nodes_env entry 1: duplicate node id 'b'");

    /* Field validation. */
    ck_assert_int_eq(azr__config_add_nodes_env(cfg, "c|h h|3|apne1-az1||replica",
                                               "W", err, sizeof err),
                     AZR_E_CONFIG);
    ck_assert_str_eq(err, "W entry 1: bad address 'h h'");
    ck_assert_int_eq(azr__config_add_nodes_env(cfg, "c|h|3|az1||replica",
                                               "W", err, sizeof err),
                     AZR_E_CONFIG);
    ck_assert_str_eq(err, "W entry 1: bad AZ ID 'az1' (expected e.g. "
                          "apne1-az4)");
    ck_assert_int_eq(azr__config_add_nodes_env(cfg,
        "c|h|3|apne1-az1|apne1-az2|replica", "W", err, sizeof err),
        AZR_E_CONFIG);
    ck_assert_str_eq(err, "W entry 1: AZ 'apne1-az2' disagrees with az_id "
                          "'apne1-az1'");
    ck_assert_int_eq(azr__config_add_nodes_env(cfg,
        "c|h|3|apne1-az1|x|y|replica", "W", err, sizeof err), AZR_E_CONFIG);
    ck_assert_str_eq(err, "W entry 1: expected 6 fields id|address|port|"
                          "az_id|az_name|role, got 7");
    {
        /* An overlong entry is refused without being echoed. */
        char big[1200];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        ck_assert_int_eq(azr__config_add_nodes_env(cfg, big, "W", err,
                                                   sizeof err), AZR_E_CONFIG);
        ck_assert_str_eq(err, "W entry 1: too long (max 512 characters)");
    }
    ck_assert_uint_eq(cfg->n_nodes, 2);
    ck_assert_int_eq(azr__config_add_nodes_env(NULL, "", "W", err, sizeof err),
                     AZR_E_INVALID_ARGUMENT);
    azr__config_free(cfg);
    azr__config_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* allocation failures                                                 */

/* Loads (from `path`, or `text` if path is NULL) failing allocation k for
 * k = 0, 1, ... until a load makes no more allocations than k; every
 * injected failure must give AZR_E_NOMEM and leave nothing allocated. */
static void inject_all(const char *path, const char *text)
{
    long k;
    for (k = 0;; k++) {
        char err[AZR_ERRBUF_SIZE] = "";
        azr_config *cfg = NULL;
        azr_code rc;
        long made, left;

        counting = 1;
        fail_at = k;
        n_allocs = 0;
        live = 0;
        rc = path != NULL ? azr__config_load(path, &cfg, err, sizeof err)
                          : azr__config_load_string(text, "T.ini", &cfg, err,
                                                    sizeof err);
        if (rc == AZR_OK)
            azr__config_free(cfg);
        made = n_allocs;
        left = live;
        counting = 0;
        fail_at = -1;

        ck_assert_msg(left == 0, "allocation %ld failed: %ld blocks leaked",
                      k, left);
        if (made <= k) {
            ck_assert_msg(rc == AZR_OK, "rc %d without injection: %s", rc,
                          err);
            break;
        }
        ck_assert_msg(rc == AZR_E_NOMEM, "allocation %ld failed: rc %d (%s)",
                      k, rc, err);
        ck_assert_msg(strstr(err, "out of memory") != NULL, "%s", err);
    }
    ck_assert_int_gt(k, 10); /* the wrappers did see the loader */
}

START_TEST(test_alloc_failures)
{
    char *sample = path_of("conf/azroute.ini");
    char *plugins = path_of("tests/config/good/plugins.ini");
    char *mixed = path_of("tests/config/good/mixed.ini");
    char *topology = path_of("tests/config/good/topology.ini");

    inject_all(sample, NULL);
    inject_all(plugins, NULL);
    ck_assert_int_eq(setenv("AZR_TEST_NODES",
        "e1|127.0.0.1|7001|apne1-az1||replica,"
        "e2|127.0.0.1|7002||ap-northeast-1a|replica,"
        "e3|127.0.0.1|7003|apne1-az4|ap-northeast-1a|replica", 1), 0);
    inject_all(mixed, NULL);
    unsetenv("AZR_TEST_NODES");
    inject_all(topology, NULL);
    /* default policy list, az_map growth */
    inject_all(NULL, "[az_map]\na-1a = use1-az1\na-1b = use1-az2\n"
                     "a-1c = use1-az3\na-1d = use1-az4\na-1e = use1-az5\n"
                     ONE_NODE "[node b]\nhost=h\nport=1\naz=a-1e\n"
                     "role=replica\n");
    free(sample);
    free(plugins);
    free(mixed);
    free(topology);
}
END_TEST

/* ------------------------------------------------------------------ */
/* robustness                                                          */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

START_TEST(test_mutations)
{
    /* Random edits of valid files: the loader must answer OK or a one-line
     * CONFIG error naming the file, and free everything either way. */
    static const char alphabet[] = "[]=:;#, \t\n\r|-_azAZ09/.\x01\xff";
    const char *const files[] = {
        "conf/azroute.ini", "tests/config/good/plugins.ini",
        "tests/config/good/az_map.ini", "tests/config/good/topology.ini"
    };
    int ok = 0, failed = 0;

    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char *path = path_of(files[f]);
        char *orig = slurp(path);
        size_t olen = strlen(orig);
        char *buf = malloc(olen * 2 + 64);

        ck_assert_ptr_nonnull(buf);
        for (int iter = 0; iter < 700; iter++) {
            size_t len = olen;
            int edits = 1 + (int)(rnd() % 6);
            char err[AZR_ERRBUF_SIZE] = "";
            azr_config *cfg = NULL;
            azr_code rc;

            memcpy(buf, orig, olen + 1);
            for (int e = 0; e < edits && len > 1; e++) {
                size_t at = (size_t)(rnd() % len);
                char c = alphabet[rnd() % (sizeof alphabet - 1)];
                switch (rnd() % 3) {
                case 0: buf[at] = c; break;
                case 1: /* insert */
                    memmove(buf + at + 1, buf + at, len - at + 1);
                    buf[at] = c;
                    len++;
                    break;
                default: /* delete */
                    memmove(buf + at, buf + at + 1, len - at);
                    len--;
                    break;
                }
            }
            counting = 1;
            live = 0;
            rc = azr__config_load_string(buf, "M.ini", &cfg, err, sizeof err);
            if (rc == AZR_OK) {
                ok++;
                /* something to route to, or to discover from */
                ck_assert_uint_ge(cfg->n_nodes + cfg->n_seeds, 1);
                azr__config_free(cfg);
            } else {
                failed++;
                ck_assert_int_eq(rc, AZR_E_CONFIG);
                ck_assert_ptr_null(cfg);
                ck_assert_msg(strncmp(err, "M.ini:", 6) == 0, "%s", err);
                ck_assert_ptr_null(strchr(err, '\n'));
            }
            counting = 0;
            ck_assert_int_eq(live, 0);
        }
        free(buf);
        free(orig);
        free(path);
    }
    /* Both outcomes happen: the mutations are neither all harmless nor all
     * fatal. */
    ck_assert_int_gt(ok, 10);
    ck_assert_int_gt(failed, 100);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("bad");
    tcase_add_test(tc, test_bad_corpus_size);
    tcase_add_loop_test(tc, test_bad_fixture, 0, (int)n_bad_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("good");
    tcase_add_test(tc, test_good_defaults);
    tcase_add_test(tc, test_good_az_map);
    tcase_add_test(tc, test_good_plugins);
    tcase_add_test(tc, test_section_by_path);
    tcase_add_test(tc, test_good_metadata);
    tcase_add_test(tc, test_good_nodes_env);
    tcase_add_test(tc, test_good_mixed);
    tcase_add_test(tc, test_sample_conf);
    suite_add_tcase(s, tc);

    tc = tcase_create("topology");
    tcase_add_test(tc, test_good_topology);
    tcase_add_test(tc, test_topology_modes);
    tcase_add_test(tc, test_topology_seeds);
    tcase_add_test(tc, test_topology_too_many_seeds);
    tcase_add_test(tc, test_topology_nodes_env);
    suite_add_tcase(s, tc);

    tc = tcase_create("text");
    tcase_add_test(tc, test_line_endings_and_bom);
    tcase_add_test(tc, test_line_length_limit);
    tcase_add_test(tc, test_long_section_name);
    tcase_add_test(tc, test_no_continuation_lines);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_error_buffer);
    tcase_add_test(tc, test_too_many_nodes);
    tcase_add_test(tc, test_nodes_env_whitespace_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_test(tc, test_az_id_valid);
    tcase_add_test(tc, test_decimal_parse);
    tcase_add_test(tc, test_add_nodes_env_api);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_mutations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    scan_bad_dir();
    sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (size_t i = 0; i < n_bad_files; i++)
        free(bad_files[i]);
    free(bad_files);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
