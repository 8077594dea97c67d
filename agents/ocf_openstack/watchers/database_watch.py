"""ocf:openstack:database-watch -- does this controller reach the services' database?

A clone of this agent runs on every controller (in the manner of ocf:pacemaker:ping),
whether or not Keystone and Glance run there, and publishes the answer as a transient node
attribute that the shipped snippets' location rules read:

    <attribute> (default openstack-db) = 0   this controller does not reach the database
                                             while another controller does
                                       = 1   it reaches it (or no controller does)

A database that no controller reaches is an outage, not a placement problem: the attribute
then stays 1 everywhere and nothing moves (the services' monitors report degraded). To tell
the two apart without a race between the watchers' intervals, each watcher also keeps a
private attribute <attribute>-seen (never written to the CIB) with the time of its last
successful probe; a watcher whose probe fails publishes 0 only once another controller's
-seen is later than its own first failure, i.e. that controller reached the database while
this one could not. Clocks of the controllers must agree within a few seconds (NTP).

The watcher never fails because of the database: it reports, Pacemaker decides. stop
removes this node's attributes (undefined: no preference). The probe is the services' own
(dependencies.database_of: the MySQL greeting of the server each config file names, then,
with the file's credentials, its Galera state: a node that refuses application queries is
down; a donor answers, with a warning in the log).
"""

import os
import time
from typing import Dict, List, Mapping, Optional, Sequence, TextIO

from .. import __version__
from ..host import attrd, privatefile
from ..ocf.budget import Budget
from ..ocf.exitcodes import OCFError, OCFExit
from ..ocf.log import Reporter
from ..ocf.params import Parameter, Values
from . import base
from .base import MONITORING_ONLY, Watcher, check_attribute

NAME = "database-watch"
ACTIONS = base.ACTIONS


PARAMS = (
    Parameter("configs", "Service configuration files",
              "Space-separated configuration files whose [database] connection is probed; every "
              "server they name must answer. Files that do not exist on this controller are "
              "skipped." + MONITORING_ONLY,
              default="/etc/keystone/keystone.conf /etc/glance/glance-api.conf"),
    Parameter("attribute", "Node attribute",
              "Transient node attribute this agent publishes: 0 when this controller does not "
              "reach the database while another one does, else 1. The snippets' location rules "
              "read it." + MONITORING_ONLY, default="openstack-db", check=check_attribute),
    Parameter("probe_timeout", "Probe timeout (s)",
              "Seconds each database server has to greet and, on a Galera node, to tell its state "
              "(a login with the service's own credentials and two queries)." + MONITORING_ONLY,
              kind="integer", default="2", minimum=1),
)
LONGDESC = ("Runs as a clone on every controller and publishes whether this controller reaches "
            "the database of Keystone and Glance (the server their configuration files name greets, "
            "and a Galera node is in the primary component and accepts queries) as a node "
            "attribute. A controller is marked 0 only when another controller reaches the "
            "database while it does not, so a database outage "
            "moves nothing, while a controller cut off from the database loses the floating IP "
            "and the services to one that reaches it (see the location rules of the snippets), or "
            "leaves HAProxy's rotation (agent-check). "
            "It never fails a resource because of the database.")


class Watch(Watcher):
    """One action of the watcher."""

    NAME = NAME

    def __init__(self, values: Values, env: Mapping[str, str], budget: Budget, report: Reporter) -> None:
        super().__init__(values, env, budget, report)
        self.seen = f"{self.attribute}-seen"
        # state: first_fail (epoch of the first failed probe of the current streak),
        # published (the value this node last published)

    # ------------------------------------------------------------ actions
    def start(self) -> int:
        if self.load() is None:
            self.save({})
        return OCFExit.SUCCESS

    def stop(self) -> int:
        left = self.budget.remaining
        attrd.delete(self.attribute, left())
        attrd.delete(self.seen, left())
        privatefile.remove(self.state_file)
        return OCFExit.SUCCESS

    def validate(self) -> int:
        files = self.values["configs"].split()
        if not files:
            raise OCFError(OCFExit.ERR_CONFIGURED, "parameter configs names no file")
        if not any(os.path.exists(f) for f in files):
            raise OCFError(OCFExit.ERR_INSTALLED, f"none of configs exists here: {' '.join(files)}")
        return OCFExit.SUCCESS

    def monitor(self) -> int:
        state = self.running_state()
        if state is None:   # a probe: started is all
            return OCFExit.SUCCESS
        down = self.probe()
        now = time.time()
        if not down:
            attrd.update(self.seen, str(int(now)), self.budget.remaining(), private=True)
            state["first_fail"] = ""
            self.publish(state, "1", "this controller reaches the database again")
        else:
            first = float(state.get("first_fail") or now)
            state["first_fail"] = f"{first:.3f}"
            peers = [host for host, value in attrd.query_all(self.seen, self.budget.remaining()).items()
                     if host != self.me() and value.isdigit() and int(value) > float(first)]
            if peers:
                self.publish(state, "0", f"{'; '.join(down)}, while {', '.join(sorted(peers))} reach(es) it: "
                                         "the location rules move the services away from this controller")
            else:
                self.report.warning(f"{'; '.join(down)} (no other controller reached it since: an outage "
                                    "of the database, not of this controller; nothing moves)")
        self.save(state)
        return OCFExit.SUCCESS

    def probe(self) -> List[str]:
        """What is down, as the operator reads it ([] when every database answers)."""
        from ..checks.dependencies import check, database_of  # not on the stop path

        deps = {}
        for path in self.values["configs"].split():
            if os.path.exists(path):
                dep = database_of(path)
                deps.setdefault(dep.name, dep)   # one probe per server
        verdict = check(list(deps.values()), self.budget.remaining, float(self.values["probe_timeout"]))
        for probe in verdict.unknown:
            self.report.debug(f"not checked: {probe.detail}")
        for probe in verdict.warned:
            self.report.warning(probe.warning)
        return [probe.detail for probe in verdict.down]

    def publish(self, state: Dict[str, str], value: str, why: str) -> None:
        if state.get("published") == value:
            return
        if attrd.update(self.attribute, value, self.budget.remaining()):
            if state.get("published") or value == "0":
                (self.report.warning if value == "0" else self.report.info)(f"{self.attribute}={value}: {why}")
            state["published"] = value


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None,
         out: Optional[TextIO] = None) -> int:
    """Run one OCF action of ocf:openstack:database-watch; returns its exit code."""
    return base.main(Watch, __version__, LONGDESC, 'Does this controller reach the database?', PARAMS, ACTIONS, argv, env, out)
