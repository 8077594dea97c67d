"""One declarative module per service: ``keystone`` (Keystone under uwsgi) and ``glance``
(Glance's API server), each a ``ServiceSpec`` (parameters with Debian's defaults, command
line, environment, dependencies, the depth-10 check) and a ``main`` for its executable. A
service module says what the service is; the engine does the OCF work.
"""
