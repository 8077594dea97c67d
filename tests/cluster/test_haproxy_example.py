"""haproxy/haproxy.cfg, the example shipped with crm/openstack-ha-haproxy.crm: checked by
HAProxy itself, then run for real against three fake controllers in a private network
namespace (haproxy_netns.py), so that what its comments promise is measured:
  - HAProxy cannot start without net.ipv4.ip_nonlocal_bind=1, and starts with it;
  - a stopped controller costs clients nothing (every request is sent elsewhere);
  - a hung controller costs a request that meets it at most ~1 s (timeout server), then
    it is replayed elsewhere; health checks take it out of rotation within ~3.5 s;
  - only what is safe to send twice is replayed (not POST/PATCH, except token issues),
    on other controllers, at most 3 attempts; Glance's image data gets more than 1 s;
  - the agent check (agent-port 4993, agent-inter 1s, agent-send the backend's name), with a
    scripted responder on each fake controller standing for ocf:openstack:agent-check:
    "down #<reason>" for keystone on one controller takes that server DOWN at the first
    such answer, within ~1 s of the verdict (measured; bound 3 s), the reason in the stats
    (last_agt), while its health check still passes and its glance-api server stays UP and
    served; no keystone request reaches it afterwards and no client request fails or waits;
    "up" brings it back as fast and it is served again; an unreachable agent (after down,
    after up), connections closed without a reply or never answered, unknown words and
    binary bytes change nothing; an operator's `set server ... state maint` stays while the
    agent says "up" (an agent saying "ready" undoes it: the agent is asked during maint, so
    ours must never say ready).
Also: Pacemaker's lsb:haproxy (Debian's init script) starts, checks and stops HAProxy with
this file and no systemd, with the exit codes Pacemaker needs.
The namespaces have their own loopback, addresses, sysctls, /run and PIDs: the host is not
touched.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from pcmk_common import CLEAN_PATH, REPO, clean_env
from pcmk_sim import NO_FENCING, TWO_NODES, build_cib

HERE = Path(__file__).resolve().parent
NONLOCAL_BIND = Path("/proc/sys/net/ipv4/ip_nonlocal_bind")
# What the file's comments claim, with slack for a loaded 2-core test machine.
HUNG_COST = 1.5          # set-timeout server 1s for reads
HUNG_TOKEN_COST = 3.5    # 3 s for a token request
HUNG_DOWN_WITHIN = 4.5   # ~3.5 s: inter 1s + timeout check 1s + fastinter 0.5s + 1s
STOPPED_DOWN_WITHIN = 2.5
FAST = 0.5
# agent-inter 1s: a verdict is heard within 1 s, and "down"/"up" act on the first answer
AGENT_WITHIN = 3.0       # from the verdict to HAProxy's new state
AGENT_ANSWER_ACTS = 0.9  # from the first answer to the new state: < agent-inter, so one answer did it
DB_REASON = "database unreachable from this controller (database-watch)"


@pytest.fixture(scope="session")
def haproxy_cfg() -> Path:
    """The file under test: the repository's (RAO_HAPROXY_CFG overrides it)."""
    return Path(os.environ.get("RAO_HAPROXY_CFG", REPO / "haproxy" / "haproxy.cfg"))


@pytest.fixture(scope="module")
def drill(require_root, haproxy_cfg, tmp_path_factory) -> Dict:
    for tool in ("haproxy", "unshare", "ip", "sysctl"):
        if not shutil.which(tool, path=CLEAN_PATH):
            pytest.fail(f"{tool} missing (apt-get install haproxy iproute2 util-linux procps)")
    workdir = tmp_path_factory.mktemp("haproxy-netns")
    host_nonlocal = NONLOCAL_BIND.read_text()
    proc = subprocess.run(["unshare", "--net", "--fork", "--kill-child", "/usr/bin/python3",
                           str(HERE / "haproxy_netns.py"), str(haproxy_cfg), str(workdir)],
                          capture_output=True, text=True, env=clean_env(), timeout=120)
    assert proc.returncode == 0, f"haproxy_netns.py exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout)
    result["host_nonlocal_after"] = NONLOCAL_BIND.read_text()
    result["host_nonlocal_before"] = host_nonlocal
    print(f"\n[haproxy.cfg in a namespace] logs in {workdir}", file=sys.stderr)
    return result


