#!/bin/sh
# cluster_redis.sh - cluster mode against Debian's redis-server 7: one TLS
# cluster of 3 shards x (1 primary + 2 replicas) = 9 nodes, made with
# `redis-cli --cluster create`, shared by every case. redis-server 7
# reports no AZ: [node] hints put each shard's primary in use1-az1 and its
# two replicas in use1-az2 and use1-az3; the caller is in use1-az2, so each
# shard has exactly one same-AZ replica.
#   a. topology --json: 3 shards whose slot ranges cover 0..16383 once,
#      roles as the cluster has them, every AZ from the config
#   b. 10,000 keys written and read back through azr_exec_pipeline
#      (tests/cluster/kv); each shard's GETs all served by its use1-az2
#      replica (INFO commandstats of all 9 servers)
#   c. 1000 slots resharded (redis-cli --cluster reshard, keys in them)
#      under a writer and `azroute bench --keyspace`: 0 errors, every
#      acknowledged write readable, redirects per slot moved printed
#   d. CLUSTER FAILOVER on a replica of one shard (0 errors), then SIGKILL
#      of another shard's primary with the cluster electing a replica:
#      errors only until the election plus 2 s, the window printed, the
#      writer ends on the new primary, every acknowledged write readable
. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
. "$AZR_TEST_SRCDIR/tests/cluster_harness.sh"
rh_init
command -v python3 >/dev/null 2>&1 || rh_unavailable "python3 not found"
rh_make_certs || { echo "FAIL: certificates"; exit 1; }
WRITER="$AZR_TEST_BUILDDIR/tests/topology/writer"
KV="$AZR_TEST_BUILDDIR/tests/cluster/kv"
PY="$AZR_TEST_SRCDIR/tests"
export PYTHONPATH="$PY${PYTHONPATH:+:$PYTHONPATH}"

fail() { echo "FAIL: $*"; exit 1; }
T0=$(date +%s)
elapsed() { echo "[$(($(date +%s) - T0)) s] $*"; }

ch_cluster c 3 2 || exit 1
elapsed "cluster of 9 made: $(tr '\n' ';' < "$RH_DIR/c.layout")"
cp "$RH_DIR/c.layout" "$RH_DIR/c0.layout"

# The seeds are the three first members; the AZs come from hints.
ch_ini c "$RH_DIR/azroute.ini" || fail "hints"
export AZROUTE_AZ_ID=use1-az2
CFG="$RH_DIR/azroute.ini"
AZ() { timeout 120 "$AZROUTE_BIN" -c "$CFG" "$@"; }
# read_back P: every key of $RH_DIR/Pget<shard> (GET commands) read from
# the shard's primary must give $RH_DIR/Pwant<shard>.
read_back() {
    for s in 1 2 3; do
        p=$(ch_primary c "$s")
        timeout 60 "$RH_CLI" -h 127.0.0.1 -p "$(rh_port "$p")" --tls \
            --cacert "$RH_DIR/ca.crt" < "$RH_DIR/$1get$s" > "$RH_DIR/$1got$s" ||
            fail "reading back from $p"
        cmp -s "$RH_DIR/$1want$s" "$RH_DIR/$1got$s" ||
            fail "acknowledged writes missing on $p: $(diff "$RH_DIR/$1want$s" "$RH_DIR/$1got$s" | head -5)"
    done
}

# The independent slot function agrees with the servers.
# (one python3 for all: a pyenv shim may take a second to start)
set -- a b:1 '{user1000}.following' 'foo{}{bar}' 'foo{{bar}}zap' '{t}:7' key:000000000042
for k in "$@"; do rh_cli c1 CLUSTER KEYSLOT "$k"; done > "$RH_DIR/slots.want"
python3 -c 'import sys, cluster_slots
for k in sys.argv[1:]: print(cluster_slots.keyslot(k))' "$@" > "$RH_DIR/slots.got"
cmp -s "$RH_DIR/slots.want" "$RH_DIR/slots.got" ||
    fail "cluster_slots.py: slots of $*: $(tr '\n' ' ' < "$RH_DIR/slots.got"), the server says $(tr '\n' ' ' < "$RH_DIR/slots.want")"
set --

