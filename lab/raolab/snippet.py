"""The crm the lab loads: the installed snippet of its topology with the operator's edits
(the floating IP, the credentials), the lab's config copies and region, and the lab's
options (a shorter depth-10 interval, a migration-threshold, watch=true/false, or the
ocf:heartbeat:anything baseline). operator_edits is shared with the live cluster tests."""

import re
from typing import TYPE_CHECKING

from .configs import INSTALLED_CRM, KEYSTONE_EXTRA, LAB_GLANCE_CONF, LAB_KEYSTONE_CONF, REGION
from .topology import SERVICES

if TYPE_CHECKING:
    from .lab import LabOptions


def _sub(text: str, pattern: str, repl, count: int) -> str:
    new, n = re.subn(pattern, repl, text, flags=re.M)
    if n != count:
        raise ValueError(f"expected {count} match(es) of {pattern!r} in the snippet, found {n}")
    return new


KEYSTONE_PARAMS = r"(^primitive keystone ocf:openstack:keystone \\\n\s*params )"
GLANCE_PARAMS = r"(^primitive glance-api ocf:openstack:glance-api \\\n\s*params )"


def operator_edits(text: str, vip: str, password: str) -> str:
    """What an operator edits in a shipped snippet (the floating IP, the credentials), and
    keystone's size for a small machine. Shared by the lab and the live cluster tests."""
    text = _sub(text, r"\bip=192\.0\.2\.\d+", f"ip={vip}", 1)
    text = _sub(text, r"\bos_username=\S+", "os_username=admin", 2)
    # a function, not a template: a backslash in the password must stay a backslash
    text = _sub(text, r"\bos_password=\S+", lambda _: f"os_password={password}", 2)
    text = _sub(text, r"\bos_project_name=\S+", "os_project_name=admin", 2)
    return _sub(text, KEYSTONE_PARAMS, rf'\g<1>additional_parameters="{KEYSTONE_EXTRA}" ', 1)


def localize(text: str, vip: str, password: str, glance_conf: str = LAB_GLANCE_CONF) -> str:
    """operator_edits, and the lab's config copies and region."""
    text = operator_edits(text, vip, password)
    text = _sub(text, KEYSTONE_PARAMS, rf"\g<1>config={LAB_KEYSTONE_CONF} os_region_name={REGION} ", 1)
    return _sub(text, GLANCE_PARAMS, rf"\g<1>config={glance_conf} os_region_name={REGION} ", 1)


def _primitive_block(text: str, name: str) -> re.Match:
    m = re.search(rf"^primitive {re.escape(name)} \S+ \\\n(?:.*\\\n)*.*\n", text, flags=re.M)
    if not m:
        raise ValueError(f"no primitive {name} in the snippet")
    return m


def as_anything(text: str) -> str:
    """The baseline: the same snippet, but Keystone and Glance run by ocf:heartbeat:anything
    with the command lines our agents use. anything has no health check and no depth 10."""
    from ocf_openstack.services.keystone import debian_uwsgi  # the installed agent's own choice

    params = {
        "keystone": (f'binfile={debian_uwsgi({}, {})} user=keystone workdir=/ '
                     f'pidfile=/run/lab-anything-keystone/keystone.pid '
                     f'logfile=/var/log/keystone/keystone-anything.out '
                     f'cmdline_options="--http-socket :5000 --ini /etc/keystone/keystone-uwsgi.ini '
                     f"--add-header 'Connection: close' --worker-reload-mercy 5 "
                     f'--env OS_KEYSTONE_CONFIG_FILES={LAB_KEYSTONE_CONF} {KEYSTONE_EXTRA}"'),
        "glance-api": (f'binfile=/usr/bin/glance-api user=glance workdir=/ '
                       f'pidfile=/run/lab-anything-glance/glance-api.pid '
                       f'logfile=/var/log/glance/glance-anything.out '
                       f'cmdline_options="--config-file={LAB_GLANCE_CONF} '
                       f'--log-file=/var/log/glance/glance-api.log"'),
    }
    for name, param_line in params.items():
        m = _primitive_block(text, name)
        lines = [line.strip().rstrip("\\").strip() for line in m.group(0).splitlines()]
        kept = [line for line in lines[1:] if line.startswith(("op ", "meta "))
                and "OCF_CHECK_LEVEL" not in line]
        block = " \\\n    ".join([f"primitive {name} ocf:heartbeat:anything", f"params {param_line}", *kept]) + "\n"
        text = text[:m.start()] + block + text[m.end():]
    return text


def crm_text(opts: "LabOptions", password: str) -> str:
    """The snippet of opts' topology as the lab loads it."""
    topology = opts.topology
    text = localize((INSTALLED_CRM / topology.snippet).read_text(), opts.vip, password, topology.glance_conf)
    if opts.depth10_interval != 60:
        text = _sub(text, r"op monitor interval=60s (timeout=\S+ OCF_CHECK_LEVEL=10)",
                    rf"op monitor interval={opts.depth10_interval}s \1", 2)
    if opts.migration_threshold:
        for name in SERVICES:
            block = _primitive_block(text, name)
            body = block.group(0)
            extra = f"migration-threshold={opts.migration_threshold}"
            body = (re.sub(r"(\n\s*meta )", rf"\g<1>{extra} ", body, count=1) if "\n    meta " in body
                    else body[:-1] + f" \\\n    meta {extra}\n")
            text = text[:block.start()] + body + text[block.end():]
    if opts.watch is not None:   # the operator's edit the README gives: watch=... in the params
        value = "true" if opts.watch else "false"
        text = _sub(text, KEYSTONE_PARAMS, rf"\1watch={value} ", 1)
        text = _sub(text, GLANCE_PARAMS, rf"\1watch={value} ", 1)
    if opts.agent == "anything":
        text = as_anything(text)
    return text
