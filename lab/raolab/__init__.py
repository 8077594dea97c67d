"""The two-controller lab: a real Pacemaker + Corosync cluster in namespaces on one machine,
Keystone and Glance under resource-agents-openstack, and failover drills that measure it.

Modules:
    cluster  the Python side of pcmk-cluster.sh (the one cluster harness of the project)
    lab      the lab itself: configuration, crm, up/status/down
    client   HTTP client that runs inside the client namespace (stdlib only)
    drills   the failover drills
    cli      the rao-lab command
"""
