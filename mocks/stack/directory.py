"""The registry as the parties see it: who is trusted with which key, and where they listen.

The client reads v1 lookup records in either naming of the subscriber URI (`url` or
`subscriber_url`, harness.beckn.subscriber.record_url), so the parties work against any v1
registry, not only the mock one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import httpx

from harness import tls
from harness.beckn.subscriber import record_trusted, record_url

log = logging.getLogger("ubc.mocks")


class RegistryUnavailable(Exception):
    """The registry could not be asked, or did not answer a lookup: who is trusted with which
    key is unknown (not: untrusted)."""


class Directory(Protocol):
    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None: ...

    async def subscriber_url(self, subscriber_id: str) -> str | None: ...

    async def subscribers(self, kind: str, domain: str | None = None
                          ) -> list[dict[str, Any]]: ...


CACHED = 1024  # registry answers cached at most


class RegistryClient:
    """Looks subscribers up over HTTP (`POST /lookup`), trusting only SUBSCRIBED records inside
    their validity window; answers are cached for `cache_s` seconds. `user_agent` names who
    asks, so that a registry's log tells the parties' lookups apart."""

    def __init__(self, registry_url: str, *, cache_s: float = 1.0, timeout: float = 3.0,
                 user_agent: str | None = None) -> None:
        self.registry_url = registry_url.rstrip("/")
        self.cache_s = cache_s
        headers = {"User-Agent": user_agent} if user_agent else None
        self._http = httpx.AsyncClient(timeout=timeout, headers=headers,
                                       verify=tls.context(),
                                       limits=httpx.Limits(keepalive_expiry=tls.KEEPALIVE_S))
        self._cache: dict[tuple[tuple[str, str], ...], tuple[float, list[dict[str, Any]]]] = {}
        self._pending: dict[tuple[tuple[str, str], ...], asyncio.Future[list[dict[str, Any]]]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _lookup(self, fresh: bool = False, **query: str) -> list[dict[str, Any]]:
        key = tuple(sorted(query.items()))
        hit = self._cache.get(key)
        if not fresh and hit is not None and time.monotonic() - hit[0] < self.cache_s:
            return hit[1]
        # One lookup in flight per question: a burst of requests signed with one key, arriving
        # before the first lookup of it has been answered, waits for that answer instead of
        # asking the registry once each (which, under load, timed lookups out: 503s, retries).
        pending = self._pending.get(key)
        if pending is not None and not fresh:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._ask(key, query))
        if not fresh:
            self._pending[key] = task
        task.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(task)

    def _settled(self, key: tuple[tuple[str, str], ...],
                 task: asyncio.Future[list[dict[str, Any]]]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone (a cancelled request)

    async def _ask(self, key: tuple[tuple[str, str], ...], query: dict[str, str]
                   ) -> list[dict[str, Any]]:
        try:
            response = await self._http.post(f"{self.registry_url}/lookup", json=query)
            if response.status_code != 200:
                raise RegistryUnavailable(f"the registry at {self.registry_url} answered "
                                          f"/lookup with HTTP {response.status_code}")
            records = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("registry lookup %s failed: %s", query, exc)
            raise RegistryUnavailable(f"the registry at {self.registry_url} could not be "
                                      f"asked: {type(exc).__name__}: {exc}") from None
        records = [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
        self._remember(key, records)
        return records

    def _remember(self, key: tuple[tuple[str, str], ...], records: list[dict[str, Any]]) -> None:
        """Cache an answer; past CACHED answers the stale ones go, then the oldest (a sender
        may name a new key id in every request)."""
        now = time.monotonic()
        self._cache.pop(key, None)
        self._cache[key] = (now, records)
        if len(self._cache) <= CACHED:
            return
        for stale in [k for k, (at, _) in self._cache.items() if now - at >= self.cache_s]:
            del self._cache[stale]
        for old in list(self._cache)[:max(0, len(self._cache) - CACHED)]:
            del self._cache[old]

    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None:
        for record in await self._lookup(subscriber_id=subscriber_id, key_id=key_id):
            if record.get("subscriber_id") == subscriber_id and record_trusted(record):
                key = record.get("signing_public_key")
                return key if isinstance(key, str) else None
        return None

    async def subscriber_url(self, subscriber_id: str) -> str | None:
        for record in await self._lookup(subscriber_id=subscriber_id):
            if record.get("subscriber_id") == subscriber_id and record_trusted(record):
                return record_url(record)
        return None

    async def subscribers(self, kind: str, domain: str | None = None
                          ) -> list[dict[str, Any]]:
        """Every trusted record of one participant type ("BPP", "BAP", ...) in `domain`.
        Always asked afresh: whoever fans out must reach a participant subscribed a moment ago
        and must not reach one that has just left."""
        query = {"type": kind} if domain is None else {"type": kind, "domain": domain}
        try:
            return [r for r in await self._lookup(True, **query) if record_trusted(r)]
        except RegistryUnavailable as exc:  # nobody to fan out to, said in the log
            log.warning("%s", exc)
            return []
