"""resource-agents' own ocf-tester, run as root against the real services."""

import subprocess

import pytest

from agent_harness import Agent


@pytest.mark.parametrize("fixture", ["keystone", "glance"])
def test_ocf_tester_passes(fixture, request, keystone: Agent):
    agent: Agent = request.getfixturevalue(fixture)
    if agent.name == "glance-api":
        assert keystone.run("start").rc == 0  # for the depth-10 credentials to mean something
    agent.run("stop")
    options = []
    for key, value in agent.params.items():
        options += ["-o", f"{key}={value}"]
    proc = subprocess.run(["ocf-tester", "-n", agent.instance, *options, agent.path],
                          capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert f"{agent.path} passed all tests" in output
    assert agent.run("monitor").rc == 7, "ocf-tester must leave the service stopped"


def test_ocf_tester_passes_database_watch(tmp_path):
    """The watcher against the test setup's MariaDB (outside a cluster attrd_updater fails:
    the watcher still starts, monitors and stops cleanly)."""
    from agent_harness import AGENT_DIR
    path = str(AGENT_DIR / "database-watch")
    proc = subprocess.run(["ocf-tester", "-n", "it-database-watch", "-o", "configs=/etc/keystone/keystone.conf",
                           path], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert f"{path} passed all tests" in output
