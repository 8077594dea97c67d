import os
from types import SimpleNamespace

from ocf_openstack.engine import actions
from ocf_openstack.ocf.params import parse
from ocf_openstack.services import glance, keystone


def values(spec, **params):
    return parse(spec.params, {"OCF_RESKEY_" + k: v for k, v in params.items()})


def contains(argv, *seq):
    return any(argv[i:i + len(seq)] == list(seq) for i in range(len(argv)))


def test_keystone_command_line():
    v = values(keystone.SPEC, binary="/usr/bin/uwsgi_python311", bind="127.0.0.1:5000",
               uwsgi_ini="/etc/keystone/custom-uwsgi.ini")
    argv = keystone.command(v)
    assert argv[0] == "/usr/bin/uwsgi_python311"
    assert contains(argv, "--http-socket", "127.0.0.1:5000")
    assert contains(argv, "--ini", "/etc/keystone/custom-uwsgi.ini")
    assert contains(argv, "--add-header", "Connection: close")


def test_keystone_defaults_match_debian():
    v = values(keystone.SPEC, binary="/usr/bin/uwsgi_python311")
    argv = keystone.command(v)
    assert contains(argv, "--http-socket", ":5000")
    assert contains(argv, "--ini", "/etc/keystone/keystone-uwsgi.ini")
    assert (v["user"], v["config"], v["url"]) == ("keystone", "/etc/keystone/keystone.conf", "http://127.0.0.1:5000")


def test_additional_parameters_are_appended_shell_split():
    v = values(keystone.SPEC, binary="/usr/bin/uwsgi_python311",
               additional_parameters="--processes 2 --set 'route=^/x$ last:' --logformat \"%(status) x\"")
    argv = actions._command(SimpleNamespace(spec=keystone.SPEC, values=v))
    assert argv[:len(keystone.command(v))] == keystone.command(v)
    assert argv[len(keystone.command(v)):] == [
        "--processes", "2", "--set", "route=^/x$ last:", "--logformat", "%(status) x"]


def test_glance_command_line():
    v = values(glance.SPEC, config="/etc/glance/g.conf", log_file="/var/log/glance/g.log",
               additional_parameters="--debug")
    assert glance.command(v) == ["/usr/bin/glance-api", "--config-file=/etc/glance/g.conf",
                                 "--log-file=/var/log/glance/g.log"]
    assert actions._command(SimpleNamespace(spec=glance.SPEC, values=v))[-1] == "--debug"


def test_password_is_never_on_argv_nor_in_the_daemon_environment():
    for spec in (keystone.SPEC, glance.SPEC):
        env = {"OCF_RESKEY_os_password": "pw-xyz", "OCF_RESKEY_os_username": "u", "LANG": "de_DE.UTF-8"}
        v = parse(spec.params, env)
        ctx = SimpleNamespace(spec=spec, values=v, env=env)
        assert not any("pw-xyz" in arg for arg in actions._command(ctx))
        daemon_env = actions._daemon_env(ctx)
        assert "pw-xyz" not in repr(daemon_env) and not any(k.startswith("OCF_") for k in daemon_env)
        assert daemon_env["PATH"] == actions.DAEMON_PATH and daemon_env["LANG"] == "de_DE.UTF-8"


def test_keystone_environment_only_for_a_non_default_config():
    assert keystone.environment(values(keystone.SPEC, binary="/b")) == {}
    v = values(keystone.SPEC, binary="/b", config="/etc/keystone/other.conf")
    assert keystone.environment(v) == {"OS_KEYSTONE_CONFIG_FILES": "/etc/keystone/other.conf"}
    ctx = SimpleNamespace(spec=keystone.SPEC, values=v, env={})
    assert actions._daemon_env(ctx)["OS_KEYSTONE_CONFIG_FILES"] == "/etc/keystone/other.conf"
    assert glance.SPEC.environment(values(glance.SPEC, config="/x.conf")) == {}


def _fake_uwsgis(monkeypatch, tmp_path, names, executable):
    """Make debian_uwsgi look at tmp_path instead of /usr/bin."""
    for name in names + ["uwsgi", "uwsgi-core"]:
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755 if name in executable or not name.startswith("uwsgi_python") else 0o644)
    monkeypatch.setattr(keystone, "UWSGI_DIR", str(tmp_path))


def test_debian_uwsgi_picks_the_highest(monkeypatch, tmp_path):
    names = ["uwsgi_python3", "uwsgi_python39", "uwsgi_python311", "uwsgi_python310"]
    _fake_uwsgis(monkeypatch, tmp_path, names, executable=names)
    assert keystone.debian_uwsgi({}, {}) == str(tmp_path / "uwsgi_python311")


def test_debian_uwsgi_skips_non_executables(monkeypatch, tmp_path):
    # (even root needs an x bit for X_OK on a regular file)
    _fake_uwsgis(monkeypatch, tmp_path, ["uwsgi_python39", "uwsgi_python312"], executable=["uwsgi_python39"])
    assert keystone.debian_uwsgi({}, {}) == str(tmp_path / "uwsgi_python39")


def test_debian_uwsgi_fallback(monkeypatch, tmp_path):
    _fake_uwsgis(monkeypatch, tmp_path, [], executable=[])
    assert os.path.basename(keystone.debian_uwsgi({}, {})) == "uwsgi_python3"


def test_keystone_binary_is_derived_only_when_empty(monkeypatch, tmp_path):
    _fake_uwsgis(monkeypatch, tmp_path, ["uwsgi_python311"], executable=["uwsgi_python311"])
    assert values(keystone.SPEC)["binary"] == str(tmp_path / "uwsgi_python311")
    assert values(keystone.SPEC, binary="/opt/uwsgi")["binary"] == "/opt/uwsgi"


def test_files_the_daemon_must_read():
    assert keystone.SPEC.files[:2] == ("config", "uwsgi_ini")
    assert glance.SPEC.files == ("config",)


def test_keystone_https():
    v = values(keystone.SPEC, binary="/u", bind=":5000", ssl_cert="/etc/keystone/ssl/c.pem",
               ssl_key="/etc/keystone/ssl/k.pem", url="https://127.0.0.1:5000")
    argv = keystone.command(v)
    assert contains(argv, "--https-socket", ":5000,/etc/keystone/ssl/c.pem,/etc/keystone/ssl/k.pem")
    assert "--http-socket" not in argv
    assert keystone.SPEC.check(v) == ""
    assert "together" in keystone.SPEC.check({**v, "ssl_key": ""})
    assert "https://" in keystone.SPEC.check({**v, "url": "http://127.0.0.1:5000"})
