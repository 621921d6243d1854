"""The orders the reference BPP holds: one `OrderRecord` per transaction of a BAP, drafted from
what a select or init asks for, found again by later requests, and the refusals that travel in
a callback's `error` (TSD §13).

An order belongs to the BAP that placed it (the `bap_id` of its select): a transaction id is
the BAP's own, so two BAPs naming the same one hold two orders, and a request of another BAP
about an order finds nothing (harness/rules.py UBC-CTX-028 gives the reading).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.beckn import envelope
from harness.beckn import time as wire_time
from harness.beckn.order import Payment, PriceComponent, money
from mocks.bpp.catalog import SiteCatalog, item_id
from mocks.stack.bounded import PRUNE_EVERY, Cadence, oldest_past

OUTSTANDING_PREFIX = "Outstanding balance carried forward from previous overcharge session"
ERROR_MESSAGES = {
    envelope.ITEM_NOT_FOUND: "Item not found",
    envelope.OFFER_NOT_FOUND: "Offer not found",
    envelope.ORDER_NOT_FOUND: "Order not found",
    envelope.ENTITY_TO_RATE_NOT_FOUND: "Entity to rate not found",
    envelope.BUSINESS_ERROR: "Generic business error",
    envelope.ACTION_NOT_APPLICABLE: "Action not applicable",
    envelope.FULFILMENT_AGENT_UNAVAILABLE: "Fulfilment agent unavailable",
    envelope.CANCELLATION_NOT_POSSIBLE: "Cancellation not possible",
}


class Rejection(Exception):
    """A request the BPP refuses: its callback carries `answer` as its message and a business
    error (TSD §13)."""

    def __init__(self, code: str, description: str,
                 answer: Mapping[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.answer = dict(answer or {})

    @property
    def error(self) -> dict[str, Any]:
        return business_error(self.code, self.description)


def business_error(code: str, description: str) -> dict[str, Any]:
    """A callback's `error` object, shaped like the official rejections."""
    return {"code": code, "message": ERROR_MESSAGES.get(code, "Error"),
            "details": {"description": description}}


@dataclass
class Outstanding:
    """An amount a buyer still owes from an overcharged session (TSD §12.5.2)."""

    amount: float
    order_id: str
    transaction_id: str

    @property
    def description(self) -> str:
        return f"{OUTSTANDING_PREFIX} (Order: {self.order_id}, Txn: {self.transaction_id})"


@dataclass
class OrderRecord:
    """One order journey as the BPP holds it, keyed by its BAP and transaction id."""

    transaction_id: str
    bap_id: str  # the BAP that placed the order: the only one it is served to
    # the last context of a request it was served to: where unsolicited callbacks go
    context: dict[str, Any]
    item_id: str
    connector_id: str
    unit_price: float
    currency: str
    buyer: dict[str, Any]  # as the BAP sent it (validated), echoed back verbatim
    quantity: dict[str, Any] | None = None
    quantity_kwh: float | None = None
    money_limit: float | None = None
    finder_fee: tuple[str, float] | None = None  # (PERCENTAGE | AMOUNT, value)
    start_time: str | None = None
    end_time: str | None = None
    slot: tuple[float, float] | None = None  # simulated epoch seconds
    status: str = "CREATED"
    order_id: str | None = None
    components: list[PriceComponent] = field(default_factory=list)  # the quote
    carried: list[Outstanding] = field(default_factory=list)
    payment: Payment | None = None
    paid: float = 0.0
    session_status: str | None = None
    session_id: str | None = None
    reservation_id: str | None = None
    bill: list[PriceComponent] | None = None  # the final bill, once settled
    metered_kwh: float | None = None
    refund: float = 0.0
    # BAPs (by bap_id: their last context) refused the order yet sent copies of its callbacks:
    # only under a fault of mocks/bpp/faults.py (UBC-CTX-029)
    followers: dict[str, dict[str, Any]] = field(default_factory=dict)
    settling: bool = False  # the session's end is being handled; charger events are ignored
    repriced: bool = False

    @property
    def buyer_id(self) -> str:
        value = self.buyer.get("beckn:id")
        return value if isinstance(value, str) else ""

    @property
    def fulfillment_id(self) -> str:
        return f"fulfillment-{self.order_id or self.transaction_id}"

    @property
    def value(self) -> list[PriceComponent]:
        return self.bill if self.bill is not None else self.components

    @property
    def total(self) -> float:
        return money(sum(c.value for c in self.value))

    @property
    def cancellable(self) -> bool:
        """Only an order whose charging session has not started can be cancelled."""
        return self.status in ("CREATED", "PENDING", "CONFIRMED") and \
            self.session_status in (None, "PENDING")

    def summary(self) -> dict[str, Any]:
        """What the control API shows."""
        return {
            "order_id": self.order_id,
            "transaction_id": self.transaction_id,
            "status": self.status,
            "session_status": self.session_status,
            "payment_status": None if self.payment is None else self.payment.status,
            "item_id": self.item_id,
            "connector_id": self.connector_id,
            "buyer_id": self.buyer_id,
            "unit_price": self.unit_price,
            "currency": self.currency,
            "quote_total": money(sum(c.value for c in self.components)),
            "paid": self.paid,
            "billed": None if self.bill is None else self.total,
            "refund": self.refund,
            "metered_kwh": self.metered_kwh,
            "slot": None if self.start_time is None else {"start": self.start_time,
                                                           "end": self.end_time},
            "reservation_id": self.reservation_id,
            "session_id": self.session_id,
        }


