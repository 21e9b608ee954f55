#!/bin/sh
# python_binding.sh - the Python binding (bindings/python/azroute) against
# real servers, all on 127.0.0.1 and stopped by PID:
#   - a replication group of three TLS redis-servers (tests/redis_harness.sh,
#     certificates made per run), DEBUG enabled so that DEBUG PROTOCOL can
#     produce every RESP3 type;
#   - tests/mdserver, the Lambda metadata endpoint stand-in
#     (tests/md_harness.sh), with a random bearer token, answering
#     apne1-az2 (the AZ of g3);
# then runs tests/python/test_binding.py (unittest, standard library only):
# replies of every type in RESP2 and RESP3, exec and pipeline, errors,
# threads, a 10 MB reply, stats, the AZ from the metadata endpoint, the
# structure layouts against the header, and the example Lambda handler
# under Lambda-style environment variables. Last, the README's local
# example runner (bindings/python/examples/run_local.sh).
#
# python3 missing is a failure, not a skip. EC2 metadata is never asked
# (AWS_EC2_METADATA_DISABLED=true).
set -u
: "${AZR_TEST_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${AZR_TEST_BUILDDIR:=$(pwd)}"
AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_DISABLED
unset AWS_LAMBDA_METADATA_API AWS_LAMBDA_METADATA_TOKEN \
      ECS_CONTAINER_METADATA_URI_V4 AWS_EC2_METADATA_SERVICE_ENDPOINT \
      AZROUTE_CONFIG AZROUTE_AZ_ID 2>/dev/null || :

. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
. "$AZR_TEST_SRCDIR/tests/md_harness.sh"
. "$AZR_TEST_SRCDIR/tests/python/py_harness.sh"
py_find_python
py_require_servers

lib=$AZR_TEST_BUILDDIR/lib/.libs/libazroute.so.0
MDSERVER=$AZR_TEST_BUILDDIR/tests/mdserver
for f in "$lib" "$MDSERVER" "$AZR_TEST_BUILDDIR/tests/python/abi_layout"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "FAIL: $f not built"; exit 99; }
done
py_sanitizer_env "$lib"

rh_init
rh_make_certs
MD_DIR=$RH_DIR
MD_LIFETIME=600
# rh_init's trap stops the redis-servers; the metadata server too.
trap 'md_stop; rh_cleanup' EXIT

py_start_group --enable-debug-command yes
token="tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
md_start "$token" ok --az apne1-az2

AZR_PY_DIR=$RH_DIR
AZR_PY_P1=$PY_P1 AZR_PY_P2=$PY_P2 AZR_PY_P3=$PY_P3
AZR_PY_MD=127.0.0.1:$MD_PORT
AZR_PY_TOKEN=$token
export AZR_TEST_SRCDIR
AZR_PY_LAYOUT=$AZR_TEST_BUILDDIR/tests/python/abi_layout
AZROUTE_LIBRARY=$lib
PYTHONPATH=$AZR_TEST_SRCDIR/bindings/python
PYTHONDONTWRITEBYTECODE=1 # never write into the source tree
export AZR_PY_DIR AZR_PY_P1 AZR_PY_P2 AZR_PY_P3 AZR_PY_MD AZR_PY_TOKEN \
    AZR_PY_LAYOUT AZROUTE_LIBRARY PYTHONPATH PYTHONDONTWRITEBYTECODE

t0=$(date +%s)
LD_PRELOAD=$PY_PRELOAD timeout 300 "$PYTHON" \
    "$AZR_TEST_SRCDIR/tests/python/test_binding.py" -v 2>&1
rc=$?
echo "unittest: exit $rc after $(( $(date +%s) - t0 )) s"
[ $rc -eq 0 ] || exit 1

# The README's command for running the example locally.
out=$RH_DIR/run_local.out
AZROUTE_BUILDDIR=$AZR_TEST_BUILDDIR LD_PRELOAD=$PY_PRELOAD timeout 120 \
    sh "$AZR_TEST_SRCDIR/bindings/python/examples/run_local.sh" >"$out" 2>&1
rc=$?
cat "$out"
if [ $rc -ne 0 ]; then
    echo "FAIL: run_local.sh exited $rc"
    exit 1
fi
if ! grep -q '"node": "node-3"' "$out" || ! grep -q '"az_id": "apne1-az2"' "$out"; then
    echo "FAIL: run_local.sh did not read from the same-AZ node (node-3, apne1-az2)"
    exit 1
fi
if grep -q "$token" "$out"; then
    echo "FAIL: a metadata token appears in run_local.sh's output"
    exit 1
fi
echo "ok: run_local.sh read from node-3 in apne1-az2"
