"""tests/setup/mariadb-setup.sh when MariaDB cannot come up: a port someone else holds, a
data directory MariaDB cannot use. The script must stop with the reason and the last
lines of MariaDB's log, and leave no server behind. (Its success is what every other test
here runs on.) A server of its own: its own data, run and log directories and port."""

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "setup" / "mariadb-setup.sh"


@pytest.fixture
def server_dirs():
    # not under pytest's 0700 tmp_path: mariadbd runs as mysql and must reach its files
    base = Path(tempfile.mkdtemp(prefix="rao-mariadb-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        subprocess.run(["pkill", "-f", str(base)], check=False)
        subprocess.run(["rm", "-rf", str(base)], check=True)


def _setup(base: Path, port: int) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MARIADB_DATADIR": str(base / "data"),
           "MARIADB_RUNDIR": str(base / "run"), "MARIADB_LOG": str(base / "log" / "error.log"),
           "MARIADB_PORT": str(port)}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _left_running(base: Path) -> str:
    return subprocess.run(["pgrep", "-af", str(base)], capture_output=True, text=True).stdout


def test_port_taken(server_dirs):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        proc = _setup(server_dirs, holder.getsockname()[1])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ERROR: MariaDB exited during start-up" in proc.stderr
    assert f"last lines of {server_dirs}/log/error.log" in proc.stderr
    assert "Address already in use" in proc.stderr, proc.stderr
    assert _left_running(server_dirs) == ""


def test_unusable_data_directory(server_dirs):
    data = server_dirs / "data" / "mysql"
    data.mkdir(parents=True)
    os.chmod(server_dirs / "data", 0o700)   # root's: the mysql user cannot enter it
    proc = _setup(server_dirs, _free_port())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ERROR: MariaDB exited during start-up" in proc.stderr
    assert "last lines of" in proc.stderr and "[ERROR]" in proc.stderr, proc.stderr
    assert _left_running(server_dirs) == ""
