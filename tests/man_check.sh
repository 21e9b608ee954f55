#!/bin/sh
# man_check.sh - the manual matches the library, and every page is clean.
#
# Fails when
#  - a function the built libazroute.so exports (nm -D --defined-only) has
#    no page man/NAME.3: a page of its own, or an alias of the page that
#    documents it with its group (a symbolic link X.3, as mandoc advises,
#    or a `.so man3/X.3' page);
#  - a page (its file name, its NAME line, its SYNOPSIS) documents an
#    azr_* function the library does not export;
#  - a prototype in a page's SYNOPSIS, as rendered, differs from the one in
#    include/azroute/azroute.h (whitespace normalized; the whole
#    declaration is compared, so name, return type, parameter count, types
#    and names must all agree), or a function named in NAME has no
#    prototype in SYNOPSIS, or the other way round;
#  - an alias points to a page that is missing or does not name it;
#  - `groff -man -ww -z' or `mandoc -T lint -W warning' prints anything for
#    any page: man/*.[1-9] in the source tree, and the pages the build
#    makes from the templates man/*.in (in the build tree's man/);
#  - a template has no built page, or a built page still holds an
#    @substitution@.
set -eu

: "${AZR_TEST_SRCDIR:?run through make check}"
: "${AZR_TEST_BUILDDIR:?run through make check}"

mandir=$AZR_TEST_SRCDIR/man
header=$AZR_TEST_SRCDIR/include/azroute/azroute.h
lib=$AZR_TEST_BUILDDIR/lib/.libs/libazroute.so

for tool in groff mandoc nm col; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool not found (tools/install-deps.sh installs it)"
        exit 77
    fi
