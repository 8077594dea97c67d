"""The service engine: one implementation of the OCF contract for any described service.

``agent.main(spec)`` parses the action and parameters and runs it within the op's time
budget; ``actions`` are start, stop, monitor, validate-all and reload on a ``context``
(the service, its values, the budget, the voice); ``spec`` is how a service is described
(``ServiceSpec``, the parameters every service shares); ``hostcheck`` checks this host for
it (binary, account, files, port). The engine never names a service; it calls the failure
watcher only through ``watchers.failure.hooks``.
"""
