/*
 * config.c - loading azroute.ini: the file (or a string) in, a validated
 * azr_config out.
 *
 * A load reads the text line by line (config_lex.c), each section's keys
 * validated as they come (config_keys.c), then runs the checks that need
 * the whole file and reads nodes_env (config_check.c). Parsing stops at
 * the first error; the message names FILE:LINE (config_parse.c). The
 * value rules live in values.c, the node table and lookups in
 * config_data.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_parse.h"

/* Largest azroute.ini accepted: far above 1024 nodes of 8 lines each. */
#define CFG_FILE_MAX (4u * 1024 * 1024)

/* Parses `text` (len bytes, NUL-terminated) read from `name`. */
static azr_code load_text(const char *text, size_t len, const char *name,
                          azr_config **out, char *err, size_t errlen)
{
    azr_cfg_parser p;
    azr_config *cfg;
    char *line;

    memset(&p, 0, sizeof p);
    p.name = name;
    p.text = text;
    p.len = len;
    p.err = err;
    p.errlen = errlen;

    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL || (cfg->path = strdup(name)) == NULL) {
        free(cfg);
        return azr__cfg_err(err, errlen, AZR_E_NOMEM, "%s: out of memory",
                            name);
    }
    cfg->max_attempts = AZR_ATTEMPTS_DEFAULT;
    cfg->stats.price_per_gb = 0.01;
    cfg->md_source = AZR_MD_AUTO;
    cfg->md_timeout_ms = AZR_MD_DEFAULT_TIMEOUT_MS;
    cfg->topo_mode = AZR_TOPO_STATIC;
    cfg->refresh_ms = AZR_TOPO_REFRESH_DEFAULT_MS;
    cfg->failover_wait_ms = AZR_TOPO_FAILOVER_WAIT_DEFAULT_MS;
    p.cfg = cfg;

    line = malloc(AZR_CFG_LINE_MAX + 1);
    if (line == NULL)
        azr__cfg_perr(&p, 0, AZR_E_NOMEM, "out of memory");
    else
        azr__cfg_lex(&p, line);
    free(line);

    if (!p.has_err)
        azr__cfg_check(&p);

    for (size_t i = 0; i < p.n_nx; i++)
        free(p.nx[i].az);
    free(p.nx);
    if (p.has_err) {
        azr__config_free(cfg);
        return p.code;
    }
    *out = cfg;
    return AZR_OK;
}

azr_code azr__config_load_string(const char *text, const char *name,
                                 azr_config **out, char *err, size_t errlen)
{
    if (out == NULL || text == NULL)
        return azr__cfg_err(err, errlen, AZR_E_INVALID_ARGUMENT,
                            "azr__config_load_string: NULL argument");
    *out = NULL;
    if (name == NULL)
        name = "<string>";
    return load_text(text, strlen(text), name, out, err, errlen);
}

azr_code azr__config_load(const char *path, azr_config **out, char *err,
                          size_t errlen)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    azr_code rc;

    if (out == NULL || path == NULL)
        return azr__cfg_err(err, errlen, AZR_E_INVALID_ARGUMENT,
                            "azr__config_load: NULL argument");
    *out = NULL;
    /* O_NONBLOCK for the open only: opening a FIFO that no process writes
     * would otherwise block for ever (a configuration replaced by a FIFO
     * must fail, not hang azr_open). Reads block as usual, so a pipe with
     * a writer (azroute -c <(...)) still works; a FIFO without a writer
     * reads as empty. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        (f = fdopen(fd, "rb")) == NULL) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return azr__cfg_err(err, errlen, AZR_E_CONFIG, "%s: cannot open: %s",
                            path, strerror(e));
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            char *nb;
            if (cap > CFG_FILE_MAX) {
                fclose(f);
                free(buf);
                return azr__cfg_err(err, errlen, AZR_E_CONFIG,
                                    "%s: file too large (max %u bytes)", path,
                                    CFG_FILE_MAX);
            }
            cap = cap == 0 ? 8192 : cap * 2;
            nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                fclose(f);
                free(buf);
                return azr__cfg_err(err, errlen, AZR_E_NOMEM,
                                    "%s: out of memory", path);
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                int e = errno;
                fclose(f);
                free(buf);
                return azr__cfg_err(err, errlen, AZR_E_CONFIG,
                                    "%s: cannot read: %s", path, strerror(e));
            }
            break;
        }
    }
    fclose(f);
    if (len > CFG_FILE_MAX) {
        free(buf);
        return azr__cfg_err(err, errlen, AZR_E_CONFIG,
                            "%s: file too large (max %u bytes)", path,
                            CFG_FILE_MAX);
    }
    buf[len] = '\0';
    rc = load_text(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}
