"""This host's own IP addresses, and which of them a name stands for.

A clone has one set of parameters for every controller, so a service that must listen on
"this controller's address" finds it by the node's name. Debian's installer writes
``127.0.1.1 <hostname>`` into /etc/hosts: loopback never counts. Binding is no proof an
address is ours: with ``net.ipv4.ip_nonlocal_bind=1`` (the HAProxy topology sets it) any
address binds, so the kernel's own tables say what is local.
"""

import ipaddress
import socket
import threading
from typing import List, Optional, Set

FIB_TRIE = "/proc/net/fib_trie"
IF_INET6 = "/proc/net/if_inet6"


def local_addresses() -> Set[str]:
    """Every address of this network namespace (IPv4 from the local routing table, IPv6 from
    if_inet6), loopback included."""
    found: Set[str] = set()
    try:
        with open(FIB_TRIE, encoding="ascii") as f:
            last = ""
            for line in f:
                words = line.split()
                if line.lstrip().startswith("|--") and len(words) == 2:
                    last = words[1]
                elif last and words[:3] == ["/32", "host", "LOCAL"]:
                    found.add(last)
    except OSError:
        pass
    try:
        with open(IF_INET6, encoding="ascii") as f:
            for line in f:
                raw = line.split()[0]
                found.add(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except (OSError, ValueError, IndexError):
        pass
    return found


def resolve(name: str, timeout: float) -> Optional[List[str]]:
    """The addresses ``name`` resolves to, in the resolver's order ([] when it does not, None
    when the resolver did not answer within ``timeout``: glibc may wait on a DNS server for
    timeout x attempts x servers, longer than an op may last)."""
    found: List[List[str]] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, OSError):
            infos = []
        out: List[str] = []
        for info in infos:
            address = str(info[4][0]).split("%", 1)[0]
            if address not in out:
                out.append(address)
        found.append(out)
    worker = threading.Thread(target=lookup, daemon=True)   # a hung lookup dies with the process
    worker.start()
    worker.join(timeout)
    return found[0] if found else None


def own_address(name: str, timeout: float) -> Optional[str]:
    """The first address ``name`` resolves to that is this host's and not loopback ("" when
    there is none, None when the resolver did not answer in time)."""
    resolved = resolve(name, timeout)
    if resolved is None:
        return None
    mine = local_addresses()
    return next((a for a in resolved if not ipaddress.ip_address(a).is_loopback and a in mine), "")
