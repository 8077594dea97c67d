#!/bin/sh
# Print the SQL that gives Keystone and Glance their databases and users, with the
# generated passwords of $DB_SECRETS (tests/setup/openstack.env). Piped into a MariaDB
# client by mariadb-setup.sh (the host's server) and by the lab (its database node), so
# that the passwords never reach a command line. Re-running it converges on the stored
# passwords. Root only (it reads the secrets file).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/openstack.env"
. "$DB_SECRETS"
for svc in keystone glance; do
    case $svc in keystone) pw=$KEYSTONE_DB_PASSWORD ;; glance) pw=$GLANCE_DB_PASSWORD ;; esac
    # the '%' host: the lab's controllers reach their database node over the lab network
    cat <<SQL
CREATE DATABASE IF NOT EXISTS $svc;
CREATE USER IF NOT EXISTS '$svc'@'%' IDENTIFIED BY '$pw';
ALTER USER '$svc'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON $svc.* TO '$svc'@'%';
SQL
done
