"""Shared helpers and fixtures of the unit tests; conftest.py re-exports the fixtures.

Tests import helpers from here: several test trees have a conftest module, so
``from conftest import`` would be ambiguous.

Everything runs on 127.0.0.1 with ephemeral ports and writes only below
pytest's tmp_path. Child processes are always killed in finalizers.
"""

import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# Never write bytecode next to the agents or into /usr/lib/ocf/lib/heartbeat.
sys.dont_write_bytecode = True

AGENTS = Path(__file__).resolve().parents[2] / "agents"  # the executables, and the package in a checkout


def _package_on_pythonpath():
    return any(d and os.path.isdir(os.path.join(d, "ocf_openstack"))
               for d in os.environ.get("PYTHONPATH", "").split(os.pathsep))


# The package build tests its built copy (PYTHONPATH={build_dir}); a checkout tests agents/.
if not _package_on_pythonpath():
    sys.path.insert(0, str(AGENTS))

# the lab's own logic (raolab) has unit tests too
LAB = Path(__file__).resolve().parents[2] / "lab"
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))

import ocf_openstack  # noqa: E402

PACKAGE_ROOT = Path(ocf_openstack.__file__).resolve().parents[1]  # PYTHONPATH for agent subprocesses

OCF_PY = "/usr/lib/ocf/lib/heartbeat/ocf.py"
PASSWORD = "Sup3r-S3cret-pw"  # never to be seen on stderr or in logs

# Really root (fakeroot only pretends, and spawn() then runs as the build user).
IS_ROOT = os.geteuid() == 0 and "FAKEROOTKEY" not in os.environ
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: spawn() switches user and drops groups")
needs_root_for_nobody = pytest.mark.skipif(
    not IS_ROOT, reason="needs root: judges a file's readability for user nobody, which root can arrange")
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def current_account():
    """The passwd entry of the current user (a build chroot may map a uid without one)."""
    import pwd
    try:
        return pwd.getpwuid(os.getuid())
    except KeyError:
        pytest.skip(f"uid {os.getuid()} has no passwd entry")


def current_group(account):
    import grp
    try:
        return grp.getgrgid(account.pw_gid).gr_name
    except KeyError:
        pytest.skip(f"gid {account.pw_gid} has no group entry")


def wait_for(predicate, timeout=3.0, interval=0.01):
    """Poll until predicate() is truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


# ---------------------------------------------------------------- ocf.py

@pytest.fixture
def ocf_lib():
    """resource-agents' ocf.py must be installed for tests that go through Reporter."""
    if "ocf" not in sys.modules and not os.path.isfile(OCF_PY):
        pytest.skip(f"resource-agents not installed ({OCF_PY} missing)")


# ---------------------------------------------------------------- processes

