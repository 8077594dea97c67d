"""The client's view: the poller in the client namespace (client.py poll) that every drill
runs while it injects its fault, and what it saw (downtime, failed requests, steady answers)."""

import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..cluster import ClusterError, clean_env
from ..lab import CLIENT, PY, Lab
from .result import Result

POLL_INTERVAL = 0.1
POLL_TIMEOUT = 1.5
STABLE = 1.0          # both APIs answered for this long: recovered


def work_mode(args: List[str]) -> bool:
    return bool({"work", "tokens"} & set(args))


class Poller:
    """The client-namespace poller (client.py poll) as a context manager; our own child."""

    def __init__(self, lab: Lab, tag: str, interval: float = POLL_INTERVAL, timeout: float = POLL_TIMEOUT,
                 work: bool = False, old_tokens: Optional[List[str]] = None) -> None:
        """work: a load of real requests (tokens issued, image lists) instead of the health GETs;
        old_tokens (with work): Keystone's sample also validates its new token and these."""
        self.lab = lab
        self.old_tokens = old_tokens
        self.args = [str(interval), str(timeout)] + (["tokens" if old_tokens is not None else "work"] if work else [])
        self.timeout = timeout
        d = Path(lab.opts.base) / "polls"
        d.mkdir(parents=True, exist_ok=True)
        self.path = d / f"{time.strftime('%H%M%S')}-{tag}.log"
        self.proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "Poller":
        self.path.write_text("")
        self.proc = subprocess.Popen(
            self.lab.cluster.client_argv(PY, str(CLIENT), "poll", str(self.path), self.lab.keystone_url,
                                         self.lab.glance_url, *self.args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=clean_env(**({"LAB_OS_PASSWORD": self.lab.password, "LAB_OLD_TOKENS": " ".join(self.old_tokens or [])}
                             if work_mode(self.args) else {})))
        assert self.proc.stdout is not None
        self.proc.stdout.readline()   # {"polling": true}
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=self.timeout + 5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def samples(self, with_latency: bool = False) -> List[tuple]:
        """(start epoch, api, ok[, latency]) of every poll, in time order."""
        out = []
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 5:
                sample = (float(parts[0]), parts[1], parts[2] == "1")
                out.append(sample + (float(parts[4]),) if with_latency else sample)
        return sorted(out)

    def healthy_since(self, seconds: float, after: float = 0.0) -> bool:
        """Both APIs answered every poll of the last `seconds` (and at least once after `after`)."""
        now = time.time()
        samples = self.samples()
        for api in ("keystone", "glance"):
            mine = [(t, ok) for t, a, ok in samples if a == api]
            recent = [ok for t, ok in mine if t >= now - seconds - POLL_TIMEOUT]
            if not recent or not all(recent) or not any(t > after for t, ok in mine if ok):
                return False
            # at least `seconds` of successes after the last failure
            fails = [t for t, ok in mine if not ok]
            if fails and fails[-1] > now - seconds - POLL_TIMEOUT:
                return False
        return True

    def unsteady(self, after: float) -> Optional[str]:
        """None once both APIs answered steadily (STABLE s, and after ``after``), else why not:
        the last condition of every drill's recovery."""
        return None if self.healthy_since(STABLE, after=after) else "the APIs are not answering steadily yet"

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy_since(STABLE):
            if time.monotonic() > deadline:
                raise ClusterError(f"the APIs were not answering steadily on the floating IP within {timeout:.0f}s")
            time.sleep(0.2)

    def failed(self, since: float, until: float) -> Dict[str, Tuple[int, int]]:
        """api -> (failed, all) of the polls started between since and until."""
        counts = {api: [0, 0] for api in ("keystone", "glance")}
        for t, api, ok in self.samples():
            if since <= t <= until and api in counts:
                counts[api][0] += not ok
                counts[api][1] += 1
        return {api: (n, total) for api, (n, total) in counts.items()}

    def record(self, res: "Result", since: float, until: float) -> None:
        """What the client saw between since and until: downtime and failed requests."""
        res.downtime = self.downtime(since, until)
        res.failed = self.failed(since, until)

    def downtime(self, since: float, until: float) -> Dict[str, Optional[float]]:
        """api -> seconds the client went without answers between since and until (None:
        still failing at until). An outage runs from the start of the first failed request
        (one in flight at `since` that then failed counts from `since`) to the moment the
        first successful request after it was answered; failed requests started before
        that moment belong to the same outage. Only requests finished by `until` count."""
        result: Dict[str, Optional[float]] = {}
        samples = sorted((max(t, since), a, ok, t + latency)
                         for t, a, ok, latency in self.samples(with_latency=True)
                         if since <= t + latency <= until)
        for api in ("keystone", "glance"):
            total, down_at, up_at = 0.0, None, since
            for t, a, ok, done in samples:
                if a != api:
                    continue
                if not ok and down_at is None and t >= up_at:
                    down_at = t
                elif ok and down_at is not None and t >= down_at:
                    total += done - down_at
                    up_at = done
                    down_at = None
            result[api] = None if down_at is not None else total
        return result