# --- a. topology --------------------------------------------------------
AZ topology --json > "$RH_DIR/t1.json" || fail "topology exited $?: $(cat "$RH_DIR/t1.json")"
python3 - "$RH_DIR/t1.json" "$RH_DIR/c.layout" <<'PY' || fail "topology: $(cat "$RH_DIR/t1.json")"
import json, sys
from cluster_slots import Layout
t = json.load(open(sys.argv[1]))
lay = Layout(sys.argv[2])
assert t["mode"] == "cluster", t["mode"]
assert t["az_id"] == "use1-az2", t["az_id"]
nodes = {n["id"]: n for n in t["nodes"]}
assert sorted(nodes) == sorted(lay.nodes), (sorted(nodes), sorted(lay.nodes))
want_az = {}
for s, sh in lay.shards.items():
    want_az[sh["primary"]] = "use1-az1"
    for r, az in zip(sh["replicas"], ("use1-az2", "use1-az3")):
        want_az[r] = az
for m, n in nodes.items():
    ln = lay.nodes[m]
    assert n["host"] == "127.0.0.1" and n["port"] == ln["port"], n
    assert n["role"] == ln["role"], (n, ln)
    assert n["az_id"] == want_az[m] and n["az_source"] == "config", n
    assert n["same_az"] == (want_az[m] == "use1-az2"), n
# shards: the nodes grouped by "shard" are the cluster's shards, and the
# shards' slot ranges cover 0..16383 exactly once
groups = {}
for m, n in nodes.items():
    assert n["shard"] is not None, n
    groups.setdefault(n["shard"], set()).add(m)
want_groups = sorted(sorted([sh["primary"]] + sh["replicas"]) for sh in lay.shards.values())
assert sorted(sorted(g) for g in groups.values()) == want_groups, groups
covered = [0] * 16384
for sid, members in groups.items():
    p = [m for m in members if nodes[m]["role"] == "primary"]
    assert len(p) == 1, (sid, members)
    ranges = sorted(tuple(r) for r in nodes[p[0]]["slots"])
    assert ranges == lay.shards[lay.nodes[p[0]]["shard"]]["ranges"], (p, ranges)
    for m in members:
        assert sorted(tuple(r) for r in nodes[m]["slots"]) == ranges, \
            "replica %s: slots %s, its shard's %s" % (m, nodes[m]["slots"], ranges)
    for a, b in ranges:
        for s in range(a, b + 1):
            covered[s] += 1
assert covered == [1] * 16384, "slots covered not exactly once: %s" % \
    [s for s in range(16384) if covered[s] != 1][:10]
print("topology: 3 shards, %d nodes, slots 0..16383 once, AZs from config" % len(nodes))
PY
elapsed "a. topology ok"

# --- b. 10,000 keys, reads on each shard's same-AZ replica ---------------
"$KV" "$CFG" set b 10000 > "$RH_DIR/kv-set.txt" 2>&1 ||
    fail "kv set: $(cat "$RH_DIR/kv-set.txt")"
ch_wait_synced c || exit 1
for m in $(ch_members c); do
    rh_cli "$m" CONFIG RESETSTAT > /dev/null || fail "CONFIG RESETSTAT on $m"
done
"$KV" "$CFG" get b 10000 > "$RH_DIR/kv-get.txt" 2>&1 ||
    fail "kv get: $(cat "$RH_DIR/kv-get.txt")"
grep -q '^get 10000 match 10000 nil 0 wrong 0 errors 0$' "$RH_DIR/kv-get.txt" ||
    fail "kv get: $(cat "$RH_DIR/kv-get.txt")"
: > "$RH_DIR/getstats"
for m in $(ch_members c); do
    calls=$(rh_cli "$m" INFO commandstats | tr -d '\r' |
            sed -n 's/^cmdstat_get:calls=\([0-9]*\),.*/\1/p')
    echo "$m ${calls:-0}" >> "$RH_DIR/getstats"
done
python3 - "$RH_DIR/c.layout" "$RH_DIR/getstats" <<'PY' || fail "reads not on the same-AZ replicas"
import sys
from cluster_slots import Layout
lay = Layout(sys.argv[1])
calls = dict((l.split()[0], int(l.split()[1])) for l in open(sys.argv[2]))
per_shard = {}
for i in range(10000):
    s = lay.shard_of_key("b:%d" % i)
    per_shard[s] = per_shard.get(s, 0) + 1
