"""Pacemaker OCF resource agents for OpenStack services (Keystone, Glance).

The package is split by job: ``exitcodes`` (the OCF return codes),
``params`` (declared parameters and their parsing), ``metadata`` (the
meta-data XML), ``budget`` (the op's time budget), ``process`` (spawning,
identifying and stopping the daemon), ``privatefile`` (root-only files),
``health`` (HTTP checks), ``sockets`` (who listens on a port),
``openstack_auth`` (the authenticated depth-10 checks), ``token_cache`` (the
token they keep between monitors), ``dependencies`` (probes of a service's
database and Keystone, asked before a failure is blamed on the service), ``log`` (ocf.py's logger and exit
reasons), ``service`` (how a service is described, the shared parameters),
``context`` (what an action works with), ``hostcheck`` (checks of this
host), ``actions`` (the OCF actions), ``entry`` (the OCF contract every agent
shares), ``agent`` (the services' entry point), one declarative module per
service (``keystone``, ``glance``), and the watchers ``database_watch`` and
``keys_watch`` (what they share: ``watcher``) with ``attrd`` (node attributes),
``keyprints`` (fingerprints of Keystone's key repositories and their comparison),
``keyverdict`` (the keys verdict Keystone's monitor reads) and ``confscan`` (option
values of a config file by a line scan).
"""

__version__ = "0.1.0"
