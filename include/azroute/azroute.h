/*
 * azroute.h - the embedding API of libazroute.
 *
 * azroute learns the caller's Availability Zone ID, keeps a table of the
 * Valkey/Redis nodes named in azroute.ini, and routes each request through a
 * configured chain of selection policies (plugins, see <azroute/plugin.h>).
 * Optionally a transport plugin carries the request itself (RESP over TLS).
 *
 * Conventions for every function below:
 *  - Handles are opaque; a handle is created by exactly one function and
 *    released by exactly one function.
 *  - Functions that can fail return an azr_code (AZR_OK == 0). Numbers of
 *    existing codes never change; new codes are only appended.
 *  - Where a function takes `char errbuf[AZR_ERRBUF_SIZE]`, it may be NULL;
 *    on failure it receives one NUL-terminated line without trailing newline
 *    (for configuration errors: "FILE:LINE: message"). Secrets (metadata
 *    tokens, passwords) never appear in any message.
 *  - "Thread-safe" means the function may be called concurrently on the same
 *    handle from any number of threads.
 *
 * This header is the umbrella: including it is all an embedder needs.
 */
#ifndef AZROUTE_AZROUTE_H
#define AZROUTE_AZROUTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(AZR_BUILDING_LIBRARY) && defined(__GNUC__)
#define AZR_EXTERN __attribute__((visibility("default")))
#else
#define AZR_EXTERN
#endif

#if defined(__GNUC__)
#define AZR_PRINTF(fmt_index, first_arg) \
    __attribute__((format(printf, fmt_index, first_arg)))
#else
#define AZR_PRINTF(fmt_index, first_arg)
#endif

/* Version of the headers. Compare with azr_version() for the library that
 * is actually loaded. */
#define AZR_VERSION_MAJOR 0
#define AZR_VERSION_MINOR 1
#define AZR_VERSION_PATCH 0
#define AZR_VERSION_STRING "0.1.0"
#define AZR_VERSION_NUM \
    ((AZR_VERSION_MAJOR << 16) | (AZR_VERSION_MINOR << 8) | AZR_VERSION_PATCH)

/* Size of every error buffer the API fills. */
#define AZR_ERRBUF_SIZE 256

/* Longest AZ ID or AZ name accepted, including the terminating NUL. */
#define AZR_AZ_ID_MAX 64

/* Upper bound on the node table, so that a pick can keep its candidate list
 * on the stack. Larger configurations are rejected at load time. */
#define AZR_MAX_NODES 1024

/*
 * Result codes. The numbers are part of the ABI and never change.
 */
typedef enum azr_code {
    AZR_OK = 0,
    AZR_E_INVALID_ARGUMENT = 1, /* a NULL handle, bad enum value, ... */
    AZR_E_NOMEM = 2,            /* an allocation failed */
    AZR_E_CONFIG = 3,           /* azroute.ini or nodes_env is invalid */
    AZR_E_PLUGIN = 4,           /* a plugin was refused or misbehaved */
    AZR_E_NO_NODE = 5,          /* the chain left no candidate */
    AZR_E_METADATA = 6,         /* the AZ ID could not be learned */
    AZR_E_METADATA_AUTH = 7,    /* the metadata endpoint rejected the token */
    AZR_E_TIMEOUT = 8,          /* a network operation exceeded its timeout */
    AZR_E_CONNECT = 9,          /* connection refused, reset or unreachable */
    AZR_E_TLS = 10,             /* TLS handshake or certificate failure */
    AZR_E_PROTOCOL = 11,        /* the peer broke the RESP protocol */
    AZR_E_SERVER_REPLY = 12,    /* the server answered with an error reply */
    AZR_E_IO = 13,              /* any other I/O failure */
    AZR_E_NO_TRANSPORT = 14,    /* the configuration names no transport */
    AZR_E_UNSUPPORTED = 15,     /* the operation is not available here */
    AZR_E_AUTH = 16,            /* the server refused AUTH */
    AZR_E_NOT_FOUND = 17,       /* a named item (node, plugin) is unknown */
    AZR_E_CROSSSLOT = 18        /* cluster mode: a command's keys are in
                                   different slots */
} azr_code;

/* Returns a static, human-readable, one-line description of `code`.
 * Never NULL: unknown codes give "unknown error code". Thread-safe. */
AZR_EXTERN const char *azr_strerror(azr_code code);

/* Returns the library's version as "MAJOR.MINOR.PATCH"; when `num` is not
 * NULL it receives the AZR_VERSION_NUM encoding. Thread-safe. */
AZR_EXTERN const char *azr_version(unsigned *num);

/* What a request will do to the data; policies route reads and writes
 * differently (writes go to a primary). */
typedef enum azr_intent {
    AZR_INTENT_READ = 0,
    AZR_INTENT_WRITE = 1
} azr_intent;

/* A node's replication role as configured. */
typedef enum azr_role {
    AZR_ROLE_PRIMARY = 0,
    AZR_ROLE_REPLICA = 1
} azr_role;

/* How a request to a node ended, as reported to the policies. Only
 * AZR_STATUS_OK and AZR_STATUS_ERROR_REPLY mean the node answered. */