bad = []
for s, sh in sorted(lay.shards.items()):
    az2 = sh["replicas"][0]   # ch_hints: the first replica is in use1-az2
    print("shard %d: %d keys; GET calls: %s" % (s, per_shard[s], ", ".join(
        "%s(%s)=%d" % (m, "az1" if m == sh["primary"] else
                       "az2" if m == az2 else "az3", calls[m])
        for m in [sh["primary"]] + sh["replicas"])))
    if calls[az2] != per_shard[s]:
        bad.append("%s served %d GETs, want %d" % (az2, calls[az2], per_shard[s]))
    for m in [sh["primary"]] + sh["replicas"][1:]:
        if calls[m]:
            bad.append("%s (not same-AZ) served %d GETs" % (m, calls[m]))
assert sum(calls.values()) == 10000, calls
assert not bad, bad
PY

# The CLI routes keys the same way.
python3 - "$RH_DIR/c.layout" > "$RH_DIR/shardkeys" <<'PY'
import sys
from cluster_slots import Layout
lay = Layout(sys.argv[1])
for s in (1, 2, 3):
    print(next("b:%d" % i for i in range(10000) if lay.shard_of_key("b:%d" % i) == s))
PY
for s in 1 2 3; do
    p=$(ch_primary c "$s")
    r=$(ch_replicas c "$s" | head -n 1)
    k=$(sed -n "${s}p" "$RH_DIR/shardkeys")
    got=$(AZ pick --read --key "$k") || fail "pick --read --key $k exited $?"
    [ "$got" = "$r" ] || fail "pick --read --key $k: '$got', want $r (shard $s's same-AZ replica)"
    got=$(AZ pick --write --key "$k") || fail "pick --write --key $k exited $?"
    [ "$got" = "$p" ] || fail "pick --write --key $k: '$got', want $p (shard $s's primary)"
    AZ pick --read --key "$k" -n 50 > "$RH_DIR/pickn.txt" || fail "pick -n exited $?"
    grep -q "^$r  *50$" "$RH_DIR/pickn.txt" || fail "pick --read --key $k -n 50: $(cat "$RH_DIR/pickn.txt")"
    got=$(AZ exec --read GET "$k") || fail "exec --read GET $k exited $?"
    case $got in *"b-${k#b:}"*) ;; *) fail "exec --read GET $k: '$got'" ;; esac
done
got=$(AZ exec --write SET "{b}x" 1) || fail "exec --write SET exited $?"
case $got in *OK*) ;; *) fail "exec --write SET {b}x: '$got'" ;; esac
# Keys of one command in two slots fail before anything is sent, in one
# line naming both slots; under one hash tag they go together.
AZ exec --read MGET b:1 b:2 > "$RH_DIR/xs.out" 2> "$RH_DIR/xs.err"
xrc=$?
[ $xrc -eq 1 ] || fail "exec MGET b:1 b:2: exit $xrc, want 1"
[ "$(wc -l < "$RH_DIR/xs.err")" -eq 1 ] &&
    grep -q "MGET: keys in different slots (key 1 in slot [0-9]*, key 2 in slot [0-9]*)" "$RH_DIR/xs.err" ||
    fail "exec MGET b:1 b:2: $(cat "$RH_DIR/xs.err")"
got=$(AZ exec --read MGET "{b}x" "{b}y") || fail "exec MGET {b}x {b}y exited $?"
case $got in *'"1"'*) ;; *) fail "exec MGET {b}x {b}y: '$got'" ;; esac
elapsed "b. 10000 keys written and read back; GETs on the same-AZ replicas; pick/exec by key"

