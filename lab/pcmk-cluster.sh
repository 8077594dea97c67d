#!/bin/bash
# A real N-node Pacemaker + Corosync cluster on ONE machine, in namespaces. The one
# implementation behind the two-controller lab (lab/rao-lab) and the one-node cluster
# tests (tests/cluster/pcmk-harness.sh wraps it with NODES=1). Adapted from the project's
# cluster recipe. Nothing is installed, no systemd is needed, and no traffic leaves the
# namespaces this script creates:
#   netns $PFX-sw : bridge br0 (the "switch")
#   netns $PFX-nI : eth0 = $NET.I/24   (node I: corosync ring0, hostname nodeI), I = 1..NODES
#   netns $PFX-cl : eth0 = $NET.200/24 (a client, to reach the floating IP)
#   netns $PFX-db : eth0 = $NET.250/24 (with DB=1: the database node, MariaDB; db-init.sh
#                   is its PID 1; every node's /etc/hosts names it $DB_HOST. With DB=galera:
#                   the database frontend's node, db-init.sh --bare, where the lab runs HAProxy)
#   netns $PFX-dbK: eth0 = $NET.25K/24, K = 1..3 (DB=galera: Galera node dbK, db-init.sh
#                   --bare; the lab, raolab/galera_lab.py, starts mariadbd and its clustercheck)
# Each node also has its own mount, UTS, IPC and PID namespaces (node-init.sh is its PID 1):
# a private /run, /dev/shm, /etc/corosync, /var/lib/pacemaker, /var/log/{pacemaker,corosync},
# /etc/hosts, plus the directories listed in NODE_PRIVATE. Everything else (/usr,
# /etc/keystone, /var/lib/keystone, /var/lib/glance, /tmp) is the host's: shared by the nodes.
#
# Usage (root):
#   pcmk-cluster.sh up              bring every node online (tears down leftovers of $PFX first)
#   pcmk-cluster.sh exec I CMD..    run CMD on node I (clean environment, as the cluster runs it)
#   pcmk-cluster.sh client CMD..    run CMD in the client namespace
#   pcmk-cluster.sh stop I [T]      graceful stop of node I (Pacemaker stops its resources)
#   pcmk-cluster.sh crash I         power cut: SIGKILL node I's PID namespace, pull its cable
#   pcmk-cluster.sh revive I        boot a stopped or crashed node I again (cable back in)
#   pcmk-cluster.sh wait-online [T] wait until every node is online (seen from a live node)
#   pcmk-cluster.sh teardown [--hard]  graceful (bounded) or SIGKILL stop of every node,
#                                   delete the namespaces and the state dir (KEEP_STATE=1
#                                   keeps the logs)
#   pcmk-cluster.sh session         up, print READY, then wait on stdin; on EOF, on a signal
#                                   or after SESSION_MAX seconds without a line: teardown.
#                                   A watchdog: if the driving process dies, its pipe closes
#                                   and the cluster goes.
#   pcmk-cluster.sh db-exec CMD..   run CMD on the database node (DB=1), or on the frontend's (DB=galera)
#   pcmk-cluster.sh info            print KEY=VALUE lines (PFX, BASE, NET, VIP, NODES, ...)
#   pcmk-cluster.sh state I         "on" or "off": whether node I's init runs (the power switch asks)
# Env: PFX (netns prefix, default raolab), NET (default 10.232.0), NODES (default 2),
# BASE (state dir, default /tmp/$PFX-cluster; not under /run or /dev/shm), VIP ($NET.100),
# TOKEN_MS (corosync token, 3000), DC_DEADTIME (2s), ONLINE_TIMEOUT (90 s),
# SESSION_MAX (900 s), NODE_PRIVATE ("DIR:OWNER:GROUP:MODE ..." made private per node,
# e.g. "/var/log/keystone:keystone:keystone:0750"), DB (1: a database node; galera: the nodes
# of a Galera cluster and a frontend node, bare, for the lab to fill), DB_HOST (the
# name the nodes know it by, default openstack-db), NODE_SYSCTL ("KEY=VALUE ..." set in
# every node's network namespace, e.g. net.ipv4.ip_nonlocal_bind=1 for HAProxy), POWER (1: the
# lab's power switch, raolab/power.py, listens on $BASE/power.sock for lab/fence_raolab and logs
# to $BASE/power.log; it runs as long as the nodes and goes at teardown).
# Only processes verified to be this cluster's node init are ever signalled.
set -u

