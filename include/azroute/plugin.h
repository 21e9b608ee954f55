/*
 * plugin.h - the azroute plugin ABI (selection policies and transports).
 *
 * A plugin is a shared object with exactly one visible symbol: a const
 * descriptor named `azr_plugin_descriptor` (declare it with
 * AZR_PLUGIN_DECLARE). The host dlopen()s the file with RTLD_NOW|RTLD_LOCAL,
 * reads the descriptor and refuses, with a one-line reason naming the file,
 * anything it cannot use.
 *
 * Versioning: AZR_PLUGIN_ABI_MAJOR must match the host's exactly. The minor
 * may be older or newer: structures are only ever extended by appending
 * fields, every structure starts with its own size, and neither side reads a
 * field beyond the size the other side declared. The built-in plugins are
 * written against exactly this header; see azroute-plugin(7) for the guide.
 *
 * Threading: after create() returns, pick() and observe() are called
 * concurrently from any number of threads, with no lock held by the host.
 * They must not allocate, block, or make system calls: keep per-node state
 * in an array sized at create time (node indexes are 0..n_nodes-1) and
 * update it with C11 atomics. Time and randomness come from the host
 * services, never from clock_gettime() or rand(). A plugin never calls
 * abort() or exit(): it returns an error and describes it through the host.
 */
#ifndef AZROUTE_PLUGIN_H
#define AZROUTE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/* The ABI is built from the embedding API's types, so this header does not
 * stand alone: azr_code, azr_status, azr_role, azr_intent, azr_log_level,
 * azr_reply, azr_reader, azr_command and AZR_PRINTF come from azroute.h.
 * The enums are used by value (C cannot forward-declare them) and the
 * reply and command layouts are shared with the host, so they are taken
 * from the one definition rather than repeated. Including it declares the
 * library's functions too; a plugin never calls them (it is not linked
 * against libazroute): the host reaches it through azr_host_services. */
#include <azroute/azroute.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AZR_PLUGIN_ABI_MAJOR 1
#define AZR_PLUGIN_ABI_MINOR 3

/* Name of the one symbol a plugin exports. */
#define AZR_PLUGIN_SYMBOL "azr_plugin_descriptor"

#if defined(__GNUC__)
#define AZR_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define AZR_PLUGIN_EXPORT
#endif

/* Defines the plugin's descriptor: AZR_PLUGIN_DECLARE = { ... }; */
#define AZR_PLUGIN_DECLARE \
    AZR_PLUGIN_EXPORT extern const azr_plugin azr_plugin_descriptor; \
    AZR_PLUGIN_EXPORT const azr_plugin azr_plugin_descriptor

typedef enum azr_plugin_kind {
    AZR_PLUGIN_POLICY = 1,
    AZR_PLUGIN_TRANSPORT = 2
} azr_plugin_kind;

/* The host's handle for one plugin instance; passed back to every service
 * so the host knows who is asking (whose options, whose log prefix). */
typedef struct azr_plugin_env azr_plugin_env;

/* One node as a plugin sees it (defined below). */
typedef struct azr_node_view azr_node_view;

/*
 * The host's RESP reader and encoder (ABI 1.1), for transports: each
 * member is libazroute's public function of the same name (azr_reader_new,
 * azr_reader_feed, ..., azr_format_command, azr_reply_free), with exactly
 * its contract (see their pages in section 3). A transport builds its
 * replies with these, so the trees it hands over are the host's own and
 * the host frees them with azr_reply_free(); it needs neither a copy of the
 * reader compiled in nor a link to libazroute. Buffers from format_command
 * are freed with free(). Reached through azr_host_services.resp.
 */
typedef struct azr_resp_services {
    size_t struct_size;
    azr_reader *(*reader_new)(unsigned max_depth, size_t max_len);
    azr_code (*reader_feed)(azr_reader *reader, const void *buf, size_t len);
    azr_code (*reader_get_reply)(azr_reader *reader, azr_reply **reply);
    const char *(*reader_error)(const azr_reader *reader);
    void (*reader_free)(azr_reader *reader);
    azr_code (*reader_set_max_reply)(azr_reader *reader, size_t max_bytes);
    size_t (*reader_pending)(const azr_reader *reader);
    azr_code (*format_command)(char **out, size_t *out_len, size_t argc,
                               const char *const *argv,
                               const size_t *argvlen);
    void (*reply_free)(azr_reply *reply);
} azr_resp_services;

