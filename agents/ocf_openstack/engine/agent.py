"""The entry point: one implementation of the OCF contract for every service.

``main(spec, argv, env) -> int`` parses the action and parameters, runs the
action (``actions``) within the op's time budget and turns every failure into
an OCF code with an exit reason. It never knows which service it drives.
"""

from typing import Mapping, Optional, Sequence, TextIO

from .. import __version__
from ..ocf import metadata
from ..ocf.budget import Budget
from ..ocf.entry import dispatch
from ..ocf.exitcodes import OCFError, OCFExit
from ..ocf.log import Reporter
from ..ocf.params import parse, secrets
from .actions import HANDLERS
from .context import Context, is_probe
from .spec import ServiceSpec

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


def main(spec: ServiceSpec, argv: Optional[Sequence[str]] = None,
         env: Optional[Mapping[str, str]] = None, out: Optional[TextIO] = None) -> int:
    """Run one OCF action of a service's agent; returns its exit code."""
    return dispatch(spec.name, HANDLERS,
                    lambda: metadata.render(spec.name, __version__, spec.longdesc, spec.shortdesc,
                                            spec.params, metadata.ACTIONS),
                    lambda action, env, report: _run(spec, action, env, report), argv, env, out)
