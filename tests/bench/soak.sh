#!/bin/sh
# soak.sh - a soak run, not a test (it takes minutes and its figures depend
# on the machine): one long-running `azroute bench` at full speed against
# three local TLS redis-servers while one node after the other is
# restarted, every RESTART_EVERY seconds. Reports
#   - requests and caller-visible errors (target: 0 while any node is up;
#     one node at most is down at any time here),
#   - the bench process's RSS (VmRSS) at the start and the end, and its RSS
#     without the latency buffer (target: flat within 1 MiB; see below),
#   - its open descriptors at the start, the most seen, and the end,
#   - the restarts done and the bench's own summary (per node).
#
#   AZROUTE_BUILDDIR=/path/to/build sh tests/bench/soak.sh
#   (or AZROUTE_BIN=... AZROUTE_PLUGIN_DIR=...; run from the source tree or
#   set AZR_TEST_SRCDIR)
#
# Environment: DURATION (seconds, default 300), RESTART_EVERY (30),
# DOWN (seconds a node stays down, default 2), RESTART_SIGNAL (TERM; KILL
# for a crash), SAMPLE_EVERY (seconds, 2), SOAK_KEEP (a directory to keep
# samples.tsv, bench.json, bench.err and the config in).
#
# `azroute bench -n N` is one process for the whole run: N is set from a
# short calibration run so that it lasts about DURATION. bench keeps the
# latency of every answered request (8 bytes each, one malloc(N * 8) at
# start, pages touched as it goes) to compute percentiles, so its VmRSS
# grows by 8 bytes per request by design. The sampler therefore also
# reports RSS minus that buffer's resident part (the one anonymous mapping
# of N * 8 bytes in /proc/PID/smaps): that is the figure the 1 MiB target
# applies to.
#
# Everything runs on 127.0.0.1; servers and the bench are stopped by PID;
# every wait is bounded.
set -u

AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_DISABLED
unset AWS_LAMBDA_METADATA_API AWS_LAMBDA_METADATA_TOKEN \
      ECS_CONTAINER_METADATA_URI_V4 AWS_EC2_METADATA_SERVICE_ENDPOINT \
      AZROUTE_CONFIG AZROUTE_AZ_ID

here=$(cd "$(dirname "$0")" && pwd)
: "${AZR_TEST_SRCDIR:=$(cd "$here/../.." && pwd)}"
if [ -n "${AZROUTE_BUILDDIR:-}" ]; then
    : "${AZROUTE_BIN:=$AZROUTE_BUILDDIR/tools/azroute}"
    : "${AZROUTE_PLUGIN_DIR:=$AZROUTE_BUILDDIR/plugins/.libs}"
fi
AZROUTE=${AZROUTE_BIN:-./tools/azroute}
: "${AZROUTE_PLUGIN_DIR:=./plugins/.libs}"
export AZROUTE_PLUGIN_DIR
[ -x "$AZROUTE" ] || { echo "soak: $AZROUTE not found (set AZROUTE_BUILDDIR)"; exit 2; }

DURATION=${DURATION:-300}
RESTART_EVERY=${RESTART_EVERY:-30}
DOWN=${DOWN:-2}
RESTART_SIGNAL=${RESTART_SIGNAL:-TERM}
SAMPLE_EVERY=${SAMPLE_EVERY:-2}

. "$AZR_TEST_SRCDIR/tests/redis_harness.sh"
rh_init
rh_make_certs
D=$RH_DIR

bench_pid=
soak_cleanup() {
    if [ -n "$bench_pid" ]; then
        kill "$bench_pid" 2>/dev/null
        wait "$bench_pid" 2>/dev/null
    fi
    for i in 1 2 3; do
        eval "p=\${node_pid_$i:-}"
        [ -n "$p" ] && kill "$p" 2>/dev/null
    done
    for i in 1 2 3; do
        eval "p=\${node_pid_$i:-}"
        j=0
        while [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ $j -lt 50 ]; do
            sleep 0.1
            j=$((j + 1))
        done
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done
    if [ -n "${SOAK_KEEP:-}" ]; then
        mkdir -p "$SOAK_KEEP" &&
            cp "$D"/samples.tsv "$D"/bench.json "$D"/bench.err "$D"/soak.ini \
                "$D"/restarts.log "$SOAK_KEEP"/ 2>/dev/null
    fi
    RH_PIDS=""
    rh_cleanup
}
trap soak_cleanup EXIT
trap 'exit 130' INT TERM HUP

