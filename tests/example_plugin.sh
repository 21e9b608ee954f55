#!/bin/sh
# example_plugin.sh - a user's policy built out of tree, as azroute-plugin(7)
# tells: install azroute into a temporary DESTDIR, build
# plugins/example/prefer_prefix.c with its own Makefile using only the
# installed headers (found through pkg-config), install it into the
# plugindir pkg-config names, load it by absolute path from a config, and
# check its effect on `azroute pick`.
#
# Environment (set by make check): AZR_TEST_SRCDIR, AZR_TEST_BUILDDIR,
# AZROUTE_BIN, AZROUTE_PLUGIN_DIR.
set -u

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

: "${AZR_TEST_SRCDIR:?}" "${AZR_TEST_BUILDDIR:?}" "${AZROUTE_BIN:?}"
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }
MAKE_PROG=${MAKE:-make}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azroute-example.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/root

# 1. Install the tree. MAKEFLAGS is dropped so that this make does not try
#    to join the jobserver of the make running the tests.
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; \
      "$MAKE_PROG" -C "$AZR_TEST_BUILDDIR" install DESTDIR="$root") \
      >"$tmp/install.log" 2>&1; then
    tail -n 30 "$tmp/install.log" >&2
    fail "make install DESTDIR=$root"
fi
pc=$(find "$root" -name azroute.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "azroute.pc was not installed"

# 2. pkg-config over the installed copy. PKG_CONFIG_SYSROOT_DIR maps the
#    installed paths (which name the real prefix) into the DESTDIR. The
#    default search path stays: azroute.pc's Requires.private (libcurl,
#    json-c, inih) are found there, as on a user's machine.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
cflags=$(pkg-config --cflags azroute) || fail "pkg-config --cflags azroute"
case "$cflags" in
    *"$root"*) ;;
    *) fail "pkg-config --cflags azroute gave '$cflags', not the DESTDIR" ;;
esac
incdir=$(pkg-config --variable=includedir azroute) ||
    fail "pkg-config --variable=includedir azroute"
case "$incdir" in "$root"*) ;; *) incdir=$root$incdir ;; esac
for h in azroute.h plugin.h; do
    [ -f "$incdir/azroute/$h" ] || fail "$incdir/azroute/$h was not installed" \
        "(installed headers: $(cd "$root" && find . -name "$h" | tr '\n' ' '))"
done
plugindir=$(pkg-config --variable=plugindir azroute) ||
    fail "pkg-config --variable=plugindir azroute"
[ -n "$plugindir" ] || fail "azroute.pc has no plugindir"
case "$plugindir" in "$root"*) ;; *) plugindir=$root$plugindir ;; esac

# 3. Build the example the way a user would: its Makefile, out of tree,
#    with nothing but the installed headers on the include path.
mkdir "$tmp/example"
cp "$AZR_TEST_SRCDIR/plugins/example/prefer_prefix.c" \
   "$AZR_TEST_SRCDIR/plugins/example/plain_resp.c" \
   "$AZR_TEST_SRCDIR/plugins/example/Makefile" "$tmp/example/" ||
    fail "copying the example"
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$tmp/example" &&
      "$MAKE_PROG" CFLAGS="-O2 -Wall -Wextra -Werror" &&
      "$MAKE_PROG" install PLUGINDIR="$plugindir") \
      >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    fail "building the example against the installed headers"
fi
so=$plugindir/prefer_prefix.so
[ -f "$so" ] || fail "$so was not installed"
grep -q -- "$root" "$tmp/build.log" || fail "the build did not use $root"

# Only the descriptor is exported.
if command -v nm >/dev/null 2>&1; then
    syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[A-Z]$/ && $2 != "A" {print $3}')
    [ "$syms" = "azr_plugin_descriptor" ] ||
        fail "exported symbols: $(echo $syms)"
fi

# 4. Load it by absolute path and look at the picks.
nodes='
[node a]
host = 10.0.0.1
port = 6379
az_id = use1-az1
role = replica
[node b]
host = 192.168.1.2
port = 6379
az_id = use1-az1
role = replica
[node c]
host = 10.0.0.3
port = 6379
az_id = use1-az1
role = replica
'
write_ini() { # chain prefix
    printf '[azroute]\npolicy = %s\n[metadata]\nsource = none\n%s' "$1" "$nodes" \
        >"$tmp/azroute.ini"
    [ -z "$2" ] || printf '[policy prefer_prefix]\nprefix = %s\n' "$2" \
        >>"$tmp/azroute.ini"
}
count() { # output node -> hits
    awk -v n="$2" '$1 == n {print $2}' "$1"
}
run() {
    "$AZROUTE_BIN" -c "$tmp/azroute.ini" "$@"
}

# Alone in the chain: the one matching node, every time.
write_ini "$so" "192.168."
out=$(run pick --read) || fail "pick with the example plugin"
[ "$out" = b ] || fail "prefix 192.168.: picked '$out', expected b"
run pick --read -n 50 >"$tmp/picks" || fail "pick -n 50"
[ "$(count "$tmp/picks" b)" = 50 ] || { cat "$tmp/picks" >&2; fail "prefix 192.168.: not all picks on b"; }
run check >"$tmp/check" 2>&1 || { cat "$tmp/check" >&2; fail "check"; }
grep -q 'prefer_prefix' "$tmp/check" || { cat "$tmp/check" >&2; fail "check does not show the plugin"; }

# Before same_az (which spreads round-robin over what it gets, with no AZ
# known): only the two 10.0.0. nodes, evenly.
write_ini "$so, same_az" "10.0.0."
run pick --read -n 100 >"$tmp/picks" || fail "pick -n 100 (example, same_az)"
[ "$(count "$tmp/picks" b)" = 0 ] || { cat "$tmp/picks" >&2; fail "prefix 10.0.0.: b was picked"; }
[ "$(count "$tmp/picks" a)" = 50 ] && [ "$(count "$tmp/picks" c)" = 50 ] ||
    { cat "$tmp/picks" >&2; fail "prefix 10.0.0.: a and c not 50/50"; }

# No node matches: the fallback keeps every candidate.
write_ini "$so, same_az" "172.16."
run pick --read -n 30 >"$tmp/picks" || fail "pick -n 30 (no match)"
for n in a b c; do
    [ "$(count "$tmp/picks" $n)" = 10 ] || { cat "$tmp/picks" >&2; fail "no match: $n not picked 10 times"; }
done

# A missing option fails the load, naming the plugin; exit status 2.
write_ini "$so" ""
run pick --read >"$tmp/out" 2>&1
rc=$?
[ $rc = 2 ] || { cat "$tmp/out" >&2; fail "missing prefix: exit $rc, expected 2"; }
grep -q "prefix" "$tmp/out" || { cat "$tmp/out" >&2; fail "missing prefix: message does not say so"; }
[ "$(wc -l <"$tmp/out")" = 1 ] || { cat "$tmp/out" >&2; fail "missing prefix: not one line"; }

echo "PASS: example policy built out of tree against $root and loaded from $so"
exit 0
