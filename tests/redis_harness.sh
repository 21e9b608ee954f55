# redis_harness.sh - local redis-server (and Valkey) instances for the
# transport tests. Sourced (". redis_harness.sh") by tests/transport_*.sh,
# tests/valkey_az.sh and others; POSIX sh.
#
#   rh_init                 temp dir $RH_DIR, cleanup trap (servers stopped by
#                           PID, temp dir removed); skips (exit 77) when
#                           redis-server or openssl is missing
#   rh_make_certs           in $RH_DIR: ca.crt/ca.key (the servers' CA),
#                           other-ca.crt (a CA that signed nothing here),
#                           client-ca.crt (signs client.crt; the servers
#                           trust it for mutual TLS, and since it is not
#                           the servers' own CA they send their leaf
#                           certificate alone, as managed services do),
#                           server.{crt,key} (SAN DNS:localhost, IP:127.0.0.1),
#                           expired.{crt,key}, otherhost.{crt,key} (SAN
#                           DNS:other.invalid only), client.{crt,key}
#   rh_start NAME ARGS...   starts the server (redis-server, or Valkey after
#                           rh_use_valkey) on 127.0.0.1 with ARGS; the
#                           word PORT in ARGS is replaced by a free port,
#                           which is returned in $RH_PORT (and the word
#                           BUSPORT by another, in $RH_BUSPORT: a cluster
#                           bus port). Retries on a port clash; waits
#                           (bounded) until it accepts.
#   rh_start_tls NAME CERT [ARGS...]
#                           TLS-only server (--port 0) with CERT.{crt,key}
#   rh_start_plain NAME [ARGS...]
#                           plaintext server
#   rh_stop NAME            stops one server (by PID)
#   rh_free_port            prints a port nothing listens on right now
#   rh_port NAME            prints the port of started server NAME (its TLS
#                           port when it has one); also in $RH_PORT_<NAME>
#
#   rh_use_valkey           the following rh_start* calls run $VALKEY_SERVER
#                           (Valkey: the same options as redis-server, plus
#                           --availability-zone ID, reported as
#                           availability_zone:ID in INFO server). When
#                           VALKEY_SERVER is unset or not executable the test
#                           skips (exit 77), or fails (exit 1) under
#                           AZR_TEST_NO_SKIP=1 (CI: a missing server must not
#                           pass silently).
#   rh_use_redis            back to redis-server (the default)
#   rh_cli NAME ARGS...     runs one command (ARGS) with redis-cli against
#                           started server NAME and prints the reply; TLS
#                           (verifying against ca.crt, so NAME must use a
#                           certificate of ca: server, or a group member)
#                           when NAME has a TLS port. Bounded: 5 s. Missing
#                           redis-cli skips like VALKEY_SERVER does.
#   rh_group_args NAME ARGS...
#                           extra ARGS for the group member NAME (e.g. db2:
#                           --availability-zone use1-az2) of the next
#                           rh_group that starts it; call before rh_group
#   rh_group KIND NAME N [ARGS...]
#                           a replication group of N servers of the current
#                           binary (rh_use_*): NAME1 the primary, NAME2..NAMEN
#                           its replicas (--replicaof 127.0.0.1 <NAME1's
#                           port>). KIND tls: TLS-only members with the
#                           server certificate, --tls-replication yes, every
#                           member trusting ca.crt and client-ca.crt (the
#                           replica verifies its primary; clients need no
#                           certificate, client.crt is accepted; as they
#                           trust ca, they may send ca.crt along with
#                           their certificate, unlike rh_start_tls); KIND
#                           plain: plaintext members ($RH_GROUP_CERT, if
#                           set, names the certificate of tls members
#                           instead of server). Members run with
#                           --repl-diskless-sync-delay 0 (the first sync
#                           is immediate). ARGS go to every
#                           member, after which come the member's own
#                           rh_group_args. Returns once every replica reports
#                           master_link_status:up (bounded: 10 s), 1 (with a
#                           FAIL line) otherwise. Needs rh_make_certs for
#                           tls and redis-cli (rh_cli). A test that wants
#                           one server to itself calls rh_stop NAMEi.
#
# Every wait is bounded; nothing here touches a non-loopback address.

