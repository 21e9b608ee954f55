#!/bin/sh
# lambda-layer.sh STAGE PYSRC OUT.zip - assembles the AWS Lambda layer.
#
# Run by `make lambda-layer` (bindings/python/local.am), after
# `make install DESTDIR=... prefix=/opt ...` has staged the build in
# STAGE (= DESTDIR/opt). Writes OUT.zip, laid out for /opt:
#
#   lib/libazroute.so.0      the library, under its soname (no symlinks:
#                            zip files made by Python's zipfile and some
#                            deployment tools do not keep them)
#   lib/<dependency>         the non-system shared libraries it (or a
#                            plugin, or the CLI) needs, found with readelf
#                            and ldd, recursively: libjson-c.so.5, and
#                            libinih.so.1 where the link kept it (a build
#                            without --as-needed, e.g. a sanitizer build)
#   lib/azroute/*.so         the plugins
#   bin/azroute              the command-line tool
#   python/azroute/          the Python package (bindings/python/azroute)
#
# Not bundled: what the Amazon Linux 2023 Lambda runtimes provide
# themselves and must not be duplicated - glibc (libc, libm, libdl,
# libpthread, librt, libresolv, the dynamic loader), libgcc_s, OpenSSL 3
# (libssl.so.3, libcrypto.so.3: security fixes come with the runtime, and a
# second copy in one process next to the one the system libcurl uses would
# be asking for trouble), libcurl.so.4 and zlib (libz.so.1). Sanitizer
# runtimes (an instrumented test build) are never bundled.
#
# Binaries are stripped (strip --strip-unneeded, when strip exists) unless
# LAMBDA_LAYER_STRIP=no. The highest glibc symbol version any bundled file
# needs is printed, with a warning when it is newer than Amazon Linux
# 2023's glibc 2.34.
set -eu

[ $# -eq 3 ] || { echo "usage: $0 STAGE PYSRC OUT.zip" >&2; exit 2; }
stage=$1 pysrc=$2 out=$3

die() { printf 'lambda-layer: %s\n' "$*" >&2; exit 1; }

outdir=$(cd "$(dirname "$out")" && pwd) || die "no directory for $out"
out=$outdir/$(basename "$out")

[ -f "$stage/lib/libazroute.so.0" ] || die "$stage/lib/libazroute.so.0 not staged"
[ -d "$stage/lib/azroute" ] || die "$stage/lib/azroute (the plugins) not staged"
[ -x "$stage/bin/azroute" ] || die "$stage/bin/azroute not staged"
[ -f "$pysrc/azroute/__init__.py" ] || die "$pysrc/azroute is not the Python package"
command -v readelf >/dev/null || die "readelf not found (Debian package binutils)"
command -v ldd >/dev/null || die "ldd not found (Debian package libc-bin)"

root=$(mktemp -d "${out%.zip}.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/lib/azroute" "$root/bin" "$root/python/azroute"

# Sonames the runtime provides (see the header).
is_system() {
    case $1 in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|\
    libresolv.so.*|ld-linux*.so.*|ld64.so.*|libgcc_s.so.*|\
    libssl.so.3|libcrypto.so.3|libcurl.so.4|libz.so.1|linux-vdso.so.*|\
    linux-gate.so.*)
        return 0 ;;
    libasan.so.*|libubsan.so.*|libtsan.so.*|liblsan.so.*|libhwasan.so.*)
        echo "lambda-layer: warning: $1 (a sanitizer runtime) not bundled;" \
            "this is a test build, not a deployable layer" >&2
        return 0 ;;
    esac
    return 1
}

cp "$stage/lib/libazroute.so.0" "$root/lib/libazroute.so.0"
for f in "$stage"/lib/azroute/*.so; do
    [ -f "$f" ] || die "no plugin in $stage/lib/azroute"
    cp "$f" "$root/lib/azroute/"
done
cp "$stage/bin/azroute" "$root/bin/azroute"
for f in "$pysrc"/azroute/*.py "$pysrc"/azroute/py.typed; do
    cp "$f" "$root/python/azroute/"
done

# Bundle the non-system dependencies, recursively (a library bundled here
# is scanned in its turn).
bundled=
todo="$root/lib/libazroute.so.0 $root/bin/azroute $(echo "$root"/lib/azroute/*.so)"
while [ -n "$todo" ]; do
    next=
    for elf in $todo; do
        for soname in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            [ "$soname" = libazroute.so.0 ] && continue
            is_system "$soname" && continue
            case " $bundled " in *" $soname "*) continue ;; esac
            # Where the build machine's loader finds it (with the layer's
            # lib/ first, as Lambda's LD_LIBRARY_PATH has /opt/lib).
            path=$(LD_LIBRARY_PATH="$root/lib" ldd "$elf" |
                awk -v s="$soname" '$1 == s && $2 == "=>" { print $3 }')
            [ -n "$path" ] && [ -f "$path" ] ||
                die "$soname (needed by ${elf#"$root"/}) not found by ldd"
            cp -L "$path" "$root/lib/$soname"
            bundled="$bundled $soname"
            next="$next $root/lib/$soname"
        done
    done
    todo=$next
done

if [ "${LAMBDA_LAYER_STRIP:-yes}" != no ] && command -v strip >/dev/null; then
    for f in "$root"/lib/*.so* "$root"/lib/azroute/*.so "$root"/bin/azroute; do
        strip --strip-unneeded "$f"
    done
fi

# The newest glibc symbol version anything in the layer asks for.
glibc=$(for f in "$root"/lib/*.so* "$root"/lib/azroute/*.so "$root"/bin/azroute; do
            readelf -V "$f" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*'
        done | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1)
echo "lambda-layer: bundled non-system libraries:${bundled:- none}"
echo "lambda-layer: newest glibc symbol version needed: ${glibc:-none}"
case $glibc in
''|1.*|2.[0-9]|2.[0-9].*|2.[12][0-9]|2.[12][0-9].*|2.3[0-4]|2.3[0-4].*) ;;
*)
    echo "lambda-layer: warning: glibc $glibc is newer than Amazon Linux 2023's" \
        "2.34; build the layer on an older system (e.g. an AL2023 container)" >&2 ;;
esac

rm -f "$out"
if command -v zip >/dev/null; then
    (cd "$root" && zip -q -r -X "$out" lib bin python)
else
    python3 - "$root" "$out" <<'EOF'
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for top in ("lib", "bin", "python"):
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(d, name)
                z.write(p, os.path.relpath(p, root))
EOF
fi
size=$(wc -c <"$out" | tr -d ' ')
unpacked=$(du -sk "$root" | cut -f1)
echo "lambda-layer: wrote $out: $size bytes zipped, ${unpacked} KiB unpacked"
