"""The lab's power switch: what a fence device is to a real controller (LAB ONLY).

One process per lab (pcmk-cluster.sh starts it with the nodes when POWER=1, and ends it at
teardown) listens on a UNIX socket in the lab's state directory: a channel that is not the
cluster network, so a node cut off from its peers can still be fenced, as an IPMI board can.
lab/fence_raolab (the fence agent pacemaker-fenced runs on a node) sends one line,
``ACTION TARGET CALLER``, and reads one line back, ``ok [WHAT]`` or ``error WHY``:

- ``off``: the node's power is cut as pcmk-cluster.sh's crash does it (its PID namespace
  killed, its link down), for a fencer after OFF_DELAY seconds (a BMC's power-off); ``ok``
  only once its init is verified gone;
- ``on``: the node boots (pcmk-cluster.sh revive): a fencer's ``on`` answers at once and
  the node boots after POST seconds (a server's power-on self test; the boot is logged
  with the caller ``switch``), the lab's own (caller ``lab``) boots it at once;
  ``reboot``: off, verified, then on;
- ``status``: ``ok on`` or ``ok off``; ``list``: ``ok node1 node2 ...``.

A node with a ``power.nodeI.dead`` marker beside the log is a dead controller: ``on`` powers
it (``ok``) but it does not boot, so a fencer's reboot leaves it down (drills that lose a
node for good: Cluster.crash(i, stays_down=True); Cluster.revive removes the marker).

Every request is logged as one JSON line (time, caller, action, target, result, detail,
seconds taken, and for an off or a reboot the moment the off was verified) in
``power.log``, so that drills can order events ("the survivor started the IP only after the
switch had verified the off"). Requests are served one at a time, as a
real switch does. ``power.unplugged`` in the state directory makes every power action fail
(a fence device that is down), for the drill that shows what the cluster does then.
"""

import argparse
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

HARNESS = Path(__file__).resolve().parents[1] / "pcmk-cluster.sh"
ACTIONS = ("off", "on", "reboot", "status", "list")
MAX_REQUEST = 256
REQUEST_TIMEOUT = 5.0      # seconds a client has to send its line
OFF_VERIFY = 10.0          # seconds an off waits for the node's init to be gone
LAB_CALLER = "lab"         # the caller named in the log for the lab's own requests (a drill's crash, a boot)
# seconds from a fencer's power-on to the boot: a real server's POST takes minutes; without
# one, a node rebooted in 0.2 s is back before corosync's token has even expired, and the
# survivor never sees it leave (a lab artefact: Pacemaker then waits on a "pending" node)
POST = 10.0
# seconds a fencer's off takes before the power is cut (a BMC's chassis power off, polled
# until off, takes seconds): without it the majority of three fences a cut-off node before
# that node has even noticed it lost quorum, which no real device does
OFF_DELAY = 3.0
HARNESS_TIMEOUT = 15.0     # a crash or a boot takes a second or two; a reboot's worst case 40 s


