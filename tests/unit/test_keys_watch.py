"""Key fingerprints (keyprints) and ocf:openstack:keys-watch: what is published, what is a
finding, availability first, the grace period; keystone's start refusal and its advisory.
cibadmin, crm_attribute and attrd_updater are stand-ins: the CIB is a file the test writes,
the permanent attributes land in a JSON file, attrd is test_database_watch's fake."""

import json
import os
import time
from io import StringIO

import pytest
from ocf_openstack.checks import keyprints
from ocf_openstack.host import attrd
from ocf_openstack.host import cib as cib_query
from ocf_openstack.ocf.exitcodes import OCFError, OCFExit
from ocf_openstack.watchers import keys_watch, keyverdict
from test_database_watch import attrs  # noqa: F401  (a fixture)
from unit_support import reason

FERNET = ["SGVsbG8gZmVybmV0IGtleSAwIGZvciB0ZXN0cyAhISE=", "b25lIG1vcmUga2V5IGZvciB0aGUgdW5pdCB0ZXN0cyE=",
          "dGhlIHRoaXJkIGtleSwgYWxzbyBmb3IgdGhlIHRlc3Q=", "YSBmb3VydGgga2V5IG9mIHRoZSB1bml0IHRlc3RzIQ=="]


def repo(path, keys):
    path.mkdir(parents=True, exist_ok=True)
    for p in path.iterdir():
        p.unlink()
    for index, text in keys.items():
        (path / str(index)).write_text(text + "\n")
    return path


def prints(fernet, credential, since=1000):
    def r(kind, keys):
        return keyprints.Repo(kind, "", {i: keyprints.digest(k.encode()) for i, k in keys.items()})
    return keyprints.Print(since, {"fernet": r("fernet", fernet), "credential": r("credential", credential)})


SETUP = {0: FERNET[1], 1: FERNET[0]}                    # fernet_setup: staged 0, primary 1
ROTATED = {0: FERNET[2], 1: FERNET[0], 2: FERNET[1]}    # one rotation: old staged is primary 2
TWICE = {0: FERNET[3], 1: FERNET[0], 2: FERNET[1], 3: FERNET[2]}
CRED = {0: FERNET[2], 1: FERNET[3]}


# ---------------------------------------------------------------- keyprints

def test_a_fingerprint_is_a_short_digest_never_the_key(tmp_path):
    r = keyprints.read_repo("fernet", str(repo(tmp_path / "f", SETUP)))
    assert r.problem == "" and set(r.keys) == {0, 1} and r.primary == r.keys[1]
    value = keyprints.encode({"fernet": r, "credential": r}, 5)
    assert all(len(d) == 8 and int(d, 16) >= 0 for d in r.keys.values())
    assert not any(k in value or k[:12] in value for k in FERNET), value
    assert keyprints.decode(value).repos["fernet"].keys == r.keys


def test_missing_and_empty_repositories(tmp_path):
    assert keyprints.read_repo("fernet", str(tmp_path / "none")).problem == "missing"
    (tmp_path / "empty").mkdir()
    assert keyprints.read_repo("fernet", str(tmp_path / "empty")).problem == "empty"
    value = keyprints.encode({"fernet": keyprints.read_repo("fernet", str(tmp_path / "none")),
                              "credential": keyprints.read_repo("credential", str(tmp_path / "empty"))}, 7)
    assert value == "t=7 fernet=!missing credential=!empty"
    assert keyprints.decode(value).repos["fernet"].problem == "missing"


def test_one_rotation_is_no_finding_two_are():
    node2 = prints(SETUP, CRED)
    assert keyprints.findings("node2", node2, {"node1": prints(ROTATED, CRED)}) == []
    found = keyprints.findings("node2", node2, {"node1": prints(TWICE, CRED, 2000)})
    assert [f.issuer for f in found] == ["node1"] and found[0].since == 2000
    assert found[0].what == f"node2 lacks the primary fernet key {keyprints.digest(FERNET[2].encode())} of node1"


