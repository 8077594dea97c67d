"""Pacemaker OCF resource agents for OpenStack services (Keystone, Glance).

The package is split by job: ``exitcodes`` (the OCF return codes),
``params`` (declared parameters and their parsing), ``metadata`` (the
meta-data XML), ``budget`` (the op's time budget), ``process`` (spawning,
identifying and stopping the daemon), ``health`` (HTTP checks),
``openstack_auth`` (the authenticated depth-10 checks), ``log`` (ocf.py's
logger and exit reasons), ``agent`` (the action engine) and one declarative
module per service (``keystone``, ``glance``).
"""

__version__ = "0.1.0"
