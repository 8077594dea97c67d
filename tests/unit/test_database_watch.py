"""ocf:openstack:database-watch: what it publishes, and when. attrd_updater is a stand-in
that keeps the attributes of several "nodes" in a JSON file; the database a fake MySQL
server (see test_dependencies)."""

import json
import time

import pytest
from ocf_openstack.host import attrd
from ocf_openstack.watchers import database_watch
from test_dependencies import config_with, mysql, mysql_url  # noqa: F401  (mysql is a fixture)
from unit_support import reason

FAKE_ATTRD = '''#!/usr/bin/python3
import json, os, sys
path = os.path.join(os.path.dirname(sys.argv[0]), "attrs.json")
attrs = json.load(open(path)) if os.path.exists(path) else {}
args = sys.argv[1:]
name = args[args.index("-n") + 1]
me = "node1"
if "-U" in args:
    attrs.setdefault(name, {})[me] = args[args.index("-U") + 1]
    if "-p" in args:
        attrs.setdefault("_private", []).append(name)
elif "-D" in args:
    attrs.get(name, {}).pop(me, None)
elif "-Q" in args:
    for host, value in sorted(attrs.get(name, {}).items()):
        print(f'name="{name}" host="{host}" value="{value}"')
json.dump(attrs, open(path, "w"))
'''


@pytest.fixture
def attrs(tmp_path, monkeypatch):
    """The fake cluster's attributes: read with attrs(), seeded with attrs.seed(name, host, value)."""
    d = tmp_path / "attrd"
    d.mkdir()
    script = d / "attrd_updater"
    script.write_text(FAKE_ATTRD)
    script.chmod(0o755)
    monkeypatch.setattr(attrd, "ATTRD_UPDATER", str(script))
    path = d / "attrs.json"

    class Attrs:
        def __call__(self):
            return json.loads(path.read_text()) if path.exists() else {}

        def seed(self, name, host, value):
            data = self()
            data.setdefault(name, {})[host] = value
            path.write_text(json.dumps(data))
    return Attrs()


@pytest.fixture
def watch_env(tmp_path, agent_env):
    return dict(agent_env, OCF_RESOURCE_INSTANCE="db-watch:0", OCF_RESKEY_CRM_meta_on_node="node1",
                OCF_RESKEY_CRM_meta_interval="10000", OCF_RESKEY_probe_timeout="1",
                OCF_RESKEY_CRM_meta_timeout="20000")


def act(action, env, capsys):
    from io import StringIO
    rc = database_watch.main(["database-watch", action], env=env, out=StringIO())
    return rc, capsys.readouterr().err


def test_reachable_publishes_1_and_a_private_seen_time(tmp_path, watch_env, attrs, mysql, capsys):
    watch_env["OCF_RESKEY_configs"] = config_with(tmp_path, mysql_url(mysql("answers")))
    assert act("monitor", watch_env, capsys)[0] == 7      # not started
    assert act("start", watch_env, capsys)[0] == 0
    before = time.time()
    assert act("monitor", watch_env, capsys)[0] == 0
    a = attrs()
    assert a["openstack-db"] == {"node1": "1"}
    assert int(a["openstack-db-seen"]["node1"]) >= int(before) and a["_private"] == ["openstack-db-seen"]


def test_an_outage_of_the_database_moves_nothing(tmp_path, watch_env, attrs, mysql, capsys, caplog):
    watch_env["OCF_RESKEY_configs"] = config_with(tmp_path, mysql_url(mysql("down")))
    attrs.seed("openstack-db-seen", "node2", str(int(time.time()) - 30))   # node2 saw it before we lost it
    act("start", watch_env, capsys)
    rc, _ = act("monitor", watch_env, capsys)
    assert rc == 0 and "an outage of the database, not of this controller" in caplog.text
    assert "openstack-db" not in attrs()


def test_a_controller_cut_off_alone_is_marked_0(tmp_path, watch_env, attrs, mysql, capsys, caplog):
    watch_env["OCF_RESKEY_configs"] = config_with(tmp_path, mysql_url(mysql("down")))
    act("start", watch_env, capsys)
    act("monitor", watch_env, capsys)                       # first failure: nobody else known yet
    assert "openstack-db" not in attrs()
    attrs.seed("openstack-db-seen", "node2", str(int(time.time()) + 1))   # node2 reached it since
    rc, _ = act("monitor", watch_env, capsys)
    assert rc == 0 and attrs()["openstack-db"] == {"node1": "0"}
    assert "while node2 reach(es) it" in caplog.text and "refuses connections" in caplog.text
    # the database reachable again from here: 1
    watch_env["OCF_RESKEY_configs"] = config_with(tmp_path, mysql_url(mysql("answers")))
    assert act("monitor", watch_env, capsys)[0] == 0
    assert attrs()["openstack-db"] == {"node1": "1"}


def test_probe_and_stop(tmp_path, watch_env, attrs, mysql, capsys):
    watch_env["OCF_RESKEY_configs"] = config_with(tmp_path, mysql_url(mysql("answers")))
    act("start", watch_env, capsys)
    act("monitor", watch_env, capsys)
    probe = dict(watch_env, OCF_RESKEY_CRM_meta_interval="0")
    assert act("monitor", probe, capsys)[0] == 0
    assert act("stop", watch_env, capsys)[0] == 0
    assert attrs()["openstack-db"] == {} and attrs()["openstack-db-seen"] == {}
    assert act("monitor", probe, capsys)[0] == 7
    assert act("stop", watch_env, capsys)[0] == 0          # stopping twice is fine


def test_validate_all(tmp_path, watch_env, capsys):
    rc, err = act("validate-all", dict(watch_env, OCF_RESKEY_configs=str(tmp_path / "none.conf")), capsys)
    assert rc == 5 and "none of configs exists here" in reason(err)
    rc, err = act("validate-all", dict(watch_env, OCF_RESKEY_attribute="bad name!"), capsys)
    assert rc == 6 and "attribute" in reason(err)


def test_meta_data_lists_every_parameter(capsys):
    from io import StringIO
    out = StringIO()
    assert database_watch.main(["database-watch", "meta-data"], env={}, out=out) == 0
    text = out.getvalue()
    assert all(f'name="{p.name}"' in text for p in database_watch.PARAMS)
    assert 'name="monitor"' in text and 'interval="10s"' in text
