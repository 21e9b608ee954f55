/*
 * stats_format.c - azr_stats_format: a snapshot as JSON, as Prometheus
 * text exposition (format 0.0.4) or as one CloudWatch Embedded Metric
 * Format line.
 *
 * JSON and EMF are built with json-c (escaping and number formatting are
 * its job). The Prometheus text is written here: metric names follow the
 * Prometheus conventions (azroute_ prefix, _total for counters, base
 * units: seconds, bytes), label values are escaped as the format requires
 * (backslash, double quote, line feed), and every metric family has its
 * HELP and TYPE lines once, before its samples.
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generation.h"

static const char *const status_names[AZR_STATUS_IO_ERROR + 1] = {
    "ok", "timeout", "refused", "error_reply", "tls_failure", "io_error",
};

static const char *role_name(azr_role role)
{
    return role == AZR_ROLE_PRIMARY ? "primary" : "replica";
}

/* ---- JSON ---- */

static json_object *u64(uint64_t v)
{
    return json_object_new_uint64(v);
}

static json_object *node_json(const azr_node_snapshot *n)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(n->id));
    json_object_object_add(o, "host", json_object_new_string(n->host));
    json_object_object_add(o, "port", json_object_new_int(n->port));
    json_object_object_add(o, "az_id", n->az_id != NULL
                                           ? json_object_new_string(n->az_id)
                                           : NULL);
    json_object_object_add(o, "role",
                           json_object_new_string(role_name(n->role)));
    json_object_object_add(o, "same_az", json_object_new_boolean(n->same_az));
    json_object_object_add(o, "picks", u64(n->picks));
    json_object_object_add(o, "requests", u64(n->requests));
    json_object_object_add(o, "answered", u64(n->answered));
    json_object_object_add(o, "errors", u64(n->requests - n->answered));
    json_object *by = json_object_new_object();
    for (size_t k = 0; k <= AZR_STATUS_IO_ERROR; k++)
        json_object_object_add(by, status_names[k], u64(n->by_status[k]));
    json_object_object_add(o, "by_status", by);
    json_object_object_add(o, "bytes_sent", u64(n->bytes_sent));
    json_object_object_add(o, "bytes_received", u64(n->bytes_received));
    json_object_object_add(o, "avg_ms",
                           n->answered > 0
                               ? json_object_new_double(
                                     (double)n->total_rtt_ns /
                                     (double)n->answered / 1e6)
                               : NULL);
    json_object_object_add(o, "latency_estimate_ms",
                           n->latency_ns >= 0
                               ? json_object_new_double(n->latency_ns / 1e6)
                               : NULL);
    json_object_object_add(o, "ejections", u64(n->ejections));
    json_object_object_add(o, "ejected", json_object_new_boolean(n->ejected));
    return o;
}

static json_object *stats_json(const azr_stats *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "az_id", s->az_known
                                           ? json_object_new_string(s->az_id)
                                           : NULL);
    json_object_object_add(o, "requests", u64(s->requests));
    json_object_object_add(o, "answered", u64(s->answered));
    json_object_object_add(o, "errors", u64(s->errors));
    json_object_object_add(o, "same_az_share",
                           s->same_az_share >= 0
                               ? json_object_new_double(s->same_az_share)
                               : NULL);
    json_object_object_add(o, "bytes_sent", u64(s->bytes_sent));
    json_object_object_add(o, "bytes_received", u64(s->bytes_received));
    json_object_object_add(o, "cross_az_bytes", u64(s->cross_az_bytes));
    json_object_object_add(o, "cross_az_cost_usd",
                           json_object_new_double(s->cross_az_cost_usd));
    json_object_object_add(o, "topology_changes", u64(s->topology_changes));
    json_object_object_add(o, "pushes_unclaimed", u64(s->pushes_unclaimed));
    json_object_object_add(o, "redirects_moved", u64(s->redirects_moved));
    json_object_object_add(o, "redirects_ask", u64(s->redirects_ask));
    json_object_object_add(o, "cluster_retries", u64(s->cluster_retries));
    json_object *nodes = json_object_new_array();
    for (size_t i = 0; i < s->n_nodes; i++)
        json_object_array_add(nodes, node_json(&s->nodes[i]));
    json_object_object_add(o, "nodes", nodes);
    return o;
}

