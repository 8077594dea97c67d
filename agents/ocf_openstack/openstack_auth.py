"""Authenticated (depth-10) checks through the OpenStack client libraries.

Imported only on the depth-10 path. keystoneauth1 tries ``import
osprofiler.web``, which drags in eventlet and setuptools (~0.5 s, ~540
modules) on a controller: the import is blocked before any client loads.
"""

import itertools
import sys
from typing import Callable, NamedTuple

from .budget import Budget
from .health import HealthResult, TLSOptions
from .params import Values


class Credentials(NamedTuple):
    """Keystone v3 password credentials of the monitoring user."""

    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str
    project_domain_name: str
    region_name: str
    interface: str


def block_osprofiler() -> None:
    sys.modules.setdefault("osprofiler", None)  # type: ignore[arg-type]


def _session(creds: Credentials, tls: TLSOptions, timeout: float):
    block_osprofiler()
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=creds.auth_url, username=creds.username,
                       password=creds.password, project_name=creds.project_name,
                       user_domain_name=creds.user_domain_name,
                       project_domain_name=creds.project_domain_name)
    verify = False if tls.insecure else (tls.ca_file or True)
    return session.Session(auth=auth, verify=verify, timeout=timeout)


def _catalog_problem(sess, creds: Credentials, service_type: str) -> str:
    """Empty, or why the token's catalog lacks the service in the configured region."""
    if not creds.region_name:
        return ""
    url = sess.get_endpoint(service_type=service_type, interface=creds.interface,
                            region_name=creds.region_name)
    if url:
        return ""
    return (f"the catalog has no {creds.interface} {service_type} endpoint in region "
            f"{creds.region_name!r} (check os_region_name and os_interface)")


def _describe(err: Exception) -> str:
    status = getattr(err, "http_status", None) or getattr(err, "code", None)
    text = str(err).strip() or err.__class__.__name__
    if status == 401:
        return "the credentials were rejected (HTTP 401): check os_username, os_password, os_project_name and the domains"
    return f"{err.__class__.__name__}: {text}"


def _unavailable(err: Exception) -> bool:
    """Keystone down, hung or failing (5xx), as opposed to refusing our configuration."""
    from keystoneauth1 import exceptions

    if isinstance(err, exceptions.SSLError):
        return False  # a certificate problem is configuration
    return isinstance(err, (exceptions.ConnectFailure, exceptions.ConnectTimeout,
                            exceptions.HttpServerError))


def _guarded(what: str, check: Callable[[], HealthResult]) -> HealthResult:
    try:
        return check()
    except Exception as err:  # any client failure is a failed check, never a traceback
        return HealthResult(False, f"{what} failed: {_describe(err)}")


def keystone_token(creds: Credentials, tls: TLSOptions, budget: Budget, timeout: float,
                   values: Values) -> HealthResult:
    """Issue a v3 token with the configured credentials."""
    def check() -> HealthResult:
        sess = _session(creds, tls, budget.cap(timeout))
        sess.get_token()
        problem = _catalog_problem(sess, creds, "identity")
        return HealthResult(not problem, problem or f"token issued by {creds.auth_url}")
    return _guarded(f"Keystone v3 token from {creds.auth_url}", check)


def glance_image_list(creds: Credentials, tls: TLSOptions, budget: Budget, timeout: float,
                      values: Values) -> HealthResult:
    """List one image from this instance (parameter url) with a Keystone token."""
    glance_url = values["url"]
    def check() -> HealthResult:
        sess = _session(creds, tls, budget.cap(timeout))
        try:
            sess.get_token()
        except Exception as err:
            if not _unavailable(err):
                raise
            # Glance is not at fault: restarting it would only loop until Keystone is back.
            return HealthResult(True, f"Keystone at {creds.auth_url} is unavailable ({_describe(err)}): "
                                "Glance's authenticated API was not checked", degraded=True)
        problem = _catalog_problem(sess, creds, "image")
        if problem:
            return HealthResult(False, problem)
        from glanceclient import Client

        sess.timeout = budget.cap(timeout)
        client = Client("2", session=sess, endpoint_override=glance_url)
        list(itertools.islice(client.images.list(limit=1), 1))
        return HealthResult(True, f"image list from {glance_url} answered")
    return _guarded(f"Glance v2 image list at {glance_url}", check)