done
[ -f "$lib" ] || { echo "FAIL: $lib not built" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azr-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
errors=0
bad() {
    echo "FAIL: $*" >&2
    errors=$((errors + 1))
}

# Whitespace normalization shared by header and pages: one line, single
# blanks, none next to punctuation.
normalize() {
    tr '\n\t' '  ' | sed -e 's/  */ /g' -e 's/ *\([][(),;*]\) */\1/g' \
                         -e 's/^ //' -e 's/ $//'
}

# 1. What the library exports.
nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' |
    grep '^azr_' | sort -u >"$tmp/exported"
[ -s "$tmp/exported" ] || bad "no azr_* function exported by $lib"

# 2. The header's prototypes, one per line: "name<TAB>normalized".
awk '
    /^[ \t]*#/ { next }
    /AZR_EXTERN/ { acc = ""; on = 1 }
    on { acc = acc " " $0 }
    on && /;/ { print acc; on = 0 }
' "$header" | while IFS= read -r decl; do
    norm=$(printf '%s\n' "$decl" | sed 's/AZR_EXTERN//' | normalize)
    name=$(printf '%s\n' "$norm" | sed 's/(.*//; s/.*[ *]//')
    printf '%s\t%s\n' "$name" "$norm"
done | sort >"$tmp/header"

# 3. The pages. An alias is a symbolic link to X.3 in the same directory,
#    or a page whose only line is `.so man3/X.3'.
: >"$tmp/documented"
for page in "$mandir"/azr_*.3; do
    [ -e "$page" ] || { [ -L "$page" ] && bad "$page: dangling link"; continue; }
    base=$(basename "$page" .3)
    target=
    if [ -L "$page" ]; then
        target=$(readlink "$page")
        case $target in
        */*|"") bad "$page: an alias must link to a page in the same directory"
                continue ;;
        esac
        target=${target%.3}
    elif grep -q '^\.so ' "$page"; then
        target=$(sed -n 's|^\.so man3/\(.*\)\.3$|\1|p' "$page")
        if [ -z "$target" ] || [ "$(grep -cv '^\.\\"' "$page")" != 1 ]; then
            bad "$page: a link page holds exactly one '.so man3/NAME.3' line"
            continue
        fi
    fi
    if [ -n "$target" ]; then
        if [ ! -f "$mandir/$target.3" ] || [ -L "$mandir/$target.3" ] ||
           grep -q '^\.so ' "$mandir/$target.3"; then
            bad "$page: links to $target.3, which is not a page in man/"
            continue
        fi
        # The target must name this function in its NAME section.
        sed -n '/^\.SH NAME/,/^\.SH/p' "$mandir/$target.3" |
            grep -q "\\(^\\|[ ,]\\)$base\\([ ,]\\|\$\\)" ||
            bad "$page: $target.3 does not name $base in its NAME section"
        printf '%s\n' "$base" >>"$tmp/documented"
        continue
    fi

    # Functions named in NAME ("a, b, c \- what").
    sed -n '/^\.SH NAME/,/^\.SH/{/^\./d;p;}' "$page" | sed 's/ *\\-.*//' |
        tr ',' '\n' | sed 's/^ *//; s/ *$//' | grep . | sort -u >"$tmp/names"
    grep -qx "$base" "$tmp/names" ||
        bad "$page: its NAME section does not name $base"
    cat "$tmp/names" >>"$tmp/documented"

    # Prototypes in the rendered SYNOPSIS (what a reader sees), split at
    # ';', without preprocessor lines.
    mandoc -T ascii -O width=300 "$page" 2>/dev/null | col -bx |
        sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' |
        grep -v '^ *#' | normalize | tr ';' '\n' | sed 's/^ //' |
        grep '(' | sed 's/$/;/' >"$tmp/protos" || :
    : >"$tmp/proto_names"
    while IFS= read -r proto; do
        name=$(printf '%s\n' "$proto" | sed 's/(.*//; s/.*[ *]//')
        printf '%s\n' "$name" >>"$tmp/proto_names"
        want=$(awk -F '\t' -v n="$name" '$1 == n { print $2 }' "$tmp/header")
        if [ -z "$want" ]; then
            bad "$page: SYNOPSIS declares $name, which azroute.h does not"
        elif [ "$want" != "$proto" ]; then
            bad "$page: SYNOPSIS of $name differs from azroute.h:
    page:   $proto
    header: $want"
        fi
    done <"$tmp/protos"
    sort -u "$tmp/proto_names" -o "$tmp/proto_names"
    for f in $(comm -23 "$tmp/names" "$tmp/proto_names"); do
        bad "$page: names $f but has no prototype for it in SYNOPSIS"
    done
    for f in $(comm -13 "$tmp/names" "$tmp/proto_names"); do
        bad "$page: declares $f in SYNOPSIS but does not name it in NAME"
    done
done
sort -u "$tmp/documented" -o "$tmp/documented"

for f in $(comm -23 "$tmp/exported" "$tmp/documented"); do
    bad "exported function $f has no page in man/ (a page or a .so link)"
done
for f in $(comm -13 "$tmp/exported" "$tmp/documented"); do
    bad "man/ documents $f, which libazroute.so does not export"
done
# Every exported function also has its own file name (for `man NAME').
while IFS= read -r f; do
    [ -f "$mandir/$f.3" ] || bad "exported function $f has no man/$f.3"
done <"$tmp/exported"

# 4. Lint every page (an alias that is a symbolic link is its target,
#    linted once). `.so man3/X.3' resolves against the current directory,
#    so run in one where man1..man8 lead back to man/.
for s in 1 3 5 7 8; do
    ln -s "$mandir" "$tmp/man$s"
done
generated=
for tmpl in "$mandir"/*.in; do
    [ -e "$tmpl" ] || continue
    page=$AZR_TEST_BUILDDIR/man/$(basename "$tmpl" .in)
    if [ ! -f "$page" ]; then
        bad "$tmpl: the build made no $page"
        continue
    fi
    if grep -n '@[A-Za-z_]*@' "$page" >"$tmp/subst"; then
        bad "$page: substitution left undone:
$(cat "$tmp/subst")"
    fi
    generated="$generated $page"
done
n_pages=0
# A build in the source tree puts the built pages next to their
# templates: they are linted once, as built pages.
static=
for page in "$mandir"/*.[1-9]; do
    [ -e "$page.in" ] || static="$static $page"
done
for page in $static $generated; do
    [ -e "$page" ] && [ ! -L "$page" ] || continue
    n_pages=$((n_pages + 1))
    out=$(cd "$tmp" && groff -man -ww -z "$page" 2>&1) || bad "groff failed on $page"
    [ -z "$out" ] || bad "groff -man -ww -z $page:
$out"
    out=$(cd "$tmp" && mandoc -T lint -W warning "$page" 2>&1) || :
    [ -z "$out" ] || bad "mandoc -T lint -W warning $page:
$out"
done

n_exported=$(wc -l <"$tmp/exported")
if [ "$errors" -ne 0 ]; then
    echo "man_check: $errors problem(s)" >&2
    exit 1
fi
echo "PASS: $n_exported exported functions documented, $n_pages pages lint-clean"
