/*
 * metadata_ecs.c - ECS task metadata endpoint v4.
 *
 *   GET $ECS_CONTAINER_METADATA_URI_V4/task
 *   -> 200 {"Cluster": ..., "AvailabilityZone": "ap-northeast-1a", ...}
 *
 * ECS reports an AZ *name*, which means different zones in different
 * accounts, so it is mapped to an AZ ID through [az_map]. The cache holds
 * the name; the mapping is applied per caller (each configuration has its
 * own [az_map]).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metadata_internal.h"

typedef struct ecs_arg {
    char url[1100];
} ecs_arg;

/* "ap-northeast-1a", "us-east-1-bos-1a": lowercase letters, digits, '-'. */
static int az_name_ok(const char *s)
{
    size_t n = strlen(s);
    return azr__cfg_chars_valid(s, n, &azr__cfg_az_name_chars) &&
           s[0] != '-' && s[n - 1] != '-';
}

/* http://... with printable bytes only, no spaces, no credentials. */
static int uri_ok(const char *s)
{
    size_t n = strlen(s);
    if (n <= 7 || n > 1000 || strncasecmp(s, "http://", 7) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '@' || c == '#' || c == '?')
            return 0;
    }
    return 1;
}

static void ecs_fetch(void *argp, uint64_t deadline_ns, unsigned timeout_ms,
                      azr_md_answer *out)
{
    const ecs_arg *arg = argp;
    /* Keep the message's end (what went wrong) within the reason buffer:
     * a long URI is shortened in the middle. */
    char where[200];
    size_t ul = strlen(arg->url);
    if (ul > 120)
        snprintf(where, sizeof where, "ecs metadata GET %.60s...%s", arg->url,
                 arg->url + ul - 50);
    else
        snprintf(where, sizeof where, "ecs metadata GET %s", arg->url);
    const char *headers[] = {"Accept: application/json", NULL};
    azr_md_http_request req = {
        .method = "GET",
        .url = arg->url,
        .headers = headers,
        .deadline_ns = deadline_ns,
        .timeout_ms = timeout_ms,
    };
    azr__md_get_json_field(&req, where, "AvailabilityZone", az_name_ok,
                           "an AZ name", NULL, out);
}

void azr__md_ecs_get(const azr_config *cfg, azr_md_cached *out)
{
    memset(out, 0, sizeof *out);
    out->expires_in_s = -1;
    const char *uri = secure_getenv("ECS_CONTAINER_METADATA_URI_V4");
    if (!uri || !uri[0]) {
        azr__md_fail(&out->answer, AZR_E_METADATA,
                     "ecs metadata: ECS_CONTAINER_METADATA_URI_V4 is not set");
        return;
    }
    if (!uri_ok(uri)) {
        azr__md_fail(&out->answer, AZR_E_METADATA,
                     "ecs metadata: ECS_CONTAINER_METADATA_URI_V4 is not a "
                     "plain http:// URL");
        return;
    }
    ecs_arg arg;
    size_t n = strlen(uri);
    while (n > 7 && uri[n - 1] == '/')
        n--;
    snprintf(arg.url, sizeof arg.url, "%.*s/task", (int)n, uri);
    char key[1100];
    snprintf(key, sizeof key, "ecs %.*s", (int)n, uri);
    unsigned timeout = cfg && cfg->md_timeout_ms ? cfg->md_timeout_ms
                                                 : AZR_MD_DEFAULT_TIMEOUT_MS;
    azr__az_cache_get(key, cfg ? cfg->md_cache_file : NULL, timeout, ecs_fetch,
                      &arg, out);
    if (out->answer.code != AZR_OK)
        return;

    /* The cache holds the AZ name: map it for this configuration. */
    char name[AZR_AZ_ID_MAX];
    memcpy(name, out->answer.value, sizeof name);
    const char *id = cfg ? azr__config_map_az(cfg, name) : NULL;
    if (id && azr__az_id_valid(id)) {
        snprintf(out->answer.value, sizeof out->answer.value, "%s", id);
    } else if (id) {
        azr__md_fail(&out->answer, AZR_E_METADATA,
                     "ECS reports AZ '%s' but [az_map] maps it to an invalid "
                     "AZ ID", name);
    } else if (azr__az_id_valid(name)) {
        /* Already an ID: nothing to map. */
    } else {
        azr__md_fail(&out->answer, AZR_E_METADATA,
                     "ECS reports AZ '%s' but [az_map] has no entry for it",
                     name);
    }
}
