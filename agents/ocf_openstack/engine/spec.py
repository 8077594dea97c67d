"""How a service is described to the agent engine, and the parameters all share.

A service module builds one :class:`ServiceSpec`: its parameters (the shared
ones from :func:`standard_parameters` plus its own), its command line, the
extra environment of the daemon and its authenticated check. The engine in
``agent`` does everything else.
"""

from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

from ..checks.health import HealthResult
from ..host.paths import instance_file
from ..ocf.params import (Deriver, Parameter, Values, check_absolute_path, check_one_of,
                          check_shell_words, check_url, check_url_path)
from ..watchers.failure.hooks import PARAMETERS as WATCH_PARAMETERS

if TYPE_CHECKING:
    from ..checks.dependencies import Dependency
    from ..checks.openstack_auth import AuthCheck

Depth10Check = Callable[["AuthCheck"], HealthResult]


def _no_environment(values: Values) -> Dict[str, str]:
    return {}


def _no_problem(values: Values) -> str:
    return ""


def _no_dependencies(values: Values) -> Tuple["Dependency", ...]:
    return ()


class ServiceSpec(NamedTuple):
    name: str                         # the agent's name, as in ocf:openstack:<name>
    shortdesc: str
    longdesc: str
    params: Tuple[Parameter, ...]
    command: Callable[[Values], List[str]]
    depth10: Depth10Check  # the authenticated check (OCF_CHECK_LEVEL=10)
    files: Tuple[str, ...] = ("config",)  # parameters naming files the daemon must read
    environment: Callable[[Values], Dict[str, str]] = _no_environment
    check: Callable[[Values], str] = _no_problem  # what is wrong across parameters (exit 6)
    # what the service needs to work (its database...), probed before a failure that a dead
    # dependency explains is blamed on the service (see dependencies)
    dependencies: Callable[[Values], Tuple["Dependency", ...]] = _no_dependencies
    # more of this host the service needs before it can start (each raises OCFError, e.g. 5
    # with the path); run with the host checks of start and validate-all
    host_checks: Tuple[Callable[[Values], None], ...] = ()
    # monitor only, after the checks passed: each returns why the running service is degraded
    # (reported as 190, e.g. a watcher's verdict about this node), or None; a file read at most
    advisories: Tuple[Callable[[Values, Mapping[str, str]], Optional[str]], ...] = ()


def default_pidfile(service: str) -> Callable[[Values, Mapping[str, str]], str]:
    return lambda values, env: instance_file(service, env, ".pid")


def standard_parameters(service: str, binary: str, config: str, user: str, log_file: str,
                        url: str, auth_url: str = "",
                        find_binary: Optional[Deriver] = None) -> Tuple[Parameter, ...]:
    """Process, health and credential parameters, with Debian's defaults."""
    restart = " Changing it restarts the service."
    monitoring_only = " Only monitoring uses it: changing it reloads the agent, the service keeps running."
    return (
        Parameter("binary", "Daemon executable",
                  "Path of the daemon to run" + (" (empty: " + binary + ")." if find_binary else ".")
                  + restart, default="" if find_binary else binary, unique=True, derive=find_binary),
        Parameter("config", "Configuration file",
                  "The service's main configuration file." + restart, default=config, unique=True),
        Parameter("user", "Service user", "The daemon runs as this user." + restart,
                  default=user, unique=True),
        Parameter("group", "Service group", "The daemon's group (empty: the user's primary group)." + restart,
                  unique=True),
        Parameter("pid", "PID file",
                  "PID file the agent keeps for this resource instance "
                  "(empty: $HA_RSCTMP/openstack-<resource>.pid)." + restart,
                  unique=True, derive=default_pidfile(service), check=check_absolute_path),
        Parameter("log_file", "Service log file",
                  "Where the daemon's output goes; its last lines are quoted when a start fails." + restart,
                  default=log_file, unique=True, check=check_absolute_path),
        Parameter("additional_parameters", "Extra command-line arguments",
                  "Appended to the daemon's command line (shell-style quoting)." + restart, unique=True,
                  check=check_shell_words),
        Parameter("url", "Base URL of this instance",
                  "Where the local instance answers, for the health checks." + monitoring_only,
                  default=url, check=check_url),
        Parameter("health_path", "Health check path",
                  "Unauthenticated path that answers 200 when healthy (oslo.middleware healthcheck)."
                  + monitoring_only, default="/healthcheck", check=check_url_path),
        Parameter("http_timeout", "HTTP timeout (s)",
                  "Per-request timeout in seconds; always cut to what is left of the op timeout."
                  + monitoring_only, kind="integer", default="10", minimum=1),
        Parameter("ca_file", "CA bundle",
                  "CA certificates to verify HTTPS (empty: the system's)." + monitoring_only),
        Parameter("insecure", "Skip TLS verification",
                  "Do not verify HTTPS certificates (logged as a warning)." + monitoring_only,
                  kind="boolean", default="false"),
        Parameter("os_auth_url", "Keystone auth URL",
                  "Keystone v3 URL for the depth-10 monitor"
                  + (" (empty: <url>/v3)." if not auth_url else ".") + monitoring_only,
                  default=auth_url, derive=(lambda v, e: v["url"].rstrip("/") + "/v3") if not auth_url else None,
                  check=check_url),
        Parameter("os_username", "Monitoring user",
                  "Keystone user of the depth-10 monitor (OCF_CHECK_LEVEL=10)." + monitoring_only),
        Parameter("os_password", "Monitoring password",
                  "Password of os_username. Keep it out of the CIB with cibsecret." + monitoring_only,
                  secret=True),
        Parameter("os_project_name", "Monitoring project",
                  "Project to scope the token to (os_tenant_name is a deprecated alias)." + monitoring_only,
                  aliases=("os_tenant_name",)),
        Parameter("os_user_domain_name", "User domain", "Domain of os_username." + monitoring_only,
                  default="Default"),
        Parameter("os_project_domain_name", "Project domain", "Domain of os_project_name." + monitoring_only,
                  default="Default"),
        Parameter("os_region_name", "Region",
                  "If set, the depth-10 monitor also checks that the token's catalog lists this "
                  "service in this region." + monitoring_only),
        Parameter("os_interface", "Endpoint interface",
                  "Interface looked up in the catalog with os_region_name." + monitoring_only,
                  default="public", check=check_one_of("public", "internal", "admin")),
        Parameter("token_max_age", "Token reuse (s)",
                  "Seconds the depth-10 monitor reuses the Keystone token it issued, kept root-only in "
                  "$HA_RSCTMP/openstack-<resource>.token and validated by every use: Keystone then "
                  "checks the password (bcrypt) only when a token is issued. 0: issue a token at "
                  "every depth-10 monitor." + monitoring_only, kind="integer", default="3600", minimum=0),
    ) + WATCH_PARAMETERS
