#!/usr/bin/python3
"""Run haproxy/haproxy.cfg for real, in a private network namespace, against fake controllers.

    unshare --net --fork --kill-child /usr/bin/python3 haproxy_netns.py CONFIG WORKDIR

prints one JSON object (the measurements) on stdout; test_haproxy_example.py asserts on it.
Inside the namespace, 192.0.2.11-13 (the file's placeholder controllers) are addresses on
lo, each served by one fake controller process that answers Keystone's port 4990 and
Glance's port 9282 the way the real services do for HAProxy: GET /healthcheck is 200, any
other request is 200 with the controller's name, after the delay asked for in the
X-Test-Delay header. Each request is logged with its X-Test-Id, so the driver counts how
many controllers one client request reached. Port 4993 of each address is a scripted
agent-check responder (FakeAgent, threads of the driver), standing for
ocf:openstack:agent-check: it reads the backend's name HAProxy sends (agent-send), answers
what the scenario set for that backend ("up", "down #reason", garbage, nothing) and
closes, logging each query; it can be stopped (the port refuses). The config is used as
shipped, except its stats socket (moved into WORKDIR: the host's /run/haproxy is not
ours), its log (to stdout, WORKDIR/haproxy-N.log) and `-db` (no daemon). Nothing outlives
the driver: every child gets PR_SET_PDEATHSIG, and the namespace disappears with its last
process.

Scenarios, in order, one HAProxy run: start without and with ip_nonlocal_bind; healthy;
slow requests (replays); a stopped controller; a hung one; then the agents
(agent_scenarios): one agent says down for keystone only, then up, under load; answers
that must change nothing (agent unreachable after down and after up, connections closed
without a reply, never answered, garbage); the operator's maint while the agent says up
(and, to show the agent is asked meanwhile, maint undone by an agent that says ready).
Every time in the result is seconds on the driver's clock (Drill.now), so requests, agent
queries and HAProxy's state changes can be ordered.
"""

import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

VIP = "192.0.2.10"
CONTROLLERS = {"ctl1": "192.0.2.11", "ctl2": "192.0.2.12", "ctl3": "192.0.2.13"}
BACKEND_PORTS = {"keystone": 4990, "glance-api": 9282}
FRONTEND_PORTS = {"keystone": 5000, "glance-api": 9292}
STATS_SOCKET = "stats socket /run/haproxy/admin.sock"
PR_SET_PDEATHSIG = 1


# ---------------------------------------------------------------- a fake controller

