/*
 * metadata.c - which source gives the caller's AZ ID.
 *
 * Precedence, first match wins:
 *   1. azr_open_options.az_id (req->override_az_id)
 *   2. $AZROUTE_AZ_ID (ignored when empty)
 *   3. [metadata] source:
 *        static  [metadata] az_id
 *        none    nothing; not an error
 *        lambda  / imds / ecs: that endpoint
 *        auto    $AWS_LAMBDA_METADATA_API set -> lambda;
 *                else $ECS_CONTAINER_METADATA_URI_V4 set -> ecs;
 *                else IMDSv2 unless AWS_EC2_METADATA_DISABLED=true;
 *                else nothing, with a reason.
 * A fixed ID that is not AZ-ID shaped is an error (known = 0), not ignored:
 * silently routing without it would hide the typo.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metadata.h"
#include "metadata_internal.h"

const char *azr_az_source_name(azr_az_source source)
{
    switch (source) {
    case AZR_AZ_SOURCE_NONE:
        return "none";
    case AZR_AZ_SOURCE_STATIC:
        return "static";
    case AZR_AZ_SOURCE_LAMBDA:
        return "lambda";
    case AZR_AZ_SOURCE_IMDS:
        return "imds";
    case AZR_AZ_SOURCE_ECS:
        return "ecs";
    }
    return "unknown";
}

void azr_invalidate_az(void)
{
    azr__az_cache_clear();
}

static void info_reset(azr_az_info *info, azr_az_source source)
{
    memset(info, 0, sizeof *info);
    info->source = source;
    info->expires_in_s = -1;
    info->error = AZR_OK;
}

static void info_fail(azr_az_info *info, azr_code code, const char *fmt, ...)
    AZR_PRINTF(3, 4);

static void info_fail(azr_az_info *info, azr_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->reason, sizeof info->reason, fmt, ap);
    va_end(ap);
    info->known = 0;
    info->az_id[0] = '\0';
    info->error = code;
}

/* A fixed ID from `what`; quoted back only when it is short plain text. */
static void set_static(azr_az_info *info, const char *id, const char *what)
{
    info_reset(info, AZR_AZ_SOURCE_STATIC);
    if (!azr__az_id_valid(id)) {
        char q[64];
        azr__md_quote(q, sizeof q, id, strlen(id), NULL);
        info_fail(info, AZR_E_METADATA,
                  "%s %s is not an AZ ID (expected e.g. 'apne1-az4')", what,
                  q);
        return;
    }
    snprintf(info->az_id, sizeof info->az_id, "%s", id);
    info->known = 1;
}

static void from_source(azr_az_info *info, azr_az_source source,
                        const azr_md_cached *c)
{
    info_reset(info, source);
    info->from_cache = c->from_cache;
    info->fetch_ms = c->fetch_ms;
    if (c->answer.code != AZR_OK) {
        info_fail(info, c->answer.code, "%s", c->answer.reason);
        info->from_cache = 0;
        return;
    }
    snprintf(info->az_id, sizeof info->az_id, "%s", c->answer.value);
    info->known = 1;
    info->expires_in_s = c->expires_in_s;
}

static int env_set(const char *name)
{
    const char *v = secure_getenv(name);
    return v && v[0];
}

static int imds_disabled(void)
{
    const char *v = secure_getenv("AWS_EC2_METADATA_DISABLED");
    return v && strcasecmp(v, "true") == 0;
}

void azr__md_resolve(const azr_md_request *req, azr_az_info *info)
{
    const azr_config *cfg = req ? req->cfg : NULL;
    azr_md_cached c;

    if (req && req->override_az_id && req->override_az_id[0]) {
        set_static(info, req->override_az_id, "azr_open_options.az_id");
        return;
    }
    const char *env = secure_getenv("AZROUTE_AZ_ID");
    if (env && env[0]) {
        set_static(info, env, "AZROUTE_AZ_ID");
        return;
    }

    azr_md_source_kind kind = cfg ? cfg->md_source : AZR_MD_AUTO;
    switch (kind) {
    case AZR_MD_STATIC:
        if (!cfg->md_az_id || !cfg->md_az_id[0]) {
            info_reset(info, AZR_AZ_SOURCE_STATIC);
            info_fail(info, AZR_E_METADATA,
                      "[metadata] source = static but az_id is not set");
            return;
        }
        set_static(info, cfg->md_az_id, "[metadata] az_id");
        return;
    case AZR_MD_NONE:
        info_reset(info, AZR_AZ_SOURCE_NONE);
        info_fail(info, AZR_OK,
                  "metadata source is 'none' (no node counts as same-AZ)");
        return;
    case AZR_MD_LAMBDA:
        azr__md_lambda_get(cfg, &c);
        from_source(info, AZR_AZ_SOURCE_LAMBDA, &c);
        return;
    case AZR_MD_IMDS:
        azr__md_imds_get(cfg, &c);
        from_source(info, AZR_AZ_SOURCE_IMDS, &c);
        return;
    case AZR_MD_ECS:
        azr__md_ecs_get(cfg, &c);
        from_source(info, AZR_AZ_SOURCE_ECS, &c);
        return;
    case AZR_MD_AUTO:
    default:
        break;
    }

    if (env_set("AWS_LAMBDA_METADATA_API")) {
        azr__md_lambda_get(cfg, &c);
        from_source(info, AZR_AZ_SOURCE_LAMBDA, &c);
    } else if (env_set("ECS_CONTAINER_METADATA_URI_V4")) {
        azr__md_ecs_get(cfg, &c);
        from_source(info, AZR_AZ_SOURCE_ECS, &c);
    } else if (!imds_disabled()) {
        azr__md_imds_get(cfg, &c);
        from_source(info, AZR_AZ_SOURCE_IMDS, &c);
    } else {
        info_reset(info, AZR_AZ_SOURCE_NONE);
        info_fail(info, AZR_E_METADATA,
                  "no AZ source found (source = auto: AWS_LAMBDA_METADATA_API "
                  "and ECS_CONTAINER_METADATA_URI_V4 are not set, IMDS is "
                  "disabled by AWS_EC2_METADATA_DISABLED=true); no node "
                  "counts as same-AZ");
    }
}
