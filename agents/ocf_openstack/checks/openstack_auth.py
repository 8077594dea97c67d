"""Authenticated (depth-10) checks through the OpenStack client libraries.

Imported only on the depth-10 path. keystoneauth1 tries ``import
osprofiler.web``, which drags in eventlet and setuptools (~0.5 s, ~540
modules) on a controller: the import is blocked before any client loads.

A check reuses the token the previous monitor issued (see ``token_cache``):
Keystone's check then validates it, which proves Keystone's API, its fernet
keys and its database (the user is enabled, the project and roles exist); the
password itself is proven whenever a token is issued (at the first monitor,
every ``token_max_age`` seconds, and as soon as Keystone rejects the cached one).
"""

import itertools
import sys
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

from ..ocf.budget import Budget
from ..ocf.params import Values
from . import health
from .health import HealthResult, TLSOptions

if TYPE_CHECKING:
    from keystoneauth1.access import AccessInfo

    from .token_cache import TokenCache  # imported by the agent on the depth-10 path only

# Kept back from Glance's image list to ask whether Keystone answers at all.
KEYSTONE_PROBE_TIMEOUT = 2.0
# Below this, there is no time left to tell a hung Keystone from a hung Glance.
KEYSTONE_PROBE_MIN = 0.5
# A list with a token Glance rejects is three requests (keystoneauth1 re-issues the
# token and retries once), each with the session's timeout: each gets a third.
IMAGE_LIST_REQUESTS = 3


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


class AuthCheck(NamedTuple):
    """What one depth-10 check works with."""

    creds: Credentials
    tls: TLSOptions
    budget: Budget
    timeout: float  # per request, cut to the budget
    values: Values
    tokens: "TokenCache"

    def request_timeout(self) -> float:
        """The per-request timeout, cut to what is left of the op timeout."""
        return self.budget.cap(self.timeout)


def block_osprofiler() -> None:
    sys.modules.setdefault("osprofiler", None)  # type: ignore[arg-type]


class _Login:
    """A keystoneauth1 session whose password plugin starts from the cached token, if any."""

    def __init__(self, check: AuthCheck) -> None:
        block_osprofiler()
        from keystoneauth1 import session
        from keystoneauth1.identity import v3

        creds = check.creds
        self.check = check
        self.auth = v3.Password(auth_url=creds.auth_url, username=creds.username,
                                password=creds.password, project_name=creds.project_name,
                                user_domain_name=creds.user_domain_name,
                                project_domain_name=creds.project_domain_name)
        self.cached_token = self._restore(check.tokens.load(creds))
        verify = False if check.tls.insecure else (check.tls.ca_file or True)
        self.session = session.Session(auth=self.auth, verify=verify, timeout=check.request_timeout())

    def _restore(self, state: Optional[str]) -> str:
        """The cached token, installed in the plugin, if the state holds a usable one."""
        if not state:
            return ""
        try:
            self.auth.set_auth_state(state)
            ref = self.auth.auth_ref
            if not isinstance(ref.auth_token, str) or not ref.auth_token or ref.will_expire_soon(0):
                raise ValueError("no usable token")
            return ref.auth_token
        except Exception:  # a damaged cache is no reason to fail: issue a new token
            self.auth.invalidate()
            return ""

    def token(self) -> str:
        """The cached token, or one issued now (also when the cached one expires within 2 min)."""
        self.session.timeout = self.check.request_timeout()
        return self.session.get_token()

    @property
    def reused(self) -> bool:
        ref = self.auth.auth_ref
        return bool(self.cached_token) and ref is not None and ref.auth_token == self.cached_token

    def reissue(self) -> None:
        self.auth.invalidate()
        self.token()

    @property
    def access(self) -> "AccessInfo":
        """What the last token() got (get_access would re-issue a token that expires soon again)."""
        return self.auth.auth_ref

    def remember(self) -> None:
        """Keep a newly issued token for the next monitor."""
        ref = self.auth.auth_ref
        if ref is not None and ref.auth_token != self.cached_token:
            self.check.tokens.save(self.check.creds, self.auth.get_auth_state())


def _catalog_problem(access: "AccessInfo", creds: Credentials, service_type: str) -> str:
    """Empty, or why the token's catalog lacks the service in the configured region."""
    if not creds.region_name:
        return ""
    if access.service_catalog.get_urls(service_type=service_type, interface=creds.interface,
                                       region_name=creds.region_name):
        return ""
    return (f"the catalog has no {creds.interface} {service_type} endpoint in region "
            f"{creds.region_name!r} (check os_region_name and os_interface)")


def _describe(err: Exception) -> str:
    status = getattr(err, "http_status", None) or getattr(err, "code", None)
    text = str(err).strip() or err.__class__.__name__
    if status == 401:
        return "the credentials were rejected (HTTP 401): check os_username, os_password, os_project_name and the domains"
    return f"{err.__class__.__name__}: {text}"


