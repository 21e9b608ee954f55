/*
 * resp_tls.h - internal interfaces of the resp_tls transport plugin.
 *
 * The plugin carries RESP2/RESP3 commands to a node over TCP, optionally
 * wrapped in TLS (OpenSSL). It is split by concern:
 *   options.c  reads and validates [transport resp_tls] (create time)
 *   tls.c      the SSL_CTX, per-connection TLS setup and handshake errors
 *   net.c      sockets: deadlines, non-blocking connect, raw and TLS I/O
 *   opening.c  opening a connection: TCP, TLS handshake, HELLO/AUTH
 *   session.c  one connection: connect, commands, pipelines, close
 *   stream.c   push frames, stray bytes, the check of an idle connection
 *   plugin.c   the descriptor and the ABI glue
 * Only `azr_plugin_descriptor` is visible outside the module (the module is
 * built with -fvisibility=hidden); the rtls_ functions are internal.
 *
 * Every failing function records its message through host->error (one
 * line, thread-local in the host) and returns an azr_code; the status the
 * host reports to the policies travels in an azr_transport_result.
 *
 * Retries: the transport makes one kind only, and never re-sends anything.
 * Before a command or pipeline is sent on a used connection it checks,
 * without blocking, what arrived while the connection waited idle
 * (stream.c); a connection the server closed meanwhile (restart, idle
 * timeout), or that holds bytes nobody asked for, or that a previous call
 * closed after stray bytes, is opened again to the same node, and only
 * then is the call's first byte sent (session.c). Nothing of the call
 * has gone out at that point, so nothing can run twice; a failed reopen
 * is the call's failure. Once any byte of a call is sent, a failure is
 * returned as it is: a command that reached a node may have been applied,
 * so whether to try again, and on which node, is the host's decision
 * (lib/conn.c: azr_exec picks another node, up to max_attempts, and
 * retries a write only if it was never sent). Trying each address a
 * node's host name resolves to within one connect_timeout_ms (net.c) is
 * one connect, not a retry.
 */
#ifndef AZR_PLUGIN_RESP_TLS_H
#define AZR_PLUGIN_RESP_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include <azroute/plugin.h>

/* The validated options of one instance. Strings are owned (NULL when not
 * set). The password is a copy of the environment variable named by
 * password_env, wiped when the instance is destroyed. */
typedef struct rtls_config {
    int tls;                 /* tls = yes (default) */
    int verify;              /* verify = yes (default) */
    int insecure;            /* insecure = yes: allows verify = no */
    char *ca_file;
    char *ca_path;
    char *cert_file;
    char *key_file;
    char *server_name;       /* SNI and the name verified, instead of host */
    unsigned connect_timeout_ms; /* default 1000 */
    unsigned command_timeout_ms; /* default 1000 */
    char *username;
    char *password_env;
    char *password;
    int protocol;            /* 2 (default) or 3 */
    int min_tls;             /* TLS1_2_VERSION (default) or TLS1_3_VERSION */
    size_t max_reply_bytes;  /* memory bound of one reply (default
                                AZR_READER_DEFAULT_MAX_REPLY) */
} rtls_config;

/* One instance (one per context). Shared by every connection; read-only
 * after create, so connections on many threads use it without locks
 * (SSL_CTX is thread-safe for SSL_new). */
typedef struct rtls_state {
    azr_plugin_env *env;
    const azr_host_services *host;
    const azr_resp_services *resp; /* host->resp, checked at create */
    rtls_config cfg;
    SSL_CTX *ssl_ctx;        /* NULL when tls = no */
} rtls_state;

typedef struct rtls_conn rtls_conn;

/* Records the current call's error through the host and returns `code`. */
#define RTLS_ERROR(st, code, ...) \
    ((st)->host->error((st)->env, (code), NULL, __VA_ARGS__))

/* ---- options.c ---- */

/* Reads every supported key of the plugin's section into *cfg (which the
 * caller zeroed). Returns 0 or an azr_code (described via host->error with
 * the offending key). */
int rtls_options_read(rtls_state *st);

/* Frees the strings of *cfg and wipes the password. */
void rtls_options_free(rtls_config *cfg);

/* ---- tls.c ---- */

