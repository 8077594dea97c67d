"""HTTPS end to end: Keystone under uwsgi --https-socket, certificates made with openssl
here; the agent verifies with ca_file, names TLS failures, and insecure works with a warning."""

import shutil
import subprocess
from pathlib import Path

import pytest

from agent_harness import Agent

SSL_DIR = Path("/etc/keystone/rao-test-ssl")
HTTPS_URL = "https://127.0.0.1:5000"

CA_CONFIG = """
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
"""


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _server_cert(name: str, san: str, dates: tuple = ()) -> None:
    """A key and a certificate for ``san``, signed by the test CA (``dates``: start, end)."""
    key, csr, crt = (SSL_DIR / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}")
    validity = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "2"]
    _openssl("ca", "-batch", "-config", str(SSL_DIR / "ca.cnf"), "-cert", str(SSL_DIR / "ca.crt"),
             "-keyfile", str(SSL_DIR / "ca.key"), "-in", str(csr), "-out", str(crt), *validity)


@pytest.fixture(scope="module")
def certs(services_ready):
    shutil.rmtree(SSL_DIR, ignore_errors=True)
    SSL_DIR.mkdir(mode=0o750)
    (SSL_DIR / "index.txt").write_text("")
    (SSL_DIR / "serial").write_text("1000\n")
    (SSL_DIR / "ca.cnf").write_text(CA_CONFIG.format(dir=SSL_DIR))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(SSL_DIR / "ca.key"),
             "-out", str(SSL_DIR / "ca.crt"), "-days", "2", "-subj", "/CN=rao test CA",
             # Python 3.13 (Debian 13) refuses a CA without keyUsage
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _server_cert("good", "IP:127.0.0.1,DNS:localhost")
    _server_cert("wronghost", "DNS:wrong.example")
    _server_cert("expired", "IP:127.0.0.1", ("20200101000000Z", "20200102000000Z"))
    subprocess.run(["chown", "-R", "keystone:keystone", str(SSL_DIR)], check=True)
    yield SSL_DIR
    shutil.rmtree(SSL_DIR, ignore_errors=True)


def _https_keystone(keystone: Agent, cert: str, **params: str) -> Agent:
    settings = dict(keystone.params, ssl_cert=str(SSL_DIR / f"{cert}.crt"),
                    ssl_key=str(SSL_DIR / f"{cert}.key"), url=HTTPS_URL, os_auth_url=HTTPS_URL + "/v3")
    return Agent("keystone", f"it-keystone-tls-{cert}", {**settings, **params})


@pytest.fixture
def stopped(keystone):
    assert keystone.run("stop").rc == 0
    started = []
    yield started
    for agent in started:
        assert agent.run("stop").rc == 0


def test_https_keystone_verified_with_the_ca_file(certs, keystone, stopped):
    agent = _https_keystone(keystone, "good", ca_file=str(certs / "ca.crt"))
    stopped.append(agent)
    assert agent.run("start").rc == 0
    assert agent.run("monitor").rc == 0
    deep = agent.run("monitor", depth=10)
    assert deep.rc == 0, deep.reason
    unknown = agent.run("monitor", OCF_RESKEY_ca_file="")
    assert unknown.rc == 1 and "TLS failure" in unknown.reason and "CERTIFICATE_VERIFY_FAILED" in unknown.reason


def test_depth_10_verifies_keystone_certificate_too(certs, keystone, stopped):
    # Every address: /healthcheck on 127.0.0.1 matches the certificate, the token request
    # to 127.0.0.2 does not, so only the authenticated client can catch it.
    agent = _https_keystone(keystone, "good", ca_file=str(certs / "ca.crt"), bind=":5000",
                            os_auth_url="https://127.0.0.2:5000/v3")
    stopped.append(agent)
    assert agent.run("start").rc == 0
    assert agent.run("monitor").rc == 0
    deep = agent.run("monitor", depth=10)
    assert deep.rc == 1
    assert "SSL" in deep.reason and "127.0.0.2" in deep.reason, deep.reason


def test_insecure_skips_verification_and_says_so(certs, keystone, stopped, tmp_path):
    agent = _https_keystone(keystone, "good", insecure="true")
    stopped.append(agent)
    assert agent.run("start").rc == 0
    log = tmp_path / "ha.log"
    result = agent.run("validate-all", HA_LOGFILE=str(log))
    assert result.rc == 0
    assert "insecure=true" in log.read_text()
    assert agent.run("monitor", depth=10).rc == 0


@pytest.mark.parametrize("cert, problem", [("wronghost", "IP address mismatch"),
                                           ("expired", "certificate has expired")])
def test_bad_certificates_fail_the_monitor_with_the_tls_reason(certs, keystone, stopped, cert, problem):
    # Started with insecure=true (so the start itself succeeds), then monitored as configured.
    agent = _https_keystone(keystone, cert, insecure="true", ca_file=str(certs / "ca.crt"))
    stopped.append(agent)
    assert agent.run("start").rc == 0
    result = agent.run("monitor", OCF_RESKEY_insecure="false")
    assert result.rc == 1
    assert "TLS failure" in result.reason and problem in result.reason, result.reason
