/*
 * metadata_get.c - the request shape the Lambda and ECS endpoints share:
 * GET a JSON document, take one string member, check what it must be.
 */
#include <string.h>

#include "metadata_internal.h"

void azr__md_get_json_field(const azr_md_http_request *req, const char *where,
                            const char *field, int (*valid)(const char *),
                            const char *what, const char *secret,
                            azr_md_answer *out)
{
    azr_md_http_response resp;
    char err[200];
    out->max_age_s = -1;
    azr_code rc = azr__md_http(req, &resp, err, sizeof err);
    if (rc != AZR_OK) {
        azr__md_fail(out, rc, "%s: %s", where, err);
        return;
    }
    if (resp.status != 200) {
        char why[160];
        azr_code sc = azr__md_http_status_reason(&resp, why, sizeof why);
        azr__md_fail(out, sc, "%s: %s", where, why);
        azr__md_http_response_free(&resp);
        return;
    }
    if (azr__md_json_string_field(resp.body, resp.len, field, where, secret,
                                  out) == AZR_OK) {
        if (!valid(out->value)) {
            char q[64];
            azr__md_quote(q, sizeof q, out->value, strlen(out->value),
                          secret);
            azr__md_fail(out, AZR_E_METADATA, "%s: \"%s\" %s is not %s",
                         where, field, q, what);
        } else {
            out->max_age_s = resp.max_age_s;
        }
    }
    azr__md_http_response_free(&resp);
}
