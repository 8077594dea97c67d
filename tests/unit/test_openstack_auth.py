import json
import logging
import os
import sys
import time

import pytest
from ocf_openstack.checks import openstack_auth
from ocf_openstack.checks.health import TLSOptions
from ocf_openstack.checks.openstack_auth import AuthCheck, Credentials
from ocf_openstack.checks.token_cache import TokenCache
from ocf_openstack.host import privatefile
from ocf_openstack.ocf.budget import Budget
from ocf_openstack.ocf.log import REDACTED
from ocf_openstack.services.keystone import (
    SPEC as KEYSTONE,  # tests name their fake Keystone `keystone`
)
from unit_support import (
    PASSWORD,
    depth10_env,
    free_port,
    keystone_routes,
    needs_proc,
    run,
)

pytest.importorskip("keystoneauth1", reason="python3-keystoneauth1 is not installed")
pytestmark = pytest.mark.usefixtures("no_osprofiler")


def budget(seconds=10.0):
    return Budget(seconds)


@pytest.fixture
def token_file(tmp_path):
    return str(tmp_path / "openstack-unit.token")


def auth_check(auth_url, token_file="", region="", timeout=5.0, within=None, values=None, max_age=3600,
               password=PASSWORD):
    """An AuthCheck as the agent builds it; without token_file, nothing is cached."""
    credentials = Credentials(auth_url, "monitor", password, "service", "Default", "Default", region, "public")
    return AuthCheck(credentials, TLSOptions(), within or budget(), timeout, values or {},
                     TokenCache(token_file, max_age if token_file else 0))


def test_block_osprofiler():
    openstack_auth.block_osprofiler()
    with pytest.raises(ImportError):
        import osprofiler  # noqa: F401
    with pytest.raises(ImportError):
        import osprofiler.web  # noqa: F401


def test_keystone_token_issued(http_server):
    keystone_routes(http_server)
    result = openstack_auth.keystone_token(auth_check(http_server.url + "/v3"))
    assert result.ok, result.detail
    assert sys.modules.get("osprofiler", None) is None  # never imported for real
    (method, path, body), = [r for r in http_server.requests if r[0] == "POST"]
    assert path == "/v3/auth/tokens" and PASSWORD.encode() in body


def test_keystone_token_closed_port():
    url = f"http://127.0.0.1:{free_port()}/v3"
    started = time.monotonic()
    result = openstack_auth.keystone_token(auth_check(url))
    assert not result.ok and url in result.detail
    assert time.monotonic() - started < 2


def test_keystone_token_silent_server_is_bounded(silent_port):
    url = f"http://127.0.0.1:{silent_port}/v3"
    started = time.monotonic()
    result = openstack_auth.keystone_token(auth_check(url, timeout=0.5))
    assert not result.ok and url in result.detail
    assert time.monotonic() - started < 0.5 + 1


def test_keystone_token_timeout_is_cut_to_the_budget(silent_port):
    url = f"http://127.0.0.1:{silent_port}/v3"
    started = time.monotonic()
    result = openstack_auth.keystone_token(auth_check(url, timeout=30, within=Budget(1.2)))  # 0.7 s left
    assert not result.ok
    assert time.monotonic() - started < 1.2 + 0.5


@pytest.mark.parametrize("echo", [False, True], ids=["keystone", "echoing-server"])
def test_keystone_401_says_credentials_rejected_without_the_password(http_server, echo):
    keystone_routes(http_server, token_status=401, echo_password_in_error=echo)
    result = openstack_auth.keystone_token(auth_check(http_server.url + "/v3"))
    assert not result.ok
    assert "credentials were rejected" in result.detail and "401" in result.detail
    assert PASSWORD not in result.detail


def test_keystone_region_missing_from_catalog(http_server):
    keystone_routes(http_server, region="RegionOne")
    ok = openstack_auth.keystone_token(auth_check(http_server.url + "/v3", region="RegionOne"))
    assert ok.ok, ok.detail
    bad = openstack_auth.keystone_token(auth_check(http_server.url + "/v3", region="RegionTwo"))
    assert not bad.ok and "RegionTwo" in bad.detail and "identity" in bad.detail


