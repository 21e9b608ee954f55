/*
 * plugin_loader.c - finding, opening and vetting plugin files.
 *
 * Path rules: a plain name ([a-z0-9_]{1,32}) resolves to DIR/NAME.so in the
 * plugin directory; an absolute path is taken as is; anything else that
 * contains a '/' is refused, so a relative path can never pick up a file
 * from wherever the process happens to run. Every refusal is one line that
 * names the file and the reason.
 *
 * A plugin file that does not exist is a configuration error
 * (AZR_E_CONFIG): the configuration names a plugin there is not, and the
 * message lists the plugins the directory does hold. A file that exists
 * but cannot be used (not a regular file, not loadable, not a usable
 * plugin) is AZR_E_PLUGIN.
 *
 * Name rule, whichever way the file was named: the descriptor's name must
 * equal the file's base name without ".so" (/opt/p/mine.so holds "mine").
 * That one name is then the plugin's in the [policy NAME] / [transport
 * NAME] section, in `azroute check` and `azroute plugins`, and in logs.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* The part of azr_plugin every ABI 1.x descriptor has. */
#define AZR_PLUGIN_MIN_SIZE (offsetof(azr_plugin, transport) + sizeof(void *))
#define AZR_POLICY_OPS_MIN_SIZE \
    (offsetof(azr_policy_ops, observe) + sizeof(void *))
#define AZR_TRANSPORT_OPS_MIN_SIZE \
    (offsetof(azr_transport_ops, close) + sizeof(void *))

/* A plain plugin name: [a-z0-9_]{1,32}, the rule of azroute.ini. */
static int plain_name_valid(const char *s)
{
    return azr__cfg_chars_valid(s, strlen(s), &azr__cfg_plugin_name_chars);
}

static const char *kind_name(azr_plugin_kind kind)
{
    switch (kind) {
    case AZR_PLUGIN_POLICY: return "policy";
    case AZR_PLUGIN_TRANSPORT: return "transport";
    }
    return "unknown";
}

/* At most this many plugin names are listed in a "no plugin" message (it
 * is cut at AZR_ERRBUF_SIZE anyway). */
#define AVAILABLE_MAX 64

static int compare_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The "no plugin" error for plain name `name` absent from `dir`:
 * "WHERE: no plugin 'NAME' in DIR (available: a, b, c)", the names of the
 * NAME.so files of `dir` sorted, or "(available: none)", or why `dir`
 * cannot be listed. Returns AZR_E_CONFIG. */
static azr_code no_such_plugin(char *err, const char *where,
                               const char *name, const char *dir)
{
    char msg[AZR_ERRBUF_SIZE];
    size_t used = (size_t)snprintf(msg, sizeof msg, "%s: no plugin '%s' in "
                                   "%s (", where, name, dir);
    DIR *d = opendir(dir);
    if (d == NULL) {
        int e = errno;
        return azr__set_err(err, AZR_E_CONFIG, "%s%s: %s)", msg, dir,
                            strerror(e));
    }
    char names[AVAILABLE_MAX][AZR_CFG_PLUGIN_NAME_MAX + 1];
    size_t n = 0;
    int more = 0;
    const struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (len <= 3 || strcmp(ent->d_name + len - 3, ".so") != 0 ||
            len - 3 > AZR_CFG_PLUGIN_NAME_MAX)
            continue;
        char stem[AZR_CFG_PLUGIN_NAME_MAX + 1];
        memcpy(stem, ent->d_name, len - 3);
        stem[len - 3] = '\0';
        if (!plain_name_valid(stem))
            continue;
        if (n == AVAILABLE_MAX) {
            more = 1;
            break;
        }
        memcpy(names[n++], stem, len - 2);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], compare_names);

    /* Whole names only, and always the closing parenthesis. */
    const char *const tail = ", ...)";
    if (used >= sizeof msg - strlen(tail) - sizeof "available: none")
        return azr__set_err(err, AZR_E_CONFIG, "%s...)", msg);
    used += (size_t)snprintf(msg + used, sizeof msg - used, "available: %s",
                             n == 0 ? "none" : "");
    for (size_t i = 0; i < n; i++) {
        size_t need = strlen(names[i]) + (i > 0 ? 2 : 0);
        if (used + need + strlen(tail) >= sizeof msg) {
            more = 1;
            break;
        }
        used += (size_t)snprintf(msg + used, sizeof msg - used, "%s%s",
                                 i > 0 ? ", " : "", names[i]);
    }
    return azr__set_err(err, AZR_E_CONFIG, "%s%s", msg, more ? tail : ")");
}

/* Checks the descriptor against what this host can use; `stem` is the
 * file's base name without ".so". Returns NULL when usable, else the
 * reason, written into `why`. */
