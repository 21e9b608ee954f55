#!/bin/sh
# cluster_valkey.sh - cluster mode against the Valkey of tests/valkey.am: a
# TLS cluster of 3 shards x (1 primary + 1 replica), each node started
# with --availability-zone, and an azroute.ini with no AZ anywhere (no
# [node] sections, one seed). topology --json shows every node's AZ from
# the server (az_source "server"), roles and shards as the cluster has
# them; reads of keys spread over every slot (`bench --read --keyspace
# 10000 GET k:__rand_int__`) are served by same-AZ nodes (>= 95%): the
# replicas are all in use1-az2, the caller's AZ, so every shard has one.
. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
. "$AZR_TEST_SRCDIR/tests/cluster_harness.sh"
rh_init
rh_use_valkey
command -v python3 >/dev/null 2>&1 || rh_unavailable "python3 not found"
rh_make_certs || { echo "FAIL: certificates"; exit 1; }
export PYTHONPATH="$AZR_TEST_SRCDIR/tests${PYTHONPATH:+:$PYTHONPATH}"

fail() { echo "FAIL: $*"; exit 1; }

# v1..v3 become the primaries (ch_cluster checks it), v4..v6 replicas.
rh_group_args v1 --availability-zone use1-az1
rh_group_args v2 --availability-zone use1-az3
rh_group_args v3 --availability-zone use1-az1
for m in v4 v5 v6; do
    rh_group_args "$m" --availability-zone use1-az2
done
ch_cluster v 3 1 || exit 1
cat > "$RH_DIR/azroute.ini" <<INI
[azroute]
transport = resp_tls
[topology]
mode = cluster
seeds = 127.0.0.1:$(rh_port v1)
[transport resp_tls]
ca_file = $RH_DIR/ca.crt
INI
export AZROUTE_AZ_ID=use1-az2
AZ() { timeout 60 "$AZROUTE_BIN" -c "$RH_DIR/azroute.ini" "$@"; }
: > "$RH_DIR/azs"
for m in $(ch_members v); do
    echo "$m $(rh_port "$m") $(rh_cli "$m" CONFIG GET availability-zone | tail -n 1)" >> "$RH_DIR/azs"
done

AZ topology --json > "$RH_DIR/t.json" || fail "topology exited $?: $(cat "$RH_DIR/t.json")"
python3 - "$RH_DIR/t.json" "$RH_DIR/v.layout" "$RH_DIR/azs" <<'PY' || fail "discovery: $(cat "$RH_DIR/t.json")"
import json, sys
from cluster_slots import Layout
t = json.load(open(sys.argv[1]))
lay = Layout(sys.argv[2])
az = dict((int(l.split()[1]), l.split()[2]) for l in open(sys.argv[3]))
assert t["mode"] == "cluster" and t["az_id"] == "use1-az2", t
by_port = {n["port"]: n for n in t["nodes"]}
assert sorted(by_port) == sorted(n["port"] for n in lay.nodes.values()), by_port
groups = {}
for m, ln in lay.nodes.items():
    n = by_port[ln["port"]]
    assert n["id"] == "127.0.0.1:%d" % ln["port"], n
    assert n["role"] == ln["role"], (n, ln)
    assert n["az_id"] == az[ln["port"]] and n["az_source"] == "server", n
    assert n["same_az"] == (az[ln["port"]] == "use1-az2"), n
    groups.setdefault(n["shard"], set()).add(ln["shard"])
    assert sorted(tuple(r) for r in n["slots"]) == lay.shards[ln["shard"]]["ranges"], n
# one table shard per cluster shard
assert len(groups) == 3 and all(len(g) == 1 for g in groups.values()), groups
print("topology: %d nodes, AZs from the servers" % len(by_port))
PY
AZ topology | grep -q "use1-az3 *server" || fail "text output: $(AZ topology)"

AZ bench --read -n 3000 --keyspace 10000 --json GET 'k:__rand_int__' \
    > "$RH_DIR/b.json" 2> "$RH_DIR/b.err" || fail "bench exited $?: $(cat "$RH_DIR/b.err")"
python3 - "$RH_DIR/b.json" "$RH_DIR/v.layout" <<'PY' || fail "same-AZ share: $(cat "$RH_DIR/b.json")"
import json, sys
from cluster_slots import Layout
b = json.load(open(sys.argv[1]))
lay = Layout(sys.argv[2])
assert b["requests"] == 3000 and b["errors"] == 0 and b["error_replies"] == 0, b
assert b["same_az_share"] >= 0.95, b["same_az_share"]
port_shard = dict(("127.0.0.1:%d" % n["port"], n["shard"]) for n in lay.nodes.values())
per = {}
for n in b["nodes"]:
    if n["same_az"]:
        per[port_shard[n["id"]]] = per.get(port_shard[n["id"]], 0) + n["requests"]
# keys of every shard were read, each on its shard's same-AZ replica
assert sorted(per) == [1, 2, 3] and min(per.values()) > 500, per
print("same-AZ share %.4f; reads per shard on its use1-az2 replica: %s" %
      (b["same_az_share"], per))
PY
got=$(AZ exec --write SET '{k}1' v) || fail "exec --write exited $?"
case $got in *OK*) ;; *) fail "exec --write SET: '$got'" ;; esac

# READONLY outlives a connection the server drops: every node drops its
# clients three times during a bench. The transport reopens an idle pooled
# connection on its own, without READONLY; the replica's first MOVED back
# to its own primary closes that connection, so reads stay on the same-AZ
# replicas (without that, every later read would go to the primaries).
AZ bench --read -n 30000 --keyspace 10000 --json GET 'k:__rand_int__' \
    > "$RH_DIR/ro.json" 2> "$RH_DIR/ro.err" &
ro_pid=$!
for round in 1 2 3; do
    sleep 0.4
    for m in $(ch_members v); do rh_cli "$m" CLIENT KILL TYPE normal > /dev/null; done
done
wait "$ro_pid" || fail "bench with dropped connections exited $?: $(cat "$RH_DIR/ro.err")"
python3 - "$RH_DIR/ro.json" <<'PY' || fail "reads after dropped connections: $(cat "$RH_DIR/ro.json")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["errors"] == 0 and b["error_replies"] == 0, b
assert b["same_az_share"] >= 0.95, b["same_az_share"]
assert b["redirects_moved"] <= 200, b["redirects_moved"]
print("connections dropped 3 times: same-AZ share %.4f, %d MOVED" %
      (b["same_az_share"], b["redirects_moved"]))
PY
echo "PASS: Valkey cluster: AZs from the servers, reads on each shard's same-AZ node"