typedef enum azr_status {
    AZR_STATUS_OK = 0,
    AZR_STATUS_TIMEOUT = 1,
    AZR_STATUS_REFUSED = 2,     /* connect refused / reset / unreachable */
    AZR_STATUS_ERROR_REPLY = 3, /* the server answered with an error reply */
    AZR_STATUS_TLS_FAILURE = 4,
    AZR_STATUS_IO_ERROR = 5,    /* any other transport failure */
    /* Not an outcome: the picked node was never sent the request (the
     * caller gave up before sending). Releases what the pick reserved in
     * the policies (weighted_latency's outstanding count); not counted as
     * a request. Policies built for plugin ABI 1.0 never see it. */
    AZR_STATUS_CANCELLED = 6
} azr_status;

/* Severity passed to the log callback. AZR_LOG_DEFAULT is not a severity:
 * as azr_open_options.log_level (its zero value) it selects the default,
 * AZR_LOG_WARNING. */
typedef enum azr_log_level {
    AZR_LOG_DEFAULT = 0,
    AZR_LOG_ERROR = 1,
    AZR_LOG_WARNING = 2,
    AZR_LOG_INFO = 3,
    AZR_LOG_DEBUG = 4
} azr_log_level;

/* Receives one log line (no trailing newline). Called from whichever thread
 * produced the message, possibly concurrently; must not call back into the
 * context that logs. Messages never contain secrets. */
typedef void (*azr_log_fn)(void *userdata, azr_log_level level,
                           const char *message);

struct azr_reply;

/* Receives one RESP3 push frame (an AZR_REPLY_PUSH reply, e.g.
 * ["invalidate", [keys]]) that node `node_index` sent on a connection.
 * Called on the thread whose command was reading when the frame arrived,
 * possibly concurrently; `push` is owned by the library and valid only
 * during the call. Must not call back into the context. */
typedef void (*azr_push_fn)(void *userdata, size_t node_index,
                            const struct azr_reply *push);

/* Optional time and randomness sources. Default: CLOCK_MONOTONIC and a
 * per-thread xorshift generator. Tests inject deterministic ones. Both are
 * called on the pick path, concurrently, and must be thread-safe and cheap. */
typedef uint64_t (*azr_clock_fn)(void *userdata);  /* monotonic ns */
typedef uint64_t (*azr_random_fn)(void *userdata); /* uniform 64 bits */

/*
 * Options for azr_open_ex(). Zero-initialise, set struct_size to
 * sizeof(azr_open_options), then set only what you need; fields are only
 * ever appended, and the library reads only the fields `struct_size` covers.
 */
typedef struct azr_open_options {
    size_t struct_size;
    /* Directory plain plugin names resolve in; must be absolute. Takes
     * precedence over $AZROUTE_PLUGIN_DIR (also absolute, ignored in
     * set-uid/set-gid processes) and over plugin_dir in the file. NULL:
     * default. */
    const char *plugin_dir;
    /* Log callback and the most verbose level delivered to it
     * (AZR_LOG_DEFAULT, the zero value: AZR_LOG_WARNING). NULL callback:
     * messages are dropped. */
    azr_log_fn log;
    void *log_userdata;
    azr_log_level log_level;
    /* Time and randomness sources (see azr_clock_fn). NULL: defaults. */
    azr_clock_fn clock;
    azr_random_fn random;
    void *source_userdata;
    /* Fixed AZ ID that overrides [metadata] (like $AZROUTE_AZ_ID). */
    const char *az_id;
    /* Receives RESP3 push frames (client-side caching invalidations and
     * the like) that arrive on a connection while it waits for a reply;
     * they are never returned as replies. NULL: they are counted (see
     * azr_pushes_unclaimed()) and dropped. */
    azr_push_fn push;
    void *push_userdata;
} azr_open_options;

/* The routing context: configuration, node table, loaded plugins, the
 * learned AZ ID and per-node statistics. */
typedef struct azr_ctx azr_ctx;

/*
 * Loads the azroute.ini at `config_path`, loads and creates every plugin of
 * the chain (and the transport, if one is named), and learns the caller's AZ
 * ID (from $AZROUTE_AZ_ID or [metadata]; see azroute.ini(5)). A failure to
 * learn the AZ ID does not fail the open: routing proceeds with no node
 * counted as same-AZ, the reason is logged once and azr_az_info() reports it.
 * On success *ctxp receives a context the caller releases with azr_close().
 * Errors: AZR_E_CONFIG (errbuf holds "FILE:LINE: ..."), AZR_E_PLUGIN,
 * AZR_E_NOMEM, AZR_E_INVALID_ARGUMENT; with [topology] mode = replication
 * or cluster also the first discovery's failure (AZR_E_CONNECT: no seed
 * answered, AZR_E_PROTOCOL: a malformed reply, or a seed that is not a
 * cluster node; errbuf names the server). Thread-safe (no shared state
 * besides the process-wide AZ cache).
 */
AZR_EXTERN azr_code azr_open(azr_ctx **ctxp, const char *config_path,
                             char errbuf[AZR_ERRBUF_SIZE]);

/* As azr_open(), with options (NULL is the same as azr_open()). */
AZR_EXTERN azr_code azr_open_ex(azr_ctx **ctxp, const char *config_path,
                                const azr_open_options *options,
                                char errbuf[AZR_ERRBUF_SIZE]);