def _kind(err: Exception) -> str:
    """What kind of failure a client exception is (see health's constants)."""
    status = getattr(err, "http_status", None) or getattr(err, "code", None)
    if isinstance(status, int) and status >= 400:
        return health.SERVER_ERROR if status >= 500 else health.REJECTED
    name, text = err.__class__.__name__.lower(), str(err).lower()
    if "ssl" in name or "certificate verify" in text:
        return health.TLS
    if "timeout" in name or "timed out" in text:
        return health.TIMEOUT
    if "refused" in text:
        return health.REFUSED
    if any(word in name for word in ("connect", "communication")) or \
            any(word in text for word in ("aborted", "closed", "reset", "disconnected")):
        return health.CLOSED
    return health.OTHER


def _unavailable(err: Exception) -> bool:
    """Keystone down, hung or failing (5xx), as opposed to refusing our configuration."""
    from keystoneauth1 import exceptions

    if isinstance(err, exceptions.SSLError):
        return False  # a certificate problem is configuration
    return isinstance(err, (exceptions.ConnectFailure, exceptions.ConnectTimeout,
                            exceptions.HttpServerError))


def _keystone_down(check: AuthCheck) -> str:
    """Empty if Keystone answers its version document at os_auth_url (or there is no time to ask)."""
    if check.budget.remaining() < KEYSTONE_PROBE_MIN:
        return ""  # can not tell: report Glance's failure rather than guess
    result = health.check_url(check.creds.auth_url, check.budget.cap(KEYSTONE_PROBE_TIMEOUT), check.tls)
    return "" if result.ok else result.detail


def _not_glances_fault(check: AuthCheck, why: str) -> HealthResult:
    # Restarting Glance can not fix Keystone: it would only loop until Keystone is back.
    return HealthResult(True, f"Keystone at {check.creds.auth_url} is unavailable ({why}): "
                        "Glance's authenticated API was not checked", degraded=True)


def _with_login(check: AuthCheck, what: str, body: Callable[[_Login], HealthResult]) -> HealthResult:
    login = None
    try:
        login = _Login(check)
        return body(login)
    except Exception as err:  # any client failure is a failed check, never a traceback
        return HealthResult(False, f"{what} failed: {_describe(err)}", kind=_kind(err))
    finally:
        if login is not None:
            login.remember()


def _validated(login: _Login) -> Optional["AccessInfo"]:
    """Keystone's view of the cached token (with today's catalog), or None if it rejects it."""
    from keystoneauth1 import access, exceptions

    login.session.timeout = login.check.request_timeout()
    url = login.check.creds.auth_url.rstrip("/") + "/auth/tokens"
    try:
        response = login.session.get(url, headers={"X-Subject-Token": login.cached_token},
                                     allow_reauth=False)
    except (exceptions.Unauthorized, exceptions.NotFound, exceptions.Forbidden):
        # revoked, expired, its fernet key rotated away, or a policy that forbids
        # validating one's own token: prove the password instead
        return None
    return access.create(resp=response)


def keystone_token(check: AuthCheck) -> HealthResult:
    """Validate the cached token, or issue one with the configured credentials."""
    url = check.creds.auth_url

    def body(login: _Login) -> HealthResult:
        login.token()
        access = _validated(login) if login.reused else None
        proof = f"cached token validated by {url}"
        if access is None:
            if login.reused:
                login.reissue()
            access, proof = login.access, f"token issued by {url}"
        problem = _catalog_problem(access, check.creds, "identity")
        return HealthResult(not problem, problem or proof)
    return _with_login(check, f"Keystone v3 token from {url}", body)


def glance_image_list(check: AuthCheck) -> HealthResult:
    """List one image from this instance (parameter url) with the cached or a new token."""
    glance_url = check.values["url"]

    def body(login: _Login) -> HealthResult:
        try:
            login.token()
        except Exception as err:
            if not _unavailable(err):
                raise
            return _not_glances_fault(check, _describe(err))
        problem = _catalog_problem(login.access, check.creds, "image")
        if problem:
            return HealthResult(False, problem)
        try:
            _list_one_image(login, glance_url)
        except Exception as err:
            down = _keystone_down(check)  # a hung Keystone hangs Glance's token validation too
            if down:
                return _not_glances_fault(check, down)
            if getattr(err, "code", None) == 401:
                return HealthResult(False, f"Glance at {glance_url} rejected a token Keystone accepts: "
                                    "check [keystone_authtoken] in Glance's configuration")
            raise
        return HealthResult(True, f"image list from {glance_url} answered")
    return _with_login(check, f"Glance v2 image list at {glance_url}", body)


def _list_one_image(login: _Login, glance_url: str) -> None:
    """GET /v2/images?limit=1; a 401 on a stale cached token re-issues it (keystoneauth1) and retries."""
    from glanceclient import Client

    check = login.check
    share = (check.budget.remaining() - KEYSTONE_PROBE_TIMEOUT) / IMAGE_LIST_REQUESTS
    login.session.timeout = check.budget.cap(min(check.timeout, share))
    client = Client("2", session=login.session, endpoint_override=glance_url)
    list(itertools.islice(client.images.list(limit=1), 1))
