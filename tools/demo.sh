#!/bin/sh
# demo.sh - the README's main command: builds azroute (installing missing
# Debian packages when run as root) and routes with the sample
# configuration on a fixed local AZ.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
export AWS_EC2_METADATA_DISABLED=true
if [ ! -x tools/azroute ]; then
    [ -x configure ] || ./autogen.sh >/dev/null
    [ -f Makefile ] || ./configure -q
    make -j2 >/dev/null
fi
export AZROUTE_PLUGIN_DIR="$PWD/plugins/.libs"
az=${AZROUTE_AZ_ID:-apne1-az1}
echo "== azroute -c conf/azroute.ini check"
tools/azroute -c conf/azroute.ini check
echo "== AZROUTE_AZ_ID=$az azroute pick --read -n 1000"
AZROUTE_AZ_ID=$az tools/azroute -c conf/azroute.ini pick --read -n 1000
echo "== azroute pick --write"
AZROUTE_AZ_ID=$az tools/azroute -c conf/azroute.ini pick --write
