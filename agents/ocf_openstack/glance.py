"""ocf:openstack:glance-api -- Glance's API server (eventlet), as Debian runs it."""

from typing import TYPE_CHECKING, List

from . import agent
from .budget import Budget
from .health import HealthResult, TLSOptions
from .params import Values
from .service import ServiceSpec, standard_parameters

if TYPE_CHECKING:
    from .openstack_auth import Credentials


def command(values: Values) -> List[str]:
    return [values["binary"], f"--config-file={values['config']}", f"--log-file={values['log_file']}"]


def depth10(creds: "Credentials", tls: TLSOptions, budget: Budget, timeout: float,
            values: Values) -> HealthResult:
    """List one image through this instance (the client libraries load only here)."""
    from .openstack_auth import glance_image_list

    return glance_image_list(creds, tls, budget, timeout, values["url"])


SPEC = ServiceSpec(
    name="glance-api",
    shortdesc="OpenStack Glance API",
    longdesc=("Starts, stops and monitors Debian's glance-api. The monitor checks the process and "
              "GET <url>/healthcheck; at OCF_CHECK_LEVEL=10 it also lists one image through the "
              "Image API v2 of this instance with a Keystone token (os_* credentials)."),
    params=standard_parameters("glance-api", binary="/usr/bin/glance-api",
                               config="/etc/glance/glance-api.conf", user="glance",
                               log_file="/var/log/glance/glance-api.log",
                               url="http://127.0.0.1:9292", auth_url="http://127.0.0.1:5000/v3"),
    command=command,
    depth10=depth10,
)


def main() -> int:
    return agent.main(SPEC)
