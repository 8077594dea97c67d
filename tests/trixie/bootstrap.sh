#!/bin/bash
# Build, or reuse, the cached Debian 13 (trixie) root for the trixie test leg.
#
#   tests/trixie/bootstrap.sh [--rebuild] [--check]
#
# The root lives in $RAO_TRIXIE_CACHE/rootfs (default
# /var/cache/resource-agents-openstack/trixie). It is built with bookworm's debootstrap
# (--variant=minbase --include=adduser trixie), gets deb822 sources for trixie,
# trixie-updates and trixie-security, a policy-rc.d that keeps maintainer scripts from
# starting services, the debconf preseeds of tests/setup/install-deps.sh, and every
# package the leg needs (cluster stack, Keystone, Glance, build and test tools). Then
# `apt-get clean`.
#
# The cache is valid only if $CACHE/stamp exists (written as the very last step) and
# records the same recipe key (a hash of this script's package list, suite and mirror)
# and the root passes a quick sanity check. Anything else (an interrupted build, an
# older recipe, a half-deleted tree, a stamp older than RAO_TRIXIE_MAX_AGE_DAYS) is
# removed and rebuilt from the mirror. The build happens in rootfs.new and is renamed
# into place only when complete. A lock ($CACHE.lock) serialises builders; the leg holds
# it shared while it uses the root (RAO_TRIXIE_LOCKED=1: the caller holds it already).
#
# Env: RAO_TRIXIE_CACHE, RAO_TRIXIE_MIRROR (http://deb.debian.org/debian),
#      RAO_TRIXIE_SECURITY_MIRROR (http://deb.debian.org/debian-security),
#      RAO_TRIXIE_MAX_AGE_DAYS (30; 0 = never expire).
# --check: exit 0 if the cache is valid, 1 if not (never builds).
# Prints "[HH:MM:SS] trixie-bootstrap: ..." progress lines on stderr; stdout is only the
# path of the root.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8

CACHE=${RAO_TRIXIE_CACHE:-/var/cache/resource-agents-openstack/trixie}
MIRROR=${RAO_TRIXIE_MIRROR:-http://deb.debian.org/debian}
SECURITY=${RAO_TRIXIE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
MAX_AGE_DAYS=${RAO_TRIXIE_MAX_AGE_DAYS:-30}
SUITE=trixie
ROOT=$CACHE/rootfs
NEW=$CACHE/rootfs.new
STAMP=$CACHE/stamp
# the same debconf answers as the Debian 12 setup: no dbconfig, no bootstrap at install time
PRESEED=$(cd "$(dirname "$0")/../setup" && pwd)/debconf-preseed.txt

PACKAGES=(
    # cluster stack and the OCF tooling (ocf-tester, ra-api-1.dtd, xmllint)
    pacemaker corosync crmsh resource-agents pacemaker-cli-utils libxml2-utils
    # the services and the clients the agents use
    keystone glance-api uwsgi-plugin-python3
    python3-keystoneclient python3-keystoneauth1 python3-glanceclient python3-requests
    # test tools; minbase lacks ip, pgrep/pidof/ps
    python3-pytest sqlite3 crudini curl iproute2 procps time
    # the services' database (tests/setup/mariadb-setup.sh); haproxy: the Galera frontend
    # of tests/integration/test_galera_lab_parts.py
    mariadb-server mariadb-client python3-pymysql haproxy
    # tests/packaging/test_manpages.py renders the pages
    man-db
    # tests/integration/test_tls.py makes its certificates with the openssl CLI
    openssl
    # build and lint the package
    build-essential debhelper dh-python pybuild-plugin-pyproject python3-setuptools
    python3-all lintian fakeroot
)
# The recipe key: change the list, the suite, the mirrors or the debconf answers, and
# the cache is rebuilt.
KEY=$(printf '%s\n' "v1" "$SUITE" "$MIRROR" "$SECURITY" "${PACKAGES[@]}" "$(cat "$PRESEED")" |
      sha256sum | cut -c1-16)

say() { echo "[$(date +%T)] trixie-bootstrap: $*" >&2; }
die() { echo "[$(date +%T)] trixie-bootstrap: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot)"

REBUILD=0 CHECK=0
for a in "$@"; do
    case $a in
        --rebuild) REBUILD=1 ;;
        --check) CHECK=1 ;;
        *) die "unknown argument $a" ;;
    esac
