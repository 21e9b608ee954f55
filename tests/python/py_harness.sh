# py_harness.sh - helpers for the Python binding's shell tests and the
# example's local runner. Sourced after tests/redis_harness.sh; POSIX sh.
#
#   py_require_servers  fails (exit 99) when redis-server or openssl is
#                       missing, where rh_init would skip: these tests
#                       must not be skipped in CI (tools/install-deps.sh
#                       installs both)
#   py_find_python      sets PYTHON to the absolute path of the python3
#                       interpreter (sys.executable, so that it still runs
#                       under `env -i`); a missing python3 is a failure
#                       (exit 99), never a skip: tools/install-deps.sh
#                       installs it
#   py_sanitizer_env LIB
#                       when LIB was built with AddressSanitizer, sets
#                       PY_PRELOAD to the ASan runtime (an uninstrumented
#                       python3 must preload it to dlopen LIB) and turns
#                       leak detection off for the interpreter's own
#                       allocations; otherwise PY_PRELOAD is empty
#   py_start_group [ARGS...]
#                       starts three TLS redis-servers with $RH_DIR's
#                       server certificate, as one replication group: g1
#                       the primary, g2 and g3 replicas of it replicating
#                       over TLS; ARGS go to all three. Sets PY_P1, PY_P2,
#                       PY_P3 (their ports). Needs rh_make_certs.

py_require_servers() {
    if [ -z "$RH_REDIS" ] || [ ! -x "$RH_REDIS" ] || [ -z "$RH_OPENSSL" ]; then
        echo "FAIL: redis-server or openssl not found (tools/install-deps.sh installs them)"
        exit 99
    fi
}

py_find_python() {
    py=$(command -v python3 2>/dev/null) ||
        { echo "FAIL: python3 not found (tools/install-deps.sh installs it)"; exit 99; }
    PYTHON=$("$py" -c 'import sys; print(sys.executable)') && [ -x "$PYTHON" ] ||
        { echo "FAIL: cannot tell where $py's interpreter is"; exit 99; }
}

py_sanitizer_env() {
    PY_PRELOAD=$(ldd "$1" 2>/dev/null | awk '$1 ~ /^libasan\.so/ { print $3 }')
    if [ -n "$PY_PRELOAD" ]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
        export ASAN_OPTIONS
    fi
}

py_start_group() {
    set -- --port 0 --tls-port PORT \
        --tls-cert-file "$RH_DIR/server.crt" --tls-key-file "$RH_DIR/server.key" \
        --tls-ca-cert-file "$RH_DIR/ca.crt" --tls-auth-clients no \
        --tls-replication yes --repl-diskless-sync-delay 0 "$@"
    rh_start g1 "$@" || exit 99
    PY_P1=$RH_PORT
    rh_start g2 "$@" --replicaof 127.0.0.1 "$PY_P1" || exit 99
    PY_P2=$RH_PORT
    rh_start g3 "$@" --replicaof 127.0.0.1 "$PY_P1" || exit 99
    PY_P3=$RH_PORT
}
