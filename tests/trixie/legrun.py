"""One run of the Debian 13 leg (run-leg.sh), in the foreground or in the background.

The leg takes about 7 minutes of mostly CPU-bound work (a .deb build, lintian, Keystone's
bootstrap, the integration tests) while the lab drills spend most of their 15 minutes
waiting on timeouts and failovers. So when a session runs both, the lab's fixture starts the
leg in the background at the lowest CPU and I/O priority (``start_in_background``) and the
trixie tests collect its result (``result``); a session without lab tests runs the leg in
the foreground as before. Either way it runs once per session. RAO_TRIXIE_BACKGROUND=0
keeps it in the foreground (after the lab); a leg still running when pytest exits (the
trixie tests deselected or never reached) is ended there, its teardown included.
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
RUN_LEG = HERE / "run-leg.sh"
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# nice 19 and the lowest best-effort I/O class: the lab's drills keep the machine they time
BACKGROUND = ("nice", "-n", "19", "ionice", "-c", "2", "-n", "7")


@dataclass
class Leg:
    rc: int
    out: Path
    log: str
    seconds: float
    steps: Dict[str, str] = field(default_factory=dict)

    def file(self, name: str) -> str:
        path = self.out / name
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.splitlines()[-lines:])

    def step_ok(self, name: str) -> None:
        rc = self.steps.get(name)
        assert rc == "0", (f"step {name}: rc {rc or 'never ran'}\n--- {name}.log (end)\n"
                           + "\n".join(self.file(f"{name}.log").splitlines()[-60:])
                           + f"\n--- run-leg output (end)\n{self.tail(30)}")


class LegRun:
    """run-leg.sh OUT as a child, its output kept (and echoed with ``echo``) until ``wait``."""

    def __init__(self, out: Path, log_path: Path, timeout: float, background: bool = False,
                 echo: bool = True) -> None:
        self.out, self.log_path, self.timeout = out, log_path, timeout
        self.background, self.echo = background, echo
        self.lines: List[str] = []
        self.started = 0.0
        self.proc: Optional[subprocess.Popen] = None
        self.reader: Optional[threading.Thread] = None
        self.timer: Optional[threading.Timer] = None

    def start(self) -> "LegRun":
        env = {k: v for k, v in os.environ.items() if k.startswith("RAO_TRIXIE_")}
        env.update(PATH=CLEAN_PATH, LANG="C.UTF-8", HOME=os.environ.get("HOME", "/root"))
        argv = (list(BACKGROUND) if self.background else []) + ["/bin/bash", str(RUN_LEG), str(self.out)]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.timer = threading.Timer(self.timeout, self._watchdog)
        self.timer.daemon = True
        self.timer.start()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _watchdog(self) -> None:
        # run-leg.sh's trap tears everything down on TERM; KILL only if that hangs
        self.proc.send_signal(signal.SIGTERM)
        time.sleep(60)
        if self.proc.poll() is None:
            self.proc.kill()

    def _read(self) -> None:
        with open(self.log_path, "w") as log:
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                log.write(line)
                log.flush()
                if self.echo:
                    sys.stdout.write(line)     # visible with -s
                    sys.stdout.flush()

    def stop(self, grace: float = 90.0) -> None:
        """End a leg no one waited for: SIGTERM (run-leg.sh's trap tears its namespaces and
        overlay down), SIGKILL if that hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def wait(self) -> Leg:
        self.reader.join()
        rc = self.proc.wait()
        self.timer.cancel()
        if time.monotonic() - self.started >= self.timeout:
            self.lines.append(f"test_trixie_leg: the leg hit its {self.timeout:.0f}s limit (RAO_TRIXIE_TIMEOUT)")
        leg = Leg(rc, self.out, "\n".join(self.lines), time.monotonic() - self.started)
        for line in leg.file("steps.tsv").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                leg.steps[parts[0]] = parts[1]
        return leg


_background: List[LegRun] = []


def timeout() -> float:
    return float(os.environ.get("RAO_TRIXIE_TIMEOUT", "2400"))


def start_in_background() -> Optional[LegRun]:
    """The leg, started now at the lowest priority (once per session); None when the leg
    is switched off or cannot run here."""
    if _background:
        return _background[0]
    if (os.environ.get("RAO_TRIXIE") == "0" or os.environ.get("RAO_TRIXIE_BACKGROUND") == "0"
            or os.geteuid() != 0):
        return None
    base = Path(tempfile.mkdtemp(prefix="rao-trixie-leg-"))
    (base / "out").mkdir()
    print(f"\n[trixie leg] started in the background (nice 19; log {base / 'run-leg.log'})", flush=True)
    run = LegRun(base / "out", base / "run-leg.log", timeout(), background=True, echo=False).start()
    _background.append(run)
    atexit.register(run.stop)
    return run


def result(base: Path) -> Leg:
    """The leg's result: the background run's if one was started, else a run now."""
    if _background:
        print("\n[trixie leg] waiting for the run started in the background", flush=True)
        leg = _background[0].wait()
        # its results and log beside the foreground run's (pytest's tmp dir), the temp dir gone
        started = leg.out.parent
        shutil.copytree(started, base, dirs_exist_ok=True)
        shutil.rmtree(started, ignore_errors=True)
        leg.out = base / "out"
        return leg
    out = base / "out"
    out.mkdir(exist_ok=True)
    return LegRun(out, base / "run-leg.log", timeout()).start().wait()
