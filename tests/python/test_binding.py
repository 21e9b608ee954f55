"""test_binding.py - the Python binding against real local servers.

Run by tests/python_binding.sh, which starts (all on 127.0.0.1, stopped by
PID) a replication group of three TLS redis-servers with DEBUG enabled and
tests/mdserver as the Lambda metadata endpoint, and exports:

  AZR_PY_DIR      a scratch directory (certificates: ca.crt)
  AZR_PY_P1..3    TLS ports: g1 primary, g2 and g3 replicas of g1
  AZR_PY_MD       the metadata endpoint, host:port (answers apne1-az2)
  AZR_PY_TOKEN    its bearer token
  AZR_PY_LAYOUT   tests/python/abi_layout (the header's structure layouts)
  AZROUTE_LIBRARY, AZROUTE_PLUGIN_DIR, PYTHONPATH

The nodes, as in the article: node-1 = g1 primary (apne1-az4), node-2 = g2
replica (apne1-az1), node-3 = g3 replica (apne1-az2, the caller's AZ).
Standard library only.
"""
import builtins
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import azroute
from azroute import _capi
from azroute import errors as azerrors
from azroute import router as azrouter

ENV = os.environ
DIR = ENV["AZR_PY_DIR"]
P1, P2, P3 = ENV["AZR_PY_P1"], ENV["AZR_PY_P2"], ENV["AZR_PY_P3"]
MD = ENV["AZR_PY_MD"]
TOKEN = ENV["AZR_PY_TOKEN"]
SRCDIR = ENV.get("AZR_TEST_SRCDIR",
                 os.path.dirname(os.path.dirname(os.path.dirname(
                     os.path.abspath(__file__)))))
CA = os.path.join(DIR, "ca.crt")
BIG = 10 * 1024 * 1024
# Instrumented builds (tests/ci/asan.sh) run slower.
SCALE = float(ENV.get("AZR_TEST_TIME_SCALE", "1") or 1)