/* Releases the context: closes pooled connections, destroys plugin
 * instances, unloads plugins. NULL is accepted. No other call on `ctx` may
 * be running or follow. */
AZR_EXTERN void azr_close(azr_ctx *ctx);

/* Where a node's AZ ID came from. */
typedef enum azr_node_az_source {
    AZR_NODE_AZ_UNKNOWN = 0, /* nowhere: the node never counts as same-AZ */
    AZR_NODE_AZ_SERVER = 1,  /* the server's INFO availability_zone */
    AZR_NODE_AZ_CONFIG = 2,  /* its [node] section (az_id, or az as an ID) */
    AZR_NODE_AZ_AZ_MAP = 3   /* a name (the server's or the [node] az)
                                through [az_map] */
} azr_node_az_source;

/* Read-only view of one node of the table. Strings stay valid until
 * azr_close(). `az_name` is NULL when the node was given by ID only.
 *
 * Under live topology ([topology] mode = replication) the table changes
 * while the context runs: a node keeps its index for the whole life of the
 * context, a node that left the group keeps its index with `present` 0
 * (it is never picked), and a node that joins gets the next index. */
typedef struct azr_node_info {
    size_t index;       /* 0..azr_node_count()-1, stable for the context */
    const char *id;
    const char *host;
    uint16_t port;
    const char *az_id;  /* resolved AZ ID (through [az_map] if needed) */
    const char *az_name;
    azr_role role;
    unsigned weight;    /* >= 1 */
    unsigned priority;  /* failover tier, 0 = highest (default) */
    int same_az;        /* 1 if az_id equals the caller's AZ ID */
    azr_node_az_source az_source; /* AZR_NODE_AZ_UNKNOWN: az_id is "" */
    int present;        /* 1 while the node is in the group */
} azr_node_info;

/* Number of node indexes: every node the table has held since azr_open()
 * (>= 1 for an open context; see azr_node_info.present). Thread-safe. */
AZR_EXTERN size_t azr_node_count(const azr_ctx *ctx);

/* Fills *info for node `index`. AZR_E_NOT_FOUND if index is out of range.
 * Thread-safe. */
AZR_EXTERN azr_code azr_node_get(const azr_ctx *ctx, size_t index,
                                 azr_node_info *info);

/* Finds a node by id; AZR_E_NOT_FOUND if none. Thread-safe. */
AZR_EXTERN azr_code azr_node_find(const azr_ctx *ctx, const char *id,
                                  size_t *index);

/* Live per-node counters, updated atomically by azr_report(). */
typedef struct azr_node_stats {
    uint64_t requests;     /* outcomes reported */
    uint64_t errors;       /* outcomes other than OK and ERROR_REPLY */
    uint64_t total_rtt_ns; /* sum of rtt over answered requests */
    uint64_t picks;        /* times azr_pick chose this node */
} azr_node_stats;

/* Copies node `index`'s counters (each read atomically; the set is not a
 * snapshot). Thread-safe. */
AZR_EXTERN azr_code azr_node_stats_get(const azr_ctx *ctx, size_t index,
                                       azr_node_stats *stats);

/*
 * A routing request. `excluded` lists node indexes that must not be chosen
 * (nodes already tried for this request); `attempt` counts from 0.
 */
typedef struct azr_pick_request {
    azr_intent intent;
    unsigned attempt;
    const size_t *excluded;
    size_t n_excluded;
} azr_pick_request;

/*
 * Chooses the node for one request of the given intent by running the
 * policy chain; *node_index receives its index. Thread-safe, lock-free and
 * allocation-free. Errors: AZR_E_NO_NODE (the chain left nothing, e.g. a
 * write with no primary), AZR_E_PLUGIN (a policy misbehaved; logged).
 */
AZR_EXTERN azr_code azr_pick(azr_ctx *ctx, azr_intent intent,
                             size_t *node_index);

/* As azr_pick(), for a retry: nodes in req->excluded are never chosen. */
AZR_EXTERN azr_code azr_pick_ex(azr_ctx *ctx, const azr_pick_request *req,
                                size_t *node_index);

/*
 * Reports how a request to node `node_index` ended: `rtt_ns` is the
 * measured round-trip (ignored unless the node answered), `attempt` the
 * attempt number passed to azr_pick_ex (0 for a first try). Every policy of
 * the chain observes every outcome, and the node's counters are updated.
 * Thread-safe, lock-free, allocation-free.
 */
AZR_EXTERN azr_code azr_report(azr_ctx *ctx, size_t node_index,
                               uint64_t rtt_ns, azr_status status,
                               unsigned attempt);

/* Where the AZ ID came from. */
typedef enum azr_az_source {
    AZR_AZ_SOURCE_NONE = 0,
    AZR_AZ_SOURCE_STATIC = 1,
    AZR_AZ_SOURCE_LAMBDA = 2,
    AZR_AZ_SOURCE_IMDS = 3,
    AZR_AZ_SOURCE_ECS = 4
} azr_az_source;

/* Returns "none", "static", "lambda", "imds" or "ecs". */
AZR_EXTERN const char *azr_az_source_name(azr_az_source source);

