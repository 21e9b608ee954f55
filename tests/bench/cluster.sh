#!/bin/sh
# cluster.sh - cluster-mode figures for tests/bench/RESULTS.md, on the
# 9-node TLS cluster of tests/cluster_redis.sh (Debian's redis-server 7,
# 3 shards x (1 primary + 2 replicas), AZs from [node] hints: primaries
# use1-az1, replicas use1-az2 and use1-az3, the caller in use1-az2).
# A benchmark, not a test: not in TESTS. It records:
#   1. the same-AZ share of reads per shard (bench --read --keyspace
#      100000 --json GET key:__rand_int__, per-node requests by shard)
#   2. throughput: `azroute bench -c T --keyspace 100000 -P 16 -n NP GET
#      key:__rand_int__` (T in AZ_CLIENTS: threads) against `redis-benchmark
#      --tls --cluster -c C -r 100000 -P 16 -t get -n NP` (C in RB_CLIENTS:
#      connections of its one thread; the first, 50, is redis-benchmark's
#      default and the reference of the ratios), in ROUNDS alternating
#      rounds on the same cluster: medians and ratios
#   3. requests redirected per slot moved while `redis-cli --cluster
#      reshard` moves 1000 slots under a writer (tests/topology/writer)
#      and a bench loop
#   4. failover windows under the writer: CLUSTER FAILOVER on a replica
#      (FAILOVERS runs, shards in turn) and SIGKILL of a primary with the
#      cluster electing a replica (one run per shard, so at most 3)
# and prints a markdown block for RESULTS.md.
#
#   tests/bench/cluster.sh BUILDDIR      (from the source tree)
# Environment: ROUNDS (5), NP (200000), FILL (100000), RB_CLIENTS ("50 3"),
# AZ_CLIENTS ("1 2 4"), FAILOVERS (3), KILLS (3).
set -u
BUILD=$(cd "${1:?usage: cluster.sh BUILDDIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export AZR_TEST_SRCDIR="$SRC" AWS_EC2_METADATA_DISABLED=true
export AZROUTE_PLUGIN_DIR="$BUILD/plugins/.libs"
export PYTHONPATH="$SRC/tests${PYTHONPATH:+:$PYTHONPATH}"
unset AWS_LAMBDA_METADATA_API AWS_LAMBDA_METADATA_TOKEN \
    ECS_CONTAINER_METADATA_URI_V4 AWS_EC2_METADATA_SERVICE_ENDPOINT AZROUTE_CONFIG
. "$SRC/tests/redis_harness.sh"
. "$SRC/tests/cluster_harness.sh"
ROUNDS=${ROUNDS:-5}
NP=${NP:-200000}
FILL=${FILL:-100000}
RB_CLIENTS=${RB_CLIENTS:-50 3}
AZ_CLIENTS=${AZ_CLIENTS:-1 2 4}
FAILOVERS=${FAILOVERS:-3}
KILLS=${KILLS:-3}
AZROUTE="$BUILD/tools/azroute"
WRITER="$BUILD/tests/topology/writer"
KV="$BUILD/tests/cluster/kv"
RB=${REDIS_BENCHMARK:-$(command -v redis-benchmark 2>/dev/null || true)}
[ -n "$RB" ] || { echo "SKIP: redis-benchmark not found (Debian package redis-tools)"; exit 77; }
for f in "$AZROUTE" "$WRITER" "$KV"; do
    [ -x "$f" ] || { echo "missing $f (make check-programs or make check TESTS= in BUILDDIR)"; exit 2; }
done
rh_init
rh_make_certs
die() { echo "FAILED: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

ch_cluster c 3 2 || die "cluster"
ch_ini c "$RH_DIR/azroute.ini" || die "hints"
export AZROUTE_AZ_ID=use1-az2
CFG="$RH_DIR/azroute.ini"
P1=$(rh_port c1)
OUT="$RH_DIR/results.md"
: > "$OUT"
md() { echo "$*" >> "$OUT"; }

md "Date: $(date -u '+%Y-%m-%d %H:%M') UTC. Command: \`tests/bench/cluster.sh BUILDDIR\`"
md "(ROUNDS=$ROUNDS NP=$NP FILL=$FILL RB_CLIENTS=\"$RB_CLIENTS\" AZ_CLIENTS=\"$AZ_CLIENTS\"), commit"
md "$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?'). $("$RH_REDIS" --version | cut -d' ' -f1-3),"
md "9 TLS nodes on loopback (3 shards x (1 primary + 2 replicas)), caller in use1-az2."
md "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
md ""

# --- fill ---------------------------------------------------------------
t0=$("$WRITER" now)
"$KV" "$CFG" set key "$FILL" --batch 100 --width 12 > "$RH_DIR/fill.txt" 2>&1 || die "fill: $(cat "$RH_DIR/fill.txt")"
t1=$("$WRITER" now)
# redis-benchmark --cluster puts a hash tag of its node in every key: its
# own SETs fill the keys its GETs read.
"$RB" -h 127.0.0.1 -p "$P1" --tls --cacert "$RH_DIR/ca.crt" --cluster \
    -r "$FILL" -n $((FILL * 2)) -P 16 -t set -q > "$RH_DIR/rbfill.txt" 2>&1 ||
    die "redis-benchmark fill: $(tail -3 "$RH_DIR/rbfill.txt")"
ch_wait_synced c 30 || die "replicas"
keys=0
for s in 1 2 3; do
    n=$(rh_cli "$(ch_primary c $s)" DBSIZE) || die "DBSIZE"
    keys=$((keys + n))
done
note "filled: azroute kv $FILL keys in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') ms; $keys keys in the cluster"

# --- 1. same-AZ share per shard ------------------------------------------
"$AZROUTE" -c "$CFG" bench --read -n 30000 --keyspace "$FILL" --json \
    GET 'key:__rand_int__' > "$RH_DIR/share.json" 2> "$RH_DIR/share.err" ||
    die "bench: $(cat "$RH_DIR/share.err")"
md "### Same-AZ share of reads per shard"
md ""
md "\`azroute bench --read -n 30000 --keyspace $FILL --json GET key:__rand_int__\`:"
md ""
python3 - "$RH_DIR/share.json" "$RH_DIR/c.layout" >> "$OUT" <<'PY' || die "share"
import json, sys
from cluster_slots import Layout
b = json.load(open(sys.argv[1]))
lay = Layout(sys.argv[2])
print("| shard | slots | reads | on its use1-az2 replica | same-AZ share | errors |")
print("|---|---|---|---|---|---|")
req = {n["id"]: n for n in b["nodes"]}
for s, sh in sorted(lay.shards.items()):
    members = [sh["primary"]] + sh["replicas"]
    total = sum(req.get(m, {}).get("requests", 0) for m in members)
    same = sum(req[m]["requests"] for m in members if m in req and req[m]["same_az"])
    errs = sum(req.get(m, {}).get("errors", 0) for m in members)
    print("| %d | %s | %d | %s: %d | %.4f | %d |" % (
        s, ",".join("%d-%d" % r for r in sh["ranges"]), total,
        sh["replicas"][0], req.get(sh["replicas"][0], {}).get("requests", 0),
        same / total if total else float("nan"), errs))
print("")
print("Overall: %d requests, %d errors, same_az_share %.4f." %
      (b["requests"], b["errors"], b["same_az_share"]))
PY
md ""

# --- 2. throughput --------------------------------------------------------
rb() { # CLIENTS -> rps
    "$RB" -h 127.0.0.1 -p "$P1" --tls --cacert "$RH_DIR/ca.crt" --cluster \
        -c "$1" -r "$FILL" -P 16 -t get -n "$NP" --csv 2>/dev/null |
        awk -F'","' '/^"GET"/ { print $2 }'
}
az() { # THREADS -> rps
    "$AZROUTE" -c "$CFG" bench --read -c "$1" -P 16 -n "$NP" \
        --keyspace "$FILL" --json GET 'key:__rand_int__' 2>/dev/null |
        python3 -c 'import json, sys
b = json.load(sys.stdin)
print(b["requests_per_s"] if b["errors"] == 0 else "nan")'
}
for c in $RB_CLIENTS; do : > "$RH_DIR/thr.rb$c"; done
for c in $AZ_CLIENTS; do : > "$RH_DIR/thr.az$c"; done
i=0
while [ $i -lt "$ROUNDS" ]; do
    i=$((i + 1))
    line="round $i:"
    for c in $RB_CLIENTS; do
        rb "$c" >> "$RH_DIR/thr.rb$c"
        line="$line redis-benchmark -c $c $(tail -n 1 "$RH_DIR/thr.rb$c"),"
    done
    for c in $AZ_CLIENTS; do
        az "$c" >> "$RH_DIR/thr.az$c"
        line="$line azroute -c $c $(tail -n 1 "$RH_DIR/thr.az$c"),"
    done
    note "$line"
done
median() {
    sort -g "$1" | awk 'NF { v[++n] = $1 } END {
        if (n == 0) { print "nan"; exit }
        print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}
REF=$(echo "$RB_CLIENTS" | cut -d' ' -f1)
ref_rps=$(median "$RH_DIR/thr.rb$REF")
md "### Throughput: GET over $FILL keys, pipelined 16 deep"
md ""
md "Medians of $ROUNDS alternating rounds of $NP requests each, same cluster, same run."
md "azroute: \`azroute bench --read -c T -P 16 -n $NP --keyspace $FILL GET key:__rand_int__\`"
md "(T threads sharing one context; reads on the use1-az2 replicas; requests_per_s"
md "of --json). Peer: \`redis-benchmark --tls --cluster -c C -r $FILL -P 16 -t get -n $NP\`"
md "(one thread, C connections; reads on the primaries)."
md ""
md "| client | req/s (median) | rounds | / redis-benchmark -c $REF | goal |"
md "|---|---|---|---|---|"
for c in $RB_CLIENTS; do
    md "$(awk -v r="$(median "$RH_DIR/thr.rb$c")" -v ref="$ref_rps" -v c="$c" \
        -v l="$(tr '\n' ' ' < "$RH_DIR/thr.rb$c")" \
        'BEGIN { printf "| redis-benchmark -c %d | %.0f | %s| %.2f | |", c, r, l, r / ref }')"
done
for c in $AZ_CLIENTS; do
    md "$(awk -v r="$(median "$RH_DIR/thr.az$c")" -v ref="$ref_rps" -v c="$c" \
        -v l="$(tr '\n' ' ' < "$RH_DIR/thr.az$c")" \
        'BEGIN { printf "| azroute bench -c %d | %.0f | %s| %.2f | >= 0.85 |", c, r, l, r / ref }')"
done
md ""

# --- 3. resharding under load ----------------------------------------------
FROM=$(ch_node_id c "$(ch_primary c 1)")
TO=$(ch_node_id c "$(ch_primary c 2)")
cp "$RH_DIR/c.layout" "$RH_DIR/r0.layout"
rm -f "$RH_DIR/wstop" "$RH_DIR/bstop"
"$WRITER" "$CFG" "$RH_DIR/rw.log" "$RH_DIR/wstop" --prefix rw &
WPID=$!
(
    i=0
    while [ ! -f "$RH_DIR/bstop" ] && [ $i -lt 500 ]; do
        i=$((i + 1))
        timeout 120 "$AZROUTE" -c "$CFG" bench --read -n 20000 \
            --keyspace "$FILL" --json GET 'key:__rand_int__' \
            > "$RH_DIR/rb$i.json" 2>/dev/null
    done
) &
BPID=$!
(
    i=0
    while [ ! -f "$RH_DIR/bstop" ] && [ $i -lt 100 ]; do
        i=$((i + 1))
        "$KV" "$CFG" get key "$FILL" --width 12 --batch 100 > "$RH_DIR/rk$i.txt" 2>&1
    done
) &
KPID=$!
sleep 1
t0=$("$WRITER" now)
ch_cli --cluster reshard "127.0.0.1:$(rh_port c1)" --cluster-from "$FROM" \
    --cluster-to "$TO" --cluster-slots 1000 --cluster-yes \
    > "$RH_DIR/reshard.log" 2>&1 || die "reshard: $(tail -3 "$RH_DIR/reshard.log")"
t1=$("$WRITER" now)
sleep 1
touch "$RH_DIR/wstop" "$RH_DIR/bstop"
wait $WPID
wait $BPID
wait $KPID
ch_wait_ok c 30 || die "after the reshard"
md "### Resharding: 1000 slots moved under load"
md ""
md "\`redis-cli --tls --cluster reshard ... --cluster-slots 1000\` from shard 1 to"
md "shard 2 (about $((FILL / 16384 + 1)) keys a slot) while tests/topology/writer"
md "(SET rw:N, azr_exec, one process), a loop of \`azroute bench --read -n 20000"
md "--keyspace $FILL GET key:__rand_int__\` and a loop of tests/cluster/kv passes"
md "(\`kv get key $FILL --width 12\`: pipelines of 100 GETs of existing keys on the"
md "replicas, azr_exec_pipeline) ran:"
md ""
python3 - "$RH_DIR/rw.log" "$RH_DIR" "$t0" "$t1" >> "$OUT" <<'PY' || die "reshard figures"
import glob, json, os, sys
lines = [l.split() for l in open(sys.argv[1])]
ok = sum(1 for l in lines if l[0] == "ok")
err = sum(1 for l in lines if l[0] == "err")
st = [l for l in lines if l[0] == "stats"][-1]
moved, ask, retries = int(st[2]), int(st[4]), int(st[6])
bm = ba = breq = berr = brep = runs = 0
for f in glob.glob(os.path.join(sys.argv[2], "rb*.json")):
    try:
        b = json.load(open(f))
    except ValueError:
        continue
    runs += 1
    breq += b["requests"]; berr += b["errors"]; brep += b.get("error_replies", 0)
    bm += b.get("redirects_moved", 0); ba += b.get("redirects_ask", 0)
km = ka = kreq = kerr = knil = kruns = 0
for f in glob.glob(os.path.join(sys.argv[2], "rk*.txt")):
    for l in open(f):
        w = l.split()
        if w[:1] == ["get"]:
            kruns += 1; kreq += int(w[1]); knil += int(w[5]); kerr += int(w[9])
        elif w[:1] == ["stats"]:
            km += int(w[2]); ka += int(w[4])
print("| client | requests | errors | error replies | nil for an existing key | MOVED | ASK | redirected per slot moved |")
print("|---|---|---|---|---|---|---|---|")
print("| writer (one context) | %d | %d | - | - | %d | %d | %.3f |" % (ok + err, err, moved, ask, (moved + ask) / 1000.0))
print("| bench loop (%d processes) | %d | %d | %d | - | %d | %d | %.3f |" % (runs, breq, berr, brep, bm, ba, (bm + ba) / 1000.0))
print("| kv read passes (%d processes) | %d | %d | (in errors) | %d | %d | %d | %.3f |" % (kruns, kreq, kerr, knil, km, ka, (km + ka) / 1000.0))
print("")
print("The reshard took %.1f s; the writer's TRYAGAIN/CLUSTERDOWN retries: %d." %
      ((float(sys.argv[4]) - float(sys.argv[3])) / 1000.0, retries))
PY
md ""

# --- 4. failover windows -----------------------------------------------------
# window: from the event to the first write acknowledged by the shard's
# new primary (a write to that shard waits or fails until then; the
# writer is sequential, so writes to other shards wait behind it).
window() { # LOG SHARD NEWPRIMARY T_EVENT -> "window_ms errors max_gap_ms"
    python3 - "$RH_DIR/c.layout" "$@" <<'PY'
import sys
from cluster_slots import Layout
lay = Layout(sys.argv[1])
log, shard, new, t = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
first = None; errs = 0; prev = None; gap = 0.0
for l in open(log):
    f = l.split()
    if f[0] not in ("ok", "err"):
        continue
    tm = float(f[2])
    if tm >= t:
        if prev is not None:
            gap = max(gap, tm - prev)
        if f[0] == "err":
            errs += 1
    prev = tm
    if f[0] == "ok" and tm >= t and first is None and f[3] == new:
        first = tm
print("%.1f %d %.1f" % ((first - t) if first else -1, errs, gap))
PY
}
: > "$RH_DIR/fo.txt"
run=0
while [ $run -lt "$FAILOVERS" ]; do
    s=$((run % 3 + 1)); run=$((run + 1))
    r=$(ch_replicas c "$s" | head -n 1)
    rm -f "$RH_DIR/fstop"
    "$WRITER" "$CFG" "$RH_DIR/fo$run.log" "$RH_DIR/fstop" --prefix fo$run &
    WPID=$!
    sleep 1
    t=$("$WRITER" now)
    rh_cli "$r" CLUSTER FAILOVER > /dev/null || die "CLUSTER FAILOVER"
    sleep 2
    touch "$RH_DIR/fstop"; wait $WPID
    ch_wait_ok c 30 || die "after CLUSTER FAILOVER"
    [ "$(ch_primary c "$s")" = "$r" ] || die "$r not primary"
    echo "$run $s $r $(window "$RH_DIR/fo$run.log" "$s" "$r" "$t")" >> "$RH_DIR/fo.txt"
    note "CLUSTER FAILOVER run $run: $(tail -n 1 "$RH_DIR/fo.txt")"
done
: > "$RH_DIR/kill.txt"
run=0
while [ $run -lt "$KILLS" ] && [ $run -lt 3 ]; do
    s=$((run % 3 + 1)); run=$((run + 1))
    p=$(ch_primary c "$s")
    rm -f "$RH_DIR/fstop"
    "$WRITER" "$CFG" "$RH_DIR/k$run.log" "$RH_DIR/fstop" --prefix k$run &
    WPID=$!
    sleep 1
    t=$("$WRITER" now)
    ch_kill "$p" || die "kill"
    new=""; i=0
    while [ -z "$new" ] && [ $i -lt 200 ]; do
        for r in $(ch_replicas c "$s"); do
            rh_cli "$r" ROLE 2>/dev/null | head -n 1 | grep -q master && new=$r
        done
        i=$((i + 1)); [ -n "$new" ] || sleep 0.1
    done
    [ -n "$new" ] || die "no replica elected"
    te=$("$WRITER" now)
    sleep 3
    touch "$RH_DIR/fstop"; wait $WPID
    ch_wait_ok c 30 || die "after SIGKILL"
    echo "$run $s $p $new $(awk -v a="$t" -v b="$te" 'BEGIN { printf "%.0f", b - a }') $(window "$RH_DIR/k$run.log" "$s" "$new" "$t")" >> "$RH_DIR/kill.txt"
    note "SIGKILL run $run: $(tail -n 1 "$RH_DIR/kill.txt")"
done
md "### Failover windows under a writer"
md ""
md "tests/topology/writer (SET through azr_exec, sequential), [topology] refresh_ms at"
md "its default, failover_wait_ms = 8000, max_attempts = 8, cluster-node-timeout 1000."
md "Window: from the event to the first write acknowledged by the shard's new primary."
md ""
md "| event | run | shard | new primary | elected after | window | caller-visible errors | longest gap between writes |"
md "|---|---|---|---|---|---|---|---|"
while read -r run s r w e g; do
    md "| CLUSTER FAILOVER on $r | $run | $s | $r | - | $w ms | $e | $g ms |"
done < "$RH_DIR/fo.txt"
while read -r run s p new el w e g; do
    md "| SIGKILL of $p | $run | $s | $new | $el ms | $w ms | $e | $g ms |"
done < "$RH_DIR/kill.txt"
echo
echo "----- paste into tests/bench/RESULTS.md -----"
cat "$OUT"
