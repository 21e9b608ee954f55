#!/bin/sh
# embed.sh - an autotools project embeds the installed libazroute.
#
# Installs this build tree into a temporary DESTDIR, then bootstraps and
# builds tests/embed (a minimal legacy-style project whose configure.ac
# uses AZROUTE_CHECK from the installed azroute.m4) against it, twice:
#   1. through pkg-config (PKG_CONFIG_PATH + PKG_CONFIG_SYSROOT_DIR);
#   2. without pkg-config (PKG_CONFIG=/bin/false), through the plain
#      -lazroute probe with CPPFLAGS/LDFLAGS;
# and runs the program against a config with a static AZ, asserting the
# node it routes to. Also checks `pkg-config --cflags --libs azroute` (no
# include directory of the library's own dependencies in --cflags, which
# the public headers never need; those still in --static --libs) and
# `--variable=plugindir`, that autoreconf fails naming AZROUTE_CHECK when
# azroute.m4 is not on aclocal's path, and that configure fails cleanly
# when libazroute cannot be found. Every step is bounded by `timeout`.
set -eu

: "${AZR_TEST_SRCDIR:?run through make check}"
: "${AZR_TEST_BUILDDIR:?run through make check}"

for tool in autoreconf pkg-config timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found"
        exit 77
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azr-embed.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
root=$tmp/root

# The sub-makes must not inherit make check's jobserver or flags.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES || :
make=${MAKE:-make}
case $make in *" "*|"") make=make ;; esac

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# step NAME SECONDS COMMAND...: runs COMMAND with its output in a log,
# shown (the end of it) only when it fails.
step() {
    name=$1 secs=$2
    shift 2
    echo "== $name"
    if ! timeout "$secs" "$@" >"$tmp/$name.log" 2>&1; then
        tail -n 40 "$tmp/$name.log" >&2
        fail "$name"
    fi
}

step install 300 "$make" -C "$AZR_TEST_BUILDDIR" install DESTDIR="$root"

# Locate what was installed, whatever the configured prefix.
find_one() {
    # set -f: $2 holds find patterns that must not be globbed against the
    # current directory (an in-tree build has include/azroute/azroute.h).
    found=$(set -f; find "$root" -name "$1" $2 | head -n 1)
    [ -n "$found" ] || fail "make install did not install $1"
    echo "$found"
}
pc=$(find_one azroute.pc "-type f")
m4=$(find_one azroute.m4 "-type f")
hdr=$(find_one azroute.h "-path */azroute/azroute.h")
lib=$(find_one 'libazroute.so' "")
plugin=$(find_one same_az.so "-type f")
pcdir=$(dirname "$pc")
aclocaldir=$(dirname "$m4")
incdir=$(dirname "$(dirname "$hdr")")
libdir=$(dirname "$lib")
plugindir=$(dirname "$plugin")
echo "installed: pc=$pcdir aclocal=$aclocaldir include=$incdir lib=$libdir plugins=$plugindir"

# pkg-config itself.
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$root"
flags=$(timeout 30 pkg-config --cflags --libs azroute) ||
    fail "pkg-config --cflags --libs azroute"
echo "pkg-config: $flags"
case " $flags " in
*" -I$incdir "*) ;;
*) fail "pkg-config --cflags lacks -I$incdir: $flags" ;;
esac
case " $flags " in
*" -L$libdir "*"-lazroute "*) ;;
*) fail "pkg-config --libs lacks -L$libdir -lazroute: $flags" ;;
esac
cflags=$(timeout 30 pkg-config --cflags azroute) ||
    fail "pkg-config --cflags azroute"
set -- $cflags
[ "$#" = 1 ] && [ "$1" = "-I$incdir" ] ||
    fail "pkg-config --cflags azroute gave '$cflags', expected -I$incdir alone"
slibs=$(timeout 30 pkg-config --static --libs azroute) ||
    fail "pkg-config --static --libs azroute"
for l in -lazroute -lcurl -ljson-c -linih; do
    case " $slibs " in
    *" $l "*) ;;
    *) fail "pkg-config --static --libs azroute lacks $l: $slibs" ;;
    esac
done
pdir=$(timeout 30 pkg-config --variable=plugindir azroute) ||
    fail "pkg-config --variable=plugindir azroute"
