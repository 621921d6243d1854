"""Every long-lived HTTP client of the network lets an idle kept connection go before a uvicorn
peer closes it (5 s, as our own servers and most Python stacks do): otherwise a request sent
on it just as the peer closes it fails. Met once in a stall bench run as a registry lookup
failing with an empty error, the CDS then answering 503 "registry unavailable" to a BPP's
catalog publish."""

from __future__ import annotations

import asyncio

import uvicorn

from harness import tls
from mocks.charger.webhooks import Webhooks
from mocks.stack import RegistryClient
from mocks.stack.wire import KEEPALIVE_S, party_client

PEER_KEEPALIVE_S = uvicorn.Config(app=None).timeout_keep_alive  # what our servers close after


def test_the_shared_bound_is_below_a_uvicorn_peers() -> None:
    assert tls.KEEPALIVE_S == KEEPALIVE_S < PEER_KEEPALIVE_S


def test_the_registry_client_lets_idle_connections_go_in_time() -> None:
    async def expiry() -> float | None:
        client = RegistryClient("http://127.0.0.1:9")
        try:
            return client._http._transport._pool._keepalive_expiry  # type: ignore[attr-defined]
        finally:
            await client.aclose()
    assert asyncio.run(expiry()) == tls.KEEPALIVE_S


def test_webhook_deliveries_let_idle_connections_go_in_time() -> None:
    async def expiry() -> float | None:
        hooks = Webhooks([])
        await hooks.start()
        try:
            return hooks._client._transport._pool._keepalive_expiry  # type: ignore[union-attr]
        finally:
            await hooks.stop()
    assert asyncio.run(expiry()) == tls.KEEPALIVE_S


def test_the_parties_wire_lets_idle_connections_go_in_time() -> None:
    async def expiry() -> float:
        wire = party_client()
        try:
            session = wire._current()  # type: ignore[attr-defined]
            return float(session.connector._keepalive_timeout)  # type: ignore[union-attr]
        finally:
            await wire.aclose()
    assert asyncio.run(expiry()) == tls.KEEPALIVE_S
