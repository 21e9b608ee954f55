#!/bin/sh
# config_locale.sh - azroute.ini's decimal options do not follow the
# locale of the program that embeds the library.
#
# tests/locale_embed calls setlocale(LC_ALL, "") and azr_open on each file
# given; it is run under de_DE.UTF-8 (decimal point ',') and under C, and
# both runs must read every file the same way: "1.5" accepted, "1,5", hex
# floats, signs and exponents refused with FILE:LINE, the same messages.
# The AZ cache file ([metadata] cache_file) written under de_DE.UTF-8 holds
# "fetch_ms N.NNN" and is read back to the same value.
#
# de_DE.UTF-8 is built here with localedef (libc-bin) from the locale
# sources of Debian's `locales` package, which tools/install-deps.sh
# installs; LOCPATH points the program at it. If it cannot be built the
# test FAILS: it must not pass in the C locale by accident.
set -u
: "${AZR_TEST_SRCDIR:?run through make check}"
: "${AZR_TEST_BUILDDIR:?run through make check}"
: "${AZROUTE_PLUGIN_DIR:?run through make check}"
PROG=$AZR_TEST_BUILDDIR/tests/locale_embed
MDSERVER=$AZR_TEST_BUILDDIR/tests/mdserver

tmp=$(mktemp -d "${TMPDIR:-/tmp}/azr-locale.XXXXXX") || exit 99
MD_DIR=$tmp
. "$AZR_TEST_SRCDIR/tests/md_harness.sh"
cleanup() {
    md_stop
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# ---- the locale -------------------------------------------------------------
mkdir "$tmp/locale" || exit 99
timeout 120 localedef -i de_DE -f UTF-8 "$tmp/locale/de_DE.UTF-8" \
    >"$tmp/localedef.log" 2>&1
if [ ! -s "$tmp/locale/de_DE.UTF-8/LC_NUMERIC" ]; then
    echo "FAIL: cannot build the de_DE.UTF-8 locale with localedef" \
         "(install the 'locales' package: tools/install-deps.sh):"
    cat "$tmp/localedef.log"
    exit 1
fi
# glibc's setlocale() keeps the locale's name lists it builds with argz for
# the life of the process; under the sanitizer pass LeakSanitizer reports
# them at exit. They are glibc's, not ours: suppressed for this program
# only (an empty LSAN_OPTIONS outside that pass changes nothing).
printf 'leak:__argz_add_sep\nleak:setlocale\n' >"$tmp/lsan.supp"
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp"
export LSAN_OPTIONS
# run_de / run_c OUT FILES...: the program under each locale.
run_de() {
    out=$1
    shift
    LOCPATH=$tmp/locale LC_ALL=de_DE.UTF-8 timeout 20 "$PROG" "$@" \
        >"$out" 2>&1
}
run_c() {
    out=$1
    shift
    LC_ALL=C timeout 20 "$PROG" "$@" >"$out" 2>&1
}

# ---- decimal options --------------------------------------------------------
# cfg NAME OPTIONS: a config whose [policy same_az] and [policy
# weighted_latency] sections end with OPTIONS (one "key = value" per line,
# "|" for the section break). The first option is on line 11.
cfg() {
    {
        printf '[azroute]\npolicy = same_az, weighted_latency\n'
        printf '[metadata]\nsource = none\n'
        printf '[node a]\nhost = 127.0.0.1\nport = 6379\naz_id = use1-az1\n'
        printf 'role = primary\n'
        printf '%s\n' "$2" | tr '|' '\n'
    } >"$tmp/$1.ini"
}
cfg good '[policy same_az]
spill_latency_ratio = 1.5
spill_decay_ms = 2.25
spill_initial_rtt_ms = 0.5|[policy weighted_latency]
decay_ms = 100.125
initial_rtt_ms = 0.75
min_pull = 0.05
max_jump = 2.5'
cfg comma '[policy same_az]
spill_latency_ratio = 1,5'
cfg comma_wl '[policy weighted_latency]
min_pull = 0,05'
cfg hex '[policy weighted_latency]
decay_ms = 0x10'
cfg hexfloat '[policy same_az]
spill_latency_ratio = 0x1.8p1'
cfg negzero '[policy weighted_latency]
min_pull = -0'
cfg plus '[policy same_az]
spill_latency_ratio = +2'
cfg exponent '[policy weighted_latency]
initial_rtt_ms = 1e-1'
cfg nofraction '[policy weighted_latency]
initial_rtt_ms = 1.'
cfg nointeger '[policy weighted_latency]
min_pull = .5'
cfg bound '[policy same_az]
spill_latency_ratio = 2
spill_decay_ms = 0'
files="good comma comma_wl hex hexfloat negzero plus exponent nofraction
nointeger bound"
set --
for f in $files; do set -- "$@" "$tmp/$f.ini"; done

run_de "$tmp/de.out" "$@" || fail "under de_DE.UTF-8: exit $?: $(cat "$tmp/de.out")"
run_c "$tmp/c.out" "$@" || fail "under C: exit $?: $(cat "$tmp/c.out")"
[ "$(head -n 1 "$tmp/de.out")" = "decimal_point ," ] ||
    fail "de_DE.UTF-8 not in effect: $(head -n 1 "$tmp/de.out")"
[ "$(head -n 1 "$tmp/c.out")" = "decimal_point ." ] ||
    fail "C locale: $(head -n 1 "$tmp/c.out")"
# Everything after the decimal point line is the same in both locales.
tail -n +2 "$tmp/de.out" >"$tmp/de.rest"
tail -n +2 "$tmp/c.out" >"$tmp/c.rest"
cmp -s "$tmp/de.rest" "$tmp/c.rest" ||
    fail "de_DE.UTF-8 and C differ: $(diff "$tmp/c.rest" "$tmp/de.rest")"

# expect NAME TEXT: the de_DE line of NAME.ini is exactly "FILE: TEXT".
expect() {
    line=$(grep -F "$tmp/$1.ini: " "$tmp/de.rest")
    [ "$line" = "$tmp/$1.ini: $2" ] ||
        fail "$1: got '$line', want '$tmp/$1.ini: $2'"
}
f=$tmp
expect good "ok - 0"
expect comma "error $f/comma.ini:11: invalid spill_latency_ratio '1,5': expected a number in [1, 1000000]"
expect comma_wl "error $f/comma_wl.ini:11: invalid min_pull '0,05': expected a number in [0, 1]"
expect hex "error $f/hex.ini:11: invalid decay_ms '0x10': expected a number of milliseconds in (0, 3600000]"
expect hexfloat "error $f/hexfloat.ini:11: invalid spill_latency_ratio '0x1.8p1': expected a number in [1, 1000000]"
expect negzero "error $f/negzero.ini:11: invalid min_pull '-0': expected a number in [0, 1]"
expect plus "error $f/plus.ini:11: invalid spill_latency_ratio '+2': expected a number in [1, 1000000]"
expect exponent "error $f/exponent.ini:11: invalid initial_rtt_ms '1e-1': expected a number of milliseconds in (0, 60000]"
expect nofraction "error $f/nofraction.ini:11: invalid initial_rtt_ms '1.': expected a number of milliseconds in (0, 60000]"
expect nointeger "error $f/nointeger.ini:11: invalid min_pull '.5': expected a number in [0, 1]"
expect bound "error $f/bound.ini:12: invalid spill_decay_ms '0': expected a number in (0, 3600000]"

# ---- the AZ cache file ------------------------------------------------------
# Written by one process under de_DE.UTF-8 (fetched from a local stand-in
# for the Lambda endpoint), read back by another with the endpoint gone.
{
    printf '[metadata]\nsource = lambda\ntimeout_ms = 2000\n'
    printf 'cache_file = %s/az.cache\n' "$tmp"
    printf '[node a]\nhost = 127.0.0.1\nport = 6379\naz_id = use1-az1\n'
    printf 'role = primary\n'
} >"$tmp/cache.ini"
md_start tok-locale ok
AWS_LAMBDA_METADATA_API=127.0.0.1:$MD_PORT
AWS_LAMBDA_METADATA_TOKEN=tok-locale
export AWS_LAMBDA_METADATA_API AWS_LAMBDA_METADATA_TOKEN
run_de "$tmp/fetch.out" "$tmp/cache.ini" || fail "cache write: $(cat "$tmp/fetch.out")"
md_stop
written=$(sed -n 's/^fetch_ms //p' "$tmp/az.cache" 2>/dev/null)
printf '%s\n' "$written" | grep -Eq '^[0-9]+\.[0-9]{3}$' ||
    fail "cache file: fetch_ms '$written' (want digits, '.', 3 digits)"
run_de "$tmp/read.out" "$tmp/cache.ini" || fail "cache read: $(cat "$tmp/read.out")"
# The fetch time as read back, in microseconds, is the one written.
us=$(printf '%s\n' "$written" | tr -d .)
us=$(expr "$us" + 0 2>/dev/null)
got=$(sed -n "s|^$tmp/cache.ini: ok ||p" "$tmp/read.out")
fetched=$(sed -n "s|^$tmp/cache.ini: ok ||p" "$tmp/fetch.out")
az=${fetched%% *}
[ -n "$az" ] && [ "$az" != - ] || fail "no AZ fetched: $(cat "$tmp/fetch.out")"
[ "$got" = "$az $us" ] ||
    fail "cache read back '$got', want '$az $us' (file: fetch_ms $written)"

if [ "$failures" -eq 0 ]; then echo "config_locale: all checks passed"; exit 0; fi
echo "config_locale: $failures failure(s)"; exit 1