/*
 * Services the host offers a plugin. Valid from create() until destroy()
 * returns. Check `struct_size` before using a field appended after ABI 1.0
 * (see AZR_HOST_HAS).
 */
typedef struct azr_host_services {
    size_t struct_size;
    unsigned abi_major, abi_minor; /* the host's ABI version */

    /* Logs one line, prefixed by the host with the plugin's name. Never
     * pass secrets. Not for the pick path (it may take a lock and write). */
    void (*log)(azr_plugin_env *env, azr_log_level level, const char *fmt,
                ...) AZR_PRINTF(3, 4);

    /* Monotonic time in nanoseconds. Lock-free; fine on the pick path. */
    uint64_t (*now_ns)(azr_plugin_env *env);

    /* 64 uniformly random bits. Lock-free and thread-safe. */
    uint64_t (*random_u64)(azr_plugin_env *env);

    /* Value of `key` in this plugin's section ([policy NAME] or
     * [transport NAME]), or NULL if absent. Only during create(). Every key
     * never asked for is reported by the host as "unknown key" with its
     * file:line after create() returns, so read every key you support. */
    const char *(*option)(azr_plugin_env *env, const char *key);

    /* Records the error of the current call (thread-local: one per thread)
     * and returns `code`, so that `return host->error(env, code, ...)`
     * reads naturally. If `key` is not NULL the message is prefixed with
     * the file:line of that option, for bad option values. */
    int (*error)(azr_plugin_env *env, int code, const char *key,
                 const char *fmt, ...) AZR_PRINTF(4, 5);

    /* Number of nodes in the table (== n_nodes given to create()). */
    size_t (*node_count)(azr_plugin_env *env);

    /* ---- ABI 1.1 ---- */

    /* Hands a RESP3 push frame (type AZR_REPLY_PUSH) that arrived on a
     * connection to `node` over to the application, and takes ownership
     * of `push`. A transport calls it for every push frame it reads and
     * never returns one as a reply. Thread-safe; not for the pick path. */
    void (*push)(azr_plugin_env *env, const azr_node_view *node,
                 azr_reply *push);

    /* Per-thread slots, for counters that every pick or outcome updates:
     * keep one copy per slot (on cache lines of its own) and sum them when
     * reading, so threads do not fight over one line. thread_slot is the
     * calling thread's slot, 0..thread_slots()-1, fixed for the thread
     * (threads may share a slot: keep the updates atomic). Lock-free, no
     * system call: fine on the pick path. thread_slots is fixed for the
     * process. */
    size_t (*thread_slot)(azr_plugin_env *env);
    size_t (*thread_slots)(azr_plugin_env *env);

    /* The RESP reader and encoder (see azr_resp_services). Never NULL in
     * a host whose struct_size covers it. */
    const azr_resp_services *resp;

    /* ---- ABI 1.2 ---- */

    /* The name a transport verifies `node`'s certificate against when its
     * own options name none: the node's host name, or for a node
     * discovered by IP address the host name of the seed it was found
     * through (a group shares one certificate). Never NULL; valid as long
     * as the view. Thread-safe; not for the pick path. */
    const char *(*tls_name)(azr_plugin_env *env, const azr_node_view *node);
} azr_host_services;

/* True when the services table `host` declares field `field`, i.e. the
 * host is recent enough to have filled it in. */
#define AZR_HOST_HAS(host, field) \
    ((host)->struct_size >= offsetof(azr_host_services, field) + \
                                sizeof((host)->field))

/*
 * One node as a plugin sees it. The host owns the views; they are valid
 * and unchanged from create() until destroy(), except `same_az`, which the
 * host may flip (atomically, as one byte) when the AZ ID is learned again.
 * The fields a pick reads are packed at the front. The host keeps the
 * views in one array aligned to a 64-byte cache line, and a view is at
 * most 64 bytes (asserted below; exactly 64 with 64-bit pointers), so on
 * such targets every view fills one line of its own and scanning
 * candidates touches one line per node.
 */
struct azr_node_view {
    size_t struct_size;
    size_t index;       /* 0..n_nodes-1: index your per-node arrays with it */
    azr_role role;
    unsigned weight;    /* >= 1, from the ini */
    unsigned priority;  /* 0 = highest tier (default) */
    uint16_t port;
    _Atomic unsigned char same_az; /* 1 if az_id == caller's AZ ID */
    const char *id;
    const char *host;
    const char *az_id;  /* resolved AZ ID */
    const char *az_name;/* NULL if the node was given by ID */
};

