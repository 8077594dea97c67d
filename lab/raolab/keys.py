"""Keystone's fernet and credential keys, one copy per lab node, kept in sync as an operator
does it: created once on one node (`keystone-manage fernet_setup`, `credential_setup`),
copied to the others with owner and modes kept, rotated on one node
(`keystone-manage fernet_rotate`) and copied again (`sync`).

Each node's /etc/keystone/fernet-keys and /etc/keystone/credential-keys are private to it
(NODE_PRIVATE of pcmk-cluster.sh); from the host they are directories under the node's
state dir. A fingerprint is a short SHA-256 prefix per key file: enough to compare
repositories, never the key, and 32 random bytes cannot be found from it.
"""

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .cluster import Cluster, ClusterError, clean_env

REPOSITORIES = {"fernet": "/etc/keystone/fernet-keys", "credential": "/etc/keystone/credential-keys"}
OWNER = "keystone"
# the node-private directories, in NODE_PRIVATE's "DIR:OWNER:GROUP:MODE" form
NODE_PRIVATE = " ".join(f"{d}:{OWNER}:{OWNER}:0700" for d in REPOSITORIES.values())
SETUP = {"fernet": "fernet_setup", "credential": "credential_setup"}

Fingerprints = Dict[str, Dict[str, str]]   # repository -> key file name -> fingerprint


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data.strip()).hexdigest()[:8]


def repo_dir(cluster: Cluster, i: int, repo: str) -> Path:
    """Host path of node i's private copy of a key repository."""
    return cluster.private_dir(i, REPOSITORIES[repo])


def fingerprints(cluster: Cluster, i: int) -> Fingerprints:
    result: Fingerprints = {}
    for repo in REPOSITORIES:
        d = repo_dir(cluster, i, repo)
        result[repo] = {p.name: fingerprint(p.read_bytes()) for p in sorted(d.iterdir(), key=_key_order)
                        if p.is_file() and p.name.isdigit()} if d.is_dir() else {}
    return result


def _key_order(p: Path) -> Tuple[int, str]:
    return (int(p.name), p.name) if p.name.isdigit() else (-1, p.name)


def describe(prints: Fingerprints) -> str:
    """'fernet 0:ab12cd34 1:... 2:...* | credential ...' (* the primary: the highest index)."""
    parts = []
    for repo, keys in prints.items():
        primary = max(keys, key=int) if keys else None
        shown = " ".join(f"{name}:{fp}{'*' if name == primary else ''}" for name, fp in keys.items())
        parts.append(f"{repo} {shown or '(none)'}")
    return " | ".join(parts)


def _require_up(cluster: Cluster, nodes: Sequence[int]) -> None:
    down = [i for i in nodes if not cluster.init_pid(i)]
    if down:
        raise ClusterError("node" + ", node".join(map(str, down)) + " is down: nothing was changed "
                           "(boot it first, e.g. with rao-lab up or a drill's repair)")


def setup(cluster: Cluster, first: int = 1) -> List[str]:
    """Create both repositories on node `first` with keystone-manage, then copy them to the
    other nodes. Returns what was done."""
    _require_up(cluster, range(1, cluster.nodes + 1))
    # both at once: each keystone-manage spends seconds importing Keystone
    procs = {command: subprocess.Popen(cluster.nsenter_argv(first, "runuser", "-u", OWNER, "--", "keystone-manage",
                                                            command, "--keystone-user", OWNER, "--keystone-group",
                                                            OWNER),
                                       env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
             for command in SETUP.values()}
    for command, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise ClusterError(f"node{first}: keystone-manage {command} exited {proc.returncode}: {out[-1500:]}")
    done = [f"node{first}: keystone-manage fernet_setup and credential_setup: {describe(fingerprints(cluster, first))}"]
    others = [i for i in range(1, cluster.nodes + 1) if i != first]
    return done + (sync(cluster, first, others) if others else [])


def rotate(cluster: Cluster, i: int) -> List[str]:
    """keystone-manage fernet_rotate on node i only."""
    _require_up(cluster, [i])
    before = fingerprints(cluster, i)["fernet"]
    cluster.node(i, "runuser", "-u", OWNER, "--", "keystone-manage", "fernet_rotate",
                 "--keystone-user", OWNER, "--keystone-group", OWNER, timeout=120)
    after = fingerprints(cluster, i)["fernet"]
    return [f"node{i}: fernet_rotate: {_changes(before, after) or 'no change'}",
            f"node{i}: {describe(fingerprints(cluster, i))}"]


def sync(cluster: Cluster, source: int, targets: Sequence[int]) -> List[str]:
    """Make the targets' repositories identical to source's (owner and modes kept; keys the
    source does not have are removed, as `rsync -a --delete` would)."""
    if source in targets:
        raise ClusterError(f"cannot sync node{source} to itself")
    _require_up(cluster, [source, *targets])
    lines = []
    for t in targets:
        before = fingerprints(cluster, t)
        for repo in REPOSITORIES:
            _copy_repo(repo_dir(cluster, source, repo), repo_dir(cluster, t, repo))
        after = fingerprints(cluster, t)
        changed = [f"{repo}: {c}" for repo in REPOSITORIES if (c := _changes(before[repo], after[repo]))]
        lines.append(f"node{source} -> node{t}: " + ("; ".join(changed) if changed else "already the same"))
    return lines


def _changes(before: Dict[str, str], after: Dict[str, str]) -> str:
    out = [f"+{k}:{v}" for k, v in after.items() if k not in before]
    out += [f"-{k}:{v}" for k, v in before.items() if k not in after]
    out += [f"{k}:{before[k]}->{v}" for k, v in after.items() if k in before and before[k] != v]
    return " ".join(out)


def _copy_repo(src: Path, dst: Path) -> None:
    st = src.stat()
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, st.st_mode & 0o7777)
    names = {p.name for p in src.iterdir() if p.is_file()}
    for name in sorted(names):
        s = src / name
        fst = s.stat()
        tmp = dst / f".{name}.sync"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(s.read_bytes())
        os.chown(tmp, fst.st_uid, fst.st_gid)
        os.chmod(tmp, fst.st_mode & 0o7777)
        os.replace(tmp, dst / name)    # a key is never half-written
    for p in dst.iterdir():
        if p.name not in names:
            p.unlink()
