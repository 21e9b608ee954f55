#!/bin/sh
# topology_failover.sh - a replication group of Debian's redis-server 7
# (TLS, 1 primary + 2 replicas, AZs from [node] hints) fails over under a
# running writer: SIGKILL of the primary, REPLICAOF NO ONE on a replica,
# the other repointed. The writer (tests/topology/writer, SET through
# azr_exec) must see errors only until the promotion is done plus one
# refresh, then none, with no config edit; every acknowledged write must
# be readable on the new primary; `azroute topology` shows the new roles.
# Then a graceful switchover (writes paused, the replica promoted, the
# primary demoted, writes resumed): the paused writes meet a former
# primary (READONLY) and are retried on the new one, with no error.
. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
rh_init
rh_make_certs || { echo "FAIL: certificates"; exit 1; }
rh_group tls db 3 || exit 1
P1=$(rh_port db1); P2=$(rh_port db2); P3=$(rh_port db3)
WRITER="$AZR_TEST_BUILDDIR/tests/topology/writer"

fail() { echo "FAIL: $*"; exit 1; }

cat > "$RH_DIR/azroute.ini" <<INI
[azroute]
transport = resp_tls
max_attempts = 3
[topology]
mode = replication
failover_wait_ms = 2000
[transport resp_tls]
ca_file = $RH_DIR/ca.crt
connect_timeout_ms = 300
command_timeout_ms = 2000
[node db1]
host = 127.0.0.1
port = $P1
az = use1-az1
[node db2]
host = 127.0.0.1
port = $P2
az = use1-az2
[node db3]
host = 127.0.0.1
port = $P3
az = use1-az3
INI
export AZROUTE_AZ_ID=use1-az2
AZ() { timeout 20 "$AZROUTE_BIN" -c "$RH_DIR/azroute.ini" "$@"; }

# Discovery: roles from the servers, AZs from the hints.
AZ topology --json > "$RH_DIR/t1.json" || fail "topology exited $?"
python3 - "$RH_DIR/t1.json" <<'PY' || fail "discovery: $(cat "$RH_DIR/t1.json")"
import json, sys
t = json.load(open(sys.argv[1]))
nodes = {n["id"]: n for n in t["nodes"]}
assert t["mode"] == "replication", t
assert sorted(nodes) == ["db1", "db2", "db3"], nodes
assert nodes["db1"]["role"] == "primary", nodes
assert nodes["db2"]["role"] == nodes["db3"]["role"] == "replica", nodes
for i, n in (("1", "db1"), ("2", "db2"), ("3", "db3")):
    assert nodes[n]["az_id"] == "use1-az" + i and nodes[n]["az_source"] == "config", nodes[n]
assert nodes["db2"]["same_az"] is True and nodes["db1"]["same_az"] is False
PY

AZ check > "$RH_DIR/check.txt" || fail "check exited $?"
grep -q '^topology: replication (table 1)$' "$RH_DIR/check.txt" &&
    grep -q '^nodes: 3 discovered$' "$RH_DIR/check.txt" &&
    grep -q 'db1 .*az use1-az1 (config)  primary' "$RH_DIR/check.txt" ||
    fail "check: $(cat "$RH_DIR/check.txt")"

# The writer runs the whole time.
"$WRITER" "$RH_DIR/azroute.ini" "$RH_DIR/w.log" "$RH_DIR/stop" &
WPID=$!
sleep 1
grep -q '^ok' "$RH_DIR/w.log" || fail "no write acknowledged before the failover"
T_KILL=$("$WRITER" now)
eval "kill -9 \$RH_PID_db1" || fail "cannot kill db1"
sleep 0.5
rh_cli db2 REPLICAOF NO ONE >/dev/null || fail "REPLICAOF NO ONE"
T_PROMOTED=$("$WRITER" now)
rh_cli db3 REPLICAOF 127.0.0.1 "$P2" >/dev/null || fail "repointing db3"
sleep 3
touch "$RH_DIR/stop"
i=0; while kill -0 $WPID 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $WPID 2>/dev/null && fail "the writer did not stop"

