"""The client's address, as sign-in and sign-up limits, sessions and audit rows see it.

By default it is the TCP peer. Behind a reverse proxy (a Kubernetes ingress controller, a
load balancer) the peer is the proxy, and every client would share its address: the
per-address sign-in limit would then count all of them together. `TRUSTED_PROXIES` names
the proxies whose `X-Forwarded-For` the gateway believes. Each proxy appends the address
it received the request from, so the list is read from the right: the nearest entry that
is not itself a trusted proxy is the client. Entries left of it were written by the client
(or whoever it pretends to be) and are never believed; a malformed entry stops the walk at
the last trusted hop. A peer that is not a trusted proxy is the client, whatever headers
it sends.
"""

from __future__ import annotations

import ipaddress

from shared import config

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_proxies(value: str) -> tuple[Network, ...]:
    """The networks of `TRUSTED_PROXIES` (addresses or CIDR, comma-separated). A wrong
    entry stops the gateway from starting rather than trusting the wrong hosts."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(
                f"{config.TRUSTED_PROXIES.name}: {entry!r} is not an address or network ({exc})"
            ) from None
    return tuple(networks)


def client_address(
    peer: str | None, forwarded_for: str, trusted: tuple[Network, ...]
) -> str | None:
    """The client of a request from `peer` whose `X-Forwarded-For` is `forwarded_for`
    (several such headers arrive joined by commas, in order)."""
    if not trusted or not _is_trusted(_parsed(peer), trusted):
        return peer
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        address = _parsed(hop.strip())
        if address is None:
            break
        client = str(address)
        if not _is_trusted(address, trusted):
            break
    return client


def _parsed(text: str | None) -> Address | None:
    try:
        return ipaddress.ip_address(text or "")
    except ValueError:
        return None


def _is_trusted(address: Address | None, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in trusted)
