#!/bin/sh
# transport_bench.sh - compares `azroute bench` with redis-benchmark against
# one local TLS redis-server. A benchmark, not a test: it is not in TESTS
# (timings depend on the machine), and it prints the ratios that
# tests/bench/RESULTS.md records.
#
#   AZROUTE_BIN=build/tools/azroute AZROUTE_PLUGIN_DIR=build/plugins/.libs \
#   AZR_TEST_SRCDIR=. sh tests/transport_bench.sh
#
# Environment: ROUNDS (default 5) alternating rounds, N (20000) requests
# for the unpipelined run, NP (200000) requests for the pipelined run,
# DEPTH (16). Each side's median over the rounds is compared:
#   latency:    azroute bench -n N        p50  vs  redis-benchmark --tls -c 1 -P 1 -t ping p50
#   throughput: azroute bench -n NP -P 16 rps  vs  redis-benchmark --tls -c 1 -P 16 -t ping rps
# (PING_MBULK, the multibulk form azroute sends).
set -u
. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
rh_make_certs

ROUNDS=${ROUNDS:-5}
N=${N:-20000}
NP=${NP:-200000}
DEPTH=${DEPTH:-16}
AZROUTE=${AZROUTE_BIN:-./tools/azroute}
RB=${REDIS_BENCHMARK:-$(command -v redis-benchmark 2>/dev/null || true)}
[ -n "$RB" ] || { echo "SKIP: redis-benchmark not found (Debian package redis-tools)"; exit 77; }

rh_start_tls bench server || exit 99
PORT=$RH_PORT
CFG=$RH_DIR/bench.ini
cat > "$CFG" <<EOF
[azroute]
policy = same_az
transport = resp_tls
[metadata]
source = none
[node bench]
host = 127.0.0.1
port = $PORT
az = tst1-az1
role = primary
[transport resp_tls]
tls = yes
ca_file = $RH_DIR/ca.crt
EOF
export AZROUTE_AZ_ID=tst1-az1

rb() { # DEPTH COUNT -> "p50_ms rps avg_ms"
    "$RB" -h 127.0.0.1 -p "$PORT" --tls --cacert "$RH_DIR/ca.crt" -c 1 \
        -P "$1" -t ping -n "$2" --csv |
        awk -F'","' '/PING_MBULK/ { print $5, $2, $3 }'
}
az() { # DEPTH COUNT -> "p50_ms rps avg_ms"
    "$AZROUTE" -c "$CFG" bench -P "$1" -n "$2" |
        sed -n 's/^total: .* avg \([0-9.]*\) ms, p50 \([0-9.]*\) ms, .* ms, \([0-9]*\) req\/s$/\2 \3 \1/p'
}

: > "$RH_DIR/lat.rb"; : > "$RH_DIR/lat.az"; : > "$RH_DIR/thr.rb"; : > "$RH_DIR/thr.az"
i=0
while [ $i -lt "$ROUNDS" ]; do
    i=$((i + 1))
    rb 1 "$N" >> "$RH_DIR/lat.rb"
    az 1 "$N" >> "$RH_DIR/lat.az"
    rb "$DEPTH" "$NP" >> "$RH_DIR/thr.rb"
    az "$DEPTH" "$NP" >> "$RH_DIR/thr.az"
    echo "round $i: p50 redis-benchmark $(cut -d' ' -f1 < "$RH_DIR/lat.rb" | tail -1) ms," \
         "azroute $(cut -d' ' -f1 < "$RH_DIR/lat.az" | tail -1) ms;" \
         "P=$DEPTH rps redis-benchmark $(cut -d' ' -f2 < "$RH_DIR/thr.rb" | tail -1)," \
         "azroute $(cut -d' ' -f2 < "$RH_DIR/thr.az" | tail -1)"
done

median() { # FILE FIELD
    cut -d' ' -f"$2" < "$1" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

rb_p50=$(median "$RH_DIR/lat.rb" 1); az_p50=$(median "$RH_DIR/lat.az" 1)
rb_avg=$(median "$RH_DIR/lat.rb" 3); az_avg=$(median "$RH_DIR/lat.az" 3)
rb_rps=$(median "$RH_DIR/thr.rb" 2); az_rps=$(median "$RH_DIR/thr.az" 2)
awk -v rp="$rb_p50" -v ap="$az_p50" -v ra="$rb_avg" -v aa="$az_avg" \
    -v rr="$rb_rps" -v ar="$az_rps" -v n="$N" -v np="$NP" -v d="$DEPTH" \
    -v rounds="$ROUNDS" 'BEGIN {
    printf "medians of %d rounds, one local TLS redis-server, PING\n", rounds
    printf "latency  (-P 1, %d req): p50 redis-benchmark %.3f ms, azroute %.3f ms: ratio %.2f (goal <= 1.10)\n", n, rp, ap, ap / rp
    printf "                          avg redis-benchmark %.3f ms, azroute %.3f ms: ratio %.2f\n", ra, aa, aa / ra
    printf "throughput (-P %d, %d req): redis-benchmark %.0f req/s, azroute %.0f req/s: ratio %.2f (goal >= 0.85)\n", d, np, rr, ar, ar / rr
}'
