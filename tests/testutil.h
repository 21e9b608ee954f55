/*
 * testutil.h - helpers shared by the Check suites.
 */
#ifndef AZR_TESTS_TESTUTIL_H
#define AZR_TESTS_TESTUTIL_H

#include <azroute/azroute.h>

/* Writes `text` to a new temporary file and returns its path (malloc'd;
 * the caller unlinks and frees it). Aborts the test on failure. */
char *azr_test_write_file(const char *text);

/* Writes `text` as an ini file, opens it with `opts` (may be NULL) and
 * removes the file. Returns the azr_open_ex code; errbuf receives its
 * message, with the temporary path replaced by "TEST.ini". */
azr_code azr_test_open(const char *text, const azr_open_options *opts,
                       azr_ctx **ctxp, char errbuf[AZR_ERRBUF_SIZE]);

/* Directory of the deliberately broken plugins (tests/plugins/.libs). */
const char *azr_test_broken_plugin_dir(void);

#endif