/* What the context knows about the caller's AZ. */
typedef struct azr_az_info {
    int known;                  /* 1 if az_id is valid */
    char az_id[AZR_AZ_ID_MAX];
    azr_az_source source;       /* source used (or tried, when !known) */
    int from_cache;             /* 1 if served by the process-wide cache */
    double fetch_ms;            /* duration of the fetch that produced it */
    int64_t expires_in_s;       /* seconds until the cache entry expires;
                                   -1 when it never does */
    azr_code error;             /* why !known (AZR_OK when known or when
                                   source is none by configuration) */
    char reason[AZR_ERRBUF_SIZE]; /* one line when !known */
} azr_az_info;

/* Copies what the context learned about the caller's AZ at open (or at the
 * last azr_refresh_az()). Thread-safe. */
AZR_EXTERN azr_code azr_az_info_get(const azr_ctx *ctx, azr_az_info *info);

/* Drops the process-wide AZ ID cache, so that the next azr_open() or
 * azr_refresh_az() fetches again. For runtimes that snapshot and restore a
 * process (the AZ may have changed). Thread-safe. */
AZR_EXTERN void azr_invalidate_az(void);

/* Learns the AZ ID again (from the process-wide cache if still valid) and
 * recomputes which nodes are same-AZ. Blocking (may do HTTP). Thread-safe
 * with concurrent azr_pick(). Returns the fetch error, if any; routing
 * continues either way. */
AZR_EXTERN azr_code azr_refresh_az(azr_ctx *ctx);

/*
 * Live topology ([topology] in azroute.ini(5)). With mode = replication
 * the context learns the group from the servers: the primary and its
 * replicas (ROLE), each node's AZ (INFO availability_zone, else its
 * [node] section). It re-discovers every refresh_ms on a thread of its
 * own (started by the first request, stopped by azr_close()), and at once,
 * rate-limited, when a write is refused with READONLY or a primary cannot
 * be reached. The table then changes as a whole: requests in flight finish
 * against the table they started with, picks never wait for a change, and
 * nodes present before and after keep their index, statistics and policy
 * state. With mode = static (the default) the table is the file's.
 */

/* "static" or "replication": the mode the context runs in. */
AZR_EXTERN const char *azr_topology_mode_name(const azr_ctx *ctx);

/* Number of the node table in use: 1 after azr_open(), one more at every
 * change. Thread-safe. */
AZR_EXTERN uint64_t azr_topology_generation(const azr_ctx *ctx);

/*
 * Discovers the group now and swaps the table in if it changed. Blocking
 * (network round trips to the seeds and nodes, each bounded by the
 * transport's timeouts). A failed discovery (no seed answers, a malformed
 * reply, too many nodes, a bad availability_zone) keeps the table in use
 * and returns the reason in errbuf. Static mode: AZR_OK, nothing to do.
 * Thread-safe; concurrent refreshes run one after the other.
 */
AZR_EXTERN azr_code azr_topology_refresh(azr_ctx *ctx,
                                         char errbuf[AZR_ERRBUF_SIZE]);

/*
 * Reads the context's azroute.ini again and, if it loads, swaps it in as
 * azr_topology_refresh() swaps a table: the policy chain is created anew
 * (with the state of the nodes that stay carried over by policies that
 * support it), [node] hints, [az_map], max_attempts and [stats] take
 * effect, and in live mode the group is discovered again. A file that does
 * not load, or a discovery that fails, leaves the running configuration
 * untouched and returns the error (AZR_E_CONFIG: "FILE:LINE: ..."). The
 * transport, its options, the plugin directory and [topology] mode are
 * fixed for the context: a reload that changes them is refused with
 * AZR_E_UNSUPPORTED. Blocking. Thread-safe.
 */
AZR_EXTERN azr_code azr_reload(azr_ctx *ctx, char errbuf[AZR_ERRBUF_SIZE]);

/* Loaded plugin, as listed by azr_plugin_get(). */
typedef struct azr_plugin_info {
    const char *name;
    const char *kind;        /* "policy" or "transport" */
    unsigned abi_major, abi_minor;
    const char *version;     /* the plugin's own version string */
    const char *description;
    const char *path;        /* file it was loaded from */
    int in_chain;            /* position in the chain (0-based), -1 if not */
} azr_plugin_info;

/* Number of loaded plugins (chain policies, then the transport). */
AZR_EXTERN size_t azr_plugin_count(const azr_ctx *ctx);

/* Fills *info for plugin `index`; strings live until azr_close(). */
AZR_EXTERN azr_code azr_plugin_get(const azr_ctx *ctx, size_t index,
                                   azr_plugin_info *info);

/*
 * RESP replies (the reader and the connection API produce them).
 */
typedef enum azr_reply_type {
    AZR_REPLY_STATUS = 1,    /* +simple string */
    AZR_REPLY_ERROR = 2,     /* -error (str holds the message) */
    AZR_REPLY_INTEGER = 3,   /* :integer */
    AZR_REPLY_STRING = 4,    /* $bulk string */
    AZR_REPLY_NIL = 5,       /* $-1, *-1 or RESP3 _ */
    AZR_REPLY_ARRAY = 6,     /* * */
    AZR_REPLY_MAP = 7,       /* % (elements alternate key, value) */
    AZR_REPLY_SET = 8,       /* ~ */
    AZR_REPLY_PUSH = 9,      /* > */
    AZR_REPLY_DOUBLE = 10,   /* , (dval; str holds the text) */
    AZR_REPLY_BOOL = 11,     /* # (integer is 0 or 1) */
    AZR_REPLY_BIGNUM = 12,   /* ( (str holds the digits) */
    AZR_REPLY_VERBATIM = 13, /* = (vtype holds the 3-letter format) */
    AZR_REPLY_BLOB_ERROR = 14 /* ! */
} azr_reply_type;