PFX=${PFX:-raolab}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${BASE:-/tmp/$PFX-cluster}
NET=${NET:-10.232.0}
NODES=${NODES:-2}
VIP=${VIP:-$NET.100}
TOKEN_MS=${TOKEN_MS:-3000}
DC_DEADTIME=${DC_DEADTIME:-2s}
ONLINE_TIMEOUT=${ONLINE_TIMEOUT:-90}
SESSION_MAX=${SESSION_MAX:-900}
NODE_PRIVATE=${NODE_PRIVATE:-}
DB=${DB:-0}
DB_HOST=${DB_HOST:-openstack-db}
NODE_SYSCTL=${NODE_SYSCTL:-}
POWER=${POWER:-0}
DB_ADDR=$NET.250
NODE_INIT=$HERE/node-init.sh
DB_INIT=$HERE/db-init.sh
CLEAN_PATH=/usr/sbin:/usr/bin:/sbin:/bin
LOCK=$BASE.lock

say() { echo "[$(date +%T.%3N) cluster] $*"; }
die() { say "ERROR: $*"; exit 1; }

need_tools() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    local b missing=()
    for b in corosync pacemakerd crm crm_mon cibadmin crm_attribute nsenter unshare ip setsid curl flock; do
        PATH=$CLEAN_PATH command -v "$b" >/dev/null 2>&1 || missing+=("$b")
    done
    [ ${#missing[@]} -eq 0 ] || die "missing tools (not installed by this harness): ${missing[*]}"
    [ -r "$NODE_INIT" ] || die "$NODE_INIT not found"
    case $DB in 0|1|galera) ;; *) die "DB must be 0, 1 or galera, not $DB" ;; esac
    if [ "$DB" != 0 ]; then
        [ -x /usr/sbin/mariadbd ] && PATH=$CLEAN_PATH command -v mariadb-install-db >/dev/null 2>&1 || \
            die "the database node needs mariadb-server: run bash tests/setup/install-deps.sh"
    fi
    case $NODES in [1-9]) ;; *) die "NODES must be 1..9, not $NODES" ;; esac
}

check_node() { case ${1:-} in [1-9]) [ "$1" -le "$NODES" ] && return 0 ;; esac; die "no node '${1:-}' (1..$NODES)"; }
node_dir() { echo "$BASE/node$1"; }
# host PID of node I's init, only if that PID really is our node-init.sh for that node
pid_is_init_of() {  # pid_is_init_of PID NODEDIR
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF "node-init.sh $2 "
}
node_pid() {
    local d p
    d=$(node_dir "$1"); p=$(cat "$d/init.pid" 2>/dev/null)
    pid_is_init_of "$p" "$d" && echo "$p"
}

# the database namespaces' names: db (the database node, or the Galera frontend's), db1..db3
db_names() { case $DB in 1) echo db ;; galera) echo db db1 db2 db3 ;; esac; }
GALERA_NODES=3

# host PID of a database namespace's init (db_pid [NAME], default db), only if it really is our db-init.sh
db_pid() {
    local p name=${1:-db}
    p=$(cat "$BASE/$name/init.pid" 2>/dev/null)
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF "db-init.sh $BASE/$name " && echo "$p"
}

# run a command on node I, inside all its namespaces, with the environment the cluster has
nexec() {
    local i=$1 p
    shift
    p=$(node_pid "$i") || { say "node$i is not running"; return 125; }
    enter "$p" "$@"
}

enter() {  # enter HOSTPID CMD..: every namespace of that init, the cluster's environment
    local p=$1
    shift
    env -i PATH=$CLEAN_PATH LANG=C.UTF-8 HOME=/root nsenter -t "$p" -m -u -i -n -p -- "$@"
}