# --- c. resharding under load -------------------------------------------
# Keys in every slot (about 3 a slot), so MIGRATE has work and requests
# meet ASK; the bench's own keys too.
"$KV" "$CFG" set r 50000 > "$RH_DIR/kv-r.txt" 2>&1 || fail "kv set r: $(cat "$RH_DIR/kv-r.txt")"
"$KV" "$CFG" set key 1000 --width 12 > "$RH_DIR/kv-key.txt" 2>&1 || fail "kv set key: $(cat "$RH_DIR/kv-key.txt")"
FROM=$(ch_node_id c "$(ch_primary c 1)")
TO=$(ch_node_id c "$(ch_primary c 2)")
"$WRITER" "$CFG" "$RH_DIR/w.log" "$RH_DIR/wstop" &
WPID=$!
(
    i=0
    while [ ! -f "$RH_DIR/bstop" ] && [ $i -lt 200 ]; do
        i=$((i + 1))
        timeout 120 "$AZROUTE_BIN" -c "$CFG" bench --read -n 20000 \
            --keyspace 1000 --json GET 'key:__rand_int__' \
            > "$RH_DIR/bench$i.json" 2> "$RH_DIR/bench$i.err" ||
            echo "exit $?" >> "$RH_DIR/bench$i.err"
    done
) &
BPID=$!
# Reads of keys that exist (r:*, some in the moving slots) on the
# replicas, in passes: a replica has no MIGRATING state, so a key that
# has left its primary may read as nil until the replica learns the
# slot's new owner. Measured, not asserted (the cluster's behaviour).
(
    i=0
    while [ ! -f "$RH_DIR/bstop" ] && [ $i -lt 100 ]; do
        i=$((i + 1))
        "$KV" "$CFG" get r 50000 --batch 100 > "$RH_DIR/rpass$i.txt" 2>&1
    done
) &
RPID=$!
sleep 1
grep -q '^ok' "$RH_DIR/w.log" || fail "no write acknowledged before the reshard"
T_RS0=$("$WRITER" now)
ch_cli --cluster reshard "127.0.0.1:$(rh_port c1)" --cluster-from "$FROM" \
    --cluster-to "$TO" --cluster-slots 1000 --cluster-yes \
    > "$RH_DIR/reshard.log" 2>&1 || fail "reshard: $(tail -5 "$RH_DIR/reshard.log")"
T_RS1=$("$WRITER" now)
sleep 1
touch "$RH_DIR/wstop" "$RH_DIR/bstop"
i=0; while kill -0 $WPID 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $WPID 2>/dev/null && fail "the writer did not stop"
i=0; while kill -0 $BPID 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $BPID 2>/dev/null && fail "the bench loop did not stop"
i=0; while kill -0 $RPID 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $RPID 2>/dev/null && fail "the read loop did not stop"
awk '$1 == "get" { p++; n += $2; nil += $6; wrong += $8; e += $10 }
     END { printf "replica reads during the reshard: %d passes, %d GETs, %d nil, %d wrong, %d errors\n", p, n, nil, wrong, e
           exit (wrong > 0 || e > 0) }' "$RH_DIR"/rpass*.txt > "$RH_DIR/reads.txt"
READS=$?
cat "$RH_DIR/reads.txt"
ch_wait_ok c 30 || exit 1
elapsed "c. reshard of 1000 slots took $(awk -v a="$T_RS0" -v b="$T_RS1" 'BEGIN { printf "%.0f", b - a }') ms"
python3 - "$RH_DIR/c0.layout" "$RH_DIR/c.layout" "$RH_DIR/w.log" "$RH_DIR" <<'PY' || fail "resharding under load"
import glob, json, os, sys
from cluster_slots import Layout, keyslot
before, after = Layout(sys.argv[1]), Layout(sys.argv[2])
moved = [s for s in range(16384) if before.shard_of_slot(s) != after.shard_of_slot(s)]
assert len(moved) == 1000, "%d slots moved" % len(moved)
assert all(before.shard_of_slot(s) == 1 and after.shard_of_slot(s) == 2 for s in moved)
lines = [l.split(None, 4) for l in open(sys.argv[3])]
ok = [l for l in lines if l[0] == "ok"]
err = [l for l in lines if l[0] == "err"]
st = [l for l in open(sys.argv[3]) if l.startswith("stats ")]
assert st, "no stats line in the writer's log"
w = st[-1].split()
wm, wa, wr = int(w[2]), int(w[4]), int(w[6])
moved_set = set(moved)
in_moved = sum(1 for l in ok if keyslot("w:" + l[1]) in moved_set)
bench = {"requests": 0, "errors": 0, "error_replies": 0, "moved": 0, "ask": 0, "runs": 0}
first_err = None
for f in sorted(glob.glob(os.path.join(sys.argv[4], "bench*.json"))):
    if os.path.getsize(f) == 0:
        raise AssertionError("bench run without output: %s" %
                             open(f[:-5] + ".err").read())
    b = json.load(open(f))
    bench["runs"] += 1
    bench["requests"] += b["requests"]
    bench["errors"] += b["errors"]
    bench["error_replies"] += b["error_replies"]
    if (b["errors"] or b["error_replies"]) and first_err is None:
        first_err = (f, open(f[:-5] + ".err").read()[-500:])
    assert "redirects_moved" in b and "redirects_ask" in b, "bench --json: no redirects_moved/redirects_ask"
    bench["moved"] += b["redirects_moved"]
    bench["ask"] += b["redirects_ask"]
