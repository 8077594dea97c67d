"""The watch-quiet drill's undo: a drill that stops half-way (a step did not settle) must not
leave a move constraint, a node in standby, an unmanaged Keystone or maintenance-mode behind
for the next drill (CI once saw a node-loss drill fail because the floating IP went back to
the node a half-done watch-quiet had moved it to)."""

from types import SimpleNamespace
from typing import List

import pytest

from raolab.drills import watch as watchdrills

# a step's command that leaves state behind -> the command that undoes it
LEAVES = {("resource", "move"): ("resource", "clear"),
          ("node", "standby"): ("node", "online"),
          ("resource", "unmanage"): ("resource", "manage"),
          ("configure", "property", "maintenance-mode=true"): ("configure", "property", "maintenance-mode=false")}
RESTORES = {("resource", "restart"), ("resource", "clear"), ("node", "online"), ("resource", "manage"),
            ("configure", "property", "maintenance-mode=false")}


class FakeLab:
    def __init__(self, mode: str, nodes: int) -> None:
        self.opts = SimpleNamespace(mode=mode, nodes=nodes)
        self.ran: List[tuple] = []
        self.cluster = SimpleNamespace(crm=self._crm)

    def _crm(self, *args: str, i=None, timeout: float = 90, check: bool = True):
        assert check is False, "an undo command must not stop the others"
        self.ran.append(args)

    def say(self, text: str) -> None:
        pass


def kind(cmd: tuple) -> tuple:
    return cmd[:3] if cmd[0] == "configure" else cmd[:2]


@pytest.mark.parametrize("mode,nodes,keystone", [("group", 2, "keystone"), ("clone", 3, "keystone-clone")])
def test_the_undo_covers_every_step_that_leaves_state(mode, nodes, keystone):
    lab = FakeLab(mode, nodes)
    watchdrills.undo_quiet_steps(lab)
    undone = {kind(cmd) for cmd in lab.ran}
    for _, commands, _ in watchdrills.QUIET_STEPS:
        for cmd in commands:
            assert kind(cmd) in LEAVES or kind(cmd) in RESTORES, f"a step nobody classified: {cmd}"
            if kind(cmd) in LEAVES:
                assert LEAVES[kind(cmd)] in undone, f"{cmd} is never undone"
    assert ("resource", "clear", "FloatingIP") in lab.ran
    assert ("resource", "manage", keystone) in lab.ran
    assert sorted(cmd[2] for cmd in lab.ran if kind(cmd) == ("node", "online")) == \
        [f"node{i}" for i in range(1, nodes + 1)]
    assert not any("{" in arg for cmd in lab.ran for arg in cmd), lab.ran
