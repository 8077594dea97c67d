"""This host's own IP addresses, and which of them a name stands for.

A clone has one set of parameters for every controller, so a service that must listen on
"this controller's address" finds it by the node's name. Debian's installer writes
``127.0.1.1 <hostname>`` into /etc/hosts: loopback never counts. Binding is no proof an
address is ours: with ``net.ipv4.ip_nonlocal_bind=1`` (the HAProxy topology sets it) any
address binds, so the kernel's own tables say what is local.
"""

import ipaddress
import socket
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


def resolve(name: str) -> List[str]:
    """The addresses ``name`` resolves to, in the resolver's order ([] when it does not)."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    out: List[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in out:
            out.append(address)
    return out


def own_address(name: str) -> Optional[str]:
    """The first address ``name`` resolves to that is this host's and not loopback."""
    mine = local_addresses()
    for address in resolve(name):
        if not ipaddress.ip_address(address).is_loopback and address in mine:
            return address
    return None
