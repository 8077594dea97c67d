"""Dependency probes: before the monitor blames a service for a failure that a dead
dependency explains (a hang, a connection closed without an answer, a 5xx), it asks the
dependency itself. A database that does not answer makes the result "degraded": restarting
the service can not bring its database back, and restarting it everywhere at every
interval would turn a database blip into an outage of the whole control plane.

A dependency is described, not coded per service: a service spec lists its dependencies
(its database, read from the configuration file it runs with; Glance's Keystone), and
``check`` probes them within the time the op has left.

- MySQL/MariaDB (``mysql://``, ``mysql+pymysql://``, ``mariadb+...``): a TCP connection to
  host:port (or the ``unix_socket`` of the URL) and the server's greeting (the initial
  handshake packet), which proves that a server process answers, not only that a port
  accepts: a frozen server's kernel still accepts connections. Then, on that connection, a
  login with the URL's user and the wsrep state (``galera``): a Galera node that refuses
  application queries (non-Primary, not ready, ``wsrep_reject_queries``) is down, a Donor
  serves with a warning, a plain server answers as before, and a login that fails is no
  outage (the greeting counts; the detail says the state was not read).
- sqlite: the database file exists and is readable.
- an HTTP API (Keystone for Glance): GET of its version document.
The connection string's user and password are parsed away and never shown.
"""

import os
import socket
import time
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from ..host.confscan import ini_values
from . import galera, health

MYSQL_SCHEMES = ("mysql", "mariadb")
MYSQL_PORT = 3306
GREETING_MAX = 1024
PROTOCOL_V10 = 0x0A
ERROR_PACKET = 0xFF


class Probe(NamedTuple):
    """One dependency's answer. ``ok`` None: it could not be checked (``detail`` says why).
    ``warning``: it answers, but something is worth a line in the log (a Galera donor)."""

    name: str
    ok: Optional[bool]
    detail: str
    warning: str = ""


class Dependency(NamedTuple):
    name: str                            # what the operator reads: "database openstack-db:3306"
    probe: Callable[[float], Probe]      # timeout (s) -> Probe


class Verdict(NamedTuple):
    """What the probes found: the dependencies that are down, those that could not be checked,
    and those that answer with a warning."""

    down: Tuple[Probe, ...]
    unknown: Tuple[Probe, ...]
    warned: Tuple[Probe, ...] = ()

    def describe(self, probes: Sequence[Probe]) -> str:
        return "; ".join(p.detail for p in probes)


# ---------------------------------------------------------------- the database of a config file

class DatabaseURL(NamedTuple):
    kind: str          # "mysql" or "sqlite"
    host: str = ""
    port: int = 0
    socket_path: str = ""
    path: str = ""     # sqlite file ("" : in memory)
    login: Optional[galera.Login] = None   # the URL's user and password (repr hides them)

    @property
    def where(self) -> str:
        if self.kind == "sqlite":
            return self.path or "(in memory)"
        if self.socket_path:
            return self.socket_path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def connection_string(config_path: str) -> str:
    """[database] connection of an oslo.config file ("" if it has none), by confscan's line scan."""
    return ini_values(config_path, [("database", "connection")]).get(("database", "connection"), "")


