"""Declared agent parameters and their parsing from ``OCF_RESKEY_*``.

A service declares its parameters as :class:`Parameter` objects; :func:`parse`
turns the environment Pacemaker hands us into typed values, or raises an
:class:`~ocf_openstack.exitcodes.OCFError` (6, "not configured") that names
the parameter and the problem.
"""

from typing import Any, Callable, Dict, Iterable, Mapping, NamedTuple, Optional, Tuple

from .exitcodes import OCFError, OCFExit
from .urls import parse_endpoint

TRUE_WORDS = frozenset({"1", "yes", "true", "on", "y"})
FALSE_WORDS = frozenset({"0", "no", "false", "off", "n"})

Values = Dict[str, Any]
Deriver = Callable[[Values, Mapping[str, str]], str]
# A syntax check of one value: returns what is wrong with it, or "" if nothing.
Checker = Callable[[Any], str]


class Parameter(NamedTuple):
    """One OCF parameter.

    ``kind`` is the meta-data content type: string, integer or boolean.
    ``unique`` marks parameters that change the running daemon: with OCF 1.0
    meta-data Pacemaker restarts the resource when one of them changes and
    calls ``reload`` for the others. ``derive`` computes the value when it is
    left empty (the meta-data then documents the rule in ``longdesc``).
    ``check`` rejects a syntactically wrong value (exit code 6).
    """

    name: str
    shortdesc: str
    longdesc: str
    kind: str = "string"
    default: str = ""
    aliases: Tuple[str, ...] = ()
    unique: bool = False
    required: bool = False
    secret: bool = False
    minimum: Optional[int] = None
    derive: Optional[Deriver] = None
    check: Optional[Checker] = None


def _convert(param: Parameter, raw: str) -> Any:
    if param.kind == "boolean":
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise OCFError(OCFExit.ERR_CONFIGURED,
                       f"parameter {param.name}={raw!r} is not a boolean (use true or false)")
    if param.kind == "integer":
        try:
            number = int(raw.strip())
        except ValueError:
            raise OCFError(OCFExit.ERR_CONFIGURED,
                           f"parameter {param.name}={raw!r} is not a whole number") from None
        if param.minimum is not None and number < param.minimum:
            raise OCFError(OCFExit.ERR_CONFIGURED,
                           f"parameter {param.name}={number} is below its minimum {param.minimum}")
        return number
    return raw


def _raw_value(param: Parameter, env: Mapping[str, str]) -> str:
    """The value as set, under its name or a deprecated alias, else the default."""
    for key in (param.name,) + param.aliases:
        value = env.get("OCF_RESKEY_" + key)
        if value is not None and value != "":
            return value
    return param.default


def _value(param: Parameter, env: Mapping[str, str], strict: bool) -> Any:
    raw = _raw_value(param, env)
    if raw == "":
        if param.required and strict:
            raise OCFError(OCFExit.ERR_CONFIGURED, f"required parameter {param.name} is not set")
        return "" if param.kind == "string" else None
    try:
        return _convert(param, raw)
    except OCFError:
        if strict:
            raise
        return _convert(param, param.default) if param.default else None


def parse(params: Iterable[Parameter], env: Mapping[str, str], strict: bool = True) -> Values:
    """Typed values for every declared parameter, derived ones last.

    ``strict=False`` (for stop) never raises: a value that does not parse
    falls back to its default, so a typo can not make a stop fail.
    """
    params = list(params)
    values: Values = {param.name: _value(param, env, strict) for param in params}
    for param in params:
        if values[param.name] in ("", None) and param.derive is not None:
            values[param.name] = _convert(param, param.derive(values, env))
    if strict:
        _check(params, values)
    return values


def _check(params: Iterable[Parameter], values: Values) -> None:
    for param in params:
        value = values[param.name]
        problem = param.check(value) if param.check and value not in ("", None) else ""
        if problem:
            raise OCFError(OCFExit.ERR_CONFIGURED, f"parameter {param.name}={value!r}: {problem}")


# ---------------------------------------------------------------- common checks

def check_url(value: str) -> str:
    try:
        parse_endpoint(value)
    except ValueError as err:
        return str(err)
    return ""


def check_absolute_path(value: str) -> str:
    return "" if value.startswith("/") else "must be an absolute path"


def check_url_path(value: str) -> str:
    return "" if value.startswith("/") else "must start with '/'"


def check_shell_words(value: str) -> str:
    import shlex

    try:
        shlex.split(value)
    except ValueError as err:
        return f"cannot be split into arguments ({err})"
    return ""


def check_listen_address(value: str) -> str:
    """[host]:port, as uwsgi's --http-socket takes it."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return "must be [host]:port with a port from 1 to 65535 (':5000' is every address)"
    if any(c.isspace() or c == "," for c in host):
        return "the host part must be an address or a name"
    return ""


def check_one_of(*choices: str) -> Checker:
    def check(value: str) -> str:
        return "" if value in choices else "must be one of " + ", ".join(choices)
    return check


def secrets(params: Iterable[Parameter], values: Values) -> Tuple[str, ...]:
    """The values that must never reach argv, logs or exit reasons."""
    return tuple(str(values[p.name]) for p in params if p.secret and values.get(p.name))