def test_glance_image_list(http_server):
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone_routes(http_server)
    http_server.routes[("GET", "/v2/images")] = (200, {"images": [], "schema": "/v2/schemas/images",
                                                       "first": "/v2/images"}, {})
    result = openstack_auth.glance_image_list(auth_check(http_server.url + "/v3", values={"url": http_server.url}))
    assert result.ok, result.detail
    assert any(r[0] == "GET" and r[1].startswith("/v2/images") for r in http_server.requests)


def test_glance_image_list_failure(http_server):
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone_routes(http_server)
    http_server.routes[("GET", "/v2/images")] = (500, {"error": "boom"}, {})
    result = openstack_auth.glance_image_list(auth_check(http_server.url + "/v3", values={"url": http_server.url}))
    assert not result.ok and http_server.url in result.detail


# ---------------------------------------------------------------- through the keystone agent

@pytest.fixture
def keystone_env(monitored):
    """A running `sleep` as keystone, monitored at depth 10 (the test adds the fake Keystone)."""
    return depth10_env(monitored[1])


@needs_proc
@pytest.mark.usefixtures("ocf_lib")
def test_agent_depth10_ok(keystone_env, http_server, capsys):
    keystone_routes(http_server)
    assert run(KEYSTONE, "monitor", keystone_env, capsys)[0] == 0
    assert ("POST", "/v3/auth/tokens") in [r[:2] for r in http_server.requests]


@needs_proc
@pytest.mark.usefixtures("ocf_lib")
def test_agent_depth10_keeps_its_token_root_only_in_rsctmp(keystone_env, http_server, capsys):
    keystone = keystone_routes(http_server)
    assert run(KEYSTONE, "monitor", keystone_env, capsys)[0] == 0
    assert run(KEYSTONE, "monitor", keystone_env, capsys)[0] == 0
    assert keystone.issued == ["tok-1"] and len(keystone.requests("GET", "/v3/auth/tokens")) == 1
    token_file = os.path.join(keystone_env["HA_RSCTMP"], "openstack-unit.token")
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    keystone_env["OCF_RESKEY_token_max_age"] = "0"
    assert run(KEYSTONE, "monitor", keystone_env, capsys)[0] == 0 and keystone.issued == ["tok-1", "tok-2"]


@needs_proc
@pytest.mark.usefixtures("ocf_lib")
@pytest.mark.parametrize("status", [401, 400])
def test_agent_depth10_rejected_never_shows_the_password(keystone_env, http_server, capsys, caplog, status):
    keystone_routes(http_server, token_status=status, echo_password_in_error=True)
    caplog.set_level(logging.DEBUG)
    rc, _, err = run(KEYSTONE, "monitor", keystone_env, capsys)
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
    assert run(KEYSTONE, "monitor", keystone_env, capsys)[0] == 0
    assert [r[:2] for r in http_server.requests] == [("GET", "/healthcheck")]


@pytest.mark.parametrize("keystone", ["closed", "503"])
def test_glance_check_is_degraded_not_failed_when_keystone_is_down(http_server, keystone):
    """Restarting Glance can not fix Keystone: ok for Pacemaker, with a warning."""
    if keystone == "closed":
        auth_url = f"http://127.0.0.1:{free_port()}/v3"
    else:
        keystone_routes(http_server, token_status=503)
        auth_url = http_server.url + "/v3"
    result = openstack_auth.glance_image_list(auth_check(auth_url, values={"url": http_server.url}))
    assert result.ok and result.degraded
    assert auth_url in result.detail and "unavailable" in result.detail
    assert not any(r[1].startswith("/v2/images") for r in http_server.requests)


def test_glance_check_fails_when_keystone_rejects_the_credentials(http_server):
    keystone_routes(http_server, token_status=401)
    result = openstack_auth.glance_image_list(auth_check(http_server.url + "/v3", values={"url": http_server.url}))
    assert not result.ok and not result.degraded and "credentials were rejected" in result.detail


# ---------------------------------------------------------------- the cached token

