"""Unauthenticated HTTP health checks with a hard deadline.

A small HTTP/1.1 GET over a plain socket: the depth-0 monitor runs every few
seconds for the life of the cluster, and http.client alone costs ~20 ms of
imports (``requests`` ~150 ms). The whole exchange, TLS handshake included,
shares one deadline, so a server that trickles bytes can not hold a monitor
past its timeout. ``ssl`` is imported only for https.
"""

import socket
import time
from typing import NamedTuple, Optional, Tuple

from ..ocf.urls import Endpoint, parse_endpoint

BODY_EXCERPT = 80
EMPTY_ANSWER = "an empty answer"
MAX_RESPONSE = 16384


class TLSOptions(NamedTuple):
    ca_file: str = ""
    insecure: bool = False


# What kind of failure a check met. A dead dependency (the database) explains the first
# three in an authenticated call (a service that hangs, closes the connection or answers
# 5xx while its database is gone) and a timeout of the unauthenticated /healthcheck (a uwsgi
# worker blocked on the database); the others are the service's own (or the
# configuration's) fault. A /healthcheck 503 is the service's own verdict (or the
# operator's disable file), never explained away.
TIMEOUT = "timeout"
CLOSED = "closed"              # the connection closed (or reset) without an answer
SERVER_ERROR = "server-error"  # HTTP 5xx
REFUSED = "refused"
REJECTED = "rejected"          # HTTP 4xx, credentials refused
TLS = "tls"
OTHER = "other"
DEPENDENCY_KINDS = frozenset({TIMEOUT, CLOSED, SERVER_ERROR})   # authenticated calls
DEPENDENCY_KINDS_HEALTH = frozenset({TIMEOUT})                 # the /healthcheck


class HealthResult(NamedTuple):
    """The outcome of one check: ``ok`` and what the operator should read.

    ``degraded``: ok for Pacemaker's recovery (restarting this service would not help),
    but something the check depends on is down: the monitor reports OCF_DEGRADED.
    ``kind``: what kind of failure it was (one of the constants above), "" when ok.
    """

    ok: bool
    detail: str
    status: Optional[int] = None
    degraded: bool = False
    kind: str = ""


class _NotHTTP(Exception):
    pass


def ssl_context(tls: TLSOptions):
    """The client TLS context: the system's CAs or ``ca_file``, or none at all if insecure."""
    import ssl

    if tls.insecure:
        return ssl._create_unverified_context()  # the operator asked for it; the agent logs it
    return ssl.create_default_context(cafile=tls.ca_file or None)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        return left


def _connect(endpoint: Endpoint, deadline: _Deadline, tls: TLSOptions) -> socket.socket:
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=deadline.left())
    if endpoint.scheme != "https":
        return sock
    try:
        context = ssl_context(tls)
        sock.settimeout(deadline.left())
        return context.wrap_socket(sock, server_hostname=endpoint.host)
    except BaseException:
        sock.close()
        raise


def _complete(head: bytes, body: bytes) -> bool:
    """Whether the response is all there (by Content-Length or chunked end)."""
    lowered = head.lower()
    for line in lowered.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = line.split(b":", 1)[1].strip()
            if not length.isdigit():
                raise _NotHTTP(f"a bad Content-Length {length[:20]!r}")
            return len(body) >= int(length)
    if b"transfer-encoding: chunked" in lowered:
        return body.endswith(b"0\r\n\r\n")
    return False  # delimited by the server closing the connection


def _exchange(sock: socket.socket, request: bytes, deadline: _Deadline) -> Tuple[int, bytes]:
    sock.settimeout(deadline.left())
    sock.sendall(request)
    data = b""
    while len(data) < MAX_RESPONSE:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep and _complete(head, body):
            break
        sock.settimeout(deadline.left())
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
        raise _NotHTTP(_excerpt(data) or EMPTY_ANSWER)
    return int(status_line[1]), body


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\r", " ").replace("\n", " ")
    return text[:BODY_EXCERPT]


def _tls_problem(err: OSError) -> str:
    """What went wrong in the handshake, in the verifier's words (expired, mismatch, ...)."""
    reason = getattr(err, "reason", None) or str(err)
    verify = getattr(err, "verify_message", None)
    return f"{reason} ({verify})" if verify else reason


def _request(endpoint: Endpoint, path: str) -> bytes:
    return (f"GET {endpoint.path}{path} HTTP/1.1\r\nHost: {endpoint._netloc()}\r\n"
            "Accept: */*\r\nUser-Agent: ocf-openstack\r\nConnection: close\r\n\r\n").encode("ascii")


def check(endpoint: Endpoint, path: str, timeout: float, tls: TLSOptions = TLSOptions()) -> HealthResult:
    """GET ``path`` below the endpoint; healthy means HTTP 200 within ``timeout`` seconds."""
    url = endpoint.url(path)
    try:
        deadline = _Deadline(timeout)
        sock = _connect(endpoint, deadline, tls)
        try:
            status, body = _exchange(sock, _request(endpoint, path), deadline)
        finally:
            sock.close()
    except socket.timeout:
        return HealthResult(False, f"{url} did not answer within {timeout:.1f}s", kind=TIMEOUT)
    except ConnectionRefusedError:
        return HealthResult(False, f"{url} refused the connection", kind=REFUSED)
    except _NotHTTP as err:
        kind = CLOSED if str(err) == EMPTY_ANSWER else OTHER
        return HealthResult(False, f"{url} failed: the answer is not HTTP: {err}", kind=kind)
    except OSError as err:
        if err.__class__.__module__ == "ssl":  # SSLError and friends: ssl is loaded by now
            return HealthResult(False, f"TLS failure talking to {url}: {_tls_problem(err)}", kind=TLS)
        kind = CLOSED if isinstance(err, (ConnectionResetError, BrokenPipeError)) else OTHER
        return HealthResult(False, f"{url} failed: {err.__class__.__name__}: {err}", kind=kind)
    if status == 200:
        return HealthResult(True, f"{url} answered 200", 200)
    kind = SERVER_ERROR if status >= 500 else REJECTED if 400 <= status < 500 else OTHER
    return HealthResult(False, f"{url} answered HTTP {status}: {_excerpt(body)}", status, kind=kind)


def check_url(url: str, timeout: float, tls: TLSOptions = TLSOptions()) -> HealthResult:
    """GET a whole URL (an API's version document, e.g. Keystone's /v3); a malformed URL is a
    failed check that says why."""
    try:
        endpoint = parse_endpoint(url)
    except ValueError as err:
        return HealthResult(False, str(err), kind=OTHER)
    return check(endpoint, "", timeout, tls)
