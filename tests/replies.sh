#!/bin/sh
# replies.sh - every command gets exactly its own reply: runs
# tests/check_replies against a real redis-server 7 (RESP3 client-side
# caching, state-changing commands) and the scriptable hostile RESP server
# (tests/hostile: stray replies, push frames, a trickling reply, huge and
# over-announced arrays). Every server runs on 127.0.0.1 on a free port
# and is stopped by PID.
set -u
. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
HOSTILE="${AZR_TEST_BUILDDIR:-.}/tests/hostile"

# hs_start NAME MODE [ARGS...]: starts the hostile server, sets HS_PORT.
hs_start() {
    hs_name=$1
    shift
    hs_pf="$RH_DIR/hostile-$hs_name.port"
    "$HOSTILE" --port-file "$hs_pf" --mode "$@" </dev/null \
        >"$RH_DIR/hostile-$hs_name.log" 2>&1 &
    RH_PIDS="$RH_PIDS $!"
    hs_i=0
    while [ ! -s "$hs_pf" ] && [ $hs_i -lt 100 ]; do # 5 s at most
        sleep 0.05
        hs_i=$((hs_i + 1))
    done
    if [ ! -s "$hs_pf" ]; then
        echo "FAIL: hostile server $hs_name ($*) did not start"
        cat "$RH_DIR/hostile-$hs_name.log"
        exit 99
    fi
    HS_PORT=$(cat "$hs_pf")
}

rh_start_plain real || exit 99
AZR_R_REDIS=$RH_PORT
hs_start stray0 stray --delay-ms 0;        AZR_R_STRAY0=$HS_PORT
hs_start stray50 stray --delay-ms 50;      AZR_R_STRAY50=$HS_PORT
hs_start push push;                        AZR_R_PUSH=$HS_PORT
hs_start trickle trickle --delay-ms 100;   AZR_R_TRICKLE=$HS_PORT
hs_start huge huge-array --count 12000000; AZR_R_HUGE=$HS_PORT
hs_start announce huge-announce --count 536870912; AZR_R_ANNOUNCE=$HS_PORT
hs_start closemid close-mid;               AZR_R_CLOSEMID=$HS_PORT
hs_start slowhello trickle-all --delay-ms 100; AZR_R_SLOWHELLO=$HS_PORT
AZR_R_DIR=$RH_DIR
export AZR_R_DIR AZR_R_REDIS AZR_R_STRAY0 AZR_R_STRAY50 AZR_R_PUSH \
    AZR_R_TRICKLE AZR_R_HUGE AZR_R_ANNOUNCE AZR_R_CLOSEMID AZR_R_SLOWHELLO

"${AZR_TEST_BUILDDIR:-.}/tests/check_replies" || exit 1

# The CLI commands that used to hang on a trickling reply now stop at the
# deadline: exec, probe -n 1 and bench -n 1, each well under 5 s.
cfg="$RH_DIR/trickle.ini"
cat >"$cfg" <<INI
[azroute]
policy = same_az
transport = resp_tls
[metadata]
source = none
[node t1]
host = 127.0.0.1
port = $AZR_R_TRICKLE
az = tst1-az1
role = primary
[transport resp_tls]
tls = no
command_timeout_ms = 300
INI
for cmd in "exec PING" "probe -n 1" "bench -n 1"; do
    t0=$(date +%s%N)
    # shellcheck disable=SC2086 # $cmd is split into words on purpose
    timeout 10 "$AZROUTE_BIN" -c "$cfg" $cmd >"$RH_DIR/out" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    case "$cmd" in
    exec*) want=1 ;;
    *) want=any ;;
    esac
    if [ "$rc" = 124 ] || [ $ms -gt 3000 ] ||
        { [ "$want" != any ] && [ "$rc" != "$want" ]; }; then
        echo "FAIL: azroute $cmd on a trickling reply: exit $rc after $ms ms"
        cat "$RH_DIR/out"
        exit 1
    fi
    echo "ok: azroute $cmd on a trickling reply ended after $ms ms (exit $rc)"
done

# exec --timeout-ms: a blocking command's own deadline, beyond
# command_timeout_ms (300 ms in this file) on a real server.
bcfg="$RH_DIR/blpop.ini"
sed "s/^port = .*/port = $AZR_R_REDIS/" "$cfg" >"$bcfg"
t0=$(date +%s%N)
out=$("$AZROUTE_BIN" -c "$bcfg" exec --timeout-ms 2000 BLPOP no:such:list 1 2>&1)
st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $st != 0 ] || [ "$out" != "(nil)" ] || [ $ms -lt 1000 ]; then
    echo "FAIL: exec --timeout-ms 2000 BLPOP ... 1: exit $st after $ms ms: $out"
    exit 1
fi
echo "ok: exec --timeout-ms 2000 BLPOP (1 s) answered (nil) after $ms ms"

# Writes go to primaries whatever the chain: pick --write -n 300 never
# names a replica; with no primary it fails (AZR_E_NO_NODE, exit 1).
wcfg="$RH_DIR/writes.ini"
for chain in "failover" "weighted_latency" "failover, weighted_latency"; do
    for roles in "primary replica replica" "replica replica replica"; do
        {
            printf '[azroute]\npolicy = %s\n[metadata]\nsource = none\n' \
                "$chain"
            i=0
            for role in $roles; do
                i=$((i + 1))
                printf '[node n%d]\nhost = 127.0.0.1\nport = %d\n' $i $i
                printf 'az = tst1-az%d\nrole = %s\n' $i "$role"
            done
        } >"$wcfg"
        "$AZROUTE_BIN" -c "$wcfg" pick --write -n 300 >"$RH_DIR/out" 2>&1
        rc=$?
        case "$roles" in
        primary*)
            if [ $rc != 0 ] || ! grep -q '^n1  *300$' "$RH_DIR/out" ||
                grep -Eq '^n[23]  *[1-9]' "$RH_DIR/out"; then
                echo "FAIL: chain '$chain': pick --write -n 300 (exit $rc):"
                cat "$RH_DIR/out"
                exit 1
            fi ;;
        *)
            if [ $rc != 1 ] || ! grep -q 'no node available for a write' \
                "$RH_DIR/out"; then
                echo "FAIL: chain '$chain' with no primary (exit $rc):"
                cat "$RH_DIR/out"
                exit 1
            fi ;;
        esac
    done
    echo "ok: chain '$chain': 300 writes, all to the primary; none without one"
done
exit 0
