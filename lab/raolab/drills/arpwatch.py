"""Who answers ARP for the floating IP, seen from the client namespace for the length of a
drill: the split-brain check ("at most one MAC answers at every moment").

iputils' arping sends at most one probe a second (its -i takes whole seconds), so PROBERS
``arping -b`` processes (-b: every probe a broadcast, so every holder of the IP answers,
not only the one the cache names) start INTERVAL s apart: one probe each INTERVAL s. Each
arping reads every ARP reply for the IP that reaches the interface, whichever arping
asked, so the first one is the reader and the others probe quietly (-q). A probe's
replies arrive within milliseconds: the replies within WINDOW of a first are one probe's
answers. Each node's MAC (its eth0) names the node.
"""

import re
import subprocess
import threading
import time
from typing import Dict, List, Optional, Set, Tuple

from ..lab import Lab

INTERVAL = 0.2
PROBERS = 5              # x INTERVAL = arping's one second
WINDOW = 0.1             # < INTERVAL: replies this close to a probe's first are that probe's
MIN_COVERAGE = 0.5      # of the probes sent, at least this many answered for a watch to count
REPLY = re.compile(r"reply from \S+ \[([0-9A-Fa-f:]{17})\]")


class ArpWatch:
    """``with ArpWatch(lab) as arp: ...``; then arp.doubled() and arp.owners()."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.procs: List[subprocess.Popen] = []
        self.threads: List[threading.Thread] = []
        self.replies: List[Tuple[int, float, str]] = []     # (prober, epoch, MAC)
        self.lock = threading.Lock()
        self.macs = node_macs(lab)
        self.started = time.time()
        self.ended: Optional[float] = None
        self.exited: List[Optional[int]] = []

    def __enter__(self) -> "ArpWatch":
        self.started = time.time()
        for k in range(PROBERS):
            quiet = ["-q"] if k else []
            argv = self.lab.cluster.client_argv("stdbuf", "-oL", "arping", "-b", *quiet, "-I", "eth0",
                                                self.lab.opts.vip)
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL if k else subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
            self.procs.append(proc)
            if not k:
                thread = threading.Thread(target=self._read, args=(k, proc), daemon=True)
                thread.start()
                self.threads.append(thread)
            time.sleep(INTERVAL)
        return self

    def _read(self, k: int, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = REPLY.search(line)
            if m:
                with self.lock:
                    self.replies.append((k, time.time(), m.group(1).lower()))

    def __exit__(self, *exc) -> None:
        self.ended = time.time()
        self.exited = [proc.poll() for proc in self.procs]    # None: still probing at the end
        for proc in self.procs:
            proc.terminate()     # our own children, by PID
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for thread in self.threads:
            thread.join(timeout=5)

    def probes(self) -> List[Tuple[float, Set[str]]]:
        """(time of the first reply, the MACs that answered) per answered probe, in time order."""
        with self.lock:
            return group_replies([(t, mac) for k, t, mac in self.replies if k == 0])

    def blind(self) -> Optional[str]:
        """None when the watch really watched: every arping ran to the end, and at least
        MIN_COVERAGE of the probes it sent were answered (the IP may be unanswered for a
        while, e.g. between a cut-off node's stop and the majority's start); else why not.
        Without it, "never two MACs" would also be the verdict of an arping that never ran."""
        if self.ended is None:
            return "the ARP watch has not ended"
        if any(code is not None for code in self.exited):
            return f"arping exited early ({self.exited}): is iputils-arping installed?"
        expected = (self.ended - self.started) / INTERVAL
        answered = len(self.probes())
        if expected >= 5 and answered < MIN_COVERAGE * expected:
            return f"only {answered} of ~{expected:.0f} ARP probes were answered"
        return None

    def name(self, mac: str) -> str:
        return self.macs.get(mac, mac)

    def doubled(self) -> List[Tuple[float, List[str]]]:
        """The probes two or more MACs answered (split brain on the wire)."""
        return [(t, sorted(self.name(m) for m in macs)) for t, macs in self.probes() if len(macs) > 1]

    def owners(self, since: float = 0.0) -> List[Tuple[float, str]]:
        """(time, node) each time the answering node changed (its first probe)."""
        changes: List[Tuple[float, str]] = []
        for t, macs in self.probes():
            who = "+".join(sorted(self.name(m) for m in macs))
            if t >= since and (not changes or changes[-1][1] != who):
                changes.append((t, who))
        return changes

    def summary(self, since: float) -> str:
        n = len(self.probes())
        doubled = self.doubled()
        owners = ", ".join(f"{who} from +{t - since:.1f}s" for t, who in self.owners(since))
        return (f"ARP from the client ({n} answered probes, one each {INTERVAL}s): {owners or 'no answer'}; "
                + (f"TWO MACs answered {len(doubled)} probe(s), first at +{doubled[0][0] - since:.1f}s: "
                   f"{doubled[0][1]}" if doubled else "never two MACs"))


def group_replies(replies: List[Tuple[float, str]], window: float = WINDOW) -> List[Tuple[float, Set[str]]]:
    """(epoch, MAC) replies -> (time of a probe's first reply, the MACs that answered it):
    replies within ``window`` of a probe's first reply are that probe's."""
    found: List[Tuple[float, Set[str]]] = []
    for t, mac in sorted(replies):
        if found and t - found[-1][0] < window:
            found[-1][1].add(mac)
        else:
            found.append((t, {mac}))
    return found


def node_macs(lab: Lab) -> Dict[str, str]:
    """MAC of each node's eth0 -> node name (the namespaces outlive a node's crash)."""
    macs: Dict[str, str] = {}
    for i in range(1, lab.opts.nodes + 1):
        mac = _mac(lab, i)
        if mac:
            macs[mac] = f"node{i}"
    return macs


def _mac(lab: Lab, i: int) -> Optional[str]:
    proc = subprocess.run(["ip", "-n", f"{lab.opts.pfx}-n{i}", "-br", "link", "show", "eth0"], capture_output=True,
                          text=True, timeout=10, stdin=subprocess.DEVNULL)
    words = proc.stdout.split()
    return words[2].lower() if proc.returncode == 0 and len(words) > 2 else None