done

# Why the cache is not usable ("" = it is).
cache_problem() {
    [ -f "$STAMP" ] || { echo "no stamp (never built, or a build was interrupted)"; return; }
    local key
    key=$(sed -n 's/^key=//p' "$STAMP")
    [ "$key" = "$KEY" ] || { echo "recipe changed (stamp key ${key:-none}, now $KEY)"; return; }
    if [ "$MAX_AGE_DAYS" != 0 ] && [ -n "$(find "$STAMP" -mtime +"$MAX_AGE_DAYS" 2>/dev/null)" ]; then
        echo "older than $MAX_AGE_DAYS days"; return
    fi
    local f
    for f in usr/bin/python3 usr/sbin/pacemakerd usr/sbin/corosync usr/sbin/crm usr/bin/uwsgi_python3 \
             usr/bin/glance-api usr/bin/keystone-manage usr/bin/dpkg-buildpackage usr/bin/lintian \
             usr/sbin/ocf-tester usr/lib/ocf/lib/heartbeat/ocf.py usr/share/resource-agents/ra-api-1.dtd \
             usr/lib/python3/dist-packages/pytest/__init__.py usr/sbin/policy-rc.d \
             etc/apt/sources.list.d/debian.sources var/lib/dpkg/status; do
        [ -e "$ROOT/$f" ] || [ -L "$ROOT/$f" ] || { echo "$f missing from the root"; return; }
    done
    # dpkg's own audit: half-installed or unconfigured packages
    local audit
    audit=$(chroot "$ROOT" /usr/bin/dpkg --audit 2>&1 | head -5) || true
    [ -z "$audit" ] || { echo "dpkg --audit: $audit"; return; }
}

# Run a command in $1 (a root) with the mounts apt and maintainer scripts need, in a
# private mount namespace: the mounts vanish with the command, nothing to unmount.
in_root() {
    local r=$1; shift
    unshare --mount --propagation private -- /bin/bash -c '
        set -eu
        r=$1; shift
        mount -t proc proc "$r/proc"
        mount -t sysfs sysfs "$r/sys"
        mount --rbind /dev "$r/dev"; mount --make-rprivate "$r/dev"
        mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$r/dev/pts"
        mount --bind "$r/dev/pts/ptmx" "$r/dev/ptmx"
        mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
        mount -t tmpfs -o mode=0755 tmpfs "$r/run"
        mkdir -p "$r/run/lock"; chmod 1777 "$r/run/lock"
        cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
        exec chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            LANG=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive "$@"
    ' in-root "$r" "$@"
}

