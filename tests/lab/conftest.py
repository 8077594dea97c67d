"""Fixtures of the lab tests; the lab itself is made by labtest.make_lab (see labtest.py)."""

import os
import sys
from pathlib import Path

import pytest

sys.dont_write_bytecode = True
LAB = Path(__file__).resolve().parents[2] / "lab"
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))


@pytest.fixture(scope="session")
def lab_root(request):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (namespaces, Pacemaker, the services)")
    _trixie_leg_beside(request.session)
    yield
    from labtest import close_kept   # a lab a module kept for another that did not run
    close_kept()


def _trixie_leg_beside(session) -> None:
    """The Debian 13 leg's CPU-bound work fits into the drills' waits: when this session
    runs the trixie tests too, their leg starts now, in the background at the lowest
    priority (tests/trixie/legrun.py), and they collect its result at the end."""
    if not any("tests/trixie/" in item.nodeid for item in session.items):
        return
    try:
        import legrun   # tests/trixie, on sys.path once its test module was collected
    except ImportError:
        return
    legrun.start_in_background()
