"""ocf:openstack:glance-api -- Glance's API server (eventlet), as Debian runs it."""

from typing import List

from . import agent, openstack_auth
from .params import Values
from .service import ServiceSpec, standard_parameters


def command(values: Values) -> List[str]:
    return [values["binary"], f"--config-file={values['config']}", f"--log-file={values['log_file']}"]


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
)


def main() -> int:
    return agent.main(SPEC)
