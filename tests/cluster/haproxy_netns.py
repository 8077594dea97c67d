#!/usr/bin/python3
"""Run haproxy/haproxy.cfg for real, in a private network namespace, against fake controllers.

    unshare --net --fork --kill-child /usr/bin/python3 haproxy_netns.py CONFIG WORKDIR

prints one JSON object (the measurements) on stdout; test_haproxy_example.py asserts on it.
Inside the namespace, 192.0.2.11-13 (the file's placeholder controllers) are addresses on
lo, each served by one fake controller process that answers Keystone's port 4990 and
Glance's port 9282 the way the real services do for HAProxy: GET /healthcheck is 200, any
other request is 200 with the controller's name, after the delay asked for in the
X-Test-Delay header. Each request is logged with its X-Test-Id, so the driver counts how
many controllers one client request reached. The config is used as shipped, except its
stats socket (moved into WORKDIR: the host's /run/haproxy is not ours) and `-db` (no
daemon). Nothing outlives the driver: every child gets PR_SET_PDEATHSIG, and the
namespace disappears with its last process.
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

    def server_status(self) -> Dict[str, str]:
        """'keystone/ctl1' -> UP, DOWN, ... from the stats socket."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.sock))
            s.sendall(b"show stat\n")
            data = b"".join(iter(lambda: s.recv(65536), b""))
        rows = [line.split(",") for line in data.decode().splitlines() if line and not line.startswith("#")]
        return {f"{r[0]}/{r[1]}": r[17] for r in rows if r[1] not in ("FRONTEND", "BACKEND")}

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
                "seconds": round(seconds, 3), "server": server, "attempts": self.attempts(test_id)}

    def attempts(self, test_id: str) -> List[str]:
        """The controllers that received the request ``test_id``, in order."""
        lines = (line.split() for line in self.log.read_text().splitlines())
        return [words[0] for words in lines if words[1:] == [test_id]]

    def stream(self, service: str, seconds: float, prefix: str, method: str = "GET",
               path: str = "/v3/projects", workers: int = 4) -> List[dict]:
        """Requests back to back from ``workers`` clients for ``seconds``."""
        stop = time.monotonic() + seconds

        def client(n: int) -> List[dict]:
            out, i = [], 0
            while time.monotonic() < stop:
                out.append(self.request(service, method, path, f"{prefix}-{n}-{i}"))
                i += 1
            return out

        with ThreadPoolExecutor(workers) as pool:
            return [r for rs in pool.map(client, range(workers)) for r in rs]


def run(config: Path, workdir: Path) -> dict:
    result: dict = {}
    sh("ip", "link", "set", "lo", "up")
    for addr in CONTROLLERS.values():
        sh("ip", "addr", "add", f"{addr}/32", "dev", "lo")
    drill = Drill(config, workdir)
    try:
        for name in CONTROLLERS:
            drill.start_controller(name)

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
    finally:
        drill.stop_all()
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
