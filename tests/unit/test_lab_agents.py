"""What the lab knows of the agents' package matches the package: the failure watcher's
module the drills look for on a node's command lines, and the uwsgi binary the anything
baseline runs (both broke silently once when the package moved into rooms)."""

from pathlib import Path

from ocf_openstack.watchers.failure import hooks
from raolab import snippet
from raolab.drills import watch as watchdrills

CRM = Path(__file__).resolve().parents[2] / "crm"


def test_the_drills_look_for_the_module_the_agents_start_the_watcher_as():
    assert watchdrills.WATCHER == hooks.LOOP_MODULE


def test_the_anything_baseline_gets_the_agents_own_uwsgi_choice():
    text = snippet.as_anything((CRM / "openstack-ha.crm").read_text())
    assert "ocf:heartbeat:anything" in text and "binfile=/usr/bin/uwsgi" in text
