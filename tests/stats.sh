#!/bin/sh
# stats.sh - what routing did, visible: `azroute bench --emit prometheus`
# parses with a strict exposition-format parser, `--emit emf` follows the
# CloudWatch EMF rules, `--emit json` has the snapshot's shape, and the
# bytes azroute counts equal what a local redis-server counted
# (INFO stats total_net_input_bytes / total_net_output_bytes deltas).
set -u
. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
PY=$(command -v python3) || { echo "FAIL: python3 not found"; exit 1; }
CHECK="$PY ${AZR_TEST_SRCDIR:-.}/tests/stats_check.py"
AZROUTE=${AZROUTE_BIN:-./tools/azroute}
rc=0
fail() { echo "FAIL: $*"; rc=1; }

rh_start_plain same || exit 99
SAME=$RH_PORT
rh_start_plain other || exit 99
OTHER=$RH_PORT
CFG=$RH_DIR/stats.ini
cat >"$CFG" <<INI
[azroute]
policy = failover, same_az, weighted_latency
transport = resp_tls
[metadata]
source = static
az_id = tst1-az1
[stats]
namespace = azroute/test
dimensions = Service=stats-test, Stage=ci
cross_az_price_per_gb = 0.02
[node near]
host = 127.0.0.1
port = $SAME
az_id = tst1-az1
role = replica
[node far]
host = 127.0.0.1
port = $OTHER
az_id = tst1-az2
role = primary
[transport resp_tls]
tls = no
INI

# INFO stats counters of a server, read over a raw socket (the request
# itself is counted; its length is printed so the caller can subtract).
info_bytes() {
    "$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
req = b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n"
s.sendall(req)
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    head, _, rest = buf.partition(b"\r\n")
    if head.startswith(b"$") and len(rest) >= int(head[1:]) + 2:
        break
s.close()
vals = dict(l.split(":", 1) for l in buf.decode().splitlines() if ":" in l)
print(vals["total_net_input_bytes"].strip(), vals["total_net_output_bytes"].strip(), len(req))
PYEOF
}

set -- $(info_bytes "$SAME")
in0=$1
set -- $(info_bytes "$OTHER")
oin0=$1
"$AZROUTE" -c "$CFG" bench -n 200 --json --emit prometheus GET some:key \
    >"$RH_DIR/bench.out" 2>"$RH_DIR/bench.err" || fail "bench --emit prometheus"
head -1 "$RH_DIR/bench.out" >"$RH_DIR/bench.json"
tail -n +2 "$RH_DIR/bench.out" >"$RH_DIR/metrics.prom"
$CHECK prometheus "$RH_DIR/metrics.prom" || { cat "$RH_DIR/metrics.prom"; rc=1; }
set -- $(info_bytes "$SAME")
in1=$1
reqlen=$3
set -- $(info_bytes "$OTHER")
oin1=$1

# The server counted every byte azroute wrote (plus our first INFO, which
# it counts after we read the "before" figure).
sent=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(n["bytes_sent"] for n in d["nodes"] if n["id"]=="near"))' "$RH_DIR/bench.json")
want=$((in1 - in0 - reqlen))
if [ "$sent" = "$want" ]; then
    echo "ok: near: azroute counted $sent bytes sent, the server $want"
else
    fail "near: azroute counted $sent bytes sent, the server $want"
fi
osent=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(n["bytes_sent"] for n in d["nodes"] if n["id"]=="far"))' "$RH_DIR/bench.json")
owant=$((oin1 - oin0 - reqlen))
[ "$osent" = "$owant" ] || fail "far: azroute counted $osent bytes sent, the server $owant"
"$PY" - "$RH_DIR/bench.json" <<'PYEOF' || rc=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["same_az_share"] == 1.0, d["same_az_share"]
near = [n for n in d["nodes"] if n["id"] == "near"][0]
assert near["same_az"] is True and near["bytes_received"] > 0, near
assert d["cross_az_bytes"] == 0, d
print("ok: bench --json: same-AZ share 1.0, no cross-AZ bytes")
PYEOF

# Writes go to the primary, in the other AZ: cross-AZ bytes and their cost.
"$AZROUTE" -c "$CFG" bench -n 100 --write --emit emf SET k v \
    >"$RH_DIR/write.out" 2>&1 || fail "bench --write --emit emf"
tail -1 "$RH_DIR/write.out" >"$RH_DIR/emf.json"
$CHECK emf "$RH_DIR/emf.json" || { cat "$RH_DIR/emf.json"; rc=1; }
grep -q 'estimated cross-AZ cost \$[0-9.]* per million requests (at \$0.020/GB' \
    "$RH_DIR/write.out" || fail "bench table: cross-AZ cost line"
"$PY" - "$RH_DIR/emf.json" <<'PYEOF' || rc=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["Service"] == "stats-test" and d["Stage"] == "ci", d
assert d["AzId"] == "tst1-az1", d
assert d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "azroute/test"
assert d["CrossAzBytes"] > 0 and d["CrossAzCostUSD"] > 0, d
want = d["CrossAzBytes"] * 2 * 0.02 / 1e9
assert abs(d["CrossAzCostUSD"] - want) < 1e-12, (d["CrossAzCostUSD"], want)
print("ok: EMF: dimensions, namespace, cross-AZ bytes and cost")
PYEOF

"$AZROUTE" -c "$CFG" bench -n 10 --emit json PING >"$RH_DIR/j.out" 2>&1 ||
    fail "bench --emit json"
tail -1 "$RH_DIR/j.out" >"$RH_DIR/snap.json"
$CHECK json "$RH_DIR/snap.json" || rc=1

# A bad [stats] value is one line with file:line, exit 2.
printf '[azroute]\n[stats]\ncross_az_price_per_gb = 1,5\n[node a]\nhost = h\nport = 1\naz_id = tst1-az1\nrole = primary\n' >"$RH_DIR/bad.ini"
out=$("$AZROUTE" -c "$RH_DIR/bad.ini" check 2>&1)
st=$?
case "$out" in
*"bad.ini:3: bad cross_az_price_per_gb '1,5'"*) [ $st = 2 ] || fail "bad price: exit $st" ;;
*) fail "bad price: $out" ;;
esac
[ $rc = 0 ] && echo "ok: stats"
exit $rc
