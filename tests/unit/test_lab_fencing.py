"""The lab's fence agent (lab/fence_raolab) and power switch (raolab.power): the fence-agents
API as pacemaker-fenced speaks it (key=value lines on stdin, exit codes 0/1/2), against a
real switch on a UNIX socket whose node power is a recorder. The lab (fencing by default) uses
both with real Pacemaker nodes."""

import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import unit_support  # noqa: F401 (puts lab/ on sys.path)
from raolab import power

AGENT = Path(__file__).resolve().parents[2] / "lab" / "fence_raolab"


class Power:
    """Two lab nodes' power, recorded: what pcmk-cluster.sh's crash/revive/state would do."""

    def __init__(self, stuck=()):
        self.on = {"node1": True, "node2": True}
        self.calls = []
        self.stuck = set(stuck)     # nodes a power cut does not stop (a verification must catch it)

    def __call__(self, command, node):
        self.calls.append((command, node))
        if command == "state":
            return True, "on\n" if self.on[node] else "off\n"
        if command == "crash":
            self.on[node] = node in self.stuck
            return True, f"{node} crashed\n"
        if command == "revive":
            self.on[node] = True
            return True, f"{node} booted\n"
        return False, "unknown command"


@pytest.fixture
def switch(tmp_path, monkeypatch):
    monkeypatch.setattr(power, "OFF_VERIFY", 0.5)
    recorder = Power()
    sw = power.Switch(2, tmp_path / "power.log", tmp_path / "power.unplugged", power=recorder, post=0, off_delay=0)
    server = power.serve(tmp_path / "power.sock", sw)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sw, recorder, tmp_path
    server.shutdown()
    server.server_close()


def fence(stdin: str, *argv: str, caller: str = "tester") -> subprocess.CompletedProcess:
    """The agent as pacemaker-fenced runs it; ``caller``: the node it runs on (the switch
    logs it, and refuses a caller it has powered off)."""
    return subprocess.run(["/usr/bin/python3", str(AGENT), *argv], input=stdin, capture_output=True, text=True,
                          timeout=30, env={"PATH": "/usr/bin:/bin", "RAOLAB_FENCE_CALLER": caller})


def lines(**kv) -> str:
    return "# pacemaker-fenced writes comments too\n" + "".join(f"{k}={v}\n" for k, v in kv.items())


def test_off_returns_0_only_once_the_node_is_verified_off(switch):
    sw, recorder, d = switch
    proc = fence(lines(action="off", port="node2", switch=d / "power.sock", nodename="node2", unknown_key="x"))
    assert proc.returncode == 0, proc.stderr
    assert recorder.calls[:2] == [("crash", "node2"), ("state", "node2")] and not recorder.on["node2"]
    entry = power.read_log(d / "power.log")[-1]
    assert (entry["action"], entry["target"], entry["result"], entry["detail"]) == ("off", "node2", "ok", "verified off")
    assert entry["caller"] == "tester" and entry["time"] > 0


def test_an_off_the_switch_cannot_verify_fails(switch):
    sw, recorder, d = switch
    recorder.stuck.add("node1")
    proc = fence(lines(action="off", port="node1", switch=d / "power.sock"))
    assert proc.returncode == 1 and "node1 still runs after the power cut" in proc.stderr
    assert power.read_log(d / "power.log")[-1]["result"] == "error"


def test_status_is_0_on_2_off_and_reboot_boots_the_node_again(switch):
    sw, recorder, d = switch
    sock = d / "power.sock"
    assert fence(lines(action="status", port="node1", switch=sock)).returncode == 0
    assert fence(lines(action="off", port="node1", switch=sock)).returncode == 0
    assert fence(lines(action="status", port="node1", switch=sock)).returncode == 2
    assert fence(lines(action="reboot", plug="node1", switch=sock)).returncode == 0
    assert recorder.on["node1"]
    assert [e["action"] for e in power.read_log(d / "power.log")] == ["status", "off", "status", "reboot"]
    assert power.read_log(d / "power.log")[-1]["detail"] == "verified off, then booted"