# Errors only until the promotion plus one refresh (event refreshes are
# 100 ms apart; a discovery takes a few ms here; 1 s of slack).
awk -v kill="$T_KILL" -v promoted="$T_PROMOTED" '
    $1 == "err" && $3 < kill { early++ }
    $1 == "err" && $3 > promoted + 1000 { late++; if (!msg) msg = $0 }
    $1 == "ok" && $3 > promoted { if (!first) first = $3; after++; last = $4 }
    $1 == "err" { errs++ }
    END {
        printf "errors %d (before the kill %d, later than 1 s after the promotion %d); first write on the new primary %.1f ms after the promotion; %d writes after it\n", errs, early, late, first - promoted, after
        if (early > 0 || late > 0) { print "late error: " msg; exit 1 }
        if (after < 10 || last != "db2") { print "writes did not move to db2 (last " last ")"; exit 1 }
    }' "$RH_DIR/w.log" || fail "the writer did not follow the failover"

# No acknowledged write lost: every ok key has its value on db2.
awk '$1 == "ok" { print "GET w:" $2 }' "$RH_DIR/w.log" > "$RH_DIR/gets"
awk '$1 == "ok" { print $2 }' "$RH_DIR/w.log" > "$RH_DIR/want"
timeout 30 redis-cli -h 127.0.0.1 -p "$P2" --tls --cacert "$RH_DIR/ca.crt" \
    < "$RH_DIR/gets" > "$RH_DIR/got" || fail "reading back"
cmp -s "$RH_DIR/want" "$RH_DIR/got" ||
    fail "acknowledged writes missing on the new primary: $(diff "$RH_DIR/want" "$RH_DIR/got" | head -5)"
echo "read back $(wc -l < "$RH_DIR/want") acknowledged writes from db2"

# The table as a new process sees it: db2 primary, db1 gone.
AZ topology --json > "$RH_DIR/t2.json" || fail "topology after: $?"
python3 - "$RH_DIR/t2.json" <<'PY' || fail "roles after: $(cat "$RH_DIR/t2.json")"
import json, sys
nodes = {n["id"]: n for n in json.load(open(sys.argv[1]))["nodes"]}
assert sorted(nodes) == ["db2", "db3"], nodes
assert nodes["db2"]["role"] == "primary" and nodes["db3"]["role"] == "replica"
PY
# A graceful switchover: the writes waiting in db2's pause are answered
# READONLY once it follows db3, and azr_exec retries them on db3. This
# writer works in a child forked after its context's refresh thread
# started: the child must start a thread of its own to follow the group.
"$WRITER" "$RH_DIR/azroute.ini" "$RH_DIR/w2.log" "$RH_DIR/stop2" \
    --prefix s --fork &
WPID=$!
sleep 1
rh_cli db2 CLIENT PAUSE 1500 WRITE >/dev/null || fail "CLIENT PAUSE"
sleep 0.1
rh_cli db3 REPLICAOF NO ONE >/dev/null || fail "promoting db3"
rh_cli db2 REPLICAOF 127.0.0.1 "$P3" >/dev/null || fail "demoting db2"
rh_cli db2 CLIENT UNPAUSE >/dev/null || fail "CLIENT UNPAUSE"
sleep 2
touch "$RH_DIR/stop2"
i=0; while kill -0 $WPID 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $WPID 2>/dev/null && fail "the writer did not stop"
awk '$1 == "err" { errs++; if (!msg) msg = $0 }
     $1 == "ok" { last = $4; n++ }
     END {
        printf "switchover: %d writes, %d errors, last on %s\n", n, errs, last
        if (errs > 0) { print "error: " msg; exit 1 }
        if (last != "db3") exit 1
     }' "$RH_DIR/w2.log" || fail "the writer did not follow the switchover"
# The retry path was taken: db2 refused writes with READONLY.
ro=$(rh_cli db2 INFO errorstats | tr -d '\r' |
     sed -n 's/^errorstat_READONLY:count=\([0-9]*\).*/\1/p')
[ "${ro:-0}" -ge 1 ] || fail "db2 answered no write with READONLY"
echo "db2 refused $ro write(s) with READONLY; each was retried on db3"
awk '$1 == "ok" { print "GET s:" $2 }' "$RH_DIR/w2.log" > "$RH_DIR/gets2"
awk '$1 == "ok" { print $2 }' "$RH_DIR/w2.log" > "$RH_DIR/want2"
timeout 30 redis-cli -h 127.0.0.1 -p "$P3" --tls --cacert "$RH_DIR/ca.crt" \
    < "$RH_DIR/gets2" > "$RH_DIR/got2" || fail "reading back from db3"
cmp -s "$RH_DIR/want2" "$RH_DIR/got2" ||
    fail "acknowledged writes missing on db3: $(diff "$RH_DIR/want2" "$RH_DIR/got2" | head -5)"
echo "PASS: failover and switchover followed with no config edit"
