#!/usr/bin/env python3
"""stats_check.py - strict checks of azroute's statistics outputs.

  stats_check.py prometheus FILE   a strict parser of the Prometheus text
                                   exposition format 0.0.4
  stats_check.py emf FILE          CloudWatch Embedded Metric Format rules
  stats_check.py json FILE         the JSON snapshot's shape

Each prints one "ok: ..." line and exits 0, or prints what is wrong and
exits 1. Standard library only.
"""
import json
import math
import re
import sys

METRIC = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*\Z')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def parse_labels(text, lineno):
    """Parses 'a="x",b="y"' (the part between braces) strictly."""
    labels, i = {}, 0
    while i < len(text):
        m = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', text[i:])
        if not m:
            fail("line %d: bad label at %r" % (lineno, text[i:]))
        name = m.group(1)
        i += m.end()
        value = []
        while True:
            if i >= len(text):
                fail("line %d: unterminated label value" % lineno)
            c = text[i]
            if c == '\\':
                nxt = text[i + 1:i + 2]
                if nxt not in ('\\', '"', 'n'):
                    fail("line %d: bad escape \\%s" % (lineno, nxt))
                value.append({'\\': '\\', '"': '"', 'n': '\n'}[nxt])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                fail("line %d: raw line feed in a label value" % lineno)
            else:
                value.append(c)
                i += 1
        if name in labels:
            fail("line %d: label %s twice" % (lineno, name))
        labels[name] = "".join(value)
        if i < len(text):
            if text[i] != ',':
                fail("line %d: expected ',' between labels" % lineno)
            i += 1
    return labels


def parse_value(v, lineno):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.match(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z', v):
        fail("line %d: bad value %r" % (lineno, v))
    return float(v)


def check_prometheus(path):
    text = open(path, encoding="utf-8").read()
    if not text.endswith("\n"):
        fail("the exposition does not end with a line feed")
    families, samples, current = {}, {}, None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            fail("line %d: empty line" % lineno)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC.match(name):
                    fail("line %d: bad metric name %r" % (lineno, name))
                fam = families.setdefault(name, {})
                if parts[1] in fam:
                    fail("line %d: second %s for %s" % (lineno, parts[1], name))
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        fail("line %d: bad TYPE line" % lineno)
                    if name in samples:
                        fail("line %d: TYPE after samples of %s" % (lineno, name))
                fam[parts[1]] = parts[3] if len(parts) == 4 else ""
                current = name
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?\Z', line)
        if not m:
            fail("line %d: not a sample line: %r" % (lineno, line))
        name, labels = m.group(1), parse_labels(m.group(3) or "", lineno)
        value = parse_value(m.group(4), lineno)
        base = name
        if base not in families:
            fail("line %d: sample of %s without HELP/TYPE" % (lineno, name))
        if base != current:
            fail("line %d: %s's samples are not together" % (lineno, name))
        if families[base].get("TYPE") == "counter":
            if not name.endswith("_total"):
                fail("line %d: counter %s does not end in _total" % (lineno, name))
            if value < 0 or math.isnan(value):
                fail("line %d: counter %s is %r" % (lineno, name, value))
        key = (name, tuple(sorted(labels.items())))
        if key in samples.setdefault(base, set()):
            fail("line %d: duplicate series %r" % (lineno, key))
        samples[base].add(key)
    for name, fam in families.items():
        if "TYPE" not in fam or "HELP" not in fam:
            fail("%s lacks HELP or TYPE" % name)
    for need in ("azroute_requests_total", "azroute_sent_bytes_total",
                 "azroute_received_bytes_total", "azroute_same_az_share",
                 "azroute_cross_az_bytes_total", "azroute_errors_total"):
        if need not in families:
            fail("no %s family" % need)
    for key in samples["azroute_requests_total"]:
        labels = dict(key[1])
        for want in ("node", "az", "same_az"):
            if want not in labels:
                fail("azroute_requests_total without label %s" % want)
    print("ok: prometheus exposition: %d families, %d series" %
          (len(families), sum(len(v) for v in samples.values())))


def check_emf(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    if len(lines) != 1:
        fail("EMF is %d lines, expected one" % len(lines))
    doc = json.loads(lines[0])
    aws = doc.get("_aws")
    if not isinstance(aws, dict):
        fail("no _aws object")
    ts = aws.get("Timestamp")
    if not isinstance(ts, int) or ts < 1_600_000_000_000:
        fail("_aws.Timestamp %r is not epoch milliseconds" % ts)
    cwm = aws.get("CloudWatchMetrics")
    if not isinstance(cwm, list) or not cwm:
        fail("_aws.CloudWatchMetrics is not a non-empty array")
    units = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes",
             "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits",
             "Megabits", "Gigabits", "Terabits", "Percent", "Count",
             "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
             "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
             "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
             "Terabits/Second", "Count/Second", "None"}
    for d in cwm:
        ns = d.get("Namespace")
        if not isinstance(ns, str) or not 1 <= len(ns) <= 255:
            fail("bad Namespace %r" % ns)
        dims = d.get("Dimensions")
        if not isinstance(dims, list):
            fail("Dimensions is not an array")
        for dimset in dims:
            if not isinstance(dimset, list) or len(dimset) > 30:
                fail("a dimension set is not an array of at most 30")
            for k in dimset:
                if not isinstance(doc.get(k), str):
                    fail("dimension %r has no string value at the top" % k)
        metrics = d.get("Metrics")
        if not isinstance(metrics, list) or not 1 <= len(metrics) <= 100:
            fail("Metrics is not an array of 1..100")
        for m in metrics:
            name = m.get("Name")
            if not isinstance(name, str) or not 1 <= len(name) <= 1024:
                fail("bad metric Name %r" % name)
            if "Unit" in m and m["Unit"] not in units:
                fail("metric %s: unknown Unit %r" % (name, m["Unit"]))
            v = doc.get(name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                fail("metric %s has no numeric value at the top" % name)
    print("ok: EMF line: namespace %s, %d metrics" %
          (cwm[0]["Namespace"], len(cwm[0]["Metrics"])))


def check_json(path):
    doc = json.load(open(path, encoding="utf-8"))
    for k in ("az_id", "requests", "answered", "errors", "same_az_share",
              "bytes_sent", "bytes_received", "cross_az_bytes",
              "cross_az_cost_usd", "topology_changes", "nodes"):
        if k not in doc:
            fail("snapshot lacks %s" % k)
    for n in doc["nodes"]:
        for k in ("id", "az_id", "role", "same_az", "requests", "by_status",
                  "bytes_sent", "bytes_received", "latency_estimate_ms",
                  "ejections", "ejected", "picks"):
            if k not in n:
                fail("node lacks %s" % k)
    print("ok: JSON snapshot with %d nodes" % len(doc["nodes"]))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail("usage: stats_check.py prometheus|emf|json FILE")
    {"prometheus": check_prometheus, "emf": check_emf,
     "json": check_json}[sys.argv[1]](sys.argv[2])
