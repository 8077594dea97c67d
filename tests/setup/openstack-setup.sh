#!/bin/sh
# Configure Debian's Keystone and Glance for the tests: MariaDB databases (mariadb-setup.sh
# starts the server), fernet and credential keys, the admin bootstrap, the glance service
# user and the image endpoints, everything on 127.0.0.1. Idempotent. Leaves both services
# stopped: the agents under test start them. Run as root after install-deps.sh.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
AGENTS=${AGENTS:-$HERE/../../agents}
. "$HERE/openstack.env"
PY=/usr/bin/python3

say() { echo "openstack-setup: $*"; }
as() { u=$1; shift; su "$u" -s /bin/sh -c "$*"; }
sql() { mariadb --socket=/run/mysqld/mysqld.sock -N -B -e "$1"; }

sh "$HERE/mariadb-setup.sh"
. "$DB_SECRETS"
# The services name their database server DB_HOST, as controllers name a database VIP:
# here it is loopback; on a lab node its /etc/hosts points it at the lab's database node.
if ! grep -qE "^[0-9.]+[[:space:]]+$DB_HOST([[:space:]]|\$)" /etc/hosts; then
    echo "127.0.0.1 $DB_HOST   # resource-agents-openstack tests (tests/setup/openstack-setup.sh)" >> /etc/hosts
    say "added $DB_HOST (127.0.0.1) to /etc/hosts"
fi
# set_db CONF USER PASSWORD: [database] connection, the password through stdin (never argv);
# the file stays root:<service> 0640, as Debian ships it
set_db() {
    printf '[database]\nconnection = mysql+pymysql://%s:%s@%s:%s/%s\n' "$2" "$3" "$DB_HOST" "$DB_PORT" "$2" \
        | crudini --merge "$1"
    chown "root:$2" "$1"; chmod 0640 "$1"
}
tables() { sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$1'"; }

K=/etc/keystone/keystone.conf
set_db $K keystone "$KEYSTONE_DB_PASSWORD"
crudini --set $K token provider fernet
# `touch /etc/keystone/healthcheck_disable` makes /healthcheck answer 503 (a test knob).
crudini --set $K healthcheck backends disable_by_file
crudini --set $K healthcheck disable_by_file_path /etc/keystone/healthcheck_disable
for d in /run/keystone /var/lock/keystone /var/cache/keystone; do install -d -o keystone -g keystone "$d"; done
if [ "$(tables keystone)" = 0 ] || [ ! -d /etc/keystone/fernet-keys ] || \
   [ "$(sql "SELECT COUNT(*) FROM keystone.local_user WHERE name='admin'" 2>/dev/null)" != 1 ]; then
    say "keystone db_sync, fernet keys, bootstrap (about 30 s)"
    log=/var/log/keystone/test-setup.log   # keystone-manage prints harmless tracebacks at exit
    as keystone "keystone-manage db_sync" >>$log 2>&1 || { tail -n 20 $log >&2; exit 1; }
    as keystone "keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone" >>$log 2>&1
    as keystone "keystone-manage credential_setup --keystone-user keystone --keystone-group keystone" >>$log 2>&1
    as keystone "keystone-manage bootstrap --bootstrap-password '$OS_ADMIN_PASSWORD' \
        --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
        --bootstrap-service-name keystone --bootstrap-region-id '$OS_REGION' \
        --bootstrap-admin-url '$KEYSTONE_URL/v3/' --bootstrap-internal-url '$KEYSTONE_URL/v3/' \
        --bootstrap-public-url '$KEYSTONE_URL/v3/'" >>$log 2>&1
fi

G=/etc/glance/glance-api.conf
crudini --set $G DEFAULT bind_host 127.0.0.1
crudini --set $G DEFAULT bind_port 9292
crudini --set $G DEFAULT workers 1
crudini --set $G DEFAULT enabled_backends fs:file
set_db $G glance "$GLANCE_DB_PASSWORD"
crudini --set $G glance_store default_backend fs
crudini --set $G fs filesystem_store_datadir /var/lib/glance/images/
crudini --set $G os_glance_staging_store filesystem_store_datadir /var/lib/glance/staging/
crudini --set $G os_glance_tasks_store filesystem_store_datadir /var/lib/glance/tasks_work_dir/
crudini --set $G keystone_authtoken www_authenticate_uri "$KEYSTONE_URL"
crudini --set $G keystone_authtoken auth_url "$KEYSTONE_URL"
crudini --set $G keystone_authtoken auth_type password
crudini --set $G keystone_authtoken project_domain_name Default
crudini --set $G keystone_authtoken user_domain_name Default
crudini --set $G keystone_authtoken project_name service
crudini --set $G keystone_authtoken username glance
crudini --set $G keystone_authtoken password "$GLANCE_SERVICE_PASSWORD"
# must match the bootstrap region, or every authenticated glance call is a 500
crudini --set $G keystone_authtoken region_name "$OS_REGION"
crudini --set $G paste_deploy flavor keystone
for d in /run/glance /var/lock/glance /var/lib/glance/images /var/lib/glance/staging /var/lib/glance/tasks_work_dir; do
    install -d -o glance -g glance "$d"; done
if [ "$(tables glance)" = 0 ]; then
    say "glance db_sync"
    as glance "glance-manage db_sync" >>/var/log/glance/test-setup.log 2>&1 || {
        tail -n 20 /var/log/glance/test-setup.log >&2; exit 1; }
fi

if [ "$(sql "SELECT COUNT(*) FROM keystone.local_user WHERE name='glance'")" != 1 ]; then
    say "registering the glance user and image endpoints (keystone started by our agent)"
    export OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=setup-keystone HA_RSCTMP=/run/resource-agents \
        OCF_RESKEY_bind=127.0.0.1:5000 OCF_RESKEY_additional_parameters="--processes 2"
    "$PY" "$AGENTS/keystone" start
    trap '"$PY" "$AGENTS/keystone" stop' EXIT
    OS_ADMIN_PASSWORD=$OS_ADMIN_PASSWORD GLANCE_SERVICE_PASSWORD=$GLANCE_SERVICE_PASSWORD \
        OS_REGION=$OS_REGION KEYSTONE_URL=$KEYSTONE_URL GLANCE_URL=$GLANCE_URL \
        "$PY" "$HERE/register-glance.py"
fi
# what the test suites look for: this setup finished, on MariaDB
touch "$(dirname "$DB_SECRETS")/setup-done"
say "ready"
