#!/bin/bash
# PID 1 of one emulated cluster node. Adapted from the project's cluster recipe.
# pcmk-cluster.sh starts it as
#   ip netns exec <netns> unshare --mount --uts --ipc --pid --fork --propagation private \
#       bash node-init.sh <node-dir> <node-name>
# so it already runs in its own net, mount, UTS, IPC and PID namespaces.
#
# Signals (sent from the host to the host-visible PID in <node-dir>/init.pid):
#   SIGTERM -> graceful: stop pacemakerd (which stops every resource), list the processes
#              still alive in <node-dir>/after-pacemaker.ps, stop corosync, exit
#   SIGKILL -> power cut: the kernel kills every process of the PID namespace at once
set -u
D=$1
NAME=$2

# Host-visible PID of this init (NSpid: <host pid> <pid in this ns>). Read it before /proc
# is remounted, and with a shell builtin: an external tool's /proc/self would be the tool.
while read -r k v _; do [ "$k" = "NSpid:" ] && echo "$v"; done < /proc/self/status > "$D/init.pid"

log() { echo "$(date '+%F %T.%N') [$NAME init] $*" >> "$D/init.log"; }
log "booting (host pid $(cat "$D/init.pid"))"

mount --make-rprivate /
mount -t proc proc /proc                                   # this node's processes only
# Pacemaker's panic path (a node told it was fenced) writes "b" to /proc/sysrq-trigger:
# inside a lab node that would reboot the whole machine. Read-only here, the write fails.
# (Some kernels, and sandboxes, have no sysrq-trigger at all: nothing to protect then.)
# A node that cannot protect it does not boot: the lab fences nodes, and a fenced node that
# panicked would take the host down with it.
if [ -e /proc/sysrq-trigger ]; then
    mount --bind /proc/sysrq-trigger /proc/sysrq-trigger && mount -o remount,bind,ro /proc/sysrq-trigger \
        || { log "could not make /proc/sysrq-trigger read-only: not booting"; exit 1; }
fi
# A private /run, as a freshly booted node has it: pacemaker's runtime, the agents'
# pidfiles (HA_RSCTMP=/run/resource-agents), IPaddr2's state. Nothing the OpenStack
# packages create at install time (/run/keystone, /run/lock/glance) exists here.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lock /run/pacemaker /run/crm /run/resource-agents
chmod 1777 /run/lock                                       # as systemd-tmpfiles makes it at boot
chmod 1755 /run/resource-agents
chown hacluster:haclient /run/pacemaker /run/crm
mount -t tmpfs -o mode=1777 tmpfs /dev/shm                 # private libqb ring buffers
mount --bind "$D/etc-corosync"        /etc/corosync
mount --bind "$D/var-lib-corosync"    /var/lib/corosync
mount --bind "$D/var-lib-pacemaker"   /var/lib/pacemaker   # the CIB (hacluster:haclient, 0750)
mount --bind "$D/var-log-pacemaker"   /var/log/pacemaker
mount --bind "$D/var-log-corosync"    /var/log/corosync
mount --bind "$D/hosts"               /etc/hosts
# directories private to this node (NODE_PRIVATE of pcmk-cluster.sh), e.g. service logs
if [ -r "$D/binds" ]; then
    while read -r src dst; do
        [ -n "$src" ] && mount --bind "$src" "$dst" && log "private $dst"
    done < "$D/binds"
fi
hostname "$NAME"                                           # uname -n == corosync node name
ip link set lo up

shutdown_node() {
    log "SIGTERM: graceful shutdown"
    local p
    p=$(pidof pacemakerd)
    if [ -n "$p" ]; then
        kill -TERM $p
        for _ in $(seq 1 1200); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
    fi
    log "pacemakerd gone"
    # What is left after Pacemaker stopped every resource. The tests assert that no
    # keystone or glance process is in this list.
    ps -eo pid,user,args > "$D/after-pacemaker.ps" 2>&1
    corosync-cfgtool -H --force >/dev/null 2>&1
    p=$(pidof corosync)
    for _ in $(seq 1 100); do [ -z "$p" ] && break; kill -0 $p 2>/dev/null || break; sleep 0.1; done
    log "corosync gone, exiting"
    exit 0
}
trap shutdown_node TERM INT

log "starting corosync"
corosync -f > /var/log/corosync/corosync.stdout 2>&1 &
for _ in $(seq 1 100); do corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.1; done
log "corosync up; starting pacemakerd"

# /etc/default/pacemaker is what the systemd unit would have sourced
set -a
[ -r /etc/default/pacemaker ] && . /etc/default/pacemaker
PCMK_logfile=/var/log/pacemaker/pacemaker.log
set +a
/usr/sbin/pacemakerd > /var/log/pacemaker/pacemakerd.stdout 2>&1 &
log "pacemakerd started"

# Stay alive as init: bash reaps every orphan re-parented to us (the agents' daemons).
while true; do
    sleep 1 &
    wait $!
done
