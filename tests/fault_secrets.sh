#!/bin/sh
# fault_secrets.sh - secrets never appear in anything the CLI prints.
#
# Many azroute runs, failing and succeeding, every command (az, check,
# plugins, pick, exec, probe, bench, also --json and pipelined) at -v -v
# (and some without -v and with -v): the right AUTH password, a wrong one,
# a password for an ACL user that does not exist, RESP3 HELLO with inline
# AUTH, a server that refuses HELLO by quoting its arguments (password
# included), an unreachable node; the Lambda metadata token accepted,
# rejected (401), with a slow and a failing endpoint. Everything captured
# (stdout and stderr of every run) is searched for the password, the wrong
# passwords and the token. Each scenario also checks that it reached the
# code path it is about (e.g. "AUTH as 'alice' refused"), so that the sweep
# cannot pass by never touching a secret.
#
# Local redis-servers with TLS and ACLs (tests/redis_harness.sh) and
# tests/mdserver on 127.0.0.1; all stopped by PID; every run bounded.
set -u
AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_DISABLED
unset AWS_LAMBDA_METADATA_API AWS_LAMBDA_METADATA_TOKEN \
      ECS_CONTAINER_METADATA_URI_V4 AWS_EC2_METADATA_SERVICE_ENDPOINT \
      AZROUTE_CONFIG AZROUTE_AZ_ID
: "${AZR_TEST_BUILDDIR:=$(pwd)}"
: "${AZROUTE_BIN:=$AZR_TEST_BUILDDIR/tools/azroute}"
: "${AZROUTE_PLUGIN_DIR:=$AZR_TEST_BUILDDIR/plugins/.libs}"
export AZROUTE_PLUGIN_DIR
MDSERVER=$AZR_TEST_BUILDDIR/tests/mdserver
if [ ! -x "$AZROUTE_BIN" ] || [ ! -x "$MDSERVER" ]; then
    echo "SKIP: $AZROUTE_BIN or $MDSERVER not built"
    exit 77
fi

. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
rh_make_certs

rnd() {
    od -An -N8 -tx1 /dev/urandom | tr -d ' \n'
}
# Random per run, so the search cannot pass by accident; long enough that
# no other output contains them by chance.
PASSWORD=pw-$(rnd)
WRONG_PW=wrong-$(rnd)
GHOST_PW=ghost-$(rnd)
TOKEN=tok-$(rnd)
SERVER_TOKEN=srvtok-$(rnd)
AZR_S_PASSWORD=$PASSWORD
AZR_S_WRONG=$WRONG_PW
AZR_S_GHOST=$GHOST_PW
export AZR_S_PASSWORD AZR_S_WRONG AZR_S_GHOST

set -f
acl="--user alice on >$PASSWORD ~* &* +@all"
# shellcheck disable=SC2086 # acl is split into words on purpose
rh_start_tls tls server $acl || exit 99
P_TLS=$RH_PORT
# shellcheck disable=SC2086
rh_start_plain plain --rename-command HELLO '' $acl || exit 99
P_PLAIN=$RH_PORT
set +f
P_DEAD=$(rh_free_port) || exit 99

tmp=$RH_DIR
. "${AZR_TEST_SRCDIR:-.}/tests/md_harness.sh"
MD_DIR=$tmp
MD_LIFETIME=60
trap 'md_stop; rh_cleanup' EXIT

# start_md MODE accept|reject: the Lambda endpoint (tests/md_harness.sh),
# accepting SERVER_TOKEN only when told to reject, else TOKEN.
start_md() {
    md_stop
    sm_token=$TOKEN
    [ "$2" = reject ] && sm_token=$SERVER_TOKEN
    md_start "$sm_token" "$1" --slow-ms 2000
    AWS_LAMBDA_METADATA_API=127.0.0.1:$MD_PORT
    export AWS_LAMBDA_METADATA_API
}

# cfg NAME PORT TLS PROTOCOL USER PASSWORD_ENV [DEAD]: the node at PORT,
# and with DEAD = dead an unreachable one (cross-AZ), tried second. (Without
# it, a failing AUTH is the last error and so the one printed.)
cfg() {
    {
        printf '[azroute]\npolicy = failover, same_az, weighted_latency\n'
        printf 'transport = resp_tls\n\n[metadata]\nsource = lambda\n'
        printf 'timeout_ms = 300\n\n'
        printf '[node s1]\nhost = 127.0.0.1\nport = %s\naz = apne1-az4\n' "$2"
        printf 'role = primary\n\n'
        if [ "${7:-}" = dead ]; then
            printf '[node s2]\nhost = 127.0.0.1\nport = %s\n' "$P_DEAD"
            printf 'az = apne1-az1\nrole = replica\n\n'
        fi
        printf '[transport resp_tls]\ntls = %s\nprotocol = %s\n' "$3" "$4"
        printf 'connect_timeout_ms = 500\ncommand_timeout_ms = 500\n'
        [ "$3" = yes ] && printf 'ca_file = %s/ca.crt\n' "$RH_DIR"
        printf 'username = %s\npassword_env = %s\n' "$5" "$6"
    } >"$tmp/$1.ini"
}
cfg right "$P_TLS" yes 2 alice AZR_S_PASSWORD dead
cfg right3 "$P_TLS" yes 3 alice AZR_S_PASSWORD
cfg wrong "$P_TLS" yes 2 alice AZR_S_WRONG
cfg wrong_dead "$P_TLS" yes 2 alice AZR_S_WRONG dead
cfg wrong3 "$P_TLS" yes 3 alice AZR_S_WRONG
cfg ghost "$P_TLS" yes 2 mallory AZR_S_GHOST
cfg quoted "$P_PLAIN" no 3 alice AZR_S_PASSWORD dead
cfg quoted_wrong "$P_PLAIN" no 3 alice AZR_S_WRONG

