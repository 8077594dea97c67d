"""ocf:openstack:agent-check -- tells HAProxy when this controller cannot serve correctly.

A clone of this agent runs on every controller of the HAProxy topology. Its start binds a TCP
port on this controller's own address (never 0.0.0.0) and hands the socket to a small
responder process (``responder``, as hacluster) that answers HAProxy's ``agent-check``: for
the backend HAProxy names (agent-send "keystone\\n" or "glance-api\\n") one line, "up" or
"down #<reason>", from what this controller publishes (``verdict``). The monitor checks that
the responder runs and answers; when it died, Pacemaker restarts it, and meanwhile HAProxy
keeps the last verdict it heard (an unreachable agent is not an error to HAProxy).
stop ends the responder (and any stray one) and never fails on configuration.
"""

import os
import socket
import sys
import time
from typing import Mapping, Optional, Sequence, TextIO

from .. import __version__
from ..host import addresses, privatefile, process
from ..host.paths import LOG_ENVIRONMENT, PACKAGE_ROOT, instance_file
from ..ocf.budget import Budget
from ..ocf.exitcodes import OCFError, OCFExit
from ..ocf.log import Reporter
from ..ocf.metadata import ActionSpec
from ..ocf.params import Parameter, Values
from ..watchers import base
from ..watchers.base import check_attribute

NAME = "agent-check"
RESPONDER_MODULE = "ocf_openstack.rotation.responder"
RUN_AS = ("hacluster", "haclient")   # cibadmin -Q -l needs the haclient group, nothing more
ASK_TIMEOUT = 2.0
RESOLVE_TIMEOUT = 5.0
# the responder answers "up" for a while after SIGTERM (responder.LINGER) before it exits
STOP_GRACE = 4.0
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
ACTIONS = (
    ActionSpec("start", 20),
    ActionSpec("stop", 20),
    ActionSpec("monitor", 10, 5, 0),
    ActionSpec("reload", 10),        # every parameter restarts it: Pacemaker never calls this
    ActionSpec("validate-all", 10),
    ActionSpec("meta-data", 5),
)


def _check_port(value: int) -> str:
    return "" if 1 <= value <= 65535 else "must be a TCP port (1-65535)"


def _check_address(value: str) -> str:
    import ipaddress

    if not value:
        return ""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "must be an IP address (or empty: the address this node's name resolves to)"
    return "must be this controller's own address, never a wildcard" if address.is_unspecified else ""


RESTARTS = " Changing it restarts the responder."
PARAMS = (
    Parameter("address", "Address to listen on",
              "This controller's own address, where HAProxy's agent-check connects (agent-addr, by default "
              "the server's address in haproxy.cfg). Empty: the first non-loopback address of this host "
              "that the node's name resolves to (/etc/hosts or DNS). Never a wildcard." + RESTARTS,
              unique=True, check=_check_address),
    Parameter("port", "TCP port", "The port HAProxy's agent-port names. Let only the controllers reach "
              "it (the firewall rule in the HAProxy README)." + RESTARTS, kind="integer", default="4993",
              unique=True, check=_check_port),
    Parameter("database_attribute", "database-watch's node attribute",
              "The attribute database-watch publishes (its attribute parameter): 0 takes both backends "
              "out of the rotation." + RESTARTS, default="openstack-db", unique=True, check=check_attribute),
    Parameter("keys_attribute", "keys-watch's node attribute",
              "The attribute keys-watch publishes (its attribute parameter): 0 takes Keystone out of "
              "the rotation." + RESTARTS, default="openstack-keys", unique=True, check=check_attribute),
    Parameter("interval", "Refresh interval (s)",
              "Seconds between two readings of the local CIB copy by the responder." + RESTARTS,
              kind="integer", default="1", minimum=1, unique=True),
)
LONGDESC = ("Runs as a clone on every controller of the HAProxy topology and answers HAProxy's agent-check "
            "for the backends keystone and glance-api: 'down #reason' while this controller alone cannot "
            "reach the database (database-watch), while its Keystone keys differ from the token issuers' "
            "(keys-watch, Keystone only), or while the failure watcher reports the service failed here; "
            "'up' otherwise, and also when no other controller could serve that backend (HAProxy would "
            "answer 503 to everything). It never answers ready, drain or maint, which would undo an "
            "operator's own server state.")


