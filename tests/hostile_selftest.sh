#!/bin/sh
# hostile_selftest.sh - tests/hostile (the scriptable hostile RESP server)
# does what its header says, mode by mode, so that a test that uses it can
# trust what it is sent.
#
# Each case starts one server (ephemeral port on 127.0.0.1 read from its
# port file; its PID from $! and checked against its pid file; --lifetime
# 60 as a guard), talks to it with redis-cli or with the python3 client
# written below (every socket operation has a timeout, and timeout(1)
# bounds every client run), then stops it by PID with SIGTERM and requires
# exit status 0 within 3 s. The EXIT trap stops whatever is left (SIGTERM,
# then SIGKILL after 3 s) and removes the temp dir.
#
#   usage       bad options exit 2
#   normal      redis-cli (RESP2 and -3) and raw requests: pipelined, split
#               byte by byte, inline, binary values, HELLO 2/3/4/x, nil as
#               $-1 and _, QUIT and protocol errors close, two connections
#               at once; SIGUSR1 prints one counters line; idle, no spin
#   stray       the copy arrives --delay-ms after the reply, and a command
#               sent within the delay reads the previous reply; none after
#               HELLO/AUTH; --delay-ms 0: reply and copy in one write
#   push        the invalidate push precedes each reply after HELLO 3,
#               never in RESP2, never before HELLO/AUTH replies
#   trickle     one byte per write, >= (bytes - 1) x delay; HELLO not slowed
#   huge-array  exactly --count elements then the connection goes on;
#               readers that stop or vanish do not stall others; with the
#               default 12,000,000 the server's RSS stays small and it
#               does not spin while the client does not read
#   huge-announce  the announced header, a few elements, then silence
#   close-mid   half a bulk, then end of stream
#
# Needs python3 and redis-cli (Debian redis-tools); skips (77) without.
set -u

: "${AZR_TEST_BUILDDIR:?run through make check}"
hostile=$AZR_TEST_BUILDDIR/tests/hostile
if ! command -v python3 >/dev/null 2>&1 ||
    ! command -v redis-cli >/dev/null 2>&1; then
    echo "SKIP: python3 or redis-cli not found"
    exit 77
fi
[ -x "$hostile" ] || { echo "FAIL: $hostile not built"; exit 99; }
# The interpreter itself, found once: a version manager's python3 shim can
# take most of a second to start, and the client runs ten times.
python=$(python3 -c 'import sys; print(sys.executable)') && [ -x "$python" ] ||
    python=python3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azr-hostile.XXXXXX") || exit 99
pids=
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || :; done
    for p in $pids; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do
            sleep 0.01
            i=$((i + 1))
        done
        kill -9 "$p" 2>/dev/null || :
        wait "$p" 2>/dev/null || :
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    echo "FAIL: $*"
    exit 1
}

# hs_start NAME MODE [OPTIONS...]: starts one server; sets HS_PID, HS_PORT
# and HS_ERR (its stderr). At most 500 polls of 10 ms.
hs_start() {
    hs_name=$1
    hs_mode=$2
    shift 2
    HS_ERR=$tmp/$hs_name.err
    rm -f "$tmp/$hs_name.port" "$tmp/$hs_name.pid"
    "$hostile" --port-file "$tmp/$hs_name.port" \
        --pid-file "$tmp/$hs_name.pid" --lifetime 60 --mode "$hs_mode" \
        "$@" </dev/null >/dev/null 2>"$HS_ERR" &
    HS_PID=$!
    pids="$pids $HS_PID"
    i=0
    while [ $i -lt 500 ]; do
        if [ -s "$tmp/$hs_name.port" ]; then
            HS_PORT=$(cat "$tmp/$hs_name.port")
            [ "$(cat "$tmp/$hs_name.pid")" = "$HS_PID" ] ||
                fail "$hs_name: pid file '$(cat "$tmp/$hs_name.pid")', started $HS_PID"
            return 0
        fi
        kill -0 "$HS_PID" 2>/dev/null || break
        sleep 0.01
        i=$((i + 1))
    done
    fail "hostile --mode $hs_mode did not start: $(cat "$HS_ERR")"
}

