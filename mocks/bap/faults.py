"""The reference BAP's fault switches: each makes the driver's app misbehave in exactly one
way, so a harness certifying BAPs can prove it notices, and names the rule it must report.

As on the reference BPP (mocks/bpp/faults.py), a fault is data: its rule, what it does in
words, and a transform at one of the BAP's hook points. The BAP never asks whether a fault is
on; at each hook point it hands what it is about to do to `FaultSwitches`, which passes it
through the transforms of the faults switched on (in the order of `FAULTS`).

The hook points:
- `inbox`: how callbacks are received (signature failures let through, every one refused);
- `context`: the context of each request it sends, given the message ids its transaction
  already used;
- `signer`: the key a request is signed with (its own, or another subscriber's);
- `payment_steps`: the Beckn requests `POST /v1/orders/{id}/payment` sends;
- `ordered_item`: the item a select orders;
- `accepted_offer`: the catalog offer a select accepts for it;
- `shown_amount`: the amount the estimate shows the driver;
- `heeds`: whether the app acts on an unsolicited callback of an action;
- `authenticates`: whether the client API checks the Bearer token of a call (by its method);
- `unprocessable`: what the client API makes of a body field it cannot use (a 422, or a crash);
- `selected`: the Beckn order a select sends;
- `shown_charging`: the charging state the order view shows (given the current one and the
  one before its latest change);
- `shown_reading`: the telemetry reading the order view shows (given the latest and the
  first the app took);
- `shown_cancellation`: the fee and refund a cancellation answer shows;
- `stale`: why the app refuses a callback out of order (None: it takes it);
- `foreign`: why the app refuses a callback from another BPP than its order's (None: it
  takes it);
- `heeds_refusal`: whether the app takes a callback's error, by callback action, as the BPP's
  refusal (else it goes on as if the BPP had agreed).

Some of what a BAP can get wrong has no rule in harness/rules.py yet: those faults name a
rule id from `PROPOSED_RULES`, each with the title and clause proposed for the catalogue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.beckn.order import money
from mocks.stack import Identity, Inbox
from mocks.stack.inbox import Arrival, Step, bad_request
from mocks.stack.switches import Switches, refuse_unknown

Context = dict[str, Any]  # a Beckn context
Reading = dict[str, Any] | None  # a chargingTelemetry entry, when there is one

# Rules a BAP certification needs that harness/rules.py does not hold yet: id -> (title,
# spec clause). Proposed for the catalogue; until they are added, the faults name them here.
PROPOSED_RULES: dict[str, tuple[str, str]] = {}  # all catalogued since issue D's first slice


@dataclass(frozen=True)
class Leniency:
    """What a fault does to the inbox: signature failures (by `signing` reason) let through,
    or every callback refused."""

    signature_failures: frozenset[str] = frozenset()
    refuse_all: bool = False


@dataclass(frozen=True)
class Fault:
    """One fault switch: the rule that must catch it, and its transform at one hook point."""

    rule: str  # of harness/rules.py, or of PROPOSED_RULES until the catalogue holds it
    description: str
    inbox: Leniency | None = None
    context: Callable[[Context, Sequence[str]], Context] | None = None
    signer: Callable[[signing.Signer, signing.Signer], signing.Signer] | None = None
    payment_steps: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None
    ordered_item: Callable[[str], str] | None = None
    accepted_offer: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    shown_amount: Callable[[float], float] | None = None
    heeds: Callable[[str], bool] | None = None
    authenticates: Callable[[str], bool] | None = None
    unprocessable: Callable[[Exception], Exception] | None = None
    selected: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    shown_charging: Callable[[str, str], str] | None = None
    shown_reading: Callable[[Reading, Reading], Reading] | None = None
    shown_cancellation: Callable[[float, float], tuple[float, float]] | None = None
    stale: Callable[[str | None], str | None] | None = None
    foreign: Callable[[str | None], str | None] | None = None
    heeds_refusal: Callable[[str], bool] | None = None

    @property
    def proposed(self) -> bool:
        """The rule is proposed here, not (yet) in harness/rules.py."""
        return self.rule in PROPOSED_RULES


# --- the transforms -----------------------------------------------------------------------------


def _reuse_first_message_id(ctx: Context, used: Sequence[str]) -> Context:
    return {**ctx, "message_id": used[0]} if used else ctx


def _new_transaction_at_init(ctx: Context, used: Sequence[str]) -> Context:
    return {**ctx, "transaction_id": envelope.new_id()} if ctx.get("action") == "init" else ctx


def _insane_time(ctx: Context, used: Sequence[str]) -> Context:
    # a day old and valid for no time at all: expired before it was sent
    return {**ctx, "timestamp": wire_time.format(time.time() - 86400), "ttl": "PT0S"}


def _unregistered_bap_uri(ctx: Context, used: Sequence[str]) -> Context:
    # the address a developer's laptop had: callbacks would go where the registry says nothing
    return {**ctx, "bap_uri": "http://localhost:8080/beckn"}


def _discounted_offer(offer: dict[str, Any]) -> dict[str, Any]:
    price = offer.get("beckn:price")
    if not isinstance(price, dict) or not isinstance(price.get("value"), int | float):
        return offer
    return {**offer, "beckn:price": {**price, "value": money(price["value"] * 0.5)}}


def _crash(error: Exception) -> Exception:
    # what an app that reads fields without checking them meets: a TypeError, a 500
    return TypeError(f"the app used a field it never checked ({error})")


def _without_slot(order: dict[str, Any]) -> dict[str, Any]:
    attributes = order.get("beckn:orderAttributes")
    if not isinstance(attributes, dict):
        return order
    kept = {k: v for k, v in attributes.items() if k != "preferences"}
    return {**order, "beckn:orderAttributes": kept}


async def _refuse_everything(inbox: Inbox, arrival: Arrival) -> Response | None:
    return bad_request("this BAP refuses every callback", "/context")


# --- the registry -------------------------------------------------------------------------------

FAULTS: dict[str, Fault] = {
    "confirm-without-init": Fault(
        "UBC-STATE-012", "the payment call sends confirm straight after select, with no init",
        payment_steps=lambda steps: tuple("confirm" if s == "init" else s for s in steps)),
    "signs-with-another-key": Fault(
        "UBC-SIG-011", "requests are signed with another registered subscriber's key (the "
        "keyId names that subscriber, the context this BAP)",
        signer=lambda own, foreign: foreign),
    "shows-other-price": Fault(
        "UBC-API-001", "the estimate shows the driver 10% less than the BPP quoted",
        shown_amount=lambda amount: money(amount * 0.9)),
    "reuses-message-id": Fault(
        "UBC-CTX-023", "every request of a transaction reuses the transaction's first "
        "message_id", context=_reuse_first_message_id),
    "changes-transaction-id": Fault(
        "UBC-CTX-024", "init (and every request after it) carries a new transaction_id, not "
        "the one select used", context=_new_transaction_at_init),
    "nacks-every-callback": Fault(
        "UBC-SCH-013", "every callback is refused with a 400 NACK, valid ones included",
        inbox=Leniency(refuse_all=True)),
    "accepts-bad-signature": Fault(
        "UBC-SIG-013", "callbacks whose signature does not verify (altered bytes, wrong key) "
        "are ACKed and applied to the order",
        inbox=Leniency(signature_failures=frozenset({signing.DIGEST_MISMATCH,
                                                     signing.BAD_SIGNATURE}))),
    "selects-unknown-item": Fault(
        "UBC-CONS-005", "select orders an item id the BPP's catalog does not list",
        ordered_item=lambda item: f"{item}-NOT-IN-CATALOG"),
    "accepts-offer-at-other-price": Fault(
        "UBC-CONS-005", "select accepts the catalog's offer at half the catalog's price",
        accepted_offer=_discounted_offer),
    "insane-timestamp": Fault(
        "UBC-CTX-021", "requests carry a timestamp a day old and a ttl of PT0S",
        context=_insane_time),
    "ignores-unsolicited-status": Fault(
        "UBC-API-002", "unsolicited on_status callbacks are ACKed and dropped: the app neither "
        "confirms when the BPP reports the payment nor shows an interruption or refund",
        heeds=lambda action: action != "on_status"),
    "names-unregistered-uri": Fault(
        "UBC-CTX-027", "requests name a bap_uri other than the one the registry holds for "
        "this BAP", context=_unregistered_bap_uri),
    "crashes-on-bad-input": Fault(
        "UBC-API-010", "a body field of the client API that is missing, of the wrong type or "
        "out of range crashes the app (500 INTERNAL_ERROR) instead of a 422",
        unprocessable=_crash),
    "no-auth-on-reads": Fault(
        "UBC-API-011", "the client API serves GET calls (the order, its cancellation estimate, "
        "its support) without checking the Bearer token", authenticates=lambda m: m != "GET"),
    "shows-stale-state": Fault(
        "UBC-API-005", "GET /v1/orders/{id} shows the charging state as it was before the "
        "BPP's latest change to it (IDLE once charging started, ACTIVE once it completed)",
        shown_charging=lambda current, before: before),
    "shows-first-reading": Fault(
        "UBC-API-006", "GET /v1/orders/{id} keeps showing the first telemetry reading the app "
        "took, not the latest", shown_reading=lambda latest, first: first or latest),
    "keeps-cancellation-fee-off": Fault(
        "UBC-API-007", "a cancellation answer shows the whole payment refunded and no fee, "
        "whatever the BPP's on_cancel kept", shown_cancellation=lambda fee, refund: (
            0.0, money(fee + refund))),
    "ignores-slot": Fault(
        "UBC-CONS-010", "select leaves out the time window the driver asked for (init and "
        "confirm still carry it)", selected=_without_slot),
    "acks-stale-callback": Fault(
        "UBC-CTX-026", "a callback out of order (stamped before one the app took in, taking the "
        "order back to a state it left) is ACKed instead of refused (the app keeps the newer "
        "state it holds)", stale=lambda reason: None),
    "accepts-any-bpp": Fault(
        "UBC-CTX-030", "a callback about an order from another registered BPP than the one "
        "the order is with, correctly signed as itself, is ACKed and applied",
        foreign=lambda reason: None),
    "quotes-a-rejected-select": Fault(
        "UBC-API-009", "an on_select refusing the order (REJECTED, with an error) is shown to "
        "the driver as an estimate", heeds_refusal=lambda action: action != "on_select"),
}


def check_known(names: Iterable[str]) -> None:
    """ValueError naming every fault that is not in `FAULTS`."""
    refuse_unknown(FAULTS, names)


# --- the switches of one BAP --------------------------------------------------------------------


class FaultSwitches(Switches[Fault]):
    """The faults switched on in one BAP, applied at its hook points in the order of FAULTS."""

    def __init__(self, identity: Identity, inbox: Inbox, names: Iterable[str] = (), *,
                 foreign_signer: signing.Signer | None = None) -> None:
        self._own = identity.signer
        if foreign_signer is None:
            stranger = f"not-{identity.subscriber_id}"
            foreign_signer = signing.Signer.from_keypair(
                signing.KeyPair.generate(stranger, f"{stranger}-k1"))
        self.foreign = foreign_signer
        super().__init__(FAULTS, inbox, names)

    def inbox_changes(self) -> tuple[frozenset[str], Mapping[str, Step]]:
        failures: frozenset[str] = frozenset()
        refuse = False
        for _, fault in self._on:
            if fault.inbox is not None:
                failures |= fault.inbox.signature_failures
                refuse = refuse or fault.inbox.refuse_all
        return failures, ({"party": _refuse_everything} if refuse else {})

    def context(self, ctx: Context, used: Sequence[str]) -> Context:
        return self._through_given(lambda fault: fault.context, ctx, used)

    def signer(self) -> signing.Signer | None:
        """The key requests are signed with when a fault changes it; None: the BAP's own."""
        signer = self._through_given(lambda fault: fault.signer, self._own, self.foreign)
        return None if signer is self._own else signer

    def payment_steps(self, steps: tuple[str, ...]) -> tuple[str, ...]:
        return self._through(lambda fault: fault.payment_steps, steps)

    def ordered_item(self, item_id: str) -> str:
        return self._through(lambda fault: fault.ordered_item, item_id)

    def accepted_offer(self, offer: dict[str, Any]) -> dict[str, Any]:
        return self._through(lambda fault: fault.accepted_offer, offer)

    def shown_amount(self, amount: float) -> float:
        return self._through(lambda fault: fault.shown_amount, amount)

    def heeds(self, action: str) -> bool:
        """Whether the app acts on an unsolicited callback of this action."""
        return all(fault.heeds(action) for _, fault in self._on if fault.heeds is not None)

    def authenticates(self, method: str) -> bool:
        """Whether the client API checks the token of a call with this HTTP method."""
        return all(fault.authenticates(method) for _, fault in self._on
                   if fault.authenticates is not None)

    def unprocessable(self, error: Exception) -> Exception:
        """What the client API raises for a body field it cannot use (`error`, a 422)."""
        return self._through(lambda fault: fault.unprocessable, error)

    def selected(self, order: dict[str, Any]) -> dict[str, Any]:
        return self._through(lambda fault: fault.selected, order)

    def shown_charging(self, current: str, before: str) -> str:
        return self._through_given(lambda fault: fault.shown_charging, current, before)

    def shown_reading(self, latest: Reading, first: Reading) -> Reading:
        return self._through_given(lambda fault: fault.shown_reading, latest, first)

    def shown_cancellation(self, fee: float, refund: float) -> tuple[float, float]:
        for _, fault in self._on:
            if fault.shown_cancellation is not None:
                fee, refund = fault.shown_cancellation(fee, refund)
        return fee, refund

    def stale_refusal(self, reason: str | None) -> str | None:
        """Why the app refuses a callback out of order, None when it takes it."""
        return self._through(lambda fault: fault.stale, reason)

    def foreign_bpp_refusal(self, reason: str | None) -> str | None:
        """Why the app refuses a callback from another BPP than its order's, None when it
        takes it."""
        return self._through(lambda fault: fault.foreign, reason)

    def heeds_refusal(self, action: str) -> bool:
        """Whether the app takes the error of a callback of this action as a refusal."""
        return all(fault.heeds_refusal(action) for _, fault in self._on
                   if fault.heeds_refusal is not None)
