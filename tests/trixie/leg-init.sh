#!/bin/bash
# PID 1 of the trixie leg's namespaces (run-leg.sh starts it with
#   unshare --mount --net --pid --uts --ipc --fork --kill-child --propagation private).
#   leg-init.sh ROOTFS WORKDIR OUTDIR
# Still on the host's filesystem: it mounts a throw-away overlay of the cached trixie
# root (ROOTFS stays untouched; writes go to WORKDIR/upper), the kernel filesystems and
# a private /run and /tmp under it, binds OUTDIR to /leg-out, unpacks the checkout
# (WORKDIR/src.tar) into /srv/rao, brings up the leg's network (lo, and eth0 =
# 10.98.0.1/24, one end of a veth pair whose other end stays in this namespace too),
# sets the hostname node1, and runs tests/trixie/leg-inner.sh chrooted in the overlay.
# Every mount lives in this private mount namespace and every process in this PID
# namespace: when this script exits, the kernel kills whatever is left and drops the
# mounts and the network namespace. Nothing needs unmounting.
set -u
ROOTFS=$1 W=$2 OUT=$3
NET=${RAO_TRIXIE_NET:-10.98.0}
R=$W/root
say() { echo "[$(date +%T)] leg-init: $*"; }
die() { say "ERROR: $*"; exit 1; }
[ $$ = 1 ] || die "must be PID 1 of its own PID namespace (run tests/trixie/run-leg.sh)"

mount --make-rprivate / || die "mount --make-rprivate /"
mkdir -p "$W/upper" "$W/ovl" "$R"
mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$W/upper,workdir=$W/ovl" "$R" ||
    die "cannot mount an overlay of $ROOTFS (is the overlay module available?)"
mount -t proc proc "$R/proc"                         # this PID namespace's processes only
mount -t sysfs sysfs "$R/sys"                        # this network namespace's devices
mount --rbind /dev "$R/dev"; mount --make-rprivate "$R/dev"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"       # libqb ring buffers
mount -t tmpfs -o mode=0755 tmpfs "$R/run"           # a freshly booted /run
mkdir -p "$R/run/lock"; chmod 1777 "$R/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mkdir -p "$R/leg-out"; mount --bind "$OUT" "$R/leg-out"
mkdir -p "$R/srv/rao"; chmod 0755 "$R/srv" "$R/srv/rao"
tar -C "$R/srv/rao" -xpf "$W/src.tar" || die "cannot unpack the checkout"

hostname node1
ip link set lo up
ip link add eth0 type veth peer name eth0peer || die "veth"
ip link set eth0peer up
ip addr add "$NET.1/24" dev eth0
ip link set eth0 up
printf '127.0.0.1 localhost\n127.0.1.1 node1\n%s.1 node1\n' "$NET" > "$R/etc/hosts"
: > "$R/etc/resolv.conf"                              # no name service: the leg is offline

say "namespaces ready (overlay of $ROOTFS, eth0 $NET.1/24, hostname node1); entering the chroot"
chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 HOME=/root TERM=dumb RAO_TRIXIE_NET="$NET" \
    RAO_TRIXIE_PYTEST_ARGS="${RAO_TRIXIE_PYTEST_ARGS:-}" RAO_TRIXIE_AGENTS="${RAO_TRIXIE_AGENTS:-installed}" \
    RAO_TRIXIE_STEPS="${RAO_TRIXIE_STEPS:-}" RAO_TRIXIE_MORE_SUITES="${RAO_TRIXIE_MORE_SUITES-default}" \
    /bin/bash /srv/rao/tests/trixie/leg-inner.sh < /dev/null &
child=$!
trap 'kill -TERM $child 2>/dev/null' TERM INT HUP
# As PID 1, reap every orphan (daemons the agents started and Pacemaker's children)
# while the leg runs.
while kill -0 "$child" 2>/dev/null; do
    sleep 0.5 &
    wait $! 2>/dev/null
done
wait "$child"
rc=$?
say "leg finished rc=$rc; the kernel now removes this namespace's processes and mounts"
exit $rc
