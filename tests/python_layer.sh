#!/bin/sh
# python_layer.sh - `make lambda-layer` and the layer it writes, used as
# Lambda uses it:
#   1. runs `make lambda-layer` in the build tree and checks the zip's
#      layout (lib/libazroute.so.0, its non-system dependencies, the
#      plugins in lib/azroute/, bin/azroute, python/azroute/; nothing
#      else: no .la files, headers or symlinks);
#   2. unpacks it into a scratch directory standing for /opt and checks
#      that every shared object in it resolves with only its lib/ on
#      LD_LIBRARY_PATH;
#   3. under `env -i` with only PYTHONPATH=<scratch>/python and
#      LD_LIBRARY_PATH=<scratch>/lib (as Lambda sets them for a layer):
#      `python3 -c 'import azroute'`, then a real SET/GET through a local
#      TLS redis-server, with the plugins found in <scratch>/lib/azroute
#      by the binding itself; then the same with the two Lambda metadata
#      variables added, the AZ coming from tests/mdserver;
#   4. the layer's bin/azroute, with AZROUTE_PLUGIN_DIR=<scratch>/lib/azroute.
# Servers run on 127.0.0.1 and are stopped by PID. python3 missing is a
# failure, not a skip.
set -u
: "${AZR_TEST_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${AZR_TEST_BUILDDIR:=$(pwd)}"
AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_DISABLED

. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
. "$AZR_TEST_SRCDIR/tests/md_harness.sh"
. "$AZR_TEST_SRCDIR/tests/python/py_harness.sh"
py_find_python
py_require_servers
MDSERVER=$AZR_TEST_BUILDDIR/tests/mdserver
[ -x "$MDSERVER" ] || { echo "FAIL: $MDSERVER not built"; exit 99; }

rh_init
rh_make_certs
MD_DIR=$RH_DIR
trap 'md_stop; rh_cleanup' EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

# ---- 1. make lambda-layer ------------------------------------------------

# The sub-make must not inherit make check's jobserver or flags.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES 2>/dev/null || :
make=${MAKE:-make}
case $make in *" "*|"") make=make ;; esac
zip=$AZR_TEST_BUILDDIR/azroute-lambda-layer.zip
if ! timeout 300 "$make" -C "$AZR_TEST_BUILDDIR" lambda-layer >"$RH_DIR/make.log" 2>&1; then
    tail -n 40 "$RH_DIR/make.log"
    fail "make lambda-layer"
fi
grep '^lambda-layer:' "$RH_DIR/make.log"
[ -f "$zip" ] || fail "make lambda-layer wrote no $zip"

opt=$RH_DIR/opt
mkdir -p "$opt"
"$PYTHON" - "$zip" "$opt" >"$RH_DIR/listing" <<'EOF' || fail "cannot unpack $zip"
import os, stat, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            sys.exit("a symlink in the zip: " + info.filename)
        z.extract(info, sys.argv[2])
        if not info.is_dir():
            os.chmod(os.path.join(sys.argv[2], info.filename), mode & 0o777 or 0o644)
            print(info.filename)
EOF
sort "$RH_DIR/listing" >"$RH_DIR/files"
# libinih.so.1 is there only when the link kept it as NEEDED (a build
# without --as-needed): libazroute parses azroute.ini itself.
inih=
readelf -d "$opt/lib/libazroute.so.0" | grep -q 'NEEDED.*\[libinih\.so\.1\]' &&
    inih=lib/libinih.so.1
sort >"$RH_DIR/expected" <<EOF
bin/azroute
lib/azroute/failover.so
lib/azroute/resp_tls.so
lib/azroute/same_az.so
lib/azroute/weighted_latency.so
lib/libazroute.so.0
lib/libjson-c.so.5
python/azroute/__init__.py
python/azroute/_capi.py
python/azroute/errors.py
python/azroute/py.typed
python/azroute/router.py
${inih}
EOF
sed -i '/^$/d' "$RH_DIR/expected"
if ! cmp -s "$RH_DIR/expected" "$RH_DIR/files"; then
    diff "$RH_DIR/expected" "$RH_DIR/files"
    fail "the layer's files differ from the expected layout (above)"
fi
[ -x "$opt/bin/azroute" ] || fail "bin/azroute is not executable"
echo "ok: the layer holds $(wc -l <"$RH_DIR/files") files in lib/, lib/azroute/, bin/, python/ ($(wc -c <"$zip") bytes)"

# ---- 2. everything resolves from lib/ --------------------------------

