"""The depth-10 monitor's Keystone token, kept between monitors in a root-only file.

Issuing a token costs Keystone a bcrypt of the password (~0.3 s of CPU per
monitor); validating one costs it ~50 ms. A monitor reuses the token it issued
for up to ``token_max_age`` seconds (keystoneauth1 also re-issues one that
expires within two minutes). The file holds keystoneauth1's auth state (the
token and its catalog) and a salted PBKDF2 hash of the credentials: a changed
password, user, project or URL never reuses an old token, and the password
itself is never written. ``stop`` removes the file (``Context.token_file``).
"""

import hashlib
import hmac
import json
import os
import time
from typing import Callable, Optional, Sequence

from ..host import privatefile

SALT_BYTES = 16
# A record saved this far in the future comes from a clock that jumped back: not trusted.
CLOCK_SLACK = 60.0
# Slows a guess at the password from a leaked file ~10^4 times, for ~4 ms per monitor.
FINGERPRINT_ROUNDS = 10000


def _fingerprint(salt: bytes, credentials: Sequence[str]) -> str:
    secret = "\0".join(credentials).encode()
    return hashlib.pbkdf2_hmac("sha256", secret, salt, FINGERPRINT_ROUNDS).hex()


class TokenCache:
    """One resource's cached token: ``path`` under $HA_RSCTMP, reused for ``max_age`` s (0: never)."""

    def __init__(self, path: str, max_age: float, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.max_age = max_age
        self._clock = clock

    def load(self, credentials: Sequence[str]) -> Optional[str]:
        """The saved auth state, if it was saved for these credentials less than max_age ago."""
        if self.max_age <= 0:
            return None
        text = privatefile.read(self.path)
        if text is None:
            return None
        try:
            record = json.loads(text)
            salt = bytes.fromhex(record["salt"])
            age = self._clock() - float(record["saved_at"])
            fingerprint, state = record["fingerprint"], record["auth_state"]
        except (ValueError, KeyError, TypeError):
            return None  # damaged or from another version: issue a new token
        if not isinstance(state, str) or not isinstance(fingerprint, str):
            return None
        if not hmac.compare_digest(fingerprint, _fingerprint(salt, credentials)):
            return None
        return state if -CLOCK_SLACK <= age < self.max_age else None

    def save(self, credentials: Sequence[str], state: str) -> None:
        """Keep ``state`` for the next monitor; a failed write only costs a token next time."""
        if self.max_age <= 0:
            return
        salt = os.urandom(SALT_BYTES)
        record = {"salt": salt.hex(), "fingerprint": _fingerprint(salt, credentials),
                  "saved_at": self._clock(), "auth_state": state}
        try:
            privatefile.write(self.path, json.dumps(record))
        except OSError:
            pass
