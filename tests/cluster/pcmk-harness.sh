#!/bin/bash
# A real one-node Pacemaker + Corosync cluster in network namespaces, for the live tests.
# Adapted from the project's cluster recipe. Nothing is installed, no systemd is needed,
# and no traffic leaves the namespaces this script creates:
#   netns $PFX-sw : bridge br0 (the "switch")
#   netns $PFX-n1 : eth0 = $NET.1/24   (node1: corosync ring0, hostname node1)
#   netns $PFX-cl : eth0 = $NET.200/24 (a client, to reach the floating IP)
# The node also has its own mount, UTS, IPC and PID namespaces (see pcmk-node-init.sh): a
# private /run, /dev/shm, /etc/corosync, /var/lib/pacemaker, /var/log/{pacemaker,corosync}
# and /etc/hosts. Everything else (/usr, /etc/keystone, /var/lib/keystone, /var/log/keystone,
# /tmp) is the host's.
#
# Usage (root):
#   pcmk-harness.sh up          bring node1 online (tears down leftovers of $PFX first)
#   pcmk-harness.sh exec CMD..  run CMD on node1 (clean environment, as the cluster runs it)
#   pcmk-harness.sh client CMD..  run CMD in the client namespace
#   pcmk-harness.sh stop        graceful stop of node1 (Pacemaker stops every resource)
#   pcmk-harness.sh teardown [--hard]  graceful (bounded) or SIGKILL stop, delete the
#                               namespaces and the state dir (KEEP_STATE=1 keeps the logs)
#   pcmk-harness.sh session     up, print READY, then wait on stdin; on EOF, on a signal,
#                               or after $SESSION_MAX seconds: teardown. A watchdog: if
#                               the test process dies, its pipe closes and the cluster goes.
#   pcmk-harness.sh info        print KEY=VALUE lines (PFX, BASE, NET, VIP, ...)
# Env: PFX (netns prefix, default raotest), BASE (state dir, default /tmp/raotest-cluster.$PFX,
# not under /run or /dev/shm), NET (default 10.231.0), TOKEN_MS (3000), DC_DEADTIME (2s),
# ONLINE_TIMEOUT (90 s), SESSION_MAX (900 s).
# Only processes verified to be this harness's node init are ever signalled.
set -u

PFX=${PFX:-raotest}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${BASE:-/tmp/raotest-cluster.$PFX}
NET=${NET:-10.231.0}
VIP=${VIP:-$NET.100}
TOKEN_MS=${TOKEN_MS:-3000}
DC_DEADTIME=${DC_DEADTIME:-2s}
ONLINE_TIMEOUT=${ONLINE_TIMEOUT:-90}
SESSION_MAX=${SESSION_MAX:-900}
NODE_INIT=$HERE/pcmk-node-init.sh
CLEAN_PATH=/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "[$(date +%T.%3N) harness] $*"; }
die() { say "ERROR: $*"; exit 1; }

