"""What a check asks, and how it reads the answer: unauthenticated HTTP health with a hard
deadline (``health``), the authenticated depth-10 checks (``openstack_auth``, imported only on
that path) and the token they keep (``token_cache``), probes of a service's dependencies
before a failure is blamed on it (``dependencies``; ``galera``: does a database server that
greets take application queries?), busy-or-hung by CPU use (``activity``),
and fingerprints of Keystone's key repositories (``keyprints``).

Checks return typed results (``HealthResult``, ``Verdict``, key findings) and leave the OCF
code to the engine and the watchers, with one exception: ``keyprints.check_repositories``,
the host check of Keystone's key repositories before start, raises the OCF error itself.
"""
