import pytest
from ocf_openstack.ocf.exitcodes import OCFError
from ocf_openstack.ocf.params import Parameter, parse, secrets
from ocf_openstack.services import glance, keystone

TIMEOUT = Parameter("http_timeout", "t", "t", kind="integer", default="10", minimum=1)
INSECURE = Parameter("insecure", "i", "i", kind="boolean", default="false")


def env(**values):
    return {"OCF_RESKEY_" + k: v for k, v in values.items()}


def test_defaults_and_types_of_the_glance_spec():
    values = parse(glance.SPEC.params, {})
    assert values["binary"] == "/usr/bin/glance-api"
    assert values["config"] == "/etc/glance/glance-api.conf"
    assert values["user"] == "glance" and values["group"] == ""  # empty: the user's primary group
    assert values["url"] == "http://127.0.0.1:9292"
    assert values["health_path"] == "/healthcheck"
    assert values["http_timeout"] == 10 and isinstance(values["http_timeout"], int)
    assert values["insecure"] is False
    assert values["os_auth_url"] == "http://127.0.0.1:5000/v3"
    assert values["os_user_domain_name"] == "Default"
    assert values["os_interface"] == "public"
    assert values["os_password"] == "" and values["additional_parameters"] == ""


@pytest.mark.parametrize("raw, value", [("5", 5), (" 7 ", 7), ("1", 1)])
def test_integer(raw, value):
    assert parse([TIMEOUT], env(http_timeout=raw))["http_timeout"] == value


@pytest.mark.parametrize("raw, problem", [("abc", "not a whole number"), ("1.5", "not a whole number"),
                                          ("0", "below its minimum 1"), ("-3", "below its minimum 1")])
def test_bad_integer_names_the_parameter(raw, problem):
    with pytest.raises(OCFError) as err:
        parse([TIMEOUT], env(http_timeout=raw))
    assert err.value.code == 6
    assert "http_timeout" in err.value.reason and problem in err.value.reason


@pytest.mark.parametrize("raw, value", [("true", True), ("YES", True), ("on", True), ("1", True),
                                        ("false", False), ("No", False), ("off", False), ("0", False)])
def test_boolean(raw, value):
    assert parse([INSECURE], env(insecure=raw))["insecure"] is value


def test_bad_boolean_names_the_parameter():
    with pytest.raises(OCFError) as err:
        parse([INSECURE], env(insecure="maybe"))
    assert err.value.code == 6 and "insecure" in err.value.reason and "boolean" in err.value.reason


def test_empty_value_means_default():
    assert parse([TIMEOUT], env(http_timeout=""))["http_timeout"] == 10


def test_deprecated_alias_os_tenant_name():
    assert parse(keystone.SPEC.params, env(os_tenant_name="demo"))["os_project_name"] == "demo"
    both = env(os_tenant_name="old", os_project_name="new")
    assert parse(keystone.SPEC.params, both)["os_project_name"] == "new"


def test_required_parameter():
    param = Parameter("must", "m", "m", required=True)
    with pytest.raises(OCFError) as err:
        parse([param], {})
    assert err.value.code == 6 and "must" in err.value.reason
    assert parse([param], {}, strict=False)["must"] == ""
    assert parse([param], env(must="x"))["must"] == "x"


def test_pid_derived_from_rsctmp_and_instance():
    values = parse(glance.SPEC.params, {"HA_RSCTMP": "/tmp/rsc", "OCF_RESOURCE_INSTANCE": "g1"})
    assert values["pid"] == "/tmp/rsc/openstack-g1.pid"
    values = parse(glance.SPEC.params, {})
    assert values["pid"] == "/run/resource-agents/openstack-glance-api.pid"
    assert parse(glance.SPEC.params, env(pid="/x/y.pid"))["pid"] == "/x/y.pid"


def test_keystone_auth_url_derived_from_url():
    assert parse(keystone.SPEC.params, {})["os_auth_url"] == "http://127.0.0.1:5000/v3"
    values = parse(keystone.SPEC.params, env(url="https://10.0.0.5:5000/"))
    assert values["os_auth_url"] == "https://10.0.0.5:5000/v3"
    values = parse(keystone.SPEC.params, env(url="https://k:5000", os_auth_url="https://vip:5000/v3"))
    assert values["os_auth_url"] == "https://vip:5000/v3"


def test_glance_auth_url_is_not_derived_from_its_own_url():
    values = parse(glance.SPEC.params, env(url="http://10.0.0.5:9292"))
    assert values["os_auth_url"] == "http://127.0.0.1:5000/v3"


def test_non_strict_falls_back_to_defaults():
    bad = env(http_timeout="abc", insecure="maybe")
    with pytest.raises(OCFError):
        parse([TIMEOUT, INSECURE], bad)
    values = parse([TIMEOUT, INSECURE], bad, strict=False)
    assert values == {"http_timeout": 10, "insecure": False}
    assert parse([TIMEOUT], env(http_timeout="0"), strict=False)["http_timeout"] == 10


def test_non_strict_whole_spec_never_raises():
    bad = env(http_timeout="x", insecure="y", os_tenant_name="p")
    values = parse(keystone.SPEC.params, bad, strict=False)
    assert values["http_timeout"] == 10 and values["os_project_name"] == "p"


def test_secrets():
    values = parse(glance.SPEC.params, env(os_password="pw1", os_username="u"))
    assert secrets(glance.SPEC.params, values) == ("pw1",)
    assert secrets(glance.SPEC.params, parse(glance.SPEC.params, {})) == ()


def test_only_the_password_is_secret():
    assert [p.name for p in keystone.SPEC.params if p.secret] == ["os_password"]


@pytest.mark.parametrize("key, value", [
    ("url", "ftp://h"), ("url", "http://h:5000/?q"), ("os_auth_url", "keystone:5000/v3"),
    ("health_path", "healthcheck"), ("pid", "run/x.pid"), ("log_file", "x.log"),
    ("additional_parameters", "--a 'b"), ("os_interface", "Public"),
])
def test_checks_reject_inherently_wrong_values(key, value):
    with pytest.raises(OCFError) as err:
        parse(glance.SPEC.params, env(**{key: value}))
    assert err.value.code == 6 and key in err.value.reason
    assert parse(glance.SPEC.params, env(**{key: value}), strict=False)[key] == value  # stop: no check


@pytest.mark.parametrize("bind, ok", [(":5000", True), ("127.0.0.1:5000", True), ("[::1]:5000", True),
                                      ("0.0.0.0:65535", True), ("5000", False), (":0", False),
                                      (":70000", False), ("a b:5000", False), (":50x", False)])
def test_keystone_bind(bind, ok):
    if ok:
        assert parse(keystone.SPEC.params, env(bind=bind))["bind"] == bind
    else:
        with pytest.raises(OCFError) as err:
            parse(keystone.SPEC.params, env(bind=bind))
        assert "bind" in err.value.reason


def test_empty_group_means_the_users_primary_group():
    values = parse(glance.SPEC.params, env(user="nobody"))
    assert values["group"] == ""  # process.user_ids() then takes nobody's primary group
