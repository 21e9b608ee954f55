#!/bin/sh
# code_size.sh - keeps the plugins and the tools readable: no source file
# (C or shell) under plugins/ or tools/ longer than 700 lines, no function
# in them longer than 120 lines. A function is measured from its opening
# brace to its closing brace in column 0 (the project's style: a C
# function's brace on a line of its own, a shell function as `name() {');
# a C function's name is the last identifier followed by '(' before it.
#
#   tests/code_size.sh            check (run by make check)
#   tests/code_size.sh --report   also print every file's and the five
#                                 longest functions' sizes
set -u
srcdir=${AZR_TEST_SRCDIR:-.}
max_file=700
max_func=120
report=0
[ "${1:-}" = --report ] && report=1

files=$(cd "$srcdir" && find plugins tools -name '*.[ch]' -o -name '*.sh' | sort)
[ -n "$files" ] || { echo "FAIL: no sources under $srcdir/plugins, tools" >&2; exit 1; }

failures=0
for f in $files; do
    n=$(wc -l <"$srcdir/$f")
    [ $report = 1 ] && printf '%5d  %s\n' "$n" "$f"
    if [ "$n" -gt $max_file ]; then
        echo "FAIL: $f has $n lines (at most $max_file)" >&2
        failures=$((failures + 1))
    fi
done

(cd "$srcdir" && awk '
    FNR == 1 { name = "?" }
    /^[A-Za-z_].*[A-Za-z_0-9]\(/ {
        s = $0
        sub(/\(.*/, "", s)
        sub(/.*[^A-Za-z_0-9]/, "", s)
        name = s
    }
    /^\{/ { start = FNR }
    /^[A-Za-z_][A-Za-z_0-9]*\(\) *\{ *$/ { start = FNR }
    /^\}/ && start > 0 {
        printf "%d %s:%d %s\n", FNR - start + 1, FILENAME, start, name
        start = 0
    }
' $files) | sort -rn >"${TMPDIR:-/tmp}/azr-code-size.$$"
if [ $report = 1 ]; then
    echo "longest functions (lines, file:brace line, name):"
    head -n 5 "${TMPDIR:-/tmp}/azr-code-size.$$"
fi
while read -r len where name; do
    [ "$len" -gt $max_func ] || break
    echo "FAIL: $name ($where) has $len lines (at most $max_func)" >&2
    failures=$((failures + 1))
done <"${TMPDIR:-/tmp}/azr-code-size.$$"
rm -f "${TMPDIR:-/tmp}/azr-code-size.$$"

[ "$failures" -eq 0 ] || exit 1
echo "PASS: plugins/ and tools/: files <= $max_file lines, functions <= $max_func"