def write_ini(name, text):
    path = os.path.join(DIR, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def transport(protocol=2, extra=""):
    return ("[transport resp_tls]\nca_file = %s\nprotocol = %d\n"
            "command_timeout_ms = %d\nconnect_timeout_ms = 1000\n%s"
            % (CA, protocol, int(5000 * SCALE), extra))


def node(nid, port, az, role):
    return ("[node %s]\nhost = 127.0.0.1\nport = %s\naz = %s\nrole = %s\n"
            % (nid, port, az, role))


def solo_ini(protocol):
    """One node (g1, the primary), a static AZ: deterministic routing for
    the reply-type tests."""
    return write_ini("solo%d.ini" % protocol,
                     "[azroute]\npolicy = failover, same_az, weighted_latency\n"
                     "transport = resp_tls\n[metadata]\nsource = static\n"
                     "az_id = apne1-az4\n" + node("solo", P1, "apne1-az4", "primary")
                     + transport(protocol))


def group_ini(name="group.ini", p3=None, protocol=2, with_transport=True):
    """The three nodes, the AZ from the Lambda metadata endpoint."""
    text = ("[azroute]\npolicy = failover, same_az, weighted_latency\n"
            + ("transport = resp_tls\n" if with_transport else "")
            + "[metadata]\nsource = lambda\ntimeout_ms = %d\n" % int(1000 * SCALE)
            + node("node-1", P1, "apne1-az4", "primary")
            + node("node-2", P2, "apne1-az1", "replica")
            + node("node-3", p3 or P3, "apne1-az2", "replica"))
    if with_transport:
        text += transport(protocol)
    return write_ini(name, text)


def free_port():
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def md_control(path):
    with urllib.request.urlopen("http://%s%s" % (MD, path), timeout=5) as r:
        return r.read().decode()


def lambda_env(token=TOKEN):
    ENV["AWS_LAMBDA_METADATA_API"] = MD
    ENV["AWS_LAMBDA_METADATA_TOKEN"] = token


def setUpModule():
    lambda_env()
    md_control("/_mode/ok")
    azroute.invalidate_az()
    with azroute.open(group_ini()) as r:
        assert r.execute("SET", "greeting", "hello", write=True) == "OK"
        assert r.execute("SET", "a", 1, write=True) == "OK"
        assert r.execute("DEL", "b", write=True) in (0, 1)
        acked = r.execute("WAIT", 2, int(5000 * SCALE), write=True,
                          blocking=True, timeout_ms=int(6000 * SCALE))
        assert acked == 2, "replicas acknowledged %r" % acked


class TestLayout(unittest.TestCase):
    """The ctypes structures mirror <azroute/azroute.h> exactly."""

    STRUCTS = {
        "azr_open_options": _capi.AzrOpenOptions,
        "azr_node_info": _capi.AzrNodeInfo,
        "azr_pick_request": _capi.AzrPickRequest,
        "azr_az_info": _capi.AzrAzInfo,
        "azr_reply": _capi.AzrReply,
        "azr_command": _capi.AzrCommand,
        "azr_exec_options": _capi.AzrExecOptions,
    }

    def test_layouts_match_the_header(self):
        out = subprocess.run([ENV["AZR_PY_LAYOUT"]], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        seen = {name: [] for name in self.STRUCTS}
        for line in out.splitlines():
            struct, field, a, b = line.split()
            if struct == "const":
                self.assertEqual(getattr(_capi, field), int(a), field)
                continue
            cls = self.STRUCTS[struct]
            if field == "sizeof":
                self.assertEqual(ctypes.sizeof(cls), int(a), struct)
                continue
            seen[struct].append(field)
            desc = getattr(cls, field)
            self.assertEqual((desc.offset, desc.size), (int(a), int(b)),
                             "%s.%s" % (struct, field))
        for struct, cls in self.STRUCTS.items():
            self.assertEqual([f[0] for f in cls._fields_], seen[struct],
                             "%s: fields and their order" % struct)


class RepliesMixin:
    protocol = 2

    @classmethod
    def setUpClass(cls):
        cls.pushes = []
        cls.r = azroute.open(solo_ini(cls.protocol),
                             on_push=lambda n, v: cls.pushes.append((n, v)))

    @classmethod
    def tearDownClass(cls):
        cls.r.close()

    def x(self, *args, **kw):
        return self.r.execute(*args, **kw)

    def test_status(self):
        self.assertEqual(self.x("SET", "k", "v", write=True), "OK")
        self.assertEqual(self.x("PING"), "PONG")
        self.assertIsInstance(self.x("PING"), str)

    def test_bulk_and_nil(self):
        self.x("SET", "k", "v", write=True)
        self.assertEqual(self.x("GET", "k"), b"v")
        self.assertIsNone(self.x("GET", "no-such-key"))
        self.x("SET", "empty", "", write=True)
        self.assertEqual(self.x("GET", "empty"), b"")

    def test_binary_safe_arguments_and_values(self):
        blob = bytes(range(256)) * 4
        self.assertEqual(self.x("SET", b"bin\x00key", blob, write=True), "OK")
        self.assertEqual(self.x("GET", b"bin\x00key"), blob)
        self.x("SET", bytearray(b"ba"), memoryview(b"mv"), write=True)
        self.assertEqual(self.x("GET", "ba"), b"mv")

    def test_str_is_utf8(self):
        self.x("SET", "ключ", "значение ✓", write=True)
        self.assertEqual(self.x("GET", "ключ"), "значение ✓".encode())

    def test_int_and_float_arguments(self):
        self.x("SET", "n", 2 ** 62, write=True)
        self.assertEqual(self.x("INCR", "n", write=True), 2 ** 62 + 1)
        self.assertEqual(self.x("DECRBY", "n", -5, write=True), 2 ** 62 + 6)
        self.x("SET", "f", 0.1, write=True)
        self.assertEqual(self.x("GET", "f"), b"0.1")
        self.assertEqual(self.x("INCRBYFLOAT", "f", 1.5, write=True), b"1.6")

    def test_array(self):
        self.x("DEL", "l", write=True)
        self.assertEqual(self.x("RPUSH", "l", "a", "b", 3, write=True), 3)
        self.assertEqual(self.x("LRANGE", "l", 0, -1), [b"a", b"b", b"3"])
        self.assertEqual(self.x("LRANGE", "no-list", 0, -1), [])
        self.assertEqual(self.x("EVAL", "return {1, {2, 'x'}, {}}", 0),
                         [1, [2, b"x"], []])

    def test_nil_array(self):
        # BLPOP that times out: *-1 in RESP2, _ in RESP3.
        self.assertIsNone(self.x("BLPOP", "no-list", "0.1", blocking=True,
                                 timeout_ms=int(2000 * SCALE)))

    def test_error_replies_raise(self):
        self.x("SET", "s", "x", write=True)
        with self.assertRaises(azroute.ReplyError) as cm:
            self.x("INCR", "s", write=True)
        e = cm.exception
        self.assertTrue(str(e).startswith("ERR value is not an integer"), str(e))
        self.assertEqual(e.code, _capi.AZR_E_SERVER_REPLY)
        self.assertIsInstance(e, azroute.Error)
        with self.assertRaises(azroute.ReplyError) as cm:
            self.x("NO-SUCH-COMMAND")
        self.assertIn("unknown command", str(cm.exception))

    def test_nested_error_is_returned(self):
        v = self.x("EVAL", "return {1, redis.error_reply('boom')}", 0)
        self.assertEqual(v[0], 1)
        self.assertIsInstance(v[1], azroute.ReplyError)
        self.assertIn("boom", str(v[1]))


class TestRepliesResp2(RepliesMixin, unittest.TestCase):
    protocol = 2

    def test_resp2_shapes(self):
        self.x("DEL", "h", write=True)
        self.x("HSET", "h", "f", "v", write=True)
        self.assertEqual(self.x("HGETALL", "h"), [b"f", b"v"])
        self.x("ZADD", "z", 1.5, "m", write=True)
        self.assertEqual(self.x("ZSCORE", "z", "m"), b"1.5")
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "true"), 1)
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "double"), b"3.141")
        self.assertIsInstance(self.x("CLIENT", "INFO"), bytes)


