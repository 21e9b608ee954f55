/*
 * check_core.c - the core: result codes, plugin loader refusals, the policy
 * chain and same_az decisions, pick distribution, thread safety of
 * azr_pick/azr_report, and resp_tls refusing a host without RESP services.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include <azroute/azroute.h>
#include <azroute/plugin.h>

#include "core/shard.h"
#include "testutil.h"

/* Three AZs: az1 holds the primary and a replica, az2 a replica, az3
 * nothing. */
#define NODES_3 \
    "[node pa]\nhost = 127.0.0.1\nport = 7001\naz = use1-az1\nrole = primary\n" \
    "[node ra1]\nhost = 127.0.0.1\nport = 7002\naz = use1-az1\nrole = replica\n" \
    "[node rb]\nhost = 127.0.0.1\nport = 7003\naz = use1-az2\nrole = replica\n"

static azr_ctx *open_or_fail(const char *text, const char *az)
{
    azr_open_options o = { .struct_size = sizeof o, .az_id = az };
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx = NULL;
    azr_code rc = azr_test_open(text, &o, &ctx, err);
    ck_assert_msg(rc == AZR_OK, "open failed: %s", err);
    return ctx;
}

/* The set of node ids a context picks over `n` tries, as "id,id" in table
 * order, or the error name. */
static void pick_set(azr_ctx *ctx, azr_intent intent, char *out, size_t len)
{
    int seen[8] = { 0 };
    for (int k = 0; k < 12; k++) {
        size_t idx;
        azr_code rc = azr_pick(ctx, intent, &idx);
        if (rc != AZR_OK) {
            snprintf(out, len, "error:%s", azr_strerror(rc));
            return;
        }
        ck_assert_uint_lt(idx, 8);
        seen[idx] = 1;
    }
    out[0] = '\0';
    for (size_t i = 0; i < azr_node_count(ctx); i++) {
        if (!seen[i])
            continue;
        azr_node_info info;
        ck_assert_int_eq(azr_node_get(ctx, i, &info), AZR_OK);
        if (out[0] != '\0')
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, info.id, len - strlen(out) - 1);
    }
}

START_TEST(test_strerror_covers_every_code)
{
    for (int c = AZR_OK; c <= AZR_E_CROSSSLOT; c++)
        ck_assert_str_ne(azr_strerror((azr_code)c), "unknown error code");
    ck_assert_str_eq(azr_strerror((azr_code)999), "unknown error code");
    ck_assert_str_eq(azr_strerror((azr_code)-1), "unknown error code");
    unsigned num;
    ck_assert_str_eq(azr_version(&num), AZR_VERSION_STRING);
    ck_assert_uint_eq(num, AZR_VERSION_NUM);
}
END_TEST

/* same_az decision table: caller AZ x prefer x intent -> nodes chosen. */
static const struct decision {
    const char *az;     /* NULL: source none */
    const char *options;
    azr_intent intent;
    const char *expect;
} decisions[] = {
    { "use1-az1", "", AZR_INTENT_READ, "ra1" },
    { "use1-az1", "prefer = primary\n", AZR_INTENT_READ, "pa" },
    { "use1-az1", "prefer = any\n", AZR_INTENT_READ, "pa,ra1" },
    { "use1-az1", "", AZR_INTENT_WRITE, "pa" },
    { "use1-az2", "", AZR_INTENT_READ, "rb" },
    { "use1-az2", "prefer = primary\n", AZR_INTENT_READ, "rb" },
    { "use1-az2", "prefer = any\n", AZR_INTENT_READ, "rb" },
    { "use1-az2", "", AZR_INTENT_WRITE, "pa" },
    { "use1-az3", "", AZR_INTENT_READ, "ra1,rb" },
    { "use1-az3", "prefer = primary\n", AZR_INTENT_READ, "pa" },
    { "use1-az3", "prefer = any\n", AZR_INTENT_READ, "pa,ra1,rb" },
    { "use1-az3", "", AZR_INTENT_WRITE, "pa" },
    { "use1-az3", "fallback = none\n", AZR_INTENT_READ,
      "error:no node available for this request" },
    { "use1-az3", "fallback = none\n", AZR_INTENT_WRITE, "pa" },
    { "use1-az1", "fallback = none\n", AZR_INTENT_READ, "ra1" },
    { NULL, "", AZR_INTENT_READ, "ra1,rb" },
    { NULL, "prefer = primary\n", AZR_INTENT_READ, "pa" },
    { NULL, "fallback = none\n", AZR_INTENT_READ, "ra1,rb" },
    { NULL, "", AZR_INTENT_WRITE, "pa" },
};

