#!/usr/bin/env python3
"""python_overhead.py - what the Python binding costs per request.

A benchmark, not a test (machine-dependent). Measures, in the same run and
against the same local TLS redis-server, the per-request latency of

  raw      GET from Python's own socket + ssl code speaking RESP on one
           persistent TLS connection: sendall() the encoded command, recv()
           until the whole reply is in, timed with time.perf_counter_ns()
           (the method of the "Same-AZ Routing with Lambda AZ Metadata"
           article, which timed PING that way);
  binding  the same GET through azroute.Router.execute(): argument
           encoding, the ctypes call (GIL released), a pick by the policy
           chain, a pooled connection of the resp_tls transport, the
           outcome reported to every policy, the reply converted to bytes;

and, for reference, the p50 of the C tool on the same server
(`azroute bench -n N GET key`, no Python at all) when tools/azroute is
built. Rounds alternate raw and binding; each round's median is taken and
the medians of the rounds are compared: overhead = binding - raw (µs) and
ratio = binding / raw.

The server is started here (redis-server on 127.0.0.1, a free port, TLS
with a CA and certificate made by openssl in a temporary directory) and
stopped by PID, unless --port and --ca name one that runs already. Run from
a build tree (in-tree or with AZROUTE_LIBRARY/AZROUTE_PLUGIN_DIR set):

  python3 tests/bench/python_overhead.py [-n 20000] [-r 5] [--value-size 16]
"""
import argparse
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def use_build_tree(builddir):
    """Points the binding at the build tree's library and plugins unless
    the environment already does."""
    lib = os.path.join(builddir, "lib", ".libs", "libazroute.so.0")
    if "AZROUTE_LIBRARY" not in os.environ and os.path.exists(lib):
        os.environ["AZROUTE_LIBRARY"] = lib
    plugins = os.path.join(builddir, "plugins", ".libs")
    if "AZROUTE_PLUGIN_DIR" not in os.environ and os.path.isdir(plugins):
        os.environ["AZROUTE_PLUGIN_DIR"] = plugins
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=azroute bench CA")
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                "extendedKeyUsage = serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey",
        "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "ext.cnf",
        "-out", "server.crt")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(d):
    """redis-server with TLS only on a free loopback port: (Popen, port)."""
    exe = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if not exe:
        sys.exit("python_overhead: redis-server not found")
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [exe, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
             "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
             "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no",
             "--save", "", "--appendonly", "no", "--dir", d,
             "--logfile", os.path.join(d, "redis.log")],
            cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc, port
            except OSError:
                time.sleep(0.05)
        stop_server(proc)
    sys.exit("python_overhead: redis-server did not start (see %s/redis.log)" % d)


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RawClient:
    """Python's own socket + ssl, one persistent TLS connection."""

    def __init__(self, port, ca):
        ctx = ssl.create_default_context(cafile=ca)
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(sock, server_hostname="127.0.0.1")

    def roundtrip(self, request, reply_len):
        self.s.sendall(request)
        got = self.s.recv(65536)
        while len(got) < reply_len:
            got += self.s.recv(65536)
        return got

    def close(self):
        self.s.close()


def rounds_median(samples):
    return statistics.median(samples) / 1000.0  # ns -> µs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--requests", type=int, default=20000,
                    help="GETs per client per round (default 20000)")
    ap.add_argument("-r", "--rounds", type=int, default=5,
                    help="rounds, alternating the clients (default 5)")
    ap.add_argument("--value-size", type=int, default=16,
                    help="bytes of the value read (default 16)")
    ap.add_argument("--port", type=int, help="an existing TLS redis-server")
    ap.add_argument("--ca", help="its CA certificate (with --port)")
    ap.add_argument("--builddir", default=os.environ.get("AZROUTE_BUILDDIR", ROOT))
    opts = ap.parse_args()
    use_build_tree(opts.builddir)
    import azroute  # after the environment points at the build tree

    tmp = tempfile.mkdtemp(prefix="azr-pybench.")
    proc = None
    try:
        if opts.port:
            port, ca = opts.port, opts.ca
        else:
            make_certs(tmp)
            proc, port = start_server(tmp)
            ca = os.path.join(tmp, "ca.crt")
        ini = os.path.join(tmp, "bench.ini")
        with open(ini, "w") as f:
            f.write("[azroute]\npolicy = failover, same_az, weighted_latency\n"
                    "transport = resp_tls\n[metadata]\nsource = static\n"
                    "az_id = bench-az1\n[node n1]\nhost = 127.0.0.1\n"
                    "port = %d\naz = bench-az1\nrole = primary\n"
                    "[transport resp_tls]\nca_file = %s\n" % (port, ca))
        key, value = b"bench:key", b"v" * opts.value_size
        request = resp(b"GET", key)
        reply_len = len(b"$%d\r\n" % len(value)) + len(value) + 2

        router = azroute.open(ini)
        router.execute("SET", key, value, write=True)
        raw = RawClient(port, ca)
        assert raw.roundtrip(request, reply_len).endswith(value + b"\r\n")
        assert router.execute("GET", key) == value

        warmup = min(2000, opts.requests)
        for _ in range(warmup):
            raw.roundtrip(request, reply_len)
            router.execute("GET", key)

        clock = time.perf_counter_ns
        per_round = {"raw": [], "binding": []}
        for rnd in range(opts.rounds):
            samples = []
            for _ in range(opts.requests):
                t0 = clock()
                raw.roundtrip(request, reply_len)
                samples.append(clock() - t0)
            per_round["raw"].append(rounds_median(samples))
            samples = []
            execute = router.execute
            for _ in range(opts.requests):
                t0 = clock()
                execute("GET", key)
                samples.append(clock() - t0)
            per_round["binding"].append(rounds_median(samples))
            print("round %d: raw p50 %.1f µs, binding p50 %.1f µs"
                  % (rnd + 1, per_round["raw"][-1], per_round["binding"][-1]))
        raw.close()
        router.close()

        c_p50 = None
        cli = os.path.join(opts.builddir, "tools", "azroute")
        if os.path.exists(cli):
            out = subprocess.run(
                [cli, "-c", ini, "bench", "-n", str(opts.requests), "--json",
                 "GET", key.decode()], stdout=subprocess.PIPE, text=True)
            if out.returncode == 0:
                c_p50 = json.loads(out.stdout)["p50_ms"] * 1000.0

        raw_m = statistics.median(per_round["raw"])
        bind_m = statistics.median(per_round["binding"])
        print()
        print("GET of a %d-byte value, one local TLS redis-server, %d rounds x %d "
              "requests per client (median of the round medians):"
              % (opts.value_size, opts.rounds, opts.requests))
        print("  raw Python socket+ssl : %7.1f µs" % raw_m)
        print("  azroute binding       : %7.1f µs" % bind_m)
        print("  overhead              : %+7.1f µs (ratio %.2f)"
              % (bind_m - raw_m, bind_m / raw_m))
        if c_p50 is not None:
            print("  reference: azroute bench (C, no Python) p50 %.0f µs" % c_p50)
        print("  python %s, libazroute %s, load average %s"
              % (sys.version.split()[0], azroute.library_version(),
                 " ".join("%.2f" % x for x in os.getloadavg())))
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