# boot_init NETNS DIR INIT ARG: INIT (bash) as PID 1 of new mount, UTS, IPC and PID
# namespaces in NETNS, with a clean, systemd-like environment (no pyenv PATH or PYTHON*
# reaching the agents) and a session of its own (it outlives the calling shell); waits
# for the DIR/init.pid it writes
boot_init() {
    local ns=$1 d=$2 init=$3
    shift 3     # the init's arguments after DIR
    rm -f "$d/init.pid"
    env -i PATH=$CLEAN_PATH LANG=C.UTF-8 \
    setsid ip netns exec "$ns" \
        unshare --mount --uts --ipc --pid --fork --propagation private \
        /bin/bash "$init" "$d" "$@" < /dev/null >> "$d/init.stdout" 2>&1 9>&- &
    for _ in $(seq 1 100); do [ -s "$d/init.pid" ] && break; sleep 0.05; done
    [ -s "$d/init.pid" ]
}

dbexec() {
    local p
    p=$(db_pid) || { say "the database node is not running"; return 125; }
    enter "$p" "$@"
}

# DB=galera: the frontend's node and db1..db3, each a bare init (the lab starts what runs there)
galera_boot() {
    local name k addr
    for name in $(db_names); do
        k=${name#db}
        addr=$DB_ADDR; [ -n "$k" ] && addr=$NET.$((250 + k))
        mkdir -p "$BASE/$name"
        boot_init "$PFX-$name" "$BASE/$name" "$DB_INIT" "$addr" --bare && [ -n "$(db_pid "$name")" ] || {
            say "the init of $name did not start"; return 1; }
    done
    say "database namespaces up: the frontend's node $DB_ADDR ($DB_HOST), Galera nodes db1..db$GALERA_NODES ($NET.251-$((250 + GALERA_NODES)))"
}

# the database node: boot its init, wait until MariaDB answers on its address
db_start() {
    local d=$BASE/db
    mkdir -p "$d"
    boot_init "$PFX-db" "$d" "$DB_INIT" "$DB_ADDR" && [ -n "$(db_pid)" ] || {
        say "the database node's init did not start"; return 1; }
    for _ in $(seq 1 300); do
        dbexec mariadb-admin --socket=/run/mysqld/mysqld.sock --connect-timeout=2 ping >/dev/null 2>&1 && {
            say "database node up: MariaDB on $DB_ADDR:3306 ($DB_HOST)"; return 0; }
        [ -n "$(db_pid)" ] || break
        sleep 0.1
    done
    say "MariaDB on the database node did not answer; last lines of its log:"
    tail -n 15 "$d/mariadb.log" "$d/install-db.log" 2>/dev/null | sed 's/^/    /'
    return 1
}

# plug NETNS PORT ADDR: a namespace with eth0=ADDR/24 on the switch's bridge (port PORT)
plug() {
    local ns=$1 port=$2 addr=$3
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$PFX-sw" link add "$port" type veth peer name eth0 netns "$ns"
    ip -n "$PFX-sw" link set "$port" master br0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
}

net_up() {
    local i kv
    ip netns add "$PFX-sw"
    ip -n "$PFX-sw" link set lo up
    ip -n "$PFX-sw" link add br0 type bridge
    ip -n "$PFX-sw" link set br0 up
    for i in $(seq 1 "$NODES"); do
        plug "$PFX-n$i" "p$i" "$NET.$i"
        # per network namespace: kept across a crash and a revive (the namespace stays)
        for kv in $NODE_SYSCTL; do ip netns exec "$PFX-n$i" sysctl -q -w "$kv" || die "sysctl $kv failed"; done
    done
    plug "$PFX-cl" pc "$NET.200"
    if [ "$DB" != 0 ]; then plug "$PFX-db" pd "$DB_ADDR"; fi
    if [ "$DB" = galera ]; then
        for k in $(seq 1 "$GALERA_NODES"); do plug "$PFX-db$k" "pd$k" "$NET.$((250 + k))"; done
    fi
}

write_corosync_conf() {  # write_corosync_conf FILE
    local i
    {
        cat <<EOF
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
EOF
        # two nodes: the survivor keeps quorum (implies wait_for_all)
        [ "$NODES" -eq 2 ] && echo "    two_node: 1"
        echo "}"
        echo "nodelist {"
        for i in $(seq 1 "$NODES"); do
            printf '    node {\n        name: node%s\n        nodeid: %s\n        ring0_addr: %s\n    }\n' "$i" "$i" "$NET.$i"
        done
        echo "}"
    } > "$1"
}

node_prepare() {  # node_prepare I
    local i=$1 d j spec dir owner group mode priv
    d=$(node_dir "$i")
    rm -rf "$d"
    mkdir -p "$d"/{etc-corosync/uidgid.d,var-lib-corosync,var-log-corosync}
    mkdir -p "$d"/var-lib-pacemaker/{cib,pengine,blackbox,cores} "$d"/var-log-pacemaker/bundles
    write_corosync_conf "$d/etc-corosync/corosync.conf"
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
    {
        echo "127.0.0.1 localhost"
        echo "127.0.1.1 node$i"
        for j in $(seq 1 "$NODES"); do echo "$NET.$j node$j"; done
        [ "$DB" != 0 ] && echo "$DB_ADDR $DB_HOST db"
    } > "$d/hosts"
    # directories private to this node (e.g. the services' logs): node-init bind-mounts them
    : > "$d/binds"
    for spec in $NODE_PRIVATE; do
        IFS=: read -r dir owner group mode <<< "$spec"
        [ -d "$dir" ] || die "NODE_PRIVATE: $dir is not a directory on the host"
        priv=$d/private$(echo "$dir" | tr / _)
        install -d -o "${owner:-root}" -g "${group:-root}" -m "${mode:-0755}" "$priv"
        echo "$priv $dir" >> "$d/binds"
    done
}

node_start() {  # node_start I
    local i=$1
    boot_init "$PFX-n$i" "$(node_dir "$i")" "$NODE_INIT" "node$i" || { say "node$i: init did not start"; return 1; }
}

# every node online and a DC elected, as seen from the first live node
wait_online() {  # wait_online [TIMEOUT_S]
    local t=${1:-$ONLINE_TIMEOUT} out start now last=0 i viewer want
    want=$(seq -f 'node%g' 1 "$NODES" | xargs)
    start=$(date +%s)
    while :; do
        viewer=""
        for i in $(seq 1 "$NODES"); do [ -n "$(node_pid "$i")" ] && { viewer=$i; break; }; done
        if [ -n "$viewer" ]; then
            out=$(nexec "$viewer" crm_mon -1 2>/dev/null) || true
            if echo "$out" | grep -q "Current DC: node" && \
               echo "$out" | grep -qE "^\s*\* Online: \[ $want \]"; then
                return 0
            fi
        fi
        now=$(date +%s)
        [ $((now - start)) -ge "$t" ] && return 1
        if [ $((now - last)) -ge 3 ]; then say "waiting for $want to come online ($((now - start))s)"; last=$now; fi
        sleep 0.2
    done
}

# graceful: SIGTERM the init (pacemakerd stops the resources, then corosync stops)
node_stop() {  # node_stop I TIMEOUT_S
    local i=$1 t=$2 p start
    p=$(node_pid "$i") || return 0
    say "stopping node$i gracefully (init pid $p, at most ${t}s)"
    start=$(date +%s)
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 1 $((t * 10))); do
        kill -0 "$p" 2>/dev/null || { say "node$i stopped in $(( $(date +%s) - start ))s"; return 0; }
        sleep 0.1
    done
    say "node$i: graceful stop timed out after ${t}s, killing it"
    kill -KILL "$p" 2>/dev/null
    return 1
}

