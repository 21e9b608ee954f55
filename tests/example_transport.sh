#!/bin/sh
# example_transport.sh - the example transport of azroute-plugin(7),
# plugins/example/plain_resp.c, built out of tree against the INSTALLED
# headers only and run against a local redis-server:
#   1. install this build tree into a temporary DESTDIR;
#   2. build plain_resp.so with the example's Makefile and pkg-config over
#      that copy (-Werror), nothing of the source tree on the include path;
#   3. check that it exports only its descriptor and links no libazroute,
#      and that the installed resp_tls.so carries no RESP reader, encoder
#      or reply code of its own either (both use the host's, host->resp);
#   4. load it by absolute path (`transport = /abs/plain_resp.so`) and pass
#      PING, SET/GET, an error reply and pipelines through it, then check
#      that a bad option and an unreachable node fail as they should;
#   5. from a program built against the installed library: a pooled
#      connection the server closed while idle (redis `timeout 1`) is
#      reopened before the next command, which succeeds.
#
# Environment (set by make check): AZR_TEST_SRCDIR, AZR_TEST_BUILDDIR,
# AZROUTE_BIN; REDIS_SERVER optionally.
set -u
: "${AZR_TEST_SRCDIR:?}" "${AZR_TEST_BUILDDIR:?}" "${AZROUTE_BIN:?}"
. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

for tool in pkg-config nm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: no $tool"; exit 77; }
done
MAKE_PROG=${MAKE:-make}
rh_init            # $RH_DIR, removed (and servers stopped) on exit
root=$RH_DIR/root

# 1. Install the tree. MAKEFLAGS is dropped so that this make does not try
#    to join the jobserver of the make running the tests.
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; \
      "$MAKE_PROG" -C "$AZR_TEST_BUILDDIR" install DESTDIR="$root") \
      >"$RH_DIR/install.log" 2>&1; then
    tail -n 30 "$RH_DIR/install.log" >&2
    fail "make install DESTDIR=$root"
fi
pc=$(find "$root" -name azroute.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "azroute.pc was not installed"
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
plugindir=$(pkg-config --variable=plugindir azroute) ||
    fail "pkg-config --variable=plugindir azroute"
case "$plugindir" in "$root"*) ;; *) plugindir=$root$plugindir ;; esac

# 2. Build the example as a user would: its Makefile, out of tree, with
#    only the installed headers (through pkg-config) on the include path.
mkdir "$RH_DIR/example" || fail "mkdir"
cp "$AZR_TEST_SRCDIR/plugins/example/plain_resp.c" \
   "$AZR_TEST_SRCDIR/plugins/example/Makefile" "$RH_DIR/example/" ||
    fail "copying the example"
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$RH_DIR/example" &&
      "$MAKE_PROG" plain_resp.so CFLAGS="-O2 -Wall -Wextra -Werror") \
      >"$RH_DIR/build.log" 2>&1; then
    cat "$RH_DIR/build.log" >&2
    fail "building plain_resp.c against the installed headers"
fi
grep -q -- "-I$root" "$RH_DIR/build.log" ||
    { cat "$RH_DIR/build.log" >&2; fail "the build did not use $root"; }
grep -q -- "-I$AZR_TEST_SRCDIR" "$RH_DIR/build.log" &&
    { cat "$RH_DIR/build.log" >&2; fail "the build saw the source tree"; }
so=$RH_DIR/example/plain_resp.so
[ -f "$so" ] || fail "$so was not built"

# 3. Symbols. Exported: the descriptor alone. Undefined: nothing of
#    libazroute (the host's services arrive through the table).
# Defined, visible symbols; AddressSanitizer's one-definition-rule
# indicators (__odr_asan.NAME, added to every global of an instrumented
# build) are the sanitizer's, not the module's.
exported() { nm -D --defined-only "$1" | awk '$2 ~ /^[A-Z]$/ && $2 != "A" && $3 !~ /^__odr_asan\./ {print $3}'; }
[ "$(exported "$so")" = azr_plugin_descriptor ] ||
    fail "plain_resp.so exports: $(exported "$so" | tr '\n' ' ')"
und=$(nm -D --undefined-only "$so" | awk '$NF ~ /^azr_/ {print $NF}')
[ -z "$und" ] || fail "plain_resp.so needs libazroute symbols: $und"

rtls=$plugindir/resp_tls.so
[ -f "$rtls" ] || fail "$rtls was not installed"
[ "$(exported "$rtls")" = azr_plugin_descriptor ] ||
    fail "resp_tls.so exports: $(exported "$rtls" | tr '\n' ' ')"
# The public names, and static ones of lib/resp_reader.c as of this test
# (a renamed one only weakens the check, never breaks it).
resp_code='azr_reader_|azr_reply_|azr_format_command|parse_token|pop_complete'
resp_code="$resp_code|reserve_frame|reserve_slot|release_partial|new_reply"
own=$( { nm "$rtls" 2>/dev/null; nm -D "$rtls"; } |
       awk '{print $NF}' | grep -E "^($resp_code)" | sort -u)
[ -z "$own" ] || fail "resp_tls.so carries RESP code of its own: $own"
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$rtls" | grep NEEDED | grep -q libazroute &&
        fail "resp_tls.so links libazroute"
fi
echo "ok: built against $root; plain_resp.so and resp_tls.so carry no RESP code"

