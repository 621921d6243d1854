"""The hosts the parties of a mock network may send to: an allow-list against request forgery.

A registry record's URL decides where the CDS fans a signed discover out and where callbacks
go; a charger webhook is a URL anyone may register. Unchecked, the harness would send signed
requests to any host a caller names — a cloud metadata address (169.254.169.254), a private
service. The network therefore allows loopback, the hosts it advertises itself under, each
candidate's host (from its candidate file) and what the operator adds (`--allow-outbound`);
the registry refuses records elsewhere, the charger such webhooks, and a party asked to send
elsewhere anyway (a record written before) refuses to.

Hosts are matched as written in the URL, never resolved: an entry is a host name (exact, any
case), an IP address, a CIDR network (`10.0.0.0/8`), or `*` for any host.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

ANY = "*"
OPTION = "--allow-outbound"  # how an operator adds a host (serve and run)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[str, ...] = ("localhost", "127.0.0.0/8", "::1")


def host_of(url: str) -> str | None:
    """The host of an absolute URL, lower-case, without IPv6 brackets; None without one."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".") or None if host else None


@lru_cache(maxsize=4096)  # asked for every request a party sends: parse a host once
def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # a zone id names no other host
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


class OutboundHosts:
    """An allow-list of hosts, loopback among them unless told otherwise; it only grows (a
    candidate registered later adds its host). ValueError names an entry that is no host."""

    def __init__(self, entries: Iterable[str] = (), *, loopback: bool = True) -> None:
        self._names: set[str] = set()
        self._networks: list[IPNetwork] = []
        self._any = False
        self._shown: list[str] = []
        self._lock = threading.Lock()  # grown from the main thread, read on the servers' loop
        for entry in (*(LOOPBACK if loopback else ()), *entries):
            self.allow(entry)

    @property
    def entries(self) -> list[str]:
        """What was allowed, as given (normalised), in order."""
        return list(self._shown)

    def allow(self, entry: str) -> None:
        """Allow a host name, an IP address, a CIDR network, `*`, or the host of a URL.
        ValueError for an empty entry or one with a port or path."""
        text = entry.strip()
        if "://" in text:
            text = host_of(text) or ""
        text = text.lower().strip("[]").rstrip(".")
        if not text or (any(c in text for c in "/?#@ ") and _network(text) is None):
            raise ValueError(f"{entry!r} is not a host: give a name, an IP address, a CIDR "
                             "network or '*'")
        network = _network(text)
        with self._lock:
            if text in self._shown:
                return
            if text == ANY:
                self._any = True
            elif network is not None:
                self._networks.append(network)
            elif ":" in text:
                raise ValueError(f"{entry!r}: give the host without a port")
            else:
                self._names.add(text)
            self._shown.append(text)

    def allow_url(self, url: str) -> None:
        """Allow the host of `url` (nothing when it has none)."""
        host = host_of(url)
        if host is not None:
            self.allow(host)

    def allows(self, host: str) -> bool:
        host = host.lower().strip("[]").rstrip(".")
        address = _address(host)
        with self._lock:
            if self._any or host in self._names:
                return True
            return address is not None and any(
                address.version == n.version and address in n for n in self._networks)

    def refusal(self, url: str) -> str | None:
        """Why `url` must not be sent to, or None when its host is allowed."""
        host = host_of(url)
        if host is None:
            return f"{url!r} names no host"
        if self.allows(host):
            return None
        return (f"host {host!r} is not on the outbound allow-list ({', '.join(self.entries)}); "
                f"the harness sends only to loopback, its own addresses and the candidate's "
                f"host: start it with {OPTION} {host} to allow it")


def _network(text: str) -> IPNetwork | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen == 128 \
            and network.network_address.ipv4_mapped is not None:
        return ipaddress.ip_network(network.network_address.ipv4_mapped)
    return network
