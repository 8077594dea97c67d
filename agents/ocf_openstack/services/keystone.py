"""ocf:openstack:keystone -- Keystone under uwsgi, as Debian's init script runs it."""

import os
from typing import TYPE_CHECKING, Dict, List, Mapping, Tuple

from ..checks import openstack_auth
from ..engine import agent
from ..engine.spec import ServiceSpec, standard_parameters
from ..ocf.params import Parameter, Values, check_absolute_path, check_listen_address
from ..watchers import keyverdict

if TYPE_CHECKING:
    from ..checks.dependencies import Dependency

DEFAULT_CONFIG = "/etc/keystone/keystone.conf"
UWSGI_DIR = "/usr/bin"
WORKER_MERCY = 5  # seconds


def debian_uwsgi(values: Values, env: Mapping[str, str]) -> str:
    """The uwsgi Debian's init script picks: the highest /usr/bin/uwsgi_python3*."""
    candidates = [f"{UWSGI_DIR}/{name}" for name in os.listdir(UWSGI_DIR)
                  if name.startswith("uwsgi_python3") and os.access(f"{UWSGI_DIR}/{name}", os.X_OK)]
    # uwsgi_python3 < uwsgi_python39 < uwsgi_python311: longer is newer
    return max(candidates, key=lambda p: (len(p), p), default=f"{UWSGI_DIR}/uwsgi_python3")


def command(values: Values) -> List[str]:
    # uwsgi closes the connection after each response and the ini strips
    # Content-Length: without "Connection: close" kept-alive clients see resets.
    if values["ssl_cert"]:
        socket = ["--https-socket", f"{values['bind']},{values['ssl_cert']},{values['ssl_key']}"]
    else:
        socket = ["--http-socket", values["bind"]]
    # A SIGTERM while a lazy-app worker still loads Keystone waits out uwsgi's worker
    # mercy (60 s by default): a stop right after a start would stall a failover.
    return [values["binary"], *socket, "--ini", values["uwsgi_ini"], "--add-header", "Connection: close",
            "--worker-reload-mercy", str(WORKER_MERCY)]


def check(values: Values) -> str:
    if bool(values["ssl_cert"]) != bool(values["ssl_key"]):
        return "ssl_cert and ssl_key go together: set both for HTTPS, or neither"
    if values["ssl_cert"] and not values["url"].startswith("https://"):
        return "with ssl_cert set Keystone speaks HTTPS: url must start with https://"
    return ""


def dependencies(values: Values) -> Tuple["Dependency", ...]:
    from ..checks.dependencies import database_of  # only when a check failed
    return (database_of(values["config"]),)


def key_repositories(values: Values) -> None:
    from ..checks.keyprints import check_repositories  # start and validate-all only
    check_repositories(values)


def environment(values: Values) -> Dict[str, str]:
    # keystone's WSGI app reads its config files from the environment.
    if values["config"] != DEFAULT_CONFIG:
        return {"OS_KEYSTONE_CONFIG_FILES": values["config"]}
    return {}


SPEC = ServiceSpec(
    name="keystone",
    shortdesc="OpenStack Keystone (identity API under uwsgi)",
    longdesc=("Starts, stops and monitors Debian's Keystone under uwsgi. The monitor checks the "
              "process and GET <url>/healthcheck; at OCF_CHECK_LEVEL=10 it also has Keystone "
              "validate the v3 token it keeps (see token_max_age), or issues one with the os_* "
              "credentials."),
    params=standard_parameters("keystone", binary="the highest /usr/bin/uwsgi_python3*",
                               find_binary=debian_uwsgi, config=DEFAULT_CONFIG, user="keystone",
                               log_file="/var/log/keystone/keystone.log",
                               url="http://127.0.0.1:5000") + (
        Parameter("uwsgi_ini", "uwsgi configuration",
                  "uwsgi ini file that loads Keystone. Changing it restarts the service.",
                  default="/etc/keystone/keystone-uwsgi.ini", unique=True),
        Parameter("bind", "Listen address",
                  "uwsgi --http-socket address ([host]:port; ':5000' is every address). "
                  "Changing it restarts the service.", default=":5000", unique=True,
                  check=check_listen_address),
        Parameter("ssl_cert", "TLS certificate",
                  "PEM certificate (chain) for HTTPS: with ssl_key, uwsgi serves --https-socket, as "
                  "Debian's init script does when /etc/keystone/ssl holds a certificate (the agent "
                  "does not guess: name the files; url must then be https://). "
                  "Changing it restarts the service.", unique=True, check=check_absolute_path),
        Parameter("ssl_key", "TLS private key",
                  "PEM private key of ssl_cert, readable by the service user. "
                  "Changing it restarts the service.", unique=True, check=check_absolute_path),
    ),
    command=command,
    environment=environment,
    depth10=openstack_auth.keystone_token,
    files=("config", "uwsgi_ini", "ssl_cert", "ssl_key"),
    check=check,
    dependencies=dependencies,
    host_checks=(key_repositories,),     # a missing key repository: 5, not a Keystone failing every token
    advisories=(keyverdict.advisory,),   # keys-watch's verdict: this node's keys lack an issuer's
)


def main() -> int:
    return agent.main(SPEC)
