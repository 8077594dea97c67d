#!/usr/bin/python3
"""Create the service project, the glance user (admin on it) and the image endpoints. Idempotent."""
import os

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

env = os.environ
auth = v3.Password(auth_url=env["KEYSTONE_URL"] + "/v3", username="admin",
                   password=env["OS_ADMIN_PASSWORD"], project_name="admin",
                   user_domain_id="default", project_domain_id="default")
ks = client.Client(session=session.Session(auth=auth), interface="public",
                   region_name=env["OS_REGION"])


def first(items):
    return items[0] if items else None


project = (first(ks.projects.list(name="service", domain="default"))
           or ks.projects.create(name="service", domain="default"))
user = first(ks.users.list(name="glance", domain="default"))
if user is None:
    user = ks.users.create(name="glance", domain="default", password=env["GLANCE_SERVICE_PASSWORD"],
                           default_project=project)
ks.roles.grant(first(ks.roles.list(name="admin")), user=user, project=project)
service = first(ks.services.list(type="image")) or ks.services.create(name="glance", type="image")
have = {e.interface for e in ks.endpoints.list(service=service)}
for interface in ("public", "internal", "admin"):
    if interface not in have:
        ks.endpoints.create(service=service, url=env["GLANCE_URL"], interface=interface,
                            region=env["OS_REGION"])
print("register-glance: glance user and image endpoints ready")
