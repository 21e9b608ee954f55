#!/bin/sh
# demo.sh - the README's main command: Availability-Zone-aware routing on
# one machine.
#
#   tools/demo.sh            (as root it installs missing Debian packages;
#                             otherwise it prints the apt-get line)
#
# It builds azroute if needed, then starts, all on 127.0.0.1 with ephemeral
# ports:
#   - three redis-server TLS nodes (one primary, two replicas replicating
#     over TLS), each in its own simulated AZ behind a delay relay
#     (tests/relay: 0.25 ms one way for the caller's AZ, 0.75 ms for the
#     two others; the kernel here has no netem);
#   - a Lambda-style metadata endpoint (tests/mdserver) that answers with
#     the AZ ID of node-1, behind a generated bearer token;
# and runs `azroute az`, `azroute probe`, and `azroute bench -n 2000
# --read` with the default chain (failover, same_az, weighted_latency)
# next to the same bench with a naive chain that takes the first listed
# node (a cross-AZ one), so the saving is visible.
#
# Every process it starts is stopped by PID on exit, also on Ctrl-C; each
# run uses a new temporary directory and new ports, so it can be re-run at
# once. Nothing but loopback is ever contacted: EC2 metadata is disabled
# (AWS_EC2_METADATA_DISABLED=true) and the AZ source is the local endpoint.
#
# Environment: AZROUTE_BUILDDIR (an already configured build directory to
# use), DEMO_REQUESTS (bench requests, default 2000), DEMO_PINGS (probe
# PINGs per node, default 200), DEMO_NEAR_MS / DEMO_FAR_MS (one-way delays,
# default 0.25 / 0.75).
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
"$srcdir/tools/install-deps.sh"

requests=${DEMO_REQUESTS:-2000}
pings=${DEMO_PINGS:-200}
near_ms=${DEMO_NEAR_MS:-0.25}
far_ms=${DEMO_FAR_MS:-0.75}

# Loopback only, whatever the caller's environment says.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_LAMBDA_METADATA_API AWS_LAMBDA_METADATA_TOKEN \
      ECS_CONTAINER_METADATA_URI_V4 AWS_EC2_METADATA_SERVICE_ENDPOINT \
      AZROUTE_AZ_ID AZROUTE_CONFIG AZROUTE_PLUGIN_DIR || :