/* ---- CloudWatch EMF ---- */

/* One metric definition of the _aws block, and its value at the top. */
static void emf_metric(json_object *defs, json_object *root,
                       const char *name, const char *unit, json_object *v)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "Name", json_object_new_string(name));
    json_object_object_add(d, "Unit", json_object_new_string(unit));
    json_object_array_add(defs, d);
    json_object_object_add(root, name, v);
}

/*
 * {"_aws":{"Timestamp":MS,"CloudWatchMetrics":[{"Namespace":NS,
 *  "Dimensions":[[DIM...]],"Metrics":[{"Name":..,"Unit":..},...]}]},
 *  DIM:"value",..., "Requests":N, ...}
 * The dimensions are [stats] dimensions plus AzId (the caller's AZ, or
 * "unknown"); every metric defined is a key of the root object.
 */
static json_object *stats_emf(const azr_cfg_stats *cfg, const azr_stats *s)
{
    json_object *root = json_object_new_object();
    json_object *aws = json_object_new_object();
    json_object *directive = json_object_new_object();
    json_object *dimset = json_object_new_array();
    json_object *defs = json_object_new_array();

    json_object_object_add(aws, "Timestamp", u64(s->taken_at_ms));
    json_object_object_add(directive, "Namespace",
                           json_object_new_string(
                               cfg->emf_namespace != NULL
                                   ? cfg->emf_namespace : "azroute"));
    for (size_t i = 0; i < cfg->n_dimensions; i++) {
        json_object_array_add(dimset, json_object_new_string(
                                          cfg->dimensions[i].name));
        json_object_object_add(root, cfg->dimensions[i].name,
                               json_object_new_string(
                                   cfg->dimensions[i].value));
    }
    json_object_array_add(dimset, json_object_new_string("AzId"));
    json_object_object_add(root, "AzId", json_object_new_string(
                                             s->az_known ? s->az_id
                                                         : "unknown"));
    json_object *dims = json_object_new_array();
    json_object_array_add(dims, dimset);
    json_object_object_add(directive, "Dimensions", dims);

    emf_metric(defs, root, "Requests", "Count", u64(s->requests));
    emf_metric(defs, root, "Errors", "Count", u64(s->errors));
    emf_metric(defs, root, "SameAzShare", "Percent",
               json_object_new_double(s->same_az_share >= 0
                                          ? 100.0 * s->same_az_share : 0.0));
    emf_metric(defs, root, "BytesSent", "Bytes", u64(s->bytes_sent));
    emf_metric(defs, root, "BytesReceived", "Bytes", u64(s->bytes_received));
    emf_metric(defs, root, "CrossAzBytes", "Bytes", u64(s->cross_az_bytes));
    emf_metric(defs, root, "CrossAzCostUSD", "None",
               json_object_new_double(s->cross_az_cost_usd));
    emf_metric(defs, root, "TopologyChanges", "Count",
               u64(s->topology_changes));
    json_object_object_add(directive, "Metrics", defs);

    json_object *directives = json_object_new_array();
    json_object_array_add(directives, directive);
    json_object_object_add(aws, "CloudWatchMetrics", directives);
    json_object_object_add(root, "_aws", aws);
    return root;
}

/* ---- Prometheus text ---- */

typedef struct outbuf {
    char *data;
    size_t len, cap;
    int failed;
} outbuf;

static void out_printf(outbuf *b, const char *fmt, ...) AZR_PRINTF(2, 3);
static void out_printf(outbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n + 1;
        char *nd = realloc(b->data, ncap);
        if (nd == NULL) {
            b->failed = 1;
            return;
        }
        b->data = nd;
        b->cap = ncap;
    }
}

