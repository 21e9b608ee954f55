/*
 * options.c - reads [transport resp_tls] through the host.
 *
 * Every supported key is asked for here, during create(), so that the host
 * can report any other key as unknown with its file:line. Values are
 * checked strictly; an error names the key (the host prefixes file:line).
 *
 *   tls = yes|no              TLS on the connection (default yes)
 *   ca_file, ca_path          trust anchors (default: the system store)
 *   cert_file, key_file       client certificate for mutual TLS (key_file
 *                             defaults to cert_file)
 *   server_name               SNI and the name verified (default: the
 *                             node's host; an IP address is verified as IP)
 *   verify = yes|no           verify the server (default yes); `no` is
 *                             accepted only together with insecure = yes
 *   insecure = yes|no         acknowledges verify = no (default no)
 *   min_tls = 1.2|1.3         lowest TLS version (default 1.2)
 *   connect_timeout_ms        TCP + TLS + HELLO/AUTH (default 1000)
 *   command_timeout_ms        per reply (default 1000)
 *   username                  ACL user for AUTH (needs password_env)
 *   password_env              NAME of the environment variable holding
 *                             the password; the value is never logged
 *   protocol = 2|3            RESP version (default 2; 3 sends HELLO 3 and
 *                             falls back to RESP2 if the server refuses)
 *   max_reply_bytes           memory one reply may take (default 512 MiB,
 *                             1024..2^40; see azr_reader_set_max_reply)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "../common/options.h"
#include "resp_tls.h"

#define TIMEOUT_MAX_MS 600000u

static int parse_bool(rtls_state *st, const char *key, int dflt, int *out)
{
    const char *v = st->host->option(st->env, key);
    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return 0;
    }
    if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
        strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
        strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0) {
        *out = 0;
        return 0;
    }
    return st->host->error(st->env, AZR_E_CONFIG, key,
                           "%s: expected yes or no, got '%s'", key, v);
}

/* A timeout in ms. resp_tls keeps its own wording ("KEY: expected ...")
 * and takes an empty value as the default; only the parse is shared. */
static int parse_ms(rtls_state *st, const char *key, unsigned dflt,
                    unsigned *out)
{
    const char *v = st->host->option(st->env, key);
    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return 0;
    }
    unsigned long long n;
    if (azr__opt_parse_uint(v, 1, TIMEOUT_MAX_MS, &n) != 0)
        return st->host->error(st->env, AZR_E_CONFIG, key,
                               "%s: expected milliseconds from 1 to %u, "
                               "got '%s'", key, TIMEOUT_MAX_MS, v);
    *out = (unsigned)n;
    return 0;
}

/* A byte count: 1 KiB up to 1 TiB. */
static int parse_size(rtls_state *st, const char *key, size_t dflt,
                      size_t *out)
{
    const char *v = st->host->option(st->env, key);
    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return 0;
    }
    unsigned long long n;
    if (azr__opt_parse_uint(v, 1024, 1ull << 40, &n) != 0 ||
        n > (unsigned long long)SIZE_MAX)
        return st->host->error(st->env, AZR_E_CONFIG, key,
                               "%s: expected bytes from 1024 to %llu, got "
                               "'%s'", key, 1ull << 40, v);
    *out = (size_t)n;
    return 0;
}

/* Copies an optional string option; an empty value counts as unset. */
static int parse_string(rtls_state *st, const char *key, char **out)
{
    const char *v = st->host->option(st->env, key);
    if (v == NULL || v[0] == '\0')
        return 0;
    *out = strdup(v);
    if (*out == NULL)
        return st->host->error(st->env, AZR_E_NOMEM, NULL, "out of memory");
    return 0;
}

static int parse_choice(rtls_state *st, const char *key, const char *dflt,
                        const char *const *names, const int *values,
                        int *out)
{
    const char *v = st->host->option(st->env, key);
    if (v == NULL || v[0] == '\0')
        v = dflt;
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = values[i];
            return 0;
        }
    return st->host->error(st->env, AZR_E_CONFIG, key,
                           "%s: expected %s or %s, got '%s'", key, names[0],
                           names[1], v);
}

