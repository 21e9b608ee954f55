/*
 * shards.c - azr_shards_get: a copy of the cluster table's shards for the
 * caller (the table itself may be replaced at any time).
 */
#include <stdlib.h>
#include <string.h>

#include "../core/generation.h"

/* One allocation holds the struct, the shard array and every shard's
 * node and range arrays, so that azr_shards_free is one free(). */
static azr_shards *copy_shards(const azr_gen *g)
{
    size_t n_nodes = 0, n_ranges = 0;
    for (size_t k = 0; k < g->n_shards; k++) {
        n_nodes += g->shards[k].n_nodes;
        n_ranges += g->shards[k].n_ranges;
    }
    size_t size = sizeof(azr_shards) + g->n_shards * sizeof(azr_shard_info) +
                  n_ranges * sizeof(azr_slot_range) +
                  n_nodes * sizeof(size_t);
    azr_shards *out = calloc(1, size);
    if (out == NULL)
        return NULL;
    out->generation = g->number;
    out->n_shards = g->n_shards;
    out->shards = (azr_shard_info *)(out + 1);
    azr_slot_range *ranges = (azr_slot_range *)(out->shards + g->n_shards);
    size_t *nodes = (size_t *)(ranges + n_ranges);
    for (size_t k = 0; k < g->n_shards; k++) {
        const azr_gen_shard *sh = &g->shards[k];
        azr_shard_info *info = &out->shards[k];
        info->id = sh->id; /* interned: lives until azr_close() */
        info->primary = sh->primary;
        info->n_nodes = sh->n_nodes;
        info->nodes = nodes;
        memcpy(nodes, sh->nodes, sh->n_nodes * sizeof *nodes);
        nodes += sh->n_nodes;
        info->n_ranges = sh->n_ranges;
        info->ranges = ranges;
        memcpy(ranges, sh->ranges, sh->n_ranges * sizeof *ranges);
        ranges += sh->n_ranges;
    }
    return out;
}

AZR_EXTERN azr_code azr_shards_get(azr_ctx *ctx, azr_shards **shards)
{
    if (ctx == NULL || shards == NULL)
        return AZR_E_INVALID_ARGUMENT;
    const azr_gen *g = azr__gen_enter(ctx);
    *shards = copy_shards(g);
    azr__gen_leave();
    return *shards != NULL ? AZR_OK : AZR_E_NOMEM;
}

AZR_EXTERN void azr_shards_free(azr_shards *shards)
{
    free(shards);
}
