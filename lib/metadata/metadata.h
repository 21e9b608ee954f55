/*
 * metadata.h - learning the caller's AZ ID.
 *
 * azr__md_resolve() applies the source rules of azroute.ini(5): the static
 * override (options->az_id, then $AZROUTE_AZ_ID), then the configured
 * [metadata] source (auto: Lambda env -> ECS env -> IMDSv2 unless
 * AWS_EC2_METADATA_DISABLED=true -> none). Network answers are kept in a
 * process-wide cache (one fetch per process, bounded by max-age, concurrent
 * first callers share one fetch); azr_invalidate_az() drops it.
 *
 * It never fails the caller: on error info->known = 0 with info->error and
 * a one-line info->reason (never containing the token).
 */
#ifndef AZR_LIB_METADATA_H
#define AZR_LIB_METADATA_H

#include <azroute/azroute.h>

#include "../config/config.h"

typedef struct azr_md_request {
    const azr_config *cfg;       /* [metadata], [az_map] */
    const char *override_az_id;  /* from azr_open_options, or NULL */
} azr_md_request;

void azr__md_resolve(const azr_md_request *req, azr_az_info *info);

#endif /* AZR_LIB_METADATA_H */
