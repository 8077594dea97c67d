"""What the watcher agents share (database-watch, keys-watch: clones that look at their
node and publish node attributes): the attribute-name check, the instance's state file
("key=value" lines; no json: the monitor runs every 10 s on every controller, and every
import costs), this node's name, and how an action is run."""

import os
import re
from typing import Callable, Dict, Mapping, Optional, Sequence, TextIO

from ..host import privatefile
from ..host.paths import instance_file
from ..ocf import metadata
from ..ocf.budget import Budget
from ..ocf.entry import dispatch
from ..ocf.exitcodes import OCFError, OCFExit
from ..ocf.log import Reporter
from ..ocf.metadata import ActionSpec
from ..ocf.params import Parameter, Values, parse

MONITORING_ONLY = " Changing it reloads the agent."
ACTIONS = (   # a watcher's actions are quick: no daemon to wait for
    ActionSpec("start", 20),
    ActionSpec("stop", 20),
    ActionSpec("monitor", 20, 10, 0),
    ActionSpec("reload", 10),
    ActionSpec("validate-all", 10),
    ActionSpec("meta-data", 5),
)


def check_attribute(value: str) -> str:
    return "" if re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,50}", value) else \
        "must be a node attribute name: a letter, then letters, digits, '_', '.', '-'"


class Watcher:
    """One action of a watcher agent."""

    NAME = ""

    def __init__(self, values: Values, env: Mapping[str, str], budget: Budget, report: Reporter) -> None:
        self.values, self.env, self.budget, self.report = values, env, budget, report
        self.attribute = values["attribute"]
        self.state_file = instance_file(self.NAME, env, ".state")

    def load(self) -> Optional[Dict[str, str]]:
        text = privatefile.read(self.state_file)
        if text is None:
            return None
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def save(self, state: Dict[str, str]) -> None:
        privatefile.write(self.state_file, "".join(f"{k}={v}\n" for k, v in state.items() if v))

    def running_state(self) -> Optional[Dict[str, str]]:
        """The state of a started watcher (7 when it is not started), None for a probe."""
        state = self.load()
        if state is None:
            raise OCFError(OCFExit.NOT_RUNNING, f"{self.NAME} is not running (no {self.state_file})")
        return None if self.env.get("OCF_RESKEY_CRM_meta_interval", "0") in ("", "0") else state

    def me(self) -> str:
        return self.env.get("OCF_RESKEY_CRM_meta_on_node") or os.uname().nodename


def main(cls: type, version: str, longdesc: str, shortdesc: str, params: Sequence[Parameter],
         actions: Sequence[ActionSpec], argv: Optional[Sequence[str]] = None,
         env: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None) -> int:
    """One OCF action of a watcher agent (``cls``: start, stop, monitor, validate); stop and a
    monitor never fail on configuration (defaults stand in for a bad value)."""
    handlers: Dict[str, Callable[..., int]] = {"start": cls.start, "stop": cls.stop, "monitor": cls.monitor,
                                               "validate-all": cls.validate, "reload": lambda watch: 0}

    def run(action: str, env: Mapping[str, str], report: Reporter) -> int:
        values = parse(params, env, strict=action not in ("stop", "monitor"))
        budget = Budget.from_env(env, next(a.timeout for a in actions if a.name == action))
        return handlers[action](cls(values, env, budget, report))
    return dispatch(cls.NAME, handlers, lambda: metadata.render(cls.NAME, version, longdesc, shortdesc, params, actions),
                    run, argv, env, out)
