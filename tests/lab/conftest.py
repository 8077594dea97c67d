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
def lab_root():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (namespaces, Pacemaker, the services)")
    yield
    from labtest import close_kept   # a lab a module kept for another that did not run
    close_kept()
