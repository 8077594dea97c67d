"""What a drill reports: Result (detection, downtime and failed requests per API, recovery,
notes, phases), one line per drill and its phases."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class Result:
    drill: str
    ok: bool = False
    detection: Optional[float] = None
    downtime: Dict[str, Optional[float]] = field(default_factory=dict)
    failed: Dict[str, Tuple[int, int]] = field(default_factory=dict)   # api -> (failed, all) polls
    recovered: Optional[float] = None
    notes: List[str] = field(default_factory=list)
    phases: Dict[str, "Result"] = field(default_factory=dict)
    error: str = ""
    event: str = ""        # the log line that counts as detection
    extra: Dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        def f(v):
            return "-" if v is None else f"{v:.1f}s"
        dt = ", ".join(f"{api} {f(v)}" for api, v in self.downtime.items())
        failed = ", ".join(f"{api} {n}/{total}" for api, (n, total) in self.failed.items())
        return (f"{self.drill}: {'recovered' if self.ok else 'NOT RECOVERED'}; detection {f(self.detection)}; "
                f"downtime {dt or '-'}; failed requests {failed or '-'}; recovered after {f(self.recovered)}"
                + (f"; {'; '.join(self.notes)}" if self.notes else "") + (f"; error: {self.error}" if self.error else ""))


def report(res: Result, indent: str = "") -> List[str]:
    lines = [indent + res.line()]
    for phase in res.phases.values():
        lines += report(phase, indent + "  ")
    return lines