/* One reply. Strings are NUL-terminated and binary-safe (use len). An
 * attribute (|) preceding a reply is attached to it as `attribute` (a MAP).
 * The whole tree is owned by whoever received it and freed with
 * azr_reply_free(). */
typedef struct azr_reply {
    azr_reply_type type;
    long long integer;
    double dval;
    size_t len;
    char *str;
    char vtype[4];
    size_t elements;
    struct azr_reply **element;
    struct azr_reply *attribute;
} azr_reply;

/* Frees a reply tree. NULL is accepted. */
AZR_EXTERN void azr_reply_free(azr_reply *reply);

/* Incremental RESP2/RESP3 reader, decoupled from I/O: feed the bytes as
 * they arrive, take complete replies out. One reader per stream; not
 * thread-safe. */
typedef struct azr_reader azr_reader;

/* Creates a reader. Limits: nesting depth `max_depth` (0: default 32) and
 * bulk/aggregate length `max_len` (0: default 512 MiB). NULL on ENOMEM. */
AZR_EXTERN azr_reader *azr_reader_new(unsigned max_depth, size_t max_len);

/* Frees the reader and any partial reply. NULL is accepted. */
AZR_EXTERN void azr_reader_free(azr_reader *reader);

/* Appends `len` bytes to the reader's buffer. AZR_E_NOMEM on failure;
 * AZR_E_PROTOCOL if the reader already failed. */
AZR_EXTERN azr_code azr_reader_feed(azr_reader *reader, const void *buf,
                                    size_t len);

/* Takes the next complete reply: AZR_OK with *reply set, or AZR_OK with
 * *reply == NULL when more bytes are needed, or AZR_E_PROTOCOL when the
 * stream is malformed (the reader is then failed for good; azr_reader_error
 * says why). AZR_E_NOMEM leaves the reader unchanged: the call may be
 * retried. AZR_E_INVALID_ARGUMENT for NULL arguments. A text line (type
 * byte to CRLF) may be at most max(max_len, 64) bytes. */
AZR_EXTERN azr_code azr_reader_get_reply(azr_reader *reader,
                                         azr_reply **reply);

/* One line describing why the reader failed, or "" when it has not. */
AZR_EXTERN const char *azr_reader_error(const azr_reader *reader);

/* Bounds the memory one reply may take to `max_bytes`: every payload byte
 * plus the reply structures and element slots (about 90 bytes per element
 * on 64-bit). An aggregate's announced length is charged when its header
 * arrives, so a reply announcing more elements than fit fails at once,
 * before anything is allocated for them. Past the bound,
 * azr_reader_get_reply() fails with AZR_E_PROTOCOL ("reply larger than
 * ...") and the partial reply is freed. 0 restores the default,
 * AZR_READER_DEFAULT_MAX_REPLY. AZR_E_INVALID_ARGUMENT for NULL. */
#define AZR_READER_DEFAULT_MAX_REPLY ((size_t)512 * 1024 * 1024)
AZR_EXTERN azr_code azr_reader_set_max_reply(azr_reader *reader,
                                             size_t max_bytes);

/* Number of bytes fed but not yet taken out as replies (a partial reply,
 * or whole replies nobody asked for yet). A transport uses it to tell
 * that a peer sent more than was asked for. 0 for NULL. */
AZR_EXTERN size_t azr_reader_pending(const azr_reader *reader);

/* Encodes one command as a RESP array of bulk strings into a new buffer
 * (*out, *out_len; NUL-terminated; free with free()). Arguments are
 * binary-safe: argvlen gives each length (NULL: use strlen). Errors:
 * AZR_E_NOMEM; AZR_E_INVALID_ARGUMENT for argc == 0, NULL out pointers, or
 * a NULL argument whose length is not 0. */
AZR_EXTERN azr_code azr_format_command(char **out, size_t *out_len,
                                       size_t argc, const char *const *argv,
                                       const size_t *argvlen);

/*
 * Routed commands through the configured transport plugin.
 */

/* A connection to one node, taken from the context's per-node pool. One
 * connection is used by one thread at a time. */
typedef struct azr_conn azr_conn;

/* One command of a pipeline. */
typedef struct azr_command {
    size_t argc;
    const char *const *argv;
    const size_t *argvlen; /* NULL: strlen */
} azr_command;

/*
 * Picks a node for `intent` and returns a connection to it (pooled or new).
 * A node whose connect fails is reported to the policies and the next
 * candidate is tried, up to [azroute] max_attempts. Errors:
 * AZR_E_NO_TRANSPORT, AZR_E_NO_NODE, or the last connect error (TIMEOUT,
 * CONNECT, TLS, AUTH, ...), described in errbuf. Thread-safe.
 */
