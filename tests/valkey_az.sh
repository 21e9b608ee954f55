#!/bin/sh
# valkey_az.sh - the servers the availability-zone tests run against: a
# three-node Valkey replication group over TLS, one node per availability
# zone, each reporting its own zone in INFO server; and a Redis 7 group of
# three (no zones) linked the same way. Checks tests/redis_harness.sh's
# rh_use_valkey, rh_group, rh_group_args, rh_cli and rh_port.
#
# Needs $VALKEY_SERVER (make check builds it, tests/valkey.am): skips
# without it, fails under AZR_TEST_NO_SKIP=1.
set -u
. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
rh_make_certs

fail=0
check() { # check WHAT EXPECTED-LINE NAME ARGS...: NAME's reply holds the line
    c_what=$1
    c_want=$2
    shift 2
    c_got=$(rh_cli "$@" | tr -d '\r')
    if printf '%s\n' "$c_got" | grep -qxF "$c_want"; then
        echo "ok: $c_what: $c_want"
    else
        echo "FAIL: $c_what: no line '$c_want' in:"
        printf '%s\n' "$c_got" | head -20
        fail=1
    fi
}

rh_use_valkey
rh_group_args vk1 --availability-zone use1-az1
rh_group_args vk2 --availability-zone use1-az2
rh_group_args vk3 --availability-zone use1-az4
rh_group tls vk 3 || exit 1
check "vk1 zone" availability_zone:use1-az1 vk1 INFO server
check "vk2 zone" availability_zone:use1-az2 vk2 INFO server
check "vk3 zone" availability_zone:use1-az4 vk3 INFO server
check "vk1 is the primary" role:master vk1 INFO replication
check "vk1 has both replicas" connected_slaves:2 vk1 INFO replication
for n in 2 3; do
    check "vk$n replicates vk1" "master_port:$(rh_port vk1)" vk$n INFO replication
    check "vk$n linked" master_link_status:up vk$n INFO replication
done
# Replication carries writes, over TLS.
rh_cli vk1 SET azr-key azr-value >/dev/null
i=0
while [ "$(rh_cli vk3 GET azr-key)" != azr-value ] && [ $i -lt 50 ]; do
    sleep 0.1 # 5 s at most
    i=$((i + 1))
done
check "write reaches vk3" azr-value vk3 GET azr-key

rh_use_redis
rh_group tls rd 3 || exit 1
if ! rh_cli rd1 INFO server | grep -q '^redis_version:7\.'; then
    echo "FAIL: rd1 is not redis-server 7"
    fail=1
fi
check "rd1 has both replicas" connected_slaves:2 rd1 INFO replication
for n in 2 3; do
    check "rd$n linked" master_link_status:up rd$n INFO replication
done
if rh_cli rd1 INFO server | grep -q '^availability_zone:'; then
    echo "FAIL: redis-server reports an availability zone"
    fail=1
fi
exit $fail
