#!/bin/sh
# refusing_node.sh - a benchmark scenario, not a test: how many attempts go
# to a node that refuses connections while failover cannot eject it.
#
# Three local redis-servers n1, n2, n3 and one `azroute bench` at full
# speed (chain failover, same_az, weighted_latency; max_ejection_percent
# 50, so with three nodes one may be ejected). n1 is stopped first and
# ejected by failover (base_ejection_ms 30000: it stays out for the rest of
# the run); then n2 is stopped for DOWN seconds: it refuses every
# connection, and failover cannot eject it. Reported: the failed attempts
# the engine recorded on n2 (bench --json, per node "errors") during that
# outage, and the caller-visible errors (every failed attempt is retried
# on another node by azr_exec).
#
#   AZROUTE_BIN=build/tools/azroute AZROUTE_PLUGIN_DIR=build/plugins/.libs \
#   sh tests/bench/refusing_node.sh
#
# AZROUTE_BIN_OLD / AZROUTE_PLUGIN_DIR_OLD: a second build run through
# the same scenario in the same run, for a before/after figure.
# Environment: DOWN (seconds n2 stays down, default 2), RUN (seconds of
# bench, default 8), EMIT="--emit json" (also print each node's estimate
# and ejections at the end). Everything on 127.0.0.1, stopped by PID, bounded.
set -u
AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_DISABLED
here=$(cd "$(dirname "$0")" && pwd)
: "${AZR_TEST_SRCDIR:=$(cd "$here/../.." && pwd)}"
. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
rh_init
DOWN=${DOWN:-2}
RUN=${RUN:-8}

rh_start_plain n1 || exit 99; P1=$RH_PORT
rh_start_plain n2 || exit 99; P2=$RH_PORT
rh_start_plain n3 || exit 99; P3=$RH_PORT
CFG=$RH_DIR/refusing.ini
cat >"$CFG" <<INI
[azroute]
policy = failover, same_az, weighted_latency
transport = resp_tls
[metadata]
source = static
az_id = tst1-az1
[node n1]
host = 127.0.0.1
port = $P1
az_id = tst1-az1
role = primary
[node n2]
host = 127.0.0.1
port = $P2
az_id = tst1-az2
role = replica
[node n3]
host = 127.0.0.1
port = $P3
az_id = tst1-az3
role = replica
[policy failover]
max_ejection_percent = 50
base_ejection_ms = 30000
[transport resp_tls]
tls = no
connect_timeout_ms = 200
command_timeout_ms = 200
INI

# scenario BIN PLUGIN_DIR LABEL
scenario() {
    bin=$1
    AZROUTE_PLUGIN_DIR=$2
    export AZROUTE_PLUGIN_DIR
    # Calibrate: requests in one second.
    rps=$("$bin" -c "$CFG" bench -n 20000 --json 2>/dev/null |
        sed -n 's/.*"requests":\([0-9]*\),.*"avg_ms":\([0-9.]*\),.*/\1 \2/p' |
        awk '{ printf "%d", 1000 / ($2 > 0 ? $2 : 0.05) }')
    n=$((rps * RUN))
    # shellcheck disable=SC2086 # EMIT is empty or two words
    "$bin" -c "$CFG" bench -n "$n" --json >"$RH_DIR/$3.json" ${EMIT:-} \
        2>"$RH_DIR/$3.err" &
    bpid=$!
    sleep 1
    rh_stop n1                         # ejected by failover, stays out
    sleep 2
    rh_stop n2                         # refuses; cannot be ejected
    sleep "$DOWN"
    rh_start n2 --port "$P2" || exit 99
    i=0
    while kill -0 "$bpid" 2>/dev/null && [ $i -lt $((RUN * 40)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
    rh_start n1 --port "$P1" || exit 99
    cat "$RH_DIR/$3.err" >&2
    "$(command -v python3)" - "$RH_DIR/$3.json" "$3" "$DOWN" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
d = json.loads(lines[0])
n = {x["id"]: x for x in d["nodes"]}
if len(lines) > 1:  # EMIT="--emit json": the engine's view at the end
    for x in json.loads(lines[1])["nodes"]:
        print("  %s: estimate %s ms, ejected %s, ejections %d, picks %d" % (
            x["id"], x["latency_estimate_ms"], x["ejected"], x["ejections"],
            x["picks"]))
print("%-4s requests %d, caller-visible errors %d; failed attempts: n1 %d, "
      "n2 %d (the refusing node, %s s down), n3 %d" % (
          sys.argv[2], d["requests"], d["errors"], n["n1"]["errors"],
          n["n2"]["errors"], sys.argv[3] if len(sys.argv) > 3 else "?",
          n["n3"]["errors"]))
PY
}
NEW_BIN=${AZROUTE_BIN:-./tools/azroute}
NEW_PLUGINS=${AZROUTE_PLUGIN_DIR:-./plugins/.libs}
if [ -n "${AZROUTE_BIN_OLD:-}" ]; then
    EMIT_NEW=${EMIT:-}
    EMIT= scenario "$AZROUTE_BIN_OLD" "${AZROUTE_PLUGIN_DIR_OLD:?}" old
    EMIT=$EMIT_NEW
fi
scenario "$NEW_BIN" "$NEW_PLUGINS" new
