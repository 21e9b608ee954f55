#!/bin/sh
# cli_core.sh - the azroute tool's routing commands end to end: check,
# plugins, pick by AZ, exit statuses and one-line errors.
set -u
: "${AZROUTE_BIN:?}" "${AZR_TEST_SRCDIR:?}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect STATUS OUTPUT_FILE -- COMMAND...: runs the command (stdout+stderr
# to OUTPUT_FILE) bounded by a timeout, and checks its exit status.
expect() {
    want=$1 out=$2; shift 3
    timeout 20 "$@" >"$out" 2>&1
    got=$?
    [ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -3 "$out")"
}

cat >"$tmp/three.ini" <<'INI'
[azroute]
policy = failover, same_az, weighted_latency
[metadata]
source = none
[az_map]
ap-northeast-1a = apne1-az4
ap-northeast-1c = apne1-az1
ap-northeast-1d = apne1-az2
[node primary-a]
host = 127.0.0.1
port = 6379
az = ap-northeast-1a
role = primary
[node replica-c]
host = 127.0.0.1
port = 6380
az = ap-northeast-1c
role = replica
[node replica-d]
host = 127.0.0.1
port = 6381
az = ap-northeast-1d
role = replica
INI

# The sample configuration loads and shows its chain.
expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$AZR_TEST_SRCDIR/conf/azroute.ini" check
grep -q '^chain: failover -> same_az -> weighted_latency$' "$tmp/out" ||
    fail "check does not print the chain: $(cat "$tmp/out")"