/* A label value with \, " and line feed escaped. */
static void out_label_value(outbuf *b, const char *v)
{
    for (; v != NULL && *v != '\0'; v++) {
        if (*v == '\\')
            out_printf(b, "\\\\");
        else if (*v == '"')
            out_printf(b, "\\\"");
        else if (*v == '\n')
            out_printf(b, "\\n");
        else
            out_printf(b, "%c", *v);
    }
}

static void out_node_labels(outbuf *b, const azr_node_snapshot *n)
{
    out_printf(b, "{node=\"");
    out_label_value(b, n->id);
    out_printf(b, "\",az=\"");
    out_label_value(b, n->az_id != NULL ? n->az_id : "");
    out_printf(b, "\",role=\"%s\",same_az=\"%s\"", role_name(n->role),
               n->same_az ? "true" : "false");
}

static void out_family(outbuf *b, const char *name, const char *type,
                       const char *help)
{
    out_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A per-node family whose value is a uint64 field of the snapshot. */
static void out_node_counter(outbuf *b, const azr_stats *s, const char *name,
                             const char *type, const char *help,
                             size_t field_offset)
{
    out_family(b, name, type, help);
    for (size_t i = 0; i < s->n_nodes; i++) {
        const azr_node_snapshot *n = &s->nodes[i];
        uint64_t v;
        memcpy(&v, (const char *)n + field_offset, sizeof v);
        out_printf(b, "%s", name);
        out_node_labels(b, n);
        out_printf(b, "} %llu\n", (unsigned long long)v);
    }
}

static void stats_prometheus(const azr_stats *s, outbuf *b)
{
    out_node_counter(b, s, "azroute_requests_total", "counter",
                     "Requests whose outcome was reported, per node.",
                     offsetof(azr_node_snapshot, requests));
    out_family(b, "azroute_errors_total", "counter",
               "Requests that got no answer, per node and cause.");
    for (size_t i = 0; i < s->n_nodes; i++)
        for (size_t k = AZR_STATUS_TIMEOUT; k <= AZR_STATUS_IO_ERROR; k++) {
            if (k == AZR_STATUS_ERROR_REPLY)
                continue;
            out_printf(b, "azroute_errors_total");
            out_node_labels(b, &s->nodes[i]);
            out_printf(b, ",status=\"%s\"} %llu\n", status_names[k],
                       (unsigned long long)s->nodes[i].by_status[k]);
        }
    out_family(b, "azroute_error_replies_total", "counter",
               "Requests the server answered with an error reply.");
    for (size_t i = 0; i < s->n_nodes; i++) {
        out_printf(b, "azroute_error_replies_total");
        out_node_labels(b, &s->nodes[i]);
        out_printf(b, "} %llu\n", (unsigned long long)s->nodes[i]
                                      .by_status[AZR_STATUS_ERROR_REPLY]);
    }
    out_node_counter(b, s, "azroute_picks_total", "counter",
                     "Times the policy chain chose the node.",
                     offsetof(azr_node_snapshot, picks));
    out_node_counter(b, s, "azroute_sent_bytes_total", "counter",
                     "RESP bytes written to the node.",
                     offsetof(azr_node_snapshot, bytes_sent));
    out_node_counter(b, s, "azroute_received_bytes_total", "counter",
                     "RESP bytes read from the node.",
                     offsetof(azr_node_snapshot, bytes_received));
    out_node_counter(b, s, "azroute_ejections_total", "counter",
                     "Times a policy ejected the node.",
                     offsetof(azr_node_snapshot, ejections));
    out_family(b, "azroute_ejected", "gauge",
               "1 if the node is ejected now.");
    for (size_t i = 0; i < s->n_nodes; i++) {
        out_printf(b, "azroute_ejected");
        out_node_labels(b, &s->nodes[i]);
        out_printf(b, "} %d\n", s->nodes[i].ejected ? 1 : 0);
    }
    out_family(b, "azroute_latency_estimate_seconds", "gauge",
               "A policy's current latency estimate for the node.");
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (s->nodes[i].latency_ns < 0)
            continue;
        out_printf(b, "azroute_latency_estimate_seconds");
        out_node_labels(b, &s->nodes[i]);
        out_printf(b, "} %.9g\n", s->nodes[i].latency_ns / 1e9);
    }
    out_family(b, "azroute_same_az_share", "gauge",
               "Share of answered requests served by same-AZ nodes.");
    out_printf(b, "azroute_same_az_share %.6g\n",
               s->same_az_share >= 0 ? s->same_az_share : 0.0);
    out_family(b, "azroute_cross_az_bytes_total", "counter",
               "RESP bytes exchanged with nodes outside the caller's AZ.");
    out_printf(b, "azroute_cross_az_bytes_total %llu\n",
               (unsigned long long)s->cross_az_bytes);
    out_family(b, "azroute_cross_az_cost_dollars", "gauge",
               "Estimated cross-AZ transfer cost so far (USD, both "
               "directions billed).");
    out_printf(b, "azroute_cross_az_cost_dollars %.9g\n",
               s->cross_az_cost_usd);
    out_family(b, "azroute_topology_changes_total", "counter",
               "Changes of the node table since the context opened.");
    out_printf(b, "azroute_topology_changes_total %llu\n",
               (unsigned long long)s->topology_changes);
    out_family(b, "azroute_push_frames_unclaimed_total", "counter",
               "RESP3 push frames dropped for want of a push callback.");
    out_printf(b, "azroute_push_frames_unclaimed_total %llu\n",
               (unsigned long long)s->pushes_unclaimed);
    out_family(b, "azroute_cluster_redirects_total", "counter",
               "Cluster replies that sent a command to another node.");
    out_printf(b, "azroute_cluster_redirects_total{kind=\"moved\"} %llu\n",
               (unsigned long long)s->redirects_moved);
    out_printf(b, "azroute_cluster_redirects_total{kind=\"ask\"} %llu\n",
               (unsigned long long)s->redirects_ask);
    out_family(b, "azroute_cluster_retries_total", "counter",
               "TRYAGAIN and CLUSTERDOWN replies waited out and retried.");
    out_printf(b, "azroute_cluster_retries_total %llu\n",
               (unsigned long long)s->cluster_retries);
}

