#!/bin/sh
# failover_window.sh - the write-unavailability window of a failover, as a
# writer through azroute sees it: a TLS replication group of Debian's
# redis-server 7 (1 primary + 2 replicas), a writer doing SET through
# azr_exec without pause, then SIGKILL of the primary and, 0.5 s later,
# REPLICAOF NO ONE on a replica (as ElastiCache promotes one). Reports, per
# run, the ms from REPLICAOF NO ONE to the first acknowledged write on the
# new primary, and the writes that failed (caller-visible errors), with
# [topology] refresh_ms at its default (60000: only events help).
#   tests/bench/failover_window.sh BUILDDIR [RUNS]   (default 5 runs)
set -eu
BUILD=$(cd "${1:?usage: failover_window.sh BUILDDIR [RUNS]}" && pwd)
RUNS=${2:-5}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export AZR_TEST_SRCDIR="$SRC" AWS_EC2_METADATA_DISABLED=true
export AZROUTE_PLUGIN_DIR="$BUILD/plugins/.libs"
. "$SRC/tests/redis_harness.sh"
rh_init
rh_make_certs
WRITER="$BUILD/tests/topology/writer"
run=1
while [ $run -le "$RUNS" ]; do
    rh_group tls g$run 3 >/dev/null
    eval "P1=\$RH_PORT_g${run}1 P2=\$RH_PORT_g${run}2 P3=\$RH_PORT_g${run}3"
    cat > "$RH_DIR/r$run.ini" <<INI
[azroute]
transport = resp_tls
[topology]
mode = replication
seeds = 127.0.0.1:$P1, 127.0.0.1:$P2, 127.0.0.1:$P3
[transport resp_tls]
ca_file = $RH_DIR/ca.crt
connect_timeout_ms = 300
command_timeout_ms = 500
INI
    "$WRITER" "$RH_DIR/r$run.ini" "$RH_DIR/w$run.log" "$RH_DIR/stop$run" &
    wpid=$!
    sleep 1
    eval "kill -9 \$RH_PID_g${run}1"
    sleep 0.5
    rh_cli g${run}2 REPLICAOF NO ONE >/dev/null
    t_promoted=$("$WRITER" now)
    rh_cli g${run}3 REPLICAOF 127.0.0.1 "$P2" >/dev/null
    sleep 2
    touch "$RH_DIR/stop$run"
    wait $wpid
    awk -v run=$run -v p="$t_promoted" -v port="$P2" '
        $1 == "err" { errs++ }
        $1 == "ok" && $3 > p && !first && $4 ~ (":" port "$") { first = $3 }
        END { printf "run %d: window %.1f ms after REPLICAOF NO ONE, %d caller-visible errors\n", run, first - p, errs }' "$RH_DIR/w$run.log"
    [ -n "${AZR_KEEP:-}" ] && cp "$RH_DIR/w$run.log" "/tmp/w$run.log"
    for m in 2 3; do rh_stop g$run$m; done
    run=$((run + 1))
done
