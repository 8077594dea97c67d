#!/bin/bash
# The trixie leg itself, run INSIDE the chroot by leg-init.sh (own mount, network, PID,
# UTS and IPC namespaces; a throw-away overlay of the cached trixie root). The checkout is
# in /srv/rao, results go to /leg-out (a directory of the host):
#   steps.tsv            one line per step: name, rc (or "skipped"), seconds
#   <step>.log           each step's output
#   versions.txt         the trixie packages under test
#   deb/                 the .deb, .changes, .dsc, tarball and build.log built here
#   lintian.txt          `lintian -I --pedantic` of the .changes; lintian-unexpected.txt:
#                        its tags less the allowed ones (LINTIAN_ALLOWED below)
#   suites.log, suites.xml, suites-summary.txt   tests/packaging and the offline
#                        crm_simulate tests (RAO_TRIXIE_MORE_SUITES), against the .deb
#   pytest.log, integration.xml, pytest-summary.txt   tests/integration
#   cluster.json         what cluster_check.py found (snippets loaded, resources Started)
# Exit status: 0 only if every step passed.
set -u
cd /srv/rao
OUT=/leg-out
NET=${RAO_TRIXIE_NET:-10.98.0}
AGENT_MODE=${RAO_TRIXIE_AGENTS:-installed}
ONLY=${RAO_TRIXIE_STEPS:-}          # e.g. "build lintian" for a partial run while debugging
failed=0
export OUT NET AGENT_MODE
: > "$OUT/steps.tsv"
leg_t0=$(date +%s.%N)

say() { echo "[$(date +%T)] trixie-leg: $*"; }
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# step NAME TIMEOUT_S CMD...: run with a time limit, output to $OUT/NAME.log
step() {
    local name=$1 limit=$2 t0 rc
    shift 2
    if ! wanted "$name"; then printf '%s\tskipped\t0\n' "$name" >> "$OUT/steps.tsv"; return 0; fi
    say "$name ..."
    t0=$(date +%s.%N)
    # the step functions run in a child bash (timeout cannot run a function itself)
    timeout --kill-after=10 "$limit" /bin/bash -c '"$@"' "$name" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    [ $rc = 124 ] && echo "trixie-leg: $name timed out after ${limit}s" >> "$OUT/$name.log"
    printf '%s\t%s\t%s\n' "$name" "$rc" "$(secs "$t0")" >> "$OUT/steps.tsv"
    if [ $rc = 0 ]; then
        say "$name ok ($(secs "$t0")s)"
    else
        failed=1
        say "$name FAILED rc=$rc ($(secs "$t0")s); last lines of $name.log:"
        tail -n 25 "$OUT/$name.log" | sed 's/^/    /'
    fi
    return $rc
}
skip() { printf '%s\tskipped\t0\n' "$1" >> "$OUT/steps.tsv"; say "$1 skipped ($2)"; }

{
    cat /root/trixie-versions.txt 2>/dev/null
    echo "python $(/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])')"
    echo "crm --version: $(crm --version 2>&1 | head -1)"
    echo "pacemakerd --version: $(pacemakerd --version 2>&1 | head -1)"
    echo "uwsgi binaries: $(ls /usr/bin/uwsgi_python3* 2>/dev/null | tr '\n' ' ')"
    echo "debian_version: $(cat /etc/debian_version)"
} > "$OUT/versions.txt"
say "trixie $(cat /etc/debian_version), $(grep -E '^(pacemaker|crmsh|keystone|glance-api|lintian) ' "$OUT/versions.txt" | tr '\n' ' ')"

# crmsh 5 needs a systemctl that knows whether pacemaker runs (see systemctl-shim)
install -m 0755 tests/trixie/systemctl-shim /usr/local/sbin/systemctl

# 1. build with trixie's debhelper/dh-python/pybuild (the unit tests run under Python 3.13)
build() {
    bash tests/setup/build-deb.sh "$OUT/deb" || return 1
    cp "$OUT/deb/build.log" "$OUT/build-full.log" 2>/dev/null
    return 0
}
export -f say secs build
deb=""
if step build 900 build; then
    deb=$(ls "$OUT"/deb/resource-agents-openstack_*_all.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || { say "no .deb after the build"; failed=1; }
fi
export deb

# 2. lintian from trixie, on the .changes (source + binary), as tests/packaging does on
# bookworm. Allowed: tags that no single source can avoid on both releases (NOTES.md):
#   out-of-date-standards-version: 4.6.2 is the newest Standards-Version bookworm's lintian
#   knows (4.7.x there is the warning newer-standards-version, and an override is an
#   unused-override there); trixie's lintian wants 4.7.2.
LINTIAN_ALLOWED="out-of-date-standards-version"
export LINTIAN_ALLOWED
lint() {
    local changes tag; changes=$(ls "$OUT"/deb/resource-agents-openstack_*.changes | head -1)
    lintian --version
    # stderr: "running with root privileges is not recommended!"
    lintian -I --pedantic "$changes" > "$OUT/lintian.txt" 2> "$OUT/lintian.stderr"
    local rc=$?
    echo "lintian rc=$rc"; cat "$OUT/lintian.txt"
    : > "$OUT/lintian-unexpected.txt"
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        # "I: pkg source: tag details" or "W: pkg: tag details"
        tag=$(echo "$line" | sed -E 's/^[A-Z]: [^ :]+( [a-z]+)?: ([^ ]+).*/\2/')
        case " $LINTIAN_ALLOWED " in *" $tag "*) echo "allowed on trixie: $tag" ;;
            *) echo "$line" >> "$OUT/lintian-unexpected.txt" ;; esac
    done < "$OUT/lintian.txt"
    [ $rc = 0 ] && [ ! -s "$OUT/lintian-unexpected.txt" ]
}
export -f lint
if [ -n "$deb" ]; then step lintian 600 lint; else skip lintian "no .deb"; fi