# power cut: the kernel kills every process of the node's PID namespace at once; the
# cable is pulled too, so nothing the node held (its floating IP) answers any more
node_crash() {  # node_crash I
    local i=$1 p
    p=$(node_pid "$i") && kill -KILL "$p" 2>/dev/null
    ip -n "$PFX-n$i" link set eth0 down 2>/dev/null
    for _ in $(seq 1 50); do [ -n "$p" ] && kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
    say "node$i crashed (init pid ${p:-none} killed, link down)"
}

# boot node I again after a crash or a stop: a fresh PID namespace and /run, its own CIB
# copy kept (as a rebooted controller's disk); the addresses a dead node held are gone
node_revive() {  # node_revive I
    local i=$1
    [ -z "$(node_pid "$i")" ] || die "node$i is still running"
    ip -n "$PFX-n$i" addr flush dev eth0
    ip -n "$PFX-n$i" addr add "$NET.$i/24" dev eth0
    ip -n "$PFX-n$i" link set eth0 up
    node_start "$i" || die "node$i did not start"
    say "node$i booted (init pid $(node_pid "$i"))"
}

# the lab's power switch (POWER=1): what a fence device is to a real controller
power_pid() {
    local p
    p=$(cat "$BASE/power.pid" 2>/dev/null)
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF "raolab.power --base $BASE " && echo "$p"
}

