#!/bin/bash
# The Debian 13 (trixie) leg, from a Debian host, as root:
#
#   tests/trixie/run-leg.sh [OUTDIR]        (default $RAO_TRIXIE_OUT or /var/tmp/raotrx-out)
#
# 1. tests/trixie/bootstrap.sh: reuse the cached trixie root, or build it (debootstrap).
# 2. Copy the checkout (git ls-files -co --exclude-standard: tracked and untracked,
#    not ignored) into a tarball.
# 3. Start leg-init.sh as PID 1 of new mount, network, PID, UTS and IPC namespaces
#    (unshare --kill-child). It chroots into a throw-away overlay of the cached root and
#    runs leg-inner.sh there: build the .deb with trixie's debhelper, lintian -I
#    --pedantic, install it, pytest tests/packaging and the offline crm_simulate tests,
#    tests/setup/openstack-setup.sh, pytest tests/integration
#    (ocf-tester included), then cluster_check.py (both installed crm snippets in a
#    one-node Pacemaker 3.0 cluster with crmsh 5).
# 4. Tear down on every exit path (trap): the namespaces' processes die with their PID 1
#    (and with unshare, --kill-child), the mounts and the network namespace with the
#    last process; the overlay's upper directory is deleted. The cached root is never
#    written to. Prints what is left (nothing) and exits non-zero if any step failed.
# Results for tests/trixie/test_trixie_leg.py land in OUTDIR (emptied first); see
# leg-inner.sh for the list.
# Env: RAO_TRIXIE_CACHE, RAO_TRIXIE_MIRROR (see bootstrap.sh); RAO_TRIXIE_AGENTS=installed
# (default: the integration tests run the packaged agents) or source;
# RAO_TRIXIE_PYTEST_ARGS (extra inner pytest arguments, e.g. "-k ocf_tester");
# RAO_TRIXIE_MORE_SUITES (default "tests/packaging tests/cluster/test_offline_sim.py";
# empty: skip that step); RAO_TRIXIE_STEPS (a subset of "build lintian install suites
# openstack-setup pytest cluster");
# RAO_TRIXIE_KEEP_WORK=1 keeps the overlay's upper directory for inspection.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${RAO_TRIXIE_CACHE:-/var/cache/resource-agents-openstack/trixie}
OUT=${1:-${RAO_TRIXIE_OUT:-/var/tmp/raotrx-out}}

say() { echo "[$(date +%T)] run-leg: $*"; }
die() { echo "[$(date +%T)] run-leg: ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (namespaces, chroot, debootstrap)"
for tool in unshare flock tar ip chroot; do command -v "$tool" >/dev/null || die "$tool not found"; done
t0=$(date +%s)

W="" LEGPID=""
cleanup() {
    local rc=$? p n left_mounts left_procs=0
    trap - EXIT INT TERM HUP
    if [ -n "$LEGPID" ] && kill -0 "$LEGPID" 2>/dev/null; then
        # unshare --fork ignores SIGTERM while it waits; SIGKILL it, and --kill-child
        # SIGKILLs its child, PID 1 of the leg's namespaces, so the kernel kills every
        # process of the leg. Nothing in the overlay needs a graceful stop.
        say "stopping the leg (unshare pid $LEGPID; --kill-child takes its namespaces down)"
        kill -KILL "$LEGPID" 2>/dev/null || true
        wait "$LEGPID" 2>/dev/null || true
    fi
    if [ -n "$W" ]; then
        # Anything still rooted in our overlay is ours (only this leg chroots there).
        for n in 1 2 3; do
            left_procs=0
            for p in /proc/[0-9]*; do
                [ "$(readlink "$p/root" 2>/dev/null)" = "$W/root" ] || continue
                left_procs=$((left_procs + 1))
                kill -KILL "${p#/proc/}" 2>/dev/null || true
            done
            [ $left_procs = 0 ] && break
            sleep 0.5
        done
        left_mounts=$(grep -c " $W/" /proc/mounts || true)
        if [ "${RAO_TRIXIE_KEEP_WORK:-0}" = 1 ]; then
            say "keeping $W (RAO_TRIXIE_KEEP_WORK=1)"
        elif [ "$left_mounts" = 0 ]; then
            rm -rf "$W"
        fi
        say "teardown: processes left $left_procs, mounts left $left_mounts, work dir $( [ -e "$W" ] && echo kept || echo removed ) (rc $rc)"
        [ "$left_mounts" = 0 ] || rc=1
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# One leg at a time per cache; a concurrent bootstrap waits for us (shared lock).
mkdir -p "$(dirname "$CACHE")"
exec 8>"$CACHE.lock"
if ! flock -n 8; then say "waiting for $CACHE.lock"; flock 8; fi
# progress on stderr, the root's path on stdout; a failure stops here (set -e)
ROOTFS=$(RAO_TRIXIE_LOCKED=1 RAO_TRIXIE_CACHE=$CACHE bash "$HERE/bootstrap.sh")
[ -d "$ROOTFS/usr" ] || die "bootstrap.sh did not give a root ($ROOTFS)"
# Still exclusive: no other leg runs. Remove work dirs of legs that were killed too hard
# to clean up (SIGKILL of run-leg.sh itself), if nothing is rooted in them.
for stale in /var/tmp/raotrx-work.*; do
    [ -d "$stale" ] && [ -n "$(find "$stale" -maxdepth 0 -mmin +2)" ] || continue
    busy=0
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/root" 2>/dev/null)" in "$stale"/*) busy=1; break;; esac
    done
    if [ $busy = 0 ] && ! grep -q " $stale/" /proc/mounts; then say "removing stale $stale"; rm -rf "$stale"; fi
done
flock -s 8            # keep it shared while the overlay uses the root
t1=$(date +%s)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
case $OUT in /|/tmp|/var/tmp|"$REPO"|"$REPO"/*) die "refusing OUTDIR $OUT (it is emptied)";; esac
find "$OUT" -mindepth 1 -delete
# on the disk, not tmpfs: the overlay's upper dir gets the installed packages, the
# services' databases and the build (a few hundred MB)
W=$(mktemp -d /var/tmp/raotrx-work.XXXXXX)
chmod 0755 "$W"

say "copying the checkout $REPO"
"$REPO/tests/setup/source-files.sh" "$REPO" > "$W/files"
[ -s "$W/files" ] || die "no files to copy from $REPO"
tar -C "$REPO" --null --no-recursion -T "$W/files" -cf "$W/src.tar"
say "$(tr -cd '\0' < "$W/files" | wc -c) files; entering the leg's namespaces"

set +e
unshare --mount --net --pid --uts --ipc --fork --kill-child --propagation private -- \
    /bin/bash "$HERE/leg-init.sh" "$ROOTFS" "$W" "$OUT" < /dev/null &
LEGPID=$!
wait "$LEGPID"
rc=$?
set -e
LEGPID=""
t2=$(date +%s)
{
    echo "bootstrap_seconds=$((t1 - t0))"
    echo "leg_seconds=$((t2 - t1))"
    echo "total_seconds=$((t2 - t0))"
    echo "rc=$rc"
    sed 's/^/cache_/' "$CACHE/stamp" 2>/dev/null
} > "$OUT/run-leg.txt"
say "leg rc=$rc; bootstrap $((t1 - t0))s, leg $((t2 - t1))s, total $((t2 - t0))s; results in $OUT"
exit $rc
