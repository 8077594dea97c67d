"""What one action works with: the service, its parsed parameters, the time budget, the voice."""

from typing import Mapping

from ..checks import health
from ..host import process
from ..host.paths import instance_file
from ..ocf.budget import Budget
from ..ocf.exitcodes import OCFError, OCFExit
from ..ocf.log import Reporter
from ..ocf.params import Values
from ..ocf.urls import Endpoint, parse_endpoint
from .spec import ServiceSpec


def is_probe(env: Mapping[str, str]) -> bool:
    """A monitor with interval 0 (or none): Pacemaker asking what runs, before it decides."""
    return env.get("OCF_RESKEY_CRM_meta_interval", "0") in ("", "0")


class Context:
    """What one action works with."""

    def __init__(self, spec: ServiceSpec, values: Values, env: Mapping[str, str],
                 budget: Budget, report: Reporter) -> None:
        self.spec = spec
        self.values = values
        self.env = env
        self.budget = budget
        self.report = report

    @property
    def pidfile(self) -> str:
        return self.values["pid"]

    @property
    def token_file(self) -> str:
        """Where the depth-10 monitor keeps its Keystone token (see token_cache)."""
        return instance_file(self.spec.name, self.env, ".token")

    @property
    def endpoint(self) -> Endpoint:
        try:
            return parse_endpoint(self.values["url"])
        except ValueError as err:
            raise OCFError(OCFExit.ERR_CONFIGURED, f"parameter url: {err}") from None

    @property
    def tls(self) -> health.TLSOptions:
        return health.TLSOptions(self.values["ca_file"], bool(self.values["insecure"]))

    def find(self, check_binary: bool = True) -> process.Found:
        return process.find(self.pidfile, self.values["binary"] if check_binary else None)