AZR_EXTERN azr_code azr_connect(azr_ctx *ctx, azr_intent intent,
                                azr_conn **connp,
                                char errbuf[AZR_ERRBUF_SIZE]);

/*
 * Returns a connection (pooled or new) to node `node_index` itself,
 * bypassing the policy chain: for health checks and measurements such as
 * `azroute probe`. There is no retry on another node; a connect failure is
 * reported to the policies like any other. Errors: AZR_E_NOT_FOUND (index
 * out of range), AZR_E_NO_TRANSPORT, or the connect error, described in
 * errbuf. Thread-safe.
 */
AZR_EXTERN azr_code azr_connect_node(azr_ctx *ctx, size_t node_index,
                                     azr_conn **connp,
                                     char errbuf[AZR_ERRBUF_SIZE]);

/* Node index the connection talks to ((size_t)-1 for NULL). */
AZR_EXTERN size_t azr_conn_node(const azr_conn *conn);

/*
 * Sends one command and waits for its reply (bounded by the transport's
 * command timeout). The outcome and round-trip time are reported to the
 * policies. An error reply from the server is AZR_OK with an ERROR reply.
 * On a transport failure the connection is broken: azr_conn_close() it.
 */
AZR_EXTERN azr_code azr_conn_command(azr_conn *conn, const azr_command *cmd,
                                     azr_reply **reply,
                                     char errbuf[AZR_ERRBUF_SIZE]);

/* Sends `n` commands back to back and reads `n` replies into replies[0..n-1]
 * (each freed by the caller). One outcome is reported for the batch. */
AZR_EXTERN azr_code azr_conn_pipeline(azr_conn *conn, size_t n,
                                      const azr_command *cmds,
                                      azr_reply **replies,
                                      char errbuf[AZR_ERRBUF_SIZE]);

/* Returns the connection to its pool (or closes it if it is broken or the
 * pool is full). NULL is accepted. */
AZR_EXTERN void azr_conn_close(azr_conn *conn);

/*
 * Commands that change a connection's state are refused by azr_exec() and
 * azr_exec_ex() with AZR_E_UNSUPPORTED before anything is sent, because
 * their connection goes back to a shared pool: SUBSCRIBE and the other
 * (un)subscribe commands, MONITOR, SELECT, MULTI, EXEC, DISCARD, WATCH,
 * UNWATCH, RESET, HELLO, AUTH, QUIT, READONLY, READWRITE, SYNC, PSYNC and
 * CLIENT TRACKING / CACHING / REPLY / NO-EVICT / NO-TOUCH. Run
 * them on a connection of your own (azr_connect() + azr_conn_command()):
 * such a connection is then closed by azr_conn_close() instead of pooled
 * (a transaction opened and closed by MULTI ... EXEC or DISCARD in one
 * pipeline leaves it poolable).
 *
 * Runs one command on a node routed by `intent`, retrying on the next
 * candidate (never the same node twice within one table) when a node cannot
 * be reached or the transport fails, up to [azroute] max_attempts. A write
 * is retried only when it was never sent (its node could not be connected)
 * or when the node refused it as no longer the primary (READONLY or
 * MASTERDOWN: not applied): once handed to a node otherwise it may have
 * been applied, so a later failure is returned as is. In cluster mode the
 * command goes to the shard of its keys' slot (azr_command_slot()), and
 * the replies that send it elsewhere unapplied are followed within the
 * same max_attempts: MOVED (the next attempt goes to the node it names,
 * which may be one tried before), ASK (ASKING, then the command at the
 * target), TRYAGAIN and CLUSTERDOWN (the same route again after 5 ms,
 * doubling up to 100 ms); keys in different slots fail before anything
 * is sent (AZR_E_CROSSSLOT). Under live topology
 * a write that finds no primary, or is refused so, waits for the group's
 * new table (at most [topology] failover_wait_ms over the call) and goes
 * to the new primary, still within max_attempts; after that the refusal
 * is returned as the server's ERROR reply. *node_index (may be NULL)
 * receives the node that answered. An error reply is AZR_OK with an ERROR
 * reply. Thread-safe.
 */
AZR_EXTERN azr_code azr_exec(azr_ctx *ctx, azr_intent intent,
                             const azr_command *cmd, azr_reply **reply,
                             size_t *node_index,
                             char errbuf[AZR_ERRBUF_SIZE]);

/* Options of one azr_exec_ex() call. Zero-initialise and set struct_size
 * to sizeof(azr_exec_options); fields are only ever appended. */
typedef struct azr_exec_options {
    size_t struct_size;
    azr_intent intent;
    /* Deadline for the reply, in ms from sending (0: the transport's
     * command_timeout_ms). For commands the server holds on purpose
     * (BLPOP, XREAD BLOCK, WAIT): give their own timeout plus a margin. */
    unsigned timeout_ms;
    /* AZR_EXEC_BLOCKING: the server may hold the reply on purpose, so its
     * round-trip is not a latency sample and reaching timeout_ms is not
     * counted against the node; other failures still are. */
    unsigned flags;
} azr_exec_options;

#define AZR_EXEC_BLOCKING 1u

/*
 * As azr_exec(), with per-call options (NULL options: a read with the
 * context's defaults). AZR_E_UNSUPPORTED when a timeout is asked of a
 * transport that cannot apply one. Thread-safe.
 */
