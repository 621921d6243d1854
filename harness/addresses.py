"""Where the harness's parties listen and the addresses they are known by.

A party binds a socket on `host` (default 127.0.0.1) and is advertised — in registry records,
in `bap_uri`/`bpp_uri`, as the CDS, in what the operator is told — under its public URL. The
public URL is one template for every party, since each listens on its own port:

- `http://10.0.0.5` (no port): each party at `http://10.0.0.5:<its port>`;
- `https://harness.example:{port}`, `https://{party}.harness.example`: the placeholders are
  replaced by the party's port and name (registry, cds, bap, bpp, charger).

A template that names one literal port is refused for a network (every party would be
advertised at the same address) and accepted for one standalone party. Without a public URL a
party is advertised at `http://<host>:<port>`, which a wildcard host (0.0.0.0, ::) cannot give.
The harness itself reaches its parties at their local address (loopback for a wildcard host).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

HOST = "127.0.0.1"
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
PLACEHOLDERS = ("{port}", "{party}")


class AddressError(ValueError):
    """A --host or --public-url the harness cannot use; the message says why."""


def netloc(host: str, port: int) -> str:
    """`host:port`, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_url(host: str, port: int) -> str:
    """The base URL this machine reaches a server bound on `host`:`port` at (loopback for a
    wildcard host)."""
    return f"http://{netloc(HOST if host in WILDCARDS else host, port)}"


def _fill(template: str, party: str, port: int) -> str:
    return template.replace("{port}", str(port)).replace("{party}", party)


@dataclass(frozen=True)
class Addresses:
    """How the parties of one harness are bound and advertised."""

    host: str = HOST
    public_url: str | None = None
    one_party: bool = False  # a standalone participant may be advertised at a literal port

    def __post_init__(self) -> None:
        if self.public_url is None:
            if self.host in WILDCARDS:
                raise AddressError(
                    f"--host {self.host or '(empty)'} listens on every address; say which one "
                    "the candidate must use with --public-url")
            return
        self._template()  # refuse a bad template now, not at the first advertisement

    def _template(self) -> str:
        """The public URL with `{port}` added when it names neither port nor party."""
        url = (self.public_url or "").strip().rstrip("/")
        sample = _fill(url, "party", 1)
        if "{" in sample or "}" in sample:
            raise AddressError(f"--public-url {url}: the only placeholders are "
                               f"{' and '.join(PLACEHOLDERS)}")
        try:
            parts = urlsplit(sample)
            port = parts.port
        except ValueError as exc:
            raise AddressError(f"--public-url {url}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AddressError(f"--public-url {url}: give an http:// or https:// URL with a "
                               "host, e.g. http://10.0.0.5")
        if parts.path or parts.query or parts.fragment or parts.username:
            raise AddressError(f"--public-url {url}: only scheme, host and port; each party "
                               "adds its own path (/beckn, /lookup)")
        if any(p in url for p in PLACEHOLDERS):
            return url
        if port is None:
            return url + ":{port}"
        if not self.one_party:
            raise AddressError(f"--public-url {url} names one port, but every party of the "
                               "network listens on its own: leave the port out (each party "
                               "keeps its own), or use {port} or {party}")
        return url

    def advertised(self, party: str, port: int) -> str:
        """The base URL the candidate must use to reach `party` listening on `port`."""
        if self.public_url is None:
            return f"http://{netloc(self.host, port)}"
        return _fill(self._template(), party, port)

    def local(self, port: int) -> str:
        """The base URL the harness itself uses to reach a party listening on `port`."""
        return local_url(self.host, port)