def test_credential_keys_must_match_but_the_staged_one():
    mine = prints(SETUP, CRED)
    assert keyprints.findings("node2", mine, {"node1": prints(SETUP, {0: FERNET[0], 1: FERNET[3]})}) == []
    found = keyprints.findings("node2", mine, {"node1": prints(SETUP, {0: FERNET[2], 1: FERNET[0]})})
    assert [f.what for f in found] == ["the credential keys of node2 differ from those of node1"]


def test_an_issuer_without_keys_is_no_reference_and_own_missing_keys_are():
    broken = keyprints.Print(1, {"fernet": keyprints.Repo("fernet", "", {}, "missing"),
                                 "credential": keyprints.Repo("credential", "", {}, "empty")})
    assert keyprints.findings("node2", prints(SETUP, CRED), {"node1": broken}) == []
    cfg = keyprints.KeyConfig("/k/fernet/", "/k/cred/", "fernet", 3600)
    found = keyprints.findings("node1", broken, {"node2": prints(SETUP, CRED)}, cfg)
    assert [f.what for f in found] == ["the fernet key repository /k/fernet/ of node1 is missing",
                                       "the credential key repository /k/cred/ of node1 is empty"]


def test_key_config_reads_keystone_conf(tmp_path):
    conf = tmp_path / "keystone.conf"
    conf.write_text("[DEFAULT]\n#key_repository = /no\n[fernet_tokens]\nkey_repository = /srv/f/\n"
                    "[token]\nexpiration = 7200\n")
    assert keyprints.key_config(str(conf)) == ("/srv/f/", "/etc/keystone/credential-keys/", "fernet", 7200)
    assert keyprints.key_config(str(tmp_path / "none")).expiration == 3600


# ---------------------------------------------------------------- keystone: start and monitor

@pytest.fixture
def ks_values(tmp_path):
    conf = tmp_path / "keystone.conf"
    conf.write_text(f"[fernet_tokens]\nkey_repository = {tmp_path}/fernet-keys/\n"
                    f"[credential]\nkey_repository = {tmp_path}/credential-keys/\n")
    repo(tmp_path / "fernet-keys", SETUP)
    repo(tmp_path / "credential-keys", CRED)
    return {"config": str(conf), "user": "root", "group": ""}


def test_keystone_start_refuses_missing_keys_with_the_path(tmp_path, ks_values):
    keyprints.check_repositories(ks_values)
    for p in (tmp_path / "fernet-keys").iterdir():
        p.unlink()
    with pytest.raises(OCFError) as err:
        keyprints.check_repositories(ks_values)
    assert err.value.code == OCFExit.ERR_INSTALLED and f"{tmp_path}/fernet-keys/ is empty" in err.value.reason
    (tmp_path / "fernet-keys").rmdir()
    with pytest.raises(OCFError) as err:
        keyprints.check_repositories(ks_values)
    assert f"{tmp_path}/fernet-keys/ is missing" in err.value.reason and "rsync -a" in err.value.reason


def test_keystone_advisory_reads_the_verdict(tmp_path):
    env = {"HA_RSCTMP": str(tmp_path)}
    assert keyverdict.advisory({}, env) is None
    path = tmp_path / keyverdict.VERDICT
    path.write_text("190 node2 lacks the primary fernet key 12345678 of node1: sync the keys from node1\n")
    path.chmod(0o600)
    assert keyverdict.advisory({}, env).startswith("node2 lacks the primary")
    old = time.time() - keyverdict.VERDICT_MAX_AGE - 5
    os.utime(path, (old, old))
    assert keyverdict.advisory({}, env) is None
    path.write_text("0\n")
    assert keyverdict.advisory({}, env) is None


# ---------------------------------------------------------------- the watcher

