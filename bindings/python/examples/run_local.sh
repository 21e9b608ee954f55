#!/bin/sh
# run_local.sh - runs the example Lambda handler (lambda_handler.py) on
# this machine, as Lambda would run it:
#   - three TLS redis-servers on 127.0.0.1 as one replication group, the
#     article's topology: node-1 primary in apne1-az4, node-2 replica in
#     apne1-az1, node-3 replica in apne1-az2 (CACHE_NODES, as in the
#     article);
#   - tests/mdserver as the Lambda metadata endpoint, answering apne1-az2
#     behind a generated bearer token (never printed), reached through
#     AWS_LAMBDA_METADATA_API / AWS_LAMBDA_METADATA_TOKEN;
#   - the example's azroute.ini, plus the local CA (ca_file);
# writes a key through the primary, waits until both replicas have it,
# then runs `python3 lambda_handler.py greeting`, which reads it from
# node-3, the same-AZ node.
#
# Needs a built tree: in-tree (./autogen.sh && ./configure && make) or
# AZROUTE_BUILDDIR; builds what is missing. Every process started here is
# stopped by PID on exit; only 127.0.0.1 is contacted
# (AWS_EC2_METADATA_DISABLED=true).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../../.." && pwd)
if [ -n "${AZROUTE_BUILDDIR:-}" ]; then
    builddir=$AZROUTE_BUILDDIR
elif [ -f "$srcdir/config.status" ]; then
    builddir=$srcdir
else
    echo "run_local: build azroute first (./autogen.sh && ./configure && make)," \
        "or set AZROUTE_BUILDDIR" >&2
    exit 1
fi
lib=$builddir/lib/.libs/libazroute.so.0
MDSERVER=$builddir/tests/mdserver
if [ ! -f "$lib" ] || [ ! -x "$MDSERVER" ] || [ ! -f "$builddir/plugins/.libs/resp_tls.so" ]; then
    echo "== building azroute in $builddir"
    (unset MAKEFLAGS MFLAGS MAKELEVEL || :; make -C "$builddir" -s all tests/mdserver) >&2
fi

export AWS_EC2_METADATA_DISABLED=true
unset ECS_CONTAINER_METADATA_URI_V4 AWS_EC2_METADATA_SERVICE_ENDPOINT \
      AZROUTE_AZ_ID 2>/dev/null || :

set +e # the harnesses test statuses themselves
. "$srcdir/tests/redis_harness.sh"
. "$srcdir/tests/md_harness.sh"
. "$srcdir/tests/python/py_harness.sh"
py_find_python
rh_init
rh_make_certs
MD_DIR=$RH_DIR
MD_LIFETIME=120
trap 'set +e; md_stop; rh_cleanup' EXIT
set -e

py_start_group
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
md_start "$token" ok --az apne1-az2

config=$RH_DIR/azroute.ini
{ cat "$here/azroute.ini"; echo "ca_file = $RH_DIR/ca.crt"; } >"$config"

export CACHE_NODES="node-1|127.0.0.1|$PY_P1|apne1-az4|ap-northeast-1a|primary,\
node-2|127.0.0.1|$PY_P2|apne1-az1|ap-northeast-1c|replica,\
node-3|127.0.0.1|$PY_P3|apne1-az2|ap-northeast-1d|replica"
export AWS_LAMBDA_METADATA_API=127.0.0.1:$MD_PORT
export AWS_LAMBDA_METADATA_TOKEN=$token
export AZROUTE_CONFIG=$config
export AZROUTE_LIBRARY=$lib
export AZROUTE_PLUGIN_DIR=$builddir/plugins/.libs
export PYTHONPATH=$srcdir/bindings/python
export PYTHONDONTWRITEBYTECODE=1

echo "== nodes: node-1 primary apne1-az4 :$PY_P1, node-2 replica apne1-az1 :$PY_P2, node-3 replica apne1-az2 :$PY_P3"
echo "== Lambda metadata endpoint: $AWS_LAMBDA_METADATA_API (answers apne1-az2)"
"$PYTHON" - <<'EOF'
import azroute, os
with azroute.open(os.environ["AZROUTE_CONFIG"]) as r:
    print("== SET greeting ->", r.execute("SET", "greeting", "hello from the same AZ", write=True))
    acked = r.execute("WAIT", 2, 5000, write=True, blocking=True, timeout_ms=6000)
    if acked != 2:
        raise SystemExit("run_local: only %d replica(s) have the key" % acked)
EOF
echo "\$ python3 lambda_handler.py greeting"
cd "$here"
"$PYTHON" lambda_handler.py greeting
