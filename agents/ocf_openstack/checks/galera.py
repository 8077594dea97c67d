"""Galera as a client sees it: does a MySQL/MariaDB server that greets take application queries?

A Galera node outside the primary component, one that is not ready, or one told to reject
queries (``wsrep_reject_queries``) still sends a normal greeting, accepts logins and answers
``SELECT 1``, but fails every real statement with error 1047 ("WSREP has not yet prepared
node for application use"); with ``wsrep_reject_queries=ALL`` it even reports Synced and
Primary. The greeting alone calls such a node healthy. So, on the connection that carried the
greeting, the dependency probe logs in with the service's own credentials (the USAGE
privilege is enough) and reads:

    SELECT @@global.wsrep_on, @@global.wsrep_reject_queries   (error 1193: a server without wsrep)
    SHOW GLOBAL STATUS WHERE Variable_name IN (wsrep_ready, wsrep_cluster_status,
                                               wsrep_local_state, wsrep_local_state_comment)

Debian's MariaDB has wsrep built in: a plain server reports ``wsrep_ready=OFF`` and
``Disconnected``, so ``wsrep_on`` (0 there) decides whether the node is a Galera node at all.

``assess`` turns those values into a ``Verdict`` (a pure function); ``read`` does the login
and the queries with python3-pymysql (imported only here), every read and write ending by the
probe's deadline. A login that fails (access denied, an auth plugin pymysql can not speak) is
no outage: the verdict says the state was not read. No server message is quoted (MariaDB's
name the user): only error codes; the credentials never leave this module.
"""

import contextlib
import socket
import sys
import time
from typing import Any, Dict, Mapping, NamedTuple, Optional

SETTINGS_QUERY = "SELECT @@global.wsrep_on, @@global.wsrep_reject_queries"
STATUS_QUERY = ("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status', "
                "'wsrep_local_state', 'wsrep_local_state_comment')")
REFUSES = "refuses application queries"
SYNCED = "4"
STATES = {"0": "Initialized", "1": "Joining", "2": "Donor/Desynced", "3": "Joined", "4": "Synced"}
NAME_MAX = 30
# the least time after the greeting in which a silent server counts as stalled (the login and
# two reads take milliseconds); with less, the probe could not tell
LOGIN_FAIR = 0.5

# MySQL error codes this module tells apart
WSREP_NOT_READY = 1047          # ER_UNKNOWN_COM_ERROR: what a refusing node answers a statement
UNKNOWN_VARIABLE = 1193         # a server built without wsrep
LOST = {2003, 2006, 2013}       # pymysql: connection closed, or no answer in time
WHY = {1044: "access denied", 1045: "access denied", 1698: "access denied", 1049: "unknown database",
       1251: "an authentication method the client lacks", 2059: "an authentication plugin pymysql lacks"}


class Login(NamedTuple):
    """The service's database user; its repr hides both fields."""

    user: str
    password: str

    def __repr__(self) -> str:
        return "Login(<hidden>)"


class Verdict(NamedTuple):
    """What the node does with application queries. ``serves``: True takes them, False refuses
    them (``text`` is the reason, to follow the dependency's name), None not read (``text`` says
    why; the greeting still counts). ``warning``: serving, but worth a line in the log."""

    serves: Optional[bool]
    text: str
    warning: str = ""


PLAIN = Verdict(True, "")


def assess(values: Mapping[str, str]) -> Verdict:
    """The verdict on a server's wsrep values (names in lower case, values as the server
    printed them; no wsrep values at all: a plain server)."""
    if not _wsrep_on(values.get("wsrep_on", "")):
        return PLAIN
    status = values.get("wsrep_cluster_status") or "no cluster status"
    reject = (values.get("wsrep_reject_queries") or "NONE").upper()
    ready = values.get("wsrep_ready") or "unset"
    state = str(values.get("wsrep_local_state", ""))
    # the state's short name ("Joining", not "Joining: receiving State Transfer"): reasons stay short
    name = STATES.get(state) or (values.get("wsrep_local_state_comment") or f"state {state or 'unknown'}")[:NAME_MAX]
    # the telling cause first: a non-Primary node is also not ready; one told to reject is Synced
    if status != "Primary":
        return Verdict(False, f"is a Galera node outside the primary component ({status}): it {REFUSES}")
    if reject != "NONE":
        return Verdict(False, f"is a Galera node that {REFUSES} (wsrep_reject_queries={reject})")
    if ready.upper() != "ON":
        return Verdict(False, f"is a Galera node that {REFUSES} (not ready: wsrep_ready={ready}, {name})")
    summary = f"Galera {name}, Primary"
    if state == SYNCED:
        return Verdict(True, summary)
    return Verdict(True, summary, f"is a Galera node in state {name} (wsrep_local_state={state}): "
                                  "it serves queries, but may lag the cluster")


