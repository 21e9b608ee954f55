/*
 * broken.c - deliberately defective plugins for the loader tests. One source,
 * compiled once per defect with -DDEFECT_<NAME>; each object exports what a
 * real but broken plugin would.
 */
#include <stdlib.h>

#include <azroute/plugin.h>

static int create(azr_plugin_env *env, const azr_host_services *host,
                  const azr_node_view *const *nodes, size_t n, void **state)
{
    (void)nodes;
    (void)n;
#ifdef DEFECT_FAILING_CREATE
    const char *v = host->option(env, "level");
    return host->error(env, AZR_E_CONFIG, "level",
                       "level '%s' is not supported", v != NULL ? v : "");
#else
    (void)env;
    (void)host;
    *state = NULL;
    return 0;
#endif
}

static void destroy(void *state)
{
    (void)state;
}

#if defined(DEFECT_GARBAGE_COUNT) || defined(DEFECT_FOREIGN_POINTER) || \
    defined(DEFECT_NEGATIVE)
static const azr_node_view foreign;
#endif

static long pick(void *state, const azr_pick_args *args,
                 const azr_node_view **cand, size_t n)
{
    (void)state;
    (void)args;
    (void)cand;
#if defined(DEFECT_GARBAGE_COUNT)
    return (long)n + 1;
#elif defined(DEFECT_FOREIGN_POINTER)
    cand[0] = &foreign;
    return 1;
#elif defined(DEFECT_NEGATIVE)
    return -AZR_E_IO;
#else
    return (long)n;
#endif
}

static const azr_policy_ops ops = {
    .struct_size = sizeof ops,
    .create = create,
    .destroy = destroy,
#ifndef DEFECT_MISSING_PICK
    .pick = pick,
#endif
};

#ifndef DEFECT_NO_SYMBOL
AZR_PLUGIN_DECLARE = {
#ifdef DEFECT_SMALL_STRUCT
    .struct_size = 8,
#else
    .struct_size = sizeof(azr_plugin),
#endif
#ifdef DEFECT_BAD_ABI
    .abi_major = AZR_PLUGIN_ABI_MAJOR + 1,
#else
    .abi_major = AZR_PLUGIN_ABI_MAJOR,
#endif
#ifdef DEFECT_NEWER_MINOR
    .abi_minor = AZR_PLUGIN_ABI_MINOR + 7,
#else
    .abi_minor = AZR_PLUGIN_ABI_MINOR,
#endif
#ifdef DEFECT_WRONG_KIND
    .kind = AZR_PLUGIN_TRANSPORT,
#else
    .kind = AZR_PLUGIN_POLICY,
#endif
    .name = PLUGIN_NAME,
    .version = "test",
    .description = "deliberately broken test plugin",
    .policy = &ops,
};
#else
/* Visible, but not the descriptor. */
AZR_PLUGIN_EXPORT extern const int some_other_symbol;
AZR_PLUGIN_EXPORT const int some_other_symbol = 1;
#endif