# 3. install it with apt, offline: every dependency is already in the root
inst() {
    # (not --no-download: apt 3.0 then fails on a local .deb with "Pathname to install is
    # not absolute"; there is no network in the leg anyway, and nothing needs downloading)
    apt-get -y -q -o Dpkg::Options::=--force-confold install "$deb" &&
        dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' resource-agents-openstack &&
        ls -l /usr/lib/ocf/resource.d/openstack/ /usr/share/resource-agents-openstack/crm/
}
export -f inst
installed=0
if [ -n "$deb" ]; then step install 300 inst && installed=1; else skip install "no .deb"; fi

# 4. the project's other suites that run without services, against the installed package:
# tests/packaging (with RAO_DEB: no second build) and the offline crm_simulate checks
MORE_SUITES=${RAO_TRIXIE_MORE_SUITES-default}
[ "$MORE_SUITES" = default ] && MORE_SUITES="tests/packaging tests/cluster/test_offline_sim.py"
export MORE_SUITES
suites_run() {
    # shellcheck disable=SC2086
    # no autopkgtest here: its null runner ends with apt-get update, and the leg's network
    # namespace reaches no mirror (it runs on Debian 12 in every CI run)
    RAO_DEB=$deb /usr/bin/python3 -m pytest -p no:cacheprovider -ra -v \
        --ignore=tests/packaging/test_autopkgtest.py --junitxml="$OUT/suites.xml" $MORE_SUITES
}
export -f suites_run
if [ -z "$MORE_SUITES" ]; then
    skip suites "RAO_TRIXIE_MORE_SUITES is empty"
elif [ $installed = 0 ]; then
    skip suites "the package is not installed"
else
    step suites 900 suites_run
fi
[ -f "$OUT/suites.log" ] && grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$OUT/suites.log" |
    tail -1 > "$OUT/suites-summary.txt"
[ -s "$OUT/suites-summary.txt" ] && say "inner pytest ($MORE_SUITES): $(cat "$OUT/suites-summary.txt")"

# 5. trixie's Keystone and Glance, configured by the project's own setup script
step openstack-setup 300 sh tests/setup/openstack-setup.sh

# 6. the project's integration tests (ocf-tester included) against them
pytest_run() {
    local agent_dir=/srv/rao/agents
    [ "$AGENT_MODE" = installed ] && agent_dir=/usr/lib/ocf/resource.d/openstack
    echo "agents under test: $agent_dir"
    # shellcheck disable=SC2086
    RAO_AGENT_DIR=$agent_dir /usr/bin/python3 -m pytest -p no:cacheprovider -ra -v --durations=10 \
        --junitxml="$OUT/integration.xml" tests/integration ${RAO_TRIXIE_PYTEST_ARGS:-}
}
export -f pytest_run
if [ "$AGENT_MODE" = installed ] && [ $installed = 0 ]; then
    skip pytest "the package is not installed"
else
    step pytest 1800 pytest_run
fi
[ -f "$OUT/pytest.log" ] && grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$OUT/pytest.log" |
    tail -1 > "$OUT/pytest-summary.txt"
[ -s "$OUT/pytest-summary.txt" ] && say "inner pytest: $(cat "$OUT/pytest-summary.txt")"

# 7. both crm snippets, as installed, into a one-node Pacemaker 3.0 cluster (crmsh 5)
if [ $installed = 1 ]; then
    step cluster 900 /usr/bin/python3 tests/trixie/cluster_check.py --out "$OUT/cluster.json" --net "$NET"
else
    skip cluster "the package is not installed"
fi

say "leg done in $(secs "$leg_t0")s: $(awk -F'\t' '{printf "%s=%s(%ss) ", $1, $2, $3}' "$OUT/steps.tsv")"
exit $failed
