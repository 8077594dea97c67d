import time

import pytest
from ocf_openstack.checks import health
from ocf_openstack.checks.health import Endpoint, TLSOptions, check, parse_endpoint
from unit_support import free_port


def ep(port, scheme="http"):
    return Endpoint(scheme, "127.0.0.1", port, "")


def test_200_is_healthy(http_server):
    http_server.routes[("GET", "/healthcheck")] = (200, b"OK", {})
    result = check(parse_endpoint(http_server.url), "/healthcheck", 2)
    assert result.ok and result.status == 200
    assert http_server.requests == [("GET", "/healthcheck", b"")]


def test_base_path_is_kept(http_server):
    http_server.routes[("GET", "/identity/healthcheck")] = (200, b"OK", {})
    assert check(parse_endpoint(http_server.url + "/identity/"), "/healthcheck", 2).ok


def test_503_disabled_by_file(http_server):
    http_server.routes[("GET", "/healthcheck")] = (503, b"DISABLED BY FILE", {})
    result = check(parse_endpoint(http_server.url), "/healthcheck", 2)
    assert not result.ok and result.status == 503
    assert "503" in result.detail and "DISABLED BY FILE" in result.detail


def test_long_body_is_cut(http_server):
    http_server.routes[("GET", "/healthcheck")] = (500, b"x" * 5000, {})
    result = check(parse_endpoint(http_server.url), "/healthcheck", 2)
    assert not result.ok and len(result.detail) < 300


def test_connection_refused():
    result = check(ep(free_port()), "/healthcheck", 2)
    assert not result.ok and "refused" in result.detail


def test_silent_server_times_out_within_the_timeout(silent_port):
    started = time.monotonic()
    result = check(ep(silent_port), "/healthcheck", 0.5)
    elapsed = time.monotonic() - started
    assert not result.ok and "did not answer within 0.5s" in result.detail
    assert elapsed < 0.5 + 1


@pytest.mark.parametrize("answer", [
    b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff garbage\r\n\r\n",
    b"\x00" * 64,
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\nhello",
], ids=["ssh", "zeros", "bad-status", "bad-length", "float-length"])
def test_garbage_is_not_healthy(raw_server, answer):
    def garbage(conn, stop):
        conn.recv(4096)
        conn.sendall(answer)
    result = check(ep(raw_server(garbage)), "/healthcheck", 2)
    assert not result.ok and "failed" in result.detail


def test_connection_closed_without_answer(raw_server):
    def hang_up(conn, stop):
        conn.recv(4096)
    result = check(ep(raw_server(hang_up)), "/healthcheck", 2)
    assert not result.ok


def test_trickling_server_is_cut_at_the_timeout(raw_server):
    def trickle(conn, stop):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(15):  # 1 byte per 0.1 s: never a 0.3 s silence, 1.5 s in all
            if stop.wait(0.1):
                return
            conn.sendall(b"x")
    started = time.monotonic()
    result = check(ep(raw_server(trickle)), "/healthcheck", 0.3)
    assert time.monotonic() - started < 0.3 + 1
    assert not result.ok


def test_https_to_plain_http_server(http_server):
    result = check(ep(http_server.port, "https"), "/healthcheck", 2)
    assert not result.ok and "TLS" in result.detail


def test_https_insecure_to_plain_http_server(http_server):
    result = check(ep(http_server.port, "https"), "/healthcheck", 2, TLSOptions(insecure=True))
    assert not result.ok and "TLS" in result.detail


def test_https_with_missing_ca_file_is_a_failed_check(http_server, tmp_path):
    result = check(ep(http_server.port, "https"), "/healthcheck", 2,
                   TLSOptions(ca_file=str(tmp_path / "missing-ca.pem")))
    assert not result.ok


@pytest.mark.parametrize("url, endpoint", [
    ("http://127.0.0.1:5000", Endpoint("http", "127.0.0.1", 5000, "")),
    ("https://keystone.example/", Endpoint("https", "keystone.example", 443, "")),
    ("http://h", Endpoint("http", "h", 80, "")),
    (" http://h:9292/image/ ", Endpoint("http", "h", 9292, "/image")),
])
def test_parse_endpoint(url, endpoint):
    assert parse_endpoint(url) == endpoint


@pytest.mark.parametrize("url, problem", [
    ("ftp://h:21", "http:// or https://"),
    ("127.0.0.1:5000", "http:// or https://"),
    ("", "http:// or https://"),
    ("http://", "no host"),
    ("http://:5000", "no host"),
    ("http://h:abc", "not a valid URL"),
    ("http://h:99999", "not a valid URL"),
    ("http://h:5000/?x=1", "query"),
    ("http://h:5000/#frag", "fragment"),
])
def test_parse_endpoint_rejects(url, problem):
    with pytest.raises(ValueError) as err:
        parse_endpoint(url)
    assert problem in str(err.value)


def test_parse_endpoint_rejects_port_zero():
    with pytest.raises(ValueError):
        parse_endpoint("http://h:0")


def test_endpoint_url():
    assert ep(5000).url("/healthcheck") == "http://127.0.0.1:5000/healthcheck"
    assert health.Endpoint("https", "h", 443, "/id").url("/v3") == "https://h:443/id/v3"


def test_ipv6_endpoint_url():
    assert parse_endpoint("http://[::1]:5000").url("/v3") == "http://[::1]:5000/v3"


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nOK",  # ended by closing
], ids=["chunked", "close-delimited"])
def test_other_valid_200_framings(raw_server, answer):
    def reply(conn, stop):
        conn.recv(4096)
        for i in range(0, len(answer), 7):  # in small pieces
            conn.sendall(answer[i:i + 7])
            time.sleep(0.005)
    assert check(ep(raw_server(reply)), "/healthcheck", 2).ok
