#!/bin/sh
# relay.sh - the demo's delay relay (tests/relay) forwards, delays, idles
# without spinning, and stops on SIGTERM.
#
# A plain redis-server on 127.0.0.1 stands behind a relay with a 5 ms
# one-way delay: 20 PINGs on one connection must take at least
# 20 x 2 x 5 ms, and get 20 PONGs; the idle relay must use (almost) no CPU;
# SIGTERM must end it with status 0; a non-loopback target is refused.
set -eu

: "${AZR_TEST_BUILDDIR:?run through make check}"
relay=$AZR_TEST_BUILDDIR/tests/relay
redis=${REDIS_SERVER:-}
if [ -z "$redis" ] || ! command -v redis-cli >/dev/null 2>&1; then
    echo "SKIP: redis-server or redis-cli not found"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azr-relay.XXXXXX")
pids=
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || :; done
    for p in $pids; do wait "$p" 2>/dev/null || :; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Refuses what it must not reach, with usage status 2.
st=0
"$relay" 10.0.0.1 6379 2>"$tmp/err" || st=$?
[ "$st" = 2 ] || fail "a non-loopback target gave status $st, expected 2"
grep -q 'loopback' "$tmp/err" || fail "no reason given for a non-loopback target"
st=0
"$relay" -d -1 127.0.0.1 6379 2>/dev/null || st=$?
[ "$st" = 2 ] || fail "a negative delay gave status $st, expected 2"

# A redis-server on a free port (retry if the port is taken).
for _ in 1 2 3 4 5; do
    port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
    "$redis" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$tmp" >/dev/null 2>&1 &
    rpid=$!
    up=
    for _ in $(seq 50); do
        kill -0 "$rpid" 2>/dev/null || break
        if [ "$(timeout 2 redis-cli -p "$port" PING 2>/dev/null)" = PONG ]; then
            up=1
            break
        fi
        sleep 0.1
    done
    [ -n "$up" ] && break
    kill "$rpid" 2>/dev/null || :
    wait "$rpid" 2>/dev/null || :
done
[ -n "$up" ] || fail "could not start redis-server"
pids="$pids $rpid"

"$relay" -d 5 -p "$tmp/port" 127.0.0.1 "$port" >"$tmp/stdout" &
relay_pid=$!
pids="$relay_pid $pids"
for _ in $(seq 50); do
    [ -s "$tmp/port" ] && break
    sleep 0.1
done
[ -s "$tmp/port" ] || fail "the relay wrote no port file"
rport=$(cat "$tmp/port")
[ "$(head -n 1 "$tmp/stdout")" = "$rport" ] ||
    fail "the relay printed '$(head -n 1 "$tmp/stdout")', its port file says $rport"

# Forwarding and delay: 20 round trips on one connection.
t0=$(date +%s%N)
out=$(timeout 20 redis-cli -p "$rport" -r 20 PING) || fail "redis-cli through the relay failed"
t1=$(date +%s%N)
n=$(printf '%s\n' "$out" | grep -c '^PONG$' || :)
[ "$n" = 20 ] || fail "expected 20 PONGs through the relay, got $n"
ms=$(( (t1 - t0) / 1000000 ))
echo "20 PINGs through a 5 ms relay: $ms ms"
[ "$ms" -ge 200 ] || fail "20 round trips took $ms ms, expected at least 200 (2 x 5 ms each)"

# Idle: no busy loop. Clock ticks (utime + stime) over one idle second.
ticks() { awk '{ print $14 + $15 }' "/proc/$relay_pid/stat"; }
if [ -r "/proc/$relay_pid/stat" ]; then
    a=$(ticks)
    sleep 1
    b=$(ticks)
    echo "idle relay used $((b - a)) clock ticks in 1 s"
    [ $((b - a)) -le 5 ] || fail "the idle relay used $((b - a)) clock ticks in 1 s (spinning?)"
fi

# SIGTERM ends it cleanly.
kill -TERM "$relay_pid"
st=0
for _ in $(seq 30); do
    kill -0 "$relay_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$relay_pid" 2>/dev/null && fail "the relay did not exit within 3 s of SIGTERM"
wait "$relay_pid" || st=$?
[ "$st" = 0 ] || fail "the relay exited with status $st after SIGTERM"
pids=$rpid
echo "PASS: relay"