START_TEST(test_same_az_decisions)
{
    const struct decision *d = &decisions[_i];
    char text[2048];
    snprintf(text, sizeof text,
             "[azroute]\npolicy = same_az\n[metadata]\nsource = %s\n"
             "%s[policy same_az]\n%s" NODES_3,
             d->az != NULL ? "static" : "none",
             d->az != NULL ? "az_id = " : "", d->options);
    if (d->az != NULL) {
        /* splice the az_id value after "az_id = " */
        char *at = strstr(text, "az_id = ");
        char rest[2048];
        snprintf(rest, sizeof rest, "%s", at + 8);
        snprintf(at + 8, sizeof text - (size_t)(at + 8 - text), "%s\n%s",
                 d->az, rest);
    }
    azr_ctx *ctx = open_or_fail(text, NULL);
    char got[128];
    pick_set(ctx, d->intent, got, sizeof got);
    ck_assert_msg(strcmp(got, d->expect) == 0,
                  "case %d (az %s, %s%s): got %s, want %s", _i,
                  d->az != NULL ? d->az : "none",
                  d->intent == AZR_INTENT_READ ? "read " : "write ",
                  d->options, got, d->expect);
    azr_close(ctx);
}
END_TEST

START_TEST(test_same_az_flags_follow_caller_az)
{
    azr_ctx *ctx = open_or_fail("[azroute]\npolicy = same_az\n" NODES_3,
                                "use1-az2");
    azr_node_info info;
    int expect[] = { 0, 0, 1 };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(azr_node_get(ctx, i, &info), AZR_OK);
        ck_assert_int_eq(info.same_az, expect[i]);
    }
    ck_assert_int_eq(azr_node_get(ctx, 3, &info), AZR_E_NOT_FOUND);
    size_t idx;
    ck_assert_int_eq(azr_node_find(ctx, "rb", &idx), AZR_OK);
    ck_assert_uint_eq(idx, 2);
    ck_assert_int_eq(azr_node_find(ctx, "zz", &idx), AZR_E_NOT_FOUND);
    azr_close(ctx);
}
END_TEST

START_TEST(test_writes_need_a_primary)
{
    azr_ctx *ctx = open_or_fail(
        "[azroute]\npolicy = same_az\n"
        "[node r1]\nhost = h1\nport = 1\naz = use1-az1\nrole = replica\n"
        "[node r2]\nhost = h2\nport = 2\naz = use1-az2\nrole = replica\n",
        "use1-az1");
    size_t idx;
    ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_WRITE, &idx), AZR_E_NO_NODE);
    ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &idx), AZR_OK);
    ck_assert_uint_eq(idx, 0);
    azr_close(ctx);
}
END_TEST

