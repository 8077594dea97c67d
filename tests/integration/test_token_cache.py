"""The depth-10 monitor's cached token against the real Keystone and Glance.

A monitor reuses the token it issued and Keystone validates it; these tests
show that the reuse hides nothing an operator needs to see: a disabled user, a
changed password, a revoked token, and that a Keystone frozen after issuing
the token does not make Glance's monitor fail.
"""

import json
import os
import secrets
import signal
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from agent_harness import ADMIN_PASSWORD, RSCTMP, SETTINGS, Agent

KEYSTONE_V3 = SETTINGS["KEYSTONE_URL"] + "/v3"


def token_file(agent: Agent) -> Path:
    return Path(RSCTMP) / f"openstack-{agent.instance}.token"


def cached_token(agent: Agent) -> str:
    record = json.loads(token_file(agent).read_text())
    return json.loads(record["auth_state"])["auth_token"]


class Admin:
    """Keystone's admin API through keystoneauth1, for what an operator would do by hand."""

    def __init__(self) -> None:
        import sys
        sys.modules.setdefault("osprofiler", None)
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        auth = v3.Password(auth_url=KEYSTONE_V3, username="admin", password=ADMIN_PASSWORD,
                           project_name="admin", user_domain_name="Default", project_domain_name="Default")
        self.session = session.Session(auth=auth, timeout=30)

    def call(self, method: str, path: str, **kw):
        return self.session.request(KEYSTONE_V3 + path, method, **kw)

    def id_of(self, kind: str, name: str) -> str:
        return self.call("GET", f"/{kind}?name={name}").json()[kind][0]["id"]


@pytest.fixture
def monitor_user(running_keystone) -> Iterator[Tuple[str, str, str]]:
    """A dedicated monitoring user (reader on the admin project): (id, name, password)."""
    admin = Admin()
    name, password = f"rao-monitor-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    user = admin.call("POST", "/users", json={"user": {"name": name, "password": password,
                                                       "domain_id": "default"}}).json()["user"]["id"]
    project, role = admin.id_of("projects", "admin"), admin.id_of("roles", "reader")
    admin.call("PUT", f"/projects/{project}/users/{user}/roles/{role}")
    yield user, name, password
    assert running_keystone.run("start").rc == 0  # a test may have stopped it
    admin.call("DELETE", f"/users/{user}")


def monitoring_as(name: str, password: str) -> dict:
    return {"OCF_RESKEY_os_username": name, "OCF_RESKEY_os_password": password,
            "OCF_RESKEY_os_project_name": "admin"}


def test_keystone_reuses_its_token_root_only_and_stop_removes_it(running_keystone: Agent, monitor_user):
    _, name, password = monitor_user
    creds = monitoring_as(name, password)
    assert running_keystone.run("monitor", depth=10, **creds).rc == 0
    first = cached_token(running_keystone)
    info = token_file(running_keystone).stat()
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o600)
    assert password not in token_file(running_keystone).read_text()
    assert running_keystone.run("monitor", depth=10, **creds).rc == 0
    assert cached_token(running_keystone) == first
    assert running_keystone.run("stop").rc == 0
    assert not token_file(running_keystone).exists()


@pytest.mark.parametrize("change", ["disable-user", "change-password"])
def test_a_cached_token_hides_no_account_change(running_keystone: Agent, monitor_user, change: str):
    user, name, password = monitor_user
    creds = monitoring_as(name, password)
    assert running_keystone.run("monitor", depth=10, **creds).rc == 0
    assert cached_token(running_keystone)  # the next monitor would reuse it
    new_password = secrets.token_urlsafe(16)
    update = {"enabled": False} if change == "disable-user" else {"password": new_password}
    Admin().call("PATCH", f"/users/{user}", json={"user": update})
    result = running_keystone.run("monitor", depth=10, **creds)
    assert result.rc == 1 and "credentials were rejected" in result.reason, result.reason
    if change == "change-password":  # the operator updates the resource: monitoring works again
        assert running_keystone.run("monitor", depth=10, **monitoring_as(name, new_password)).rc == 0


def test_a_revoked_token_is_replaced(running_keystone: Agent, monitor_user):
    _, name, password = monitor_user
    creds = monitoring_as(name, password)
    assert running_keystone.run("monitor", depth=10, **creds).rc == 0
    revoked = cached_token(running_keystone)
    Admin().call("DELETE", "/auth/tokens", headers={"X-Subject-Token": revoked})
    assert running_keystone.run("monitor", depth=10, **creds).rc == 0
    assert cached_token(running_keystone) != revoked


def test_glance_is_degraded_when_keystone_freezes_after_the_token(running_glance: Agent,
                                                                             keystone: Agent, tmp_path):
    """A Glance that has not seen the cached token asks Keystone, which hangs: not Glance's fault."""
    assert running_glance.run("monitor", depth=10).rc == 0
    kept = token_file(running_glance).read_bytes()
    assert running_glance.run("stop").rc == 0 and running_glance.run("start").rc == 0
    fd = os.open(token_file(running_glance), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(kept)  # as if this Glance restarted on its own: the token is new to it
    log = tmp_path / "ha.log"
    pgid = keystone.leader()
    os.killpg(pgid, signal.SIGSTOP)
    try:
        result = running_glance.run("monitor", depth=10, timeout_ms=10000, HA_LOGFILE=str(log),
                                    OCF_RESKEY_http_timeout="3")
    finally:
        os.killpg(pgid, signal.SIGCONT)
    assert result.rc == 190, result.reason
    assert result.seconds < 10
    assert f"Keystone at {KEYSTONE_V3} is unavailable" in log.read_text()
    assert running_glance.run("monitor", depth=10).rc == 0
