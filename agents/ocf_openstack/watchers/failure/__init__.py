"""The failure watcher: Pacemaker hears of a dead service at once, of a hung one in seconds.

While a service runs under Pacemaker, the agent's ``start`` (and a recurring ``monitor``
that finds it missing) leaves one detached process per resource instance that

- waits on the service's main process through a pidfd (``os.pidfd_open``: it refers to
  that process, not to a number the kernel may hand out again) and, the moment the process
  exits, tells Pacemaker with ``crm_resource --fail --resource <instance> --node <node>``
  (as resource-agents' ``sfex_daemon`` does): Pacemaker records a failed ``asyncmon`` and
  recovers as for a failed monitor;
- between two waits, asks ``<url><health_path>`` in-process every ``watch_interval``
  seconds (each check may take that long) and after ``watch_misses`` consecutive misses
  asks the service's dependencies (the monitor's own check, ``dependencies``): a service
  that stalls because its database does not answer is not hung, and the watcher stands
  down; then whether the service's processes used CPU while the checks went unanswered
  (``activity``): a service slow under load is busy, not hung, and the watcher stands
  down too (the recurring monitor, with its longer http_timeout, stays the judge of it);
  only an idle service whose dependencies answer is reported hung.

Before it reports anything it re-checks that it should (``loop.Watcher.verify``): the agent did
not stop the service (``stop`` writes a stop marker first, then ends the watcher, then
stops the service), the pidfile still names the watched process, and one bounded
``crm_mon --output-as=xml`` says the instance is active on this node, managed, not failed
already, and neither the cluster (maintenance-mode) nor the node (maintenance, standby)
is in a state where Pacemaker would not act. Anything it cannot verify means no report:
the recurring monitor stays the source of truth, and restarts a watcher that is missing.
It reports once, then exits.

The pure part (``machine``: ``Machine``, ``judge_cluster``) does no I/O and is what the unit
tests drive; ``loop.Watcher`` is the loop with the pidfd, the clock and the commands;
``hooks`` holds what the agent's actions call (it imports nothing heavy: the monitor runs it
every 10 s).

Its state lives in ``$HA_RSCTMP/openstack-<instance>.watch`` (root-only ``key=value``
lines: the settings, no password, and the watcher's own pid and start time so that an
action identifies it without PID-reuse confusion) and ``.watch-stop`` (the stop marker).
It runs as root: ``crm_resource --fail`` needs Pacemaker's IPC as root (or haclient) and
the dependency check reads the service's configuration file; its environment is a clean
PATH and the logging variables Pacemaker gave the agent, never an ``OCF_RESKEY_``.

The package is cut by job: ``hooks`` is the one face the service engine calls (its
parameters and one function per action: ``launch``/``ensure``/``end``/``restart``);
``state`` the state file and stop marker, the contract between the agent's side and the
watcher process; ``machine`` the pure state machine and its reading of crm_mon (no I/O);
``loop`` the detached process itself (``python3 -m ocf_openstack.watchers.failure.loop``);
``cluster`` its calls to Pacemaker (crm_mon, crm_resource --fail); ``mark`` the node
attribute a report sets first.
"""
