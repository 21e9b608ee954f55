#!/bin/sh
# install-deps.sh - installs the Debian packages azroute needs to build,
# test and run its demo, if any is missing. As root it runs apt-get;
# otherwise it prints the exact command and exits 1.
#   tools/install-deps.sh [--check]   (--check: only report, never install)
set -eu
# locales: the sources tests/config_locale.sh builds de_DE.UTF-8 from.
packages="build-essential autoconf automake libtool pkg-config
libssl-dev libcurl4-openssl-dev libinih-dev libjson-c-dev check
redis-server redis-tools openssl groff-base mandoc python3 valgrind
locales"
missing=
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "${1:-}" = --check ] || [ "$(id -u)" != 0 ]; then
    echo "azroute: missing Debian packages:$missing" >&2
    echo "azroute: install them with: sudo apt-get update && sudo $cmd" >&2
    exit 1
fi
echo "azroute: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