/* Copies a json-c rendering into a buffer of our own (freed with free). */
static azr_code take_json(json_object *o, char **out, size_t *len)
{
    size_t n = 0;
    const char *text = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *copy = text != NULL ? malloc(n + 2) : NULL;
    if (copy != NULL) {
        memcpy(copy, text, n);
        copy[n] = '\n';
        copy[n + 1] = '\0';
        *out = copy;
        *len = n + 1;
    }
    json_object_put(o);
    return copy != NULL ? AZR_OK : AZR_E_NOMEM;
}

AZR_EXTERN azr_code azr_stats_format(const azr_ctx *ctx,
                                     const azr_stats *stats,
                                     azr_stats_kind format, char **out,
                                     size_t *len)
{
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || stats == NULL || out == NULL || len == NULL)
        return AZR_E_INVALID_ARGUMENT;
    switch (format) {
    case AZR_STATS_JSON:
        return take_json(stats_json(stats), out, len);
    case AZR_STATS_EMF:
    {
        /* [stats] of the configuration in effect (a reload may change
         * it), held while the object is built. */
        const azr_gen *g = azr__gen_enter((azr_ctx *)ctx);
        json_object *emf = stats_emf(&g->cfg->cfg->stats, stats);
        azr__gen_leave();
        return take_json(emf, out, len);
    }
    case AZR_STATS_PROMETHEUS: {
        outbuf b = { .cap = 4096 };
        b.data = malloc(b.cap);
        if (b.data == NULL)
            return AZR_E_NOMEM;
        b.data[0] = '\0';
        stats_prometheus(stats, &b);
        if (b.failed) {
            free(b.data);
            return AZR_E_NOMEM;
        }
        *out = b.data;
        *len = b.len;
        return AZR_OK;
    }
    }
    return AZR_E_INVALID_ARGUMENT;
}