print("writer: %d writes acknowledged (%d to moved slots), %d errors; "
      "redirects moved %d ask %d, retries %d" % (len(ok), in_moved, len(err), wm, wa, wr))
print("bench: %d runs, %d requests, %d errors, %d error replies; redirects moved %d ask %d" %
      (bench["runs"], bench["requests"], bench["errors"], bench["error_replies"],
       bench["moved"], bench["ask"]))
print("redirected requests per slot moved: writer %.3f, bench %.3f" %
      ((wm + wa) / 1000.0, (bench["moved"] + bench["ask"]) / 1000.0))
assert not err, "writer errors, first: %s" % " ".join(err[0])
assert bench["errors"] == 0 and bench["error_replies"] == 0, \
    "bench errors: %s" % (first_err,)
assert bench["requests"] > 0
assert wm + wa > 0, "the writer met no MOVED or ASK while 1000 slots moved"
# the writer's keys, grouped by the primary that serves them now
for s, sh in after.shards.items():
    with open(os.path.join(sys.argv[4], "wget%d" % s), "w") as g, \
         open(os.path.join(sys.argv[4], "wwant%d" % s), "w") as v:
        for l in ok:
            if after.shard_of_key("w:" + l[1]) == s:
                g.write("GET w:%s\n" % l[1])
                v.write("%s\n" % l[1])
PY
[ "$READS" = 0 ] ||
    fail "reads of existing keys during the reshard failed (nil is tolerated, not errors): $(grep -h '^kv: .*[^l]$' "$RH_DIR"/rpass*.txt | head -3)"
read_back w
# The keys that migrated, through azroute (replicas in sync first).
ch_wait_synced c || exit 1
"$KV" "$CFG" get r 50000 > "$RH_DIR/kv-r2.txt" 2>&1 ||
    fail "reading r:* back after the reshard: $(cat "$RH_DIR/kv-r2.txt")"
elapsed "c. every acknowledged write read back; $(head -n 1 "$RH_DIR/kv-r2.txt")"

# One slot migrated by hand (CLUSTER SETSLOT IMPORTING/MIGRATING + MIGRATE):
# while half of its keys have moved, new keys and moved keys are answered
# ASK by the source and served by the target after ASKING.
TSLOT=$(rh_cli c1 CLUSTER KEYSLOT t)
python3 - "$RH_DIR/c.layout" "$TSLOT" > "$RH_DIR/tshards" <<'PY'
import sys
from cluster_slots import Layout
lay = Layout(sys.argv[1])
src = lay.shard_of_slot(int(sys.argv[2]))
print(src, [s for s in sorted(lay.shards) if s != src][0])
PY
read -r SSRC SDST < "$RH_DIR/tshards"
SRC=$(ch_primary c "$SSRC"); DST=$(ch_primary c "$SDST")
"$KV" "$CFG" set '{t}' 20 > "$RH_DIR/kv-t.txt" 2>&1 || fail "kv set {t}: $(cat "$RH_DIR/kv-t.txt")"
rh_cli "$DST" CLUSTER SETSLOT "$TSLOT" IMPORTING "$(ch_node_id c "$SRC")" | grep -q OK &&
    rh_cli "$SRC" CLUSTER SETSLOT "$TSLOT" MIGRATING "$(ch_node_id c "$DST")" | grep -q OK ||
    fail "SETSLOT IMPORTING/MIGRATING"
rh_cli "$SRC" MIGRATE 127.0.0.1 "$(rh_port "$DST")" "" 0 5000 KEYS \
    '{t}:0' '{t}:1' '{t}:2' '{t}:3' '{t}:4' '{t}:5' '{t}:6' '{t}:7' '{t}:8' '{t}:9' |
    grep -q OK || fail "MIGRATE"
