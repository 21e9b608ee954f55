#!/bin/sh
# topology_valkey.sh - a Valkey replication group (TLS, three nodes in
# three AZs given on the servers' command lines) and an azroute.ini with
# no AZ anywhere: discovery takes each node's AZ from the server
# (az_source "server"), reads go to the same-AZ replica (>= 95%), and a
# replica added and one removed while bench runs are followed with 0
# caller-visible errors.
. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
rh_init
rh_use_valkey
rh_make_certs || { echo "FAIL: certificates"; exit 1; }
rh_group_args vk1 --availability-zone use1-az1
rh_group_args vk2 --availability-zone use1-az2
rh_group_args vk3 --availability-zone use1-az4
rh_group tls vk 3 || exit 1
P1=$(rh_port vk1)

fail() { echo "FAIL: $*"; exit 1; }

cat > "$RH_DIR/azroute.ini" <<INI
[azroute]
transport = resp_tls
[topology]
mode = replication
seeds = 127.0.0.1:$P1
refresh_ms = 300
[transport resp_tls]
ca_file = $RH_DIR/ca.crt
INI
export AZROUTE_AZ_ID=use1-az2
AZ() { timeout 60 "$AZROUTE_BIN" -c "$RH_DIR/azroute.ini" "$@"; }

AZ topology --json > "$RH_DIR/t.json" || fail "topology exited $?"
python3 - "$RH_DIR/t.json" "$(rh_port vk1)" "$(rh_port vk2)" "$(rh_port vk3)" <<'PY' || fail "discovery: $(cat "$RH_DIR/t.json")"
import json, sys
t = json.load(open(sys.argv[1]))
ports = [int(p) for p in sys.argv[2:]]
nodes = {n["port"]: n for n in t["nodes"]}
assert sorted(nodes) == sorted(ports), nodes
want = dict(zip(ports, ["use1-az1", "use1-az2", "use1-az4"]))
for p, n in nodes.items():
    assert n["az_id"] == want[p] and n["az_source"] == "server", n
    assert n["same_az"] == (want[p] == "use1-az2"), n
assert nodes[ports[0]]["role"] == "primary"
PY
AZ topology | grep -q "use1-az4 *server" || fail "text output: $(AZ topology)"

rh_cli vk1 SET k v >/dev/null
AZ bench --read -n 2000 --json GET k > "$RH_DIR/b.json" || fail "bench exited $?"
python3 - "$RH_DIR/b.json" <<'PY' || fail "same-AZ share: $(cat "$RH_DIR/b.json")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["errors"] == 0, b
assert b["same_az_share"] >= 0.95, b["same_az_share"]
print("same-AZ share %.4f" % b["same_az_share"])
PY

# probe and pick on the discovered table
AZ probe -n 3 > "$RH_DIR/probe.txt" || fail "probe exited $?: $(cat "$RH_DIR/probe.txt")"
[ "$(grep -c '127.0.0.1:' "$RH_DIR/probe.txt")" -eq 3 ] ||
    fail "probe: $(cat "$RH_DIR/probe.txt")"
AZ pick --read -n 100 > "$RH_DIR/pick.txt" || fail "pick exited $?"
grep -q "127.0.0.1:$(rh_port vk2) *100$" "$RH_DIR/pick.txt" ||
    fail "pick: reads not all on the same-AZ replica: $(cat "$RH_DIR/pick.txt")"

# A replica joins and one leaves while bench runs (refresh_ms = 300).
rh_use_valkey
rh_start_tls vk4 server --availability-zone use1-az2 \
    --tls-replication yes --tls-ca-cert-file "$RH_DIR/ca.crt" \
    --tls-auth-clients no || fail "vk4"
AZ -v bench --read -n 60000 --json GET k > "$RH_DIR/b2.json" \
    2> "$RH_DIR/b2.err" &
BPID=$!
sleep 0.5
rh_cli vk4 REPLICAOF 127.0.0.1 "$P1" >/dev/null || fail "REPLICAOF"
sleep 1.5
rh_cli vk3 REPLICAOF NO ONE >/dev/null || fail "REPLICAOF NO ONE"
i=0; while kill -0 $BPID 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
wait $BPID || fail "bench exited $?: $(tail -3 "$RH_DIR/b2.err")"
grep -q "topology: + .*$(rh_port vk4)" "$RH_DIR/b2.err" ||
    fail "the new replica was not seen: $(grep topology "$RH_DIR/b2.err")"
grep -q "topology: - .*$(rh_port vk3)) left" "$RH_DIR/b2.err" ||
    fail "the removed replica was not seen: $(grep topology "$RH_DIR/b2.err")"
python3 - "$RH_DIR/b2.json" <<'PY' || fail "bench during changes: $(cat "$RH_DIR/b2.json")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["errors"] == 0, b
assert b["topology_changes"] >= 2, b["topology_changes"]
print("changes %d, errors %d" % (b["topology_changes"], b["errors"]))
PY
# TLS names: a group whose certificate names only DNS:localhost, found
# through the seed localhost. Its nodes are discovered by IP address (ROLE
# lists 127.0.0.1, and the replicas follow the primary by 127.0.0.1) and
# must be verified against the seed's name.
rh_use_redis
rh_cert dnsonly "DNS:localhost" 30 || fail "certificate"
RH_GROUP_CERT=dnsonly rh_group tls dn 3 || exit 1
for seed in localhost 127.0.0.1; do
    cat > "$RH_DIR/dn-$seed.ini" <<INI
[azroute]
transport = resp_tls
[topology]
mode = replication
seeds = $seed:$(rh_port dn1)
[transport resp_tls]
ca_file = $RH_DIR/ca.crt
INI
done
timeout 60 "$AZROUTE_BIN" -c "$RH_DIR/dn-localhost.ini" bench --read -n 300 \
    --json PING > "$RH_DIR/dn.json" || fail "bench via localhost exited $?"
python3 - "$RH_DIR/dn.json" <<'PY' || fail "nodes by IP: $(cat "$RH_DIR/dn.json")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["errors"] == 0, b
# all three by the address the replicas follow (the seed's name for the
# primary is a twin of it, left out), served over TLS
assert len(b["nodes"]) == 3, b["nodes"]
assert all(n["id"].startswith("127.0.0.1:") for n in b["nodes"]), b["nodes"]
assert sum(n["requests"] for n in b["nodes"]) == 300, b["nodes"]
PY
timeout 60 "$AZROUTE_BIN" -c "$RH_DIR/dn-localhost.ini" exec --write \
    SET dn ok > "$RH_DIR/dn.set" || fail "write to the primary by IP: $?"
grep -q OK "$RH_DIR/dn.set" || fail "write: $(cat "$RH_DIR/dn.set")"
# The control: reached by IP, the same certificate does not verify.
if timeout 60 "$AZROUTE_BIN" -c "$RH_DIR/dn-127.0.0.1.ini" topology \
        > /dev/null 2> "$RH_DIR/dn.err"; then
    fail "a certificate without the IP address verified by IP"
fi
echo "PASS: Valkey AZs from the servers; joins and departures followed; TLS names from the seed"