class TestRepliesResp3(RepliesMixin, unittest.TestCase):
    protocol = 3

    def test_map(self):
        self.x("DEL", "h", write=True)
        self.x("HSET", "h", "f1", "v1", "f2", 2, write=True)
        self.assertEqual(self.x("HGETALL", "h"), {b"f1": b"v1", b"f2": b"2"})
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "map"),
                         {0: False, 1: True, 2: False})
        self.assertEqual(self.x("EVAL", "redis.setresp(3); "
                                "return {map={a=1}}", 0), {b"a": 1})

    def test_set(self):
        self.x("DEL", "set", write=True)
        self.x("SADD", "set", "a", "b", write=True)
        self.assertEqual(sorted(self.x("SMEMBERS", "set")), [b"a", b"b"])
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "set"), [0, 1, 2])

    def test_double(self):
        self.x("ZADD", "z", 1.5, "m", write=True)
        self.assertEqual(self.x("ZSCORE", "z", "m"), 1.5)
        v = self.x("DEBUG", "PROTOCOL", "double")
        self.assertIsInstance(v, float)
        self.assertEqual(v, 3.141)

    def test_bool(self):
        self.assertIs(self.x("DEBUG", "PROTOCOL", "true"), True)
        self.assertIs(self.x("DEBUG", "PROTOCOL", "false"), False)

    def test_bignum(self):
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "bignum"),
                         1234567999999999999999999999999999999)
        self.assertEqual(self.x("EVAL", "redis.setresp(3); return "
                                "{big_number='-123456789012345678901234567890'}", 0),
                         -123456789012345678901234567890)

    def test_null(self):
        self.assertIsNone(self.x("DEBUG", "PROTOCOL", "null"))

    def test_verbatim(self):
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "verbatim"),
                         "This is a verbatim\nstring")
        info = self.x("INFO", "server")
        self.assertIsInstance(info, str)
        self.assertIn("redis_version:", info)
        self.assertTrue(self.x("CLIENT", "INFO").startswith("id="))

    def test_attribute_is_dropped(self):
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "attrib"),
                         b"Some real reply following the attribute")

    def test_push_goes_to_the_callback(self):
        del self.pushes[:]
        self.assertEqual(self.x("DEBUG", "PROTOCOL", "push"),
                         b"Some real reply following the push reply")
        self.assertEqual(self.pushes, [("solo", [b"server-cpu-usage", 42])])

    def test_every_type_through_a_pipeline(self):
        cmds = [("DEBUG", "PROTOCOL", t) for t in
                ("string", "integer", "double", "bignum", "null", "array",
                 "set", "map", "verbatim", "true", "false", "attrib")]
        one_by_one = [self.x(*c) for c in cmds]
        self.assertEqual(self.r.pipeline(cmds), one_by_one)
        self.assertEqual(one_by_one[:5], [b"Hello World", 12345, 3.141,
                                          1234567999999999999999999999999999999,
                                          None])


class TestPipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = azroute.open(solo_ini(2))

    @classmethod
    def tearDownClass(cls):
        cls.r.close()

    def test_contract_example(self):
        self.r.execute("SET", "a", 1, write=True)
        self.r.execute("DEL", "b", write=True)
        self.assertEqual(self.r.pipeline([("GET", "a"), ("GET", "b")]),
                         [b"1", None])

    def test_mixed_and_with_node(self):
        replies, node = self.r.pipeline(
            [["SET", "p", "v"], ("GET", "p"), ("DEL", "p"), ("GET", "p")],
            write=True, with_node=True)
        self.assertEqual(replies, ["OK", b"v", 1, None])
        self.assertEqual(node, "solo")
        self.assertEqual(self.r.pipeline([]), [])

    def test_error_reply_in_a_pipeline(self):
        cmds = [("SET", "s", "x"), ("INCR", "s"), ("GET", "s")]
        with self.assertRaises(azroute.ReplyError):
            self.r.pipeline(cmds, write=True)
        out = self.r.pipeline(cmds, write=True, raise_on_error=False)
        self.assertEqual(out[0], "OK")
        self.assertIsInstance(out[1], azroute.ReplyError)
        self.assertEqual(out[2], b"x")

    def test_transaction_on_its_own_connection(self):
        out = self.r.pipeline([("MULTI",), ("SET", "t", "1"), ("INCR", "t"),
                               ("EXEC",)], write=True)
        self.assertEqual(out, ["OK", "QUEUED", "QUEUED", ["OK", 2]])

    def test_a_command_must_be_a_sequence(self):
        with self.assertRaises(azroute.InvalidArgumentError):
            self.r.pipeline(["GET"])
        with self.assertRaises(azroute.InvalidArgumentError):
            self.r.pipeline([()])