: >"$tmp/all.txt"
runs=0
# run CFG NAME ARGS...: one bounded azroute run; stdout+stderr appended to
# all.txt and kept in NAME.txt.
run() {
    rcfg=$1
    rname=$2
    shift 2
    timeout 20 "$AZROUTE_BIN" -c "$tmp/$rcfg.ini" "$@" >"$tmp/$rname.txt" 2>&1
    rrc=$?
    {
        echo "=== $rname: azroute -c $rcfg.ini $* (exit $rrc)"
        cat "$tmp/$rname.txt"
    } >>"$tmp/all.txt"
    runs=$((runs + 1))
}

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
# reached NAME TEXT: the run's output shows it took the path in question.
reached() {
    grep -qF -- "$2" "$tmp/$1.txt" || fail "$1: no '$2' in: $(head -c 600 "$tmp/$1.txt")"
}

# every command of the CLI, at -v -v
sweep() { # CFG TAG
    run "$1" "$2_az" -v -v az
    run "$1" "$2_check" -v -v check
    run "$1" "$2_plugins" -v -v plugins
    run "$1" "$2_pick" -v -v pick --read -n 50
    run "$1" "$2_exec" -v -v exec ACL WHOAMI
    run "$1" "$2_exec_w" -v -v exec --write SET secrets:k v
    run "$1" "$2_probe" -v -v probe -n 3
    run "$1" "$2_probe_json" -v -v probe -n 3 --json
    run "$1" "$2_bench" -v -v bench -n 30
    run "$1" "$2_bench_p" -v -v bench -n 40 -P 10 --json
}

# Metadata accepted.
start_md ok accept
AWS_LAMBDA_METADATA_TOKEN=$TOKEN
export AWS_LAMBDA_METADATA_TOKEN
for c in right right3 wrong wrong_dead wrong3 ghost quoted quoted_wrong; do
    sweep "$c" "$c"
done
for v in "" -v; do
    run right "right_exec$v" $v exec ACL WHOAMI
    run wrong "wrong_exec$v" $v exec PING
    run right "right_az$v" $v az
done
reached right_exec '"alice"'
reached right_az apne1-az4
reached right3_exec '"alice"'
reached quoted_exec '"alice"'
reached quoted_exec 'does not support RESP3; using RESP2'
reached wrong_exec "AUTH as 'alice' refused by 127.0.0.1:$P_TLS: WRONGPASS"
reached wrong3_exec "AUTH as 'alice' refused by 127.0.0.1:$P_TLS: WRONGPASS"
reached ghost_exec "AUTH as 'mallory' refused by 127.0.0.1:$P_TLS: WRONGPASS"
reached quoted_wrong_exec "AUTH as 'alice' refused by 127.0.0.1:$P_PLAIN"
reached wrong_bench 'requests failed; first: '
reached wrong_dead_probe "AUTH as 'alice' refused by 127.0.0.1:$P_TLS: WRONGPASS"
reached wrong_dead_exec "connect to 127.0.0.1:$P_DEAD failed"
reached right_probe "connect to 127.0.0.1:$P_DEAD failed"

# Metadata token rejected (401), endpoint slow, endpoint failing.
start_md ok reject
for c in right wrong; do
    sweep "$c" "reject_$c"
done
run right reject_az_plain az
run right reject_az_v -v az
reached reject_right_az 'metadata token rejected (HTTP 401)'
reached reject_right_pick 'metadata token rejected (HTTP 401)'
reached reject_right_exec '"alice"'
reached reject_az_plain 'metadata token rejected (HTTP 401)'
for mode in slow 500; do
    start_md "$mode" accept
    run wrong "md${mode}_exec" -v -v exec PING
    run right "md${mode}_az" -v -v az
    run right "md${mode}_bench" -v -v bench -n 10
done
reached mdslow_az 'timed out after 300 ms'
reached md500_az 'HTTP 500'
md_stop

# The search: every byte printed by every run.
for secret in "$PASSWORD" "$WRONG_PW" "$GHOST_PW" "$TOKEN" "$SERVER_TOKEN"; do
    if grep -qF -- "$secret" "$tmp/all.txt"; then
        fail "a secret was printed:"
        grep -nF -- "$secret" "$tmp/all.txt" | head -5
    fi
done
# The Authorization header, in any form.
if grep -qi 'bearer' "$tmp/all.txt"; then
    fail "an Authorization header was printed: $(grep -i bearer "$tmp/all.txt" | head -3)"
fi
bytes=$(wc -c <"$tmp/all.txt")
echo "searched $bytes bytes of output from $runs runs"
[ "$runs" -ge 100 ] || fail "only $runs runs"

if [ $failures -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "PASS"
exit 0