# Each AZ in turn: reads go to that AZ's node, writes to the primary.
for pair in apne1-az4:primary-a apne1-az1:replica-c apne1-az2:replica-d; do
    az=${pair%%:*} node=${pair#*:}
    AZROUTE_AZ_ID=$az expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" pick --read
    [ "$(cat "$tmp/out")" = "$node" ] || fail "az $az: read picked '$(cat "$tmp/out")', want $node"
    AZROUTE_AZ_ID=$az expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" pick --write
    [ "$(cat "$tmp/out")" = primary-a ] || fail "az $az: write picked '$(cat "$tmp/out")'"
done

# The process's AZ comes through `az`, and -v names the source.
AZROUTE_AZ_ID=apne1-az1 expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" -v az
[ "$(head -1 "$tmp/out")" = apne1-az1 ] || fail "az printed $(cat "$tmp/out")"
grep -q '^source: static$' "$tmp/out" || fail "az -v does not name the source"
# No source: `az` says why and exits 1; routing still works.
expect 1 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" az
grep -q "^azroute: AZ ID unknown (source none): " "$tmp/out" || fail "az without source: $(cat "$tmp/out")"
expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" pick --read

# Two same-AZ replicas share reads about evenly.
sed 's/^az = ap-northeast-1d$/az = ap-northeast-1c/' "$tmp/three.ini" >"$tmp/two.ini"
AZROUTE_AZ_ID=apne1-az1 expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/two.ini" pick --read -n 1000
c=$(awk '$1=="replica-c"{print $2}' "$tmp/out"); d=$(awk '$1=="replica-d"{print $2}' "$tmp/out")
p=$(awk '$1=="primary-a"{print $2}' "$tmp/out")
if [ -z "$c" ] || [ -z "$d" ] || [ "$c" -lt 400 ] || [ "$d" -lt 400 ] || [ "$p" != 0 ]; then
    fail "uneven split: $(tr '\n' ' ' <"$tmp/out")"
fi

# plugins lists the chain with kind, ABI and file.
expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" plugins
grep -Eq '^same_az +policy +1\.[0-9]+ ' "$tmp/out" || fail "plugins: $(cat "$tmp/out")"

# Configuration errors: exit 2, exactly one line naming file:line.
printf '[azroute]\npolicy = same_az\n[node a]\nhost = h\nprot = 1\n' >"$tmp/bad.ini"
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/bad.ini" check
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "bad ini: not one line: $(cat "$tmp/out")"
grep -q "^azroute: $tmp/bad.ini:5: unknown key 'prot' in \[node a\]$" "$tmp/out" ||
    fail "bad ini message: $(cat "$tmp/out")"
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/missing.ini" check
grep -q "^azroute: $tmp/missing.ini: " "$tmp/out" || fail "missing file: $(cat "$tmp/out")"

# Lines hold every legal value: a 253-character host (labels of 63, 63,
# 63 and 61) with a comment loads; a line over 8192 characters is refused.
h63=$(printf '%063d' 0 | tr 0 a)
host="$h63.$h63.$h63.$(printf '%061d' 0 | tr 0 b)"
[ ${#host} -eq 253 ] || fail "test host is ${#host} characters"
sed "s/^host = 127.0.0.1$/host = $host   ; the longest DNS name/" "$tmp/three.ini" >"$tmp/longhost.ini"
grep -q "^host = $host" "$tmp/longhost.ini" || fail "longhost.ini not written"
AZROUTE_AZ_ID=apne1-az4 expect 0 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/longhost.ini" pick --write
[ "$(cat "$tmp/out")" = primary-a ] || fail "253-character host: $(cat "$tmp/out")"
{ printf '[azroute]\n; '; printf '%08191d\n' 0; } >"$tmp/longline.ini"
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/longline.ini" check
grep -q "^azroute: $tmp/longline.ini:2: line too long (max 8192 characters)$" "$tmp/out" ||
    fail "over-long line: $(cat "$tmp/out")"

# A plugin the file names that does not exist is a configuration error
# (exit 2) that lists the plugins there are; so is one that is refused.
sed 's/^policy = .*/policy = failover, same_a/' "$tmp/three.ini" >"$tmp/typo.ini"
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/typo.ini" check
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "misspelt plugin: not one line: $(cat "$tmp/out")"
grep -q "^azroute: $tmp/typo.ini:2: no plugin 'same_a' in $AZROUTE_PLUGIN_DIR (available: .*same_az.*)$" "$tmp/out" ||
    fail "misspelt plugin: $(cat "$tmp/out")"
sed 's/^policy = .*/policy = resp_tls/' "$tmp/three.ini" >"$tmp/kind.ini"
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/kind.ini" check
grep -q "^azroute: $tmp/kind.ini:2: plugin 'resp_tls': .*: is a transport plugin, a policy is needed here$" "$tmp/out" ||
    fail "refused plugin: $(cat "$tmp/out")"

# A relative plugin directory is refused: it would load code from the
# current directory.
AZROUTE_PLUGIN_DIR=plugins/.libs expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" check
grep -q "^azroute: AZROUTE_PLUGIN_DIR 'plugins/.libs' is not an absolute path$" "$tmp/out" ||
    fail "relative AZROUTE_PLUGIN_DIR: $(cat "$tmp/out")"

# Usage errors: exit 2.
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" frobnicate
expect 2 "$tmp/out" -- "$AZROUTE_BIN" --bogus check
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" pick -n 0
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" pick -n 12x
expect 2 "$tmp/out" -- "$AZROUTE_BIN" -c "$tmp/three.ini" pick --sideways
expect 2 "$tmp/out" -- "$AZROUTE_BIN"
expect 0 "$tmp/out" -- "$AZROUTE_BIN" --help
grep -q '^usage: azroute' "$tmp/out" || fail "--help"
expect 0 "$tmp/out" -- "$AZROUTE_BIN" --version
grep -q '^azroute [0-9]' "$tmp/out" || fail "--version"

# Garbage input never crashes the tool: random bytes as a config.
for i in 1 2 3 4 5 6 7 8; do
    head -c 4096 /dev/urandom >"$tmp/garbage.ini"
    timeout 20 "$AZROUTE_BIN" -c "$tmp/garbage.ini" check >/dev/null 2>&1
    rc=$?
    [ "$rc" = 2 ] || fail "garbage config $i: exit $rc"
done

if [ "$failures" -eq 0 ]; then echo "cli_core: all checks passed"; exit 0; fi
echo "cli_core: $failures failure(s)"; exit 1
