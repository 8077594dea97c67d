"""The cluster's database node (pcmk-cluster.sh with DB=1): MariaDB on its own address of
the cluster network, which every node's /etc/hosts names as the services' DB_HOST.

``seed`` gives it what the services expect: a copy of the Keystone and Glance databases of
this host's test MariaDB (tests/setup/mariadb-setup.sh), with the same users and generated
passwords (tests/setup/db-grants.sh). Secrets and data go to the client on stdin, never on
a command line.
"""

import subprocess
import time
from typing import Callable, List, Optional

from .cluster import LAB_DIR, Cluster, ClusterError, clean_env

HOST_SOCKET = "/run/mysqld/mysqld.sock"
NODE_SOCKET = "/run/mysqld/mysqld.sock"    # the database node's private /run
GRANTS = LAB_DIR.parent / "tests" / "setup" / "db-grants.sh"
DATABASES = ("keystone", "glance")


def host_answers() -> bool:
    """This host's test MariaDB answers (the source of the copy)."""
    return subprocess.run(["mariadb-admin", f"--socket={HOST_SOCKET}", "--connect-timeout=2", "ping"],
                          capture_output=True, env=clean_env(), timeout=15).returncode == 0


def seed(cluster: Cluster, say: Callable[[str], None], on: str = "db") -> None:
    """Copy the host's keystone and glance databases, users and grants to the database node,
    or to the Galera node ``on`` (which replicates them to the others)."""
    t0 = time.monotonic()
    dump = subprocess.run(["mariadb-dump", f"--socket={HOST_SOCKET}", "--single-transaction",
                           "--databases", *DATABASES], capture_output=True, text=True, env=clean_env(), timeout=120)
    if dump.returncode != 0:
        raise ClusterError("cannot dump this host's keystone and glance databases "
                           f"(run sh tests/setup/openstack-setup.sh): {dump.stderr.strip()[-500:]}")
    grants = subprocess.run(["sh", str(GRANTS)], capture_output=True, text=True, env=clean_env(), timeout=30)
    if grants.returncode != 0:
        raise ClusterError(f"{GRANTS} failed (run sh tests/setup/openstack-setup.sh): {grants.stderr.strip()[-500:]}")
    cluster.db_exec("mariadb", f"--socket={NODE_SOCKET}", input=grants.stdout + dump.stdout, timeout=180, on=on)
    say(f"{'database node ' + cluster.db_addr if on == 'db' else on}: keystone and glance copied from this host's MariaDB "
        f"({len(dump.stdout) // 1024} KiB, {time.monotonic() - t0:.1f}s)")


def query(sql: str, cluster: Optional[Cluster] = None) -> List[List[str]]:
    """Rows of a query (no secrets in it), as root over the socket: on the cluster's database
    node, or (no cluster) on this host's MariaDB."""
    if cluster is not None:
        out = cluster.db_exec("mariadb", f"--socket={NODE_SOCKET}", "-N", "-B", "-e", sql, timeout=60).stdout
    else:
        proc = subprocess.run(["mariadb", f"--socket={HOST_SOCKET}", "-N", "-B", "-e", sql], capture_output=True,
                              text=True, env=clean_env(), timeout=60)
        if proc.returncode != 0:
            raise ClusterError(f"query on this host's MariaDB failed: {proc.stderr.strip()[-500:]}")
        out = proc.stdout
    return [line.split("\t") for line in out.splitlines()]
