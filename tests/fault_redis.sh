#!/bin/sh
# fault_redis.sh - runs the real-server cases of tests/check_fault: a node
# SIGKILLed in the middle of a 100,000-command pipeline, a node SIGSTOPped
# (timeouts, then ejection by the failover policy), and a TLS server that
# breaks off a reply. Three redis-servers with TLS on 127.0.0.1 (see
# tests/redis_harness.sh), stopped by PID on exit; the stopped one is
# continued first, whatever happened.
set -u
AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_DISABLED
. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
rh_make_certs

rh_start_tls live server || exit 99
AZR_F_LIVE=$RH_PORT
rh_start_tls kill server || exit 99
AZR_F_KILL=$RH_PORT
AZR_F_KILL_PID=$RH_PID_kill
rh_start_tls stop server || exit 99
AZR_F_STOP=$RH_PORT
AZR_F_STOP_PID=$RH_PID_stop
AZR_F_DIR=$RH_DIR
export AZR_F_DIR AZR_F_LIVE AZR_F_KILL AZR_F_KILL_PID AZR_F_STOP \
    AZR_F_STOP_PID

# Whatever the test did, never leave a stopped server behind.
trap 'kill -CONT "$AZR_F_STOP_PID" 2>/dev/null; rh_cleanup' EXIT

# Check forks per test and bounds each (tcase timeout); timeout(1) bounds
# the whole run as well.
timeout 60 "${AZR_TEST_BUILDDIR:-.}/tests/check_fault"
rc=$?
kill -CONT "$AZR_F_STOP_PID" 2>/dev/null
exit $rc
