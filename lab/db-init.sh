#!/bin/bash
# PID 1 of the cluster's database node: Debian's MariaDB (mariadbd) on its own address of
# the cluster network, as the "remote database backend" of real controllers.
# pcmk-cluster.sh starts it as
#   ip netns exec <pfx>-db unshare --mount --uts --ipc --pid --fork --propagation private \
#       bash db-init.sh <db-dir> <address>
# so it runs in its own net, mount, UTS, IPC and PID namespaces, with a private /run. The
# data directory is <db-dir>/data (a fresh one is initialised at every boot of a new
# cluster; a revived database node keeps its data), the log <db-dir>/mariadb.log.
#
# `db-init.sh <db-dir> <address> --start-server`, run inside the node's namespaces, starts
# mariadbd again after a drill killed it.
#
# `db-init.sh <db-dir> <address> --bare` (DB=galera): the same namespaces, private /run and
# hostname (the directory's name: db, db1..db3), and nothing started: the lab
# (raolab/galera_lab.py) starts a Galera node's mariadbd and clustercheck, or the frontend's
# HAProxy, through nsenter.
#
# Signals (to the host-visible PID in <db-dir>/init.pid):
#   SIGTERM -> graceful: mariadbd shuts down, then this init exits
#   SIGKILL -> power cut: the kernel kills mariadbd with it
set -u
D=$1
ADDR=$2
MODE=${3:-}

log() { echo "$(date '+%F %T.%N') [db init] $*" >> "$D/init.log"; }

# mariadbd in the background (at boot, and again when a drill that killed it starts it:
# `db-init.sh DIR ADDR --start-server`, run inside this node's namespaces)
start_server() {
    touch "$D/mariadb.log"; chown mysql "$D/mariadb.log"
    # Small buffers: a lab database of a few MB on a 2-core machine.
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$D/data" --socket=/run/mysqld/mysqld.sock \
        --pid-file=/run/mysqld/mysqld.pid --bind-address="$ADDR" --port=3306 --skip-name-resolve \
        --log-error="$D/mariadb.log" --innodb-buffer-pool-size=64M --max-connections=500 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci </dev/null >/dev/null 2>&1 &
    log "mariadbd started (pid $! in this namespace)"
}
if [ "$MODE" = "--start-server" ]; then   # called as: db-init.sh DIR ADDR --start-server
    start_server
    exit 0
fi

while read -r k v _; do [ "$k" = "NSpid:" ] && echo "$v"; done < /proc/self/status > "$D/init.pid"
log "booting (host pid $(cat "$D/init.pid")), address $ADDR"

mount --make-rprivate /
mount -t proc proc /proc
mount -t tmpfs -o mode=0755 tmpfs /run
install -d -o mysql -g root -m 0755 /run/mysqld
hostname "$(basename "$D")"
ip link set lo up

if [ "$MODE" = "--bare" ]; then
    log "bare: the lab starts what runs here"
elif [ ! -d "$D/data/mysql" ]; then
    install -d -o mysql -g mysql -m 0750 "$D/data"
    # --no-defaults: nothing of the host's /etc/mysql applies to this server
    if ! mariadb-install-db --no-defaults --datadir="$D/data" --user=mysql \
            --auth-root-authentication-method=socket --skip-test-db >> "$D/install-db.log" 2>&1; then
        log "mariadb-install-db failed (see install-db.log)"
        exit 1
    fi
    log "data directory initialised"
fi

[ "$MODE" = "--bare" ] || start_server

shutdown_db() {
    log "SIGTERM: stopping mariadbd"
    local p
    p=$(cat /run/mysqld/mysqld.pid 2>/dev/null)
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 300); do [ -n "$p" ] && kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    log "mariadbd gone, exiting"
    exit 0
}
trap shutdown_db TERM INT

# Stay alive as init and reap orphans; a mariadbd that exits (killed by a drill) is not
# restarted here: the drill that killed it starts it again (--start-server).
while true; do
    sleep 1 &
    wait $!
done
