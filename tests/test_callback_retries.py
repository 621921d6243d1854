"""The reference BPP sends a callback again, with backoff within the request's ttl, only when
the BAP surely did not take it (no connection, or 503 while it cannot look a key up); a NACK
and a timeout are final, and every failed attempt is logged (issue F: callbacks were lost
silently, one attempt each)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from harness.beckn import envelope
from harness.transcript import OUTBOUND, Exchange
from mocks.bpp import callbacks as callbacks_module
from mocks.bpp.callbacks import Callbacks, undelivered
from mocks.bpp.config import BppConfig
from mocks.bpp.faults import FaultSwitches
from mocks.stack import Identity, Inbox, Sent

REQUEST = {"action": "select", "transaction_id": "t-1", "message_id": "m-1", "ttl": "PT5S",
           "bap_id": "bap.example", "bap_uri": "http://127.0.0.1:9/beckn"}


class ScriptedOutbox:
    """Answers each send with the next of `answers` (status, error)."""

    def __init__(self, *answers: tuple[int | None, str | None]) -> None:
        self.answers = list(answers)
        self.notes: list[str | None] = []

    async def send(self, target: str, action: str, raw: bytes, *, note: str | None = None,
                   **options: Any) -> Sent:
        self.notes.append(note)
        status, error = self.answers.pop(0)
        exchange = Exchange(f"x{len(self.notes):06d}", OUTBOUND, "bpp", "POST", target, {}, raw,
                            0.0, 0.0, status=status, error=error)
        return Sent(exchange, status, None, error=error)


def _callbacks(outbox: ScriptedOutbox) -> Callbacks:
    identity = Identity.create("bpp.example", "bpp", "http://127.0.0.1:8/beckn")
    inbox = Inbox(identity, None, None, None, {})  # type: ignore[arg-type]
    return Callbacks(BppConfig(identity=identity), outbox,  # type: ignore[arg-type]
                     FaultSwitches(identity, inbox))


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callbacks_module, "RETRY_BACKOFF_S", (0.01, 0.01, 0.01, 0.01))


def test_a_callback_no_connection_took_is_sent_again_until_it_is(
        caplog: pytest.LogCaptureFixture) -> None:
    outbox = ScriptedOutbox((None, "ConnectError: refused"), (503, None), (200, None))
    with caplog.at_level(logging.WARNING, logger="ubc.mocks"):
        asyncio.run(_callbacks(outbox).reply(REQUEST, {"order": {}}))
    assert outbox.notes == [None, "retry 1", "retry 2"]
    assert sum("not delivered" in r.message for r in caplog.records) == 2


@pytest.mark.parametrize("answer", [(400, None), (401, None),
                                    (None, "no answer within 5 s"), (200, None)])
def test_a_nack_a_timeout_or_an_ack_is_final(answer: tuple[int | None, str | None]) -> None:
    outbox = ScriptedOutbox(answer)
    asyncio.run(_callbacks(outbox).reply(REQUEST, {"order": {}}))
    assert outbox.notes == [None]


def test_retries_stop_within_the_ttl_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    outbox = ScriptedOutbox(*[(None, "ConnectError: refused")] * 5)
    with caplog.at_level(logging.WARNING, logger="ubc.mocks"):
        asyncio.run(_callbacks(outbox).reply(REQUEST, {"order": {}}))
    assert len(outbox.notes) == 5  # the first and four retries: the backoff list is spent
    assert any("given up undelivered" in r.message for r in caplog.records)


def test_what_counts_as_undelivered() -> None:
    def sent(status: int | None, error: str | None) -> Sent:
        return Sent(Exchange("x1", OUTBOUND, "bpp", "POST", "u", {}, b"", 0.0, 0.0), status,
                    None, error=error)
    assert undelivered(sent(None, "ConnectError: [Errno 111] refused"))
    assert undelivered(sent(503, None))
    assert not undelivered(sent(None, "no answer within 5 s"))
    assert not undelivered(sent(401, None)) and not undelivered(sent(200, None))
    assert envelope.CALLBACK_OF["select"] == "on_select"
