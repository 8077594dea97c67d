"""OCF return codes, and the exception that carries one with its reason."""

from enum import IntEnum


class OCFExit(IntEnum):
    """Return codes of the OCF resource agent API (1.0, and 1.1's degraded)."""

    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7
    # Pacemaker 2.0.5 and later (OCF 1.1): from a recurring monitor, a success that crm_mon
    # lists under failed actions with its reason; no recovery, no fail-count. Only the
    # monitor returns it (Pacemaker 2.1.5 fails it from any other action).
    DEGRADED = 190


class OCFError(Exception):
    """An action ends with ``code``; ``reason`` is what the operator must fix."""

    def __init__(self, code: OCFExit, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
