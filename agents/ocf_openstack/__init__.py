"""Pacemaker OCF resource agents for OpenStack services (Keystone, Glance), and the watchers
that publish what a controller knows about itself.

The package is in rooms by kind; imports run one way, from the top of this list down
(``tests/unit/test_layout.py`` holds the house to it):

``services``  one declarative module per service (keystone, glance): what it is, not how
              the OCF work is done.
``rotation``  the HAProxy agent-check responder (ocf:openstack:agent-check): what this
              controller tells HAProxy, from what the watchers publish.
``engine``    the service engine: the OCF actions (start, stop, monitor, validate-all,
              reload) for any described service, the description type, checks of the host.
``watchers``  beside the engine: the failure watcher (one face, ``watchers.failure.hooks``,
              the only part the engine calls) and the watcher agents database-watch and
              keys-watch with what they publish (node attributes, the keys verdict).
``checks``    what a check asks: HTTP health, the authenticated depth-10 checks and their
              token cache, dependency probes, CPU activity, key fingerprints.
``ocf``       the OCF contract every agent shares: exit codes, parameters, meta-data, the
              op's time budget, logging and exit reasons, action dispatch.
``host``      this host: processes, sockets, root-only files, config scans, node
              attributes, per-instance paths, file access.

The executables in ``/usr/lib/ocf/resource.d/openstack/`` import a ``main`` from
``services``, ``watchers`` or ``rotation`` and call it.
"""

__version__ = "0.1.0"