/* The cache-line promise above: a field appended to azr_node_view must
 * still fit in 64 bytes. */
#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(azr_node_view) <= 64,
              "azr_node_view must fit in one 64-byte cache line");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(azr_node_view) <= 64,
               "azr_node_view must fit in one 64-byte cache line");
#endif

/* What a policy is told about one pick. */
typedef struct azr_pick_args {
    size_t struct_size;
    azr_intent intent;
    const char *caller_az_id;  /* NULL when unknown */
    unsigned attempt;          /* 0 on the first try */
    const size_t *tried;       /* nodes already tried for this request; */
    size_t n_tried;            /* the host has removed them already */
} azr_pick_args;

/* One measured outcome, seen by every policy of the chain. A policy built
 * for ABI >= 1.1 also sees AZR_STATUS_CANCELLED: the node it helped pick
 * was never sent the request; undo what the pick reserved and nothing
 * else (it is neither a success nor a failure). */
typedef struct azr_outcome {
    size_t struct_size;
    size_t node_index;
    uint64_t rtt_ns;     /* meaningful for OK and ERROR_REPLY only */
    azr_status status;
    unsigned attempt;
} azr_outcome;

/*
 * A selection policy.
 *
 * create: builds the instance for a table of `n_nodes` nodes (views stay
 *   valid until destroy). Reads its options through host->option. Returns
 *   0 and sets *state, or an azr_code (error described via host->error).
 * destroy: frees the instance. Called once, with no pick/observe running.
 * pick: narrows and/or reorders cand[0..n-1] in place and returns the new
 *   length, 1..n. It never adds: every element must be one it was given.
 *   After the chain the host takes cand[0]; a policy that chooses narrows
 *   to 1. A return of 0 means "no acceptable candidate" (AZR_E_NO_NODE); a
 *   negative value is -azr_code (described via host->error). Thread-safe,
 *   no allocation, lock or system call.
 * observe: sees every outcome, including for nodes it filtered out.
 *   Thread-safe, same restrictions as pick. May be NULL.
 * carry (ABI 1.2, may be NULL): the node table changed under a running
 *   context (live topology, azr_reload) and this instance, just created
 *   for the new table, replaces `previous`, the same plugin's instance for
 *   the old one. previous_index[i] is node i's index in the old table, or
 *   AZR_NODE_NEW (a node new to the table, or not in the group now: it
 *   starts afresh). Copy what you learned of the nodes that stay (latency
 *   estimates, ejections). `previous` still serves picks and outcomes
 *   while carry runs, so read it as pick does (atomics); it is destroyed
 *   later, once no request uses it. Without carry the new instance starts
 *   afresh. Called once, before the new instance sees any pick.
 * describe (ABI 1.1, may be NULL): fills what the policy knows of node
 *   `index` for statistics (azr_stats_get); leave unknown fields as the
 *   host set them. Thread-safe; not on the pick path, but it must not
 *   block either.
 */
typedef struct azr_policy_node_report {
    size_t struct_size;
    double latency_ns;    /* current latency estimate; host sets -1 */
    uint64_t ejections;   /* times ejected so far; host sets 0 */
    int ejected;          /* ejected now; host sets 0 */
} azr_policy_node_report;

typedef struct azr_policy_ops {
    size_t struct_size;
    int (*create)(azr_plugin_env *env, const azr_host_services *host,
                  const azr_node_view *const *nodes, size_t n_nodes,
                  void **state);
    void (*destroy)(void *state);
    long (*pick)(void *state, const azr_pick_args *args,
                 const azr_node_view **cand, size_t n);
    void (*observe)(void *state, const azr_outcome *outcome);
    /* ---- ABI 1.1 ---- */
    void (*describe)(void *state, size_t index,
                     azr_policy_node_report *report);
    /* ---- ABI 1.2 ---- */
    void (*carry)(void *state, const void *previous,
                  const size_t *previous_index, size_t n_nodes);
} azr_policy_ops;

/* previous_index[] value of a node the previous table did not have. */
#define AZR_NODE_NEW ((size_t)-1)

