"""Fingerprints of Keystone's fernet and credential key repositories, and whether two
controllers' keys agree. Used by the keys-watch agent (which publishes and compares them)
and by the keystone agent's start (it refuses a missing repository); the verdict the watcher
leaves for Keystone's monitor is keyverdict's.

A fingerprint is, per key file, its index and the first 8 hex digits of the SHA-256 of its
content (stripped): enough to compare repositories, never the key, and a 32-byte random
key can not be found from 32 bits of its hash. Index 0 is the staged key, the highest index
the primary (the key new tokens and credentials are encrypted with).

A controller is consistent with an issuer (a controller that issued tokens clients may
still present) when its fernet repository holds the issuer's primary key (it then accepts
the issuer's tokens) and its credential keys other than the staged one equal the issuer's.
"""

import os
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

from ..host.confscan import ini_values
from ..ocf.exitcodes import OCFError, OCFExit

KINDS = ("fernet", "credential")
# kind -> (section of keystone.conf, Keystone's default key_repository)
REPOSITORY = {"fernet": ("fernet_tokens", "/etc/keystone/fernet-keys/"),
              "credential": ("credential", "/etc/keystone/credential-keys/")}
TOKEN_EXPIRATION = 3600      # [token] expiration, Keystone's default
DIGEST_CHARS = 8
MAX_KEY_FILE = 4096          # a fernet key is 44 bytes; anything larger is not a key


class Repo(NamedTuple):
    kind: str
    path: str
    keys: Dict[int, str]      # index -> digest
    problem: str = ""         # "", "missing", "unreadable", "empty"

    @property
    def primary(self) -> Optional[str]:
        return self.keys[max(self.keys)] if self.keys and max(self.keys) > 0 else None


class KeyConfig(NamedTuple):
    fernet: str
    credential: str
    provider: str
    expiration: int


def key_config(config_path: str) -> KeyConfig:
    """The repositories and token settings of a keystone.conf (Keystone's defaults for what
    it does not set, or when it can not be read)."""
    wanted = [("fernet_tokens", "key_repository"), ("credential", "key_repository"),
              ("token", "provider"), ("token", "expiration")]
    try:
        found = ini_values(config_path, wanted)
    except ValueError:
        found = {}
    try:
        expiration = int(found.get(("token", "expiration")) or TOKEN_EXPIRATION)
    except ValueError:
        expiration = TOKEN_EXPIRATION
    return KeyConfig(found.get(("fernet_tokens", "key_repository")) or REPOSITORY["fernet"][1],
                     found.get(("credential", "key_repository")) or REPOSITORY["credential"][1],
                     (found.get(("token", "provider")) or "fernet").lower(), expiration)


def digest(data: bytes) -> str:
    import hashlib  # only when a key file is read

    return hashlib.sha256(data.strip()).hexdigest()[:DIGEST_CHARS]


