"""The controller lab: a real Pacemaker + Corosync cluster of two or three controllers and a
database node in namespaces on one machine, Keystone and Glance under
resource-agents-openstack, and failover drills that measure it.

Rooms, by kind:
    cli        the rao-lab command
    lab        LabOptions and Lab: up (preflight, nodes, database, keys, region, crm, settled),
               status, down; what every drill holds
    topology/  group, clone, haproxy: what each loads and what "settled" means for it
    snippet    the crm the lab loads (the operator's edits, the lab's options)
    configs    the lab's copies of the host's service configuration, and the paths
    region     LabRegion, registered once in the host's keystone database
    cluster    the Python side of pcmk-cluster.sh (the project's one cluster harness)
    cib        readers of crm_mon's XML and the CIB's status (pure)
    nodeproc   a node seen from the host: its processes, its log lines' times
    database   the database node: the copy of the test databases, queries
    keys       Keystone's keys per node: setup, rotate, sync, fingerprints
    drills/    the drills, one module per kind of fault, and their registry
    client     the HTTP client run inside the client namespace (stdlib only, a script)
    register   registers LabRegion (a script, run by region)
"""