for f in "$opt"/lib/*.so* "$opt"/lib/azroute/*.so "$opt"/bin/azroute; do
    out=$(env -i LD_LIBRARY_PATH="$opt/lib" ldd "$f" 2>&1) ||
        fail "ldd ${f#"$opt"/}: $out"
    if echo "$out" | grep -q 'not found'; then
        echo "$out"
        fail "${f#"$opt"/} has unresolved libraries"
    fi
    case $f in
    */libazroute.so.0|*/bin/azroute)
        echo "$out" | grep -q "libjson-c.so.5 => $opt/lib/" ||
            fail "${f#"$opt"/} does not take libjson-c from the layer" ;;
    esac
done
echo "ok: every shared object resolves with LD_LIBRARY_PATH=<layer>/lib alone"

# ---- 3. the Python package under env -i -----------------------------------

py_sanitizer_env "$opt/lib/libazroute.so.0"
# Only an instrumented (ASan) build needs more than the two variables.
san=
[ -n "$PY_PRELOAD" ] && san="LD_PRELOAD=$PY_PRELOAD ASAN_OPTIONS=$ASAN_OPTIONS"

lambda_py() {
    # shellcheck disable=SC2086 # $san is empty or assignments
    env -i PYTHONPATH="$opt/python" LD_LIBRARY_PATH="$opt/lib" $san "$@"
}

out=$(lambda_py "$PYTHON" -c 'import azroute' 2>&1) ||
    { echo "$out"; fail "python3 -c 'import azroute' under env -i"; }
echo "ok: env -i PYTHONPATH=<layer>/python LD_LIBRARY_PATH=<layer>/lib python3 -c 'import azroute'"

rh_start_tls n1 server || exit 99
port=$RH_PORT
cat >"$RH_DIR/layer.ini" <<EOF
[azroute]
policy = failover, same_az, weighted_latency
transport = resp_tls
[metadata]
source = lambda
timeout_ms = 1000
[node n1]
host = 127.0.0.1
port = $port
az = apne1-az2
role = primary
[transport resp_tls]
ca_file = $RH_DIR/ca.crt
EOF

check_py='
import os, sys, azroute
layer = os.path.realpath(sys.argv[1])
assert azroute.LIBRARY_PATH.startswith(layer + "/lib/"), azroute.LIBRARY_PATH
assert azroute.LAYER_PLUGIN_DIR == layer + "/lib/azroute", azroute.LAYER_PLUGIN_DIR
assert azroute.__file__.startswith(layer + "/python/azroute/"), azroute.__file__
assert "AZROUTE_PLUGIN_DIR" not in os.environ
with azroute.open(sys.argv[2]) as r:
    assert r.plugin_dir == azroute.LAYER_PLUGIN_DIR, r.plugin_dir
    assert r.execute("SET", "layer", "from /opt", write=True) == "OK"
    value = r.execute("GET", "layer")
    assert value == b"from /opt", value
    print("GET layer ->", value, "| az", r.az_id, r.az_source)
'
out=$(lambda_py "$PYTHON" -c "$check_py" "$opt" "$RH_DIR/layer.ini" 2>&1) ||
    { echo "$out"; fail "a GET through the layer under env -i"; }
echo "$out"
echo "$out" | grep -q "az None lambda" ||
    fail "without the Lambda variables the AZ should be unknown (source lambda)"
echo "ok: a real GET through the layer under env -i"

token="tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
md_start "$token" ok --az apne1-az2
out=$(lambda_py AWS_LAMBDA_METADATA_API="127.0.0.1:$MD_PORT" \
    AWS_LAMBDA_METADATA_TOKEN="$token" \
    "$PYTHON" -c "$check_py" "$opt" "$RH_DIR/layer.ini" 2>&1) ||
    { echo "$out"; fail "a GET through the layer with the Lambda metadata variables"; }
echo "$out"
echo "$out" | grep -q "az apne1-az2 lambda" || fail "the AZ did not come from the metadata endpoint"
case $out in *"$token"*) fail "the metadata token was printed" ;; esac
echo "ok: the same with AWS_LAMBDA_METADATA_API/TOKEN: AZ apne1-az2 from the endpoint"

# ---- 4. the CLI --------------------------------------------------------

# shellcheck disable=SC2086
out=$(env -i LD_LIBRARY_PATH="$opt/lib" AZROUTE_PLUGIN_DIR="$opt/lib/azroute" $san \
    "$opt/bin/azroute" -c "$RH_DIR/layer.ini" exec GET layer 2>&1) ||
    { echo "$out"; fail "the layer's bin/azroute"; }
echo "$out" | grep -q "from /opt" || { echo "$out"; fail "bin/azroute exec GET layer"; }
echo "ok: the layer's bin/azroute exec GET layer -> $out"
