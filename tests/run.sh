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
targets=(tests/unit tests/packaging tests/integration tests/cluster tests/lab tests/trixie)
if [ $# -gt 0 ] && [ -e "${1%%::*}" ]; then targets=(); fi
# The Debian 13 root (about 4 minutes of downloads and dpkg on a fresh machine) is built
# in the background while the other tests run, at the lowest CPU and I/O priority; the
# trixie leg waits for it on the root's lock. Nothing to do when the cache is valid.
if [ "${RAO_TRIXIE:-1}" != 0 ] && { [ ${#targets[@]} -gt 0 ] || [[ " $* " == *" tests/trixie"* ]]; } &&
   ! bash tests/trixie/bootstrap.sh --check >/dev/null 2>&1; then
    trixie_log=/tmp/rao-trixie-bootstrap.log
    echo "tests/run.sh: building the Debian 13 root in the background (nice 19, low I/O priority; log $trixie_log)"
    setsid nice -n 19 ionice -c 2 -n 7 bash tests/trixie/bootstrap.sh >"$trixie_log" 2>&1 &
    trixie_pid=$!
    # a build pytest did not wait for (the trixie tests deselected) goes with us; the
    # next build starts over (bootstrap.sh renames the root into place only when complete)
    trap 'kill -- -"$trixie_pid" 2>/dev/null || true' EXIT
fi
echo "tests/run.sh: setup took $(( $(date +%s) - started ))s; running pytest"
results=$(mktemp /tmp/rao-suite-XXXXXX.xml)
set +e
/usr/bin/python3 -m pytest -p no:cacheprovider -ra --durations=40 --junitxml="$results" "${targets[@]}" "$@"
rc=$?
set -e
echo "tests/run.sh: finished in $(( $(date +%s) - started ))s"
# where the time went (per directory and module), then pytest's counts again, so that the
# run still ends with the "N passed, N failed" line
/usr/bin/python3 tests/setup/durations.py "$results" || true
rm -f "$results"
# pytest's 5 means "no tests collected": that is a failure here.
exit $rc
