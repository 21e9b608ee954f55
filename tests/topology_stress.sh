#!/bin/sh
# topology_stress.sh - live topology under load and against bad servers.
# 1. A TLS replication group of 3 redis-servers; tests/topology/stress runs
#    8 request threads while the main thread alternates
#    azr_topology_refresh() and azr_reload() for 3 s: every request must
#    succeed or fail with a proper code, every write must succeed, refresh
#    and reload must both succeed.
# 2. A fake plain-TCP server (python3) answering ROLE / INFO, and in
#    cluster mode CLUSTER SHARDS / SLOTS, with bad replies: `azroute
#    topology` must fail cleanly (exit 1 or 2, one `azroute:` line on
#    stderr naming the problem, no crash, within 10 s).
. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
rh_init
rh_make_certs || { echo "FAIL: certificates"; exit 1; }
rh_group tls db 3 || exit 1
P1=$(rh_port db1); P2=$(rh_port db2); P3=$(rh_port db3)
STRESS="$AZR_TEST_BUILDDIR/tests/topology/stress"
FAKE_PID=

fail() {
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
    echo "FAIL: $*"; exit 1
}

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
command_timeout_ms = 500
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

cksum_before=$(cksum < "$RH_DIR/azroute.ini")
timeout 60 "$STRESS" "$RH_DIR/azroute.ini" 3 > "$RH_DIR/stress.out" 2>&1
rc=$?
cat "$RH_DIR/stress.out"
[ $rc -eq 0 ] || fail "stress exited $rc"
[ "$(cksum < "$RH_DIR/azroute.ini")" = "$cksum_before" ] ||
    fail "the ini changed during the stress run"
echo "ok: stress under refresh/reload"

# --- Bad input: a fake RESP server with canned replies. ---
cat > "$RH_DIR/fake.py" <<'PY'
import os, socketserver, sys

mode, portfile = sys.argv[1], sys.argv[2]
port = 0  # ours, once bound

def bulk(s):
    return b"$%d\r\n%s\r\n" % (len(s), s)

def arr(items):
    return b"*%d\r\n" % len(items) + b"".join(items)

def node(i, p):
    # a CLUSTER SHARDS node in RESP2: a flat key/value array
    return arr([bulk(b"id"), bulk(b"%040x" % i), bulk(b"port"), b":%d\r\n" % p,
                bulk(b"ip"), bulk(b"127.0.0.1"), bulk(b"endpoint"),
                bulk(b"127.0.0.1"), bulk(b"role"), bulk(b"master"),
                bulk(b"health"), bulk(b"online")])

def shard(ranges, nodes):
    return arr([bulk(b"slots"), arr([b":%d\r\n" % x for x in ranges]),
                bulk(b"nodes"), arr(nodes)])

def cluster(cmd):
    sub = cmd[1].upper() if len(cmd) > 1 else b""
    if mode == "cl-disabled":
        return b"-ERR This instance has cluster support disabled\r\n"
    if mode == "cl-loading":
        return b"-LOADING Redis is loading the dataset in memory\r\n"
    if sub != b"SHARDS":
        return b"-ERR unknown subcommand\r\n"
    if mode == "cl-ok-reply":
        return b"+OK\r\n"
    if mode == "cl-slot-range":
        return arr([shard([0, 20000], [node(1, port)])])
    if mode == "cl-overlap":
        return arr([shard([0, 100], [node(1, port)]),
                    shard([50, 200], [node(2, port + 1)])])
    if mode == "cl-2000-nodes":
        return arr([shard([0, 16383], [node(i, 10000 + i)
                                       for i in range(2000)])])
    if mode == "cl-bad-port":
        return arr([shard([0, 16383], [node(1, 70000)])])
    return arr([shard([0, 16383], [node(1, port)])])

ROLE_OK = b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
INFO_OK = bulk(b"# Server\r\nredis_version:7.0.0\r\n")