/* Process-wide OpenSSL pieces (the SIGPIPE-free socket BIO method),
 * reference-counted: the descriptor's init and fini. */
int rtls_tls_global_init(void);
void rtls_tls_global_fini(void);

/* Builds st->ssl_ctx from st->cfg (CA, client certificate, versions,
 * verification). The files it is to load are first opened once, so that
 * one that is missing or unreadable is reported with the system's reason
 * ("ca_file '/x/ca.pem': No such file or directory") and its option's
 * FILE:LINE. Returns 0 or an azr_code. */
int rtls_tls_context_new(rtls_state *st);

/* Makes the SSL object for a connection on `fd` to `host`: SNI, expected
 * host name or IP address, a socket BIO that never raises SIGPIPE.
 * Returns NULL after recording the error. */
SSL *rtls_tls_new(rtls_state *st, int fd, const char *host);

/* Describes why the handshake on `ssl` failed into buf (certificate
 * problem, version mismatch, peer not speaking TLS, ...). `ssl_err` is
 * SSL_get_error()'s verdict, `sys_errno` errno right after the call. */
void rtls_tls_describe_failure(SSL *ssl, int ssl_err, int sys_errno,
                               const char *expected_name, char *buf,
                               size_t len);

/* ---- net.c ---- */

/* CLOCK_MONOTONIC in milliseconds. Deadlines of network I/O must follow
 * real time (poll() waits in real time), so the transport does not use the
 * host's injectable clock for them. */
uint64_t rtls_now_ms(void);

/* The same clock in microseconds. */
uint64_t rtls_now_us(void);

/* Milliseconds left until `deadline_ms` (0 when passed), for poll(). */
int rtls_remaining_ms(uint64_t deadline_ms);

/* Opens a TCP connection to host:port before `deadline_ms`, trying every
 * address the name resolves to. Returns 0 with *fdp the connected
 * non-blocking socket (TCP_NODELAY set), or an azr_code with the error
 * recorded and res->status set. */
int rtls_tcp_connect(rtls_state *st, const char *host, uint16_t port,
                     uint64_t deadline_ms, int *fdp,
                     azr_transport_result *res);

/* Result of one non-blocking I/O step. */
typedef enum rtls_io {
    RTLS_IO_DONE = 0,   /* *done bytes moved (> 0) */
    RTLS_IO_WANT_READ,  /* retry when the socket is readable */
    RTLS_IO_WANT_WRITE, /* retry when the socket is writable */
    RTLS_IO_EOF,        /* the peer closed the connection */
    RTLS_IO_ERROR       /* failed: errno or the OpenSSL queue says why */
} rtls_io;

/* One non-blocking send / receive on `fd`, through `ssl` when not NULL.
 * On RTLS_IO_ERROR, *err_errno and *err_ssl (SSL_get_error, 0 for plain)
 * describe the failure. */
rtls_io rtls_io_send(int fd, SSL *ssl, const void *buf, size_t len,
                     size_t *done, int *err_errno, int *err_ssl);
rtls_io rtls_io_recv(int fd, SSL *ssl, void *buf, size_t len, size_t *done,
                     int *err_errno, int *err_ssl);

/* Waits until `fd` is ready for `events` (POLLIN/POLLOUT) or the deadline
 * passes. Returns 1 when ready, 0 on timeout, -1 on a poll() error. */
int rtls_wait(int fd, short events, uint64_t deadline_ms);

/* "host:port" ("[v6]:port" for IPv6 literals) into buf; returns buf. */
#define RTLS_ADDR_MAX 300
const char *rtls_addr_str(const char *host, uint16_t port, char *buf,
                          size_t len);


/* One connection (opening.c, session.c and stream.c). Used by one thread
 * at a time, as the host guarantees. */
struct rtls_conn {
    rtls_state *st;
    const azr_node_view *node; /* valid until the instance is destroyed */
    int fd;                    /* -1 when closed */
    SSL *ssl;                  /* NULL for tls = no */
    azr_reader *reader;        /* the host's (st->resp) */
    int resp3;                 /* HELLO 3 accepted */
    int used;                  /* a command went out since the open */
    uint64_t bytes_in;         /* received since the open (TLS: decrypted) */
    uint64_t sent_total;       /* RESP bytes written, ever (all opens) */
    uint64_t received_total;   /* RESP bytes read, ever */
    uint64_t idle_since_us;    /* end of the last exchange (rtls_now_us) */
    char addr[RTLS_ADDR_MAX];  /* "host:port" for messages */
};

