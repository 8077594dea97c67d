"""The entry point: one implementation of the OCF contract for every service.

``main(spec, argv, env) -> int`` parses the action and parameters, runs the
action (``actions``) within the op's time budget and turns every failure into
an OCF code with an exit reason. It never knows which service it drives.
"""

import os
import sys
from typing import Callable, Iterable, Mapping, Optional, Sequence, TextIO

from . import __version__, metadata
from .actions import HANDLERS
from .budget import Budget
from .context import Context, is_probe
from .exitcodes import OCFError, OCFExit
from .log import OCFLibraryMissing, Reporter
from .params import parse, secrets
from .service import ServiceSpec

# Without OCF_RESKEY_CRM_meta_timeout (ocf-tester, a shell), the advertised timeouts apply.
DEFAULT_TIMEOUT = {a.name: a.timeout for a in metadata.ACTIONS if a.depth in (None, 0)}


def _run(spec: ServiceSpec, action: str, env: Mapping[str, str], report: Reporter) -> int:
    # Stop never fails on configuration, and a probe of a stopped service is 7 whatever it says.
    lenient = action == "stop" or (action == "monitor" and is_probe(env))
    values = parse(spec.params, env, strict=not lenient)
    problem = "" if lenient else spec.check(values)
    if problem:
        raise OCFError(OCFExit.ERR_CONFIGURED, problem)
    report.hide(secrets(spec.params, values))
    budget = Budget.from_env(env, DEFAULT_TIMEOUT.get(action, 20))
    return HANDLERS[action](Context(spec, values, env, budget, report))


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


def main(spec: ServiceSpec, argv: Optional[Sequence[str]] = None,
         env: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None) -> int:
    """Run one OCF action of a service's agent; returns its exit code."""
    return dispatch(spec.name, HANDLERS,
                    lambda: metadata.render(spec.name, __version__, spec.longdesc, spec.shortdesc,
                                            spec.params, metadata.ACTIONS),
                    lambda action, env, report: _run(spec, action, env, report), argv, env, out)
