"""Who is on the other end of a request: the one rule for every HTTP front (the admin panel now,
the ingress's abuse limits next), with one setting, ``proxy.trusted``.

The peer's own address, unless the peer is a trusted reverse proxy: then ``X-Forwarded-For`` is
read from the right (each proxy appends the address it saw), past any further trusted proxies, and
the first address that is not one of ours is the client. ``X-Forwarded-For`` from anyone else is
ignored: a client could write anything there. Entries to the left of the client are the client's
own claims and never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, field_validator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"


class ProxySettings(BaseModel):
    """Reverse proxies in front of the ingress and the admin panel (shared/client_address.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Addresses or CIDR networks of the proxies whose X-Forwarded-For is believed (e.g.
    # ["127.0.0.1", "10.0.0.0/8"]); the client is the first address from the right that is not one
    # of them. Empty: every peer is the client itself and X-Forwarded-For is ignored.
    trusted: tuple[str, ...] = ()

    @field_validator("trusted")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(value)
        return value

    def networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted)


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """``proxy.trusted`` entries: addresses or CIDR networks (``10.0.0.0/8``, ``::1``);
    ``ValueError`` names a bad one."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address as text. ``forwarded_for``: every ``X-Forwarded-For`` header line."""
    hop = _address(peer)
    if hop is None:
        return peer or UNKNOWN
    if not _trusted(hop, trusted):
        return str(hop)
    entries = [entry.strip() for line in forwarded_for for entry in line.split(",")]
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            break  # garbage a client wrote: the last hop our proxies vouch for stands
        hop = address
        if not _trusted(hop, trusted):
            return str(hop)
    return str(hop)


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[v6]:port" as some proxies write it
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "v4:port"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
