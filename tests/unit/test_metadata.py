import io
import os
import shutil
import subprocess
from xml.etree import ElementTree as ET

import pytest
from ocf_openstack import __version__
from ocf_openstack.engine import agent
from ocf_openstack.ocf import metadata
from ocf_openstack.ocf.params import Parameter
from ocf_openstack.services import glance, keystone
from unit_support import AGENTS, IS_ROOT, PACKAGE_ROOT

DTD = "/usr/share/resource-agents/ra-api-1.dtd"
SPECS = {"keystone": keystone.SPEC, "glance-api": glance.SPEC}
PROCESS_PARAMS = {"binary", "config", "user", "group", "pid", "log_file", "additional_parameters"}
KEYSTONE_PROCESS_PARAMS = PROCESS_PARAMS | {"uwsgi_ini", "bind", "ssl_cert", "ssl_key"}
# every executable agent (the services' by SPECS, then the others): the DTD, the XML declaration, meta-data
# with an unwritable HA_LOGFILE
EXECUTABLES = (*sorted(SPECS), "database-watch", "keys-watch", "agent-check")


def meta_data(spec):
    out = io.StringIO()
    assert agent.main(spec, ["x", "meta-data"], env={}, out=out) == 0
    return out.getvalue()


def executable_meta_data(name):
    """What the executable prints, as ocf-tester and crmsh read it."""
    run = _agent_subprocess(name, "meta-data", {})
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    return run.stdout


@pytest.fixture(params=sorted(SPECS))
def spec(request):
    return SPECS[request.param]


@pytest.mark.skipif(not (shutil.which("xmllint") and os.path.isfile(DTD)),
                    reason="needs xmllint (libxml2-utils) and resource-agents' ra-api-1.dtd")
@pytest.mark.parametrize("name", EXECUTABLES)
def test_valid_against_ra_api_dtd(name):
    run = subprocess.run(["xmllint", "--noout", "--dtdvalid", DTD, "-"], input=executable_meta_data(name),
                         capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("name", EXECUTABLES)
def test_xml_declaration_has_no_encoding(name):
    first = executable_meta_data(name).splitlines()[0]
    assert first.startswith("<?xml") and "encoding" not in first


def test_header_names_agent_and_version(spec):
    root = ET.fromstring(meta_data(spec))
    assert root.tag == "resource-agent"
    assert root.get("name") == spec.name
    assert root.get("version") == __version__
    assert root.findtext("version") == "1.0"
    assert root.findtext("shortdesc") and root.findtext("longdesc")


def test_text_is_escaped():
    param = Parameter("p", "short <&> desc", 'long <b>&amp;</b> "quoted" & more', default="a<b")
    actions = [metadata.ActionSpec("start", 60), metadata.ActionSpec("monitor", 20, 10, 0)]
    text = metadata.render("t&x", "1<2", "agent <long>", "agent & short", [param], actions)
    root = ET.fromstring(text)  # raises on unescaped text
    node = root.find("parameters/parameter")
    assert node.findtext("longdesc") == 'long <b>&amp;</b> "quoted" & more'
    assert node.findtext("shortdesc") == "short <&> desc"
    assert node.find("content").get("default") == "a<b"
    assert root.get("name") == "t&x" and root.get("version") == "1<2"
    assert root.findtext("longdesc") == "agent <long>"


def test_monitor_at_depth_0_and_10_and_realistic_timeouts(spec):
    actions = ET.fromstring(meta_data(spec)).findall("actions/action")
    names = {a.get("name") for a in actions}
    assert {"start", "stop", "monitor", "validate-all", "meta-data", "reload"} <= names
    depths = {a.get("depth") for a in actions if a.get("name") == "monitor"}
    assert depths == {"0", "10"}
    for action in actions:
        if action.get("name") == "monitor":
            assert action.get("interval", "0s") not in ("", "0", "0s")
    start = next(a for a in actions if a.get("name") == "start")
    assert start.get("timeout").endswith("s") and int(start.get("timeout")[:-1]) >= 60
    stop = next(a for a in actions if a.get("name") == "stop")
    assert int(stop.get("timeout")[:-1]) >= 60


def test_unique_exactly_on_process_parameters(spec):
    params = ET.fromstring(meta_data(spec)).findall("parameters/parameter")
    unique = {p.get("name") for p in params if p.get("unique") == "1"}
    expected = KEYSTONE_PROCESS_PARAMS if spec.name == "keystone" else PROCESS_PARAMS
    assert unique == expected
    not_unique = {p.get("name") for p in params if p.get("unique") == "0"}
    for name in ("url", "os_auth_url", "os_username", "os_password", "os_project_name",
                 "os_user_domain_name", "os_project_domain_name", "os_region_name", "os_interface",
                 "http_timeout", "ca_file", "insecure", "health_path"):
        assert name in not_unique, name


def test_parameters_document_types_and_defaults(spec):
    params = {p.get("name"): p for p in ET.fromstring(meta_data(spec)).findall("parameters/parameter")}
    assert params["http_timeout"].find("content").get("type") == "integer"
    assert params["http_timeout"].find("content").get("default") == "10"
    assert params["insecure"].find("content").get("type") == "boolean"
    assert params["insecure"].find("content").get("default") == "false"
    assert "os_tenant_name" in params["os_project_name"].findtext("longdesc")
    assert "cibsecret" in params["os_password"].findtext("longdesc")
    assert all(p.get("required") == "0" for p in params.values())


def _agent_subprocess(name, action, env_extra, user=None):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(PACKAGE_ROOT),
           "PYTHONDONTWRITEBYTECODE": "1", **env_extra}
    return subprocess.run(["/usr/bin/python3", str(AGENTS / name), action], env=env, cwd="/",
                          capture_output=True, text=True, timeout=20, user=user)


def _others_can_reach(path):
    """Whether a user like nobody can traverse to ``path`` (mode bits of every parent)."""
    for parent in [path, *path.parents]:
        if not os.stat(parent).st_mode & 0o005 == 0o005:
            return False
    return True


@pytest.mark.parametrize("name", EXECUTABLES)
def test_executable_meta_data_with_unwritable_ha_logfile(name):
    """ocf-tester runs meta-data as nobody; ocf.py would open HA_LOGFILE at import."""
    as_nobody = IS_ROOT and _others_can_reach(AGENTS) and _others_can_reach(PACKAGE_ROOT / "ocf_openstack")
    run = _agent_subprocess(name, "meta-data", {"HA_LOGFILE": "/nonexistent/dir/ha.log"},
                            user="nobody" if as_nobody else None)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert ET.fromstring(run.stdout).get("name") == name


def test_executable_probe_with_unwritable_ha_logfile(tmp_path, ocf_lib):
    """Loading ocf.py must survive an HA_LOGFILE it cannot open."""
    run = _agent_subprocess("glance-api", "monitor", {
        "HA_LOGFILE": "/nonexistent/dir/ha.log", "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESKEY_pid": str(tmp_path / "none.pid"), "OCF_RESKEY_CRM_meta_interval": "0"})
    assert run.returncode == 7, run.stderr
    assert "Traceback" not in run.stderr