def cib_xml(nodes):
    """nodes: name -> dict(fp=value, issued=epoch, online=bool, watching=bool, issuing=bool)."""
    conf, status = [], []
    for i, (name, n) in enumerate(sorted(nodes.items()), 1):
        nv = "".join(f'<nvpair id="n{i}-{k}" name="openstack-keys{k}" value="{v}"/>'
                     for k, v in (("-fp", n.get("fp")), ("-issued", n.get("issued"))) if v)
        conf.append(f'<node id="{i}" uname="{name}"><instance_attributes id="na{i}">{nv}</instance_attributes></node>')
        online = n.get("online", True)
        trans = ('<transient_attributes id="t{0}"><instance_attributes id="s{0}"><nvpair id="s{0}-k" '
                 'name="openstack-keys" value="1"/></instance_attributes></transient_attributes>'.format(i)
                 if n.get("watching", True) and online else "")
        lrm = ('<lrm id="{0}"><lrm_resources><lrm_resource id="FloatingIP"><lrm_rsc_op id="FloatingIP_last_0" '
               'operation="start" rc-code="0"/></lrm_resource></lrm_resources></lrm>'.format(i)
               if n.get("issuing") else "")
        status.append(f'<node_state id="{i}" uname="{name}" in_ccm="{str(online).lower()}" '
                      f'crmd="{"online" if online else "offline"}">{trans}{lrm}</node_state>')
    return (f'<cib><configuration><nodes>{"".join(conf)}</nodes></configuration>'
            f'<status>{"".join(status)}</status></cib>')


@pytest.fixture
def cluster(tmp_path, monkeypatch, attrs):  # noqa: F811
    """A fake cluster: .nodes (edit, then .write()), .permanent() (crm_attribute's writes)."""
    d = tmp_path / "tools"
    d.mkdir()
    cib = d / "cib.xml"
    (d / "cibadmin").write_text(f"#!/bin/sh\ncat {cib}\n")
    (d / "crm_attribute").write_text("#!/usr/bin/python3\nimport json, sys, os\n"
                                     f"p = '{d}/perm.json'\n"
                                     "a = json.load(open(p)) if os.path.exists(p) else []\n"
                                     "a.append(sys.argv[1:]); json.dump(a, open(p, 'w'))\n")
    for tool in ("cibadmin", "crm_attribute"):
        (d / tool).chmod(0o755)
    monkeypatch.setattr(cib_query, "CIBADMIN", str(d / "cibadmin"))
    monkeypatch.setattr(attrd, "CRM_ATTRIBUTE", str(d / "crm_attribute"))

    class Cluster:
        nodes = {}
        attrs_ = attrs

        def write(self):
            cib.write_text(cib_xml(self.nodes))

        def permanent(self):
            p = d / "perm.json"
            return json.loads(p.read_text()) if p.exists() else []
    return Cluster()


@pytest.fixture
def watch_env(tmp_path, agent_env):
    conf = tmp_path / "keystone.conf"
    conf.write_text(f"[fernet_tokens]\nkey_repository = {tmp_path}/fernet-keys/\n"
                    f"[credential]\nkey_repository = {tmp_path}/credential-keys/\n")
    repo(tmp_path / "fernet-keys", SETUP)
    repo(tmp_path / "credential-keys", CRED)
    return dict(agent_env, OCF_RESOURCE_INSTANCE="keys-watch:0", OCF_RESKEY_CRM_meta_on_node="node1",
                OCF_RESKEY_CRM_meta_interval="10000", OCF_RESKEY_CRM_meta_timeout="20000",
                OCF_RESKEY_config=str(conf))


def act(action, env, capsys):
    rc = keys_watch.main(["keys-watch", action], env=env, out=StringIO())
    return rc, capsys.readouterr().err


def fp(keys, since=None):
    return keyprints.encode({"fernet": keyprints.Repo("fernet", "", {i: keyprints.digest(k.encode())
                                                                      for i, k in keys.items()}),
                             "credential": keyprints.Repo("credential", "", {i: keyprints.digest(k.encode())
                                                                              for i, k in CRED.items()})},
                            since if since is not None else int(time.time()) - 100)