class Children:
    """Child processes of a test, each in its own session; killed at teardown."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kwargs):
        from ocf_openstack.host import process
        proc = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        self.procs.append(proc)
        # Popen returns once exec is past the point of no return, but /proc/<pid>/cmdline
        # stays empty until the kernel has set up the new stack: wait for it.
        wait_for(lambda: proc.poll() is not None or not process.alive(process.proc_info(proc.pid))
                 or process.proc_info(proc.pid).argv, timeout=2)
        return proc

    def cleanup(self):
        from ocf_openstack.host import process
        for proc in self.procs:
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait(5)
            # Orphans of a reaped leader keep its group ID (the kernel does
            # not reuse it while they live); only ever kill our own `sleep`s.
            for pid in process.group_members(proc.pid):
                info = process.proc_info(pid)
                if info and info.argv and os.path.basename(info.argv[0]) == "sleep":
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


@pytest.fixture
def children():
    kids = Children()
    yield kids
    kids.cleanup()


@pytest.fixture
def daemon(children, tmp_path):
    """A `sleep 30` session leader recorded in a pidfile: (Popen, pidfile path)."""
    from ocf_openstack.host import process
    proc = children.start(["sleep", "30"])
    pidfile = str(tmp_path / "daemon.pid")
    process.write_pidfile(pidfile, proc.pid)
    return proc, pidfile


# ---------------------------------------------------------------- network

def _loopback_works():
    """A connection to 127.0.0.1 works (in a new network namespace lo is down: bind works, connect not)."""
    try:
        with socket.socket() as server, socket.socket() as client:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            client.settimeout(2)
            client.connect(server.getsockname())
        return True
    except OSError:
        return False


LOOPBACK = _loopback_works()


def need_loopback():
    if not LOOPBACK:
        pytest.skip("127.0.0.1 is not usable here (network namespace with lo down?)")


def free_port():
    """A loopback port that nothing listens on (bound, then closed)."""
    need_loopback()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeHTTP:
    """A real HTTP server on 127.0.0.1 in a thread; routes map (method, path) to a reply.

    A reply is (status, body bytes or JSON-able, headers) or a callable
    taking (handler, request body bytes) and returning such a tuple.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, body))
                reply = fake.routes.get((self.command, self.path)) or fake.routes.get(
                    (self.command, self.path.split("?")[0]), (404, b"not found", {}))
                if callable(reply):
                    reply = reply(self, body)
                status, payload, headers = reply
                if not isinstance(payload, bytes):
                    payload = json.dumps(payload).encode()
                    headers = {"Content-Type": "application/json", **headers}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _reply

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_server():
    need_loopback()
    server = FakeHTTP()
    yield server
    server.close()


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections (kernel backlog) and never answers."""
    need_loopback()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def raw_server():
    """Factory: serve(fn) runs fn(conn) for every accepted connection, in a thread."""
    need_loopback()
    socks, stop = [], threading.Event()

    def serve(fn):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.1)
        socks.append(sock)

        def loop():
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except (socket.timeout, OSError):
                    continue
                with conn:
                    try:
                        fn(conn, stop)
                    except OSError:
                        pass

        threading.Thread(target=loop, daemon=True).start()
        return sock.getsockname()[1]

    yield serve
    stop.set()
    for sock in socks:
        sock.close()


# ---------------------------------------------------------------- fake Keystone

def token_body(region="RegionOne", keystone_url="http://127.0.0.1:5000", expires_at="2099-01-01T00:00:00.000000Z"):
    """A minimal Keystone v3 token response with an identity endpoint in ``region``."""
    return {"token": {
        "methods": ["password"],
        "expires_at": expires_at,
        "issued_at": "2024-01-01T00:00:00.000000Z",
        "user": {"id": "u1", "name": "monitor", "domain": {"id": "default", "name": "Default"}},
        "project": {"id": "p1", "name": "service", "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "r1", "name": "reader"}],
        "catalog": [{"type": "identity", "name": "keystone", "id": "s1", "endpoints": [
            {"id": "e1", "interface": "public", "region": region, "region_id": region,
             "url": keystone_url + "/v3"}]}],
    }}


class FakeKeystone:
    """Routes that make a FakeHTTP answer like Keystone: issue, validate, revoke tokens.

    Tokens are "tok-1", "tok-2", ... in issue order; ``valid`` holds those not revoked.
    ``validate_status`` other than 200 answers every validation with that status.
    """

    expires_at = "2099-01-01T00:00:00.000000Z"
    validate_status = 200

    def __init__(self, server, token_status=201, echo_password_in_error=False, region="RegionOne"):
        self.server = server
        self.token_status = token_status
        self.echo_password_in_error = echo_password_in_error
        self.region = region
        self.issued = []
        self.valid = set()
        server.routes[("GET", "/healthcheck")] = (200, b"OK", {})
        server.routes[("GET", "/v3")] = (200, {"version": {"id": "v3.14", "status": "stable"}}, {})
        server.routes[("POST", "/v3/auth/tokens")] = self._issue
        server.routes[("GET", "/v3/auth/tokens")] = self._validate

    def _issue(self, handler, body):
        if self.token_status == 201:
            token = f"tok-{len(self.issued) + 1}"
            self.issued.append(token)
            self.valid.add(token)
            return 201, token_body(self.region, self.server.url, self.expires_at), {"X-Subject-Token": token}
        message = "The request you have made requires authentication."
        if self.echo_password_in_error:  # a worst-case server that repeats what it got
            message += " " + body.decode(errors="replace")
        title = "Unauthorized" if self.token_status == 401 else "Error"
        return self.token_status, {"error": {"code": self.token_status, "message": message, "title": title}}, {}

    def _validate(self, handler, body):
        if handler.headers.get("X-Auth-Token") not in self.valid:
            return 401, {"error": {"code": 401, "message": "unauthorized", "title": "Unauthorized"}}, {}
        if self.validate_status != 200:
            return self.validate_status, {"error": {"code": self.validate_status, "message": "no",
                                                    "title": "Forbidden"}}, {}
        subject = handler.headers.get("X-Subject-Token")
        if subject not in self.valid:
            return 404, {"error": {"code": 404, "message": "Could not find token", "title": "Not Found"}}, {}
        return 200, token_body(self.region, self.server.url, self.expires_at), {"X-Subject-Token": subject}

    def authorized(self, handler) -> bool:
        """Whether a request to another service carries a token Keystone would accept."""
        return handler.headers.get("X-Auth-Token") in self.valid

    def revoke_all(self):
        self.valid.clear()

    def requests(self, method, path):
        return [r for r in self.server.requests if r[0] == method and r[1].split("?")[0] == path]


def keystone_routes(server, token_status=201, echo_password_in_error=False, region="RegionOne"):
    """Make ``server`` answer /healthcheck, /v3 and /v3/auth/tokens like Keystone."""
    return FakeKeystone(server, token_status, echo_password_in_error, region)


@pytest.fixture
def no_osprofiler():
    """Forget osprofiler in sys.modules for the test, and restore the previous state after."""
    missing = object()
    saved = sys.modules.pop("osprofiler", missing)
    yield
    sys.modules.pop("osprofiler", None)
    if saved is not missing:
        sys.modules["osprofiler"] = saved


# ---------------------------------------------------------------- running the agent

SLEEP = shutil.which("sleep") or "/bin/sleep"  # what the `daemon` fixture runs


def run(spec, action, env, capsys):
    """agent.main in this process: (exit code, stdout, stderr); never a traceback on stderr."""
    from ocf_openstack.engine import agent
    out = io.StringIO()
    rc = agent.main(spec, ["agent", action], env=env, out=out)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, out.getvalue(), err


def reason(err):
    """The last ocf-exit-reason line of stderr (there must be one)."""
    lines = [line for line in err.splitlines() if line.startswith("ocf-exit-reason:")]
    assert lines, f"no exit reason in {err!r}"
    return lines[-1]


def depth10_env(env):
    """``env`` (changed in place) asking for the depth-10 check, with credentials and debug logging."""
    env.update(OCF_CHECK_LEVEL="10", OCF_RESKEY_os_username="monitor",
               OCF_RESKEY_os_password=PASSWORD, OCF_RESKEY_os_project_name="service", HA_debug="1")
    return env


# ---------------------------------------------------------------- agent environment

@pytest.fixture
def agent_env(tmp_path):
    """A minimal OCF environment; the pidfile and HA_RSCTMP live in tmp_path."""
    return {
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESOURCE_INSTANCE": "unit",
        "HA_RSCTMP": str(tmp_path),
        "OCF_RESKEY_pid": str(tmp_path / "unit.pid"),
        # never the real services' ports (9292, 5000) that may be serving on this machine
        "OCF_RESKEY_url": f"http://127.0.0.1:{free_port() if LOOPBACK else 9}",
        "OCF_RESKEY_CRM_meta_timeout": "5000",
        "OCF_RESKEY_watch": "false",   # test_watcher turns the failure watcher on where it tests it
    }


@pytest.fixture
def monitored(daemon, agent_env, http_server):
    """A running `sleep` daemon whose /healthcheck (a fake server) answers 200: (Popen, env).

    A recurring monitor (interval 10 s), not a probe.
    """
    proc, pidfile = daemon
    http_server.routes[("GET", "/healthcheck")] = (200, b"OK", {})
    agent_env.update(OCF_RESKEY_pid=pidfile, OCF_RESKEY_binary=SLEEP, OCF_RESKEY_url=http_server.url,
                     OCF_RESKEY_CRM_meta_interval="10000")
    return proc, agent_env