START_TEST(test_retry_excludes_tried_nodes)
{
    azr_ctx *ctx = open_or_fail("[azroute]\npolicy = same_az\n" NODES_3,
                                "use1-az1");
    size_t idx, tried[3];
    azr_pick_request req = { .intent = AZR_INTENT_READ };
    ck_assert_int_eq(azr_pick_ex(ctx, &req, &idx), AZR_OK);
    ck_assert_uint_eq(idx, 1); /* ra1 */
    tried[0] = idx;
    req = (azr_pick_request){ AZR_INTENT_READ, 1, tried, 1 };
    ck_assert_int_eq(azr_pick_ex(ctx, &req, &idx), AZR_OK);
    ck_assert_uint_eq(idx, 0); /* then the same-AZ primary */
    tried[1] = idx;
    req = (azr_pick_request){ AZR_INTENT_READ, 2, tried, 2 };
    ck_assert_int_eq(azr_pick_ex(ctx, &req, &idx), AZR_OK);
    ck_assert_uint_eq(idx, 2); /* then the other replica */
    tried[2] = idx;
    req = (azr_pick_request){ AZR_INTENT_READ, 3, tried, 3 };
    ck_assert_int_eq(azr_pick_ex(ctx, &req, &idx), AZR_E_NO_NODE);
    req = (azr_pick_request){ AZR_INTENT_READ, 0, NULL, 1 };
    ck_assert_int_eq(azr_pick_ex(ctx, &req, &idx), AZR_E_INVALID_ARGUMENT);
    azr_close(ctx);
}
END_TEST

START_TEST(test_equal_candidates_split_evenly)
{
    azr_ctx *ctx = open_or_fail(
        "[azroute]\npolicy = same_az\n"
        "[node p]\nhost = h\nport = 1\naz = use1-az3\nrole = primary\n"
        "[node r1]\nhost = h\nport = 2\naz = use1-az1\nrole = replica\n"
        "[node r2]\nhost = h\nport = 3\naz = use1-az1\nrole = replica\n",
        "use1-az1");
    unsigned hits[3] = { 0 };
    for (int k = 0; k < 1000; k++) {
        size_t idx;
        ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &idx), AZR_OK);
        hits[idx]++;
    }
    ck_assert_uint_eq(hits[0], 0);
    ck_assert_uint_ge(hits[1], 450);
    ck_assert_uint_ge(hits[2], 450);
    azr_node_stats st;
    ck_assert_int_eq(azr_node_stats_get(ctx, 1, &st), AZR_OK);
    ck_assert_uint_eq(st.picks, hits[1]);
    azr_close(ctx);
}
END_TEST

START_TEST(test_report_updates_counters)
{
    azr_ctx *ctx = open_or_fail("[azroute]\npolicy = same_az\n" NODES_3,
                                "use1-az1");
    ck_assert_int_eq(azr_report(ctx, 2, 1000, AZR_STATUS_OK, 0), AZR_OK);
    ck_assert_int_eq(azr_report(ctx, 2, 3000, AZR_STATUS_ERROR_REPLY, 0),
                     AZR_OK);
    ck_assert_int_eq(azr_report(ctx, 2, 5000, AZR_STATUS_TIMEOUT, 1),
                     AZR_OK);
    ck_assert_int_eq(azr_report(ctx, 3, 1, AZR_STATUS_OK, 0),
                     AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_report(ctx, 0, 1, (azr_status)42, 0),
                     AZR_E_INVALID_ARGUMENT);
    azr_node_stats st;
    ck_assert_int_eq(azr_node_stats_get(ctx, 2, &st), AZR_OK);
    ck_assert_uint_eq(st.requests, 3);
    ck_assert_uint_eq(st.errors, 1);
    ck_assert_uint_eq(st.total_rtt_ns, 4000);
    azr_close(ctx);
}
END_TEST

/* Loader refusals: each broken plugin gives exactly this message. */
static const struct refusal {
    const char *plugin;
    const char *expect; /* after "TEST.ini:2: plugin 'NAME': DIR/NAME.so: " */
} refusals[] = {
    { "bad_abi", "built for plugin ABI 2.3, host speaks 1.3" },
    { "no_symbol", "does not export azr_plugin_descriptor (not an azroute "
                   "plugin?)" },
    { "wrong_kind", "is a transport plugin, a policy is needed here" },
    { "small_struct", "descriptor is 8 bytes, ABI 1 needs at least 80" },
    { "missing_pick", "policy operations incomplete (create, destroy and "
                      "pick are required)" },
    { "name_mismatch", "descriptor names itself 'renamed_inside' but the "
                       "file is named 'name_mismatch' (they must be equal)" },
};

