#!/bin/bash
# The demo, from a fresh Debian 12 machine (root): two (or three) Pacemaker + Corosync
# controllers and a Galera cluster of three MariaDB nodes behind HAProxy on this one machine,
# serving Keystone and Glance on a floating IP through our agents.
#
#   bash lab/demo.sh [--nodes 3] [--clone|--haproxy] [--single-db] [--drills]
#
#  1. tests/setup/install-deps.sh     Pacemaker, Corosync, crmsh, MariaDB, Keystone, Glance,
#                                     build tools (apt)
#  2. tests/setup/openstack-setup.sh  MariaDB started; Keystone and Glance configured on it:
#                                     fernet keys, admin
#  3. tests/setup/build-deb.sh        builds resource-agents-openstack_*.deb from this tree
#     apt-get install ./<that .deb>   the agents and the crm snippets, as an operator installs them
#  4. lab/rao-lab up                  the nodes and the database (Galera) in namespaces, keys per
#                                     node, the installed openstack-ha.crm (--clone:
#                                     openstack-ha-clone.crm, --haproxy: openstack-ha-haproxy.crm
#                                     with HAProxy on every node), a fence device per node on the
#                                     lab's power switch (fencing on, as production must have it);
#                                     ends with crm_mon -1, the fence devices and the last fencing
#                                     actions, and the URLs
#  (--drills: then lab/rao-lab drill all: every failover drill, with a summary)
# The lab stays up; `lab/rao-lab status`, `lab/rao-lab drill NAME`, `lab/rao-lab down`.
# If any step fails, or on Ctrl-C, nothing of the lab is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "lab/demo.sh: run as root" >&2; exit 2; }
export PATH=/usr/sbin:/usr/bin:/sbin:/bin   # Debian's python3, not a pyenv one
UP_ARGS=()
DRILLS=0
usage() { echo "usage: bash lab/demo.sh [--nodes 2|3] [--clone|--haproxy] [--single-db] [--drills]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --clone) UP_ARGS+=(--clone) ;;
        --haproxy) UP_ARGS+=(--haproxy) ;;
        --single-db) UP_ARGS+=(--single-db) ;;
        --drills) DRILLS=1 ;;
        --nodes) [ $# -ge 2 ] || usage; UP_ARGS+=(--nodes "$2"); shift ;;
        --nodes=*) UP_ARGS+=(--nodes "${1#--nodes=}") ;;
        *) usage ;;
    esac
    shift
done

t0=$(date +%s)
step() { echo "[$(date +%T) +$(( $(date +%s) - t0 ))s demo] $*"; }

step "1/4 installing packages (tests/setup/install-deps.sh)"
bash tests/setup/install-deps.sh
step "2/4 configuring Keystone and Glance (tests/setup/openstack-setup.sh)"
sh tests/setup/openstack-setup.sh
step "3/4 building and installing the package"
deb=$(bash tests/setup/build-deb.sh | tail -n 1)
apt-get -o DPkg::Lock::Timeout=300 install --reinstall -y -q "$deb" >/var/log/resource-agents-openstack-demo-install.log 2>&1 || {
    tail -n 20 /var/log/resource-agents-openstack-demo-install.log >&2; exit 1; }
step "installed $(dpkg-query -W -f '${Package} ${Version}' resource-agents-openstack)"
step "4/4 starting the lab"
/usr/bin/python3 lab/rao-lab up "${UP_ARGS[@]}"
if [ "$DRILLS" = 1 ]; then
    step "failover drills"
    /usr/bin/python3 lab/rao-lab drill all
fi
step "done in $(( $(date +%s) - t0 ))s; the lab stays up: lab/rao-lab status | drill all | down"