RH_REDIS=${REDIS_SERVER:-}
[ -n "$RH_REDIS" ] || RH_REDIS=$(command -v redis-server 2>/dev/null || true)
# The binary rh_start runs: redis-server unless rh_use_valkey said otherwise.
RH_SERVER=$RH_REDIS
RH_SERVER_KIND=redis-server
RH_OPENSSL=$(command -v openssl 2>/dev/null || true)
RH_CLI=$(command -v redis-cli 2>/dev/null || true)
RH_PIDS=""

rh_cleanup() {
    for rh_p in $RH_PIDS; do
        kill "$rh_p" 2>/dev/null || true
    done
    for rh_p in $RH_PIDS; do
        rh_i=0
        while kill -0 "$rh_p" 2>/dev/null && [ $rh_i -lt 50 ]; do
            sleep 0.1
            rh_i=$((rh_i + 1))
        done
        kill -9 "$rh_p" 2>/dev/null || true
    done
    RH_PIDS=""
    [ -n "${RH_DIR:-}" ] && [ -d "$RH_DIR" ] && rm -rf "$RH_DIR"
}

rh_init() {
    if [ -z "$RH_REDIS" ] || [ ! -x "$RH_REDIS" ]; then
        echo "SKIP: redis-server not found (install the Debian package redis-server)"
        exit 77
    fi
    if [ -z "$RH_OPENSSL" ]; then
        echo "SKIP: openssl not found (install the Debian package openssl)"
        exit 77
    fi
    RH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/azr-transport.XXXXXX") || exit 99
    trap 'rh_cleanup' EXIT
    # HUP and PIPE too: a test whose output is cut (| head) must still
    # stop its servers.
    trap 'exit 130' INT TERM HUP PIPE
}

# rh_cert NAME SAN DAYS [CA]: a P-256 key and a certificate signed by CA
# (default: ca).
rh_cert() {
    rh_signer=${4:-ca}
    "$RH_OPENSSL" req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout "$RH_DIR/$1.key" -out "$RH_DIR/$1.csr" \
        -subj "/CN=$1" 2>/dev/null || return 1
    {
        echo "basicConstraints = CA:FALSE"
        echo "keyUsage = digitalSignature, keyEncipherment"
        echo "extendedKeyUsage = serverAuth, clientAuth"
        [ -n "$2" ] && echo "subjectAltName = $2"
    } > "$RH_DIR/$1.ext"
    "$RH_OPENSSL" x509 -req -in "$RH_DIR/$1.csr" -CA "$RH_DIR/$rh_signer.crt" \
        -CAkey "$RH_DIR/$rh_signer.key" -CAcreateserial -days "$3" \
        -extfile "$RH_DIR/$1.ext" -out "$RH_DIR/$1.crt" 2>/dev/null
}

rh_make_certs() {
    for rh_ca in ca other-ca client-ca; do
        "$RH_OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -nodes -keyout "$RH_DIR/$rh_ca.key" -out "$RH_DIR/$rh_ca.crt" \
            -subj "/CN=azroute test $rh_ca" -days 2 2>/dev/null ||
            { echo "FAIL: cannot create $rh_ca"; exit 99; }
    done
    rh_cert server "DNS:localhost, IP:127.0.0.1" 2 &&
    rh_cert otherhost "DNS:other.invalid" 2 &&
    rh_cert client "" 2 client-ca &&
    # -days -1: notAfter lies before notBefore, so the certificate is
    # already expired when it is made.
    rh_cert expired "DNS:localhost, IP:127.0.0.1" -1 ||
        { echo "FAIL: cannot create the test certificates"; exit 99; }
}