def test_list_monitor_and_the_command_line(switch):
    sw, recorder, d = switch
    proc = fence(lines(action="list", switch=d / "power.sock"))
    assert (proc.returncode, proc.stdout) == (0, "node1\nnode2\n")
    assert fence(lines(action="monitor", switch=d / "power.sock")).returncode == 0
    proc = fence("", "-o", "status", "-n", "node2", "-s", str(d / "power.sock"))
    assert proc.returncode == 0, proc.stderr


def test_an_unplugged_switch_fails_every_power_action_but_answers_status(switch):
    sw, recorder, d = switch
    (d / "power.unplugged").touch()
    proc = fence(lines(action="reboot", port="node2", switch=d / "power.sock"))
    assert proc.returncode == 1 and "unplugged" in proc.stderr
    assert recorder.on["node2"] and ("crash", "node2") not in recorder.calls
    assert fence(lines(action="status", port="node2", switch=d / "power.sock")).returncode == 0


@pytest.mark.parametrize("args,why", [
    (dict(action="off"), "needs the node to act on"),
    (dict(action="off", port="node9"), "no node 'node9' on this switch"),
    (dict(action="dance", port="node1"), "unknown action 'dance'"),
])
def test_bad_input_gets_the_api_error_code_and_a_clear_message(switch, args, why):
    sw, recorder, d = switch
    proc = fence(lines(switch=d / "power.sock", **args))
    assert proc.returncode == 1 and why in proc.stderr, proc.stderr
    assert not any(c[0] in ("crash", "revive") for c in recorder.calls)


def test_a_switch_that_does_not_answer_is_a_failure_and_monitor_says_so(tmp_path):
    proc = fence(lines(action="off", port="node1", switch=tmp_path / "none.sock"))
    assert proc.returncode == 1 and "does not answer" in proc.stderr
    assert fence(lines(action="monitor", switch=tmp_path / "none.sock")).returncode == 1


def test_the_switch_answers_garbage_with_an_error_and_keeps_serving(switch):
    import socket
    sw, recorder, d = switch
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(d / "power.sock"))
        s.sendall(b"\x00\xffgarbage\n")
        assert s.recv(200).startswith(b"error expected 'ACTION TARGET CALLER'")
    assert fence(lines(action="status", port="node1", switch=d / "power.sock")).returncode == 0


def test_metadata_names_the_actions_and_a_port_parameter():
    proc = fence(lines(action="metadata"))
    assert proc.returncode == 0
    root = ET.fromstring(proc.stdout)
    assert root.get("name") == "fence_raolab"
    assert {a.get("name") for a in root.iter("action")} >= {"on", "off", "reboot", "status", "list", "monitor",
                                                             "metadata", "validate-all"}
    assert "port" in {p.get("name") for p in root.iter("parameter")}   # pacemaker's pcmk_host_argument
    assert fence(lines(action="validate-all", port="node1", switch="relative.sock")).returncode == 1
    assert fence(lines(action="validate-all", port="node1", switch="/tmp/x.sock")).returncode == 0


def test_a_node_that_lost_the_race_fences_no_one(switch):
    """Two nodes fence each other at once: the switch serves one request at a time, and the
    second comes from a node the first powered off (its agent's request was already queued)."""
    sw, recorder, d = switch
    assert sw.handle("off node2 node1").startswith("ok")
    assert sw.handle("off node1 node2") == "error the caller node2 is powered off"
    assert recorder.on["node1"] and not recorder.on["node2"]


def test_the_caller_is_this_node_unless_named(switch):
    import os
    sw, recorder, d = switch
    assert fence(lines(action="status", port="node1", switch=d / "power.sock"), caller="").returncode == 0
    assert power.read_log(d / "power.log")[-1]["caller"] == os.uname().nodename


def test_the_log_orders_a_reboot_by_its_verified_off(switch):
    """Drills order the survivor's starts after the moment the off was verified."""
    sw, recorder, d = switch
    assert sw.handle("reboot node2 node1") == "ok verified off, then booted"
    entry = power.read_log(d / "power.log")[-1]
    # each of the three is rounded to the millisecond on its own: together they may be 1 ms off
    # (the suite once saw off_verified 1 ms past time + took)
    slack = 0.0015
    assert entry["time"] - slack <= entry["off_verified"] <= entry["time"] + entry["took"] + slack, entry
    assert sw.handle("status node2 node1") == "ok on"
    assert "off_verified" not in power.read_log(d / "power.log")[-1]


