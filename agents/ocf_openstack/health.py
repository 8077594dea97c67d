"""Unauthenticated HTTP health checks with a hard deadline.

Only the standard library on this path: the depth-0 monitor runs every few
seconds for the life of the cluster, and ``requests`` alone costs ~0.15 s.
"""

import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
BODY_EXCERPT = 80


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str  # base path, without a trailing slash

    def url(self, path: str = "") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}{path}"


@dataclass(frozen=True)
class TLSOptions:
    ca_file: str = ""
    insecure: bool = False


@dataclass(frozen=True)
class HealthResult:
    """The outcome of one check: ``ok`` and what the operator should read."""

    ok: bool
    detail: str
    status: Optional[int] = None


def parse_endpoint(url: str) -> Endpoint:
    """Split a base URL; ValueError says what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise ValueError(f"{url!r} is not a valid URL ({err})") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{url!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host name")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not carry a query or fragment")
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, port or default_port, parts.path.rstrip("/"))


def ssl_context(tls: TLSOptions) -> ssl.SSLContext:
    if tls.insecure:
        return ssl._create_unverified_context()  # the operator asked for it; logged by the caller
    return ssl.create_default_context(cafile=tls.ca_file or None)


def _connection(endpoint: Endpoint, timeout: float, tls: TLSOptions) -> http.client.HTTPConnection:
    if endpoint.scheme == "https":
        return http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=timeout,
                                           context=ssl_context(tls))
    return http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text[:BODY_EXCERPT]


def check(endpoint: Endpoint, path: str, timeout: float, tls: TLSOptions = TLSOptions()) -> HealthResult:
    """GET ``path`` below the endpoint; healthy means HTTP 200 within ``timeout`` seconds."""
    url = endpoint.url(path)
    conn = _connection(endpoint, timeout, tls)
    try:
        conn.request("GET", endpoint.path + path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read(4096)
    except socket.timeout:
        return HealthResult(False, f"{url} did not answer within {timeout:.1f}s")
    except ssl.SSLError as err:
        return HealthResult(False, f"TLS failure talking to {url}: {err.reason or err}")
    except ConnectionRefusedError:
        return HealthResult(False, f"{url} refused the connection")
    except (OSError, http.client.HTTPException) as err:
        return HealthResult(False, f"{url} failed: {err.__class__.__name__}: {err}")
    finally:
        conn.close()
    if response.status == 200:
        return HealthResult(True, f"{url} answered 200", 200)
    return HealthResult(False, f"{url} answered HTTP {response.status}: {_excerpt(body)}",
                        response.status)
