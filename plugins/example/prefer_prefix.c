/*
 * prefer_prefix.c - an example azroute selection policy.
 *
 * Keeps the candidates whose host starts with a configured prefix (for
 * instance the caller's own subnet, in the spirit of Lettuce's
 * ReadFrom.subnet) and falls back to all candidates when none matches, so
 * that it never makes a request fail by itself.
 *
 *     [azroute]
 *     policy = failover, /usr/local/lib/azroute/prefer_prefix.so, weighted_latency
 *
 *     [policy prefer_prefix]
 *     prefix = 10.0.1.
 *
 * It is a complete, working plugin kept small on purpose: read it next to
 * azroute-plugin(7). It is not built into the library's default chain and
 * not installed; build it with the Makefile next to it (plain make and
 * pkg-config, nothing else), against an installed azroute.
 *
 * A plugin includes only <azroute/plugin.h> (plus the C library) and
 * exports exactly one symbol, the descriptor, declared with
 * AZR_PLUGIN_DECLARE at the end of this file. Everything else is static;
 * building with -fvisibility=hidden makes sure of it.
 */
#include <stdlib.h>
#include <string.h>

#include <azroute/plugin.h>

/* The instance: everything pick() needs, fixed after create(). Per-node
 * state is computed once here, so that pick() only reads it. */
typedef struct prefix_state {
    size_t n_nodes;
    unsigned char *match;   /* match[node index]: 1 if host has the prefix */
} prefix_state;

/*
 * create: called once per context, before any pick. Reads the options (the
 * [policy prefer_prefix] section) through host->option; every key of the
 * section must be read here, or the host reports it as unknown. Errors are
 * returned as an azr_code and described with host->error; passing the key
 * makes the message start with the option's FILE:LINE.
 */
static int prefix_create(azr_plugin_env *env, const azr_host_services *host,
                         const azr_node_view *const *nodes, size_t n_nodes,
                         void **state)
{
    const char *prefix = host->option(env, "prefix");
    if (prefix == NULL)
        return host->error(env, AZR_E_CONFIG, NULL,
                           "missing option 'prefix' in [policy "
                           "prefer_prefix]");
    if (prefix[0] == '\0')
        return host->error(env, AZR_E_CONFIG, "prefix",
                           "prefix must not be empty");

    prefix_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    st->match = calloc(n_nodes > 0 ? n_nodes : 1, 1);
    if (st->match == NULL) {
        free(st);
        return host->error(env, AZR_E_NOMEM, NULL, "out of memory");
    }
    st->n_nodes = n_nodes;

    /* The node views stay valid and unchanged until destroy(); the host of
     * a node never changes, so the decision can be made once, here. The
     * option string is only valid during create(): it is not kept. */
    size_t len = strlen(prefix);
    for (size_t i = 0; i < n_nodes; i++)
        st->match[nodes[i]->index] =
            strncmp(nodes[i]->host, prefix, len) == 0;

    host->log(env, AZR_LOG_DEBUG, "prefix '%s'", prefix);
    *state = st;
    return 0;
}

static void prefix_destroy(void *state)
{
    prefix_state *st = state;
    if (st != NULL) {
        free(st->match);
        free(st);
    }
}

/*
 * pick: runs on many threads at once, for every request. It must not
 * allocate, lock, log or make a system call; it only reorders or narrows
 * cand[0..n-1] in place and returns the new length (1..n). The host has
 * already removed the nodes tried for this request.
 */
static long prefix_pick(void *state, const azr_pick_args *args,
                        const azr_node_view **cand, size_t n)
{
    const prefix_state *st = state;
    (void)args; /* intent, caller AZ, attempt: not needed here */

    /* Stable in-place compaction: each kept element moves only toward the
     * front, so the order the previous policies chose is preserved. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (cand[i]->index < st->n_nodes && st->match[cand[i]->index])
            cand[kept++] = cand[i];

    /* No match: leave the list as it was (nothing was overwritten) rather
     * than returning 0, which would fail the request with AZR_E_NO_NODE. */
    return kept > 0 ? (long)kept : (long)n;
}

/* No observe hook: this policy does not learn from outcomes. */
static const azr_policy_ops prefix_ops = {
    .struct_size = sizeof(azr_policy_ops),
    .create = prefix_create,
    .destroy = prefix_destroy,
    .pick = prefix_pick,
    .observe = NULL,
};

/* The one exported symbol. `name` must equal the file's base name
 * (prefer_prefix.so) and the [policy NAME] section it reads. */
AZR_PLUGIN_DECLARE = {
    .struct_size = sizeof(azr_plugin),
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
    .kind = AZR_PLUGIN_POLICY,
    .name = "prefer_prefix",
    .version = "1.0",
    .description = "example: prefers nodes whose host starts with a prefix",
    .policy = &prefix_ops,
};
