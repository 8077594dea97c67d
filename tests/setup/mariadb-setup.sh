#!/bin/sh
# Start Debian's MariaDB on loopback for the tests and give Keystone and Glance their
# databases, as production puts them on MySQL/MariaDB. Idempotent: a server that already
# answers is kept, databases and users are created only when missing. Run as root after
# install-deps.sh; openstack-setup.sh calls it.
#
# There is no systemd here: the server is started the way Debian's /etc/init.d/mariadb
# does it (mariadbd-safe, formerly mysqld_safe, in the background, /run/mysqld made first, wait until it answers).
# The generated database passwords live in $DB_SECRETS (root-only); they never reach a
# command line: SQL goes to the client on stdin.
#
# Prints "mariadb-setup: ..." progress lines. On failure (port taken, data directory
# unusable) it stops with the reason and the last lines of MariaDB's log.
# MARIADB_DATADIR, MARIADB_RUNDIR, MARIADB_LOG and MARIADB_PORT choose another server (the
# tests of this script's failures use them); the defaults are Debian's.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/openstack.env"
DATA_DIR=${MARIADB_DATADIR:-/var/lib/mysql}
RUN_DIR=${MARIADB_RUNDIR:-/run/mysqld}
LOG=${MARIADB_LOG:-/var/log/mysql/error.log}
SOCK=$RUN_DIR/mysqld.sock
DB_PORT=${MARIADB_PORT:-$DB_PORT}

say() { echo "mariadb-setup: $*"; }
die() {
    echo "mariadb-setup: ERROR: $*" >&2
    if [ -r "$LOG" ]; then echo "mariadb-setup: last lines of $LOG:" >&2; tail -n 15 "$LOG" | sed 's/^/    /' >&2; fi
    exit 1
}
answers() { mariadb-admin --socket="$SOCK" --connect-timeout=2 ping >/dev/null 2>&1; }

command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || \
    die "mariadbd not found: install mariadb-server (bash tests/setup/install-deps.sh)"

if answers; then
    say "MariaDB already answers on $SOCK"
else
    install -d -o mysql -g root -m 0755 "$RUN_DIR"
    install -d -o mysql -g adm -m 2750 "$(dirname "$LOG")"
    if [ ! -d "$DATA_DIR/mysql" ]; then
        say "initialising $DATA_DIR (mariadb-install-db)"
        mariadb-install-db --user=mysql --datadir="$DATA_DIR" >"$LOG.install-db" 2>&1 || {
            tail -n 15 "$LOG.install-db" >&2; die "mariadb-install-db failed for $DATA_DIR"; }
    fi
    say "starting MariaDB (mariadbd-safe, 127.0.0.1:$DB_PORT, data $DATA_DIR, log $LOG)"
    : >> "$LOG"; chown mysql:adm "$LOG"
    # as the init script: mariadbd-safe supervises mariadbd; its own output is not wanted
    setsid /usr/bin/mariadbd-safe --skip-syslog --log-error="$LOG" --bind-address=127.0.0.1 \
        --port="$DB_PORT" --datadir="$DATA_DIR" --socket="$SOCK" --pid-file="$RUN_DIR/mysqld.pid" \
        </dev/null >/dev/null 2>&1 &
    SAFE=$!
    i=0
    until answers; do
        i=$((i + 1))
        # mariadbd-safe gives up when mariadbd exits at once (port taken, bad datadir)
        if ! kill -0 "$SAFE" 2>/dev/null; then
            die "MariaDB exited during start-up (port $DB_PORT taken? data directory $DATA_DIR unusable?)"
        fi
        if [ $i -ge 300 ]; then
            kill -TERM -- "-$SAFE" 2>/dev/null   # nothing half-started left behind (its own session)
            die "MariaDB did not answer within 30 s"
        fi
        sleep 0.1
    done
    say "MariaDB answers after $((i / 10)) s"
fi

# The passwords: generated once, root-only.
umask 077
if [ ! -s "$DB_SECRETS" ]; then
    install -d -m 0700 "$(dirname "$DB_SECRETS")"
    printf 'KEYSTONE_DB_PASSWORD=%s\nGLANCE_DB_PASSWORD=%s\n' \
        "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" > "$DB_SECRETS.tmp"
    mv "$DB_SECRETS.tmp" "$DB_SECRETS"
    say "generated the database passwords in $DB_SECRETS"
fi
umask 022
sh "$HERE/db-grants.sh" | mariadb --socket="$SOCK" || die "creating the databases failed"
say "databases keystone and glance ready (users keystone, glance; passwords in $DB_SECRETS)"
