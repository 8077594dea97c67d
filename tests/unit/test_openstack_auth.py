import io
import logging
import sys
import time

import pytest

from unit_support import PASSWORD, free_port, keystone_routes, needs_proc
from ocf_openstack import agent, keystone, openstack_auth
from ocf_openstack.budget import Budget
from ocf_openstack.health import TLSOptions
from ocf_openstack.log import REDACTED
from ocf_openstack.openstack_auth import Credentials

pytest.importorskip("keystoneauth1", reason="python3-keystoneauth1 is not installed")
pytestmark = pytest.mark.usefixtures("no_osprofiler")


def creds(auth_url, region=""):
    return Credentials(auth_url, "monitor", PASSWORD, "service", "Default", "Default", region, "public")


def budget(seconds=10.0):
    return Budget(seconds)


def test_block_osprofiler():
    openstack_auth.block_osprofiler()
    with pytest.raises(ImportError):
        import osprofiler  # noqa: F401
    with pytest.raises(ImportError):
        import osprofiler.web  # noqa: F401


def test_keystone_token_issued(http_server):
    keystone_routes(http_server)
    result = openstack_auth.keystone_token(creds(http_server.url + "/v3"), TLSOptions(), budget(), 5, {})
    assert result.ok, result.detail
    assert sys.modules.get("osprofiler", None) is None  # never imported for real
    (method, path, body), = [r for r in http_server.requests if r[0] == "POST"]
    assert path == "/v3/auth/tokens" and PASSWORD.encode() in body


def test_keystone_token_closed_port():
    url = f"http://127.0.0.1:{free_port()}/v3"
    started = time.monotonic()
    result = openstack_auth.keystone_token(creds(url), TLSOptions(), budget(), 5, {})
    assert not result.ok and url in result.detail
    assert time.monotonic() - started < 2


def test_keystone_token_silent_server_is_bounded(silent_port):
    url = f"http://127.0.0.1:{silent_port}/v3"
    started = time.monotonic()
    result = openstack_auth.keystone_token(creds(url), TLSOptions(), budget(), 0.5, {})
    assert not result.ok and url in result.detail
    assert time.monotonic() - started < 0.5 + 1


def test_keystone_token_timeout_is_cut_to_the_budget(silent_port):
    url = f"http://127.0.0.1:{silent_port}/v3"
    started = time.monotonic()
    result = openstack_auth.keystone_token(creds(url), TLSOptions(), Budget(1.2), 30, {})  # 0.7 s left
    assert not result.ok
    assert time.monotonic() - started < 1.2 + 0.5


@pytest.mark.parametrize("echo", [False, True], ids=["keystone", "echoing-server"])
def test_keystone_401_says_credentials_rejected_without_the_password(http_server, echo):
    keystone_routes(http_server, token_status=401, echo_password_in_error=echo)
    result = openstack_auth.keystone_token(creds(http_server.url + "/v3"), TLSOptions(), budget(), 5, {})
    assert not result.ok
    assert "credentials were rejected" in result.detail and "401" in result.detail
    assert PASSWORD not in result.detail


def test_keystone_region_missing_from_catalog(http_server):
    keystone_routes(http_server, region="RegionOne")
    ok = openstack_auth.keystone_token(creds(http_server.url + "/v3", "RegionOne"), TLSOptions(), budget(), 5, {})
    assert ok.ok, ok.detail
    bad = openstack_auth.keystone_token(creds(http_server.url + "/v3", "RegionTwo"), TLSOptions(), budget(), 5, {})
    assert not bad.ok and "RegionTwo" in bad.detail and "identity" in bad.detail


def test_glance_image_list(http_server):
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone_routes(http_server)
    http_server.routes[("GET", "/v2/images")] = (200, {"images": [], "schema": "/v2/schemas/images",
                                                       "first": "/v2/images"}, {})
    result = openstack_auth.glance_image_list(creds(http_server.url + "/v3"), TLSOptions(), budget(), 5, {"url": http_server.url})
    assert result.ok, result.detail
    assert any(r[0] == "GET" and r[1].startswith("/v2/images") for r in http_server.requests)