class TestErrors(unittest.TestCase):
    def test_config_error_has_file_and_line(self):
        path = write_ini("bad.ini", "[azroute]\npolicy = same_az\n"
                                    "no_such_key = 1\n")
        with self.assertRaises(azroute.ConfigError) as cm:
            azroute.open(path)
        e = cm.exception
        self.assertEqual(e.code, _capi.AZR_E_CONFIG)
        self.assertEqual((e.filename, e.lineno), (path, 3))
        self.assertTrue(str(e).startswith(path + ":3: "), str(e))
        self.assertNotIn("\n", str(e))
        self.assertIsInstance(e, azroute.Error)

    def test_missing_file_and_missing_plugin(self):
        for path in (os.path.join(DIR, "no-such.ini"),
                     write_ini("noplugin.ini", "[azroute]\npolicy = nope\n"
                               "[metadata]\nsource = none\n"
                               + node("n", 1, "apne1-az1", "primary"))):
            with self.assertRaises(azroute.Error) as cm:
                azroute.open(path)
            e = cm.exception
            self.assertIs(type(e), azerrors._BY_CODE[e.code])
            self.assertIn(e.code, (_capi.AZR_E_CONFIG, _capi.AZR_E_PLUGIN))
            self.assertNotIn("\n", str(e))

    def test_nodes_env_error(self):
        path = write_ini("envnodes.ini", "[azroute]\npolicy = same_az\n"
                         "nodes_env = AZR_PY_BAD_NODES\n[metadata]\nsource = none\n")
        ENV["AZR_PY_BAD_NODES"] = "n1|127.0.0.1|0|apne1-az1||primary"
        try:
            with self.assertRaises(azroute.ConfigError) as cm:
                azroute.open(path)
        finally:
            del ENV["AZR_PY_BAD_NODES"]
        self.assertIn("AZR_PY_BAD_NODES", str(cm.exception))

    def test_unreachable_node(self):
        path = write_ini("dead.ini", "[azroute]\npolicy = failover\n"
                         "transport = resp_tls\n[metadata]\nsource = none\n"
                         + node("dead", free_port(), "apne1-az1", "primary")
                         + transport())
        with azroute.open(path) as r:
            for call in (lambda: r.execute("GET", "k"),
                         lambda: r.pipeline([("GET", "k")])):
                with self.assertRaises(azroute.ConnectError) as cm:
                    call()
                e = cm.exception
                self.assertEqual(e.code, _capi.AZR_E_CONNECT)
                self.assertIsInstance(e, builtins.ConnectionError)
                self.assertIn("dead", str(e))

    def test_same_az_node_down_falls_back(self):
        lambda_env()
        with azroute.open(group_ini("g3dead.ini", p3=free_port())) as r:
            self.assertEqual(r.az_id, "apne1-az2")
            for _ in range(5):
                value, n = r.execute("GET", "greeting", with_node=True)
                self.assertEqual(value, b"hello")
                self.assertIn(n, ("node-1", "node-2"))

    def test_timeout(self):
        with azroute.open(solo_ini(2)) as r:
            t0 = time.monotonic()
            with self.assertRaises(azroute.TimeoutError) as cm:
                r.execute("DEBUG", "SLEEP", "0.4", timeout_ms=100)
            self.assertLess(time.monotonic() - t0, 0.4 + SCALE)
            self.assertEqual(cm.exception.code, _capi.AZR_E_TIMEOUT)
            self.assertIsInstance(cm.exception, builtins.TimeoutError)
            time.sleep(0.5)  # let the server wake up
            self.assertEqual(r.execute("PING"), "PONG")

    def test_invalid_arguments(self):
        with azroute.open(solo_ini(2)) as r:
            for args, kw in (((), {}), (("GET", object()), {}),
                             (("SET", "k", True), {}),
                             (("GET", "k"), {"timeout_ms": -1}),
                             (("GET", "k"), {"timeout_ms": "1"})):
                with self.assertRaises(azroute.InvalidArgumentError):
                    r.execute(*args, **kw)
            with self.assertRaises(azroute.InvalidArgumentError):
                r.report("solo", "no-such-status")
            with self.assertRaises(azroute.NotFoundError):
                r.report("no-such-node")
            with self.assertRaises(azroute.NotFoundError):
                r.pick(exclude=[7])
            with self.assertRaises(azroute.InvalidArgumentError):
                r.stats_text("xml")

    def test_state_changing_commands_are_refused(self):
        with azroute.open(solo_ini(3)) as r:
            for cmd in (("SUBSCRIBE", "ch"), ("HELLO", "3"), ("SELECT", 1)):
                with self.assertRaises(azroute.UnsupportedError) as cm:
                    r.execute(*cmd)
                self.assertEqual(cm.exception.code, _capi.AZR_E_UNSUPPORTED)

    def test_no_transport_and_no_node(self):
        with azroute.open(group_ini("notransport.ini", with_transport=False)) as r:
            with self.assertRaises(azroute.NoTransportError):
                r.execute("GET", "k")
            self.assertEqual(r.pick(write=True), "node-1")
        path = write_ini("replicas.ini", "[azroute]\npolicy = failover, same_az\n"
                         "[metadata]\nsource = none\n"
                         + node("r1", 1, "apne1-az1", "replica"))
        with azroute.open(path) as r:
            with self.assertRaises(azroute.NoNodeError):
                r.pick(write=True)

    def test_error_classes(self):
        for code in range(1, 18):
            e = azerrors.error_for(code, "m")
            self.assertEqual(e.code, code)
            self.assertIsInstance(e, azroute.Error)
            self.assertEqual(str(e), "m")
        e = azerrors.error_for(99, "future")
        self.assertIs(type(e), azroute.Error)
        self.assertEqual(e.code, 99)


class TestThreads(unittest.TestCase):
    def run_threads(self, n, target):
        failures = []

        def wrap(i):
            try:
                target(i)
            except BaseException as exc:  # reported below
                failures.append("thread %d: %r" % (i, exc))
        threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120 * SCALE)
            self.assertFalse(t.is_alive(), "a thread hangs")
        self.assertEqual(failures, [])

    def test_concurrent_exec_and_pipelines(self):
        n, rounds = 8, 150
        with azroute.open(solo_ini(3)) as r:
            before = r.stats()["requests"]

            def work(i):
                for j in range(rounds):
                    key = "t:%d:%d" % (i, j)
                    assert r.execute("SET", key, j, write=True) == "OK"
                    assert r.execute("GET", key) == b"%d" % j
                    assert r.pipeline([("INCR", key), ("GET", key)],
                                      write=True) == [j + 1, b"%d" % (j + 1)]
            self.run_threads(n, work)
            self.assertGreaterEqual(r.stats()["requests"] - before, n * rounds * 3)

    def test_concurrent_reads_stay_in_the_az(self):
        lambda_env()
        with azroute.open(group_ini()) as r:
            served = []

            def work(i):
                for _ in range(100):
                    v, n = r.execute("GET", "greeting", with_node=True)
                    assert v == b"hello", v
                    served.append(n)
            self.run_threads(6, work)
            self.assertEqual(set(served), {"node-3"})

    def test_the_gil_is_released_while_waiting(self):
        """A BLPOP the server holds does not stop other threads' calls."""
        key = "gil:%d" % os.getpid()
        with azroute.open(solo_ini(2)) as r:
            r.execute("DEL", key, write=True)
            done = []
            t = threading.Thread(target=lambda: done.append(
                r.execute("BLPOP", key, 30, write=True, blocking=True,
                          timeout_ms=35000)))
            t.start()
            time.sleep(0.1)
            for _ in range(50):
                self.assertEqual(r.execute("PING"), "PONG")
            self.assertEqual(done, [], "BLPOP returned before the push")
            self.assertTrue(t.is_alive())
            r.execute("RPUSH", key, "x", write=True)
            t.join(10 * SCALE)
            self.assertEqual(done, [[key.encode(), b"x"]])