def preload() -> None:
    """Load pymysql now (before the probe connects): its import is this host's time, not the
    server's, and must not count as the server's slowness."""
    _load_pymysql()


def read(sock: socket.socket, greeting: bytes, login: Login, end: float) -> Verdict:
    """Log in on ``sock``, whose bytes so far (the greeting) are ``greeting``, read the wsrep
    values and assess them, all by ``end`` (time.monotonic()). Never raises; closes ``sock``."""
    given = end - time.monotonic()      # the server's time for the login and the queries
    pymysql = _load_pymysql()
    if pymysql is None:
        sock.close()
        return Verdict(None, "Galera state not read: python3-pymysql is not installed")
    conn = None
    wrapped = _DeadlineSocket(sock, greeting, end)
    try:
        conn = pymysql.connections.Connection(
            host="probe", user=login.user, password=login.password, defer_connect=True,
            autocommit=None,    # no SET AUTOCOMMIT: a statement a refusing node might fail
            program_name="resource-agents-openstack", read_timeout=_left(end), write_timeout=_left(end))
        conn.connect(wrapped)
        values = _query(conn, pymysql)
    except pymysql.MySQLError as err:
        return _failed(err.args[0] if err.args and isinstance(err.args[0], int) else 0, end, given)
    except Exception as err:    # pymysql's own trouble (an auth method it lacks): no outage
        return Verdict(None, f"Galera state not read ({err.__class__.__name__})")
    finally:
        if conn is not None and conn.open:
            with contextlib.suppress(Exception):
                conn.close()    # COM_QUIT (bounded by the deadline too), then the socket
        wrapped.close()
    return assess(values)


def _load_pymysql() -> Any:
    """pymysql, or None. Its auth module imports python3-cryptography (half of pymysql's ~35 ms
    of CPU, at every monitor) only for MySQL 8's RSA password exchange, which MariaDB never
    asks for: unless something loaded it already, it stays out (as the engine does with osprofiler)."""
    blocked = "cryptography" not in sys.modules
    if blocked:
        sys.modules["cryptography"] = None      # type: ignore[assignment]  # import raises ImportError
    try:
        import pymysql
        return pymysql
    except ImportError:
        return None
    finally:
        if blocked and sys.modules.get("cryptography", False) is None:
            del sys.modules["cryptography"]


def _query(conn: Any, pymysql: Any) -> Dict[str, str]:
    with conn.cursor() as cur:
        try:
            cur.execute(SETTINGS_QUERY)
        except pymysql.MySQLError as err:
            if err.args and err.args[0] == UNKNOWN_VARIABLE:
                return {}
            raise
        on, reject = cur.fetchone()
        values = {"wsrep_on": str(on), "wsrep_reject_queries": str(reject)}
        if not _wsrep_on(on):   # wsrep off: the status would say Disconnected, and mean nothing
            return values
        cur.execute(STATUS_QUERY)
        values.update((str(name).lower(), str(value)) for name, value in cur.fetchall())
    return values


def _wsrep_on(value: object) -> bool:
    return str(value).upper() in ("1", "ON")


def _failed(code: int, end: float, given: float) -> Verdict:
    if code == WSREP_NOT_READY:
        return Verdict(False, f"is a Galera node that {REFUSES} (error {code})")
    if code in LOST:
        if time.monotonic() >= end:
            if given >= LOGIN_FAIR:     # a server that stalls after its greeting: its fault
                return Verdict(False, f"greets but then does not answer in time ({given:.1f}s for the login)")
            # the greeting came late and left the login no fair time: nothing to blame on
            # either side (blaming the database would call a hung service degraded)
            return Verdict(None, f"Galera state not read: {given:.2f}s left for the login after a late greeting")
        return Verdict(False, "closed the connection after its greeting")
    return Verdict(None, f"Galera state not read: {WHY.get(code, 'the login or query failed')} (error {code})")


def _left(end: float) -> float:
    return max(end - time.monotonic(), 0.001)


class _DeadlineSocket(socket.socket):
    """The probe's connection as pymysql reads it: the greeting already read is read again
    first, and every read or write ends by the probe's deadline (pymysql's own timeouts are
    per read: a server that trickles bytes would outlast them)."""

    def __init__(self, sock: socket.socket, pending: bytes, end: float) -> None:
        self._pending = pending
        self._end = end
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())

    def _arm(self) -> None:
        left = self._end - time.monotonic()
        if left <= 0:
            raise socket.timeout("the probe's deadline passed")
        super().settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self._pending:
            n = min(len(self._pending), nbytes or len(buffer))
            buffer[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        super().sendall(data, flags)