class Switch:
    """The switch's logic: one request line in, one answer line out, one log line written.
    ``power`` runs a pcmk-cluster.sh command (crash, revive, state) for a node."""

    def __init__(self, nodes: int, log_path: Path, unplugged: Path, power=None, clock=time.time,
                 post: float = POST, off_delay: float = OFF_DELAY) -> None:
        self.names = [f"node{i}" for i in range(1, nodes + 1)]
        self.post, self.off_delay = post, off_delay
        self.log_path, self.unplugged = log_path, unplugged
        self.power = power or _harness
        self.clock = clock
        self.lock = threading.Lock()
        self.verified_off: Optional[float] = None    # when the request being served saw its target off

    def state(self, node: str) -> str:
        ok, out = self.power("state", node)
        return out.strip() if ok and out.strip() in ("on", "off") else "unknown"

    def _off(self, node: str) -> Tuple[bool, str]:
        ok, out = self.power("crash", node)
        deadline = time.monotonic() + OFF_VERIFY
        while time.monotonic() < deadline:
            if self.state(node) == "off":
                self.verified_off = self.clock()
                return True, "verified off"
            time.sleep(0.1)
        return False, f"{node} still runs after the power cut ({out.strip()[-200:]})"

    def dead(self, node: str) -> Path:
        return self.unplugged.with_name(f"power.{node}.dead")

    def _on(self, node: str, post: float = 0.0) -> Tuple[bool, str]:
        if self.state(node) == "on":
            return True, "already on"
        if self.dead(node).exists():
            return True, "powered on, but it does not boot (a dead controller: lab drill)"
        if post > 0:     # the answer now, the boot after the POST (a timer; the lock serialises it)
            timer = threading.Timer(post, self._boot_after_post, args=(node,))
            timer.daemon = True
            timer.start()
            return True, f"powered on, boots in {post:.0f}s"
        return self._boot(node)

    def _boot(self, node: str) -> Tuple[bool, str]:
        ok, out = self.power("revive", node)
        return (True, "booted") if ok else (False, f"{node} did not boot: {out.strip()[-200:]}")

    def _boot_after_post(self, node: str) -> None:
        with self.lock:
            started = self.clock()
            if self.state(node) == "on" or self.dead(node).exists():
                return
            ok, detail = self._boot(node)
        self._log({"time": round(started, 3), "caller": "switch", "action": "boot", "target": node,
                   "result": "ok" if ok else "error", "detail": f"{detail} (after the POST)",
                   "took": round(self.clock() - started, 3)})

    def act(self, action: str, target: str, caller: str = "") -> Tuple[bool, str]:
        if action == "list":
            return True, " ".join(self.names)
        if target not in self.names:
            return False, f"no node {target!r} on this switch (it has {', '.join(self.names)})"
        if action == "status":
            state = self.state(target)
            return (state != "unknown"), state if state != "unknown" else f"the state of {target} is unknown"
        if self.unplugged.exists():
            return False, "the power switch is unplugged (lab drill): it cannot switch anything"
        if caller in self.names and self.state(caller) == "off":
            # a request that was queued while its node lost the race: a dead node fences no one
            return False, f"the caller {caller} is powered off"
        # a fencer's power-on is a server's: the answer at once, the boot after its POST; the
        # lab's own (a drill restoring a node) boots at once
        post = 0.0 if caller == LAB_CALLER else self.post
        if action == "on":
            return self._on(target, post)
        if caller != LAB_CALLER and self.off_delay > 0:
            time.sleep(self.off_delay)      # a fencer's power-off takes a BMC seconds; the node runs on
        if action == "off":
            return self._off(target)
        ok, detail = self._off(target)      # reboot: off, verified, then on
        if not ok:
            return ok, detail
        ok, booted = self._on(target, post)
        return ok, f"{detail}, then {booted}"

    def _log(self, record: dict) -> None:
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def handle(self, line: str) -> str:
        words = line.split()
        started = self.clock()
        verified_off = None
        if len(words) != 3 or words[0] not in ACTIONS:
            ok, detail = False, f"expected 'ACTION TARGET CALLER' with ACTION one of {', '.join(ACTIONS)}"
            action, target, caller = (words + ["?", "?", "?"])[:3]
        else:
            action, target, caller = words
            with self.lock:
                self.verified_off = None
                ok, detail = self.act(action, target, caller)
                verified_off = self.verified_off
        record = {"time": round(started, 3), "caller": caller, "action": action, "target": target,
                  "result": "ok" if ok else "error", "detail": detail,
                  "took": round(self.clock() - started, 3)}
        if verified_off is not None:     # drills order the survivor's starts after this moment
            record["off_verified"] = round(verified_off, 3)
        self._log(record)
        return ("ok " if ok else "error ") + detail


def _harness(command: str, node: str) -> Tuple[bool, str]:
    try:
        proc = subprocess.run(["bash", str(HARNESS), command, node.removeprefix("node")], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=HARNESS_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, str(err)
    return proc.returncode == 0, proc.stdout + proc.stderr


def read_log(path: Path) -> List[dict]:
    """The switch's log: one dict per request, oldest first (none when there is no log)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


class _Handler(socketserver.StreamRequestHandler):
    timeout = REQUEST_TIMEOUT

    def handle(self) -> None:
        try:
            line = self.rfile.readline(MAX_REQUEST).decode(errors="replace")
        except (OSError, socket.timeout):
            return
        answer = self.server.switch.handle(line)    # type: ignore[attr-defined]
        try:
            self.wfile.write(answer.encode() + b"\n")
        except OSError:
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(sock: Path, switch: Switch) -> _Server:
    """Listen on ``sock`` (root only: the nodes' fencers run as root); returns the server."""
    if sock.exists() or sock.is_symlink():
        sock.unlink()
    old = os.umask(0o077)
    try:
        server = _Server(str(sock), _Handler)
    finally:
        os.umask(old)
    server.switch = switch     # type: ignore[attr-defined]
    return server


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="the lab's power switch (started by pcmk-cluster.sh)")
    parser.add_argument("--base", required=True, help="the lab's state directory")
    parser.add_argument("--nodes", type=int, required=True)
    args = parser.parse_args(argv)
    base = Path(args.base)
    switch = Switch(args.nodes, base / "power.log", base / "power.unplugged")
    server = serve(base / "power.sock", switch)
    (base / "power.pid").write_text(f"{os.getpid()}\n")
    print(f"power switch: listening on {base / 'power.sock'} for {', '.join(switch.names)}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
