"""The OCF contract every agent of this package shares, whatever it drives: exit codes
(``exitcodes``), declared parameters and their parsing (``params``, base URLs in ``urls``),
the meta-data XML (``metadata``), the op's time budget (``budget``), logging and exit reasons
through resource-agents' ocf.py (``log``), and the dispatch of one action (``entry``).

It sits low so that the service engine and the watcher agents both build on it without
knowing each other; it imports no other room (resource-agents' ocf.py is loaded by ``log``,
when an action runs, not at import).
"""