def test_consistent_publishes_the_fingerprint_once_and_1(tmp_path, watch_env, cluster, capsys):
    cluster.nodes = {"node1": {}, "node2": {"fp": fp(SETUP), "issued": int(time.time()), "issuing": True}}
    cluster.write()
    assert act("start", watch_env, capsys)[0] == 0
    rc, err = act("monitor", watch_env, capsys)
    assert rc == 0, err
    writes = cluster.permanent()
    assert len(writes) == 1 and writes[0][:5] == ["-N", "node1", "-n", "openstack-keys-fp", "-l"], writes
    assert not any(k in json.dumps(writes) for k in FERNET)
    assert cluster.attrs_()["openstack-keys"]["node1"] == "1"
    assert (tmp_path / keyverdict.VERDICT).read_text() == "0\n"
    cluster.nodes["node1"]["fp"] = writes[0][-1]     # as the CIB now has it: not written again
    cluster.write()
    assert act("monitor", watch_env, capsys)[0] == 0 and len(cluster.permanent()) == 1


def test_stale_with_a_consistent_peer_is_marked_0_with_the_fix(tmp_path, watch_env, cluster, capsys):
    cluster.nodes = {"node1": {"fp": fp(SETUP)}, "node2": {"fp": fp(TWICE), "issued": int(time.time()),
                                                           "issuing": True},
                     "node3": {"fp": fp(TWICE)}}
    cluster.write()
    act("start", watch_env, capsys)
    rc, err = act("monitor", watch_env, capsys)
    assert rc == OCFExit.DEGRADED, err
    why = reason(err)
    assert f"node1 lacks the primary fernet key {keyprints.digest(FERNET[2].encode())} of node2" in why
    assert "sync the keys from node2: rsync -a --delete node2:" in why[:128], why
    assert "prefer node2, node3" in why
    assert cluster.attrs_()["openstack-keys"]["node1"] == "0"
    assert cluster.attrs_()["openstack-keys-reason"]["node1"] == why.removeprefix("ocf-exit-reason:")
    assert keyverdict.advisory({}, watch_env) == why.removeprefix("ocf-exit-reason:")
    assert not any(k in err for k in FERNET)
    # synced: consistent again, 1, no finding
    repo(tmp_path / "fernet-keys", TWICE)
    assert act("monitor", watch_env, capsys)[0] == 0
    assert cluster.attrs_()["openstack-keys"]["node1"] == "1" and keyverdict.advisory({}, watch_env) is None
    assert "node1" not in cluster.attrs_()["openstack-keys-reason"]


def test_no_consistent_controller_online_prevents_nothing_and_says_so(watch_env, cluster, capsys):
    cluster.nodes = {"node1": {"fp": fp(SETUP)}, "node2": {"fp": fp(TWICE), "issued": int(time.time()) - 60,
                                                           "online": False},
                     "node3": {"fp": fp(SETUP)}}
    cluster.write()
    act("start", watch_env, capsys)
    rc, err = act("monitor", watch_env, capsys)
    assert rc == OCFExit.DEGRADED
    assert "tokens issued by node2 before will be rejected wherever Keystone runs" in reason(err)
    assert "availability first" in reason(err)
    assert cluster.attrs_()["openstack-keys"]["node1"] == "1"


def test_an_old_issuer_and_a_young_difference_are_no_finding(watch_env, cluster, capsys):
    now = int(time.time())
    cluster.nodes = {"node1": {"fp": fp(SETUP)}, "node2": {"fp": fp(TWICE), "issued": now - 3700, "online": False},
                     "node4": {"fp": fp(TWICE), "issued": now - 60},   # still watching: follows the rotations
                     "node3": {"fp": fp(TWICE, since=now - 1), "issued": now, "issuing": True}}
    cluster.write()
    act("start", watch_env, capsys)
    assert act("monitor", watch_env, capsys)[0] == 0   # node2: too long ago; node3: within the grace
    watch_env["OCF_RESKEY_grace"] = "0"
    assert act("monitor", watch_env, capsys)[0] == OCFExit.DEGRADED