def statuses(requests) -> Dict[int, int]:
    out: Dict[int, int] = {}
    for r in requests:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def test_haproxy_accepts_the_file(haproxy_cfg):
    proc = subprocess.run(["haproxy", "-c", "-f", str(haproxy_cfg)], capture_output=True, text=True,
                          env=clean_env(), timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[WARNING]" not in out and "[ALERT]" not in out, out


def test_needs_ip_nonlocal_bind(drill):
    without = drill["without_nonlocal_bind"]
    assert without["rc"] not in (None, 0), "HAProxy started without ip_nonlocal_bind: the test proves nothing"
    assert "cannot bind socket" in without["output"] and "192.0.2.10:5000" in without["output"], without
    assert drill["with_nonlocal_bind"]["rc"] is None, drill["with_nonlocal_bind"]
    # the sysctl changed inside the namespace only
    assert drill["host_nonlocal_after"] == drill["host_nonlocal_before"]


def test_healthy_requests_reach_every_controller(drill):
    reqs = drill["healthy"]
    assert statuses(reqs) == {200: len(reqs)}
    assert {r["server"] for r in reqs if r["service"] == "keystone"} == {"ctl1", "ctl2", "ctl3"}
    assert {r["server"] for r in reqs if r["service"] == "glance-api"} == {"ctl1", "ctl2", "ctl3"}
    assert max(r["seconds"] for r in reqs) < FAST


def test_stopped_controller_costs_nothing(drill):
    """Even POSTs, which are never replayed, go elsewhere: nothing was sent to a closed port."""
    reqs = drill["stopped"]
    assert reqs and statuses(reqs) == {200: len(reqs)}
    assert {r["server"] for r in reqs} == {"ctl2", "ctl3"}
    assert max(r["seconds"] for r in reqs) < FAST
    for server, seconds in drill["stopped_down_after"].items():
        assert seconds is not None and seconds < STOPPED_DOWN_WITHIN, drill["stopped_down_after"]


def test_hung_controller_costs_a_request_at_most_about_a_second(drill):
    reqs = drill["hung"]
    assert statuses(reqs) == {200: len(reqs)}, [r for r in reqs if r["status"] != 200][:5]
    assert {r["method"] for r in reqs} == {"GET", "POST"}
    # some requests did meet the hung controller (else this proves nothing), and paid <= ~1 s
    met = [r for r in reqs if r["seconds"] >= 0.9]
    assert met, "no request met the hung controller"
    assert max(r["seconds"] for r in reqs if r["method"] == "GET") < HUNG_COST
    assert max(r["seconds"] for r in reqs if r["method"] == "POST") < HUNG_TOKEN_COST
    assert "ctl2" not in {r["server"] for r in reqs}
    for server, seconds in drill["hung_down_after"].items():
        assert seconds is not None and seconds < HUNG_DOWN_WITHIN, drill["hung_down_after"]
    # once it is down, it costs nothing
    after = drill["after_down"]
    assert statuses(after) == {200: len(after)} and max(r["seconds"] for r in after) < FAST


# (id suffix, status, attempts, seconds per attempt): every controller answers after the
# delay at the end of the id (0.5 s for the last one)
REPLAYS = [
    ("keystone-GET-/v3/projects-3", 504, 3, 1),         # reads: 1 s, then another controller
    ("keystone-POST-/v3/auth/tokens-2", 200, 1, None),  # a slow token (bcrypt on a busy node) is fine
    ("keystone-POST-/v3/auth/tokens-4", 504, 3, 3),     # issuing a token is safe to replay: 3 s each
    ("paused-body", 504, 3, 3),                         # ... also when the body comes late
    ("keystone-GET-/v3/auth/tokens-2", 200, 1, None),   # validating a token (Glance's check): 3 s too
    ("keystone-POST-/v3/users-3", 200, 1, None),        # creates something: never replayed, so it
    ("keystone-PATCH-/v3/users/u1-3", 200, 1, None),    # waits (timeout server 60 s): slow is fine
    ("glance-api-GET-/v2/images-4", 504, 3, 3),         # Glance reads: 3 s (a token check first)
    ("glance-api-POST-/v2/images-3", 200, 1, None),
    ("glance-api-GET-/v2/images/i1/file-3", 200, 1, None),  # image data: 10 minutes, not 1 s
    ("glance-api-PUT-/v2/images/i1/file-3", 200, 1, None),
    ("keystone-GET-/v3/projects-0.5", 200, 1, None),
]


@pytest.mark.parametrize("case,status,attempts,each", REPLAYS, ids=[c[0] for c in REPLAYS])
def test_what_is_replayed(drill, case, status, attempts, each):
    req = {r["id"]: r for r in drill["slow"]}[f"slow-{case}"]
    assert (req["status"], len(req["attempts"])) == (status, attempts), req
    if status == 504:
        # each attempt costs its set-timeout, then the next one starts at once
        assert attempts * each - 0.1 < req["seconds"] < attempts * each + 0.5, req
    if attempts > 1:
        # option redispatch 1: a retry never goes to the controller that just failed
        assert all(a != b for a, b in zip(req["attempts"], req["attempts"][1:])), req


# Pacemaker's own calls of the lsb agent, in new mount, network and PID namespaces: /run is
# an empty tmpfs (no /run/systemd/system, so Debian's init-functions do not hand the script
# to systemctl), this file is mounted over /etc/haproxy/haproxy.cfg, and every process,
# daemonized HAProxy included, dies with the namespace's first process.
LSB_SCRIPT = r"""
set -u
mount -t tmpfs tmpfs /run
mount --bind "$1" /etc/haproxy/haproxy.cfg
ip link set lo up
sysctl -qw net.ipv4.ip_nonlocal_bind=1
test ! -e /run/systemd/system || exit 99
for op in force-check force-start force-check force-start force-stop force-check force-stop; do
    crm_resource -r haproxy --$op >/dev/null 2>&1
    echo "$op $?"
done
pgrep -x haproxy >/dev/null && echo "left running" || true
"""
# OCF codes, as Pacemaker maps the LSB script's: 7 not running, 0 ok; start and stop are
# idempotent.
LSB_EXPECTED = ["force-check 7", "force-start 0", "force-check 0", "force-start 0", "force-stop 0",
                "force-check 7", "force-stop 0"]


def test_lsb_haproxy_without_systemd(installed_agents, crm_dir, haproxy_cfg, tmp_path):
    cib = build_cib(tmp_path, "lsb", [crm_dir / "openstack-ha-haproxy.crm"], preamble=TWO_NODES + NO_FENCING)
    proc = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
                           "bash", "-c", LSB_SCRIPT, "lsb", str(haproxy_cfg)],
                          capture_output=True, text=True, env=clean_env(CIB_file=str(cib)), timeout=120)
    assert proc.stdout.splitlines() == LSB_EXPECTED, proc.stdout + proc.stderr