def read_repo(kind: str, path: str) -> Repo:
    """The fingerprint of one repository (as root: what is there, whoever may read it)."""
    try:
        names = [n for n in os.listdir(path) if n.isdigit()]
    except FileNotFoundError:
        return Repo(kind, path, {}, "missing")
    except OSError:
        return Repo(kind, path, {}, "unreadable")
    keys = {}
    for name in names:
        try:
            fd = os.open(os.path.join(path, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return Repo(kind, path, {}, "unreadable")
        try:
            keys[int(name)] = digest(os.read(fd, MAX_KEY_FILE))
        finally:
            os.close(fd)
    return Repo(kind, path, keys, "" if keys else "empty")


def read_repos(config: KeyConfig) -> Dict[str, Repo]:
    return {"fernet": read_repo("fernet", config.fernet), "credential": read_repo("credential", config.credential)}


# ---------------------------------------------------------------- the attribute value
# "t=<epoch> fernet=0:ab12cd34,1:...,2:... credential=0:...,1:..." (t: when the publishing
# watcher saw this content first); a repository with a problem: "fernet=!missing".

def encode(repos: Mapping[str, Repo], since: int) -> str:
    parts = [f"t={since}"]
    for kind in KINDS:
        repo = repos[kind]
        parts.append(f"{kind}=" + (f"!{repo.problem}" if repo.problem else
                                   ",".join(f"{i}:{d}" for i, d in sorted(repo.keys.items()))))
    return " ".join(parts)


def content(value: str) -> str:
    """The value without its time: what changes when the keys change."""
    return " ".join(p for p in value.split() if not p.startswith("t="))


class Print(NamedTuple):
    since: int
    repos: Dict[str, Repo]


def decode(value: str) -> Optional[Print]:
    """A published value, or None when it is not one."""
    since, repos = None, {}
    for part in value.split():
        key, _, rest = part.partition("=")
        if key == "t" and rest.isdigit():
            since = int(rest)
        elif key in KINDS:
            if rest.startswith("!"):
                repos[key] = Repo(key, "", {}, rest[1:] or "unreadable")
                continue
            keys = {}
            for item in filter(None, rest.split(",")):
                index, _, d = item.partition(":")
                if not index.isdigit() or not d:
                    return None
                keys[int(index)] = d
            repos[key] = Repo(key, "", keys, "" if keys else "empty")
    if since is None or set(repos) != set(KINDS):
        return None
    return Print(since, repos)


# ---------------------------------------------------------------- the comparison

class Finding(NamedTuple):
    issuer: str     # "" when the finding is about this controller's own repositories
    what: str       # what is missing, as the operator reads it
    since: int      # the finding holds since then (the later of the two fingerprints' times)


def findings(me: str, mine: Print, issuers: Mapping[str, Print], paths: Optional[KeyConfig] = None) -> List[Finding]:
    """What ``me`` lacks to accept the tokens and read the credentials of every issuer."""
    out = []
    for kind in KINDS:
        repo = mine.repos[kind]
        if repo.problem:
            where = f" {getattr(paths, kind)}" if paths else ""
            out.append(Finding("", f"the {kind} key repository{where} of {me} is {repo.problem}", mine.since))
    if out:
        return out
    for name, theirs in sorted(issuers.items()):
        if name == me:
            continue
        since = max(mine.since, theirs.since)
        fernet, cred = theirs.repos["fernet"], theirs.repos["credential"]
        if not fernet.problem and fernet.primary and fernet.primary not in mine.repos["fernet"].keys.values():
            out.append(Finding(name, f"{me} lacks the primary fernet key {fernet.primary} of {name}", since))
        if not cred.problem and _active(cred) != _active(mine.repos["credential"]):
            out.append(Finding(name, f"the credential keys of {me} differ from those of {name}", since))
    return out


def _active(repo: Repo) -> Tuple[str, ...]:
    """The keys that decrypt: all but the staged one (index 0)."""
    return tuple(sorted(d for i, d in repo.keys.items() if i > 0))


def consistent(me: str, mine: Print, issuers: Mapping[str, Print]) -> bool:
    return not findings(me, mine, issuers)


def majority(issuers: Mapping[str, Print]) -> Dict[str, Print]:
    """The issuers that agree, where three or more issue tokens (every controller behind
    HAProxy): the largest group whose members all accept each other's tokens and read each
    other's credentials, when it holds more than half of the issuers (2 of 3); else all of
    them (two issuers that disagree: no one is the odd one out)."""
    import itertools

    names = sorted(issuers)

    def agree(a: str, b: str) -> bool:
        return not findings(a, issuers[a], {b: issuers[b]}) and not findings(b, issuers[b], {a: issuers[a]})
    if len(names) < 3:
        return dict(issuers)
    for size in range(len(names), len(names) // 2, -1):
        groups = [g for g in itertools.combinations(names, size)
                  if all(agree(a, b) for a, b in itertools.combinations(g, 2))]
        if len(groups) == 1:
            return {n: issuers[n] for n in groups[0]}
        if groups:
            break     # two groups of the same size: no majority
    return dict(issuers)


def rejected_by(me: str, mine: Print, reference: Mapping[str, Print]) -> List[Finding]:
    """An issuer outside the majority: the controllers of the majority that lack its primary
    fernet key (they reject the tokens it issues); each finding names the controller to sync from."""
    primary = mine.repos["fernet"].primary
    # "... of <issuer>" last: keys-watch's reason names every issuer a finding concerns once
    return [Finding(name, f"the primary fernet key {primary} of {me} (its new tokens) is missing from the keys of {name}",
                    max(mine.since, theirs.since))
            for name, theirs in sorted(reference.items())
            if name != me and primary and not theirs.repos["fernet"].problem
            and primary not in theirs.repos["fernet"].keys.values()]


def check_repositories(values: Mapping[str, object]) -> None:
    """Before Keystone starts: its key repositories exist, hold keys, and the service user
    can read them; else 5 with the path (local to this node: Pacemaker runs Keystone on
    another controller)."""
    from ..host.access import readable_by
    from ..host.process import user_ids

    config = key_config(str(values["config"]))
    kinds = KINDS if config.provider == "fernet" else ("credential",)
    user = str(values["user"])
    try:
        uid, gid, _home = user_ids(user, str(values["group"]))
    except KeyError:
        return   # check_host reports the account
    for kind in kinds:
        path = getattr(config, kind)
        repo = read_repo(kind, path)
        fix = (f"copy it from a controller that runs Keystone (rsync -a --delete CTL:{path.rstrip('/')}/ "
               f"{path.rstrip('/')}/, owner {user}, mode 0700)")
        if repo.problem:
            raise OCFError(OCFExit.ERR_INSTALLED, f"the {kind} key repository {path} is {repo.problem} on this "
                                                  f"node: Keystone would reject every token; {fix}")
        unreadable = [str(i) for i in sorted(repo.keys) if not readable_by(os.path.join(path, str(i)), user, uid, gid)]
        if not readable_by(path, user, uid, gid) or unreadable:
            raise OCFError(OCFExit.ERR_INSTALLED,
                           f"the {kind} key repository {path} is not readable by user {user}"
                           + (f" (keys {', '.join(unreadable)})" if unreadable else "")
                           + f": Keystone would reject every token; chown -R {user}: {path}")
