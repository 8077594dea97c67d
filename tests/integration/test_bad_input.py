"""Every kind of bad parameter, for both agents: the contract's code, a reason that
names the parameter, no traceback, on time. Stop is 0 in every case.

Codes (design.md section 4): 6 for a value that is wrong anywhere, 5 for something not
installed, 2 for something wrong on this host; a probe of a stopped service is 7 whatever
the parameters say, and a monitor of a stopped service is 7 unless a value is malformed.
"""

import os
import pwd
from typing import Dict, NamedTuple, Optional

import pytest

from agent_harness import PARAMS, Agent

OP_TIMEOUT_MS = 10000
UNREADABLE = "/etc/rao-test-unreadable.conf"


class Case(NamedTuple):
    param: str
    value: str
    validate: int
    start: int
    monitor: int = 7
    agents: tuple = ("keystone", "glance-api")
    reason: Optional[str] = None  # text the exit reason must hold (default: the parameter name)


SYNTAX, NOT_INSTALLED, HOST = 6, 5, 2
CASES = [
    Case("http_timeout", "abc", SYNTAX, SYNTAX, SYNTAX),
    Case("http_timeout", "1.5", SYNTAX, SYNTAX, SYNTAX),
    Case("http_timeout", "0", SYNTAX, SYNTAX, SYNTAX, reason="minimum"),
    Case("http_timeout", "-3", SYNTAX, SYNTAX, SYNTAX),
    Case("insecure", "maybe", SYNTAX, SYNTAX, SYNTAX),
    Case("url", "not a url", SYNTAX, SYNTAX, SYNTAX),
    Case("url", "ftp://127.0.0.1:5000", SYNTAX, SYNTAX, SYNTAX, reason="http://"),
    Case("url", "http://", SYNTAX, SYNTAX, SYNTAX, reason="no host"),
    Case("url", "http://127.0.0.1:99999", SYNTAX, SYNTAX, SYNTAX),
    Case("url", "http://127.0.0.1:5000/?x=1", SYNTAX, SYNTAX, SYNTAX, reason="query"),
    Case("health_path", "healthcheck", SYNTAX, SYNTAX, SYNTAX),
    Case("os_auth_url", "keystone:5000", SYNTAX, SYNTAX, SYNTAX),
    Case("os_interface", "private", SYNTAX, SYNTAX, SYNTAX),
    Case("pid", "relative.pid", SYNTAX, SYNTAX, SYNTAX),
    Case("log_file", "relative.log", SYNTAX, SYNTAX, SYNTAX),
    Case("additional_parameters", '"unbalanced', SYNTAX, SYNTAX, SYNTAX),
    Case("bind", "5000", SYNTAX, SYNTAX, SYNTAX, agents=("keystone",)),
    Case("bind", ":70000", SYNTAX, SYNTAX, SYNTAX, agents=("keystone",)),
    Case("bind", "host:port", SYNTAX, SYNTAX, SYNTAX, agents=("keystone",)),
    Case("ssl_cert", "/etc/ssl/certs/ca-certificates.crt", SYNTAX, SYNTAX, SYNTAX,
         agents=("keystone",), reason="ssl_key"),
    Case("binary", "/nonexistent/bin/daemon", NOT_INSTALLED, NOT_INSTALLED),
    Case("binary", "/tmp", NOT_INSTALLED, NOT_INSTALLED),
    Case("binary", "/etc/passwd", NOT_INSTALLED, NOT_INSTALLED),
    Case("config", "/nonexistent/service.conf", NOT_INSTALLED, NOT_INSTALLED),
    Case("config", "/etc", NOT_INSTALLED, NOT_INSTALLED),
    Case("config", UNREADABLE, HOST, HOST, reason="not readable"),
    Case("uwsgi_ini", "/nonexistent/keystone-uwsgi.ini", NOT_INSTALLED, NOT_INSTALLED, agents=("keystone",)),
    Case("user", "no-such-user", NOT_INSTALLED, NOT_INSTALLED, reason="does not exist"),
    Case("group", "no-such-group", NOT_INSTALLED, NOT_INSTALLED, reason="does not exist"),
    Case("log_file", "/nonexistent-dir/service.log", HOST, HOST),
    Case("log_file", "/tmp", HOST, HOST, reason="directory"),
    Case("pid", "/tmp", HOST, HOST, reason="directory"),
    Case("ca_file", "/nonexistent/ca.pem", HOST, HOST),
    Case("ca_file", "/etc/ssl", HOST, HOST),
]
RUNS = [(agent, case) for case in CASES for agent in case.agents]


@pytest.fixture(scope="module", autouse=True)
def unreadable_config():
    with open(UNREADABLE, "w") as f:
        f.write("[DEFAULT]\n")
    os.chmod(UNREADABLE, 0o600)  # root's only: the service user can not read it
    yield
    os.unlink(UNREADABLE)


def _agent(name: str, case: Case, tmp_name: str) -> Agent:
    params: Dict[str, str] = dict(PARAMS[name], **{case.param: case.value})
    return Agent(name, f"bad-{tmp_name}", params)


@pytest.mark.parametrize("name, case", RUNS, ids=[f"{n}-{c.param}={c.value}" for n, c in RUNS])
def test_bad_input(name: str, case: Case, services_ready):
    agent = _agent(name, case, f"{name}-{case.param}")
    must_say = case.reason or case.param
    for action, expected, extra in (("validate-all", case.validate, {}),
                                    ("start", case.start, {}),
                                    ("monitor", case.monitor, {}),
                                    ("monitor", 7, {"probe": True}),
                                    ("monitor", case.monitor, {"depth": 10})):
        result = agent.run(action, timeout_ms=OP_TIMEOUT_MS, **extra)
        label = f"{action}{' probe' if extra.get('probe') else ''}{' depth 10' if extra.get('depth') else ''}"
        assert result.rc == expected, f"{label}: rc {result.rc}, reason {result.reason!r}"
        assert result.seconds < OP_TIMEOUT_MS / 1000, f"{label} took {result.seconds:.1f}s"
        if expected != 0:
            assert result.reason, f"{label} exited {expected} without an exit reason"
        if expected not in (0, 7):
            assert must_say in result.reason, f"{label}: reason {result.reason!r} lacks {must_say!r}"
    stop = agent.run("stop", timeout_ms=OP_TIMEOUT_MS)
    assert stop.rc == 0, stop.reason
    assert not os.path.exists(agent.pidfile) or os.path.isdir(agent.pidfile)


def test_service_user_exists_for_the_unreadable_case():
    # The "not readable" case means something only if the service users are not root.
    assert pwd.getpwnam("keystone").pw_uid != 0 and pwd.getpwnam("glance").pw_uid != 0