rh_free_port() {
    # Ports 20000-59999, skipping any that something listens on now. A
    # race with another process is handled by rh_start's retry.
    rh_try=0
    while [ $rh_try -lt 50 ]; do
        rh_port=$(( ( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ) + 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$rh_port") 2>/dev/null; then
            echo "$rh_port"
            return 0
        fi
        rh_try=$((rh_try + 1))
    done
    return 1
}

# Replaces the word PORT in "$@" and starts the server; sets RH_PORT and
# RH_PID_<NAME>.
rh_start() {
    rh_name=$1
    shift
    rh_n=$#
    rh_attempt=0
    while [ $rh_attempt -lt 5 ]; do
        rh_attempt=$((rh_attempt + 1))
        RH_PORT=$(rh_free_port) || break
        RH_BUSPORT=$(rh_free_port) || break
        [ "$RH_BUSPORT" = "$RH_PORT" ] && continue
        rh_log="$RH_DIR/$rh_name.log"
        rm -f "$rh_log"
        mkdir -p "$RH_DIR/$rh_name"
        # The subshell substitutes PORT and execs, so $! is redis-server
        # itself: the PID we stop is the server's.
        (
            for rh_a in "$@"; do
                [ "$rh_a" = PORT ] && rh_a=$RH_PORT
                [ "$rh_a" = BUSPORT ] && rh_a=$RH_BUSPORT
                set -- "$@" "$rh_a"
            done
            shift "$rh_n"
            exec "$RH_SERVER" --bind 127.0.0.1 --save '' --appendonly no \
                --daemonize no --dir "$RH_DIR/$rh_name" --logfile "$rh_log" \
                "$@"
        ) </dev/null >/dev/null 2>&1 &
        rh_pid=$!
        RH_PIDS="$RH_PIDS $rh_pid"
        eval "RH_PID_$rh_name=$rh_pid"
        eval "RH_PORT_$rh_name=$RH_PORT"
        # rh_cli speaks TLS to a server that has a TLS port.
        rh_tls=0
        for rh_a in "$@"; do
            [ "$rh_a" = --tls-port ] && rh_tls=1
        done
        eval "RH_TLS_$rh_name=$rh_tls"
        rh_i=0
        while [ $rh_i -lt 100 ]; do # 5 s at most
            if grep -q "Ready to accept connections" "$rh_log" 2>/dev/null; then
                return 0
            fi
            kill -0 "$rh_pid" 2>/dev/null || break
            sleep 0.05
            rh_i=$((rh_i + 1))
        done
        kill "$rh_pid" 2>/dev/null || true
        if ! grep -q "Address already in use" "$rh_log" 2>/dev/null; then
            echo "FAIL: $RH_SERVER_KIND $rh_name did not start:"
            tail -5 "$rh_log" 2>/dev/null
            return 1
        fi
    done
    echo "FAIL: no free port for $RH_SERVER_KIND $rh_name"
    return 1
}

rh_start_tls() {
    rh_tname=$1
    rh_tcert=$2
    shift 2
    rh_start "$rh_tname" --port 0 --tls-port PORT \
        --tls-cert-file "$RH_DIR/$rh_tcert.crt" \
        --tls-key-file "$RH_DIR/$rh_tcert.key" \
        --tls-ca-cert-file "$RH_DIR/client-ca.crt" --tls-auth-clients no "$@"
}

rh_start_plain() {
    rh_pname=$1
    shift
    rh_start "$rh_pname" --port PORT "$@"
}

rh_stop() {
    eval "rh_spid=\${RH_PID_$1:-}"
    [ -n "$rh_spid" ] || return 0
    kill "$rh_spid" 2>/dev/null || true
    rh_i=0
    while kill -0 "$rh_spid" 2>/dev/null && [ $rh_i -lt 50 ]; do
        sleep 0.1
        rh_i=$((rh_i + 1))
    done
    kill -9 "$rh_spid" 2>/dev/null || true
}

rh_port() {
    eval "printf '%s\\n' \"\${RH_PORT_$1:-}\""
}

# rh_unavailable REASON: a prerequisite of this test is missing. Skips,
# unless AZR_TEST_NO_SKIP=1, where a skip would hide that the test never
# ran: then it fails.
rh_unavailable() {
    if [ "${AZR_TEST_NO_SKIP:-}" = 1 ]; then
        echo "FAIL: $1 (AZR_TEST_NO_SKIP=1: this test may not be skipped)"
        exit 1
    fi
    echo "SKIP: $1"
    exit 77
}

rh_use_valkey() {
    if [ -z "${VALKEY_SERVER:-}" ] || [ ! -x "$VALKEY_SERVER" ]; then
        rh_unavailable "VALKEY_SERVER ('${VALKEY_SERVER:-}') is not an executable valkey-server (make check builds one from third_party/valkey; or configure --with-valkey-server=PATH)"
    fi
    RH_SERVER=$VALKEY_SERVER
    RH_SERVER_KIND=valkey-server
}

rh_use_redis() {
    RH_SERVER=$RH_REDIS
    RH_SERVER_KIND=redis-server
}

rh_cli() {
    rh_cname=$1
    shift
    [ -n "$RH_CLI" ] ||
        rh_unavailable "redis-cli not found (install the Debian package redis-tools)"
    rh_cport=""
    rh_ctls=0
    eval "rh_cport=\${RH_PORT_$rh_cname:-}; rh_ctls=\${RH_TLS_$rh_cname:-0}"
    if [ -z "$rh_cport" ]; then
        echo "FAIL: rh_cli: no server named $rh_cname"
        return 1
    fi
    if [ "$rh_ctls" = 1 ]; then
        timeout 5 "$RH_CLI" -h 127.0.0.1 -p "$rh_cport" \
            --tls --cacert "$RH_DIR/ca.crt" "$@" </dev/null
    else
        timeout 5 "$RH_CLI" -h 127.0.0.1 -p "$rh_cport" "$@" </dev/null
    fi
}

# rh_quote WORD: WORD single-quoted for eval.
rh_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

rh_group_args() {
    rh_gname=$1
    shift
    rh_gq=""
    for rh_a in "$@"; do
        rh_gq="$rh_gq $(rh_quote "$rh_a")"
    done
    eval "RH_GARGS_$rh_gname=\$rh_gq"
}

rh_group() {
    rh_gkind=$1
    rh_gbase=$2
    rh_gn=$3
    shift 3
    case $rh_gkind in
    tls|plain) ;;
    *) echo "FAIL: rh_group: unknown KIND $rh_gkind (tls or plain)"; return 1 ;;
    esac
    [ -n "$RH_CLI" ] ||
        rh_unavailable "redis-cli not found (install the Debian package redis-tools)"
    # The ARGS for every member, quoted for the eval below.
    rh_gcommon=""
    for rh_a in "$@"; do
        rh_gcommon="$rh_gcommon $(rh_quote "$rh_a")"
    done
    if [ "$rh_gkind" = tls ]; then
        # A replica verifies its primary's certificate against its own
        # tls-ca-cert-file: that file must hold ca (which signed server.crt);
        # client-ca stays, so that client.crt is still accepted.
        cat "$RH_DIR/ca.crt" "$RH_DIR/client-ca.crt" > "$RH_DIR/group-ca.crt" ||
            { echo "FAIL: rh_group: no certificates (rh_make_certs)"; return 1; }
        rh_gcommon="--tls-replication yes --tls-ca-cert-file '$RH_DIR/group-ca.crt' $rh_gcommon"
    fi
    # The primary would wait 5 s (repl-diskless-sync-delay) for more
    # replicas before the first full sync.
    rh_gcommon="--repl-diskless-sync-delay 0 $rh_gcommon"
    rh_gi=1
    while [ "$rh_gi" -le "$rh_gn" ]; do
        rh_gm=$rh_gbase$rh_gi
        rh_grepl=""
        [ "$rh_gi" -gt 1 ] &&
            rh_grepl="--replicaof 127.0.0.1 $(rh_port "${rh_gbase}1")"
        rh_gown=""
        eval "rh_gown=\${RH_GARGS_$rh_gm:-}"
        if [ "$rh_gkind" = tls ]; then
            eval "rh_start_tls \"\$rh_gm\" \"\${RH_GROUP_CERT:-server}\" $rh_grepl $rh_gcommon $rh_gown"
        else
            eval "rh_start_plain \"\$rh_gm\" $rh_grepl $rh_gcommon $rh_gown"
        fi || return 1
        rh_gi=$((rh_gi + 1))
    done
    # Every replica linked: master_link_status:up in INFO replication.
    rh_gw=0
    while [ "$rh_gw" -lt 100 ]; do # 10 s at most
        rh_gi=2
        rh_gdown=""
        while [ "$rh_gi" -le "$rh_gn" ]; do
            rh_cli "$rh_gbase$rh_gi" INFO replication 2>/dev/null |
                grep -q '^master_link_status:up' ||
                rh_gdown="$rh_gdown $rh_gbase$rh_gi"
            rh_gi=$((rh_gi + 1))
        done
        [ -z "$rh_gdown" ] && return 0
        sleep 0.1
        rh_gw=$((rh_gw + 1))
    done
    echo "FAIL: rh_group: not linked to ${rh_gbase}1 after 10 s:$rh_gdown"
    for rh_a in $rh_gdown; do
        tail -5 "$RH_DIR/$rh_a.log" 2>/dev/null
    done
    return 1
}
