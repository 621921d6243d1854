"""Webhook delivery: every charger event is POSTed to each registered URL.

One ordered queue and worker per URL, so a slow or dead receiver delays only itself; delivery
failures are logged and dropped. Runs on the event loop of the app that serves the charger.
Given the network's outbound allow-list (mocks/stack/outbound.py), only URLs on its hosts are
taken: anyone who can reach the charger's API registers webhooks, and the charger would POST
wherever they say. A URL can be removed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

import httpx

from harness import tls
from mocks.charger.model import ChargerError, Event
from mocks.stack.outbound import OutboundHosts

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
WEBHOOK_URL_PATTERN = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[^/?#]")


class Webhooks:
    """Delivers charger events to webhook URLs: one ordered queue and worker per URL.

    A slow or dead receiver delays only itself; delivery failures are logged and dropped.
    """

    def __init__(
        self,
        urls: list[str] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 2.0,
        max_pending: int = 1000,
        outbound: OutboundHosts | None = None,
    ) -> None:
        self._outbound = outbound  # None: any host
        self._urls: list[str] = []
        self._transport = transport
        self._timeout_s = timeout_s
        self._max_pending = max_pending
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        for url in urls or []:
            self.add(url)

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    def add(self, url: str) -> bool:
        """Register `url`; False if it was registered already. Call from the app's loop.
        ChargerError INVALID_REQUEST for a URL that is none, HOST_NOT_ALLOWED for a host off
        the allow-list."""
        _require_webhook_url(url)
        refusal = self._outbound.refusal(url) if self._outbound is not None else None
        if refusal is not None:
            raise ChargerError("HOST_NOT_ALLOWED", f"url: {refusal}", "url")
        if url in self._urls:
            return False
        self._urls.append(url)
        if self._loop is not None:
            self._start_worker(url)
        return True

    async def remove(self, url: str) -> None:
        """Stop delivering to `url`, dropping what it had pending; ChargerError
        UNKNOWN_WEBHOOK when it is not registered."""
        if url not in self._urls:
            raise ChargerError("UNKNOWN_WEBHOOK", f"no webhook is registered at {url!r}", "url")
        self._urls.remove(url)
        self._queues.pop(url, None)
        worker = self._workers.pop(url, None)
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(
            transport=self._transport, timeout=httpx.Timeout(self._timeout_s),
            verify=tls.context(), limits=httpx.Limits(keepalive_expiry=tls.KEEPALIVE_S),
        )
        for url in self._urls:
            self._start_worker(url)

    async def stop(self) -> None:
        self._loop = None
        for worker in self._workers.values():
            worker.cancel()
        for worker in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        self._queues.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def publish(self, event: Event) -> None:
        """Charger subscriber: safe to call from any thread; dropped unless the app is running."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under us: shutting down
            loop.call_soon_threadsafe(self._enqueue, event.as_dict())

    def _start_worker(self, url: str) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=self._max_pending)
        self._queues[url] = queue
        self._workers[url] = asyncio.create_task(self._deliver(url, queue))

    def _enqueue(self, payload: dict[str, Any]) -> None:
        for url, queue in self._queues.items():
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                logger.warning("webhook %s is %d events behind; dropping one", url, queue.qsize())

    async def _deliver(self, url: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        client = self._client
        assert client is not None  # workers start after the client
        while True:
            payload = await queue.get()
            try:
                response = await client.post(url, json=payload)
                if response.status_code >= 400:
                    logger.warning("webhook %s answered %d", url, response.status_code)
            except Exception as exc:
                # a receiver's failure must never stop the simulator or other receivers
                logger.warning("webhook %s failed: %s: %s", url, type(exc).__name__, exc)


def _require_webhook_url(url: str) -> None:
    # the same test the OpenAPI document states; anything subtler fails at delivery, logged
    if len(url) > MAX_URL_LENGTH or not WEBHOOK_URL_PATTERN.match(url):
        raise ChargerError(
            "INVALID_REQUEST",
            f"url must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters",
            "url",
        )