def test_a_dead_controller_is_powered_on_but_does_not_boot(switch):
    """A node lost for good (Cluster.crash(stays_down=True)): a fencer's reboot succeeds (the
    off is verified) and leaves it down; without the marker it boots again."""
    sw, recorder, d = switch
    sw.dead("node2").touch()
    assert sw.handle("reboot node2 node1").startswith("ok verified off, then powered on, but it does not boot")
    assert not recorder.on["node2"] and ("revive", "node2") not in recorder.calls
    sw.dead("node2").unlink()
    assert sw.handle("on node2 lab") == "ok booted" and recorder.on["node2"]


def test_fencing_actions_leave_out_the_lab_hand_and_the_queries(tmp_path):
    from raolab import fencing
    log = tmp_path / "power.log"
    sw = power.Switch(2, log, tmp_path / "power.unplugged", power=Power(), post=0, off_delay=0)
    for line in ("off node2 lab", "status node1 node2", "list - node2", "on node2 lab", "reboot node2 node1",
                 "off node1 node2"):
        sw.handle(line)
    assert [(r["caller"], r["action"], r["target"]) for r in fencing.actions(log)] == \
        [("node1", "reboot", "node2"), ("node2", "off", "node1")]
    assert [r["action"] for r in fencing.fenced(log, "node2")] == ["reboot"]
    assert fencing.fenced(log, "node2", since=power.read_log(log)[-1]["time"] + 1) == []


def test_the_lab_loads_devices_and_properties_in_one_commit():
    from raolab import fencing
    two = fencing.crm(2, Path("/tmp/x/power.sock"), "property cib-bootstrap-options: \\\n    stonith-enabled=true\n")
    assert two.count("primitive fence-node") == 2 and "stonith-enabled=true" in two
    assert "location fence-node1-elsewhere fence-node1 -inf: node1" in two
    three = fencing.crm(3, Path("/tmp/x/power.sock"))
    assert three.count("primitive fence-node") == 3 and "stonith-enabled=true" in three
    assert "priority-fencing-delay" not in three          # the majority fences: no race to win
    with pytest.raises(ValueError):
        fencing.crm(2, Path("/tmp/x/power.sock"))
    assert "stonith-enabled=false" in fencing.no_fencing_crm()
    shipped = (Path(__file__).resolve().parents[2] / "crm" / fencing.TWO_NODE_PROPERTIES).read_text()
    assert "stonith-enabled=true" in shipped and "no-quorum-policy" not in shipped.split("property", 1)[1]


def test_a_fencer_power_on_boots_after_the_post_the_lab_at_once(tmp_path):
    """A fenced node is not back before its peers saw it leave (corosync's token): the
    fencer's reboot answers at once, the node boots POST seconds later (logged by the
    switch itself); the lab's own power-on boots at once."""
    import time
    recorder = Power()
    sw = power.Switch(2, tmp_path / "power.log", tmp_path / "power.unplugged", power=recorder, post=0.3, off_delay=0)
    assert sw.handle("reboot node2 node1") == "ok verified off, then powered on, boots in 0s"
    assert not recorder.on["node2"]
    deadline = time.monotonic() + 5
    while not recorder.on["node2"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.on["node2"]
    time.sleep(0.1)
    boot = power.read_log(tmp_path / "power.log")[-1]
    assert (boot["caller"], boot["action"], boot["target"], boot["result"]) == ("switch", "boot", "node2", "ok")
    assert sw.handle("off node1 lab").startswith("ok") and sw.handle("on node1 lab") == "ok booted"
    from raolab import fencing
    assert [r["action"] for r in fencing.actions(tmp_path / "power.log")] == ["reboot"]


def test_a_fencer_off_takes_the_time_of_a_bmc_the_lab_crash_none(tmp_path):
    import time
    sw = power.Switch(2, tmp_path / "power.log", tmp_path / "power.unplugged", power=Power(), post=0, off_delay=0.4)
    t0 = time.monotonic()
    assert sw.handle("off node2 node1") == "ok verified off"
    assert time.monotonic() - t0 >= 0.4
    t0 = time.monotonic()
    assert sw.handle("off node1 lab") == "ok verified off"
    assert time.monotonic() - t0 < 0.4
