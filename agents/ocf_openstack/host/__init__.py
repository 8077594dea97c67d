"""This host, as the agents see it: the daemon's processes (``process``), who listens on a
port (``sockets``), root-only files (``privatefile``), per-instance paths in $HA_RSCTMP
(``paths``), whether a user may read a file (``access``), option values of a config file
(``confscan``), and node attributes through Pacemaker's tools (``attrd``).

The bottom of the house: nothing here imports another room, so every room may use it.
"""
