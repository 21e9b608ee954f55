#!/bin/sh
# transport_cli.sh - azroute exec / probe / bench against three local TLS
# redis-server nodes (tests/redis_harness.sh), human output and JSON.
set -u
. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
rh_make_certs

AZROUTE=${AZROUTE_BIN:-./tools/azroute}
CHECK=${AZR_TEST_BUILDDIR:-.}/tests/check_transport
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect_output NAME WANT_STATUS WANT_GREP -- CMD...: runs CMD, checks its
# exit status and that stdout+stderr contain WANT_GREP (fixed string).
expect() {
    e_name=$1 e_status=$2 e_grep=$3
    shift 4
    "$@" > "$RH_DIR/out" 2> "$RH_DIR/err"
    e_rc=$?
    if [ "$e_rc" -ne "$e_status" ]; then
        fail "$e_name: exit status $e_rc, expected $e_status"
        sed 's/^/    /' "$RH_DIR/out" "$RH_DIR/err"
        return
    fi
    if ! cat "$RH_DIR/out" "$RH_DIR/err" | grep -qF -- "$e_grep"; then
        fail "$e_name: output lacks '$e_grep'"
        sed 's/^/    /' "$RH_DIR/out" "$RH_DIR/err"
        return
    fi
    echo "ok: $e_name"
}

for n in a b c; do
    rh_start_tls "node_$n" server || exit 99
    eval "PORT_$n=\$RH_PORT"
done

# write_ini FILE CA_FILE NODE-SPEC...: NODE-SPEC is id:host:port:az:role
write_ini() {
    w_file=$1 w_ca=$2
    shift 2
    {
        echo "[azroute]"
        echo "policy = same_az"
        echo "transport = resp_tls"
        echo "[metadata]"
        echo "source = none"
        for w_spec in "$@"; do
            IFS=: read -r w_id w_host w_port w_az w_role <<EOT
$w_spec
EOT
            echo "[node $w_id]"
            echo "host = $w_host"
            echo "port = $w_port"
            echo "az = $w_az"
            echo "role = $w_role"
        done
        echo "[transport resp_tls]"
        echo "tls = yes"
        echo "ca_file = $w_ca"
        echo "connect_timeout_ms = 1000"
        echo "command_timeout_ms = 1000"
    } > "$w_file"
}

CFG=$RH_DIR/three.ini
write_ini "$CFG" "$RH_DIR/ca.crt" \
    "node-a:localhost:$PORT_a:tst1-az1:primary" \
    "node-b:localhost:$PORT_b:tst1-az2:replica" \
    "node-c:127.0.0.1:$PORT_c:tst1-az3:replica"
export AZROUTE_AZ_ID=tst1-az1

# ---- exec ----
expect "exec SET" 0 "OK" -- "$AZROUTE" -c "$CFG" exec --write SET k v
# with one primary, writes land on node-a; the GET is routed to node-a too
# (same AZ), so it sees the value
if [ "$("$AZROUTE" -c "$CFG" exec --read GET k)" = '"v"' ]; then
    echo 'ok: exec GET prints "v"'
else
    fail "exec --read GET k did not print \"v\""
fi
expect "exec nil" 0 "(nil)" -- "$AZROUTE" -c "$CFG" exec GET no-such-key
expect "exec error reply" 1 "(error) ERR unknown command" -- \
    "$AZROUTE" -c "$CFG" exec NOSUCHCOMMAND
expect "exec integer" 0 "(integer) 3" -- \
    "$AZROUTE" -c "$CFG" exec --write RPUSH list a "b c" 'd"e'
"$AZROUTE" -c "$CFG" exec LRANGE list 0 -1 > "$RH_DIR/out" 2>&1
printf '1) "a"\n2) "b c"\n3) "d\\"e"\n' > "$RH_DIR/want"
if cmp -s "$RH_DIR/out" "$RH_DIR/want"; then
    echo "ok: exec array"
else
    fail "exec array output"
    cat "$RH_DIR/out"
fi
expect "exec usage" 2 "exec: missing command" -- "$AZROUTE" -c "$CFG" exec
expect "exec bad option" 2 "unknown option '--sideways'" -- \
    "$AZROUTE" -c "$CFG" exec --sideways PING
