"""The reference BPP's fault registry, without a network: every fault is one transform at one
named hook point, faults switched on together compose, and no other module of the BPP knows a
fault by its name. (tests/test_bpp.py proves each fault's symptom on the wire.)"""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from harness.beckn import signing
from harness.transcript import Transcript
from mocks.bpp import FAULTS, Fault
from mocks.bpp.faults import Callback, FaultSwitches, Signature
from mocks.stack import Identity, Inbox
from mocks.stack.inbox import Arrival, skip, validate_schema

HOOK_POINTS = [f.name for f in fields(Fault) if f.name not in ("rule", "description")]
BPP_PACKAGE = Path(__file__).resolve().parent.parent / "mocks" / "bpp"
REQUEST = {"context": {"action": "select", "transaction_id": "t-1", "message_id": "m-1",
                       "ttl": "PT2S"}}


class OneKeyDirectory:
    """A registry that knows one key."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None:
        return self.identity.public_key if key_id == self.identity.key_id else None

    async def subscriber_url(self, subscriber_id: str) -> str | None:
        return None


@pytest.fixture
def identity() -> Identity:
    return Identity.create("bpp.faults.example", "bpp", "http://127.0.0.1:9/bpp")


def switches(identity: Identity, *names: str) -> tuple[FaultSwitches, Inbox]:
    inbox = Inbox(identity, OneKeyDirectory(identity), Transcript(), None,  # type: ignore[arg-type]
                  {})
    return FaultSwitches(identity, inbox, names), inbox


def test_every_fault_transforms_at_exactly_one_hook_point() -> None:
    for name, fault in FAULTS.items():
        used = [point for point in HOOK_POINTS if getattr(fault, point) is not None]
        assert len(used) == 1, (name, used)


def test_no_other_module_of_the_bpp_names_a_fault() -> None:
    for module in BPP_PACKAGE.glob("*.py"):
        if module.name == "faults.py":
            continue
        text = module.read_text()
        named = [name for name in FAULTS if name in text]
        assert not named, (module.name, named)


def test_unknown_faults_are_refused(identity: Identity) -> None:
    faults, _ = switches(identity)
    with pytest.raises(ValueError, match="unknown fault"):
        faults.switch({"late-callback", "no-such-fault"})


def _run_signature_step(inbox: Inbox, arrival: Arrival) -> Any:
    return asyncio.run(inbox.steps["signature"](inbox, arrival))


def _arrival(identity: Identity, *, tampered: bool = False, expired: bool = False) -> Arrival:
    raw = b'{"context": {"action": "select"}}'
    now = int(time.time())
    header = identity.signer.sign(raw, now - 900, now - 600) if expired else \
        identity.signer.sign(raw)
    body = raw.replace(b"select", b"confirm") if tampered else raw
    return Arrival("select", body, {signing.AUTHORIZATION.lower(): header})


@pytest.mark.parametrize(("on", "tampered_passes", "expired_passes"), [
    ((), False, False),
    (("accepts-tampered-request",), True, False),
    (("accepts-expired-signature",), False, True),
    (("accepts-tampered-request", "accepts-expired-signature"), True, True),
])
def test_inbox_leniencies_of_several_faults_add_up(
        identity: Identity, on: tuple[str, ...], tampered_passes: bool,
        expired_passes: bool) -> None:
    _, inbox = switches(identity, *on)
    assert (_run_signature_step(inbox, _arrival(identity, tampered=True)) is None) == \
        tampered_passes
    assert (_run_signature_step(inbox, _arrival(identity, expired=True)) is None) == \
        expired_passes
    assert _run_signature_step(inbox, _arrival(identity)) is None


def test_switching_faults_off_restores_the_inbox(identity: Identity) -> None:
    faults, inbox = switches(identity, "acks-schema-invalid-request", "accepts-expired-signature")
    assert inbox.steps["schema"] is skip
    faults.switch(())
    assert inbox.steps["schema"] is validate_schema
    assert _run_signature_step(inbox, _arrival(identity, expired=True)) is not None


def test_schedule_transforms_compose(identity: Identity) -> None:
    solicited = Callback("on_select", REQUEST["context"], solicited=True)
    faults, _ = switches(identity, "late-callback", "duplicate-callback")
    scheduled = faults.schedule(solicited)
    assert scheduled.delay_s == 3.0 and scheduled.copies == (None, "duplicate-callback")
    unsolicited = Callback("on_status", REQUEST["context"], solicited=False)
    assert faults.schedule(unsolicited) == unsolicited
    faults.switch({"missing-callback", "duplicate-callback"})
    assert faults.schedule(solicited).copies == ()  # a callback never sent is not sent twice
    assert faults.schedule(Callback("on_init", REQUEST["context"], solicited=True)).copies == \
        (None, "duplicate-callback")


def test_address_transforms_know_solicited_from_unsolicited(identity: Identity) -> None:
    ctx = {"action": "on_status", "transaction_id": "t-1", "message_id": "m-new"}
    solicited = Callback("on_status", REQUEST["context"], solicited=True)
    unsolicited = Callback("on_status", REQUEST["context"], solicited=False)
    faults, _ = switches(identity, "wrong-transaction-id", "unsolicited-reuses-message-id")
    answered = faults.address(ctx, solicited)
    assert answered["transaction_id"] != "t-1" and answered["message_id"] == "m-new"
    assert faults.address(ctx, unsolicited) == {**ctx, "message_id": "m-1"}
    assert ctx["transaction_id"] == "t-1"  # transforms make a new context


def test_signature_transforms_are_noted_by_name(identity: Identity) -> None:
    faults, _ = switches(identity, "wrong-key-callback", "expired-callback-signature")
    base = Signature(identity.signer, faults.impostor)
    signature, applied = faults.signature(base)
    assert applied == ("expired-callback-signature", "wrong-key-callback")
    assert signature.signer is faults.impostor and signature.impostor is faults.impostor
    assert signature.expires is not None and signature.expires < time.time()
    assert faults.impostor.key_id == identity.key_id
    assert faults.impostor.public_key != identity.public_key
    faults.switch(())
    assert faults.signature(base) == (base, ())


def test_document_and_price_transforms(identity: Identity) -> None:
    order = {"beckn:orderStatus": "CONFIRMED", "beckn:orderItems": [{}],
             "beckn:orderValue": {"currency": "INR", "value": 55.0}}
    faults, _ = switches(identity, "schema-invalid-callback", "quote-total-mismatch",
                         "illegal-state-transition", "changes-price-after-select")
    quoted = faults.quote(order)
    assert "beckn:orderItems" not in quoted and quoted["beckn:orderValue"]["value"] == 65.0
    assert faults.confirmation(order)["beckn:orderStatus"] == "COMPLETED"
    assert faults.init_price(18.0) == 19.8
    assert order["beckn:orderValue"]["value"] == 55.0 and "beckn:orderItems" in order
    faults.switch(())
    assert faults.quote(order) == order and faults.init_price(18.0) == 18.0