say() { printf '%s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# ---- processes and cleanup -------------------------------------------

pids=
work=
cleanup() {
    status=$?
    trap - EXIT HUP INT PIPE TERM
    for pid in $pids; do
        kill -TERM "$pid" 2>/dev/null || :
    done
    # Give them two seconds, then insist.
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        alive=
        for pid in $pids; do
            kill -0 "$pid" 2>/dev/null && alive="$alive $pid"
        done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for pid in $alive; do
        kill -KILL "$pid" 2>/dev/null || :
    done
    for pid in $pids; do
        wait "$pid" 2>/dev/null || :
    done
    [ -n "$work" ] && rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

# started NAME PID: remembers a process to stop.
started() {
    pids="$pids $2"
}

# ---- build -------------------------------------------------------------

if [ -n "${AZROUTE_BUILDDIR:-}" ]; then
    builddir=$AZROUTE_BUILDDIR
    [ -f "$builddir/Makefile" ] || die "AZROUTE_BUILDDIR=$builddir is not a configured build directory"
elif [ -f "$srcdir/config.status" ]; then
    builddir=$srcdir                      # an in-tree build
else
    builddir=$srcdir/build                # a build directory of its own
    if [ ! -f "$builddir/Makefile" ]; then
        say "== building azroute in $builddir (first run only)"
        log=${TMPDIR:-/tmp}/azroute-demo-configure.log
        if [ ! -x "$srcdir/configure" ]; then
            (cd "$srcdir" && ./autogen.sh) >"$log" 2>&1 ||
                { cat "$log" >&2; die "autogen.sh failed"; }
        fi
        mkdir -p "$builddir"
        (cd "$builddir" && "$srcdir/configure" -q) >"$log" 2>&1 ||
            { cat "$log" >&2; die "configure failed"; }
        rm -f "$log"
    fi
fi
if ! make -C "$builddir" -j2 all tests/mdserver >"${TMPDIR:-/tmp}/azroute-demo-build.log" 2>&1; then
    tail -n 30 "${TMPDIR:-/tmp}/azroute-demo-build.log" >&2
    die "the build failed (log: ${TMPDIR:-/tmp}/azroute-demo-build.log)"
fi
rm -f "${TMPDIR:-/tmp}/azroute-demo-build.log"
azroute=$builddir/tools/azroute
relay=$builddir/tests/relay
mdserver=$builddir/tests/mdserver
export AZROUTE_PLUGIN_DIR="$builddir/plugins/.libs"
command -v redis-server >/dev/null || die "redis-server not found"
command -v redis-cli >/dev/null || die "redis-cli not found"
command -v openssl >/dev/null || die "openssl not found"

work=$(mktemp -d "${TMPDIR:-/tmp}/azroute-demo.XXXXXX")

# ---- TLS: a CA and a certificate for 127.0.0.1 -------------------------

tls=$work/tls
mkdir -p "$tls"
(
    cd "$tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -keyout ca.key -out ca.crt -days 2 \
        -subj "/CN=azroute demo CA" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -keyout server.key -out server.csr \
        -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth, clientAuth\n' >ext.cnf
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
        -CAcreateserial -days 2 -extfile ext.cnf -out server.crt 2>/dev/null
) || die "openssl could not make the demo certificates"

# ---- three TLS nodes ----------------------------------------------------

random_port() {
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo $((20000 + n % 40000))
}

redis_cli() {
    port=$1
    shift
    timeout --foreground 5 redis-cli --tls --cacert "$tls/ca.crt" -h 127.0.0.1 -p "$port" "$@"
}

# start_node NAME [REPLICAOF-PORT]: starts redis-server on a free TLS port
# and sets $node_port and $node_pid.
start_node() {
    name=$1 primary=${2:-}
    mkdir -p "$work/$name"
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        node_port=$(random_port)
        set -- --port 0 --tls-port "$node_port" --bind 127.0.0.1 \
            --tls-cert-file "$tls/server.crt" --tls-key-file "$tls/server.key" \
            --tls-ca-cert-file "$tls/ca.crt" --tls-auth-clients no \
            --tls-replication yes --save "" --appendonly no \
            --dir "$work/$name" --logfile "$work/$name/redis.log" \
            --daemonize no
        [ -n "$primary" ] && set -- "$@" --replicaof 127.0.0.1 "$primary"
        redis-server "$@" >/dev/null 2>&1 &
        node_pid=$!
        started "$name" "$node_pid"
        for _ in $(seq 50); do
            if ! kill -0 "$node_pid" 2>/dev/null; then
                break               # exited: the port was taken; retry
            fi
            if [ "$(redis_cli "$node_port" PING 2>/dev/null)" = PONG ]; then
                return 0
            fi
            sleep 0.1
        done
        kill -TERM "$node_pid" 2>/dev/null || :
    done
    die "could not start redis-server for $name (see $work/$name/redis.log)"
}

# start_relay DELAY_MS TARGET_PORT: sets $relay_port.
start_relay() {
    portfile=$work/relay.$2
    "$relay" -d "$1" -p "$portfile" 127.0.0.1 "$2" >/dev/null &
    started relay $!
    for _ in $(seq 50); do
        [ -s "$portfile" ] && break
        sleep 0.1
    done
    [ -s "$portfile" ] || die "the relay to port $2 did not start"
    relay_port=$(cat "$portfile")
}

say "== starting 3 redis-server TLS nodes (1 primary, 2 replicas) on 127.0.0.1"
start_node node-1
p1=$node_port
start_node node-2 "$p1"
p2=$node_port
start_node node-3 "$p1"
p3=$node_port
# Wait for the replicas' TLS replication links (bounded).
for port in $p2 $p3; do
    for _ in $(seq 100); do
        redis_cli "$port" INFO replication 2>/dev/null |
            grep -q 'master_link_status:up' && break
        sleep 0.1
    done
done

start_relay "$near_ms" "$p1"; r1=$relay_port
start_relay "$far_ms" "$p2"; r2=$relay_port
start_relay "$far_ms" "$p3"; r3=$relay_port
say "   node-1 primary  AZ apne1-az1 (ap-northeast-1c)  redis :$p1  relay :$r1  +${near_ms} ms each way"
say "   node-2 replica  AZ apne1-az2 (ap-northeast-1d)  redis :$p2  relay :$r2  +${far_ms} ms each way"
say "   node-3 replica  AZ apne1-az4 (ap-northeast-1a)  redis :$p3  relay :$r3  +${far_ms} ms each way"

# ---- the metadata endpoint ---------------------------------------------

token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
"$mdserver" --token "$token" --az apne1-az1 --lifetime 3600 >"$work/md.port" &
started mdserver $!
for _ in $(seq 50); do
    [ -s "$work/md.port" ] && break
    sleep 0.1
done
md_port=$(head -n 1 "$work/md.port")
[ -n "$md_port" ] || die "the metadata endpoint did not start"
say "== Lambda-style metadata endpoint on 127.0.0.1:$md_port (answers apne1-az1; bearer token generated, never printed)"

# ---- configurations -----------------------------------------------------

node_section() { # ID PORT AZNAME ROLE
    printf '\n[node %s]\nhost = 127.0.0.1\nport = %s\naz = %s\nrole = %s\n' "$@"
}
common() {
    cat <<EOF
[metadata]
source = lambda
timeout_ms = 1000

[az_map]
ap-northeast-1a = apne1-az4
ap-northeast-1c = apne1-az1
ap-northeast-1d = apne1-az2

[transport resp_tls]
ca_file = $tls/ca.crt
EOF
}
{
    printf '; azroute demo: the default chain\n[azroute]\npolicy = failover, same_az, weighted_latency\ntransport = resp_tls\n\n'
    common
    node_section node-1 "$r1" ap-northeast-1c primary
    node_section node-2 "$r2" ap-northeast-1d replica
    node_section node-3 "$r3" ap-northeast-1a replica
} >"$work/azroute.ini"
{
    printf '; azroute demo: a naive client that uses the first listed node\n[azroute]\npolicy = failover\ntransport = resp_tls\n\n'
    common
    node_section node-2 "$r2" ap-northeast-1d replica
    node_section node-3 "$r3" ap-northeast-1a replica
    node_section node-1 "$r1" ap-northeast-1c primary
} >"$work/naive.ini"

run() {
    say ""
    say "\$ azroute $*"
    AWS_LAMBDA_METADATA_API=127.0.0.1:$md_port \
    AWS_LAMBDA_METADATA_TOKEN=$token \
        timeout --foreground 300 "$azroute" "$@"
}

run -c "$work/azroute.ini" -v az
run -c "$work/azroute.ini" check
run -c "$work/azroute.ini" exec --write SET demo:greeting "hello from the primary"
run -c "$work/azroute.ini" exec --read GET demo:greeting
run -c "$work/azroute.ini" probe -n "$pings"
say ""
say "== routed reads: the default chain (failover, same_az, weighted_latency)"
run -c "$work/azroute.ini" bench -n "$requests" --read | tee "$work/bench.default"
say ""
say "== the same reads with a naive chain that takes the first listed node (node-2, another AZ)"
run -c "$work/naive.ini" bench -n "$requests" --read | tee "$work/bench.naive"

avg() {
    sed -n 's/^total:.* avg \([0-9.]*\) ms.*/\1/p' "$1"
}
a=$(avg "$work/bench.default")
b=$(avg "$work/bench.naive")
say ""
if [ -n "$a" ] && [ -n "$b" ]; then
    awk -v a="$a" -v b="$b" 'BEGIN {
        printf "== result: %.3f ms per read with AZ-aware routing, %.3f ms with the naive chain: ", a, b
        if (b > 0) printf "%.3f ms (%.0f%%) saved per request\n", b - a, 100 * (b - a) / b
    }'
else
    say "== result: a bench did not complete (see above)"
    exit 1
fi