AZR_EXTERN azr_code azr_exec_ex(azr_ctx *ctx, const azr_exec_options *options,
                                const azr_command *cmd, azr_reply **reply,
                                size_t *node_index,
                                char errbuf[AZR_ERRBUF_SIZE]);

/*
 * Cluster mode ([topology] mode = cluster; azroute.ini(5)). The context
 * learns the shards of a Valkey/Redis Cluster (CLUSTER SHARDS, else
 * CLUSTER SLOTS), which slots each serves, and each node's role and AZ.
 * A command's keys decide its shard; the policy chain then chooses among
 * that shard's nodes (its primary only, for a write), so every policy,
 * a user's plugin included, works unchanged per shard.
 */

/* Number of hash slots of a cluster. */
#define AZR_SLOT_COUNT 16384u
/* "No slot": a keyless command, routed over every node. */
#define AZR_SLOT_NONE ((unsigned)-1)

/* The slot of a key: CRC16 (XMODEM) of the key modulo 16384, or of its
 * hash tag when it has one: the bytes between the first '{' and the first
 * '}' after it, if there is at least one byte between them
 * ("{user1000}.following" hashes "user1000"; "foo{}{bar}" hashes whole).
 * Pure and thread-safe. */
AZR_EXTERN unsigned azr_key_slot(const void *key, size_t key_len);

/*
 * The slot `cmd` routes by: its keys' slot when it has keys, found through
 * a built-in table of the commands of Redis 7 / Valkey 8 (key positions
 * as COMMAND INFO gives them, with numkeys and STREAMS forms). A keyless
 * command, or one the table does not know, gets AZR_SLOT_NONE: it goes to
 * any node the chain picks, and a node that does not serve its key
 * answers MOVED, which azr_exec() follows. AZR_E_CROSSSLOT (errbuf names
 * the command and two slots) when its keys are in different slots;
 * AZR_E_INVALID_ARGUMENT for an empty command. Thread-safe.
 */
AZR_EXTERN azr_code azr_command_slot(const azr_command *cmd, unsigned *slot,
                                     char errbuf[AZR_ERRBUF_SIZE]);

/*
 * As azr_pick_ex(), for a request on keys of `slot`: in cluster mode the
 * chain runs over the nodes of the shard that serves the slot (for a write,
 * its primary only); a slot a MOVED reply moved is served by the shard of
 * the node it named. AZR_SLOT_NONE, or a context not in cluster mode: as
 * azr_pick_ex(). Errors: as azr_pick_ex(); AZR_E_NO_NODE when no shard
 * serves the slot; AZR_E_INVALID_ARGUMENT for a slot past 16383.
 * Thread-safe, lock-free and allocation-free.
 */
AZR_EXTERN azr_code azr_pick_slot(azr_ctx *ctx, const azr_pick_request *req,
                                  unsigned slot, size_t *node_index);

/* azr_pick_slot() for the slot of `key` (azr_key_slot()), first attempt. */
AZR_EXTERN azr_code azr_pick_key(azr_ctx *ctx, azr_intent intent,
                                 const void *key, size_t key_len,
                                 size_t *node_index);

/*
 * Runs `n` commands as one pipeline through the engine and stores their
 * replies in replies[0..n-1], in the caller's order (each freed by the
 * caller). Options as azr_exec_ex() (NULL: reads). In cluster mode the
 * commands are split by node (each shard's group is routed by the chain
 * and sent as one pipeline, every group in flight at once when the
 * transport has ABI 1.3's pipeline_send/receive, else in turn), and a
 * command answered MOVED, ASK,
 * TRYAGAIN or CLUSTERDOWN is sent again alone, as azr_exec() would. A
 * command whose keys are in different slots fails the call before
 * anything is sent (AZR_E_CROSSSLOT). A group of reads whose node fails
 * goes to the next candidate; a group holding a write is never sent
 * twice, and its failure fails the call. On an error every reply is NULL,
 * and the writes of groups that did answer may have been applied: a
 * write pipeline that failed is not safe to run again as a whole. A
 * command refused as a whole group (READONLY or MASTERDOWN after a
 * failover) is returned as its reply: only single commands wait for the
 * new primary. node_indexes (may be NULL) receives, for each
 * command, the node that answered it. Commands azr_exec() refuses are
 * refused here too (AZR_E_UNSUPPORTED). Thread-safe.
 */
AZR_EXTERN azr_code azr_exec_pipeline(azr_ctx *ctx,
                                      const azr_exec_options *options,
                                      size_t n, const azr_command *cmds,
                                      azr_reply **replies,
                                      size_t *node_indexes,
                                      char errbuf[AZR_ERRBUF_SIZE]);

/* One slot range, first..last inclusive. */
typedef struct azr_slot_range {
    unsigned first, last;
} azr_slot_range;

/* One shard of the cluster as the table holds it. */
typedef struct azr_shard_info {
    const char *id;      /* the cluster's id of its primary (CLUSTER SHARDS
                            names no shard); valid until azr_close() */
    size_t primary;      /* node index; SIZE_MAX while it has none */
    size_t n_nodes;
    const size_t *nodes; /* node indexes, the primary first */
    size_t n_ranges;
    const azr_slot_range *ranges; /* ascending */
} azr_shard_info;

