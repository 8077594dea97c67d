#!/usr/bin/python3
"""Give the lab its own region: identity and image endpoints at the floating IP.

Runs on this host against the temporary Keystone that region.py starts on loopback
(LAB_KEYSTONE, default http://127.0.0.1:5000), so that the region lands in this host's
database once and every copy the lab's database node receives has it. Idempotent: creates region LAB_REGION if missing, and the
public/internal/admin endpoints of the identity and image services in it, or moves their
URL to LAB_VIP. RegionOne (what the host's tests use) is never touched.
Env: LAB_OS_PASSWORD (admin), LAB_VIP, LAB_REGION (default LabRegion).
"""
import json
import os
import sys

sys.modules.setdefault("osprofiler", None)  # keystoneauth1 imports it for nothing (0.5 s)
from keystoneauth1 import session  # noqa: E402
from keystoneauth1.identity import v3  # noqa: E402
from keystoneclient.v3 import client  # noqa: E402

env = os.environ
region = env.get("LAB_REGION", "LabRegion")
keystone = env.get("LAB_KEYSTONE", "http://127.0.0.1:5000")
vip = env["LAB_VIP"]
auth = v3.Password(auth_url=keystone + "/v3", username="admin", password=env["LAB_OS_PASSWORD"],
                   project_name="admin", user_domain_id="default", project_domain_id="default")
# endpoint_override: the catalog's own URLs (RegionOne's 127.0.0.1) are not for us to follow
ks = client.Client(session=session.Session(auth=auth, timeout=30), endpoint_override=keystone + "/v3")

if region not in {r.id for r in ks.regions.list()}:
    ks.regions.create(id=region, description="resource-agents-openstack two-controller lab")
changes = []
for stype, url in (("identity", f"http://{vip}:5000/v3/"), ("image", f"http://{vip}:9292")):
    services = ks.services.list(type=stype)
    if not services:
        sys.exit(f"no {stype} service in the catalog (run tests/setup/openstack-setup.sh)")
    service = services[0]
    have = {e.interface: e for e in ks.endpoints.list(service=service, region_id=region)
            if getattr(e, "region_id", None) == region}
    for interface in ("public", "internal", "admin"):
        endpoint = have.get(interface)
        if endpoint is None:
            ks.endpoints.create(service=service, url=url, interface=interface, region=region)
            changes.append(f"created {stype} {interface} {url}")
        elif endpoint.url != url:
            ks.endpoints.update(endpoint, url=url)
            changes.append(f"moved {stype} {interface} {endpoint.url} -> {url}")
print(json.dumps({"region": region, "changes": changes}))
