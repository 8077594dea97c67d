"""The agent-check responder process: started detached by ``agent`` as
``python3 -m ocf_openstack.rotation.responder --fd N ...`` with the listening socket already
bound (the agent binds it, so a wrong address or a taken port is the start's exit reason),
running as hacluster (cibadmin -l needs only the haclient group).

Two loops, so that HAProxy never waits on Pacemaker:
  - ``Verdicts`` (a thread) reads the local CIB every ``interval`` seconds and keeps each
    backend's verdict; a CIB that cannot be read keeps the last verdicts, and verdicts older
    than ``STALE_AFTER`` give way to "up" (no knowledge is no reason to take a server out);
  - ``serve`` answers connections from those verdicts: it reads at most ``TOKEN_MAX`` bytes
    up to a newline (the backend's name, HAProxy's agent-send), answers one line and closes;
    a connection gets ``CONN_TIMEOUT`` seconds in all, and beyond ``MAX_CONNS`` open ones a
    new connection is closed at once. An unknown name gets no answer (HAProxy then records a
    failed agent check and keeps the server's state), never "up" or "down" for a name it
    does not know.
"""

import argparse
import os
import selectors
import signal
import socket
import sys
import threading
import time
from typing import Callable, Dict, Optional, Sequence

from ..host import cib
from .verdict import UP, Backend, Verdict, backends, judge

TOKEN_MAX = 64
CONN_TIMEOUT = 2.0
MAX_CONNS = 32
STALE_AFTER = 30.0
CIB_TIMEOUT = 5.0
# after SIGTERM it answers "up" this long, then exits: HAProxy keeps the last answer of an agent
# it cannot reach, and a "down" must not outlive the responder (HAProxy asks every second)
LINGER = 2.5


class Verdicts:
    """The latest verdict per backend, refreshed from the CIB by ``refresh``."""

    def __init__(self, me: str, table: Dict[str, Backend], read_cib: Callable[[], Optional[object]],
                 log: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.me, self.table, self.read_cib, self.log, self.clock = me, table, read_cib, log, clock
        self.current: Dict[str, Verdict] = {}
        self.when = float("-inf")
        self.lock = threading.Lock()
        self.leaving = threading.Event()   # set by SIGTERM: "up" for every backend from now on
        self.stale = False
        self.last_error = ""

    def refresh(self) -> bool:
        """Read the CIB once and keep each backend's verdict; log what changed."""
        found = self.read_cib()
        if found is None:
            return False
        nodes = cib.nodes(found)
        new = {name: judge(nodes, self.me, backend) for name, backend in self.table.items()}
        with self.lock:
            old, self.current, self.when = self.current, new, self.clock()
        for name, verdict in new.items():
            before = old.get(name)
            if before is None and verdict == UP:
                continue
            if before is None or before.up != verdict.up or before.reason != verdict.reason \
                    or before.note != verdict.note:
                said = verdict.line().strip()
                self.log(f"{name} on {self.me}: {said}" + (f" ({verdict.reason}: {verdict.note})" if verdict.note else ""))
        return True

    def line(self, token: str) -> Optional[str]:
        """The answer for the backend named ``token``, None for a name not in the table."""
        if token not in self.table:
            return None
        with self.lock:
            stale = self.clock() - self.when > STALE_AFTER
            verdict = UP if stale or self.leaving.is_set() else self.current.get(token, UP)
        if stale != self.stale:    # said once each way: a silent "up" for everything hides a dead refresher
            self.stale = stale
            self.log("no CIB reading for over {:.0f}s: answering up for every backend".format(STALE_AFTER)
                     if stale else "the CIB is read again: verdicts are current")
        return verdict.line()

    def run(self, interval: float, stop: threading.Event) -> None:
        """Refresh every ``interval`` s until ``stop``; the same error is logged once."""
        while not stop.is_set():
            try:
                self.refresh()
                self.last_error = ""
            except Exception as err:   # noqa: BLE001 (the answers go on from the last verdicts)
                said = f"reading the CIB failed: {err.__class__.__name__}: {err}"
                if said != self.last_error:
                    self.log(said)
                self.last_error = said
            stop.wait(interval)


def serve(listener: socket.socket, answer: Callable[[str], Optional[str]], stop: threading.Event,
          conn_timeout: float = CONN_TIMEOUT, max_conns: int = MAX_CONNS,
          clock: Callable[[], float] = time.monotonic) -> None:
    """Answer connections on ``listener`` until ``stop`` is set (see the module's docstring)."""
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    open_conns: Dict[socket.socket, list] = {}    # conn -> [deadline, bytes read]

    def close(conn: socket.socket) -> None:
        sel.unregister(conn)
        open_conns.pop(conn, None)
        conn.close()

    try:
        while not stop.is_set():
            now = clock()
            for conn in [c for c, (deadline, _) in open_conns.items() if deadline <= now]:
                close(conn)
            wait = min([0.5] + [deadline - now for deadline, _ in open_conns.values()])
            for key, _ in sel.select(max(0.0, wait)):
                if key.data is None:
                    _accept(listener, sel, open_conns, clock() + conn_timeout, max_conns)
                    continue
                conn = key.fileobj
                state = open_conns[conn]
                try:        # never more than TOKEN_MAX bytes in all, however they arrive
                    chunk = conn.recv(TOKEN_MAX - len(state[1]))
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                state[1] += chunk
                if chunk and b"\n" not in state[1] and len(state[1]) < TOKEN_MAX:
                    continue
                token = state[1].split(b"\n", 1)[0].strip().decode("ascii", errors="replace")
                reply = answer(token) if chunk and b"\n" in state[1] else None
                if reply:
                    try:
                        conn.send(reply.encode("ascii"))
                    except OSError:
                        pass
                close(conn)
    finally:
        for conn in list(open_conns):
            close(conn)
        sel.close()


def _accept(listener: socket.socket, sel: selectors.BaseSelector, open_conns: Dict[socket.socket, list],
            deadline: float, max_conns: int) -> None:
    try:
        conn, _ = listener.accept()
    except OSError:          # gone before we took it, or out of descriptors: the next one
        return
    if len(open_conns) >= max_conns:
        conn.close()
        return
    conn.setblocking(False)
    open_conns[conn] = [deadline, b""]
    sel.register(conn, selectors.EVENT_READ, True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The responder process (see the module's docstring); SIGTERM: LINGER s of "up", then exit."""
    from ..ocf.log import Reporter

    parser = argparse.ArgumentParser(prog="agent-check responder")
    parser.add_argument("pidfile")     # not read: it names this instance on the command line (stop's search)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--database-attribute", required=True)
    parser.add_argument("--keys-attribute", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    listener = socket.socket(fileno=args.fd)
    report = Reporter(os.environ)
    stop = threading.Event()
    verdicts = Verdicts(args.node, backends(args.database_attribute, args.keys_attribute),
                        lambda: cib.query(CIB_TIMEOUT), lambda msg: report.info(f"agent-check: {msg}"))

    def leave() -> None:
        verdicts.leaving.wait()
        time.sleep(LINGER)
        stop.set()
    signal.signal(signal.SIGTERM, lambda *_: verdicts.leaving.set())
    threading.Thread(target=leave, daemon=True).start()
    threading.Thread(target=verdicts.run, args=(args.interval, stop), daemon=True).start()
    try:
        serve(listener, verdicts.line, stop)
    except Exception as err:   # stderr is /dev/null: the log is the only trace; Pacemaker restarts it
        report.warning(f"agent-check: the responder failed: {err.__class__.__name__}: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
