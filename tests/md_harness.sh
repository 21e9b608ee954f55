# md_harness.sh - tests/mdserver (the local stand-in for the metadata
# endpoints) for the shell tests. Sourced (". md_harness.sh") by
# tests/metadata_cli.sh, tests/fault_cli.sh and tests/fault_secrets.sh;
# POSIX sh.
#
# The caller sets MDSERVER (the mdserver binary) and MD_DIR (its temp dir)
# before md_start; MD_LIFETIME (seconds, default 30) bounds a server the
# test forgets to stop.
#
#   md_start TOKEN MODE [MDSERVER-OPTIONS...]
#                   starts one mdserver on 127.0.0.1 (ephemeral port) with
#                   the Lambda token TOKEN and fault mode MODE; waits
#                   (at most 500 polls of 10 ms) until it has written its
#                   port and its count file; sets MD_PID and MD_PORT.
#                   If it does not come up: "FAIL: mdserver did not start"
#                   and exit 99.
#   md_stop         stops it by PID (SIGTERM, at most 200 polls of 10 ms,
#                   then SIGKILL) and reaps it; nothing when none runs.
#   md_requests     prints the count of metadata requests it has served
#                   (MD_DIR/md.count).
#
# Only one server at a time; nothing here touches a non-loopback address.

MD_PID=
MD_PORT=

md_start() {
    md_token=$1
    md_mode=$2
    shift 2
    rm -f "$MD_DIR/md.port" "$MD_DIR/md.count"
    "$MDSERVER" --lifetime "${MD_LIFETIME:-30}" --token "$md_token" \
        --mode "$md_mode" --count-file "$MD_DIR/md.count" "$@" \
        >"$MD_DIR/md.port" &
    MD_PID=$!
    md_i=0
    while [ $md_i -lt 500 ]; do
        if [ -s "$MD_DIR/md.port" ] && [ -s "$MD_DIR/md.count" ]; then
            # shellcheck disable=SC2034 # read by the sourcing script
            MD_PORT=$(head -n 1 "$MD_DIR/md.port")
            return 0
        fi
        sleep 0.01
        md_i=$((md_i + 1))
    done
    echo "FAIL: mdserver did not start"
    exit 99
}

md_stop() {
    if [ -n "$MD_PID" ]; then
        kill "$MD_PID" 2>/dev/null
        md_i=0
        while kill -0 "$MD_PID" 2>/dev/null && [ $md_i -lt 200 ]; do
            sleep 0.01
            md_i=$((md_i + 1))
        done
        kill -9 "$MD_PID" 2>/dev/null
        wait "$MD_PID" 2>/dev/null
        MD_PID=
    fi
}

md_requests() {
    cat "$MD_DIR/md.count"
}