need_tools() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    local b missing=()
    for b in corosync pacemakerd crm crm_mon cibadmin crm_attribute nsenter unshare ip setsid curl; do
        PATH=$CLEAN_PATH command -v "$b" >/dev/null 2>&1 || missing+=("$b")
    done
    [ ${#missing[@]} -eq 0 ] || die "missing tools (not installed by this harness): ${missing[*]}"
    [ -r "$NODE_INIT" ] || die "$NODE_INIT not found"
}

node_dir() { echo "$BASE/node1"; }
# host PID of node1's init, only if that PID really is our pcmk-node-init.sh
pid_is_init_of() {  # pid_is_init_of PID NODEDIR
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF "pcmk-node-init.sh $2 "
}
node_pid() {
    local d p
    d=$(node_dir); p=$(cat "$d/init.pid" 2>/dev/null)
    pid_is_init_of "$p" "$d" && echo "$p"
}

# run a command on node1, inside all its namespaces, with the environment the cluster has
nexec() {
    local p
    p=$(node_pid) || { say "node1 is not running"; return 125; }
    env -i PATH=$CLEAN_PATH LANG=C.UTF-8 HOME=/root \
        nsenter -t "$p" -m -u -i -n -p -- "$@"
}

net_up() {
    ip netns add "$PFX-sw"
    ip -n "$PFX-sw" link set lo up
    ip -n "$PFX-sw" link add br0 type bridge
    ip -n "$PFX-sw" link set br0 up
    ip netns add "$PFX-n1"
    ip -n "$PFX-n1" link set lo up
    ip -n "$PFX-sw" link add p1 type veth peer name eth0 netns "$PFX-n1"
    ip -n "$PFX-sw" link set p1 master br0 up
    ip -n "$PFX-n1" addr add "$NET.1/24" dev eth0
    ip -n "$PFX-n1" link set eth0 up
    ip netns add "$PFX-cl"
    ip -n "$PFX-cl" link set lo up
    ip -n "$PFX-sw" link add pc type veth peer name eth0 netns "$PFX-cl"
    ip -n "$PFX-sw" link set pc master br0 up
    ip -n "$PFX-cl" addr add "$NET.200/24" dev eth0
    ip -n "$PFX-cl" link set eth0 up
}

node_prepare() {
    local d
    d=$(node_dir)
    rm -rf "$d"
    mkdir -p "$d"/{etc-corosync/uidgid.d,var-lib-corosync,var-log-corosync}
    mkdir -p "$d"/var-lib-pacemaker/{cib,pengine,blackbox,cores} "$d"/var-log-pacemaker/bundles
    cat > "$d/etc-corosync/corosync.conf" <<EOF
totem {
    version: 2
    cluster_name: $PFX
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: $TOKEN_MS
}
logging {
    to_stderr: no
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: no
    timestamp: hires
}
quorum {
    provider: corosync_votequorum
}
nodelist {
    node {
        name: node1
        nodeid: 1
        ring0_addr: $NET.1
    }
}
EOF
    # Seed CIB: no fencing device here, and dc-deadtime 2s (the default 20s would be added
    # to every cold start). cib.xml must belong to hacluster:haclient or pacemaker-based exits.
    local cib=$d/var-lib-pacemaker/cib/cib.xml
    cibadmin --empty > "$cib"
    CIB_file=$cib crm_attribute --type crm_config --name stonith-enabled --update false
    CIB_file=$cib crm_attribute --type crm_config --name dc-deadtime --update "$DC_DEADTIME"
    chown -R hacluster:haclient "$d/var-lib-pacemaker" "$d/var-log-pacemaker"
    chmod 0750 "$d"/var-lib-pacemaker "$d"/var-lib-pacemaker/*
    chmod 0600 "$cib"
    chmod 0770 "$d/var-log-pacemaker"
    printf '127.0.0.1 localhost\n127.0.1.1 node1\n%s node1\n' "$NET.1" > "$d/hosts"
}

node_start() {
    local d
    d=$(node_dir)
    rm -f "$d/init.pid"
    # env -i: a clean, systemd-like environment (no pyenv PATH or PYTHON* reaching the
    # agents); setsid: a session of its own, so the node outlives the calling shell.
    env -i PATH=$CLEAN_PATH LANG=C.UTF-8 \
    setsid ip netns exec "$PFX-n1" \
        unshare --mount --uts --ipc --pid --fork --propagation private \
        /bin/bash "$NODE_INIT" "$d" node1 < /dev/null > "$d/init.stdout" 2>&1 9>&- &
    for _ in $(seq 1 100); do [ -s "$d/init.pid" ] && break; sleep 0.05; done
    [ -s "$d/init.pid" ] || { say "node1: init did not start"; return 1; }
}

wait_online() {
    local out start now last=0
    start=$(date +%s)
    while :; do
        out=$(nexec crm_mon -1 2>/dev/null) || true
        if echo "$out" | grep -q "Current DC: node1" && echo "$out" | grep -qE '^\s*\* Online: \[ node1 \]'; then
            return 0
        fi
        now=$(date +%s)
        [ $((now - start)) -ge "$ONLINE_TIMEOUT" ] && return 1
        if [ $((now - last)) -ge 2 ]; then say "waiting for node1 to come online ($((now - start))s)"; last=$now; fi
        sleep 0.2
    done
}

# graceful: SIGTERM the init (pacemakerd stops the resources, then corosync stops)
node_stop() {  # node_stop TIMEOUT_S
    local t=$1 p start
    p=$(node_pid) || return 0
    say "stopping node1 gracefully (init pid $p, at most ${t}s)"
    start=$(date +%s)
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 1 $((t * 10))); do
        kill -0 "$p" 2>/dev/null || { say "node1 stopped in $(( $(date +%s) - start ))s"; return 0; }
        sleep 0.1
    done
    say "node1: graceful stop timed out after ${t}s, killing it"
    kill -KILL "$p" 2>/dev/null
    return 1
}

teardown_all() {  # teardown_all [--hard]
    local p ns
    if [ "${1:-}" != "--hard" ] && [ -n "$(node_pid)" ]; then
        node_stop 60 || true
    fi
    p=$(node_pid) && { say "killing node1 (init pid $p)"; kill -KILL "$p" 2>/dev/null; sleep 0.3; }
    for ns in $(ip netns list | awk '{print $1}' | grep "^$PFX-"); do
        ip netns del "$ns"
    done
    if [ "${KEEP_STATE:-0}" != 1 ]; then
        rm -rf "$BASE"
    fi
    say "teardown done; namespaces left with prefix $PFX-: $(ip netns list | grep -c "^$PFX-")"
}

take_lock() {
    # one harness per prefix at a time (the fd is closed for the node, see node_start)
    exec 9> "/tmp/raotest-cluster.$PFX.lock"
    flock -n 9 || die "another harness with PFX=$PFX is running (lock /tmp/raotest-cluster.$PFX.lock)"
}

cmd_up() {
    need_tools
    take_lock
    teardown_all --hard >/dev/null
    mkdir -p "$BASE"
    chmod 0700 "$BASE"
    local t0
    t0=$(date +%s.%N)
    if [ "${IN_SESSION:-0}" != 1 ]; then
        # tear down again if anything below fails or we are interrupted (the session
        # has traps of its own)
        UP_OK=0
        trap '[ $UP_OK = 1 ] || { say "up failed, tearing down"; KEEP_STATE=1 teardown_all --hard; }' EXIT
        trap 'exit 130' INT TERM HUP
    fi
    say "creating namespaces $PFX-sw, $PFX-n1, $PFX-cl ($NET.0/24)"
    net_up || die "could not create the namespaces"
    node_prepare || die "could not prepare node1"
    say "starting node1 (state in $BASE/node1)"
    node_start || die "node1 did not start"
    wait_online || { nexec crm_mon -1 2>&1 | sed 's/^/    /'; die "node1 not online after ${ONLINE_TIMEOUT}s"; }
    say "node1 online in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
    if [ "${IN_SESSION:-0}" != 1 ]; then
        UP_OK=1
        trap - EXIT INT TERM HUP
    fi
}

cmd_session() {
    local line rc=0
    # Our reader may be gone (killed test): a write to the closed stdout pipe must not kill
    # this shell before its teardown, so SIGPIPE is ignored and the output moves to a file.
    trap '' PIPE
    # The watchdog keeps the logs (KEEP_STATE=1); `teardown` removes them later.
    trap 'say "session: signal, tearing down"; exit 143' INT TERM HUP
    trap 'KEEP_STATE=1 teardown_all' EXIT
    IN_SESSION=1 cmd_up || exit 1
    say "READY"
    # Commands on stdin (one per line): "stop" = graceful node stop. EOF, a signal or
    # SESSION_MAX seconds without a command end the session with a teardown.
    while IFS= read -r -t "$SESSION_MAX" line; do
        case $line in
            stop) node_stop 120; rc=$?; say "STOPPED rc=$rc" ;;
            "") ;;
            *) say "session: unknown command '$line'" ;;
        esac
    done
    say "session: stdin closed or idle for ${SESSION_MAX}s, tearing down"
    # whoever read our output may be dead: keep the rest in the state dir
    [ -d "$BASE" ] && exec >> "$BASE/session.log" 2>&1
    exit 0
}

case "${1:-}" in
    up) cmd_up ;;
    exec) shift; nexec "$@" ;;
    client) shift; ip netns exec "$PFX-cl" env -i PATH=$CLEAN_PATH LANG=C.UTF-8 "$@" ;;
    stop) node_stop "${2:-120}" ;;
    teardown) shift; teardown_all "$@" ;;
    session) cmd_session ;;
    info) printf 'PFX=%s\nBASE=%s\nNET=%s\nVIP=%s\nNODE_DIR=%s\n' "$PFX" "$BASE" "$NET" "$VIP" "$(node_dir)" ;;
    *) sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 2 ;;
esac