# 4. Through a local redis-server (closing connections idle for 1 s: only
#    step 5 waits that long).
rh_start_plain plain --timeout 1 || exit 99
port=$RH_PORT
ini=$RH_DIR/azroute.ini
write_ini() { # PORT [COMMAND-TIMEOUT (line 13)]
    printf '[azroute]\npolicy = same_az\ntransport = %s\n' "$so" >"$ini"
    printf '[metadata]\nsource = none\n' >>"$ini"
    printf '[node n1]\nhost = 127.0.0.1\nport = %s\naz_id = tst1-az1\n' "$1" >>"$ini"
    printf 'role = primary\n[transport plain_resp]\n' >>"$ini"
    printf 'connect_timeout_ms = 1000\ncommand_timeout_ms = %s\n' "${2:-2000}" >>"$ini"
}
# expect NAME WANT-STATUS WANT-GLOB ARGS...: azroute -c $ini ARGS exits
# WANT-STATUS and its output (stdout and stderr) matches WANT-GLOB.
expect() {
    e_name=$1 e_status=$2 e_want=$3
    shift 3
    e_out=$("$AZROUTE_BIN" -c "$ini" "$@" 2>&1)
    e_rc=$?
    # shellcheck disable=SC2254 # e_want is a pattern on purpose
    case "$e_out" in $e_want) e_match=1 ;; *) e_match=0 ;; esac
    [ "$e_rc" = "$e_status" ] && [ $e_match = 1 ] ||
        fail "$e_name: exit $e_rc, output '$e_out' (want $e_status, '$e_want')"
    echo "ok: $e_name"
}
write_ini "$port"

out=$("$AZROUTE_BIN" -c "$ini" plugins 2>&1) || fail "plugins: $out"
echo "$out" | grep -q 'plain_resp.*transport' ||
    fail "plugins does not list plain_resp as the transport: $out"
expect "PING" 0 PONG exec PING
expect "SET" 0 OK exec --write SET azr:example v1
expect "GET" 0 '"v1"' exec --read GET azr:example
expect "error reply" 1 "(error) ERR unknown command*" exec NOSUCHCOMMAND
# bench -P: pipelines of 10 on one connection, reused (pooled) 20 times.
out=$("$AZROUTE_BIN" -c "$ini" bench -n 200 -P 10 --write SET azr:bench x 2>&1) ||
    fail "bench -P 10: $out"
echo "$out" | grep -q 'total: 200 requests, 0 errors' ||
    fail "bench -P 10: $out"
echo "ok: pipelines"

# A bad option names its FILE:LINE; exit status 2.
write_ini "$port" soon
out=$("$AZROUTE_BIN" -c "$ini" exec PING 2>&1)
rc=$?
[ $rc = 2 ] || fail "bad option: exit $rc: $out"
case "$out" in
    *"$ini:13:"*"invalid command_timeout_ms 'soon'"*) echo "ok: bad option" ;;
    *) fail "bad option: $out" ;;
esac

# Nothing listens: the connect fails, says so, exit status 1.
write_ini "$(rh_free_port)"
out=$("$AZROUTE_BIN" -c "$ini" exec PING 2>&1)
rc=$?
[ $rc = 1 ] || fail "no server: exit $rc: $out"
case "$out" in
    *"connect: Connection refused"*) echo "ok: no server" ;;
    *) fail "no server: $out" ;;
esac

# 5. The idle connection the server closed. One node only: azr_exec has no
#    other node to retry on, so the second PING succeeds only if the
#    transport reopened the pooled connection before sending.
write_ini "$port"
cat >"$RH_DIR/idle.c" <<'EOF_C'
#include <stdio.h>
#include <unistd.h>
#include <azroute/azroute.h>
int main(int argc, char **argv)
{
    azr_ctx *ctx;
    char err[AZR_ERRBUF_SIZE];
    const char *ping[] = { "PING" };
    const azr_command cmd = { .argc = 1, .argv = ping };
    if (argc != 2 || azr_open(&ctx, argv[1], err) != AZR_OK) {
        fprintf(stderr, "open: %s\n", argc == 2 ? err : "usage");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        azr_reply *r = NULL;
        if (i == 1)
            sleep(3); /* > timeout 1 + the server's check interval */
        if (azr_exec(ctx, AZR_INTENT_READ, &cmd, &r, NULL, err) != AZR_OK) {
            fprintf(stderr, "PING %d: %s\n", i + 1, err);
            return 1;
        }
        printf("%.*s\n", (int)r->len, r->str);
        azr_reply_free(r);
    }
    azr_close(ctx);
    return 0;
}
EOF_C
libs=$(pkg-config --libs azroute) || fail "pkg-config --libs azroute"
libdir=$(pkg-config --variable=libdir azroute) || fail "pkg-config libdir"
case "$libdir" in "$root"*) ;; *) libdir=$root$libdir ;; esac
# $CFLAGS as a user's build takes it (the sanitizer pass exports its
# instrumentation flags, so that the runtime comes first in this program).
# shellcheck disable=SC2086 # CFLAGS and libs are lists of words
${CC:-cc} -std=c11 -Wall -Wextra -Werror ${CFLAGS:-} \
    $(pkg-config --cflags azroute) \
    -o "$RH_DIR/idle" "$RH_DIR/idle.c" $libs >"$RH_DIR/idle.log" 2>&1 ||
    { cat "$RH_DIR/idle.log" >&2; fail "building the idle-connection program"; }
out=$(LD_LIBRARY_PATH=$libdir "$RH_DIR/idle" "$ini" 2>&1) ||
    fail "idle connection closed by the server: $out"
[ "$out" = "PONG
PONG" ] || fail "idle connection: output '$out'"
echo "ok: a connection the server closed while idle is reopened"

echo "PASS: example transport built out of tree against $root, used from $so"
exit 0
