"""The lab's "operations in flight" check on the CIB's status section (Cluster.cleanup waits
for them: a cleanup that kills a transition's first monitor stalls Pacemaker 2.1.5).

The status below is what cibadmin printed (trimmed) on a one-node cluster with the clone
snippet: Glance's first depth-10 monitor met a Keystone still starting and returned
degraded (190). Pacemaker 2.1.5 stored that result as glance-api_last_failure_0 and left
the record-pending entry glance-api_monitor_60000 (op-status -1, call-id -1) as it was,
for the whole minute until the monitor's next run: the lab's cleanup then waited 45 s for
an operation that had long finished.
"""

import xml.etree.ElementTree as ET

from raolab.cib import in_flight

KEY = "15:2:0:abf04aca-92d1-4732-a48c-813d18cbe262"
STATUS = """<status><node_state uname="node1"><lrm id="1"><lrm_resources>
  <lrm_resource id="glance-api" type="glance-api" class="ocf" provider="openstack">
    <lrm_rsc_op id="glance-api_last_0" operation_key="glance-api_start_0" operation="start"
      transition-key="13:2:0:abf04aca-92d1-4732-a48c-813d18cbe262" call-id="24" rc-code="0" op-status="0" interval="0"/>
    <lrm_rsc_op id="glance-api_monitor_60000" operation_key="glance-api_monitor_60000" operation="monitor"
      transition-key="{key}" call-id="-1" rc-code="193" op-status="-1" interval="60000"/>
    {result}
  </lrm_resource>
  <lrm_resource id="keystone" type="keystone" class="ocf" provider="openstack">
    <lrm_rsc_op id="keystone_monitor_10000" operation_key="keystone_monitor_10000" operation="monitor"
      transition-key="16:3:0:abf04aca-92d1-4732-a48c-813d18cbe262" call-id="{ks_call}" rc-code="{ks_rc}"
      op-status="{ks_status}" interval="10000"/>
  </lrm_resource>
</lrm_resources></lrm></node_state></status>"""
DEGRADED = (f'<lrm_rsc_op id="glance-api_last_failure_0" operation_key="glance-api_monitor_60000" '
            f'operation="monitor" transition-key="{KEY}" call-id="25" rc-code="190" op-status="0" interval="60000"/>')


def status(result: str = "", key: str = KEY, keystone_pending: bool = False) -> ET.Element:
    ks = ("-1", "193", "-1") if keystone_pending else ("27", "0", "0")
    return ET.fromstring(STATUS.format(key=key, result=result, ks_call=ks[0], ks_rc=ks[1], ks_status=ks[2]))


def test_a_monitor_still_running_is_in_flight():
    assert in_flight(status()) == ["node1: glance-api_monitor_60000"]


def test_a_pending_record_whose_result_is_stored_beside_it_is_not():
    assert in_flight(status(DEGRADED)) == []


def test_a_result_of_another_transition_does_not_count():
    assert in_flight(status(DEGRADED, key="15:9:0:abf04aca-92d1-4732-a48c-813d18cbe262")) == \
        ["node1: glance-api_monitor_60000"]


def test_every_node_and_resource_is_read():
    assert in_flight(status(DEGRADED, keystone_pending=True)) == ["node1: keystone_monitor_10000"]