START_TEST(test_loader_refusals)
{
    const struct refusal *r = &refusals[_i];
    const char *dir = azr_test_broken_plugin_dir();
    char text[512], err[AZR_ERRBUF_SIZE], want[AZR_ERRBUF_SIZE];
    snprintf(text, sizeof text, "[azroute]\npolicy = %s\n" NODES_3,
             r->plugin);
    azr_open_options o = { .struct_size = sizeof o, .plugin_dir = dir };
    azr_ctx *ctx = NULL;
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_E_PLUGIN);
    ck_assert_ptr_null(ctx);
    snprintf(want, sizeof want, "TEST.ini:2: plugin '%s': %s/%s.so: %s",
             r->plugin, dir, r->plugin, r->expect);
    ck_assert_str_eq(err, want);
}
END_TEST

/* Creates an empty file DIR/NAME (the loader lists plugins by name). */
static void touch_in(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    fclose(f);
}

/* A plugin the configuration names that does not exist is a configuration
 * error, and the message lists what the plugin directory holds. */
START_TEST(test_loader_missing_file)
{
    char err[AZR_ERRBUF_SIZE], want[AZR_ERRBUF_SIZE], text[1024];
    azr_open_options o = { .struct_size = sizeof o, .plugin_dir = "/nonexistent" };
    azr_ctx *ctx = NULL;
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = same_az, nosuch\n"
                                   NODES_3, &o, &ctx, err),
                     AZR_E_CONFIG);
    ck_assert_ptr_null(ctx);
    ck_assert_str_eq(err, "TEST.ini:2: no plugin 'same_az' in /nonexistent "
                          "(/nonexistent: No such file or directory)");

    /* A directory with three plugins and files that are not plugins. */
    char dir[] = "/tmp/azr-plugins-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    static const char *const files[] = {
        "same_az.so", "resp_tls.so", "failover.so", "zeta_2.so", "README",
        "libx.so.1", "Bad-Name.so", ".so", "x.la",
        "a_name_that_is_longer_than_32_chars.so",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        touch_in(dir, files[i]);
    o.plugin_dir = dir;
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = same_a\n" NODES_3,
                                   &o, &ctx, err), AZR_E_CONFIG);
    snprintf(want, sizeof want, "TEST.ini:2: no plugin 'same_a' in %s "
             "(available: failover, resp_tls, same_az, zeta_2)", dir);
    ck_assert_str_eq(err, want);
    /* A file that is there but no plugin stays AZR_E_PLUGIN. */
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = same_az\n" NODES_3,
                                   &o, &ctx, err), AZR_E_PLUGIN);
    snprintf(want, sizeof want, "TEST.ini:2: plugin 'same_az': cannot "
             "load: %s/same_az.so: ", dir);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

    /* The default chain has no line of its own; an empty directory. */
    char empty[] = "/tmp/azr-plugins-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(empty));
    o.plugin_dir = empty;
    ck_assert_int_eq(azr_test_open(NODES_3, &o, &ctx, err), AZR_E_CONFIG);
    snprintf(want, sizeof want, "TEST.ini: no plugin 'failover' in %s "
             "(available: none)", empty);
    ck_assert_str_eq(err, want);
    rmdir(empty);

    /* A misspelt transport, next to the real plugins, on its own line. */
    o.plugin_dir = getenv("AZROUTE_PLUGIN_DIR");
    ck_assert_ptr_nonnull(o.plugin_dir);
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = same_az\n"
                                   "transport = resp_tsl\n" NODES_3, &o,
                                   &ctx, err), AZR_E_CONFIG);
    snprintf(want, sizeof want, "TEST.ini:3: no plugin 'resp_tsl' in %s "
             "(available: ", o.plugin_dir);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "resp_tls"));
    o.plugin_dir = dir;

    /* By absolute path: the path and what the system said. */
    snprintf(text, sizeof text, "[azroute]\npolicy = %s/missing.so\n"
             NODES_3, dir);
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_E_CONFIG);
    snprintf(want, sizeof want, "TEST.ini:2: no plugin file "
             "'%s/missing.so': No such file or directory", dir);
    ck_assert_str_eq(err, want);
    snprintf(text, sizeof text, "[azroute]\npolicy = %s/README/x.so\n"
             NODES_3, dir);
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_E_CONFIG);
    snprintf(want, sizeof want, "TEST.ini:2: no plugin file "
             "'%s/README/x.so': Not a directory", dir);
    ck_assert_str_eq(err, want);

    /* Many plugins: whole names, then ", ...)", within the buffer. */
    for (int i = 0; i < 40; i++) {
        char name[64];
        snprintf(name, sizeof name, "plugin_number_%02d_of_many.so", i);
        touch_in(dir, name);
    }
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = same_a\n" NODES_3,
                                   &o, &ctx, err), AZR_E_CONFIG);
    size_t len = strlen(err);
    ck_assert_uint_lt(len, AZR_ERRBUF_SIZE - 1);
    ck_assert_str_eq(err + len - 6, ", ...)");
    ck_assert_ptr_nonnull(strstr(err, "(available: failover, "
                                      "plugin_number_00_of_many, "));
    /* Every name listed is whole. */
    char list[AZR_ERRBUF_SIZE];
    snprintf(list, sizeof list, "%s", strstr(err, "(available: ") + 12);
    list[strlen(list) - 6] = '\0';
    for (char *save, *tok = strtok_r(list, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        int num, end = -1;
        ck_assert_msg(strcmp(tok, "failover") == 0 ||
                      strcmp(tok, "resp_tls") == 0 ||
                      strcmp(tok, "same_az") == 0 ||
                      strcmp(tok, "zeta_2") == 0 ||
                      (sscanf(tok, "plugin_number_%d_of_many%n", &num,
                              &end) == 1 && end == (int)strlen(tok)),
                      "'%s' is not a whole name: %s", tok, err);
    }

    /* Clean up. */
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}
END_TEST