"$KV" "$CFG" set '{t}' 10 --from 20 > "$RH_DIR/kv-t2.txt" 2>&1 ||
    fail "new keys of a migrating slot: $(cat "$RH_DIR/kv-t2.txt")"
"$KV" "$CFG" get '{t}' 30 --write > "$RH_DIR/kv-t3.txt" 2>&1 ||
    fail "keys of a migrating slot from the primaries: $(cat "$RH_DIR/kv-t3.txt")"
ask_set=$(sed -n 's/^stats moved [0-9]* ask \([0-9]*\) .*/\1/p' "$RH_DIR/kv-t2.txt")
ask_get=$(sed -n 's/^stats moved [0-9]* ask \([0-9]*\) .*/\1/p' "$RH_DIR/kv-t3.txt")
[ "$(rh_cli "$DST" CLUSTER COUNTKEYSINSLOT "$TSLOT")" = 20 ] ||
    fail "the target holds $(rh_cli "$DST" CLUSTER COUNTKEYSINSLOT "$TSLOT") keys of slot $TSLOT, want 20"
[ "${ask_set:-0}" -ge 10 ] && [ "${ask_get:-0}" -ge 20 ] ||
    fail "ASK followed ${ask_set:-?} times for 10 new keys, ${ask_get:-?} for 20 moved ones"
rh_cli "$SRC" MIGRATE 127.0.0.1 "$(rh_port "$DST")" "" 0 5000 KEYS \
    '{t}:10' '{t}:11' '{t}:12' '{t}:13' '{t}:14' '{t}:15' '{t}:16' '{t}:17' \
    '{t}:18' '{t}:19' | grep -q OK || fail "MIGRATE the rest"
for m in "$DST" "$SRC"; do
    rh_cli "$m" CLUSTER SETSLOT "$TSLOT" NODE "$(ch_node_id c "$DST")" | grep -q OK ||
        fail "SETSLOT NODE on $m"
done
ch_wait_ok c 30 || exit 1
ch_wait_synced c || exit 1
"$KV" "$CFG" get '{t}' 30 > "$RH_DIR/kv-t4.txt" 2>&1 ||
    fail "the migrated slot's keys after: $(cat "$RH_DIR/kv-t4.txt")"
elapsed "c. slot $TSLOT moved by hand from $SRC to $DST: ASK followed $ask_set times for 10 new keys, $ask_get for 30 GETs on the primaries; all 30 read back"

# --- d. failover under load ---------------------------------------------
# Shard 3 (untouched by the reshard): CLUSTER FAILOVER on its first
# replica. Shard 1: SIGKILL of its primary.
cp "$RH_DIR/c.layout" "$RH_DIR/c1.layout"
GRACE=$(ch_replicas c 3 | head -n 1)
OLD3=$(ch_primary c 3)
VICTIM=$(ch_primary c 1)
"$WRITER" "$CFG" "$RH_DIR/f.log" "$RH_DIR/fstop" --prefix f &
WPID=$!
sleep 1
grep -q '^ok' "$RH_DIR/f.log" || fail "no write acknowledged before the failover"
T_F0=$("$WRITER" now)
rh_cli "$GRACE" CLUSTER FAILOVER > /dev/null || fail "CLUSTER FAILOVER on $GRACE"
i=0
until rh_cli "$GRACE" ROLE 2>/dev/null | head -n 1 | grep -q master; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "$GRACE not promoted after 10 s"
    sleep 0.1
done
T_F1=$("$WRITER" now)
sleep 1.5
T_KILL=$("$WRITER" now)
ch_kill "$VICTIM" || fail "cannot kill $VICTIM"
NEW1=""
i=0
while [ -z "$NEW1" ]; do
    for r in $(ch_replicas c 1); do
        rh_cli "$r" ROLE 2>/dev/null | head -n 1 | grep -q master && NEW1=$r
    done
    i=$((i + 1)); [ $i -lt 200 ] || fail "no replica of $VICTIM elected after 20 s"
    [ -n "$NEW1" ] || sleep 0.1
done
T_ELECTED=$("$WRITER" now)
sleep 2
touch "$RH_DIR/fstop"
i=0; while kill -0 $WPID 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $WPID 2>/dev/null && fail "the writer did not stop"
ch_wait_ok c 30 || exit 1
[ "$(ch_primary c 3)" = "$GRACE" ] && [ "$(ch_primary c 1)" = "$NEW1" ] ||
    fail "layout after the failovers: $(cat "$RH_DIR/c.layout")"