# hs_stop: SIGTERM to HS_PID; it must exit 0 within 300 polls of 10 ms.
hs_stop() {
    kill -TERM "$HS_PID" 2>/dev/null || :
    i=0
    while kill -0 "$HS_PID" 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.01
        i=$((i + 1))
    done
    if kill -0 "$HS_PID" 2>/dev/null; then
        kill -9 "$HS_PID" 2>/dev/null
        fail "$hs_name: still running 3 s after SIGTERM"
    fi
    hs_st=0
    wait "$HS_PID" || hs_st=$?
    pids=$(echo " $pids " | sed "s/ $HS_PID / /")
    [ "$hs_st" = 0 ] || fail "$hs_name: exit status $hs_st after SIGTERM: $(cat "$HS_ERR")"
}

# client CASE ARGS...: runs one case of the python client (below).
client() {
    timeout 60 "$python" "$tmp/client.py" "$@" || fail "client case $1"
}

# expect WHAT GOT WANT
expect() {
    [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

cat >"$tmp/client.py" <<'EOF'
"""Client side of tests/hostile_selftest.sh: one case per run,
python3 client.py CASE PORT [ARGS...]; exits 1 with "FAIL: ..." on stdout."""
import os
import socket
import sys
import time

DEADLINE = 5.0  # seconds, any single socket operation


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Err(str):
    pass


class Push(list):
    pass


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, *args):
        self.s.sendall(encode(args))

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("end of stream")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            self.fill()

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d

    def reply(self):
        ln = self.line()
        t, rest = ln[:1], ln[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Err(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"_":
            return None
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n + 2)[:-2]
        if t in (b"*", b">"):
            items = [self.reply() for _ in range(int(rest))]
            return Push(items) if t == b">" else items
        if t == b"%":
            m = {}
            for _ in range(int(rest)):
                k = self.reply()
                m[k] = self.reply()
            return m
        fail("unexpected reply line %r" % ln)

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def quiet(self, wait):
        """True when nothing (not even end of stream) arrives within wait s."""
        if self.buf:
            return False
        self.s.settimeout(wait)
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.s.settimeout(DEADLINE)
        self.buf += d
        return False

    def at_eof(self):
        """True when the peer closes (after what is buffered) in time."""
        try:
            while True:
                self.fill()
        except EOFError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def case_normal(port):
    c = Conn(port)
    # Three pipelined in one write.
    c.s.sendall(encode(["PING"]) + encode(["ECHO", "two"]) + encode(["PING", "x"]))
    check([c.reply(), c.reply(), c.reply()] == ["PONG", b"two", b"x"], "pipelined")
    # One request split byte by byte.
    for b in encode(["ECHO", "split"]):
        c.s.sendall(bytes([b]))
        time.sleep(0.001)
    check(c.reply() == b"split", "split request")
    # Inline, and an empty inline line ignored.
    c.s.sendall(b"\r\nECHO   inline\r\nPING\n")
    check(c.reply() == b"inline" and c.reply() == "PONG", "inline")
    # Binary-safe values, a shared store, nil in RESP2.
    v = b"a\r\nb\x00c$*"
    check(c.call("SET", "bin", v) == "OK", "SET")
    d = Conn(port)
    check(d.call("GET", "bin") == v, "GET from another connection")
    c.send("GET", "missing")
    check(c.exact(5) == b"$-1\r\n", "RESP2 nil")
    check(c.call("AUTH", "u", "p") == "OK", "AUTH")
    check(c.call("SELECT", "3") == "OK", "SELECT")
    check(c.call("CLIENT", "SETNAME", "n") == "OK", "CLIENT")
    r = c.call("NOPE", "a")
    check(r == "ERR unknown command 'NOPE'" and isinstance(r, Err), "unknown: %r" % r)
    check(isinstance(c.call("GET"), Err), "GET arity")
    h = c.call("HELLO", "2")
    check(isinstance(h, list) and len(h) == 14 and h[4:6] == [b"proto", 2], "HELLO 2: %r" % h)
    check(c.call("HELLO", "4").startswith("NOPROTO"), "HELLO 4")
    check(c.call("HELLO", "x").startswith("ERR"), "HELLO x")
    c.send("HELLO", "3")
    check(c.exact(4) == b"%7\r\n", "HELLO 3 is a map of 7")
    c.buf[0:0] = b"%7\r\n"
    h = c.reply()
    check(h.get(b"server") == b"redis" and h.get(b"proto") == 3 and
          h.get(b"mode") == b"standalone" and h.get(b"role") == b"master" and
          h.get(b"modules") == [] and isinstance(h.get(b"id"), int) and
          b"version" in h, "HELLO 3: %r" % h)
    c.send("GET", "missing")
    check(c.exact(3) == b"_\r\n", "RESP3 nil")
    check(c.call("HELLO") == h, "HELLO (no argument) keeps RESP3")
    # QUIT: +OK, then end of stream.
    check(d.call("QUIT") == "OK" and d.at_eof(), "QUIT closes")
    # A protocol error: -ERR Protocol error, then end of stream.
    e = Conn(port)
    e.s.sendall(b"*1\r\n$x\r\n")
    r = e.reply()
    check(r.startswith("ERR Protocol error") and e.at_eof(), "protocol error: %r" % r)
    # A request over the bounds is refused the same way.
    e = Conn(port)
    e.s.sendall(b"*1\r\n$999999999\r\n")
    check(e.reply().startswith("ERR Protocol error") and e.at_eof(), "huge bulk")
    # Two connections at once, answered in any order of use.
    a, b = Conn(port), Conn(port)
    check(b.call("ECHO", "b") == b"b" and a.call("ECHO", "a") == b"a", "two at once")


def case_stray(port, delay_ms):
    delay = delay_ms / 1000.0
    c = Conn(port)
    t0 = time.monotonic()
    check(c.call("ECHO", "tag-1") == b"tag-1", "first reply")
    t1 = time.monotonic()
    check(c.reply() == b"tag-1", "the stray is a copy")
    t2 = time.monotonic()
    print("stray: reply after %.1f ms, copy after %.1f ms (delay %d ms)"
          % ((t1 - t0) * 1e3, (t2 - t0) * 1e3, delay_ms))
    check(t1 - t0 < delay, "the reply itself was delayed")
    check(t2 - t0 >= delay - 0.002, "the copy came %.1f ms after the request"
          % ((t2 - t0) * 1e3))
    check(t2 - t0 < delay + 2.0, "the copy came too late")
    check(c.quiet(delay * 2), "more than one copy")
    # A command sent within the delay reads the previous reply.
    check(c.call("ECHO", "tag-2") == b"tag-2", "tag-2")
    check(c.call("ECHO", "tag-3") == b"tag-2", "tag-3 did not read the stray tag-2")
    check(c.reply() == b"tag-3" and c.reply() == b"tag-3", "tag-3 and its copy")
    # HELLO and AUTH get no copy.
    check(isinstance(c.call("HELLO", "2"), list), "HELLO")
    check(c.call("AUTH", "x") == "OK", "AUTH")
    check(c.quiet(delay * 2), "a copy after HELLO/AUTH")


def case_stray0(port):
    c = Conn(port)
    c.send("ECHO", "zero")
    want = b"$4\r\nzero\r\n" * 2
    while len(c.buf) < len(want):
        c.fill()
    check(bytes(c.buf) == want, "reply and copy: %r" % bytes(c.buf))


def case_push(port):
    r2 = Conn(port)
    r2.send("GET", "k")
    check(r2.exact(5) == b"$-1\r\n" and r2.quiet(0.2), "a push in RESP2")
    c = Conn(port)
    c.send("HELLO", "3")
    check(c.exact(1) == b"%", "a push before HELLO's reply")
    c.buf[0:0] = b"%"
    c.reply()
    c.send("GET", "mykey")
    want = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nmykey\r\n_\r\n"
    check(c.exact(len(want)) == want, "push before GET")
    c.send("PING")
    r = [c.reply(), c.reply()]
    check(r == [Push([b"invalidate", [b"x"]]), "PONG"], "push before PING: %r" % r)
    c.send("AUTH", "p")
    check(c.exact(5) == b"+OK\r\n", "a push before AUTH's reply")


def case_trickle(port, delay_ms):
    delay = delay_ms / 1000.0
    c = Conn(port)
    t0 = time.monotonic()
    h = c.call("HELLO", "3")
    th = time.monotonic() - t0
    # Trickled, its ~120 bytes would take ~120 x delay (3.6 s at 30 ms).
    check(isinstance(h, dict) and th < 1.0, "HELLO took %.0f ms" % (th * 1e3))
    c.send("ECHO", "slow")
    want = b"$4\r\nslow\r\n"
    got, reads = b"", 0
    t0 = time.monotonic()
    while len(got) < len(want):
        d = c.s.recv(100)
        check(d, "end of stream")
        got += d
        reads += 1
    el = time.monotonic() - t0
    print("trickle: %d bytes in %d reads, %.0f ms (delay %d ms)"
          % (len(want), reads, el * 1e3, delay_ms))
    check(got == want, "trickled %r" % got)
    check(el >= (len(want) - 1) * delay - 0.002, "too fast: %.0f ms" % (el * 1e3))
    check(reads >= len(want) // 2, "bytes were not sent one by one")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return int(st[11]) + int(st[12])


def case_huge_array(port, count):
    c = Conn(port)
    check(c.call("SET", "k", "v") == "OK", "SET")
    c.send("GET", "k")
    check(c.line() == b"*%d" % count, "header")
    el = b":1234567\r\n"
    data = c.exact(count * len(el))
    check(data.count(el) == count, "elements")
    check(c.call("PING") == "PONG", "PING after the array")
    print("huge-array: %d elements (%d bytes) read" % (count, len(data)))
    # A reader that stops and one that vanishes do not hold the others.
    stalled, gone = Conn(port), Conn(port)
    stalled.send("GET", "k")
    gone.send("GET", "k")
    gone.close()
    time.sleep(0.1)
    check(Conn(port).call("PING") == "PONG", "PING beside stalled readers")


def case_huge_default(port, pid):
    c = Conn(port)
    c.send("GET", "any")
    check(c.line() == b"*12000000", "default count")
    c.exact(1 << 20)
    time.sleep(0.2)  # the server fills the socket buffers, then waits
    rss = rss_kb(pid)
    t = cpu_ticks(pid)
    time.sleep(0.5)
    spent = cpu_ticks(pid) - t
    print("huge-array (12,000,000): server RSS %d kB after 1 MiB read; "
          "%d ticks in 0.5 s while the client does not read" % (rss, spent))
    # The whole reply is 120,000,010 bytes; streamed, the server needs a
    # few MB (under ASan too).
    check(rss < 100 * 1024, "server RSS %d kB: the reply is built in memory?" % rss)
    check(spent <= 5, "the server spins while blocked (%d ticks)" % spent)
    c.close()
    check(Conn(port).call("PING") == "PONG", "PING after a reader left")


def case_huge_announce(port, count):
    c = Conn(port)
    c.send("GET", "k")
    check(c.line() == b"*%d" % count, "announced header")
    got = [c.reply() for _ in range(min(count, 3))]
    check(got == [1234567] * len(got), "elements %r" % got)
    check(c.quiet(0.3), "more after the few elements")
    c.send("PING")
    check(c.quiet(0.3), "an answer after the announce")
    check(Conn(port).call("PING") == "PONG", "another connection")


def case_close_mid(port):
    c = Conn(port)
    v = bytes(range(48, 48 + 70)) + b"x" * 30
    check(c.call("SET", "k", v) == "OK" and c.call("PING") == "PONG", "SET, PING")
    c.send("GET", "k")
    check(c.line() == b"$100" and c.exact(50) == v[:50], "half of the value")
    check(c.at_eof() and not c.buf, "no end of stream after half a bulk")
    d = Conn(port)
    d.send("GET", "missing")
    check(d.line() == b"$100" and d.exact(50) == b"x" * 50, "half of the filler")
    check(d.at_eof() and not d.buf, "no end of stream (filler)")


def main():
    case, port, args = sys.argv[1], int(sys.argv[2]), [int(a) for a in sys.argv[3:]]
    globals()["case_" + case.replace("-", "_")](port, *args)


if __name__ == "__main__":
    main()
EOF

# --- usage: bad options exit 2 (timeout: a server that started would not
# end by itself).
for bad in "--mode normal" "--port-file $tmp/x --mode nope" \
    "--port-file $tmp/x --mode stray --delay-ms -1" \
    "--port-file $tmp/x --mode huge-array --count 1e6" \
    "--port-file $tmp/x --mode normal extra"; do
    st=0
    # shellcheck disable=SC2086 # the options are split on purpose
    timeout 5 "$hostile" $bad 2>/dev/null || st=$?
    expect "hostile $bad: exit status" "$st" 2
done

# --- normal
hs_start normal normal --verbose
expect "redis-cli PING" "$(timeout 10 redis-cli -p "$HS_PORT" PING)" PONG
expect "redis-cli ECHO" "$(timeout 10 redis-cli -p "$HS_PORT" ECHO hi)" hi
expect "redis-cli SET" "$(timeout 10 redis-cli -p "$HS_PORT" SET k v)" OK
expect "redis-cli GET" "$(timeout 10 redis-cli -p "$HS_PORT" GET k)" v
expect "redis-cli -3 GET" "$(timeout 10 redis-cli -3 -p "$HS_PORT" GET k)" v
expect "redis-cli -3 GET missing" \
    "$(timeout 10 redis-cli -3 -p "$HS_PORT" GET missing)" ""
out=$(timeout 10 redis-cli -3 -p "$HS_PORT" HELLO 3)
case $out in
*"proto 3"*"mode standalone"*"role master"*) ;;
*) fail "redis-cli -3 HELLO 3 printed: $out" ;;
esac
expect "redis-cli FOO" "$(timeout 10 redis-cli -p "$HS_PORT" FOO bar)" \
    "ERR unknown command 'FOO'"
client normal "$HS_PORT"
grep -q "connection 1 accepted" "$HS_ERR" ||
    fail "--verbose: no line for the first connection"
lines=$(wc -l <"$HS_ERR")
kill -USR1 "$HS_PID"
i=0
while [ "$(wc -l <"$HS_ERR")" = "$lines" ] && [ $i -lt 300 ]; do
    sleep 0.01
    i=$((i + 1))
done
stats=$(tail -n 1 "$HS_ERR")
case $stats in
"hostile: mode=normal connections="*" commands="*) echo "SIGUSR1: $stats" ;;
*) fail "SIGUSR1 printed '$stats'" ;;
esac
if [ -r "/proc/$HS_PID/stat" ]; then
    a=$(awk '{ print $14 + $15 }' "/proc/$HS_PID/stat")
    sleep 0.5
    b=$(awk '{ print $14 + $15 }' "/proc/$HS_PID/stat")
    [ $((b - a)) -le 5 ] || fail "the idle server used $((b - a)) ticks in 0.5 s"
fi
hs_stop

# --- stray
hs_start stray stray --delay-ms 150
client stray "$HS_PORT" 150
hs_stop
hs_start stray0 stray --delay-ms 0
client stray0 "$HS_PORT"
hs_stop

# --- push
hs_start push push
client push "$HS_PORT"
out=$(timeout 10 redis-cli -p "$HS_PORT" GET k)
expect "push: redis-cli (RESP2) GET" "$out" ""
hs_stop

# --- trickle
hs_start trickle trickle --delay-ms 30
client trickle "$HS_PORT" 30
hs_stop

# --- huge-array
hs_start huge huge-array --count 100000
client huge_array "$HS_PORT" 100000
hs_stop
hs_start huge_default huge-array
client huge_default "$HS_PORT" "$HS_PID"
hs_stop

# --- huge-announce
hs_start announce huge-announce
client huge_announce "$HS_PORT" 536870912
hs_stop
hs_start announce2 huge-announce --count 2
client huge_announce "$HS_PORT" 2
hs_stop

# --- close-mid
hs_start closemid close-mid
client close_mid "$HS_PORT"
expect "close-mid: redis-cli PING" "$(timeout 10 redis-cli -p "$HS_PORT" PING)" PONG
hs_stop

echo "PASS: hostile"
