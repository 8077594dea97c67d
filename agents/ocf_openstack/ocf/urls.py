"""Base URLs as the agents' parameters give them (``url``, ``os_auth_url``): parsed once into
an :class:`Endpoint` that the checks connect to, and checked when the parameters are parsed.
"""

from typing import NamedTuple
from urllib.parse import urlsplit

SCHEMES = ("http", "https")


class Endpoint(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str  # base path, without a trailing slash

    def url(self, path: str = "") -> str:
        return f"{self.scheme}://{self._netloc()}{self.path}{path}"

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"



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
    if port == 0:
        raise ValueError(f"{url!r} names port 0")
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, default_port if port is None else port,
                    parts.path.rstrip("/"))