/* What bounds one exchange, for its deadline and its timeout message. */
typedef struct rtls_limit {
    uint64_t deadline;        /* rtls_now_ms() value */
    unsigned ms;              /* the timeout it came from */
    const char *key;          /* "command_timeout_ms", ... */
} rtls_limit;

/* ---- opening.c ---- */

/* Opens (or reopens) c within connect_timeout_ms: TCP, TLS handshake, a
 * new reader, HELLO 3 and/or AUTH. On failure c is torn down and the
 * azr_code returned (error recorded, res->status set). */
int rtls_session_open(rtls_conn *c, azr_transport_result *res);

/* ---- stream.c ---- */

/* Takes the next reply that is not a push frame out of the reader (push
 * frames go to the host on the way). *r is NULL when more bytes are
 * needed. Returns 0, or the protocol error's azr_code. */
int rtls_next_reply(rtls_conn *c, azr_reply **r, azr_transport_result *res);

/* Feeds received bytes to the reader, counting them. 0 or AZR_E_NOMEM. */
int rtls_feed(rtls_conn *c, const char *buf, size_t len,
              azr_transport_result *res);

/* After the last reply of an exchange: buffered push frames go to the
 * host; a complete reply nobody asked for closes the connection (the next
 * call reopens it). A partial frame is left for rtls_check_idle. */
void rtls_settle_after_replies(rtls_conn *c, azr_transport_result *res);

/* Outcome of the check before a command is sent on a used connection. */
typedef enum rtls_idle {
    RTLS_IDLE_CLEAN,     /* nothing pending: send */
    RTLS_IDLE_REOPEN     /* closed by the peer or out of step: reopen first */
} rtls_idle;

/* Reads, without blocking, whatever arrived while c waited idle. */
rtls_idle rtls_check_idle(rtls_conn *c);

/* A connection reused this soon after its last exchange skips the check
 * (one poll() a command saved on busy paths): whatever a peer sends
 * unasked in so short a window cannot be told from the next reply anyway,
 * as nothing can once the next command is out. Bytes already read are
 * still checked (rtls_settle_after_replies, and any partial frame). */
#define RTLS_IDLE_CHECK_US 1000u

/* ---- session.c ---- */

/* Closes the socket, TLS and reader of c (c itself stays, reopenable). */
void rtls_session_teardown(rtls_conn *c);

/* " (does the server expect TLS? see tls)" when that may explain a
 * failure (a plain connection that never received a byte), else "". */
const char *rtls_tls_hint(const rtls_conn *c);

/* Sends out[0..out_len) and reads n replies into replies[], all before
 * lim->deadline. On failure the replies read so far are freed and the
 * azr_code returned (error recorded, res->status set). */
int rtls_roundtrip(rtls_conn *c, const char *out, size_t out_len, size_t n,
                   azr_reply **replies, const rtls_limit *lim,
                   azr_transport_result *res);

/* The ABI operations (see azr_transport_ops). */
int rtls_session_connect(rtls_state *st, const azr_node_view *node,
                         rtls_conn **connp, azr_transport_result *res);
/* timeout_ms: the replies' deadline from now; 0: command_timeout_ms. */
int rtls_session_pipeline(rtls_conn *c, size_t n, const azr_command *cmds,
                          azr_reply **replies, unsigned timeout_ms,
                          azr_transport_result *res);
/* ABI 1.3, the two halves of a pipeline: send writes the commands
 * within command_timeout_ms; receive reads n replies within timeout_ms
 * (0: command_timeout_ms) of its own call. */
int rtls_session_send(rtls_conn *c, size_t n, const azr_command *cmds,
                      azr_transport_result *res);
int rtls_session_receive(rtls_conn *c, size_t n, azr_reply **replies,
                         unsigned timeout_ms, azr_transport_result *res);
void rtls_session_close(rtls_conn *c);

#endif /* AZR_PLUGIN_RESP_TLS_H */