START_TEST(test_loader_absolute_path_and_duplicates)
{
    const char *dir = azr_test_broken_plugin_dir();
    char text[1024], err[AZR_ERRBUF_SIZE], want[AZR_ERRBUF_SIZE];
    azr_ctx *ctx = NULL;

    /* An absolute path is taken as is, whatever the plugin directory. */
    snprintf(text, sizeof text, "[azroute]\npolicy = %s/newer_minor.so\n"
             NODES_3, dir);
    azr_open_options o = { .struct_size = sizeof o, .plugin_dir = "/nonexistent" };
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_OK);
    azr_plugin_info info;
    ck_assert_uint_eq(azr_plugin_count(ctx), 1);
    ck_assert_int_eq(azr_plugin_get(ctx, 0, &info), AZR_OK);
    ck_assert_str_eq(info.name, "newer_minor");
    ck_assert_str_eq(info.kind, "policy");
    ck_assert_uint_eq(info.abi_minor, AZR_PLUGIN_ABI_MINOR + 7);
    ck_assert_int_eq(info.in_chain, 0);
    azr_close(ctx);
    /* ... and its options section carries that same name. */
    snprintf(text, sizeof text, "[azroute]\npolicy = %s/newer_minor.so\n"
             "[policy newer_minor]\nk = v\n" NODES_3, dir);
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_E_CONFIG);
    ck_assert_str_eq(err, "TEST.ini:4: unknown key 'k' in "
                          "[policy newer_minor]");

    /* The same plugin twice under two spellings is a config error. */
    snprintf(text, sizeof text, "[azroute]\npolicy = newer_minor, "
             "%s/newer_minor.so\n" NODES_3, dir);
    o.plugin_dir = dir;
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "appears twice in the chain"));

    /* By absolute path too, the descriptor must carry the file's name:
     * one line naming the file and both names. */
    snprintf(text, sizeof text, "[azroute]\npolicy = %s/name_mismatch.so\n"
             "[policy name_mismatch]\nk = v\n" NODES_3, dir);
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_E_PLUGIN);
    ck_assert_ptr_null(ctx);
    char full[2048];
    snprintf(full, sizeof full, "TEST.ini:2: plugin '%s/name_mismatch.so': "
             "%s/name_mismatch.so: descriptor names itself 'renamed_inside' "
             "but the file is named 'name_mismatch' (they must be equal)",
             dir, dir);
    /* A long build path (make distcheck) cuts the line at the errbuf's
     * size: what arrived must then be the start of the whole message. */
    if (strlen(full) < sizeof want)
        ck_assert_str_eq(err, full);
    else
        ck_assert_msg(strlen(err) >= sizeof want / 2 &&
                          strncmp(err, full, strlen(err)) == 0,
                      "'%s' is not the start of '%s'", err, full);

    /* Two loaded plugins may not share a name: a policy file named
     * resp_tls.so (elsewhere) and the resp_tls transport. */
    snprintf(text, sizeof text, "[azroute]\npolicy = %s/../twin/.libs/"
             "resp_tls.so\ntransport = resp_tls\n" NODES_3, dir);
    o.plugin_dir = getenv("AZROUTE_PLUGIN_DIR");
    ck_assert_ptr_nonnull(o.plugin_dir);
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_E_PLUGIN);
    snprintf(want, sizeof want, "TEST.ini:3: plugin 'resp_tls' "
             "(%s/resp_tls.so) is already loaded from "
             "%s/../twin/.libs/resp_tls.so", o.plugin_dir, dir);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_plugin_options_checked)
{
    const char *dir = azr_test_broken_plugin_dir();
    azr_open_options o = { .struct_size = sizeof o, .plugin_dir = dir };
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx = NULL;

    /* A key the plugin never reads is an unknown key, with its line. */
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = newer_minor\n"
                                   "[policy newer_minor]\nspeed = 3\n"
                                   NODES_3, &o, &ctx, err),
                     AZR_E_CONFIG);
    ck_assert_str_eq(err, "TEST.ini:4: unknown key 'speed' in "
                          "[policy newer_minor]");

    /* A plugin's own option error carries the option's file:line. */
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = failing_create\n"
                                   "[policy failing_create]\nlevel = 11\n"
                                   NODES_3, &o, &ctx, err),
                     AZR_E_CONFIG);
    ck_assert_str_eq(err, "TEST.ini:4: level '11' is not supported");

    /* The built-in same_az validates its values. */
    o.plugin_dir = NULL;
    ck_assert_int_eq(azr_test_open("[azroute]\npolicy = same_az\n"
                                   "[policy same_az]\nprefer = replicas\n"
                                   NODES_3, &o, &ctx, err),
                     AZR_E_CONFIG);
    ck_assert_str_eq(err, "TEST.ini:4: invalid value 'replicas' for prefer");
}
END_TEST

