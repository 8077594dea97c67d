#!/bin/sh
# Install everything the test suite needs on a fresh Debian 12 (root), without
# prompts and without starting any service (MariaDB included: tests/setup/mariadb-setup.sh
# starts it).
# Idempotent: a second run is a few seconds of apt no-ops.
set -eu
export DEBIAN_FRONTEND=noninteractive
APT="apt-get -o DPkg::Lock::Timeout=900 -y -q --no-install-recommends
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

# Maintainer scripts must not start keystone/glance (invoke-rc.d honours policy-rc.d).
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
# No dbconfig-common, no bootstrap, no endpoint registration at install time.
debconf-set-selections "$(dirname "$0")/debconf-preseed.txt"

echo "install-deps: apt-get update"
apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
echo "install-deps: installing cluster, OpenStack, build and test packages (first run: ~2-3 min)"
# shellcheck disable=SC2086
$APT install \
    pacemaker pacemaker-cli-utils corosync crmsh resource-agents libxml2-utils \
    keystone glance-api uwsgi-core uwsgi-plugin-python3 \
    python3-keystoneclient python3-keystoneauth1 python3-glanceclient python3-requests \
    python3-pytest sqlite3 crudini curl time procps iproute2 util-linux openssl \
    mariadb-server mariadb-client python3-pymysql haproxy \
    pcs man-db \
    build-essential debhelper dh-python pybuild-plugin-pyproject python3-setuptools \
    python3-all lintian fakeroot autopkgtest git \
    fence-agents fence-virt iputils-arping \
    debootstrap \
    >/var/log/resource-agents-openstack-install.log 2>&1 || {
        tail -n 30 /var/log/resource-agents-openstack-install.log >&2; exit 1; }

[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
echo "install-deps: done"
