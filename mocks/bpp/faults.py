"""The reference BPP's fault switches: each makes it misbehave in exactly one way, so a
certifying harness can prove it notices, and names the rule that harness must report.

A fault is data: its rule, what it does in words, and the transform it applies at one of the
BPP's hook points. The BPP never asks whether a fault is on; at each hook point it hands what
it is about to do to `FaultSwitches`, which passes it through the transforms of the faults
switched on (in the order of `FAULTS`). No other module knows a fault by its name. Faults
switched on together compose: late and duplicate send two late copies; expired and wrong-key
sign with an expired window and the wrong key.

The hook points:
- `inbox`: inbox steps relaxed (signature failures let through, steps skipped);
- `schedule`: when a callback is sent and how many copies (`Callback`);
- `address`: the context a callback carries (its transaction and message ids);
- `signature`: how each copy is signed (`Signature`: key, window, unsigned, altered bytes);
- `quote`: the order on_select carries; `confirmation`: the order on_confirm carries;
- `init_price`: the unit price on_init quotes;
- `refusal_code`: the error code a refused request's callback carries;
- `serves`: whether a request about an order is served, given whether its BAP placed it;
- `follows`: whether a BAP whose request about an order was not served is from then on sent a
  copy of each of the order's callbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.beckn.order import money
from mocks.stack import Identity, Inbox
from mocks.stack.inbox import Step, skip
from mocks.stack.switches import Switches, refuse_unknown

OrderDoc = dict[str, Any]  # a Beckn order document
Context = dict[str, Any]  # a Beckn context

DEFAULT_TTL_S = 30.0  # a request whose ttl cannot be read is answered as if it were PT30S


# --- what faults transform ----------------------------------------------------------------------


@dataclass(frozen=True)
class Leniency:
    """What a fault lets through the inbox: signature failures (by `signing` reason) and
    whole steps (by name) that no longer refuse a request."""

    signature_failures: frozenset[str] = frozenset()
    skipped_steps: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Callback:
    """A callback about to be sent, as far as a fault may change when and how often."""

    action: str  # on_select, on_status, ...
    request: Mapping[str, Any]  # the context it answers; unsolicited: the order's last request's
    solicited: bool
    delay_s: float = 0.0
    copies: tuple[str | None, ...] = (None,)  # a transcript note for each copy; (): none sent


@dataclass(frozen=True)
class Signature:
    """How one copy of a callback is signed."""

    signer: signing.Signer
    impostor: signing.Signer  # the BPP's keyId with a key the registry does not hold
    signed: bool = True
    created: int | None = None  # None: now
    expires: int | None = None  # None: the signer's default validity after `created`
    altered: bool = False  # a byte of the signature is flipped after signing


@dataclass(frozen=True)
class Fault:
    """One fault switch: the rule that must catch it, and its transform at one hook point."""

    rule: str  # the rule of harness/rules.py a certifying harness must report
    description: str
    inbox: Leniency | None = None
    schedule: Callable[[Callback], Callback] | None = None
    address: Callable[[Context, Callback], Context] | None = None
    signature: Callable[[Signature], Signature] | None = None
    quote: Callable[[OrderDoc], OrderDoc] | None = None
    confirmation: Callable[[OrderDoc], OrderDoc] | None = None
    init_price: Callable[[float], float] | None = None
    refusal_code: Callable[[str], str] | None = None
    serves: Callable[[bool], bool] | None = None
    follows: Callable[[bool], bool] | None = None


# --- the transforms -----------------------------------------------------------------------------


def _solicited(change: Callable[[Callback], Callback]) -> Callable[[Callback], Callback]:
    return lambda callback: change(callback) if callback.solicited else callback


def _after_ttl(callback: Callback) -> Callback:
    ttl = wire_time.duration_or(callback.request.get("ttl"), DEFAULT_TTL_S)
    return replace(callback, delay_s=max(callback.delay_s, ttl + 1.0))


def _twice(note: str) -> Callable[[Callback], Callback]:
    # each copy twice: the second has the same body and a fresh signature (not a replay)
    return lambda callback: replace(
        callback, copies=tuple(n for copy in callback.copies for n in (copy, note)))


def _never_on_select(callback: Callback) -> Callback:
    return replace(callback, copies=()) if callback.action == "on_select" else callback


def _new_id(field: str) -> Callable[[Context, Callback], Context]:
    return lambda ctx, callback: {**ctx, field: envelope.new_id()} if callback.solicited \
        else ctx


def _request_message_id(ctx: Context, callback: Callback) -> Context:
    if callback.solicited or "message_id" not in callback.request:
        return ctx
    return {**ctx, "message_id": callback.request["message_id"]}


def _expired_window(signature: Signature) -> Signature:
    now = int(time.time())
    return replace(signature, created=now - 600, expires=now - 300)


def _without_items(order: OrderDoc) -> OrderDoc:
    return {k: v for k, v in order.items() if k != "beckn:orderItems"}


def _total_plus_ten(order: OrderDoc) -> OrderDoc:
    value = order["beckn:orderValue"]
    return {**order, "beckn:orderValue": {**value, "value": money(value["value"] + 10)}}


# --- the registry -------------------------------------------------------------------------------

FAULTS: dict[str, Fault] = {
    "bad-callback-signature": Fault(
        "UBC-SIG-009", "callbacks carry a signature whose bytes were altered after signing",
        signature=lambda s: replace(s, altered=True)),
    "unsigned-callback": Fault(
        "UBC-SIG-001", "callbacks carry no Authorization header",
        signature=lambda s: replace(s, signed=False)),
    "expired-callback-signature": Fault(
        "UBC-SIG-007", "callbacks are signed with a window that ended 5 minutes ago",
        signature=_expired_window),
    "wrong-key-callback": Fault(
        "UBC-SIG-009", "callbacks are signed with a key that is not the one the registry holds "
        "for the BPP's keyId (the keyId itself is the registered one)",
        signature=lambda s: replace(s, signer=s.impostor)),
    "late-callback": Fault(
        "UBC-TIME-002", "every solicited callback is sent 1 s after the request's ttl ran out",
        schedule=_solicited(_after_ttl)),
    "missing-callback": Fault(
        "UBC-TIME-003", "select is acknowledged but on_select never comes",
        schedule=_solicited(_never_on_select)),
    "duplicate-callback": Fault(
        "UBC-TIME-004", "every solicited callback is sent twice (same body, fresh signature)",
        schedule=_solicited(_twice("duplicate-callback"))),
    "wrong-transaction-id": Fault(
        "UBC-CTX-012", "solicited callbacks carry a new transaction_id",
        address=_new_id("transaction_id")),
    "wrong-message-id": Fault(
        "UBC-CTX-013", "solicited callbacks carry a new message_id",
        address=_new_id("message_id")),
    "schema-invalid-callback": Fault(
        "UBC-SCH-004", "on_select's order has no beckn:orderItems", quote=_without_items),
    "illegal-state-transition": Fault(
        "UBC-STATE-001", "on_confirm reports the order COMPLETED instead of CONFIRMED",
        confirmation=lambda order: {**order, "beckn:orderStatus": "COMPLETED"}),
    "quote-total-mismatch": Fault(
        "UBC-CONS-001", "on_select's orderValue.value is 10 more than the sum of its components",
        quote=_total_plus_ten),
    "accepts-tampered-request": Fault(
        "UBC-SIG-013", "requests whose body no longer matches their signature are ACKed",
        inbox=Leniency(signature_failures=frozenset({signing.DIGEST_MISMATCH,
                                                     signing.BAD_SIGNATURE}))),
    "accepts-expired-signature": Fault(
        "UBC-SIG-013", "requests with an expired signature are ACKed",
        inbox=Leniency(signature_failures=frozenset({signing.EXPIRED}))),
    "acks-schema-invalid-request": Fault(
        "UBC-SCH-011", "schema-invalid requests are ACKed instead of NACKed with 400",
        inbox=Leniency(skipped_steps=frozenset({"schema"}))),
    "unsolicited-reuses-message-id": Fault(
        "UBC-CTX-014", "unsolicited callbacks reuse the message_id of the transaction's last "
        "request", address=_request_message_id),
    "changes-price-after-select": Fault(
        "UBC-CONS-004", "on_init quotes a unit price 10% above the one on_select quoted",
        init_price=lambda price: money(price * 1.1)),
    "refuses-with-generic-code": Fault(
        "UBC-STATE-007", "every refusal (an impossible start, an overlapping slot, a late "
        "cancel) carries the generic 50000 instead of the code the TSD prescribes",
        refusal_code=lambda code: "50000"),
    "serves-any-bap": Fault(
        "UBC-CTX-028", "an order is served to any BAP that names its id or transaction "
        "(status, track, update, cancel, rating, support), and its later callbacks go to the "
        "BAP that asked last", serves=lambda placed_it: True),
    "callbacks-to-any-bap": Fault(
        "UBC-CTX-029", "another BAP's requests about an order are refused as they must be, "
        "but that BAP is then sent a copy of each of the order's callbacks",
        follows=lambda follows: True),
}


def check_known(names: Iterable[str]) -> None:
    """ValueError naming every fault that is not in `FAULTS`."""
    refuse_unknown(FAULTS, names)


# --- the switches of one BPP --------------------------------------------------------------------


class FaultSwitches(Switches[Fault]):
    """The faults switched on in one BPP, applied at its hook points in the order of FAULTS."""

    def __init__(self, identity: Identity, inbox: Inbox, names: Iterable[str] = ()) -> None:
        impostor = signing.KeyPair.generate(identity.subscriber_id, identity.key_id)
        self.impostor = signing.Signer.from_keypair(impostor)
        super().__init__(FAULTS, inbox, names)

    def inbox_changes(self) -> tuple[frozenset[str], Mapping[str, Step]]:
        failures: frozenset[str] = frozenset()
        skipped: frozenset[str] = frozenset()
        for _, fault in self._on:
            if fault.inbox is not None:
                failures |= fault.inbox.signature_failures
                skipped |= fault.inbox.skipped_steps
        return failures, {step: skip for step in sorted(skipped)}

    def schedule(self, callback: Callback) -> Callback:
        return self._through(lambda fault: fault.schedule, callback)

    def address(self, ctx: Context, callback: Callback) -> Context:
        return self._through_given(lambda fault: fault.address, ctx, callback)

    def signature(self, signature: Signature) -> tuple[Signature, tuple[str, ...]]:
        """The signature as the faults make it, and the names of those that changed it
        (the transcript notes them beside the exchange)."""
        applied = tuple(name for name, fault in self._on if fault.signature is not None)
        return self._through(lambda fault: fault.signature, signature), applied

    def quote(self, order: OrderDoc) -> OrderDoc:
        return self._through(lambda fault: fault.quote, order)

    def confirmation(self, order: OrderDoc) -> OrderDoc:
        return self._through(lambda fault: fault.confirmation, order)

    def init_price(self, price: float) -> float:
        return self._through(lambda fault: fault.init_price, price)

    def refusal_code(self, code: str) -> str:
        return self._through(lambda fault: fault.refusal_code, code)

    def serves(self, placed_it: bool) -> bool:
        return self._through(lambda fault: fault.serves, placed_it)

    def follows(self) -> bool:
        """Whether a BAP refused an order is sent its callbacks all the same (no: unless a
        fault says so)."""
        return self._through(lambda fault: fault.follows, False)