class AgentCheck:
    """One action of the agent."""

    NAME = NAME

    def __init__(self, values: Values, env: Mapping[str, str], budget: Budget, report: Reporter) -> None:
        self.values, self.env, self.budget, self.report = values, env, budget, report
        self.pidfile = instance_file(NAME, env, ".pid")
        self.where_file = instance_file(NAME, env, ".address")   # where start bound: the monitor asks there

    def me(self) -> str:
        return self.env.get("OCF_RESKEY_CRM_meta_on_node") or os.uname().nodename

    def address(self) -> str:
        """Where to listen: the address parameter, or this node's own address by its name. A
        problem of this host is 2 (this node only), a resolver that does not answer 1."""
        if self.values["address"]:
            import ipaddress

            given = str(ipaddress.ip_address(self.values["address"]))   # one spelling: the kernel's
            if given not in addresses.local_addresses():
                raise OCFError(OCFExit.ERR_ARGS, f"address={self.values['address']} is not an address of "
                                                 "this host: HAProxy could not reach the responder there")
            return given
        timeout = self.budget.cap(RESOLVE_TIMEOUT)
        found = addresses.own_address(self.me(), timeout)
        if found is None:
            raise OCFError(OCFExit.ERR_GENERIC, f"the node name {self.me()} did not resolve within {timeout:.0f}s "
                                                "(a DNS server that does not answer?): add it to /etc/hosts")
        if not found:
            raise OCFError(OCFExit.ERR_ARGS,
                           f"the node name {self.me()} resolves to no non-loopback address of this host: add "
                           "it to /etc/hosts with this controller's address, or set address=")
        return found

    def running(self, strays: bool = True) -> Optional[int]:
        """The responder's pid: the pidfile's, verified (start time and command line), else
        (``strays``) one of this instance found by its command line (the pidfile lost), else None."""
        found = process.find(self.pidfile, None)
        info = process.proc_info(found.leader) if found.leader else None
        if info is not None and RESPONDER_MODULE in info.argv:
            return found.leader
        found_by_command = process.by_command((RESPONDER_MODULE,), self.pidfile) if strays else []
        return found_by_command[0] if found_by_command else None

    def ask(self, where: str, timeout: float) -> str:
        """What the responder answers for keystone ("" when it does not)."""
        try:
            with socket.create_connection((where, int(self.values["port"])), timeout=timeout) as conn:
                conn.sendall(b"keystone\n")
                return conn.recv(256).decode("ascii", errors="replace").strip()
        except OSError:
            return ""

    # ------------------------------------------------------------ actions
    def start(self) -> int:
        where = self.address()
        if self.running(strays=False) is not None and self.ask(where, self.budget.cap(ASK_TIMEOUT)):
            return OCFExit.SUCCESS
        self.stop()   # a half-dead one, or a stray that lost its pidfile (its parameters unknown), goes
        family = socket.AF_INET6 if ":" in where else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((where, int(self.values["port"])))
            listener.listen(64)
        except OSError as err:
            listener.close()
            raise OCFError(OCFExit.ERR_GENERIC, f"cannot listen on {where}:{self.values['port']}: {err.strerror}")
        try:
            pid = self.launch(listener)
        finally:
            listener.close()
        process.write_pidfile(self.pidfile, pid)
        privatefile.write(self.where_file, where + "\n")
        while not self.budget.expired():
            if self.ask(where, self.budget.cap(ASK_TIMEOUT)):
                self.report.info(f"agent-check responder (pid {pid}) answers on {where}:{self.values['port']}")
                return OCFExit.SUCCESS
            if not process.alive(process.proc_info(pid)):
                break
            time.sleep(min(0.1, self.budget.remaining()))
        raise OCFError(OCFExit.ERR_GENERIC, f"the agent-check responder (pid {pid}) did not answer on "
                                            f"{where}:{self.values['port']}; see the Pacemaker log")

    def launch(self, listener: socket.socket) -> int:
        import subprocess

        env = {k: self.env[k] for k in LOG_ENVIRONMENT if self.env.get(k)}
        env.update(PATH=CLEAN_PATH, PYTHONPATH=PACKAGE_ROOT)
        uid, gid, _ = process.user_ids(*RUN_AS)
        fd = listener.fileno()
        child = subprocess.Popen(
            [sys.executable, "-s", "-m", RESPONDER_MODULE, self.pidfile, "--fd", str(fd), "--node", self.me(),
             "--database-attribute", self.values["database_attribute"],
             "--keys-attribute", self.values["keys_attribute"], "--interval", str(self.values["interval"])],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", env=env,
            close_fds=True, pass_fds=(fd,), start_new_session=True, user=uid, group=gid, extra_groups=[])
        child.returncode = 0     # never waited for: init reaps it once the agent has exited
        return child.pid

    def stop(self) -> int:
        pids = set(process.by_command((RESPONDER_MODULE,), self.pidfile))
        named = self.running(strays=False)   # the strays are in pids already
        if named:
            pids.add(named)
        for pid in sorted(pids):
            left = process.terminate(pid, pid, min(STOP_GRACE, self.budget.remaining() / 2),
                                     max(0.0, self.budget.remaining() - STOP_GRACE))
            if left:
                raise OCFError(OCFExit.ERR_GENERIC, f"the agent-check responder (processes {left}) survived SIGKILL")
        privatefile.remove(self.pidfile)
        privatefile.remove(self.where_file)
        return OCFExit.SUCCESS

    def monitor(self) -> int:
        pid = self.running()
        if pid is None:
            raise OCFError(OCFExit.NOT_RUNNING, f"the agent-check responder is not running (no live process "
                                                f"for {self.pidfile})")
        # where start bound (no name lookup at every monitor: a resolver may hang)
        where = (privatefile.read(self.where_file) or "").strip()
        if not where:
            self.report.debug(f"{self.where_file} is missing: the process is all the monitor checks")
            return OCFExit.SUCCESS
        answer = self.ask(where, self.budget.cap(ASK_TIMEOUT))
        if not answer.startswith(("up", "down")):
            raise OCFError(OCFExit.ERR_GENERIC, f"the agent-check responder (pid {pid}) runs but does not answer "
                                                f"on {where}:{self.values['port']}")
        return OCFExit.SUCCESS

    def validate(self) -> int:
        self.address()
        try:
            process.user_ids(*RUN_AS)
        except KeyError:
            raise OCFError(OCFExit.ERR_INSTALLED, "user hacluster or group haclient missing: install pacemaker")
        return OCFExit.SUCCESS


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None,
         out: Optional[TextIO] = None) -> int:
    """Run one OCF action of ocf:openstack:agent-check; returns its exit code."""
    return base.main(AgentCheck, __version__, LONGDESC, "Tells HAProxy when this controller cannot serve",
                     PARAMS, ACTIONS, argv, env, out)
