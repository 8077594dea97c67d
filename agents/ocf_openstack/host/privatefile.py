"""Small files only root may read: the pidfile and the cached monitoring token.

They live in a directory others may write to in odd setups ($HA_RSCTMP can
be anything): a writer never follows a planted symlink and replaces the file
atomically; a reader ignores a file that is not ours alone.
"""

import os
import stat
from typing import Optional

MAX_SIZE = 65536


def write(path: str, text: str) -> None:
    """Write ``text`` atomically, mode 0600; never through a symlink at ``path`` or the temp name."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    tmp = f"{path}.{os.urandom(6).hex()}.tmp"  # not the pid: a killed writer's leftover can not block
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def read(path: str) -> Optional[str]:
    """The text of a regular file owned by us, with no group/other access and no other link, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077
                or info.st_nlink != 1):  # a hard link could pass off another root-only file as ours
            return None
        data = os.read(fd, MAX_SIZE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SIZE:
        return None
    return data.decode("utf-8", errors="replace")


def remove(path: str) -> None:
    """Remove ``path`` if it is there; a directory of that name is left alone."""
    try:
        os.unlink(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        pass