def serve_controller(name: str, addr: str, log_path: str) -> None:
    """Answer both services' ports on ``addr`` until killed (runs in its own process)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if self.path == "/healthcheck":
                body = b"OK"
            else:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with lock, open(log_path, "a") as log:
                    log.write(f"{name} {self.headers.get('X-Test-Id', '-')}\n")
                time.sleep(float(self.headers.get("X-Test-Delay", "0")))
                body = json.dumps({"server": name}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128   # a hung controller's kernel keeps accepting, as uwsgi's does

        def handle_error(self, request, client_address) -> None:
            pass                   # HAProxy hangs up on retried and timed-out requests

    servers = [Server((addr, port), Handler) for port in BACKEND_PORTS.values()]
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    servers[0].serve_forever()


# ---------------------------------------------------------------- a fake agent-check responder

AGENT_PORT = 4993
CLOSE = "<close>"     # an action: close the connection without a reply
SILENT = "<silent>"   # an action: keep the connection open, never reply (HAProxy gives up)


class FakeAgent:
    """What ocf:openstack:agent-check is to HAProxy, scripted: it listens on port 4993 of one
    controller's address, reads the backend's name (agent-send "keystone\\n"), replies what
    the scenario set for that backend and closes. Each backend's script is a list of actions,
    used in turn, one per connection: a reply line ("up", "down #why", garbage), CLOSE or
    SILENT. ``stop()`` closes the listening socket: the port refuses, as while Pacemaker
    restarts the agent. Every query is logged (time, backend, action)."""

    def __init__(self, name: str, addr: str, clock: float):
        self.name, self.addr, self.clock = name, addr, clock
        self.script: Dict[str, List[str]] = {backend: ["up"] for backend in BACKEND_PORTS}
        self.served: Dict[str, int] = {backend: 0 for backend in BACKEND_PORTS}
        self.queries: List[Tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.listener: Optional[socket.socket] = None
        self.stopping = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def set(self, backend: str, *actions: str) -> None:
        with self.lock:
            self.script[backend] = list(actions)
            self.served[backend] = 0

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((self.addr, AGENT_PORT))
        self.listener.listen(64)
        self.listener.settimeout(0.05)
        self.stopping.clear()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join()
        if self.listener:
            self.listener.close()
        self.thread = self.listener = None

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"\n" not in data and len(data) < 64:
                    piece = conn.recv(64 - len(data))
                    if not piece:
                        break
                    data += piece
            except OSError:
                return
            backend = data.split(b"\n")[0].decode("ascii", "replace").strip()
            with self.lock:
                actions = self.script.get(backend, [CLOSE])
                action = actions[self.served.get(backend, 0) % len(actions)]
                if backend in self.served:
                    self.served[backend] += 1
                self.queries.append((round(time.monotonic() - self.clock, 3), backend, action))
            try:
                if action == SILENT:
                    conn.recv(1)   # until HAProxy gives up and closes (timeout check)
                elif action != CLOSE:
                    conn.sendall(action.encode("latin-1") + b"\n")
            except OSError:
                pass


# ---------------------------------------------------------------- the driver

def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


class Drill:
    def __init__(self, config: Path, workdir: Path):
        self.workdir = workdir
        self.log = workdir / "requests.log"
        self.log.write_text("")
        self.sock = workdir / "admin.sock"
        text = config.read_text()
        if text.count(STATS_SOCKET) != 1:
            raise SystemExit(f"expected one '{STATS_SOCKET}' line in {config}")
        self.config = workdir / "haproxy.cfg"
        # HAProxy's log (one line per request) to its stdout, i.e. WORKDIR/haproxy-N.log
        logs = "    log /dev/log local0\n    log /dev/log local1 notice\n"
        if text.count(logs) != 1:
            raise SystemExit(f"expected Debian's two global log lines in {config}")
        text = text.replace(logs, "    log stdout format raw local0\n")
        self.config.write_text(text.replace(STATS_SOCKET, f"stats socket {self.sock}"))
        self.runs = 0
        self.controllers: Dict[str, subprocess.Popen] = {}
        self.haproxy: Optional[subprocess.Popen] = None
        self.clock = time.monotonic()   # every time in the result is seconds since this
        self.agents = {name: FakeAgent(name, addr, self.clock) for name, addr in CONTROLLERS.items()}

    def now(self) -> float:
        return round(time.monotonic() - self.clock, 3)

    # -- processes

    def start_controller(self, name: str) -> None:
        self.controllers[name] = subprocess.Popen(
            [sys.executable, __file__, "--controller", name, CONTROLLERS[name], str(self.log)],
            preexec_fn=_die_with_parent)
        for port in BACKEND_PORTS.values():
            self._wait_port(CONTROLLERS[name], port)

    def start_haproxy(self) -> subprocess.CompletedProcess:
        """Start HAProxy in the foreground; if it exits within 2 s, that is the result."""
        self.runs += 1
        log = self.workdir / f"haproxy-{self.runs}.log"
        with open(log, "w") as out:
            self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)],
                                            preexec_fn=_die_with_parent, stdout=out, stderr=subprocess.STDOUT)
        try:
            self.haproxy.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        return subprocess.CompletedProcess(self.haproxy.args, self.haproxy.poll(), log.read_text())

    def stop_all(self) -> None:
        for agent in self.agents.values():
            agent.stop()
        for proc in [self.haproxy, *self.controllers.values()]:
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()

    @staticmethod
    def _wait_port(addr: str, port: int, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((addr, port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # -- HAProxy's view

    def admin(self, command: str) -> str:
        """One command on HAProxy's admin socket; its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.sock))
            s.sendall(command.encode() + b"\n")
            return b"".join(iter(lambda: s.recv(65536), b"")).decode()

    def stats(self) -> Dict[str, Dict[str, str]]:
        """'keystone/ctl1' -> its row of `show stat` (the CSV's columns by name)."""
        lines = self.admin("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {f"{r['pxname']}/{r['svname']}": r for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")}

    def server_status(self) -> Dict[str, str]:
        """'keystone/ctl1' -> UP, DOWN, ... from the stats socket."""
        return {server: row["status"] for server, row in self.stats().items()}

    def watch_down(self, servers: List[str],
                   timeout: float) -> Tuple[threading.Thread, Dict[str, Optional[float]]]:
        """A started thread that fills the dict: for each of ``servers``, the seconds from now
        until HAProxy marks it DOWN (None: not within ``timeout``)."""
        since = time.monotonic()
        found: Dict[str, Optional[float]] = {server: None for server in servers}

        def poll() -> None:
            while time.monotonic() - since < timeout and None in found.values():
                status = self.server_status()
                for server in servers:
                    if found[server] is None and status.get(server, "").startswith("DOWN"):
                        found[server] = round(time.monotonic() - since, 2)
                time.sleep(0.05)

        watcher = threading.Thread(target=poll)
        watcher.start()
        return watcher, found

    def wait_all_up(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.server_status()
            if status and all(v.startswith("UP") for v in status.values()):
                return
            time.sleep(0.1)
        raise SystemExit(f"not all servers UP: {self.server_status()}")

    # -- clients

    def request(self, service: str, method: str, path: str, test_id: str, delay: float = 0,
                body_pause: float = 0) -> dict:
        """One client request through the floating IP: status, seconds, who answered, and how
        many controllers received it. ``body_pause``: seconds between the headers and the body."""
        headers = {"X-Test-Id": test_id, "X-Test-Delay": str(delay)}
        # as keystoneauth1 (urllib3, http.client) sends one: headers, then the body
        body = b'{"auth": {}}' if method in ("POST", "PUT", "PATCH") else None
        t0 = time.monotonic()
        start = self.now()
        conn = http.client.HTTPConnection(VIP, FRONTEND_PORTS[service], timeout=30)
        try:
            if body_pause and body:
                conn.putrequest(method, path)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    conn.putheader(name, value)
                conn.endheaders()
                time.sleep(body_pause)
                conn.send(body)
            else:
                conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            status = resp.status
        except OSError as err:
            status, body = 0, str(err).encode()
        finally:
            conn.close()
        seconds = time.monotonic() - t0
        server = json.loads(body).get("server") if status == 200 else None
        return {"id": test_id, "service": service, "method": method, "path": path, "status": status,
                "seconds": round(seconds, 3), "server": server, "attempts": self.attempts(test_id),
                "start": start, "end": self.now()}

    def attempts(self, test_id: str) -> List[str]:
        """The controllers that received the request ``test_id``, in order."""
        lines = (line.split() for line in self.log.read_text().splitlines())
        return [words[0] for words in lines if words[1:] == [test_id]]

    def stream(self, service: str, seconds: float, prefix: str, method: str = "GET",
               path: str = "/v3/projects", workers: int = 4, until: Optional[threading.Event] = None) -> List[dict]:
        """Requests back to back from ``workers`` clients for ``seconds`` (or until ``until`` is set)."""
        stop = time.monotonic() + seconds

        def client(n: int) -> List[dict]:
            out, i = [], 0
            while time.monotonic() < stop and not (until and until.is_set()):
                out.append(self.request(service, method, path, f"{prefix}-{n}-{i}"))
                i += 1
            return out

        with ThreadPoolExecutor(workers) as pool:
            return [r for rs in pool.map(client, range(workers)) for r in rs]

    def background(self, *streams: Tuple[str, str, str]) -> Tuple[threading.Event, ThreadPoolExecutor, list]:
        """Streams (service, prefix, path) that run until the returned event is set; the
        futures give their requests."""
        done = threading.Event()
        pool = ThreadPoolExecutor(len(streams))
        futures = [pool.submit(self.stream, service, 120, prefix, path=path, workers=3, until=done)
                   for service, prefix, path in streams]
        return done, pool, futures

    def wait_status(self, server: str, prefix: str, timeout: float) -> Tuple[Optional[float], Dict[str, str]]:
        """Poll the stats until ``server``'s status starts with ``prefix``: the time (None: not
        within ``timeout``) and its stats row then."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.stats()[server]
            if row["status"].startswith(prefix):
                return self.now(), row
            if time.monotonic() > deadline:
                return None, row
            time.sleep(0.05)

    def watch_states(self, seconds: float) -> Dict[str, List[str]]:
        """Every status each server showed during ``seconds`` (stats polled every 0.05 s)."""
        seen: Dict[str, List[str]] = {}
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            for server, status in self.server_status().items():
                if status not in seen.setdefault(server, []):
                    seen[server].append(status)
            time.sleep(0.05)
        return seen


def run(config: Path, workdir: Path) -> dict:
    result: dict = {}
    sh("ip", "link", "set", "lo", "up")
    for addr in CONTROLLERS.values():
        sh("ip", "addr", "add", f"{addr}/32", "dev", "lo")
    drill = Drill(config, workdir)
    try:
        for name in CONTROLLERS:
            drill.start_controller(name)
            drill.agents[name].start()

        # 1. No ip_nonlocal_bind, no floating IP on this node: HAProxy cannot start.
        sh("sysctl", "-w", "net.ipv4.ip_nonlocal_bind=0")
        first = drill.start_haproxy()
        result["without_nonlocal_bind"] = {"rc": first.returncode, "output": first.stdout[-600:]}
        if first.returncode is None:
            return result
        # 2. With it, HAProxy starts without the IP; the IP arrives later (IPaddr2's job).
        sh("sysctl", "-w", "net.ipv4.ip_nonlocal_bind=1")
        started = drill.start_haproxy()
        result["with_nonlocal_bind"] = {"rc": started.returncode, "output": started.stdout[-600:]}
        if started.returncode is not None:
            return result
        drill.wait_all_up()
        sh("ip", "addr", "add", f"{VIP}/32", "dev", "lo")

        # 3. All healthy.
        result["healthy"] = (drill.stream("keystone", 1.0, "healthy")
                             + drill.stream("glance-api", 1.0, "healthy-g", path="/v2/images"))

        # 4. Slow requests (every controller): what is replayed, on how many, how long it takes.
        cases = [("keystone", "GET", "/v3/projects", 3), ("keystone", "POST", "/v3/auth/tokens", 2),
                 ("keystone", "POST", "/v3/auth/tokens", 4), ("keystone", "GET", "/v3/auth/tokens", 2),
                 ("keystone", "POST", "/v3/users", 3), ("keystone", "PATCH", "/v3/users/u1", 3),
                 ("glance-api", "GET", "/v2/images", 4), ("glance-api", "POST", "/v2/images", 3),
                 ("glance-api", "GET", "/v2/images/i1/file", 3),
                 ("glance-api", "PUT", "/v2/images/i1/file", 3),
                 ("keystone", "GET", "/v3/projects", 0.5)]
        with ThreadPoolExecutor(len(cases) + 1) as pool:
            slow = [pool.submit(drill.request, svc, method, path, f"slow-{svc}-{method}-{path}-{delay}", delay)
                    for svc, method, path, delay in cases]
            # the body 0.2 s after the headers: still replayed (option http-buffer-request)
            slow.append(pool.submit(drill.request, "keystone", "POST", "/v3/auth/tokens", "slow-paused-body",
                                    4, 0.2))
            result["slow"] = [f.result() for f in slow]

        # 5. A stopped controller (its ports refuse): no client error, no delay, even for
        #    requests that are never replayed (nothing was sent).
        drill.controllers["ctl1"].kill()
        drill.controllers["ctl1"].wait()
        watcher, down = drill.watch_down(["keystone/ctl1", "glance-api/ctl1"], 10)
        result["stopped"] = drill.stream("keystone", 1.5, "stopped", method="POST", path="/v3/users")
        watcher.join()
        result["stopped_down_after"] = down
        drill.start_controller("ctl1")
        drill.wait_all_up()

        # 6. A hung controller (SIGSTOP: the kernel accepts connections, nobody answers).
        hung = drill.controllers["ctl2"]
        os.kill(hung.pid, signal.SIGSTOP)
        watcher, down = drill.watch_down(["keystone/ctl2", "glance-api/ctl2"], 15)
        result["hung"] = (drill.stream("keystone", 2.5, "hung")
                          + drill.stream("keystone", 2.5, "hung-token", method="POST", path="/v3/auth/tokens"))
        watcher.join()
        result["hung_down_after"] = down
        result["after_down"] = drill.stream("keystone", 1.0, "after-down")
        os.kill(hung.pid, signal.SIGCONT)
        drill.wait_all_up()

        # 7-9. The agent: down, up, unreachable, garbage, and the operator's maint.
        result.update(agent_scenarios(drill))
    finally:
        drill.stop_all()
    return result


DB_REASON = "database unreachable from this controller (database-watch)"
STATS_FIELDS = ("status", "check_status", "check_desc", "last_chk", "agent_status", "agent_desc", "last_agt",
                "chkdown", "chkfail")


def agent_scenarios(drill: Drill) -> dict:
    """What HAProxy does with the agents' answers, while clients keep going through both
    frontends (3 clients each, back to back). Times are seconds on the drill's clock."""
    result: dict = {}
    a1, a2, a3 = (drill.agents[name] for name in CONTROLLERS)

    def row(server: str, full: Dict[str, str]) -> Dict[str, str]:
        return {"server": server, **{k: full.get(k, "") for k in STATS_FIELDS}}

    def requests(futures) -> List[dict]:
        return [r for f in futures for r in f.result()]

    # 7. ctl1's agent says down for keystone only (its database-watch verdict), then up again.
    done, pool, futures = drill.background(("keystone", "agent-k", "/v3/projects"),
                                           ("glance-api", "agent-g", "/v2/images"))
    time.sleep(0.7)
    down_set = drill.now()
    a1.set("keystone", f"down #{DB_REASON}")
    down_at, down_row = drill.wait_status("keystone/ctl1", "DOWN", 6)
    stats_down = drill.stats()
    time.sleep(1.5)                # down for a while: who gets the requests
    up_set = drill.now()
    a1.set("keystone", "up")
    up_at, up_row = drill.wait_status("keystone/ctl1", "UP", 8)
    time.sleep(1.0)                # back: it receives requests again
    done.set()
    reqs = requests(futures)
    pool.shutdown()
    result["agent_down_up"] = {
        "down_set": down_set, "down_at": down_at, "up_set": up_set, "up_at": up_at, "end": drill.now(),
        "down_row": row("keystone/ctl1", down_row), "up_row": row("keystone/ctl1", up_row),
        "glance_ctl1_when_down": stats_down["glance-api/ctl1"]["status"],
        "queries": [q for q in a1.queries if q[1] == "keystone" and q[0] >= down_set - 1.5],
        "requests": reqs}

    # 8. Answers that must change nothing, each on its own server, from UP and from DOWN:
    #    keystone/ctl1 said down, then its agent stops (the port refuses); glance-api/ctl1
    #    said up, then the same stop; keystone/ctl2 (UP) and glance-api/ctl2 (DOWN) get, one
    #    per agent check, two connections closed without a reply (two: fall 2), then
    #    keystone/ctl2 a connection never answered (HAProxy gives up after timeout check, 1 s)
    #    and an unknown word, glance-api/ctl2 binary bytes and "up?".
    #    9. At the same time the operator puts keystone/ctl3 in maint while its agent says
    #    up; glance-api/ctl3, put in maint too, has an agent that says "ready" (what ours never
    #    says): it shows the agent is asked during maint and could undo it.
    a1.set("keystone", f"down #{DB_REASON}")
    a2.set("glance-api", "down #glance-api failed here (failure watch)")
    before = {server: drill.wait_status(server, "DOWN", 6)[0] for server in ("keystone/ctl1", "glance-api/ctl2")}
    a1.stop()
    try:
        socket.create_connection((CONTROLLERS["ctl1"], AGENT_PORT), timeout=1).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    a2.set("keystone", CLOSE, CLOSE, SILENT, "hello world")
    a2.set("glance-api", CLOSE, CLOSE, "\x00\xfe\xff binary", "up?")
    a3.set("glance-api", "ready")
    maint = {server: drill.admin(f"set server {server} state maint").strip()
             for server in ("keystone/ctl3", "glance-api/ctl3")}
    start = drill.now()
    done, pool, futures = drill.background(("keystone", "junk-k", "/v3/projects"),
                                           ("glance-api", "junk-g", "/v2/images"))
    seen = drill.watch_states(4.4)
    done.set()
    stats_after = drill.stats()
    result["agent_unchanged"] = {
        "down_before": before, "ctl1_refused": refused, "maint_answers": maint, "start": start, "end": drill.now(),
        "seen": seen, "rows": {server: row(server, r) for server, r in stats_after.items()},
        "queries": {name: [q for q in agent.queries if q[0] >= start] for name, agent in drill.agents.items()},
        "requests": requests(futures)}
    pool.shutdown()
    return result


def main() -> int:
    if sys.argv[1] == "--controller":
        serve_controller(*sys.argv[2:5])
        return 0
    _die_with_parent()
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