/* Policies that misbehave at pick time are caught by the host. */
static const char *const garbage_plugins[] = { "garbage_count",
                                               "foreign_pointer",
                                               "negative" };

START_TEST(test_garbage_pick_is_an_error)
{
    char text[1024], err[AZR_ERRBUF_SIZE];
    azr_open_options o = { .struct_size = sizeof o,
                           .plugin_dir = azr_test_broken_plugin_dir() };
    azr_ctx *ctx = NULL;
    /* The plugin directory is the broken plugins' one, so the real same_az
     * is loaded by absolute path. */
    char same_az[300];
    snprintf(same_az, sizeof same_az, "%s/same_az.so",
             getenv("AZROUTE_PLUGIN_DIR"));
    snprintf(text, sizeof text, "[azroute]\npolicy = %s, %s\n" NODES_3,
             same_az, garbage_plugins[_i]);
    ck_assert_int_eq(azr_test_open(text, &o, &ctx, err), AZR_OK);
    size_t idx = 77;
    ck_assert_int_eq(azr_pick(ctx, AZR_INTENT_READ, &idx), AZR_E_PLUGIN);
    ck_assert_uint_eq(idx, 77);
    azr_close(ctx);
}
END_TEST

/* Thread safety: 4 threads x 100k picks with concurrent reports. */
enum { THREADS = 4, PICKS = 100000 };

