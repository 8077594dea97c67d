"""The lab's "depth-10 monitors passed" check on crm_mon's node history.

The node history below is what crm_mon --output-as=xml printed (trimmed) for a three-node
clone lab whose bring-up never settled: Glance's first depth-10 monitor met a Keystone still
warming up (degraded, 190) and passed a minute later, and crm_mon lists both results of that
one recurring operation (same call id): the failure record and the current one.
"""

import xml.etree.ElementTree as ET

import pytest

from raolab.cluster import ClusterError
from raolab.lab import Lab, latest_operation

HISTORY = """<pacemaker-result><nodes>
  <node name="node1" online="true" standby="false"/>
</nodes><node_history><node name="node1">
  <resource_history id="glance-api">
    <operation_history call="22" task="start" rc="0" last-rc-change="Wed Dec  2 04:19:57 2026"/>
    <operation_history call="23" task="monitor" rc="{first}" interval="60000ms" last-rc-change="Wed Dec  2 04:20:28 2026"/>
    <operation_history call="23" task="monitor" rc="{second}" interval="60000ms" last-rc-change="Wed Dec  2 04:21:33 2026"/>
    <operation_history call="26" task="monitor" rc="0" interval="10000ms" last-rc-change="Wed Dec  2 04:20:30 2026"/>
  </resource_history>
</node></node_history></pacemaker-result>"""


def pending(first: str, second: str, failed_is_pending: bool = False):
    mon = ET.fromstring(HISTORY.format(first=first, second=second))
    return Lab.depth10_pending(None, mon, failed_is_pending)   # reads only the XML


def test_a_degraded_result_followed_by_a_pass_is_settled():
    assert pending("190", "0") is None


def test_a_pass_followed_by_a_degraded_result_is_pending():
    assert pending("0", "190") == "depth-10 monitors pending: ['glance-api@node1']"


def test_a_failed_depth10_monitor_is_an_error():
    with pytest.raises(ClusterError, match="depth-10 monitor failed on node1"):
        pending("190", "1")


def test_at_bring_up_a_failed_one_is_waited_for_until_it_passes():
    # a Glance that started before any Keystone answered: failed, restarted by Pacemaker
    assert pending("0", "1", failed_is_pending=True) == "depth-10 monitors pending: ['glance-api@node1']"
    assert pending("1", "0", failed_is_pending=True) is None


def test_the_newest_entry_wins_a_tie_by_position():
    same = "Wed Dec  2 04:20:27 2026"
    first, second = {"rc": "190", "last-rc-change": same}, {"rc": "0", "last-rc-change": same}
    assert latest_operation([first, second]) is second
    assert latest_operation([second, first]) is first
    assert latest_operation([]) is None