def test_the_issuer_refreshes_its_stamp_and_stop_cleans_up(tmp_path, watch_env, cluster, capsys):
    cluster.nodes = {"node1": {"fp": fp(SETUP), "issuing": True}, "node2": {"fp": fp(SETUP)}}
    cluster.write()
    act("start", watch_env, capsys)
    assert act("monitor", watch_env, capsys)[0] == 0
    assert [w[3] for w in cluster.permanent()] == ["openstack-keys-issued"]
    assert act("stop", watch_env, capsys)[0] == 0
    assert not (tmp_path / keyverdict.VERDICT).exists()
    assert "node1" not in cluster.attrs_().get("openstack-keys", {})
    assert act("monitor", watch_env, capsys)[0] == OCFExit.NOT_RUNNING


def test_outside_a_cluster_the_monitor_succeeds(watch_env, capsys, monkeypatch):
    monkeypatch.setattr(cib_query, "CIBADMIN", "/nonexistent/cibadmin")
    act("start", watch_env, capsys)
    assert act("monitor", watch_env, capsys)[0] == 0


def test_the_same_missing_key_of_two_issuers_is_one_line(watch_env, cluster, capsys):
    now = int(time.time())
    cluster.nodes = {"node1": {"fp": fp(SETUP)}, "node2": {"fp": fp(TWICE), "issued": now, "issuing": True},
                     "node4": {"fp": fp(TWICE), "issued": now - 60, "online": False}}
    cluster.write()
    act("start", watch_env, capsys)
    rc, err = act("monitor", watch_env, capsys)
    assert rc == OCFExit.DEGRADED
    assert f"node1 lacks the primary fernet key {keyprints.digest(FERNET[2].encode())} of node2 and node4: " \
        "sync the keys from node2" in reason(err), reason(err)


# ---------------------------------------------------------------- every controller issues (HAProxy)

PURGED = {0: FERNET[3], 2: FERNET[1], 3: FERNET[2]}   # two rotations, max_active_keys=3: key 1 purged


def every_node_issues(mine, node2, node3):
    now = int(time.time())
    return {"node1": {"fp": fp(mine), "issued": now, "issuing": True},
            "node2": {"fp": fp(node2), "issued": now, "issuing": True},
            "node3": {"fp": fp(node3), "issued": now, "issuing": True}}


def test_majority_of_issuers_is_the_reference():
    a, b = prints(SETUP, CRED), prints(TWICE, CRED)
    assert set(keyprints.majority({"node1": a, "node2": b, "node3": a})) == {"node1", "node3"}
    assert set(keyprints.majority({"node1": a, "node2": b})) == {"node1", "node2"}     # two: no odd one out
    c = prints({0: FERNET[0], 1: FERNET[3]}, CRED)
    assert set(keyprints.majority({"node1": a, "node2": b, "node3": c})) == {"node1", "node2", "node3"}


@pytest.mark.parametrize("mine", [PURGED, TWICE], ids=["lacks-their-key", "holds-their-key"])
def test_the_issuer_that_drifted_alone_is_marked_0(watch_env, tmp_path, cluster, capsys, mine):
    """Behind HAProxy every controller issues tokens: the one that rotated twice alone is the
    odd one out, also when it still holds the others' keys (they reject the tokens it issues)."""
    repo(tmp_path / "fernet-keys", mine)
    cluster.nodes = every_node_issues(mine, SETUP, SETUP)
    cluster.write()
    act("start", watch_env, capsys)
    rc, err = act("monitor", watch_env, capsys)
    assert rc == OCFExit.DEGRADED, err
    assert "sync the keys from node2" in reason(err) and "prefer node2, node3" in reason(err), reason(err)
    assert "(its new tokens) is missing from the keys of node2 and node3" in reason(err), reason(err)
    assert " of node2 of " not in reason(err) and " of node3 of " not in reason(err), reason(err)
    assert cluster.attrs_()["openstack-keys"]["node1"] == "0"


def test_the_majority_is_consistent_while_one_issuer_drifted(watch_env, cluster, capsys):
    cluster.nodes = every_node_issues(SETUP, TWICE, SETUP)
    cluster.write()
    act("start", watch_env, capsys)
    rc, err = act("monitor", watch_env, capsys)
    assert rc == 0, err
    assert cluster.attrs_()["openstack-keys"]["node1"] == "1"