typedef struct worker {
    azr_ctx *ctx;
    unsigned long hits[3];
    unsigned long bad;
} worker;

static void *pick_and_report(void *arg)
{
    worker *w = arg;
    for (int k = 0; k < PICKS; k++) {
        size_t idx;
        if (azr_pick(w->ctx, AZR_INTENT_READ, &idx) != AZR_OK || idx > 2) {
            w->bad++;
            continue;
        }
        w->hits[idx]++;
        azr_report(w->ctx, idx, 1000 + (uint64_t)(k % 7),
                   k % 10 == 0 ? AZR_STATUS_TIMEOUT : AZR_STATUS_OK, 0);
    }
    return NULL;
}

/* Per-thread slots: threads alive together hold distinct slots, and a
 * slot a thread held is free again once it exited. */
typedef struct slot_probe {
    pthread_barrier_t *together; /* NULL: run alone */
    size_t slot;
} slot_probe;

static void *take_slot(void *arg)
{
    slot_probe *p = arg;
    p->slot = azr__shard_self();
    if (p->together != NULL)
        pthread_barrier_wait(p->together);
    return NULL;
}

START_TEST(test_thread_slots)
{
    size_t mine = azr__shard_self();
    ck_assert_uint_lt(mine, azr__shard_count());
    ck_assert_uint_ge(azr__shard_count(), 4);

    slot_probe a = { 0 }, b = { 0 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, take_slot, &a), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(pthread_create(&t, NULL, take_slot, &b), 0);
    pthread_join(t, NULL);
    ck_assert_uint_ne(a.slot, mine);
    ck_assert_uint_eq(b.slot, a.slot);      /* given back at exit, reused */

    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 3);
    slot_probe c = { .together = &bar }, d = { .together = &bar };
    pthread_t tc, td;
    ck_assert_int_eq(pthread_create(&tc, NULL, take_slot, &c), 0);
    ck_assert_int_eq(pthread_create(&td, NULL, take_slot, &d), 0);
    pthread_barrier_wait(&bar);              /* both hold their slot now */
    pthread_join(tc, NULL);
    pthread_join(td, NULL);
    pthread_barrier_destroy(&bar);
    ck_assert_uint_ne(c.slot, d.slot);
    ck_assert_uint_ne(c.slot, mine);
    ck_assert_uint_ne(d.slot, mine);
}
END_TEST

START_TEST(test_threads_pick_and_report)
{
    azr_ctx *ctx = open_or_fail(
        "[azroute]\npolicy = failover, same_az, weighted_latency\n"
        "[node p]\nhost = h\nport = 1\naz = use1-az3\nrole = primary\n"
        "[node r1]\nhost = h\nport = 2\naz = use1-az1\nrole = replica\n"
        "[node r2]\nhost = h\nport = 3\naz = use1-az1\nrole = replica\n",
        "use1-az1");
    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){ .ctx = ctx };
        ck_assert_int_eq(pthread_create(&t[i], NULL, pick_and_report, &w[i]),
                         0);
    }
    unsigned long total = 0, bad = 0, per_node[3] = { 0 };
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
        for (int n = 0; n < 3; n++) {
            per_node[n] += w[i].hits[n];
            total += w[i].hits[n];
        }
    }
    ck_assert_uint_eq(bad, 0);
    ck_assert_uint_eq(total, THREADS * PICKS);
    uint64_t requests = 0, picks = 0;
    for (size_t n = 0; n < 3; n++) {
        azr_node_stats st;
        ck_assert_int_eq(azr_node_stats_get(ctx, n, &st), AZR_OK);
        ck_assert_uint_eq(st.picks, per_node[n]);
        ck_assert_uint_eq(st.requests, per_node[n]);
        requests += st.requests;
        picks += st.picks;
    }
    ck_assert_uint_eq(requests, THREADS * PICKS);
    ck_assert_uint_eq(picks, THREADS * PICKS);
    azr_close(ctx);
}
END_TEST