class TestBigReply(unittest.TestCase):
    def test_ten_megabytes(self):
        value = os.urandom(BIG)
        with azroute.open(solo_ini(2)) as r:
            self.assertEqual(r.execute("SET", "big", value, write=True), "OK")
            t0 = time.monotonic()
            got = r.execute("GET", "big")
            elapsed = time.monotonic() - t0
            self.assertEqual(len(got), BIG)
            self.assertEqual(got, value)
            self.assertEqual(r.pipeline([("GET", "big"), ("STRLEN", "big")]),
                             [value, BIG])
            r.execute("DEL", "big", write=True)
            print("\n  10 MB GET: %.1f ms" % (elapsed * 1000), file=sys.stderr)


class TestStats(unittest.TestCase):
    TOP = {"az_id", "requests", "answered", "errors", "same_az_share",
           "bytes_sent", "bytes_received", "cross_az_bytes",
           "cross_az_cost_usd", "topology_changes", "pushes_unclaimed",
           "redirects_moved", "redirects_ask", "cluster_retries", "nodes"}
    NODE = {"id", "host", "port", "az_id", "role", "same_az", "picks",
            "requests", "answered", "errors", "by_status", "bytes_sent",
            "bytes_received", "avg_ms", "latency_estimate_ms", "ejections",
            "ejected"}
    STATUS = {"ok", "timeout", "refused", "error_reply", "tls_failure",
              "io_error"}

    def test_fields_and_counts(self):
        lambda_env()
        with azroute.open(group_ini()) as r:
            s0 = r.stats()
            self.assertEqual(set(s0), self.TOP)
            self.assertEqual(s0["requests"], 0)
            self.assertIsNone(s0["same_az_share"])
            for _ in range(20):
                r.execute("GET", "greeting")
            r.execute("SET", "w", "x", write=True)
            r.report("node-2", azroute.Status.TIMEOUT)
            s = r.stats()
            self.assertEqual(set(s), self.TOP)
            self.assertEqual(s["az_id"], "apne1-az2")
            self.assertEqual([n["id"] for n in s["nodes"]],
                             ["node-1", "node-2", "node-3"])
            for n in s["nodes"]:
                self.assertEqual(set(n), self.NODE)
                self.assertEqual(set(n["by_status"]), self.STATUS)
                for k in ("picks", "requests", "answered", "errors",
                          "bytes_sent", "bytes_received", "ejections"):
                    self.assertIsInstance(n[k], int)
            by = {n["id"]: n for n in s["nodes"]}
            self.assertEqual(by["node-3"]["answered"], 20)
            self.assertTrue(by["node-3"]["same_az"])
            self.assertEqual(by["node-3"]["role"], "replica")
            self.assertEqual(by["node-1"]["answered"], 1)
            self.assertEqual(by["node-2"]["by_status"]["timeout"], 1)
            self.assertEqual(s["requests"], 22)
            self.assertEqual(s["answered"], 21)
            self.assertEqual(s["errors"], 1)
            self.assertAlmostEqual(s["same_az_share"], 20 / 21)
            self.assertGreater(by["node-3"]["bytes_received"], 0)
            self.assertEqual(s["cross_az_bytes"],
                             by["node-1"]["bytes_sent"]
                             + by["node-1"]["bytes_received"])
            self.assertIsInstance(by["node-3"]["avg_ms"], float)

    def test_text_formats(self):
        with azroute.open(solo_ini(2)) as r:
            r.execute("PING")
            prom = r.stats_text("prometheus")
            self.assertIn("# TYPE azroute_", prom)
            emf = json.loads(r.stats_text("emf"))
            self.assertIn("_aws", emf)
            self.assertEqual(set(json.loads(r.stats_text("json"))),
                             TestStats.TOP)


