"""The live cluster tests' view of the project's one cluster harness (lab/pcmk-cluster.sh,
driven by lab/raolab/cluster.py, the same code the two-controller lab uses): one node.

The harness runs as a *session* child process: it brings node1 up, prints READY and
then waits on its stdin. When this process closes the pipe (normally in the fixture
finalizer, but also when pytest dies for any reason), the session tears the cluster
down. The finalizer then runs the harness's `teardown --hard` as well (idempotent).
"""

import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from typing import List, Optional

import pcmk_common  # noqa: F401  (puts lab/ on sys.path)
from raolab import database
from raolab.cluster import (Cluster, failures, grep_lines, log, main_processes,  # noqa: F401
                            node_processes, operation_history, reset_clock, resource_states, start_time,
                            still_alive)

PFX = os.environ.get("RAOTEST_PFX", "raotest")
NET = os.environ.get("RAOTEST_NET", "10.231.0")   # exists only inside our namespaces
VIP = f"{NET}.100"


class Harness:
    """node1 of a one-node cluster (netns prefix raotest-, 10.231.0.0/24), and the database
    node whose MariaDB holds a copy of the test databases (the services reach it as
    openstack-db, as controllers reach a remote database)."""

    def __init__(self, node_private: str = "") -> None:
        reset_clock()   # "+N s" in the progress lines counts from here
        self.cluster = Cluster(PFX, NET, 1, base=f"/tmp/raotest-cluster.{PFX}", vip=VIP, db=True,
                               node_private=node_private)
        self.base = self.cluster.base
        self.node_dir = self.cluster.node_dir(1)

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 120) -> None:
        log(f"starting the harness session (netns prefix {PFX}-, {NET}.0/24, state {self.base})")
        self.cluster.start_session(timeout)
        database.seed(self.cluster, log)

    def close(self) -> None:
        """Stop everything this harness started: always safe, whatever state we are in."""
        log("closing the harness session (it tears the cluster down)")
        keep = os.environ.get("RAOTEST_KEEP_STATE") == "1"   # keep the node's logs for a post-mortem
        if keep:
            log(f"RAOTEST_KEEP_STATE=1: the node's logs stay in {self.base}")
        self.cluster.close(keep_state=keep)

    # ------------------------------------------------------------ on the node
    def node(self, *cmd: str, timeout: float = 60, check: bool = True,
             input: Optional[str] = None) -> subprocess.CompletedProcess:
        return self.cluster.node(1, *cmd, timeout=timeout, check=check, input=input)

    def client(self, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return self.cluster.client(*cmd, timeout=timeout, check=check)

    def stop_node(self, timeout: float = 150) -> subprocess.CompletedProcess:
        return self.cluster.stop_node(1, min(120, timeout))

    def init_pid(self) -> Optional[int]:
        return self.cluster.init_pid(1)

    def netns_left(self) -> List[str]:
        return self.cluster.netns_left()

    def crm_mon(self) -> ET.Element:
        return self.cluster.crm_mon(1)

    def pacemaker_log(self) -> str:
        return self.cluster.pacemaker_log(1)


def log_count(harness: Harness, pattern: str) -> int:
    """How many times ``pattern`` (a regex) occurs in node1's pacemaker.log."""
    return len(re.findall(pattern, harness.pacemaker_log()))


def wait_log(harness: Harness, pattern: str, before: int, timeout: float) -> None:
    """Until ``pattern`` occurs more than ``before`` times in node1's pacemaker.log."""
    deadline = time.monotonic() + timeout
    while log_count(harness, pattern) <= before:
        assert time.monotonic() < deadline, f"no new '{pattern}' in pacemaker.log within {timeout}s"
        time.sleep(0.3)
