#!/bin/sh
# transport_api.sh - runs tests/check_transport (the connection API and the
# resp_tls plugin) against local redis-server instances started here.
set -u
. "${AZR_TEST_SRCDIR:-.}/tests/redis_harness.sh"
rh_init
rh_make_certs

# The password lives in the environment only; it is random per run so that
# the secrecy assertions cannot pass by accident.
AZR_T_PASSWORD="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export AZR_T_PASSWORD
acl_user="--user alice on >$AZR_T_PASSWORD ~* &* +@all"
set -f # acl_user is split into words below, never globbed

# shellcheck disable=SC2086 # acl_user is split into words on purpose
rh_start_tls tls server $acl_user || exit 99
AZR_T_TLS=$RH_PORT
# shellcheck disable=SC2086
rh_start_plain plain --rename-command HELLO '' $acl_user || exit 99
AZR_T_PLAIN=$RH_PORT
rh_start_tls expired expired || exit 99
AZR_T_EXPIRED=$RH_PORT
rh_start_tls otherhost otherhost || exit 99
AZR_T_OTHERHOST=$RH_PORT
rh_start mtls --port 0 --tls-port PORT \
    --tls-cert-file "$RH_DIR/server.crt" --tls-key-file "$RH_DIR/server.key" \
    --tls-ca-cert-file "$RH_DIR/client-ca.crt" --tls-auth-clients yes || exit 99
AZR_T_MTLS=$RH_PORT
AZR_T_DIR=$RH_DIR
export AZR_T_DIR AZR_T_TLS AZR_T_PLAIN AZR_T_EXPIRED AZR_T_OTHERHOST AZR_T_MTLS

# Check forks per test; CK_DEFAULT_TIMEOUT bounds each one as well.
"${AZR_TEST_BUILDDIR:-.}/tests/check_transport"