def parse_database_url(url: str) -> DatabaseURL:
    """The server or file of an SQLAlchemy URL; ValueError (never quoting the URL: it holds
    the password) if it is not one this module can probe."""
    if not url:
        raise ValueError("empty")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("a URL that does not parse") from None
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme == "sqlite":
        # sqlite:////abs/path (absolute), sqlite:///rel/path, sqlite:// (in memory)
        return DatabaseURL("sqlite", path=unquote(parts.path[1:] if parts.path.startswith("/") else parts.path))
    if scheme in MYSQL_SCHEMES:
        sock = parse_qs(parts.query).get("unix_socket", [""])[0]
        if not parts.hostname and not sock:
            raise ValueError("a MySQL URL without a host")
        login = galera.Login(unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        return DatabaseURL("mysql", host=parts.hostname or "localhost", port=port or MYSQL_PORT, socket_path=sock,
                           login=login)
    raise ValueError(f"a {scheme or 'schemeless'} database URL, which the agent can not probe "
                     "(it knows mysql/mariadb and sqlite)")


def database_of(config_path: str) -> Dependency:
    """The database the service's configuration file names."""
    try:
        text = connection_string(config_path)
    except ValueError as err:
        return _unknown("database", str(err))
    try:
        url = parse_database_url(text)
    except ValueError as err:
        return _unknown("database", f"[database] connection of {config_path} is {err}")
    name = f"database {url.where}"
    if url.kind == "sqlite":
        return Dependency(name, lambda timeout: _probe_sqlite(name, url))
    return Dependency(name, lambda timeout: _probe_mysql(name, url, timeout))


def _unknown(name: str, why: str) -> Dependency:
    return Dependency(name, lambda timeout: Probe(name, None, why))


def _probe_sqlite(name: str, url: DatabaseURL) -> Probe:
    if not url.path or os.access(url.path, os.R_OK):
        return Probe(name, True, f"{name} is readable")
    return Probe(name, False, f"{name} is missing or unreadable")


def _probe_mysql(name: str, url: DatabaseURL, timeout: float) -> Probe:
    end = time.monotonic() + timeout
    state = galera.PLAIN    # without a user in the URL: the greeting is all
    if url.login:
        galera.preload()
    try:
        if url.socket_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(url.socket_path)
        else:
            sock = socket.create_connection((url.host, url.port), timeout=timeout)
        try:
            packet, raw = _read_packet(sock, end)
            if packet[:1] == bytes([PROTOCOL_V10]) and url.login:
                state = galera.read(sock, raw, url.login, end)   # closes sock
        finally:
            sock.close()
    except socket.timeout:
        return Probe(name, False, f"{name} does not answer (no greeting within {timeout:.1f}s)")
    except ConnectionRefusedError:
        return Probe(name, False, f"{name} refuses connections (no server on that port)")
    except socket.gaierror as err:
        return Probe(name, False, f"{name}: the host name does not resolve ({err.strerror})")
    except OSError as err:
        return Probe(name, False, f"{name} is unreachable ({err.strerror or err.__class__.__name__})")
    if not packet:
        return Probe(name, False, f"{name} refuses clients (closed the connection without a greeting)")
    if packet[0] == PROTOCOL_V10:
        version = packet[1:].split(b"\0", 1)[0].decode("ascii", errors="replace")[:60]
        if state.serves is False:
            return Probe(name, False, f"{name} {state.text}")
        note = f"; {state.text}" if state.text else ""
        return Probe(name, True, f"{name} answers (server {version}{note})",
                     f"{name} {state.warning}" if state.warning else "")
    if packet[0] == ERROR_PACKET and len(packet) >= 3:
        code = int.from_bytes(packet[1:3], "little")
        message = packet[3:].decode("utf-8", errors="replace").lstrip("#")[:120]
        return Probe(name, False, f"{name} answers but refuses clients (error {code}: {message})")
    return Probe(name, False, f"{name} does not speak the MySQL protocol")


def _read_packet(sock: socket.socket, end: float) -> Tuple[bytes, bytes]:
    """One MySQL packet: 3-byte little-endian length, a sequence byte, the payload. Returns
    the payload (b"": closed first) and the bytes read (for the login on this connection)."""
    data = b""
    need = 4
    while len(data) < need:
        left = end - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        sock.settimeout(left)
        chunk = sock.recv(GREETING_MAX)
        if not chunk:
            return b"", data
        data += chunk
        if len(data) >= 4:
            need = min(4 + int.from_bytes(data[:3], "little"), GREETING_MAX)
    return data[4:need], data


# ---------------------------------------------------------------- an HTTP API (Keystone)

def http_api(name: str, url: str, tls: health.TLSOptions) -> Dependency:
    """An API that answers GET <url> with 200 (Keystone's /v3 version document)."""
    def probe(timeout: float) -> Probe:
        result = health.check_url(url, timeout, tls)
        return Probe(name, result.ok, f"{name} answers" if result.ok else f"{name} is unavailable ({result.detail})")
    return Dependency(name, probe)


# ---------------------------------------------------------------- all of them

def check(dependencies: Sequence[Dependency], time_left: Callable[[], float], timeout: float) -> Verdict:
    """Probe each dependency, each within ``timeout`` and what the op has left."""
    down: List[Probe] = []
    unknown: List[Probe] = []
    warned: List[Probe] = []
    for dep in dependencies:
        left = min(timeout, time_left())
        if left <= 0.05:
            unknown.append(Probe(dep.name, None, f"{dep.name}: no time left to check it"))
            continue
        result = dep.probe(left)
        if result.ok is None:
            unknown.append(result)
        elif not result.ok:
            down.append(result)
        elif result.warning:
            warned.append(result)
    return Verdict(tuple(down), tuple(unknown), tuple(warned))