def test_keystone_check_reuses_and_validates_its_token(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    first = openstack_auth.keystone_token(auth_check(url, token_file))
    assert first.ok and "token issued" in first.detail
    assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
    second = openstack_auth.keystone_token(auth_check(url, token_file))
    assert second.ok and "cached token validated" in second.detail, second.detail
    assert len(keystone.requests("POST", "/v3/auth/tokens")) == 1
    assert len(keystone.requests("GET", "/v3/auth/tokens")) == 1
    assert keystone.issued == ["tok-1"]


def test_cached_token_file_holds_no_password(http_server, token_file):
    keystone_routes(http_server)
    assert openstack_auth.keystone_token(auth_check(http_server.url + "/v3", token_file)).ok
    text = open(token_file).read()
    assert "tok-1" in text and PASSWORD not in text


def test_a_revoked_cached_token_is_replaced_with_a_new_one(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    keystone.revoke_all()  # e.g. the monitoring user's password changed, or the fernet keys rotated
    result = openstack_auth.keystone_token(auth_check(url, token_file))
    assert result.ok and "token issued" in result.detail
    assert keystone.issued == ["tok-1", "tok-2"] and "tok-2" in open(token_file).read()
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    assert keystone.issued == ["tok-1", "tok-2"]


def test_a_revoked_token_and_rejected_password_fail(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    keystone.revoke_all()
    keystone.token_status = 401  # the password no longer works either
    result = openstack_auth.keystone_token(auth_check(url, token_file))
    assert not result.ok and "credentials were rejected" in result.detail


def test_another_password_never_reuses_the_token(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    keystone.token_status = 401  # only the new (wrong) password is asked for: it must be checked
    result = openstack_auth.keystone_token(auth_check(url, token_file, password="something-else"))
    assert not result.ok and "credentials were rejected" in result.detail
    assert len(keystone.requests("POST", "/v3/auth/tokens")) == 2


def test_token_older_than_max_age_is_not_reused(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file, max_age=3600)).ok
    record = json.loads(open(token_file).read())
    record["saved_at"] -= 3601
    privatefile.write(token_file, json.dumps(record))
    result = openstack_auth.keystone_token(auth_check(url, token_file, max_age=3600))
    assert result.ok and "token issued" in result.detail and keystone.issued == ["tok-1", "tok-2"]


def test_max_age_zero_issues_every_time_and_writes_nothing(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    for _ in range(2):
        assert openstack_auth.keystone_token(auth_check(url, token_file, max_age=0)).ok
    assert keystone.issued == ["tok-1", "tok-2"] and not os.path.exists(token_file)


def _damage_state(token_file, damage):
    record = json.loads(open(token_file).read())
    state = json.loads(record["auth_state"])
    if damage == "no-token":
        state["auth_token"] = None
    elif damage == "no-expiry":
        del state["body"]["token"]["expires_at"]
    else:
        state["body"] = {"nothing": 1}
    record["auth_state"] = json.dumps(state)
    privatefile.write(token_file, json.dumps(record))


@pytest.mark.parametrize("damage", ["garbage", "not-a-token-body", "no-token", "no-expiry", "group-readable"])
def test_a_damaged_or_exposed_cache_is_not_used(http_server, token_file, damage):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    if damage == "garbage":
        privatefile.write(token_file, "{not json")
    elif damage == "group-readable":
        os.chmod(token_file, 0o640)
    else:
        _damage_state(token_file, damage)
    result = openstack_auth.keystone_token(auth_check(url, token_file))
    assert result.ok and "token issued" in result.detail and keystone.issued == ["tok-1", "tok-2"]
    assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"


def test_a_token_about_to_expire_is_replaced(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    soon = time.gmtime(time.time() + 60)  # inside keystoneauth1's two minutes
    keystone.expires_at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", soon)
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    result = openstack_auth.keystone_token(auth_check(url, token_file))
    assert result.ok and "token issued" in result.detail and keystone.issued == ["tok-1", "tok-2"]


def test_a_policy_forbidding_validation_falls_back_to_issuing(http_server, token_file):
    keystone = keystone_routes(http_server)
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    keystone.validate_status = 403
    result = openstack_auth.keystone_token(auth_check(url, token_file))
    assert result.ok and "token issued" in result.detail and keystone.issued == ["tok-1", "tok-2"]


def test_validation_sees_todays_catalog(http_server, token_file):
    keystone = keystone_routes(http_server, region="RegionOne")
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file, region="RegionOne")).ok
    keystone.region = "RegionTwo"  # the endpoint moved after the token was issued
    result = openstack_auth.keystone_token(auth_check(url, token_file, region="RegionOne"))
    assert not result.ok and "RegionOne" in result.detail and "identity" in result.detail


def test_keystone_down_with_a_cached_token_fails(http_server, token_file):
    keystone_routes(http_server)
    url = http_server.url + "/v3"
    assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    http_server.routes[("GET", "/v3/auth/tokens")] = (503, {"error": {"code": 503}}, {})
    result = openstack_auth.keystone_token(auth_check(url, token_file))
    assert not result.ok and url in result.detail and "503" in result.detail


UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


@pytest.fixture
def fake_glance(http_server, token_file):
    """A fake Keystone and a Glance that accepts only its valid tokens: (keystone, make_check)."""
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone = keystone_routes(http_server)

    def images(handler, body):
        if not keystone.authorized(handler):
            return 401, UNAUTHORIZED, {}
        return 200, {"images": [], "schema": "/v2/schemas/images", "first": "/v2/images"}, {}
    http_server.routes[("GET", "/v2/images")] = images
    return keystone, lambda: auth_check(http_server.url + "/v3", token_file, values={"url": http_server.url})


def test_glance_check_reuses_the_token(fake_glance):
    keystone, check = fake_glance
    assert openstack_auth.glance_image_list(check()).ok
    assert openstack_auth.glance_image_list(check()).ok
    assert keystone.issued == ["tok-1"] and len(keystone.requests("GET", "/v2/images")) == 2


def test_glance_check_replaces_a_token_glance_rejects(fake_glance, token_file):
    keystone, check = fake_glance
    assert openstack_auth.glance_image_list(check()).ok
    keystone.revoke_all()
    result = openstack_auth.glance_image_list(check())
    assert result.ok and not result.degraded, result.detail
    assert keystone.issued == ["tok-1", "tok-2"] and "tok-2" in open(token_file).read()


@pytest.mark.parametrize("token", ["issued", "cached"])
def test_glance_check_is_degraded_when_keystone_hangs_after_the_token(http_server, silent_port, token_file, token):
    """Keystone froze after issuing the token: Glance's own token check hangs, Glance is not at fault."""
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone = keystone_routes(http_server)  # issues the token
    url = http_server.url + "/v3"
    if token == "cached":
        assert openstack_auth.keystone_token(auth_check(url, token_file)).ok
    glance_url = f"http://127.0.0.1:{silent_port}"  # Glance waiting on Keystone never answers
    check = auth_check(url, token_file, timeout=1, values={"url": glance_url})
    http_server.routes[("GET", "/v3")] = lambda handler, body: time.sleep(3) or (200, b"late", {})
    started = time.monotonic()
    result = openstack_auth.glance_image_list(check)
    assert result.ok and result.degraded, result.detail
    assert "unavailable" in result.detail and "did not answer" in result.detail
    assert time.monotonic() - started < 1 + openstack_auth.KEYSTONE_PROBE_TIMEOUT + 1
    assert keystone.issued == ["tok-1"]


def test_glance_hanging_while_keystone_answers_fails(http_server, silent_port):
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone_routes(http_server)
    glance_url = f"http://127.0.0.1:{silent_port}"
    result = openstack_auth.glance_image_list(auth_check(http_server.url + "/v3", timeout=1,
                                                         values={"url": glance_url}))
    assert not result.ok and glance_url in result.detail


def test_glance_image_list_leaves_time_to_ask_keystone(http_server, silent_port):
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone_routes(http_server)
    glance_url = f"http://127.0.0.1:{silent_port}"
    started = time.monotonic()
    result = openstack_auth.glance_image_list(auth_check(http_server.url + "/v3", timeout=30, within=Budget(4),
                                                         values={"url": glance_url}))
    assert not result.ok and time.monotonic() - started < 4
    assert ("GET", "/v3") in [r[:2] for r in http_server.requests]  # and Keystone was asked


def test_glance_rejecting_a_fresh_token_is_glances_fault(http_server, token_file):
    pytest.importorskip("glanceclient", reason="python3-glanceclient is not installed")
    keystone = keystone_routes(http_server)
    http_server.routes[("GET", "/v2/images")] = (401, UNAUTHORIZED, {})
    result = openstack_auth.glance_image_list(auth_check(http_server.url + "/v3", token_file,
                                                         values={"url": http_server.url}))
    assert not result.ok and not result.degraded
    assert "rejected a token Keystone accepts" in result.detail and "keystone_authtoken" in result.detail
    assert keystone.issued == ["tok-1", "tok-2"]  # keystoneauth1 re-issued once, then gave up