build() {
    local t0 t1 t2 t3 log=$CACHE/build.log
    t0=$(date +%s)
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap on the host (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q install debootstrap >/dev/null ||
            { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null &&
              DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q install debootstrap >/dev/null; } ||
            die "could not install debootstrap"
    fi
    [ -e /usr/share/debootstrap/scripts/$SUITE ] || die "this debootstrap does not know $SUITE (apt-get install -t bookworm-backports debootstrap?)"
    rm -rf "$NEW"
    mkdir -p "$NEW"
    : > "$log"
    say "debootstrap --variant=minbase --include=adduser $SUITE from $MIRROR (~25 s; log $log)"
    # --include=adduser: without it, keystone's and glance's preconfigure scripts fail
    # with "addgroup: not found" (harmless, but noise).
    if ! debootstrap --variant=minbase --include=adduser "$SUITE" "$NEW" "$MIRROR" >>"$log" 2>&1; then
        say "debootstrap failed; one more try (a mirror hiccup?)"
        rm -rf "$NEW"; mkdir -p "$NEW"
        debootstrap --variant=minbase --include=adduser "$SUITE" "$NEW" "$MIRROR" >>"$log" 2>&1 ||
            { tail -n 20 "$log" >&2; die "debootstrap failed"; }
    fi
    t1=$(date +%s)
    say "debootstrap done in $((t1 - t0))s; apt sources (deb822), policy-rc.d, preseeds"
    rm -f "$NEW/etc/apt/sources.list"
    cat > "$NEW/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # maintainer scripts must never start a service in the root (or anywhere else)
    printf '#!/bin/sh\nexit 101\n' > "$NEW/usr/sbin/policy-rc.d"
    chmod 755 "$NEW/usr/sbin/policy-rc.d"
    # a throw-away test root: dpkg need not fsync every file (the install of ~500 packages
    # is the cold leg's longest step)
    echo force-unsafe-io > "$NEW/etc/dpkg/dpkg.cfg.d/unsafe-io"
    # the same answers as tests/setup/install-deps.sh: no dbconfig, no bootstrap at install time
    cp "$PRESEED" "$NEW/root/preseed.txt"
    in_root "$NEW" debconf-set-selections /root/preseed.txt
    rm -f "$NEW/root/preseed.txt"
    say "apt-get update"
    in_root "$NEW" apt-get -q -o Acquire::Retries=3 update >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get update failed"; }
    say "apt-get install ${#PACKAGES[@]} packages (~2 min)"
    in_root "$NEW" apt-get install -y -q --no-install-recommends -o Acquire::Retries=3 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${PACKAGES[@]}" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "apt-get install failed"; }
    t2=$(date +%s)
    say "installed in $((t2 - t1))s; apt-get clean"
    in_root "$NEW" apt-get clean
    rm -f "$NEW/etc/resolv.conf"; : > "$NEW/etc/resolv.conf"
    # the versions that matter, for the leg's report
    in_root "$NEW" dpkg-query -W -f='${Package} ${Version}\n' pacemaker pacemaker-cli-utils corosync \
        crmsh resource-agents keystone python3-keystone glance-api python3-glance uwsgi-core \
        uwsgi-plugin-python3 python3 python3-keystoneauth1 python3-keystoneclient python3-glanceclient \
        python3-pytest debhelper dh-python lintian sqlite3 mariadb-server python3-pymysql > "$NEW/root/trixie-versions.txt" 2>/dev/null || true
    rm -rf "$ROOT"
    mv "$NEW" "$ROOT"
    t3=$(date +%s)
    {
        echo "key=$KEY"
        echo "built=$(date -u +%FT%TZ)"
        echo "seconds=$((t3 - t0))"
        echo "debootstrap_seconds=$((t1 - t0))"
        echo "install_seconds=$((t2 - t1))"
        echo "size=$(du -sh "$ROOT" | cut -f1)"
    } > "$STAMP.tmp"
    mv "$STAMP.tmp" "$STAMP"
    say "built $ROOT in $((t3 - t0))s ($(du -sh "$ROOT" | cut -f1))"
}

mkdir -p "$(dirname "$CACHE")"
if [ "$CHECK" = 1 ]; then
    problem=$(cache_problem)
    [ -z "$problem" ] && { echo "$ROOT"; exit 0; }
    echo "$problem" >&2; exit 1
fi

# run-leg.sh takes the lock itself (RAO_TRIXIE_LOCKED=1) and keeps it, shared, for the leg.
if [ "${RAO_TRIXIE_LOCKED:-0}" != 1 ]; then
    exec 8>"$CACHE.lock"
    if ! flock -n 8; then
        say "waiting for the lock $CACHE.lock (another build or leg is using the root)"
        flock 8
    fi
fi
mkdir -p "$CACHE"
problem=""
[ "$REBUILD" = 1 ] && problem="--rebuild given"
[ -n "$problem" ] || problem=$(cache_problem)
if [ -z "$problem" ]; then
    say "reusing $ROOT (built $(sed -n 's/^built=//p' "$STAMP"))"
else
    say "building the trixie root: $problem"
    rm -f "$STAMP"
    build
fi
echo "$ROOT"
