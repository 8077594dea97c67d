"""The OCF contract every agent of this package shares, whatever it drives: meta-data and
usage, then one action run with an OCF code and an exit reason for every failure, never a
bare traceback. ``agent`` (the services) and ``database_watch`` (the watcher) call it; it
imports nothing of either, so the watcher's 10 s monitor does not load the service engine.
"""

import os
import sys
from typing import Callable, Iterable, Mapping, Optional, Sequence, TextIO

from .exitcodes import OCFError, OCFExit
from .log import OCFLibraryMissing, Reporter


def dispatch(name: str, actions: Iterable[str], meta_data: Callable[[], str],
             run: Callable[[str, Mapping[str, str], Reporter], int], argv: Optional[Sequence[str]] = None,
             env: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None) -> int:
    """The OCF contract of any agent of this package: meta-data and usage, then ``run`` of the
    action, every failure an OCF code with an exit reason (never a bare traceback)."""
    argv = list(sys.argv if argv is None else argv)
    env = os.environ if env is None else env
    out = out or sys.stdout
    action = argv[1] if len(argv) > 1 else ""
    usage = f"usage: {name} {{{'|'.join(sorted(set(actions) | {'meta-data', 'usage', 'help'}))}}}\n"
    if action == "meta-data":
        out.write(meta_data())
        return OCFExit.SUCCESS
    if action in ("usage", "help", "-h", "--help"):
        out.write(usage)
        return OCFExit.SUCCESS
    try:
        report = Reporter(env)
    except OCFLibraryMissing as err:
        sys.stderr.write(f"ocf-exit-reason:{err} (install resource-agents or set OCF_ROOT)\n")
        return OCFExit.ERR_INSTALLED
    if action not in actions:
        report.exit_reason(f"unsupported action {action!r}; " + usage.strip())
        return OCFExit.ERR_UNIMPLEMENTED
    try:
        return int(run(action, env, report))
    except OCFError as err:
        # "not running" is a state, not an error: no error line in the logs for it; and a
        # degraded service is not failed: a warning
        if err.code == OCFExit.DEGRADED:
            report.warning(err.reason)
        report.exit_reason(err.reason, log=err.code not in (OCFExit.NOT_RUNNING, OCFExit.DEGRADED))
        return int(err.code)
    except Exception as err:  # a bug must still leave a reason, never a bare traceback
        import traceback

        report.debug(traceback.format_exc())
        report.exit_reason(f"internal error in {action}: {err.__class__.__name__}: {err}")
        return OCFExit.ERR_GENERIC
