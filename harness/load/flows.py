"""The Beckn side of a load: the signed requests a driver's BAP sends along a walk-in order,
and what their synchronous answers and callbacks say. No I/O here: users.py sends and waits.

A session is the walk-in flow of features/bpp/walk_in.feature as far as Beckn messages alone
can take it — select for a money limit, init with the buyer, confirm (the BAP collected the
payment and says so, TSD §12.0), status — on an item discovered once at the start. Starting,
tracking and stopping a charge need a car plugged into a free connector; a load of many
drivers at once on a site of a few connectors cannot have that, so they are not in it.

Every problem is one short line whose first word says its kind (`unreachable`, `timeout`,
`nack`, `refused`, `error`, `late`, `lost`): Locust groups errors by their text, so the text
names no id and the kinds can be counted from it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from harness.beckn import envelope, signing
from harness.beckn.order import Buyer, Order, Payment, dig, order_status
from harness.load.plan import Item, Plan, Signatory

WALK_IN = ("select", "init", "confirm", "status")
BOOKING = ("select", "init", "confirm")  # a slot race: both BAPs, up to the confirmation
KINDS = ("unreachable", "timeout", "nack", "refused", "error", "late", "lost")
# The state each callback of the flow must report (TSD §11.1, the profile's state table).
ORDER_STATES = {"on_select": "CREATED", "on_init": "CREATED", "on_confirm": "CONFIRMED"}


@dataclass(frozen=True)
class Outgoing:
    """One signed request, ready to send: the exact bytes signed are the bytes sent."""

    action: str
    url: str
    body: bytes
    headers: dict[str, str]
    transaction_id: str
    message_id: str

    @property
    def callback(self) -> str:
        return envelope.CALLBACK_OF[self.action]


@dataclass
class Signers:
    """The harness BAPs' signers, each key decoded once."""

    plan: Plan
    _signers: dict[str, signing.Signer] = field(default_factory=dict)

    def of(self, who: Signatory) -> signing.Signer:
        if who.subscriber_id not in self._signers:
            self._signers[who.subscriber_id] = signing.Signer(who.subscriber_id, who.key_id,
                                                              who.private_key)
        return self._signers[who.subscriber_id]

    def request(self, who: Signatory, action: str, message: dict[str, Any],
                transaction_id: str) -> Outgoing:
        plan = self.plan
        context = envelope.context(action, transaction_id=transaction_id,
                                   bap_id=who.subscriber_id, bap_uri=who.uri,
                                   bpp_id=plan.candidate_id, bpp_uri=plan.candidate_uri,
                                   ttl=plan.ttl)
        body = orjson.dumps({"context": context, "message": message})
        created = int(time.time())
        # BECKN-006: a signature is valid for the message's ttl (whole seconds, at least one)
        header = self.of(who).sign(body, created, created + max(1, math.ceil(plan.ttl_s)))
        return Outgoing(action, f"{plan.candidate_uri.rstrip('/')}/{action}", body,
                        {"Content-Type": "application/json", signing.AUTHORIZATION: header,
                         # as every party of the harness names itself to a candidate's logs
                         "User-Agent": f"ubc-conformance {who.subscriber_id} (load)"},
                        transaction_id, str(context["message_id"]))


class Walk:
    """One driver's order along the flow: each step's message from what the callbacks said."""

    def __init__(self, plan: Plan, item: Item, driver: str,
                 slot: tuple[str, str] | None = None) -> None:
        kwh = round(plan.money / item.unit_price, 2) if item.unit_price else None
        self.order = Order(seller=item.provider, item_id=item.id, buyer=Buyer(id=driver),
                           quantity_kwh=kwh, offer=item.offer, unit_price=item.unit_price,
                           buyer_finder_fee_pct=2.5)
        if slot is not None:
            self.order.start_time, self.order.end_time = slot
        self.transaction_id = envelope.new_id()

    def message(self, action: str) -> dict[str, Any]:
        if action == "confirm":
            self.order.status = "PENDING"
            self.order.payment = Payment(status="COMPLETED", amount=self.order.total)
        return {"order": self.order.to_beckn(full=action not in ("status", "track", "cancel"))}

    def take(self, callback: dict[str, Any]) -> None:
        """The order as the BPP answered: its quote, price and id carry into the next step."""
        answered = Order.from_beckn(dig(callback, "message", "order"))
        if answered.components:
            self.order.components = answered.components
        if answered.unit_price is not None:
            self.order.unit_price = answered.unit_price
        if answered.id:
            self.order.id = answered.id


def ack_problem(status: int, body: bytes, transport_error: str | None,
                timeout_s: float) -> str | None:
    """Why a synchronous answer is not a UBC ACK; None when it is one."""
    if status == 0:
        if transport_error and "timeout" in transport_error.lower():
            return f"timeout: no answer within {timeout_s:g} s"
        return f"unreachable: {(transport_error or 'no answer').split(':')[0]}"
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    ack = envelope.ack_status(answer)
    if 200 <= status < 300 and ack == "ACK":
        return None
    code = dig(answer, "error", "code")
    return f"nack: HTTP {status}" + (f", error {code}" if code else "") + \
        ("" if ack else ", not a UBC ACK")


def callback_problem(callback: str, arrival: dict[str, Any], latency_s: float,
                     plan: Plan, *, refusal_expected: bool = False) -> str | None:
    """Why an arrived callback does not carry the flow on; None when it does."""
    if arrival.get("status") != 200:
        reason = str(arrival.get("refusal") or "").split(":")[0][:60]
        return f"refused: the harness's BAP answered {callback} HTTP {arrival.get('status')}" \
            + (f" ({reason})" if reason else "")
    if latency_s > plan.ttl_s:
        return f"late: {callback} after more than the ttl {plan.ttl}"
    doc = arrival.get("doc")
    code = dig(doc, "error", "code")
    if code is not None:
        return None if refusal_expected else f"error: {callback} carried error {code}"
    expected = ORDER_STATES.get(callback)
    reported = order_status(dig(doc, "message", "order"))
    if expected and reported != expected:
        return f"error: {callback} reports the order {reported or 'without a status'}, " \
            f"not {expected}"
    return None


def kind_of(error: str) -> str:
    """The kind of a problem line ("lost: ..." -> "lost"); "harness" for anything else."""
    kind = error.split(":", 1)[0]
    return kind if kind in KINDS else "harness"