class TestAz(unittest.TestCase):
    def setUp(self):
        lambda_env()
        md_control("/_mode/ok")
        azroute.invalidate_az()

    def tearDown(self):
        lambda_env()
        md_control("/_mode/ok")
        azroute.invalidate_az()

    def test_az_from_the_lambda_endpoint(self):
        with azroute.open(group_ini()) as r:
            self.assertEqual((r.az_id, r.az_source), ("apne1-az2", "lambda"))
            info = r.az_info
            self.assertTrue(info.known)
            self.assertFalse(info.from_cache)
            self.assertGreater(info.expires_in_s, 0)
            self.assertEqual(info.error, 0)
            self.assertEqual(r.pick(), "node-3")
            self.assertEqual(r.pick(write=True), "node-1")
            self.assertIn(r.pick(exclude=["node-3"], attempt=1),
                          ("node-1", "node-2"))
            nodes = r.nodes
            self.assertEqual([(n.id, n.role, n.same_az) for n in nodes],
                             [("node-1", "primary", False),
                              ("node-2", "replica", False),
                              ("node-3", "replica", True)])
            self.assertEqual(nodes[2].az_id, "apne1-az2")
            self.assertEqual(nodes[2].port, int(P3))
            self.assertIn("apne1-az2", repr(r))

    def test_one_fetch_per_process(self):
        md_control("/_reset")
        for _ in range(3):
            with azroute.open(group_ini()) as r:
                self.assertEqual(r.az_id, "apne1-az2")
        self.assertIn("lambda=1 ", md_control("/_count") + " ")
        with azroute.open(group_ini()) as r:
            self.assertTrue(r.az_info.from_cache)

    def test_static_override(self):
        with azroute.open(group_ini(), az_id="apne1-az1") as r:
            self.assertEqual((r.az_id, r.az_source), ("apne1-az1", "static"))
            self.assertEqual(r.pick(), "node-2")

    def test_refresh_after_invalidate(self):
        """The SnapStart sequence: invalidate_az(), then refresh_az()."""
        with azroute.open(group_ini()) as r:
            self.assertEqual(r.az_id, "apne1-az2")
            md_control("/_mode/500")
            r.invalidate_az()
            with self.assertRaises(azroute.MetadataError) as cm:
                r.refresh_az()
            self.assertEqual(cm.exception.code, _capi.AZR_E_METADATA)
            self.assertIsNone(r.az_id)
            self.assertEqual(r.execute("GET", "greeting"), b"hello")
            md_control("/_mode/ok")
            info = r.refresh_az()
            self.assertEqual(info.az_id, "apne1-az2")
            self.assertEqual(r.pick(), "node-3")

    def test_rejected_token_is_reported_not_leaked(self):
        bad = "tok-WRONG-%d" % os.getpid()
        lambda_env(bad)
        lines = []
        with azroute.open(group_ini(), log=lambda lvl, m: lines.append((lvl, m)),
                          log_level=azroute.LogLevel.DEBUG) as r:
            info = r.az_info
            self.assertFalse(info.known)
            self.assertIsNone(r.az_id)
            self.assertEqual(r.az_source, "lambda")
            self.assertEqual(info.error, _capi.AZR_E_METADATA_AUTH)
            self.assertTrue(info.reason)
            with self.assertRaises(azroute.MetadataAuthError):
                r.refresh_az()
            # Routing goes on with no node counted as same-AZ.
            self.assertEqual(r.execute("GET", "greeting"), b"hello")
        self.assertTrue(lines, "nothing was logged")
        self.assertTrue(any(lvl <= azroute.LogLevel.WARNING for lvl, _ in lines))
        for _, m in lines:
            self.assertNotIn(bad, m)
            self.assertNotIn(TOKEN, m)
        self.assertNotIn(bad, info.reason)


class TestTopology(unittest.TestCase):
    def test_reload_and_table_numbers(self):
        lambda_env()
        md_control("/_mode/ok")
        path = group_ini("reload.ini")
        with azroute.open(path) as r:
            self.assertEqual(r.topology_mode, "static")
            self.assertEqual(r.topology_generation, 1)
            self.assertTrue(all(n.present and n.az_source == "config"
                                for n in r.nodes))
            r.refresh_topology()  # static: nothing to discover
            self.assertEqual(r.topology_generation, 1)
            r.reload()
            self.assertEqual(r.topology_generation, 2)
            self.assertEqual(r.execute("PING"), "PONG")
            with open(path, "a") as f:
                f.write("[node broken]\nport = 0\n")
            with self.assertRaises(azroute.ConfigError) as cm:
                r.reload()
            self.assertIn("reload.ini:", str(cm.exception))
            self.assertEqual(r.topology_generation, 2)
            self.assertEqual(r.execute("PING"), "PONG")


