"""Taking a controller out of a load balancer's rotation: the HAProxy agent-check responder.

``verdict``    what this controller tells HAProxy per backend, from the node attributes the
               watchers publish (a pure function of the CIB).
``responder``  the long-lived process that answers HAProxy's agent-check connections.
``agent``      ocf:openstack:agent-check, the clone that starts, monitors and stops it.

It reads what ``watchers`` publish (the attribute names) and uses ``ocf`` and ``host``; it
never imports the engine or a service.
"""
