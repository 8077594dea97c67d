"""Whether a user may read a file: mode bits along the whole path, as the kernel checks them
(no ACLs). Start and validate-all ask it for the service's files and Keystone's keys."""

import os
from typing import List


def _allowed(path: str, uid: int, groups: List[int], bits: int) -> bool:
    """Whether the owner/group/other class ``uid`` falls in has ``bits`` (r=4, x=1) on ``path``."""
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & (bits << 6))
    if st.st_gid in groups:
        return bool(st.st_mode & (bits << 3))
    return bool(st.st_mode & bits)


def readable_by(path: str, user: str, uid: int, gid: int) -> bool:
    """Whether ``user`` may read ``path``, parent directories included: mode bits, no ACLs."""
    if uid == 0:
        return True
    groups = os.getgrouplist(user, gid)
    parents = []
    directory = os.path.dirname(os.path.abspath(path))
    while directory not in parents:
        parents.append(directory)
        directory = os.path.dirname(directory)
    return (all(_allowed(d, uid, groups, 1) for d in parents)
            and _allowed(path, uid, groups, 4))
