"""How a party puts a signed Beckn request on the wire and reads the answer back.

The parties' outboxes send through aiohttp's client: measured here against one uvicorn ACK
endpoint with 16 requests in flight, httpx spent some 1,100 µs of CPU per POST (its pool's
bookkeeping and anyio) and aiohttp some 90 µs; a callback is one such POST, so httpx was most
of what a callback cost the network. Everything else of the harness (hooks, hostile callbacks,
the registry client) sends a request now and then and keeps httpx.

An `httpx.AsyncClient` given to a party is still accepted (`wire()`): tests route a party's
requests through httpx's MockTransport. Transport failures are named as httpx names them
(`ConnectError: ...`, `ConnectTimeout`, `ReadError: ...`, `RemoteProtocolError: ...`), the
vocabulary the transcript and the callback retries (mocks/bpp/callbacks.py) read.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import httpx

from harness import tls

# Connections kept for the requests a party has on the wire at once (outbox.py's slots); an
# idle one is dropped after KEEPALIVE_S (harness/tls.py).
MAX_IN_FLIGHT = 16
KEEPALIVE_S = tls.KEEPALIVE_S
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What came back: status, headers (lower-case names, repeated ones joined with ", "), and
    the body or its first `limit` bytes (`too_large`)."""

    status: int
    headers: dict[str, str]
    content: bytes
    too_large: bool = False


class WireError(Exception):
    """The request got no answer; `str()` is the reason, named the httpx way."""


class Wire(Protocol):
    async def post(self, url: str, content: bytes, headers: Mapping[str, str],
                   timeout_s: float, limit: int) -> Answer: ...

    async def aclose(self) -> None: ...


@lru_cache(maxsize=64)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


def _reason(kind: str, exc: BaseException) -> str:
    return f"{kind}: {exc}" if str(exc) else kind


def _named(exc: aiohttp.ClientError) -> WireError:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return WireError(_reason("ConnectTimeout", exc))
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, name not found
        return WireError(_reason("ConnectError", exc))
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError)):
        return WireError(_reason("RemoteProtocolError", exc))
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
        return WireError(_reason("ReadError", exc))
    if isinstance(exc, aiohttp.InvalidURL):
        return WireError(_reason("InvalidURL", exc))
    return WireError(_reason(type(exc).__name__, exc))


async def _bounded(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """An answer's body, or its first `limit` bytes and True when it is larger (reading stops
    there), whichever client read it."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        parts.append(chunk)
        if size > limit:
            return b"".join(parts)[:limit], True
    return b"".join(parts), False


@lru_cache(maxsize=1024)
def proxy_for(url: str) -> str | None:
    """The proxy the environment names for this URL's scheme and host (HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY, NO_PROXY), as httpx takes them; read once per origin. aiohttp's own
    `trust_env` reads the environment and ~/.netrc again for every request, on a thread."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not proxy or bypass(parts.hostname or "", proxies):
        return None
    return proxy


class AiohttpWire:
    """A party's connections: MAX_IN_FLIGHT kept to each peer, the shared TLS context, proxies
    from the environment as httpx takes them. The session is made on the loop that first uses
    it (a party is built before the loop that serves it runs), and again on another loop."""

    def __init__(self, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._max_in_flight = max_in_flight
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_in_flight,
                                             limit_per_host=self._max_in_flight,
                                             keepalive_timeout=KEEPALIVE_S, ssl=tls.context())
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
            self._loop = loop
        return self._session

    async def post(self, url: str, content: bytes, headers: Mapping[str, str],
                   timeout_s: float, limit: int) -> Answer:
        session = self._current()
        try:
            origin = urlsplit(url)
            async with session.post(url, data=content, headers=dict(headers),
                                    timeout=_timeout(timeout_s),
                                    allow_redirects=False,
                                    proxy=proxy_for(f"{origin.scheme}://{origin.netloc}")
                                    ) as response:
                body, too_large = await _bounded(response.content.iter_chunked(CHUNK), limit)
                joined: dict[str, list[str]] = {}
                for name, value in response.headers.items():
                    joined.setdefault(name.lower(), []).append(value)
                return Answer(response.status, {n: ", ".join(v) for n, v in joined.items()},
                              body, too_large)
        except aiohttp.ClientError as exc:
            raise _named(exc) from None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            try:
                if self._loop is asyncio.get_running_loop():
                    await session.close()
            except RuntimeError:  # its loop is gone: nothing left to close on it
                pass


class HttpxWire:
    """An httpx client as a wire (tests give parties clients with a MockTransport)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, url: str, content: bytes, headers: Mapping[str, str],
                   timeout_s: float, limit: int) -> Answer:
        try:
            async with self.client.stream("POST", url, content=content, headers=dict(headers),
                                          timeout=timeout_s) as response:
                body, too_large = await _bounded(response.aiter_bytes(), limit)
                return Answer(response.status_code, dict(response.headers), body, too_large)
        except httpx.HTTPError as exc:
            raise WireError(_reason(type(exc).__name__, exc)) from None

    async def aclose(self) -> None:
        await self.client.aclose()


def wire(http: Wire | httpx.AsyncClient | None) -> Wire:
    """The wire a party sends through: its own (aiohttp) unless it is given one."""
    if http is None:
        return party_client()
    if isinstance(http, httpx.AsyncClient):
        return HttpxWire(http)
    return http


def party_client() -> Wire:
    """A party's own wire (aiohttp), for a party given one from outside."""
    return AiohttpWire()
