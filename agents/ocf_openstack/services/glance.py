"""ocf:openstack:glance-api -- Glance's API server (eventlet), as Debian runs it."""

from typing import TYPE_CHECKING, List, Tuple

from ..checks import openstack_auth
from ..checks.health import TLSOptions
from ..engine import agent
from ..engine.spec import ServiceSpec, standard_parameters
from ..ocf.params import Values

if TYPE_CHECKING:
    from ..checks.dependencies import Dependency


def command(values: Values) -> List[str]:
    return [values["binary"], f"--config-file={values['config']}", f"--log-file={values['log_file']}"]


def dependencies(values: Values) -> Tuple["Dependency", ...]:
    from ..checks.dependencies import database_of, http_api  # only when a check failed
    url = values["os_auth_url"]
    return (database_of(values["config"]),
            http_api(f"Keystone at {url}", url, TLSOptions(values["ca_file"], bool(values["insecure"]))))


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
    depth10=openstack_auth.glance_image_list,
    dependencies=dependencies,
)


def main() -> int:
    return agent.main(SPEC)