static const char *vet_descriptor(const azr_plugin *d, azr_plugin_kind kind,
                                  const char *stem, char *why, size_t whylen)
{
    if (d->abi_major != AZR_PLUGIN_ABI_MAJOR) {
        snprintf(why, whylen, "built for plugin ABI %u.%u, host speaks %u.%u",
                 d->abi_major, d->abi_minor, AZR_PLUGIN_ABI_MAJOR,
                 AZR_PLUGIN_ABI_MINOR);
        return why;
    }
    if (d->struct_size < AZR_PLUGIN_MIN_SIZE) {
        snprintf(why, whylen, "descriptor is %zu bytes, ABI %u needs at "
                 "least %zu", d->struct_size, AZR_PLUGIN_ABI_MAJOR,
                 (size_t)AZR_PLUGIN_MIN_SIZE);
        return why;
    }
    if (d->name == NULL || !plain_name_valid(d->name)) {
        snprintf(why, whylen, "descriptor has no valid name "
                 "([a-z0-9_]{1,32})");
        return why;
    }
    if (strcmp(d->name, stem) != 0) {
        snprintf(why, whylen, "descriptor names itself '%s' but the file is "
                 "named '%s' (they must be equal)", d->name, stem);
        return why;
    }
    if (d->kind != AZR_PLUGIN_POLICY && d->kind != AZR_PLUGIN_TRANSPORT) {
        snprintf(why, whylen, "unknown plugin kind %d", (int)d->kind);
        return why;
    }
    if (d->kind != kind) {
        snprintf(why, whylen, "is a %s plugin, a %s is needed here",
                 kind_name(d->kind), kind_name(kind));
        return why;
    }
    if (kind == AZR_PLUGIN_POLICY) {
        const azr_policy_ops *o = d->policy;
        if (o == NULL || d->transport != NULL) {
            snprintf(why, whylen, "policy plugin must set 'policy' (and "
                     "only it)");
            return why;
        }
        if (o->struct_size < AZR_POLICY_OPS_MIN_SIZE || o->create == NULL ||
            o->destroy == NULL || o->pick == NULL) {
            snprintf(why, whylen, "policy operations incomplete (create, "
                     "destroy and pick are required)");
            return why;
        }
    } else {
        const azr_transport_ops *o = d->transport;
        if (o == NULL || d->policy != NULL) {
            snprintf(why, whylen, "transport plugin must set 'transport' "
                     "(and only it)");
            return why;
        }
        if (o->struct_size < AZR_TRANSPORT_OPS_MIN_SIZE ||
            o->create == NULL || o->destroy == NULL || o->connect == NULL ||
            o->command == NULL || o->pipeline == NULL || o->close == NULL) {
            snprintf(why, whylen, "transport operations incomplete (create, "
                     "destroy, connect, command, pipeline and close are "
                     "required)");
            return why;
        }
    }
    return NULL;
}

azr_code azr__plugin_load(azr_loaded_plugin *out, const char *name,
                          const char *plugin_dir, azr_plugin_kind kind,
                          const char *where, char *err, size_t errlen)
{
    (void)errlen; /* messages are bounded by AZR_ERRBUF_SIZE */
    memset(out, 0, sizeof *out);
    out->in_chain = -1;

    char *path;
    if (name[0] == '/') {
        path = strdup(name);
    } else if (strchr(name, '/') != NULL) {
        return azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': relative "
                            "paths are refused (use a plain name or an "
                            "absolute path)", where, name);
    } else if (!plain_name_valid(name)) {
        return azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': not a valid "
                            "plugin name ([a-z0-9_]{1,32})", where, name);
    } else {
        if (asprintf(&path, "%s/%s.so", plugin_dir, name) < 0)
            path = NULL;
    }
    if (path == NULL)
        return azr__set_err(err, AZR_E_NOMEM, "%s: out of memory", where);

    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        azr_code rc;
        if (e != ENOENT && e != ENOTDIR) /* there, but not for us */
            rc = azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': %s: %s",
                              where, name, path, strerror(e));
        else if (name[0] == '/')
            rc = azr__set_err(err, AZR_E_CONFIG, "%s: no plugin file '%s': "
                              "%s", where, path, strerror(e));
        else
            rc = no_such_plugin(err, where, name, plugin_dir);
        free(path);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        azr_code rc = azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': %s: "
                                   "not a regular file", where, name, path);
        free(path);
        return rc;
    }

    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *e = dlerror();
        azr_code rc = azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': "
                                   "cannot load: %s", where, name,
                                   e != NULL ? e : path);
        free(path);
        return rc;
    }
    const azr_plugin *desc = dlsym(dl, AZR_PLUGIN_SYMBOL);
    if (desc == NULL) {
        azr_code rc = azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': %s: "
                                   "does not export %s (not an azroute "
                                   "plugin?)", where, name, path,
                                   AZR_PLUGIN_SYMBOL);
        dlclose(dl);
        free(path);
        return rc;
    }
    char why[400], stem[256];
    if (vet_descriptor(desc, kind,
                       azr__cfg_plugin_stem(path, stem, sizeof stem), why,
                       sizeof why) != NULL) {
        azr_code rc = azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': %s: "
                                   "%s", where, name, path, why);
        dlclose(dl);
        free(path);
        return rc;
    }
    if (desc->init != NULL) {
        azr__plugin_error_reset();
        int rc = desc->init();
        if (rc != 0) {
            azr_code c = azr__set_err(err, AZR_E_PLUGIN, "%s: plugin '%s': "
                                      "%s: init failed (%d)", where, name,
                                      path, rc);
            dlclose(dl);
            free(path);
            return c;
        }
    }
    out->dl = dl;
    out->desc = desc;
    out->path = path;
    out->init_done = 1;
    return AZR_OK;
}

void azr__plugin_unload(azr_loaded_plugin *p)
{
    if (p->desc != NULL && p->state != NULL) {
        if (p->desc->kind == AZR_PLUGIN_POLICY)
            p->desc->policy->destroy(p->state);
        else
            p->desc->transport->destroy(p->state);
        p->state = NULL;
    }
    if (p->init_done && p->desc->fini != NULL)
        p->desc->fini();
    p->init_done = 0;
    /* Under sanitizers, keeping the object mapped preserves symbolised
     * stack traces of leaks found in plugins. */
    if (p->dl != NULL && getenv("AZR_NO_DLCLOSE") == NULL)
        dlclose(p->dl);
    p->dl = NULL;
    p->desc = NULL;
    free(p->path);
    p->path = NULL;
}