# The nodes are started here rather than with rh_start so that a restart
# reuses the node's port (the configuration names it) and so that the
# PIDs to stop are always the live ones.
start_node() { # INDEX PORT
    log=$D/node$1.log
    : >"$log"
    mkdir -p "$D/node$1"
    "$RH_REDIS" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$D/node$1" --logfile "$log" --port 0 --tls-port "$2" \
        --tls-cert-file "$D/server.crt" --tls-key-file "$D/server.key" \
        --tls-ca-cert-file "$D/client-ca.crt" --tls-auth-clients no \
        </dev/null >/dev/null 2>&1 &
    eval "node_pid_$1=$!"
    j=0
    while [ $j -lt 200 ]; do # 10 s at most
        grep -q "Ready to accept connections" "$log" 2>/dev/null && return 0
        sleep 0.05
        j=$((j + 1))
    done
    echo "soak: node$1 did not start on port $2:"
    tail -5 "$log"
    return 1
}

stop_node() { # INDEX
    eval "p=\$node_pid_$1"
    kill -"$RESTART_SIGNAL" "$p" 2>/dev/null
    j=0
    while kill -0 "$p" 2>/dev/null && [ $j -lt 100 ]; do
        sleep 0.05
        j=$((j + 1))
    done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    eval "node_pid_$1="
}

for i in 1 2 3; do
    port=$(rh_free_port) || exit 99
    eval "node_port_$i=$port"
    start_node $i "$port" || exit 99
done

cat >"$D/soak.ini" <<EOF
[azroute]
policy = failover, same_az, weighted_latency
transport = resp_tls

[metadata]
source = static
az_id = soak-az1

[node n1]
host = 127.0.0.1
port = $node_port_1
az = soak-az1
role = primary

[node n2]
host = 127.0.0.1
port = $node_port_2
az = soak-az2
role = replica

[node n3]
host = 127.0.0.1
port = $node_port_3
az = soak-az3
role = replica

[transport resp_tls]
tls = yes
ca_file = $D/ca.crt
EOF

# Calibration: the request rate decides N.
"$AZROUTE" -c "$D/soak.ini" bench -n 20000 >"$D/calib.txt" 2>"$D/calib.err" ||
    { echo "soak: calibration failed: $(cat "$D/calib.err")"; exit 1; }
rate=$(sed -n 's/.* \([0-9][0-9]*\) req\/s$/\1/p' "$D/calib.txt")
[ -n "$rate" ] && [ "$rate" -gt 0 ] || { echo "soak: no rate in $(cat "$D/calib.txt")"; exit 1; }
N=$((rate * DURATION))
echo "soak: calibration $rate req/s; bench -n $N (about $DURATION s)," \
    "a node restarted every $RESTART_EVERY s (down $DOWN s, SIG$RESTART_SIGNAL)"

# rss_sample PID: "VmRSS_kB RSS_without_the_latency_buffer_kB fds sockets
# latency_buffer_kB"
lat_kb=$(( (N * 8 + 4095) / 4096 * 4 ))
rss_sample() {
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
    # The latency buffer: one anonymous mapping of N * 8 bytes (glibc adds
    # a header page at most).
    buf=$(awk -v want="$lat_kb" '
        /^[0-9a-f]+-[0-9a-f]+ / { anon = (NF < 6) }
        /^Size:/ { size = $2 }
        /^Rss:/ { if (anon && size >= want && size <= want + 8) r += $2 }
        END { print r + 0 }' "/proc/$1/smaps" 2>/dev/null)
    fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
    socks=$(ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'socket:')
    echo "${rss:-0} $(( ${rss:-0} - ${buf:-0} )) $fds $socks ${buf:-0}"
}

t_start=$(date +%s)
"$AZROUTE" -c "$D/soak.ini" bench -n "$N" --json >"$D/bench.json" 2>"$D/bench.err" &
bench_pid=$!
# wait for the libtool wrapper (if any) to exec the program itself
j=0
while [ $j -lt 100 ]; do
    comm=$(cat "/proc/$bench_pid/comm" 2>/dev/null)
    case $comm in *azroute*) break ;; esac
    sleep 0.02
    j=$((j + 1))
