"""Which IP addresses are public, and which host names are addresses in disguise.

A fetch on an admin's behalf may only reach the public internet. `is_public` is the address policy: globally routable
unicast only, judged by `ipaddress` plus explicit checks, because `is_global` alone passes multicast, reserved and
6to4 addresses (and its tables differ between Python releases). `host_literal` reads a host the way the
C resolver would: `127.1`, `2130706433`, `0x7f000001` and `0177.0.0.1` are all 127.0.0.1 to getaddrinfo.
"""

from __future__ import annotations

import ipaddress
import re

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# IANA special-purpose blocks that are not global, refused even where a Python release's `is_global` passes them
# (3.11 passes part of 192.0.0.0/24, the site-local and documentation IPv6 blocks).
SPECIAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("192.0.0.0/24", "64:ff9b:1::/48", "100::/64", "2001::/23", "3fff::/20", "5f00::/16", "fec0::/10")
)
_NUMBER = re.compile(r"\A(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")


def is_public(address: Address) -> bool:
    """Whether `address` is a globally routable unicast address, and every IPv4 address embedded in it (mapped,
    compatible, 6to4, Teredo, NAT64) is one too."""
    if (
        not address.is_global
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or any(address in network for network in SPECIAL_NETWORKS)
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return all(is_public(inner) for inner in embedded_ipv4(address))
    return True


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a packet to `address` may end up at through a translation or tunnel mechanism."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if int(address) >> 32 == 0 or address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [inner for inner in found if inner is not None]


def host_literal(host: str) -> Address | None:
    """The address `host` denotes by itself, None when it is a name to resolve.

    IPv6 is given without brackets. A host whose last label is a number (decimal, 0x-hex or 0-octal) is IPv4 in
    inet_aton's forms (`a`, `a.b`, `a.b.c`, `a.b.c.d`, each part in any base), as resolvers and browsers read it; a
    trailing dot is ignored. Raises ValueError for such a host that is no valid address (`1.2.3.999`, `0x1.`)."""
    if ":" in host:
        return ipaddress.IPv6Address(host)
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not _NUMBER.match(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUMBER.match(label) for label in labels):
        raise ValueError("not an IPv4 address")
    parts = [_number(label) for label in labels]
    *leading, last = parts
    if any(part > 0xFF for part in leading) or last >= 1 << (8 * (5 - len(parts))):
        raise ValueError("not an IPv4 address")
    value = last
    for index, part in enumerate(leading):
        value |= part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _number(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label)