power_start() {
    rm -f "$BASE/power.pid" "$BASE/power.unplugged" "$BASE"/power.node*.dead
    env -i PATH=$CLEAN_PATH LANG=C.UTF-8 PFX="$PFX" BASE="$BASE" NET="$NET" NODES="$NODES" VIP="$VIP" \
        TOKEN_MS="$TOKEN_MS" DC_DEADTIME="$DC_DEADTIME" NODE_PRIVATE="$NODE_PRIVATE" DB="$DB" DB_HOST="$DB_HOST" \
        NODE_SYSCTL="$NODE_SYSCTL" PYTHONPATH="$HERE" \
        setsid /usr/bin/python3 -s -m raolab.power --base "$BASE" --nodes "$NODES" \
        < /dev/null >> "$BASE/power.stdout" 2>&1 9>&- &
    for _ in $(seq 1 100); do [ -S "$BASE/power.sock" ] && [ -n "$(power_pid)" ] && break; sleep 0.05; done
    [ -n "$(power_pid)" ] || { tail -n 5 "$BASE/power.stdout" 2>/dev/null; return 1; }
    say "power switch up: $BASE/power.sock (log $BASE/power.log)"
}

power_stop() {
    local p
    p=$(power_pid) || return 0
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    rm -f "$BASE/power.sock" "$BASE/power.pid"
}