def reply(cmd):
    name = cmd[0].upper() if cmd else b""
    if mode == "http":
        return b"HTTP/1.1 400 Bad Request\r\n\r\n", True
    if name == b"ROLE":
        if mode == "role-ok":
            return b"+OK\r\n", False
        if mode == "role-10000":
            entry = b"*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n$1\r\n0\r\n"
            return b"*3\r\n$6\r\nmaster\r\n:0\r\n*10000\r\n" + entry * 10000, False
        return ROLE_OK, False
    if name == b"INFO":
        if mode == "az-long":
            return bulk(b"# Server\r\nredis_version:7.0.0\r\navailability_zone:"
                        + b"a" * 1024 + b"\r\n"), False
        if mode == "az-ctrl":
            return bulk(b"# Server\r\nredis_version:7.0.0\r\n"
                        b"availability_zone:use1\x01az1\r\n"), False
        return INFO_OK, False
    if name == b"CLUSTER":
        return cluster(cmd), False
    if name == b"READONLY":
        return b"+OK\r\n", False
    if name == b"PING":
        return b"+PONG\r\n", False
    if name == b"HELLO":
        return b"-ERR unknown command 'HELLO'\r\n", False
    return b"+OK\r\n", False

class H(socketserver.StreamRequestHandler):
    def handle(self):
        self.request.settimeout(20)
        try:
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                line = line.rstrip(b"\r\n")
                if line.startswith(b"*"):
                    cmd = []
                    for _ in range(int(line[1:])):
                        n = int(self.rfile.readline()[1:].strip())
                        cmd.append(self.rfile.read(n + 2)[:n])
                else:
                    cmd = line.split()
                data, close = reply(cmd)
                self.wfile.write(data)
                self.wfile.flush()
                if close:
                    return
        except Exception:
            return

class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

srv = S(("127.0.0.1", 0), H)
port = srv.server_address[1]
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(tmp, portfile)
srv.serve_forever()
PY

# bad_case MODE PATTERN [TOPOLOGY_MODE]: runs `azroute topology` against
# the fake server (topology mode replication by default).
bad_case() {
    mode=$1 pattern=$2 topo=${3:-replication}
    pf="$RH_DIR/fake-$mode.port"
    rm -f "$pf"
    timeout 60 python3 "$RH_DIR/fake.py" "$mode" "$pf" \
        > "$RH_DIR/fake-$mode.log" 2>&1 &
    FAKE_PID=$!
    i=0; while [ ! -s "$pf" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    [ -s "$pf" ] || fail "$mode: fake server did not start: $(cat "$RH_DIR/fake-$mode.log")"
    fport=$(cat "$pf")
    cat > "$RH_DIR/bad.ini" <<INI
[azroute]
transport = resp_tls
max_attempts = 1
[topology]
mode = $topo
[transport resp_tls]
tls = no
connect_timeout_ms = 500
command_timeout_ms = 2000
[node fake1]
host = 127.0.0.1
port = $fport
az = use1-az1
INI
    timeout 10 "$AZROUTE_BIN" -c "$RH_DIR/bad.ini" topology \
        > "$RH_DIR/bad.out" 2> "$RH_DIR/bad.err"
    brc=$?
    kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=
    err=$(cat "$RH_DIR/bad.err")
    echo "$mode: exit $brc, stderr: $(head -c 300 "$RH_DIR/bad.err")"
    [ $brc -ne 124 ] || fail "$mode: did not finish within 10 s"
    [ $brc -lt 128 ] || fail "$mode: crashed (exit $brc)"
    [ $brc -eq 1 ] || [ $brc -eq 2 ] || fail "$mode: exit $brc, want 1 or 2"
    [ "$(wc -l < "$RH_DIR/bad.err")" -eq 1 ] ||
        fail "$mode: stderr is not one line: $err"
    case $err in azroute:*) ;; *) fail "$mode: stderr does not start with azroute: $err" ;; esac
    printf '%s\n' "$err" | grep -Eiq "$pattern" ||
        fail "$mode: stderr does not mention /$pattern/: $err"
}

bad_case http       'ROLE|protocol|RESP|reply'
bad_case role-ok    'ROLE'
bad_case role-10000 '10000|too many|ROLE'
bad_case az-long    'availability_zone'
bad_case az-ctrl    'availability_zone'
bad_case cl-disabled   'not a cluster node'          cluster
bad_case cl-loading    'no cluster node answered'    cluster
bad_case cl-ok-reply   'CLUSTER SHARDS'              cluster
bad_case cl-slot-range 'slot 20000 outside'          cluster
bad_case cl-overlap    'served by two shards'        cluster
bad_case cl-2000-nodes 'more than 1024 nodes'        cluster
bad_case cl-bad-port   'port 70000 outside'          cluster
bad_case az-long       'availability_zone'           cluster
echo "PASS: stress and bad discovery replies"