# pkgconf may or may not prefix variables with the sysroot.
case $pdir in
"$root"/*) ;;
*) pdir=$root$pdir ;;
esac
[ -f "$pdir/same_az.so" ] || fail "plugindir '$pdir' holds no same_az.so"
[ "$(cd "$pdir" && pwd -P)" = "$(cd "$plugindir" && pwd -P)" ] ||
    fail "plugindir '$pdir' is not where the plugins are ($plugindir)"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# Bootstrap the project once; both variants start from a copy of it.
cp -R "$AZR_TEST_SRCDIR/tests/embed" "$tmp/src"
chmod -R u+w "$tmp/src"

# 0. Without azroute.m4 on aclocal's path, m4_pattern_forbid([^AZROUTE_])
#    in configure.ac must make autoreconf itself fail, naming the macro
#    (only meaningful when no azroute.m4 is in aclocal's own directories).
acdir=$(aclocal --print-ac-dir 2>/dev/null || :)
if [ -n "$acdir" ] && [ ! -e "$acdir/azroute.m4" ] &&
   ! grep -qs . "$acdir/dirlist"; then
    cp -R "$tmp/src" "$tmp/nomacro"
    if (cd "$tmp/nomacro" && unset ACLOCAL_PATH &&
        timeout 180 autoreconf -fi >"$tmp/autoreconf-nomacro.log" 2>&1); then
        fail "autoreconf succeeded without azroute.m4 (m4_pattern_forbid missing?)"
    fi
    grep -q 'possibly undefined macro: AZROUTE_CHECK' "$tmp/autoreconf-nomacro.log" ||
        { tail -n 20 "$tmp/autoreconf-nomacro.log" >&2
          fail "autoreconf without azroute.m4 did not name AZROUTE_CHECK"; }
    echo "== no macro: autoreconf stopped naming AZROUTE_CHECK"
fi
(cd "$tmp/src" && export ACLOCAL_PATH="$aclocaldir" && step autoreconf 180 autoreconf -fi)
grep -q AZROUTE_CHECK "$tmp/src/configure" &&
    fail "configure still contains AZROUTE_CHECK: azroute.m4 was not used"

# A library built with -fsanitize=address (the sanitizer CI build) needs
# the ASan runtime loaded before anything else; a program built without
# the flag does not load it first, so preload it.
asan_rt=$(ldd "$lib" 2>/dev/null | awk '/libasan/ { print $3; exit }')
[ -n "$asan_rt" ] && echo "library built with AddressSanitizer: preloading $asan_rt"

run_program() {
    out=$(env LD_LIBRARY_PATH="$libdir" AZROUTE_PLUGIN_DIR="$plugindir" \
          AWS_EC2_METADATA_DISABLED=true ${asan_rt:+"LD_PRELOAD=$asan_rt"} \
          timeout 30 "$1/pick_node" "$AZR_TEST_SRCDIR/tests/embed/azroute.ini") ||
        fail "$1/pick_node failed"
    [ "$out" = near ] || fail "$1/pick_node printed '$out', expected 'near'"
    echo "$1/pick_node: $out"
}

# 1. pkg-config.
cp -Rp "$tmp/src" "$tmp/pc"
(cd "$tmp/pc" && step configure-pkgconfig 180 ./configure \
    PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$root")
grep -q 'found by: pkg-config' "$tmp/configure-pkgconfig.log" ||
    fail "configure did not find libazroute through pkg-config"
(cd "$tmp/pc" && step make-pkgconfig 180 "$make")
run_program "$tmp/pc"

# 2. The plain -lazroute probe.
cp -Rp "$tmp/src" "$tmp/probe"
(cd "$tmp/probe" && step configure-probe 180 ./configure PKG_CONFIG=/bin/false \
    CPPFLAGS="-I$incdir" LDFLAGS="-L$libdir")
grep -q 'found by: probe' "$tmp/configure-probe.log" ||
    fail "configure did not find libazroute through the -lazroute probe"
grep -q 'whether libazroute is at least 0.1.0... yes' "$tmp/configure-probe.log" ||
    fail "configure did not run the version check"
(cd "$tmp/probe" && step make-probe 180 "$make")
run_program "$tmp/probe"

# 3. Not found: configure must stop with the project's message (only
#    meaningful when no libazroute is installed system-wide).
if [ ! -e /usr/include/azroute/azroute.h ] &&
   [ ! -e /usr/local/include/azroute/azroute.h ]; then
    cp -Rp "$tmp/src" "$tmp/none"
    if (cd "$tmp/none" && timeout 180 ./configure PKG_CONFIG=/bin/false \
            >"$tmp/configure-none.log" 2>&1); then
        fail "configure succeeded without any libazroute"
    fi
    grep -q 'libazroute 0.1.0 or later is required' "$tmp/configure-none.log" ||
        { tail -n 20 "$tmp/configure-none.log" >&2
          fail "configure failed, but not with AZROUTE_CHECK's not-found action"; }
    echo "== not found: configure stopped as expected"
fi
echo "PASS: embed"