def test_glance_image_list_failure(http_server):
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone_routes(http_server)
    http_server.routes[("GET", "/v2/images")] = (500, {"error": "boom"}, {})
    result = openstack_auth.glance_image_list(creds(http_server.url + "/v3"), TLSOptions(), budget(), 5, {"url": http_server.url})
    assert not result.ok and http_server.url in result.detail


# ---------------------------------------------------------------- through the keystone agent

@pytest.fixture
def keystone_env(daemon, agent_env, http_server):
    """A running `sleep` as keystone, a fake Keystone, and depth-10 credentials."""
    proc, pidfile = daemon
    agent_env.update(OCF_RESKEY_pid=pidfile, OCF_RESKEY_binary="/usr/bin/sleep",
                     OCF_RESKEY_url=http_server.url, OCF_RESKEY_CRM_meta_interval="30000",
                     OCF_CHECK_LEVEL="10", OCF_RESKEY_os_username="monitor",
                     OCF_RESKEY_os_password=PASSWORD, OCF_RESKEY_os_project_name="service", HA_debug="1")
    return agent_env


def run(env, capsys):
    rc = agent.main(keystone.SPEC, ["keystone", "monitor"], env=env, out=io.StringIO())
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


@needs_proc
@pytest.mark.usefixtures("ocf_lib")
def test_agent_depth10_ok(keystone_env, http_server, capsys):
    keystone_routes(http_server)
    assert run(keystone_env, capsys)[0] == 0
    assert ("POST", "/v3/auth/tokens") in [r[:2] for r in http_server.requests]


@needs_proc
@pytest.mark.usefixtures("ocf_lib")
@pytest.mark.parametrize("status", [401, 400])
def test_agent_depth10_rejected_never_shows_the_password(keystone_env, http_server, capsys, caplog, status):
    keystone_routes(http_server, token_status=status, echo_password_in_error=True)
    caplog.set_level(logging.DEBUG)
    rc, err = run(keystone_env, capsys)
    assert rc == 1 and "ocf-exit-reason:keystone depth-10 check: " in err
    if status == 401:
        assert "credentials were rejected" in err
    else:
        assert REDACTED in err  # the server repeated the password; the agent hid it
    assert PASSWORD not in err and PASSWORD not in caplog.text


@needs_proc
@pytest.mark.usefixtures("ocf_lib")
def test_agent_depth0_makes_no_token_request(keystone_env, http_server, capsys):
    keystone_routes(http_server)
    keystone_env["OCF_CHECK_LEVEL"] = "0"
    assert run(keystone_env, capsys)[0] == 0
    assert [r[:2] for r in http_server.requests] == [("GET", "/healthcheck")]


def _needs_degraded():
    from ocf_openstack.health import HealthResult
    if "degraded" not in HealthResult._fields:
        pytest.skip("no degraded results in this version")


@pytest.mark.parametrize("keystone", ["closed", "503"])
def test_glance_check_is_degraded_not_failed_when_keystone_is_down(http_server, keystone):
    """Restarting Glance can not fix Keystone: ok for Pacemaker, with a warning."""
    _needs_degraded()
    if keystone == "closed":
        auth_url = f"http://127.0.0.1:{free_port()}/v3"
    else:
        keystone_routes(http_server, token_status=503)
        auth_url = http_server.url + "/v3"
    result = openstack_auth.glance_image_list(creds(auth_url), TLSOptions(), budget(), 5, {"url": http_server.url})
    assert result.ok and result.degraded
    assert auth_url in result.detail and "unavailable" in result.detail
    assert not any(r[1].startswith("/v2/images") for r in http_server.requests)


def test_glance_check_fails_when_keystone_rejects_the_credentials(http_server):
    _needs_degraded()
    keystone_routes(http_server, token_status=401)
    result = openstack_auth.glance_image_list(creds(http_server.url + "/v3"), TLSOptions(), budget(), 5, {"url": http_server.url})
    assert not result.ok and not result.degraded and "credentials were rejected" in result.detail
