#!/bin/bash
# The whole test suite on a fresh Debian 12 machine, as root:
#   install what the tests need (apt), configure Keystone and Glance on loopback,
#   then unit -> packaging (build, lintian, install the .deb) -> integration
#   (real services, ocf-tester) -> cluster (crm_simulate, live Pacemaker, cibsecret,
#   reload) -> lab (two-node failover drills) -> trixie
#   (the same inside a Debian 13 root) tests.
# Extra arguments go to pytest (e.g. -k, -x); if the first one is a test path, only
# the paths given run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: run as root (it installs packages and starts services)" >&2; exit 2; }
# Debian's python sees Debian's OpenStack clients; a pyenv python3 on PATH does not.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
started=$(date +%s)
bash tests/setup/install-deps.sh
sh tests/setup/openstack-setup.sh
echo "tests/run.sh: setup took $(( $(date +%s) - started ))s; running pytest"
set +e
targets=(tests/unit tests/packaging tests/integration tests/cluster tests/lab tests/trixie)
if [ $# -gt 0 ] && [ -e "${1%%::*}" ]; then targets=(); fi
/usr/bin/python3 -m pytest -p no:cacheprovider -ra --durations=15 "${targets[@]}" "$@"
rc=$?
set -e
echo "tests/run.sh: finished in $(( $(date +%s) - started ))s"
# pytest's 5 means "no tests collected": that is a failure here.
exit $rc
