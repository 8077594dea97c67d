"""Logging and exit reasons through resource-agents' ``ocf.py``.

ocf.py is imported from ``$OCF_FUNCTIONS_DIR`` or ``$OCF_ROOT/lib/heartbeat``
(``/usr/lib/ocf`` when unset), lazily, because it has import-time side
effects: it opens ``HA_LOGFILE`` (which may be unwritable, e.g. for
``nobody``) and compares ``HA_debug`` with an integer, so its handler levels
are wrong in a cluster. Both are corrected here. Every message passes a
redaction filter so a secret never reaches a log or an exit reason.
"""

import importlib
import os
import sys
from types import ModuleType
from typing import Iterable, List, Mapping, Optional

DEFAULT_OCF_ROOT = "/usr/lib/ocf"
DEBUG_WORDS = ("1", "yes", "true", "on")
# logging's levels, without importing logging (ocf.py does, when a line is logged)
DEBUG, INFO, WARNING = 10, 20, 30
REDACTED = "********"


class OCFLibraryMissing(RuntimeError):
    """resource-agents' ocf.py is not installed where OCF says it is."""


def ocf_library_dirs(env: Mapping[str, str]) -> List[str]:
    dirs = []
    if env.get("OCF_FUNCTIONS_DIR"):
        dirs.append(env["OCF_FUNCTIONS_DIR"])
    dirs.append(os.path.join(env.get("OCF_ROOT") or DEFAULT_OCF_ROOT, "lib", "heartbeat"))
    if DEFAULT_OCF_ROOT + "/lib/heartbeat" not in dirs:
        dirs.append(DEFAULT_OCF_ROOT + "/lib/heartbeat")
    return dirs


def _import_ocf() -> ModuleType:
    try:
        return importlib.import_module("ocf")
    except OSError:
        # HA_LOGFILE/HA_DEBUGLOG not writable for this user: import without them.
        sys.modules.pop("ocf", None)
        saved = {k: os.environ.pop(k) for k in ("HA_LOGFILE", "HA_DEBUGLOG") if k in os.environ}
        try:
            return importlib.import_module("ocf")
        finally:
            os.environ.update(saved)


def find_ocf_library(env: Mapping[str, str]) -> str:
    """The directory holding ocf.py; OCFLibraryMissing names where it looked."""
    for directory in ocf_library_dirs(env):
        if os.path.isfile(os.path.join(directory, "ocf.py")):
            return directory
    raise OCFLibraryMissing("resource-agents' ocf.py not found in " + ", ".join(ocf_library_dirs(env)))


def load_ocf(env: Mapping[str, str]) -> ModuleType:
    """resource-agents' ocf module, found the way OCF agents find their library."""
    if "ocf" in sys.modules:
        return sys.modules["ocf"]
    directory = find_ocf_library(env)
    sys.path.insert(0, directory)
    try:
        return _import_ocf()
    finally:
        sys.path.remove(directory)


class Reporter:
    """The agent's voice: log lines and the exit reason, secrets redacted.

    ocf.py (and with it ``logging``) loads on the first line actually logged:
    a healthy depth-0 monitor logs nothing and never pays for it.
    """

    def __init__(self, env: Mapping[str, str], ocf: Optional[ModuleType] = None) -> None:
        if ocf is None and "ocf" not in sys.modules:
            find_ocf_library(env)  # fail now, with the reason, not at the first log line
        self._env = env
        self._secrets: List[str] = []
        self._prefix = env["OCF_RESOURCE_INSTANCE"] + ": " if env.get("OCF_RESOURCE_INSTANCE") else ""
        self._debug = env.get("HA_debug", "0").lower() in DEBUG_WORDS
        self._ocf = self._adopt(ocf) if ocf is not None else None

    def _adopt(self, ocf: ModuleType) -> ModuleType:
        # ocf.py compares HA_debug (a string) with 0: its own levels are wrong in a cluster.
        for handler in ocf.log.handlers:
            handler.setLevel(DEBUG if self._debug else INFO)
        return ocf

    def _lib(self) -> ModuleType:
        if self._ocf is None:
            self._ocf = self._adopt(load_ocf(self._env))
        return self._ocf

    def hide(self, secrets: Iterable[str]) -> None:
        self._secrets.extend(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _log(self, level: int, msg: str) -> None:
        self._lib().logger.log(level, self._prefix + self.redact(msg))

    def debug(self, msg: str) -> None:
        if self._debug:
            self._log(DEBUG, msg)

    def info(self, msg: str) -> None:
        self._log(INFO, msg)

    def warning(self, msg: str) -> None:
        self._log(WARNING, msg)

    def exit_reason(self, msg: str, log: bool = True) -> None:
        """The reason Pacemaker shows for a non-zero exit (also logged as an error)."""
        if log:
            self._lib().ocf_exit_reason(self.redact(msg))
            return
        prefix = self._env.get("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:")
        sys.stderr.write(f"{prefix}{self.redact(msg)}\n")
        sys.stderr.flush()
        self.debug(msg)
