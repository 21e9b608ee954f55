# redis_harness.sh - local redis-server instances for the transport tests.
# Sourced (". redis_harness.sh") by tests/transport_*.sh; POSIX sh.
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
#   rh_start NAME ARGS...   starts redis-server on 127.0.0.1 with ARGS; the
#                           word PORT in ARGS is replaced by a free port,
#                           which is returned in $RH_PORT. Retries on a
#                           port clash; waits (bounded) until it accepts.
#   rh_start_tls NAME CERT [ARGS...]
#                           TLS-only server (--port 0) with CERT.{crt,key}
#   rh_start_plain NAME [ARGS...]
#                           plaintext server
#   rh_stop NAME            stops one server (by PID)
#   rh_free_port            prints a port nothing listens on right now
#
# Every wait is bounded; nothing here touches a non-loopback address.

RH_REDIS=${REDIS_SERVER:-}
[ -n "$RH_REDIS" ] || RH_REDIS=$(command -v redis-server 2>/dev/null || true)
RH_OPENSSL=$(command -v openssl 2>/dev/null || true)
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
    trap 'exit 130' INT TERM
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
        rh_log="$RH_DIR/$rh_name.log"
        rm -f "$rh_log"
        mkdir -p "$RH_DIR/$rh_name"
        # The subshell substitutes PORT and execs, so $! is redis-server
        # itself: the PID we stop is the server's.
        (
            for rh_a in "$@"; do
                [ "$rh_a" = PORT ] && rh_a=$RH_PORT
                set -- "$@" "$rh_a"
            done
            shift "$rh_n"
            exec "$RH_REDIS" --bind 127.0.0.1 --save '' --appendonly no \
                --daemonize no --dir "$RH_DIR/$rh_name" --logfile "$rh_log" \
                "$@"
        ) </dev/null >/dev/null 2>&1 &
        rh_pid=$!
        RH_PIDS="$RH_PIDS $rh_pid"
        eval "RH_PID_$rh_name=$rh_pid"
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
            echo "FAIL: redis-server $rh_name did not start:"
            tail -5 "$rh_log" 2>/dev/null
            return 1
        fi
    done
    echo "FAIL: no free port for redis-server $rh_name"
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
