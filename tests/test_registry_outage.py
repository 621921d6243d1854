"""A registry that cannot be asked is not a bad key: every party answers 503 with its own NACK
code (10003) and Retry-After, where it used to say 401 unknown-key, so a candidate (and the
person reading its logs) can tell an outage from a key the registry does not hold."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest

from harness.beckn import envelope, signing
from harness.transcript import Transcript
from mocks.stack import Identity, Inbox, RegistryClient, RegistryUnavailable
from mocks.stack.inbox import Arrival


class DownRegistry:
    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None:
        raise RegistryUnavailable("the registry at http://127.0.0.1:9 could not be asked")

    async def subscriber_url(self, subscriber_id: str) -> str | None:
        raise RegistryUnavailable("the registry at http://127.0.0.1:9 could not be asked")

    async def subscribers(self, kind: str, domain: str | None = None) -> list[dict[str, str]]:
        raise RegistryUnavailable("down")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def test_a_registry_that_cannot_be_reached_raises_instead_of_trusting_nobody() -> None:
    client = RegistryClient(f"http://127.0.0.1:{_closed_port()}", timeout=1.0)

    async def ask() -> None:
        try:
            with pytest.raises(RegistryUnavailable, match="could not be asked"):
                await client.trusted_key("bap.example", "k1")
            assert await client.subscribers("BPP") == []  # a fan-out reaches nobody, logged
        finally:
            await client.aclose()
    asyncio.run(ask())


def test_an_inbox_answers_a_registry_outage_with_503_and_its_own_code() -> None:
    me = Identity.create("bpp.example", "bpp", "http://127.0.0.1:9/beckn")
    sender = Identity.create("bap.example", "bap", "http://127.0.0.1:8/beckn")
    inbox = Inbox(me, DownRegistry(), Transcript(), None, {})  # type: ignore[arg-type]
    raw = b'{"context": {"action": "select"}}'
    arrival = Arrival("select", raw, {signing.AUTHORIZATION.lower(): sender.signer.sign(raw)})
    answer = asyncio.run(inbox.steps["signature"](inbox, arrival))
    assert answer is not None and answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    body = orjson.loads(answer.body)
    assert body["error"]["code"] == envelope.REGISTRY_UNAVAILABLE != envelope.SIGNATURE_INVALID
    assert envelope.ack_status(body) == "NACK" and "bap.example|" in body["error"]["message"]
