"""Registers the fixtures of unit_support (helpers live there: ``from conftest import`` would be ambiguous)."""

from unit_support import *  # noqa: F401,F403  (fixtures must be visible in conftest)