/* Outcome of a transport operation, so the host can classify failures. */
typedef struct azr_transport_result {
    size_t struct_size;
    azr_status status;   /* set by the plugin on every call */
    /* ABI 1.1 (write them only when struct_size covers them): the RESP
     * bytes this call wrote to and read from the node, the opening's
     * HELLO/AUTH included, TLS records and TCP headers not. The host
     * zeroes them before each call. */
    uint64_t bytes_sent;
    uint64_t bytes_received;
} azr_transport_result;

/*
 * A transport: carries commands to a node.
 *
 * create/destroy: as for policies (one instance per context).
 * connect: opens a connection to `node` (bounded by the plugin's connect
 *   timeout) and sets *conn. Thread-safe. Returns 0 or an azr_code with
 *   the reason via host->error and res->status set.
 * command: sends one command and reads one reply into *reply (bounded by
 *   the command timeout). A server error reply is success with an ERROR
 *   reply. Any other failure breaks the connection (the host closes it).
 *   One thread per connection at a time.
 * pipeline: sends n commands and reads n replies; same rules.
 * close: closes and frees the connection.
 * pipeline_timed (ABI 1.1, may be NULL): as pipeline, but every reply is
 *   due within `timeout_ms` of the call instead of the transport's own
 *   command timeout. Without it the host refuses per-call timeouts
 *   (AZR_E_UNSUPPORTED).
 * pipeline_send, pipeline_receive (ABI 1.3, both or neither; may be
 *   NULL): the two halves of pipeline, so that the host can have
 *   pipelines in flight on several connections at once (a cluster
 *   pipeline split by node). pipeline_send writes the n commands (within
 *   the command timeout; it may reopen the connection as above);
 *   pipeline_receive then reads exactly n replies, each due within
 *   `timeout_ms` (0: the command timeout) of its own call. The host calls
 *   them in that order, with nothing else on the connection in between.
 *   A failure of either breaks the connection.
 * Every reply is the answer to its command: RESP3 push frames go to
 * host->push, and a socket that received bytes nobody asked for is closed
 * (a protocol error), never used again. Before a call sends anything, the
 * transport may open a new socket to the same node in place of one closed
 * so or by the server while idle; that is the only retry it makes: it
 * never sends a command twice (other nodes are the host's business).
 * Replies are built with the host's reader (host->resp, ABI 1.1) and freed
 * by the host with azr_reply_free().
 */
typedef struct azr_transport_ops {
    size_t struct_size;
    int (*create)(azr_plugin_env *env, const azr_host_services *host,
                  void **state);
    void (*destroy)(void *state);
    int (*connect)(void *state, const azr_node_view *node, void **conn,
                   azr_transport_result *res);
    int (*command)(void *conn, const azr_command *cmd, azr_reply **reply,
                   azr_transport_result *res);
    int (*pipeline)(void *conn, size_t n, const azr_command *cmds,
                    azr_reply **replies, azr_transport_result *res);
    void (*close)(void *conn);
    /* ---- ABI 1.1 ---- */
    int (*pipeline_timed)(void *conn, size_t n, const azr_command *cmds,
                          azr_reply **replies, unsigned timeout_ms,
                          azr_transport_result *res);
    /* ---- ABI 1.3 ---- */
    int (*pipeline_send)(void *conn, size_t n, const azr_command *cmds,
                         azr_transport_result *res);
    int (*pipeline_receive)(void *conn, size_t n, azr_reply **replies,
                            unsigned timeout_ms, azr_transport_result *res);
} azr_transport_ops;

/*
 * The descriptor. struct_size = sizeof(azr_plugin) as compiled into the
 * plugin; abi_major/abi_minor = the AZR_PLUGIN_ABI_* it was built with.
 * Exactly one of `policy` / `transport` is set, matching `kind`. `name`
 * matches [a-z0-9_]{1,32} and must equal the file's base name (without
 * .so) for plugins loaded by plain name.
 * init/fini (optional) run once per load, before the first create and
 * after the last destroy.
 */
typedef struct azr_plugin {
    size_t struct_size;
    unsigned abi_major;
    unsigned abi_minor;
    azr_plugin_kind kind;
    const char *name;
    const char *version;
    const char *description;
    int (*init)(void);
    void (*fini)(void);
    const azr_policy_ops *policy;
    const azr_transport_ops *transport;
} azr_plugin;

#ifdef __cplusplus
}
#endif

#endif /* AZROUTE_PLUGIN_H */