done

printf 't_s\tvmrss_kb\trss_without_latency_buffer_kb\tfds\tsockets\tlatency_buffer_kb\trestarts\n' >"$D/samples.tsv"
: >"$D/restarts.log"
restarts=0
next_restart=$RESTART_EVERY
next_sample=0
victim=1
first=
max_fds=0
while kill -0 "$bench_pid" 2>/dev/null; do
    now=$(( $(date +%s) - t_start ))
    if [ "$now" -ge "$next_sample" ]; then
        s=$(rss_sample "$bench_pid")
        set -- $s
        if [ "$3" -gt 0 ]; then
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$now" "$1" "$2" "$3" "$4" "$5" "$restarts" >>"$D/samples.tsv"
            [ "$3" -gt "$max_fds" ] && max_fds=$3
            # Start and end: samples taken in the request loop, i.e. while
            # the latency buffer exists (it is allocated just before the
            # loop; after it, bench sorts and frees it), and from 2 s in.
            if [ "$5" -gt 0 ] && [ "$now" -ge 2 ]; then
                [ -z "$first" ] && first=$s
                last=$s
            fi
        fi
        next_sample=$((now + SAMPLE_EVERY))
    fi
    if [ "$now" -ge "$next_restart" ]; then
        eval "vport=\$node_port_$victim"
        t0=$(date +%s%N)
        stop_node $victim
        sleep "$DOWN"
        start_node $victim "$vport" || exit 1
        t1=$(date +%s%N)
        restarts=$((restarts + 1))
        echo "$now s: restarted n$victim (down $(( (t1 - t0) / 1000000 )) ms)" >>"$D/restarts.log"
        victim=$((victim % 3 + 1))
        next_restart=$((next_restart + RESTART_EVERY))
    fi
    sleep 0.5
done
wait "$bench_pid"
bench_rc=$?
bench_pid=
elapsed=$(( $(date +%s) - t_start ))

set -- ${first:-0 0 0 0 0}
rss0=$1 core0=$2 fd0=$3 sock0=$4
set -- ${last:-0 0 0 0 0}
rss1=$1 core1=$2 fd1=$3 sock1=$4 buf1=$5
requests=$(sed -n 's/^{"az_id":[^,]*,"requests":\([0-9]*\),.*/\1/p' "$D/bench.json")
errors=$(sed -n 's/^{"az_id":[^,]*,"requests":[0-9]*,"errors":\([0-9]*\),.*/\1/p' "$D/bench.json")

echo "soak: bench exit $bench_rc after $elapsed s; $restarts restarts"
cat "$D/restarts.log"
echo "bench: $(cat "$D/bench.json")"
[ -s "$D/bench.err" ] && echo "bench stderr: $(cat "$D/bench.err")"
echo "requests: ${requests:-?}, caller-visible errors: ${errors:-?}"
echo "VmRSS: start $rss0 kB, end $rss1 kB (growth $((rss1 - rss0)) kB;" \
    "the latency buffer: $buf1 kB resident at the end, $lat_kb kB when full)"
echo "RSS without the latency buffer: start $core0 kB, end $core1 kB" \
    "(growth $((core1 - core0)) kB; target: within 1024 kB)"
echo "descriptors: start $fd0 ($sock0 sockets), max $max_fds, end $fd1" \
    "($sock1 sockets; the pool keeps at most one idle connection per node" \
    "for this one-thread bench)"
echo "samples: $(($(wc -l <"$D/samples.tsv") - 1)) (every $SAMPLE_EVERY s)"
status=0
[ "${errors:-1}" = 0 ] || { echo "MISSED: caller-visible errors"; status=1; }
[ $((core1 - core0)) -le 1024 ] || { echo "MISSED: RSS not flat"; status=1; }
# descriptors other than sockets flat; sockets at most one per node
[ $((fd1 - sock1)) -le $((fd0 - sock0)) ] && [ "$sock1" -le 3 ] &&
    [ "$max_fds" -le $((fd0 - sock0 + 3)) ] ||
    { echo "MISSED: descriptors grew"; status=1; }
exit $status