# A BPP up for days (`ubc-cert serve`) drafts an order for every select, most never
# initialised: the oldest drafts go first past DRAFTS, the oldest orders of any kind past ORDERS.
DRAFTS = 1024
ORDERS = 4096


class OrderBook:
    """Every order journey the BPP holds, one per transaction of a BAP, oldest first; the
    oldest let go of past `drafts` orders without an id (a select's quote), or `orders` in
    all."""

    def __init__(self, drafts: int = DRAFTS, orders: int = ORDERS,
                 prune_every: int = PRUNE_EVERY) -> None:
        self._held: dict[tuple[str, str], OrderRecord] = {}  # (bap_id, transaction_id)
        self.drafts = drafts
        self.orders = orders
        self._pruning = Cadence(prune_every)

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator[OrderRecord]:
        return iter(self._held.values())

    def of_transaction(self, bap_id: str, transaction_id: str) -> OrderRecord | None:
        """The order this BAP holds in its transaction."""
        return self._held.get((bap_id, transaction_id))

    def hold(self, record: OrderRecord) -> None:
        """Keep `record` as its transaction's order (replacing an earlier draft)."""
        self._held[(record.bap_id, record.transaction_id)] = record
        if self._pruning.due():  # mocks/stack/bounded.py: within the bounds plus its cadence
            for key in oldest_past(self._held, lambda held: held.order_id is None,
                                   self.drafts, self.orders):
                del self._held[key]

    def lookup(self, key: str) -> OrderRecord | None:
        """An order by its id or its transaction id, whichever BAP placed it: the operator's
        view (control API, test hooks), never a BAP's."""
        for record in self:
            if record.order_id == key:
                return record
        return next((r for r in self if r.transaction_id == key), None)

    def referable(self, key: str) -> OrderRecord | None:
        """`lookup`, but only orders with an id (from on_init on) can be referred to."""
        record = self.lookup(key)
        return record if record is not None and record.order_id is not None else None

    def about(self, ctx: Mapping[str, Any], order: Mapping[str, Any],
              serves: Callable[[OrderRecord, str], bool],
              follows: Callable[[], bool] = lambda: False) -> OrderRecord | None:
        """The order a post-init request is about: by its id, else by the transaction; only
        orders that have an id can be referred to, and only those `serves(record, bap_id)`
        lets the requesting BAP have (its own). Served, its callbacks now go where the request
        came from; not served, it is as unknown as an order that does not exist (and the BAP
        becomes one of its followers only when `follows()`)."""
        requester = str(ctx.get("bap_id") or "")
        order_id = order.get("beckn:id")
        transaction_id = str(ctx.get("transaction_id"))
        if isinstance(order_id, str):
            record = next((r for r in self if r.order_id == order_id), None)
        else:
            record = self.of_transaction(requester, transaction_id) or next(
                (r for r in self if r.transaction_id == transaction_id), None)
        if record is None or record.order_id is None:
            return None
        if not serves(record, requester):
            if follows():
                record.followers[requester] = dict(ctx)
            return None
        record.context = dict(ctx)
        return record

    def followers_of(self, ctx: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The contexts of the followers of the order of a request's context, if any."""
        record = self.of_transaction(str(ctx.get("bap_id") or ""),
                                     str(ctx.get("transaction_id")))
        return list(record.followers.values()) if record is not None else []

    def charging(self, session_id: str) -> OrderRecord | None:
        """The order whose charging session this is."""
        return next((r for r in self if r.session_id == session_id), None)

    def placed_by(self, bap_id: str,
                  serves: Callable[[OrderRecord, str], bool]) -> list[OrderRecord]:
        """The orders `serves` lets this BAP refer to (rating, support): its own."""
        return [r for r in self if serves(r, bap_id)]


# --- reading a select or init -------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def requested_payment_status(order: Mapping[str, Any]) -> str | None:
    value = _dict(order.get("beckn:payment")).get("beckn:paymentStatus")
    return value if isinstance(value, str) else None


def rejected_echo(order: Mapping[str, Any]) -> dict[str, Any]:
    """The BAP's own (schema-valid) order, marked REJECTED, for a request the BPP cannot use."""
    echo = dict(order)
    echo["beckn:orderStatus"] = "REJECTED"
    return echo


def draft(ctx: Mapping[str, Any], order: Mapping[str, Any], site: SiteCatalog, *,
          finder_fee_pct: float) -> OrderRecord:
    """The order a select or init asks for, checked against the catalog; Rejection when the
    BPP cannot take it. `finder_fee_pct` applies when the order names no buyer finder fee."""
    items = order.get("beckn:orderItems")
    item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) \
        else {}
    wanted = item.get("beckn:orderedItem")
    connector = site.connector_for(wanted) if isinstance(wanted, str) else None
    if connector is None or not isinstance(wanted, str):
        raise Rejection(envelope.ITEM_NOT_FOUND, f"no item {wanted!r} in this catalog")
    offer = site.offer(connector)
    accepted = _dict(item.get("beckn:acceptedOffer")).get("beckn:id")
    if accepted is not None and accepted != offer["beckn:id"]:
        raise Rejection(envelope.OFFER_NOT_FOUND,
                        f"offer {accepted!r} does not apply to {wanted}; "
                        f"the item's offer is {offer['beckn:id']!r}")
    charger = site.charger
    tariff = charger.tariff(connector.tariff_id)
    record = OrderRecord(
        transaction_id=str(ctx.get("transaction_id")), bap_id=str(ctx.get("bap_id") or ""),
        context=dict(ctx),
        item_id=item_id(connector), connector_id=connector.id,
        unit_price=tariff.price_per_kwh, currency=tariff.currency,
        buyer=_dict(order.get("beckn:buyer")))
    quantity = item.get("beckn:quantity")
    if isinstance(quantity, dict):
        amount = as_number(quantity.get("unitQuantity"))
        unit = quantity.get("unitCode", "KWH")
        if amount is None or amount <= 0 or unit not in ("KWH", tariff.currency):
            raise Rejection(envelope.BUSINESS_ERROR,
                            f"quantity must be a positive number of KWH or "
                            f"{tariff.currency}, got {quantity!r}")
        record.quantity = quantity
        if unit == "KWH":
            record.quantity_kwh = amount
        else:  # a money limit: charge until this much energy cost is reached
            record.money_limit = amount
    attributes = _dict(order.get("beckn:orderAttributes"))
    fee = _dict(attributes.get("buyerFinderFee"))
    fee_value = as_number(fee.get("feeValue"))
    if fee_value is not None and fee.get("feeType") in ("PERCENTAGE", "AMOUNT"):
        record.finder_fee = (str(fee["feeType"]), fee_value)
    elif finder_fee_pct > 0:
        record.finder_fee = ("PERCENTAGE", finder_fee_pct)
    preferences = _dict(attributes.get("preferences"))
    start, end = preferences.get("startTime"), preferences.get("endTime")
    if start is not None or end is not None:
        start_s, end_s = wire_time.epoch(start), wire_time.epoch(end)
        if start_s is None or end_s is None or end_s <= start_s:
            raise Rejection(envelope.BUSINESS_ERROR,
                            "preferences need a startTime before their endTime")
        if end_s <= charger.now:
            raise Rejection(envelope.BUSINESS_ERROR, "the requested slot ended before "
                            f"now ({wire_time.format(charger.now)})")
        record.start_time, record.end_time = str(start), str(end)
        record.slot = (start_s, end_s)
    return record