# ---------------------------------------------------------------- the agent check

def first_answer(queries, prefix: str, since: float) -> float:
    """When the agent first answered ``prefix...`` at or after ``since``."""
    times = [t for t, _, action in queries if t >= since and action.startswith(prefix)]
    assert times, (prefix, since, queries)
    return times[0]


def test_agent_down_takes_the_server_out_within_a_second(drill):
    a = drill["agent_down_up"]
    row = a["down_row"]
    assert a["down_at"] is not None, f"keystone/ctl1 not DOWN 6 s after its agent said down: {row}"
    assert a["down_at"] - a["down_set"] < AGENT_WITHIN, a
    # the first "down" answer did it (fall 2 does not apply to the agent's verdict)
    answered = first_answer(a["queries"], "down", a["down_set"])
    assert a["down_at"] - answered < AGENT_ANSWER_ACTS, (answered, a)
    # the agent took it out: its health check passes, the agent's reason is in the stats
    assert row["status"].startswith("DOWN") and "agent" in row["status"], row
    assert row["check_status"].endswith("L7OK"), row
    assert row["agent_status"].endswith("L7STS"), row
    assert DB_REASON in row["last_agt"], row
    # agent-inter 1s: HAProxy asked the agent about every second
    times = [t for t, _, _ in a["queries"]]
    gaps = sorted(b - t for t, b in zip(times, times[1:]))
    assert len(gaps) >= 3 and 0.7 < gaps[len(gaps) // 2] < 1.4, a["queries"]
    # keystone only: the same controller's glance-api server stays in
    assert a["glance_ctl1_when_down"] == "UP", a


def test_agent_down_moves_requests_away_and_costs_nothing(drill):
    a = drill["agent_down_up"]
    reqs = a["requests"]
    # requests flowed through both frontends during the whole switch, none failed or waited
    assert statuses(reqs) == {200: len(reqs)}, [r for r in reqs if r["status"] != 200][:5]
    assert max(r["seconds"] for r in reqs) < FAST, max(reqs, key=lambda r: r["seconds"])
    keystone = [r for r in reqs if r["service"] == "keystone"]
    glance = [r for r in reqs if r["service"] == "glance-api"]
    before = [r for r in keystone if r["end"] < a["down_set"]]
    down = [r for r in keystone if a["down_at"] <= r["start"] and r["end"] < a["up_set"]]
    assert "ctl1" in {r["server"] for r in before}, "ctl1 got no keystone request before: proves nothing"
    assert len(down) >= 20, len(down)
    assert [r for r in down if "ctl1" in r["attempts"]] == [], "a keystone request reached ctl1 while DOWN"
    assert {r["server"] for r in down} == {"ctl2", "ctl3"}
    glance_down = [r for r in glance if a["down_at"] <= r["start"] and r["end"] < a["up_set"]]
    assert "ctl1" in {r["server"] for r in glance_down}, "ctl1's glance-api got nothing while keystone was out"


def test_agent_up_brings_the_server_back(drill):
    a = drill["agent_down_up"]
    row = a["up_row"]
    assert a["up_at"] is not None, f"keystone/ctl1 not UP 8 s after its agent said up: {row}"
    assert a["up_at"] - a["up_set"] < AGENT_WITHIN, a
    # its health check passed all along: the first "up" is enough
    answered = first_answer(a["queries"], "up", a["up_set"])
    assert a["up_at"] - answered < AGENT_ANSWER_ACTS, (answered, a)
    assert row["last_agt"] == "via agent : up", row
    after = [r for r in a["requests"] if r["service"] == "keystone" and r["start"] > a["up_at"]]
    assert len([r for r in after if r["server"] == "ctl1"]) >= 5, statuses(after)


def test_agent_unreachable_or_garbage_changes_nothing(drill):
    u = drill["agent_unchanged"]
    assert all(u["down_before"].values()), u["down_before"]
    assert u["ctl1_refused"], "ctl1's agent port did not refuse: the unreachable case proves nothing"
    seen, rows, queries = u["seen"], u["rows"], u["queries"]
    # each server kept the state it had for the whole watch (~4.4 s: 4 agent checks)
    assert all(s.startswith("DOWN") for s in seen["keystone/ctl1"]), seen       # unreachable after down
    assert seen["glance-api/ctl1"] == ["UP"], seen                               # unreachable after up
    assert seen["keystone/ctl2"] == ["UP"], seen                                 # junk after up
    assert all(s.startswith("DOWN") for s in seen["glance-api/ctl2"]), seen      # junk after down
    # HAProxy did try the stopped agent, and got the answers the scenario meant
    assert queries["ctl1"] == [], queries["ctl1"]
    assert rows["keystone/ctl1"]["last_agt"] == "Connection refused", rows["keystone/ctl1"]
    assert rows["glance-api/ctl1"]["last_agt"] == "Connection refused", rows["glance-api/ctl1"]
    served = {backend: [action for _, b, action in queries["ctl2"] if b == backend]
              for backend in ("keystone", "glance-api")}
    assert served["keystone"][:3] == ["<close>", "<close>", "<silent>"], served
    assert served["glance-api"][:3] == ["<close>", "<close>", "\x00\xfe\xff binary"], served
    silent = [t for t, b, action in queries["ctl2"] if action == "<silent>"][0]
    assert silent < u["end"] - 1.2, ("HAProxy's 1 s timeout on the silent agent fell after the watch", u)
    # the servers with an unreachable agent after up, and with junk after up, kept serving
    reqs = u["requests"]
    assert statuses(reqs) == {200: len(reqs)}, [r for r in reqs if r["status"] != 200][:5]
    assert {r["server"] for r in reqs if r["service"] == "keystone"} == {"ctl2"}
    assert "ctl1" in {r["server"] for r in reqs if r["service"] == "glance-api"}
    assert "ctl2" not in {r["server"] for r in reqs if r["service"] == "glance-api"}


def test_operator_maint_stays_while_the_agent_says_up(drill):
    """The design choice: our agent never says ready/drain/maint, so an operator's maint holds."""
    u = drill["agent_unchanged"]
    assert u["maint_answers"] == {"keystone/ctl3": "", "glance-api/ctl3": ""}, u["maint_answers"]
    assert u["seen"]["keystone/ctl3"] == ["MAINT"], u["seen"]
    ups = [t for t, b, action in u["queries"]["ctl3"] if b == "keystone" and action == "up"]
    assert len(ups) >= 3, u["queries"]["ctl3"]     # the agent was asked during maint, said up
    assert u["rows"]["keystone/ctl3"]["last_agt"] == "via agent : up", u["rows"]["keystone/ctl3"]
    assert "ctl3" not in {r["server"] for r in u["requests"] if r["service"] == "keystone"}
    # the contrast: an agent that says "ready" ends the operator's maint (what ours must never do)
    assert u["seen"]["glance-api/ctl3"][0] == "MAINT" and u["seen"]["glance-api/ctl3"][-1] == "UP", u["seen"]
