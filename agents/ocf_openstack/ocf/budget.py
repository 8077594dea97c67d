"""The time budget of one action, taken from ``OCF_RESKEY_CRM_meta_timeout``.

Pacemaker kills an agent that outlives its op timeout; every wait and every
HTTP timeout in an action is cut from what is left, minus a safety margin.
"""

import time
from typing import Callable, Mapping

# Kept back for exit paths (log lines, an exit reason, interpreter shutdown).
MARGIN_FRACTION = 0.1
MARGIN_MIN = 0.5
MARGIN_MAX = 2.0


class Budget:
    """Seconds an action may still spend."""

    def __init__(self, total: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._clock = clock
        self._start = clock()
        self._margin = min(MARGIN_MAX, max(MARGIN_MIN, total * MARGIN_FRACTION))

    @classmethod
    def from_env(cls, env: Mapping[str, str], default: float) -> "Budget":
        """The op timeout (milliseconds in the environment), else ``default`` seconds."""
        raw = env.get("OCF_RESKEY_CRM_meta_timeout", "")
        try:
            millis = int(raw)
        except ValueError:
            millis = 0
        return cls(millis / 1000.0 if millis > 0 else default)

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        """Seconds left before the margin; never negative."""
        return max(0.0, self.total - self._margin - self.elapsed())

    def cap(self, seconds: float) -> float:
        """``seconds``, or less if the budget ends sooner (at least a token 0.05 s)."""
        return max(0.05, min(seconds, self.remaining()))

    def expired(self) -> bool:
        return self.remaining() <= 0.0