teardown_all() {  # teardown_all [--hard]
    local i p ns pids=()
    power_stop
    if [ "${1:-}" != "--hard" ]; then
        for i in $(seq 1 9); do
            [ -d "$(node_dir "$i")" ] && [ -n "$(node_pid "$i")" ] && { node_stop "$i" 60 & pids+=($!); }
        done
        [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
    fi
    for i in $(seq 1 9); do
        p=$(node_pid "$i") && { say "killing node$i (init pid $p)"; kill -KILL "$p" 2>/dev/null; sleep 0.3; }
    done
    local name dbpids=()
    for name in db db1 db2 db3; do   # the nodes are gone: nothing needs the database any more
        if p=$(db_pid "$name"); then
            say "stopping the database namespace $name (init pid $p)"
            kill -TERM "$p" 2>/dev/null
            dbpids+=("$p")
        fi
    done
    for p in "${dbpids[@]}"; do   # side by side: each init stops its mariadbd (bounded)
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    for ns in $(ip netns list | awk '{print $1}' | grep "^$PFX-"); do
        ip netns del "$ns"
    done
    if [ "${KEEP_STATE:-0}" != 1 ]; then
        rm -rf "$BASE"
    fi
    say "teardown done; namespaces left with prefix $PFX-: $(ip netns list | grep -c "^$PFX-")"
}

take_lock() {
    # one cluster per prefix at a time (the fd is closed for the nodes, see node_start)
    exec 9> "$LOCK"
    flock -n 9 || die "another harness with PFX=$PFX is running (lock $LOCK)"
}

cmd_up() {
    need_tools
    take_lock
    teardown_all --hard >/dev/null
    mkdir -p "$BASE"
    chmod 0711 "$BASE"   # files in it are private; mariadbd (user mysql) must reach $BASE/db
    local t0 i
    t0=$(date +%s.%N)
    if [ "${IN_SESSION:-0}" != 1 ]; then
        # tear down again if anything below fails or we are interrupted (the session
        # has traps of its own)
        UP_OK=0
        trap '[ $UP_OK = 1 ] || { say "up failed, tearing down"; KEEP_STATE=1 teardown_all --hard; }' EXIT
        trap 'exit 130' INT TERM HUP
    fi
    say "creating namespaces $PFX-sw, $PFX-n1..$NODES, $PFX-cl$(for n in $(db_names); do printf ', %s' "$PFX-$n"; done) ($NET.0/24), corosync token ${TOKEN_MS}ms"
    net_up || die "could not create the namespaces"
    if [ "$POWER" = 1 ]; then power_start || die "the power switch did not start"; fi
    if [ "$DB" = 1 ]; then db_start || die "the database node did not come up"; fi
    if [ "$DB" = galera ]; then galera_boot || die "the database namespaces did not come up"; fi
    for i in $(seq 1 "$NODES"); do node_prepare "$i" || die "could not prepare node$i"; done
    for i in $(seq 1 "$NODES"); do
        say "starting node$i (state in $BASE/node$i)"
        node_start "$i" || die "node$i did not start"
    done
    wait_online || { nexec 1 crm_mon -1 2>&1 | sed 's/^/    /'; die "nodes not online after ${ONLINE_TIMEOUT}s"; }
    say "$NODES node(s) online in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
    if [ "${IN_SESSION:-0}" != 1 ]; then
        UP_OK=1
        trap - EXIT INT TERM HUP
    fi
}

cmd_session() {
    local line
    # Our reader may be gone (killed test): a write to the closed stdout pipe must not kill
    # this shell before its teardown, so SIGPIPE is ignored and the output moves to a file.
    trap '' PIPE
    # The watchdog keeps the logs (KEEP_STATE=1); `teardown` removes them later.
    trap 'say "session: signal, tearing down"; exit 143' INT TERM HUP
    trap 'KEEP_STATE=1 teardown_all' EXIT
    IN_SESSION=1 cmd_up || exit 1
    say "READY"
    # The watchdog: EOF on stdin, a signal or SESSION_MAX seconds without a line end the
    # session with a teardown (lines themselves are ignored).
    while IFS= read -r -t "$SESSION_MAX" line; do :; done
    say "session: stdin closed or idle for ${SESSION_MAX}s, tearing down"
    # whoever read our output may be dead: keep the rest in the state dir
    [ -d "$BASE" ] && exec >> "$BASE/session.log" 2>&1
    exit 0
}

case "${1:-}" in
    up) cmd_up ;;
    exec) shift; check_node "${1:-}"; i=$1; shift; nexec "$i" "$@" ;;
    db-exec) shift; dbexec "$@" ;;
    client) shift; ip netns exec "$PFX-cl" env -i PATH=$CLEAN_PATH LANG=C.UTF-8 HOME=/root "$@" ;;
    stop) check_node "${2:-}"; node_stop "$2" "${3:-120}" ;;
    crash) check_node "${2:-}"; node_crash "$2" ;;
    revive) check_node "${2:-}"; node_revive "$2" ;;
    wait-online) wait_online "${2:-$ONLINE_TIMEOUT}" ;;
    teardown) shift; teardown_all "$@" ;;
    session) cmd_session ;;
    state) check_node "${2:-}"; if [ -n "$(node_pid "$2")" ]; then echo on; else echo off; fi ;;
    info) printf 'PFX=%s\nBASE=%s\nNET=%s\nVIP=%s\nNODES=%s\nTOKEN_MS=%s\nDB=%s\nDB_ADDR=%s\n' \
              "$PFX" "$BASE" "$NET" "$VIP" "$NODES" "$TOKEN_MS" "$DB" "$DB_ADDR"
          for i in $(seq 1 "$NODES"); do printf 'NODE%s_DIR=%s\n' "$i" "$(node_dir "$i")"; done ;;
    *) sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 2 ;;
esac