class TestLifecycle(unittest.TestCase):
    def test_close(self):
        r = azroute.open(solo_ini(2))
        self.assertFalse(r.closed)
        r.close()
        r.close()
        self.assertTrue(r.closed)
        self.assertIn("closed", repr(r))
        for call in (lambda: r.execute("PING"), lambda: r.pick(), r.stats,
                     lambda: r.az_id, lambda: r.pipeline([("PING",)])):
            with self.assertRaises(azroute.InvalidArgumentError):
                call()
        with azroute.open(solo_ini(2)) as r2:
            self.assertEqual(r2.execute("PING"), "PONG")
        self.assertTrue(r2.closed)

    def test_close_while_threads_run(self):
        r = azroute.open(solo_ini(2))
        stop = threading.Event()
        bad = []

        def work():
            while not stop.is_set():
                try:
                    r.execute("GET", "greeting")
                except azroute.InvalidArgumentError:
                    return
                except BaseException as exc:
                    bad.append(repr(exc))
                    return
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        r.close()
        stop.set()
        for t in threads:
            t.join(10 * SCALE)
        self.assertEqual(bad, [])

    def test_library_and_plugin_dir(self):
        self.assertEqual(azroute.library_version(), "0.1.0")
        self.assertTrue(os.path.samefile(azroute.LIBRARY_PATH,
                                         ENV["AZROUTE_LIBRARY"]))
        self.assertIsNone(azroute.LAYER_PLUGIN_DIR)  # not a layer
        f = azrouter._declares_plugin_dir
        self.assertTrue(f(write_ini("pd1.ini", "[azroute]\n  plugin_dir = /x\n")))
        self.assertTrue(f(write_ini("pd2.ini", "[ azroute ]\nplugin_dir: /x\n")))
        self.assertFalse(f(write_ini("pd3.ini", "[azroute]\n; plugin_dir = /x\n")))
        self.assertFalse(f(write_ini("pd4.ini", "[stats]\nplugin_dir = /x\n")))
        self.assertFalse(f(os.path.join(DIR, "absent.ini")))


class TestExample(unittest.TestCase):
    """bindings/python/examples/lambda_handler.py under Lambda-style
    environment variables."""

    def setUp(self):
        azroute.invalidate_az()
        self.example = os.path.join(SRCDIR, "bindings", "python", "examples")
        with open(os.path.join(self.example, "azroute.ini")) as f:
            config = f.read() + "ca_file = %s\n" % CA
        self.env = dict(ENV)
        self.env.update({
            "AZROUTE_CONFIG": write_ini("example.ini", config),
            "CACHE_NODES": ",".join([
                "node-1|127.0.0.1|%s|apne1-az4|ap-northeast-1a|primary" % P1,
                "node-2|127.0.0.1|%s|apne1-az1|ap-northeast-1c|replica" % P2,
                "node-3|127.0.0.1|%s|apne1-az2|ap-northeast-1d|replica" % P3]),
            "AWS_LAMBDA_METADATA_API": MD,
            "AWS_LAMBDA_METADATA_TOKEN": TOKEN,
        })

    def test_handler_as_a_script(self):
        p = subprocess.run([sys.executable, "lambda_handler.py", "greeting"],
                           cwd=self.example, env=self.env, timeout=60 * SCALE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {
            "az_id": "apne1-az2", "az_source": "lambda", "node": "node-3",
            "same_az": True, "key": "greeting", "value": "hello"})
        self.assertNotIn(TOKEN, p.stdout + p.stderr)

    def test_handler_in_process(self):
        saved = dict(ENV)
        ENV.update(self.env)
        sys.path.insert(0, self.example)
        try:
            import importlib
            mod = importlib.import_module("lambda_handler")
            try:
                for key, want in (("greeting", "hello"), ("no-such", None)):
                    out = mod.handler({"key": key}, None)
                    self.assertEqual((out["node"], out["value"]), ("node-3", want))
            finally:
                mod.router.close()
                del sys.modules["lambda_handler"]
        finally:
            sys.path.remove(self.example)
            ENV.clear()
            ENV.update(saved)


if __name__ == "__main__":
    unittest.main()