python3 - "$RH_DIR/c1.layout" "$RH_DIR/f.log" "$RH_DIR" "$T_F0" "$T_F1" \
    "$T_KILL" "$T_ELECTED" "$NEW1" "$GRACE" <<'PY' || fail "failover under load"
import os, sys
from cluster_slots import Layout
lay = Layout(sys.argv[1])
t_f0, t_f1, t_kill, t_elected = map(float, sys.argv[4:8])
new1, grace = sys.argv[8], sys.argv[9]
lines = [l.split(None, 4) for l in open(sys.argv[2]) if l[:3] in ("ok ", "err")]
def shard(l):
    return lay.shard_of_key("f:" + l[1])
ok = [l for l in lines if l[0] == "ok"]
err = [l for l in lines if l[0] == "err"]
w = [l for l in open(sys.argv[2]) if l.startswith("stats ")][-1].split()
print("writer: %d writes acknowledged, %d errors; redirects moved %s ask %s, retries %s" %
      (len(ok), len(err), w[2], w[4], w[6]))
# CLUSTER FAILOVER: no error at all before the kill
early = [l for l in err if float(l[2]) < t_kill]
first3 = [float(l[2]) for l in ok if shard(l) == 3 and float(l[2]) > t_f0 and l[3].strip() == grace]
print("CLUSTER FAILOVER: %d errors; promoted %.0f ms after the command; "
      "first write on %s %.1f ms after the command" %
      (len(early), t_f1 - t_f0, grace, (min(first3) - t_f0) if first3 else -1))
# SIGKILL: errors only until the election plus 2 s; the window
late = [l for l in err if float(l[2]) > t_elected + 2000]
after1 = [l for l in ok if shard(l) == 1 and float(l[2]) > t_kill]
on_new = [float(l[2]) for l in after1 if l[3].strip() == new1]
first1 = min(on_new) if on_new else None
kill_err = [float(l[2]) for l in err if float(l[2]) >= t_kill]
print("SIGKILL: replica %s elected %.0f ms after the kill; %d errors (last %s); "
      "first write acknowledged by %s %.1f ms after the kill; "
      "unavailability window %.1f ms" % (
        new1, t_elected - t_kill, len(kill_err),
        ("%.1f ms after the kill" % (max(kill_err) - t_kill)) if kill_err else "none",
        new1, (first1 - t_kill) if first1 else -1,
        (max([first1] + kill_err) - t_kill) if first1 else -1))
for l in err[:3]:
    print("  error: %s (%+.1f ms from the kill)" % (" ".join(l).strip(), float(l[2]) - t_kill))
assert not early, "errors around CLUSTER FAILOVER: %s" % " ".join(early[0])
assert not late, "errors later than 2 s after the election: %s" % " ".join(late[0])
assert after1 and after1[-1][3].strip() == new1, \
    "the last write to shard 1 was not on %s: %s" % (new1, after1[-1:] )
assert first3, "no write reached %s after CLUSTER FAILOVER" % grace
for s in lay.shards:
    with open(os.path.join(sys.argv[3], "fget%d" % s), "w") as g, \
         open(os.path.join(sys.argv[3], "fwant%d" % s), "w") as v:
        for l in ok:
            if shard(l) == s:
                g.write("GET f:%s\n" % l[1])
                v.write("%s\n" % l[1])
PY
read_back f
# A new process sees the new roles, the killed node gone.
AZ topology --json > "$RH_DIR/t2.json" || fail "topology after: $?"
python3 - "$RH_DIR/t2.json" "$RH_DIR/c.layout" "$VICTIM" <<'PY' || fail "roles after: $(cat "$RH_DIR/t2.json")"
import json, sys
from cluster_slots import Layout
lay = Layout(sys.argv[2])
nodes = {n["id"]: n for n in json.load(open(sys.argv[1]))["nodes"]}
assert sys.argv[3] not in nodes, "the killed node is still in the table"
for m, ln in lay.nodes.items():
    assert nodes[m]["role"] == ln["role"], (m, nodes[m], ln)
PY
elapsed "d. failovers followed; every acknowledged write read back"
echo "PASS: cluster mode against a 9-node TLS redis-server 7 cluster"