/* Reads the password from the environment variable the config names. */
static int read_password(rtls_state *st)
{
    rtls_config *cfg = &st->cfg;
    if (cfg->password_env == NULL) {
        if (cfg->username != NULL)
            return st->host->error(st->env, AZR_E_CONFIG, "username",
                                   "username needs password_env (the "
                                   "environment variable holding the "
                                   "password)");
        return 0;
    }
    const char *pw = getenv(cfg->password_env);
    if (pw == NULL || pw[0] == '\0')
        return st->host->error(st->env, AZR_E_CONFIG, "password_env",
                               "password_env: environment variable %s is "
                               "%s", cfg->password_env,
                               pw == NULL ? "not set" : "empty");
    cfg->password = strdup(pw);
    if (cfg->password == NULL)
        return st->host->error(st->env, AZR_E_NOMEM, NULL, "out of memory");
    return 0;
}

int rtls_options_read(rtls_state *st)
{
    rtls_config *cfg = &st->cfg;
    static const char *const proto_names[] = { "2", "3", NULL };
    static const int proto_values[] = { 2, 3 };
    static const char *const tls_names[] = { "1.2", "1.3", NULL };
    static const int tls_values[] = { TLS1_2_VERSION, TLS1_3_VERSION };
    int rc;

    /* Every key first, so that one bad value still leaves no key reported
     * as unknown by mistake; then the cross-checks. */
    if ((rc = parse_bool(st, "tls", 1, &cfg->tls)) != 0 ||
        (rc = parse_bool(st, "verify", 1, &cfg->verify)) != 0 ||
        (rc = parse_bool(st, "insecure", 0, &cfg->insecure)) != 0 ||
        (rc = parse_string(st, "ca_file", &cfg->ca_file)) != 0 ||
        (rc = parse_string(st, "ca_path", &cfg->ca_path)) != 0 ||
        (rc = parse_string(st, "cert_file", &cfg->cert_file)) != 0 ||
        (rc = parse_string(st, "key_file", &cfg->key_file)) != 0 ||
        (rc = parse_string(st, "server_name", &cfg->server_name)) != 0 ||
        (rc = parse_ms(st, "connect_timeout_ms", 1000,
                       &cfg->connect_timeout_ms)) != 0 ||
        (rc = parse_ms(st, "command_timeout_ms", 1000,
                       &cfg->command_timeout_ms)) != 0 ||
        (rc = parse_string(st, "username", &cfg->username)) != 0 ||
        (rc = parse_string(st, "password_env", &cfg->password_env)) != 0 ||
        (rc = parse_choice(st, "protocol", "2", proto_names, proto_values,
                           &cfg->protocol)) != 0 ||
        (rc = parse_choice(st, "min_tls", "1.2", tls_names, tls_values,
                           &cfg->min_tls)) != 0 ||
        (rc = parse_size(st, "max_reply_bytes", AZR_READER_DEFAULT_MAX_REPLY,
                         &cfg->max_reply_bytes)) != 0)
        return rc;

    if (!cfg->verify && !cfg->insecure)
        return st->host->error(st->env, AZR_E_CONFIG, "verify",
                               "verify = no disables server certificate "
                               "checks; it is accepted only together with "
                               "insecure = yes");
    if (cfg->key_file != NULL && cfg->cert_file == NULL)
        return st->host->error(st->env, AZR_E_CONFIG, "key_file",
                               "key_file needs cert_file");
    if (!cfg->tls && (cfg->ca_file != NULL || cfg->ca_path != NULL ||
                      cfg->cert_file != NULL || cfg->server_name != NULL))
        st->host->log(st->env, AZR_LOG_WARNING,
                      "tls = no: ca_file, ca_path, cert_file, key_file and "
                      "server_name are ignored");
    if (cfg->tls && !cfg->verify)
        st->host->log(st->env, AZR_LOG_WARNING,
                      "verify = no: server certificates are NOT verified "
                      "(insecure = yes)");
    return read_password(st);
}

void rtls_options_free(rtls_config *cfg)
{
    if (cfg->password != NULL) {
        OPENSSL_cleanse(cfg->password, strlen(cfg->password));
        free(cfg->password);
    }
    free(cfg->ca_file);
    free(cfg->ca_path);
    free(cfg->cert_file);
    free(cfg->key_file);
    free(cfg->server_name);
    free(cfg->username);
    free(cfg->password_env);
    memset(cfg, 0, sizeof *cfg);
}