START_TEST(test_open_errors)
{
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx = (azr_ctx *)1;
    ck_assert_int_eq(azr_open(&ctx, "/nonexistent/azroute.ini", err),
                     AZR_E_CONFIG);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/azroute.ini"));
    ck_assert_int_eq(azr_open(NULL, "x", err), AZR_E_INVALID_ARGUMENT);
    ck_assert_int_eq(azr_open(&ctx, NULL, NULL), AZR_E_INVALID_ARGUMENT);
    azr_close(NULL);
    ck_assert_uint_eq(azr_node_count(NULL), 0);
}
END_TEST

/* A host table of our own, as an older host would pass it: resp_tls must
 * refuse it at create, with a message, rather than crash on host->resp. */
static char stub_error_text[AZR_ERRBUF_SIZE];

static int stub_error(azr_plugin_env *env, int code, const char *key,
                      const char *fmt, ...)
{
    (void)env;
    (void)key;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(stub_error_text, sizeof stub_error_text, fmt, ap);
    va_end(ap);
    return code;
}

static const char *stub_option(azr_plugin_env *env, const char *key)
{
    (void)env;
    (void)key;
    return NULL;
}

START_TEST(test_transport_needs_resp_services)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/resp_tls.so", getenv("AZROUTE_PLUGIN_DIR"));
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(dl != NULL, "dlopen %s: %s", path, dlerror());
    const azr_plugin *d = dlsym(dl, AZR_PLUGIN_SYMBOL);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(d->transport);

    /* Everything up to thread_slots, no resp: an ABI 1.1 host from before
     * the RESP services were appended. */
    azr_host_services host = {
        .struct_size = offsetof(azr_host_services, resp),
        .abi_major = 1,
        .abi_minor = 1,
        .option = stub_option,
        .error = stub_error,
    };
    void *state = NULL;
    stub_error_text[0] = '\0';
    ck_assert_int_eq(d->transport->create(NULL, &host, &state),
                     AZR_E_PLUGIN);
    ck_assert_ptr_null(state);
    ck_assert_msg(strstr(stub_error_text, "RESP reader") != NULL,
                  "message: '%s'", stub_error_text);

    /* The field is there but points to nothing. */
    host.struct_size = sizeof host;
    host.resp = NULL;
    stub_error_text[0] = '\0';
    ck_assert_int_eq(d->transport->create(NULL, &host, &state),
                     AZR_E_PLUGIN);
    ck_assert_msg(strstr(stub_error_text, "RESP reader") != NULL,
                  "message: '%s'", stub_error_text);
    dlclose(dl);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, test_strerror_covers_every_code);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_report_updates_counters);
    suite_add_tcase(s, tc);

    tc = tcase_create("same_az");
    tcase_add_loop_test(tc, test_same_az_decisions, 0,
                        (int)(sizeof decisions / sizeof decisions[0]));
    tcase_add_test(tc, test_same_az_flags_follow_caller_az);
    tcase_add_test(tc, test_writes_need_a_primary);
    tcase_add_test(tc, test_retry_excludes_tried_nodes);
    tcase_add_test(tc, test_equal_candidates_split_evenly);
    suite_add_tcase(s, tc);

    tc = tcase_create("loader");
    tcase_add_loop_test(tc, test_loader_refusals, 0,
                        (int)(sizeof refusals / sizeof refusals[0]));
    tcase_add_test(tc, test_loader_missing_file);
    tcase_add_test(tc, test_loader_absolute_path_and_duplicates);
    tcase_add_test(tc, test_plugin_options_checked);
    tcase_add_loop_test(tc, test_garbage_pick_is_an_error, 0, 3);
    tcase_add_test(tc, test_transport_needs_resp_services);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_threads_pick_and_report);
    tcase_add_test(tc, test_thread_slots);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
