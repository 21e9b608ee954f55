/*
 * testutil.c - helpers shared by the Check suites.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "testutil.h"

char *azr_test_write_file(const char *text)
{
    const char *tmp = getenv("TMPDIR");
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/azroute-test-XXXXXX",
                              tmp != NULL ? tmp : "/tmp"), 0);
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

azr_code azr_test_open(const char *text, const azr_open_options *opts,
                       azr_ctx **ctxp, char errbuf[AZR_ERRBUF_SIZE])
{
    char *path = azr_test_write_file(text);
    azr_code rc = azr_open_ex(ctxp, path, opts, errbuf);
    unlink(path);
    if (errbuf != NULL) {
        char *at = strstr(errbuf, path);
        if (at != NULL) {
            char rest[AZR_ERRBUF_SIZE];
            snprintf(rest, sizeof rest, "%s", at + strlen(path));
            snprintf(at, AZR_ERRBUF_SIZE - (size_t)(at - errbuf),
                     "TEST.ini%s", rest);
        }
    }
    free(path);
    return rc;
}

const char *azr_test_broken_plugin_dir(void)
{
    static char dir[PATH_MAX];
    const char *build = getenv("AZR_TEST_BUILDDIR");
    snprintf(dir, sizeof dir, "%s/tests/plugins/.libs",
             build != NULL ? build : ".");
    return dir;
}
