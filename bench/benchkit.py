"""What the lab benchmarks share: the lab's package on sys.path (importing this module puts
it there), progress lines on stderr, and how a benchmark starts: as root, with Ctrl-C and
SIGTERM (even in the background, where SIGINT is ignored) unwinding, so that every lab is
torn down by its finally clause."""

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "lab") not in sys.path:
    sys.path.insert(0, str(ROOT / "lab"))
sys.dont_write_bytecode = True


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def start(name: str) -> None:
    """Refuse to run but as root; make SIGINT and SIGTERM raise KeyboardInterrupt."""
    if os.geteuid() != 0:
        raise SystemExit(f"{name}: run as root")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
