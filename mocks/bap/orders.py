"""The orders as the driver's app holds them: one `AppOrder` per estimate, built up from the
BPP's callbacks (quote, payment, confirmation, session, telemetry, bill), and the states the
client API shows for it.

The app gives each order its own id at the estimate and keeps it; the BPP's order id (from
on_init or on_confirm) is `bpp_order_id`, and either finds the order. Beckn states map onto
the contract's as follows (client-api-contract.md, "Enum Values"):

- order: `quoted_price` until the order is initialised; then ACTIVE, until the BPP reports it
  COMPLETED, or CANCELLED (also for REJECTED, FAILED and RETURNED, the ends that are not a
  completed session);
- payment: PAID once COMPLETED, REFUNDED, FAILED, else PENDING;
- charging: ACTIVE, COMPLETED, STOPPED (a stop asked or an interruption), else IDLE;
- mode: RESERVATION when the estimate named a time window, INSTANT for a walk-in; the
  estimate writes both in lower case, as the contract's §2 does, every later answer in upper
  case, as its §3-§10 do.

A callback out of order is refused (`out_of_order`, UBC-CTX-026): one stamped (its
`context.timestamp`, Beckn core's time the message was made) before the last callback the order
took in, which reports a state the order has left (harness/beckn/lifecycle.py: the flow cannot
reach it from the state held). Either alone is not enough: clocks differ and a callback may be
missed on the way, but a message both older and behind is news from before what the app knows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.beckn import envelope, lifecycle
from harness.beckn import time as wire_time
from harness.beckn.order import (
    Order,
    PriceComponent,
    dig,
    money,
    order_status,
    payment_status,
    session_status,
)
from mocks.bap.catalogs import Listing
from mocks.bap.client_requests import Vehicle
from mocks.stack.bounded import PRUNE_EVERY, Cadence, oldest_past

ENDED_UNCOMPLETED = frozenset({"CANCELLED", "REJECTED", "FAILED", "RETURNED"})
PAYMENT_SHOWN = {"COMPLETED": "PAID", "PAID": "PAID", "REFUNDED": "REFUNDED",
                 "FAILED": "FAILED"}
CHARGING_SHOWN = {"ACTIVE": "ACTIVE", "COMPLETED": "COMPLETED", "STOP": "STOPPED",
                  "INTERRUPTED": "STOPPED"}


@dataclass
class AppOrder:
    """One order as the app knows it; every Beckn field as the BPP last reported it."""

    id: str
    transaction_id: str  # the one it is continued in
    bpp_id: str
    bpp_uri: str
    listing: Listing
    vehicle: Vehicle
    reservation: bool
    beckn: Order  # what the app's requests say about the order
    energy_kwh: float | None = None  # the estimate's energy
    window: tuple[str, str] | None = None
    transaction_ids: set[str] = field(default_factory=set)  # every one it was sent in
    quote: list[PriceComponent] = field(default_factory=list)  # as on_select gave it
    quoted_at: float = field(default_factory=time.time)
    initialised: bool = False
    bpp_order_id: str | None = None
    status: str = "CREATED"
    session_status: str | None = None
    payment_status: str | None = None
    payment_amount: float | None = None
    payment_url: str | None = None
    paid: float = 0.0
    value: list[PriceComponent] = field(default_factory=list)  # quote, then bill
    telemetry: dict[str, Any] | None = None  # the latest chargingTelemetry entry
    first_telemetry: dict[str, Any] | None = None  # the first one (a fault shows it)
    charging_before: str = "IDLE"  # the charging state shown before its latest change
    tracking_url: str | None = None
    first_reading_at: float | None = None  # the earliest telemetry eventTime seen (epoch)
    cancel_reason: tuple[str | None, str | None] = (None, None)
    heard_at: float | None = None  # context.timestamp of the latest callback taken in (epoch)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.transaction_ids.add(self.transaction_id)

    @property
    def confirmed(self) -> bool:
        return self.status not in ("CREATED", "PENDING") and self.bpp_order_id is not None

    @property
    def payment_completed(self) -> bool:
        return self.payment_status in ("COMPLETED", "PAID") or self.paid > 0

    @property
    def ended(self) -> bool:
        return self.status == "COMPLETED" or self.status in ENDED_UNCOMPLETED

    @property
    def total(self) -> float:
        return money(sum(c.value for c in self.value))

    @property
    def currency(self) -> str:
        return self.beckn.currency

    # -- what the client API shows -------------------------------------------------------------

    def shown_status(self) -> str:
        if self.status == "COMPLETED":
            return "COMPLETED"
        if self.status in ENDED_UNCOMPLETED:
            return "CANCELLED"
        return "ACTIVE" if self.initialised else "quoted_price"

    def shown_payment(self) -> str:
        return PAYMENT_SHOWN.get(self.payment_status or "", "PENDING")

    def shown_charging(self) -> str:
        return CHARGING_SHOWN.get(self.session_status or "", "IDLE")

    def mode(self, *, lower: bool = False) -> str:
        mode = "RESERVATION" if self.reservation else "INSTANT"
        return mode.lower() if lower else mode

    def summary(self) -> dict[str, str]:
        """The `order` object of every answer after the estimate."""
        return {"id": self.id, "status": self.shown_status(), "mode": self.mode()}

    # -- learning from the BPP -----------------------------------------------------------------

    def continue_in(self, transaction_id: str) -> None:
        """The order's next requests go in this transaction (the one its last request used)."""
        self.transaction_id = transaction_id
        self.transaction_ids.add(transaction_id)

    def absorb(self, order: Any) -> None:
        """Take in a Beckn order the BPP sent; what it leaves out stays as it was."""
        if not isinstance(order, dict):
            return
        bpp_id = order.get("beckn:id")
        if isinstance(bpp_id, str) and bpp_id:
            self.bpp_order_id = bpp_id
            self.beckn.id = bpp_id
        self.status = self.beckn.status = order_status(order) or self.status
        session = session_status(order)
        if session is not None and session != self.session_status:
            self.charging_before = self.shown_charging()
            self.session_status = session
        payment = order.get("beckn:payment")
        if isinstance(payment, dict):
            self.payment_status = payment_status(order) or self.payment_status
            amount = dig(payment, "beckn:amount", "value")
            if isinstance(amount, int | float):
                self.payment_amount = float(amount)
                if self.payment_status == "COMPLETED" and self.paid == 0:
                    self.paid = float(amount)
            url = payment.get("beckn:paymentURL")
            self.payment_url = url if isinstance(url, str) else self.payment_url
        read = Order.from_beckn(order)
        if read.components:
            self.value = read.components
        attributes = dig(order, "beckn:fulfillment", "beckn:deliveryAttributes")
        readings = dig(attributes, "chargingTelemetry")
        if isinstance(readings, list) and readings and isinstance(readings[-1], dict):
            self.telemetry = readings[-1]
            self.first_telemetry = self.first_telemetry or readings[0]
            times = [t for r in readings if isinstance(r, dict)
                     and (t := wire_time.epoch(r.get("eventTime"))) is not None]
            if times:
                self.first_reading_at = min([*times, self.first_reading_at or min(times)])
        url = dig(order, "beckn:fulfillment", "trackingAction", "target", "url")
        self.tracking_url = url if isinstance(url, str) else self.tracking_url

    def take(self, context: dict[str, Any], order: Any) -> None:
        """Take in the Beckn `order` of a callback stamped `context.timestamp`, unless a newer
        callback was taken in already: an answer the app waited for may be read after news the
        BPP sent later (the refund after the bill), which it must not undo."""
        stamp = wire_time.epoch(context.get("timestamp"))
        if stamp is not None and self.heard_at is not None and stamp < self.heard_at:
            return
        self.absorb(order)
        if stamp is not None:
            self.heard_at = stamp

    def out_of_order(self, context: dict[str, Any], order: Any) -> str | None:
        """Why a callback stamped `context.timestamp` and reporting the Beckn `order` is out of
        order for this one, None when it is not."""
        stamp = wire_time.epoch(context.get("timestamp"))
        if stamp is None or self.heard_at is None or stamp >= self.heard_at:
            return None
        behind = lifecycle.left_behind({"order": self.status, "session": self.session_status,
                                        "payment": self.payment_status}, order)
        if not behind:
            return None
        kind, was, now = behind[0]
        return (f"out of order: stamped {context.get('timestamp')}, before the last callback "
                f"taken in ({wire_time.format(self.heard_at)}), it takes the {kind} back from "
                f"{was} to {now}")

    def quoted(self, order: Any) -> None:
        """on_select's quote: the components and the unit price the app orders at."""
        read = Order.from_beckn(order)
        self.quote = read.components
        self.quoted_at = time.time()
        self.value = list(read.components)
        self.beckn.components = list(read.components)
        if read.unit_price is not None:
            self.beckn.unit_price = read.unit_price
        self.status = order_status(order) or self.status

    def telemetry_view(self, reading: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The latest reading (or `reading`), with the session's duration so far (contract
        §4) measured from the earliest reading seen, on the charger's own clock."""
        reading = reading or self.telemetry
        if reading is None:
            return None
        metrics = [m for m in reading.get("metrics") or [] if isinstance(m, dict)]
        event = reading.get("eventTime")
        moment = wire_time.epoch(event)
        if moment is not None and self.first_reading_at is not None and \
                not any(m.get("name") == "SESSION_DURATION" for m in metrics):
            metrics.append({"name": "SESSION_DURATION", "unitCode": "min",
                            "value": round(max(0.0, moment - self.first_reading_at) / 60, 1)})
        return {"eventTime": event if isinstance(event, str) else wire_time.now(),
                "metrics": [{"name": str(m.get("name")), "value": m.get("value", 0),
                             "unitCode": str(m.get("unitCode", ""))} for m in metrics
                            if isinstance(m.get("value", 0), int | float)]}


