"""Checks of this host: the binary, the service account, readable files, who holds the port.

5 for what is not installed, 2 for what is wrong here (the OCF contract).
"""

import os
from typing import Sequence

from ..host import process, sockets
from ..host.access import readable_by
from ..ocf.exitcodes import OCFError, OCFExit
from .context import Context

OUTSIDE_HINT = ("; a service started outside the cluster? Pacemaker must own it: "
                "systemctl disable --now <its unit>")


def check_host(ctx: Context) -> None:
    """The local environment: binary, account, files (5 not installed, 2 wrong here)."""
    values = ctx.values
    binary = values["binary"]
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise OCFError(OCFExit.ERR_INSTALLED, f"parameter binary: {binary!r} is not an executable file")
    try:
        uid, gid, _home = process.user_ids(values["user"], values["group"])
    except KeyError:
        raise OCFError(OCFExit.ERR_INSTALLED,
                       f"service account {values['user']}:{values['group']} does not exist "
                       "(parameters user and group; is the service's package installed?)") from None
    for name in ctx.spec.files:
        path = values[name]
        if not path:
            continue  # an optional file left unset
        if not os.path.isfile(path):
            raise OCFError(OCFExit.ERR_INSTALLED, f"parameter {name}: {path!r} is not a file")
        if not readable_by(path, values["user"], uid, gid):
            raise OCFError(OCFExit.ERR_ARGS, f"parameter {name}: {path!r} is not readable by user {values['user']}")
    if values["ca_file"] and not os.path.isfile(values["ca_file"]):
        raise OCFError(OCFExit.ERR_ARGS, f"parameter ca_file: {values['ca_file']!r} is not a file")
    for name in ("log_file", "pid"):
        path = values[name]
        if os.path.isdir(path):
            raise OCFError(OCFExit.ERR_ARGS, f"parameter {name}: {path!r} is a directory, not a file")
    log_dir = os.path.dirname(values["log_file"]) or "/"
    if not os.path.isdir(log_dir):
        raise OCFError(OCFExit.ERR_ARGS, f"parameter log_file: directory {log_dir!r} does not exist")
    for host_check in ctx.spec.host_checks:
        host_check(values)


def foreign_listener(ctx: Context, ours: Sequence[int]) -> str:
    """Empty, or who other than ``ours`` listens on the service's port."""
    port = ctx.endpoint.port
    inodes = sockets.listening_inodes(port)
    if not inodes or sockets.owners(inodes, ours):
        return ""
    others = [info for info in map(process.proc_info, sockets.owners(inodes, sockets.all_pids())) if info]
    who = (f"pid {others[0].pid} ({' '.join(others[0].argv[:3])})" if others
           else "a process outside this PID namespace")
    return f"port {port} is already in use by {who}, not by this resource"