/* The shards of the table in use (azr_shards_get()). */
typedef struct azr_shards {
    uint64_t generation; /* azr_topology_generation() of that table */
    size_t n_shards;     /* 0 outside cluster mode */
    azr_shard_info *shards;
} azr_shards;

/* Copies the shards of the table in use into a new azr_shards, freed with
 * azr_shards_free(). Errors: AZR_E_INVALID_ARGUMENT, AZR_E_NOMEM.
 * Thread-safe. */
AZR_EXTERN azr_code azr_shards_get(azr_ctx *ctx, azr_shards **shards);

/* Frees a copy. NULL is accepted. */
AZR_EXTERN void azr_shards_free(azr_shards *shards);

/*
 * Statistics: what routing did and saved.
 */

/* One node's figures in a snapshot. Counters count since azr_open(). */
typedef struct azr_node_snapshot {
    size_t index;
    const char *id;             /* strings: valid until azr_close() */
    const char *host;
    uint16_t port;
    const char *az_id;          /* NULL when unknown */
    azr_role role;
    int same_az;                /* 1 if in the caller's AZ */
    uint64_t picks;             /* times the chain chose it */
    uint64_t requests;          /* outcomes reported */
    uint64_t answered;          /* ... that were answers (OK, error reply) */
    /* outcomes by status, indexed by azr_status (OK..IO_ERROR) */
    uint64_t by_status[AZR_STATUS_IO_ERROR + 1];
    uint64_t total_rtt_ns;      /* over answered requests */
    uint64_t bytes_sent;        /* RESP bytes written to it (transport) */
    uint64_t bytes_received;    /* RESP bytes read from it */
    double latency_ns;          /* a policy's current estimate; < 0: none */
    uint64_t ejections;         /* times a policy ejected it */
    int ejected;                /* 1 if ejected now */
} azr_node_snapshot;

/* A snapshot of the context's statistics (azr_stats_get). */
typedef struct azr_stats {
    int az_known;               /* caller's AZ */
    char az_id[AZR_AZ_ID_MAX];
    uint64_t requests, answered, errors; /* sums over the nodes */
    uint64_t same_az_answered;  /* answers from same-AZ nodes */
    double same_az_share;       /* same_az_answered / answered; -1: none */
    uint64_t bytes_sent, bytes_received;
    uint64_t cross_az_bytes;    /* sent to + received from other AZs'
                                   nodes (and nodes of unknown AZ) */
    double price_per_gb;        /* [stats] cross_az_price_per_gb */
    /* Estimated cross-AZ transfer cost in USD: every cross-AZ byte is
     * billed in each direction, out of one AZ and into the other, so
     * cross_az_bytes x 2 x price_per_gb / 1e9. */
    double cross_az_cost_usd;
    uint64_t topology_changes;  /* node table changes since open */
    uint64_t pushes_unclaimed;  /* see azr_pushes_unclaimed() */
    uint64_t taken_at_ms;       /* wall-clock time of the snapshot (ms
                                   since the epoch) */
    size_t n_nodes;
    azr_node_snapshot *nodes;   /* n_nodes: the nodes in the table when
                                   the snapshot was taken, by increasing
                                   index (nodes[i].index; a node that left
                                   the group is in no later snapshot) */
    /* Cluster mode (appended: fields are only ever added at the end):
     * replies that sent a command elsewhere. */
    uint64_t redirects_moved;   /* MOVED followed */
    uint64_t redirects_ask;     /* ASK followed (ASKING sent) */
    uint64_t cluster_retries;   /* TRYAGAIN / CLUSTERDOWN waited out */
} azr_stats;

/* Takes a snapshot of every counter (each read atomically; the set is not
 * one instant) into a new azr_stats, freed with azr_stats_free(). Not for
 * the pick path: it allocates and asks every policy. Thread-safe. Errors:
 * AZR_E_INVALID_ARGUMENT, AZR_E_NOMEM. */
AZR_EXTERN azr_code azr_stats_get(azr_ctx *ctx, azr_stats **stats);

/* Frees a snapshot. NULL is accepted. */
AZR_EXTERN void azr_stats_free(azr_stats *stats);

/* Output formats of azr_stats_format(). */
typedef enum azr_stats_kind {
    AZR_STATS_JSON = 0,        /* one JSON object, one line */
    AZR_STATS_PROMETHEUS = 1,  /* Prometheus text exposition format 0.0.4 */
    AZR_STATS_EMF = 2          /* one CloudWatch Embedded Metric Format
                                  line ([stats] namespace, dimensions) */
} azr_stats_kind;

/* Formats `stats` (taken from `ctx`) into a new NUL-terminated buffer
 * (*out, *len; free with free()). Errors: AZR_E_INVALID_ARGUMENT (NULL,
 * unknown format), AZR_E_NOMEM. Thread-safe. */
AZR_EXTERN azr_code azr_stats_format(const azr_ctx *ctx,
                                     const azr_stats *stats,
                                     azr_stats_kind format, char **out,
                                     size_t *len);

/* RESP3 push frames that arrived while no push callback was set
 * (azr_open_options.push) and were dropped. Thread-safe. */
AZR_EXTERN uint64_t azr_pushes_unclaimed(const azr_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* AZROUTE_AZROUTE_H */