expect "exec -v names the node" 0 "answered by node node-a" -- \
    "$AZROUTE" -v -c "$CFG" exec PING

# ---- certificate problems: exit 1, named, fast ----
BAD=$RH_DIR/wrong-ca.ini
write_ini "$BAD" "$RH_DIR/other-ca.crt" "node-a:localhost:$PORT_a:tst1-az1:primary"
start=$(date +%s)
expect "exec wrong CA" 1 \
    "certificate verify failed: unable to get local issuer certificate" -- \
    "$AZROUTE" -c "$BAD" exec --read GET k
[ $(( $(date +%s) - start )) -le 2 ] || fail "wrong CA took too long"

# ---- failover: the same-AZ node is down, exec answers from another ----
DEAD_PORT=$(rh_free_port)
FO=$RH_DIR/failover.ini
write_ini "$FO" "$RH_DIR/ca.crt" \
    "down:127.0.0.1:$DEAD_PORT:tst1-az1:replica" \
    "node-b:localhost:$PORT_b:tst1-az2:replica"
expect "pick prefers the down node" 0 "down" -- "$AZROUTE" -c "$FO" pick
expect "exec fails over" 0 "answered by node node-b" -- \
    "$AZROUTE" -v -c "$FO" exec PING
expect "probe reports the down node" 1 "node down: connect to" -- \
    "$AZROUTE" -c "$FO" probe -n 3

# ---- no transport ----
NT=$RH_DIR/no-transport.ini
printf '[azroute]\npolicy = same_az\n[metadata]\nsource = none\n[node n]\nhost = localhost\nport = %s\naz = tst1-az1\nrole = primary\n' \
    "$PORT_a" > "$NT"
for c in "exec PING" probe "bench -n 5"; do
    # shellcheck disable=SC2086 # $c is a command and its arguments
    expect "$c without transport" 2 \
        "azroute: ${c%% *} needs a transport plugin ([azroute] transport = resp_tls)" -- \
        "$AZROUTE" -c "$NT" $c
done

# ---- probe ----
expect "probe table" 0 "cross-AZ/same-AZ ratio" -- \
    "$AZROUTE" -c "$CFG" probe -n 20
cat "$RH_DIR/out"
for want in "NODE" "AVG ms" "P50 ms" "MIN ms" "MAX ms" "node-a" "node-b" \
        "node-c" "same-AZ average" "cross-AZ average"; do
    grep -qF -- "$want" "$RH_DIR/out" || fail "probe table lacks '$want'"
done
grep -E '^node-a +tst1-az1 +primary +yes ' "$RH_DIR/out" >/dev/null ||
    fail "probe: node-a row"
grep -E '^node-c +tst1-az3 +replica +no ' "$RH_DIR/out" >/dev/null ||
    fail "probe: node-c row"

"$AZROUTE" -c "$CFG" probe -n 20 --json > "$RH_DIR/probe.json" ||
    fail "probe --json exit status"
cat "$RH_DIR/probe.json"
if "$CHECK" --json-probe "$RH_DIR/probe.json" 3; then
    echo "ok: probe --json shape"
else
    fail "probe --json shape"
fi
grep -qF '"same_az":true' "$RH_DIR/probe.json" || fail "probe: same_az true"
grep -qF '"az_id":"tst1-az1"' "$RH_DIR/probe.json" || fail "probe: az_id"

# ---- bench ----
expect "bench table" 0 "total: 300 requests, 0 errors" -- \
    "$AZROUTE" -c "$CFG" bench -n 300
cat "$RH_DIR/out"
grep -E '^node-a +300 +0 ' "$RH_DIR/out" >/dev/null ||
    fail "bench: all reads on the same-AZ node"
"$AZROUTE" -c "$CFG" bench -n 200 --write --json SET bench:k v \
    > "$RH_DIR/bench.json" || fail "bench --json exit status"
cat "$RH_DIR/bench.json"
if "$CHECK" --json-bench "$RH_DIR/bench.json" 200 3; then
    echo "ok: bench --json shape"
else
    fail "bench --json shape"
fi
grep -qF '"requests":200,"errors":0' "$RH_DIR/bench.json" ||
    fail "bench: totals"
expect "bench usage" 2 "bench -n: expected a count" -- \
    "$AZROUTE" -c "$CFG" bench -n zero

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all transport CLI checks passed"