# An app up for days (`ubc-cert serve`) is asked for estimates nobody pays for: the oldest
# quotes go first past QUOTES, the oldest orders of any kind past ORDERS.
QUOTES = 256
ORDERS = 2048


class OrderBook:
    """Every order of the app, by its id, the BPP's id, and each transaction it went in; the
    oldest let go of past `quotes` estimates not paid for, or `orders` orders in all."""

    def __init__(self, quotes: int = QUOTES, orders: int = ORDERS,
                 prune_every: int = PRUNE_EVERY) -> None:
        self._orders: dict[str, AppOrder] = {}
        self.quotes = quotes
        self.orders = orders
        self._pruning = Cadence(prune_every)
        # transaction id -> the latest order sent in it: a callback finds its order without
        # reading every order the app ever made (the scan grew with each order)
        self._by_transaction: dict[str, AppOrder] = {}

    def __iter__(self) -> Iterator[AppOrder]:
        return iter(list(self._orders.values()))

    def __len__(self) -> int:
        return len(self._orders)

    def add(self, order: AppOrder) -> None:
        self._orders[order.id] = order
        for transaction_id in order.transaction_ids:
            self._by_transaction[transaction_id] = order
        if self._pruning.due():  # mocks/stack/bounded.py: within the bounds plus its cadence
            for order_id in oldest_past(self._orders, lambda kept: not kept.initialised,
                                        self.quotes, self.orders):
                self.remove(order_id)

    def continue_in(self, order: AppOrder, transaction_id: str) -> None:
        """The order goes on in another transaction (its latest order from now on)."""
        order.continue_in(transaction_id)
        if order.id in self._orders:
            self._by_transaction[transaction_id] = order

    def remove(self, order_id: str) -> None:
        order = self._orders.pop(order_id, None)
        if order is not None:
            for transaction_id in order.transaction_ids:
                if self._by_transaction.get(transaction_id) is order:
                    del self._by_transaction[transaction_id]

    @staticmethod
    def new_id() -> str:
        return f"order-{envelope.new_id()}"

    def find(self, key: str) -> AppOrder | None:
        """An order by the app's id or the BPP's."""
        found = self._orders.get(key)
        return found or next((o for o in self if o.bpp_order_id == key), None)

    def of_transaction(self, transaction_id: str) -> AppOrder | None:
        """The latest order sent in this transaction."""
        return self._by_transaction.get(transaction_id)
