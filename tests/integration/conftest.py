"""Fixtures of the integration tests (helpers live in agent_harness)."""

import os
from typing import Iterator

import pytest
from agent_harness import PARAMS, Agent


def _require_services() -> None:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    if not os.path.exists("/var/lib/resource-agents-openstack-tests/setup-done"):
        pytest.fail("run tests/setup/openstack-setup.sh first (the test command in the README does)")


@pytest.fixture(scope="session")
def services_ready() -> None:
    _require_services()


def _agent_fixture(name: str, instance: str) -> Iterator[Agent]:
    agent = Agent(name, instance, PARAMS[name])
    agent.run("stop")
    yield agent
    agent.run("stop")


@pytest.fixture(scope="module")
def keystone(services_ready) -> Iterator[Agent]:
    """A stopped keystone resource; stopped again when the module ends."""
    yield from _agent_fixture("keystone", "it-keystone")


@pytest.fixture(scope="module")
def glance(services_ready) -> Iterator[Agent]:
    yield from _agent_fixture("glance-api", "it-glance")


@pytest.fixture
def running_keystone(keystone) -> Agent:
    assert keystone.run("start").rc == 0
    return keystone


@pytest.fixture
def running_glance(glance, keystone) -> Agent:
    """glance-api with keystone running (its depth-10 check needs a token)."""
    assert keystone.run("start").rc == 0
    assert glance.run("start").rc == 0
    return glance


@pytest.fixture(params=["running_keystone", "running_glance"], ids=["keystone", "glance-api"])
def running(request) -> Agent:
    """Each service in turn, started (glance-api with keystone)."""
    return request.getfixturevalue(request.param)
