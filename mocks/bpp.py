"""The reference BPP: a conforming charge point operator platform on top of the charger simulator.

It publishes the charger site as a UBC catalog (connectors as items, tariffs as offers) and
serves the whole order journey of TSD §11 and the corner cases of §12 through the shared inbox
(verify, validate, ACK) and outbox (sign, send, record). Every callback is asynchronous: the
inbox answers first, then the handler builds and signs `on_<action>` for `context.bap_uri`.

States follow the table of the profile notes (`on_select` CREATED, `on_init` CREATED with
payment INITIATED, unsolicited `on_status` PENDING/COMPLETED once paid, `on_confirm` CONFIRMED
with session PENDING, start INPROGRESS/ACTIVE, final bill COMPLETED, refund REFUNDED). Value
and business errors travel in the callback's `error` (TSD §13), never in the NACK.

Two readings the examples leave open, taken here:
- An `update` asks to stop when its order's fulfillment says `sessionStatus: STOP`
  (14_01_update), and to start otherwise (09_update says PENDING).
- The order gets its `beckn:id` at `on_init` (06_on_init) and keeps it; the unsolicited
  payment `on_status` already needs it.

Fault switches (`FAULTS`) make the BPP misbehave in exactly one way each, so the harness can
prove it notices; they are switched at run time through `/_control/faults`. The control API
also offers the test hooks a certification plays the physical world with (harness/hooks.py:
payment, plug-in, pulled cable, time, overrun, operator cancel) at `/_control/hooks`, so the
reference BPP can be certified like any candidate with `control_url = <root>/_control/hooks`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.beckn.order import (
    CORE_CONTEXT,
    OFFER_CONTEXT,
    SERVICE_CONTEXT,
    SESSION_CONTEXT,
    UBC_CONTEXT,
    Fulfillment,
    Order,
    Payment,
    PriceComponent,
    Telemetry,
    money,
)
from harness.beckn.order import session_status as requested_session_status
from harness.beckn.time import format as rfc3339
from harness.schemas import SchemaSet
from harness.transcript import Transcript
from mocks.charger import (
    ENDED,
    HOLDING,
    Charger,
    ChargerError,
    Connector,
    Event,
    EventType,
    PowerType,
    Reservation,
    ReservationStatus,
    Session,
    SessionStatus,
    run_ticker,
)
from mocks.stack import Directory, Identity, Inbound, Inbox, Outbox, Sent
from mocks.stack.inbox import skip, verify_signatures

log = logging.getLogger("ubc.mocks.bpp")

# --- fault switches ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    rule: str  # the rule of harness/rules.py a certifying harness must report
    description: str


FAULTS: dict[str, Fault] = {
    "bad-callback-signature": Fault(
        "UBC-SIG-009", "callbacks carry a signature whose bytes were altered after signing"),
    "unsigned-callback": Fault("UBC-SIG-001", "callbacks carry no Authorization header"),
    "expired-callback-signature": Fault(
        "UBC-SIG-007", "callbacks are signed with a window that ended 5 minutes ago"),
    "wrong-key-callback": Fault(
        "UBC-SIG-009", "callbacks are signed with a key that is not the one the registry holds "
        "for the BPP's keyId (the keyId itself is the registered one)"),
    "late-callback": Fault(
        "UBC-TIME-002", "every solicited callback is sent 1 s after the request's ttl ran out"),
    "missing-callback": Fault("UBC-TIME-003", "select is acknowledged but on_select never comes"),
    "duplicate-callback": Fault(
        "UBC-TIME-004", "every solicited callback is sent twice (same body, fresh signature)"),
    "wrong-transaction-id": Fault(
        "UBC-CTX-012", "solicited callbacks carry a new transaction_id"),
    "wrong-message-id": Fault("UBC-CTX-013", "solicited callbacks carry a new message_id"),
    "schema-invalid-callback": Fault(
        "UBC-SCH-004", "on_select's order has no beckn:orderItems"),
    "illegal-state-transition": Fault(
        "UBC-STATE-001", "on_confirm reports the order COMPLETED instead of CONFIRMED"),
    "quote-total-mismatch": Fault(
        "UBC-CONS-001", "on_select's orderValue.value is 10 more than the sum of its components"),
    "accepts-tampered-request": Fault(
        "UBC-SIG-013", "requests whose body no longer matches their signature are ACKed"),
    "accepts-expired-signature": Fault(
        "UBC-SIG-013", "requests with an expired signature are ACKed"),
    "acks-schema-invalid-request": Fault(
        "UBC-SCH-011", "schema-invalid requests are ACKed instead of NACKed with 400"),
    "unsolicited-reuses-message-id": Fault(
        "UBC-CTX-014", "unsolicited callbacks reuse the message_id of the transaction's last "
        "request"),
    "changes-price-after-select": Fault(
        "UBC-CONS-004", "on_init quotes a unit price 10% above the one on_select quoted"),
}

# --- configuration ----------------------------------------------------------------------------

SERVICE_FEE_DESCRIPTION = "Service fee"
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


@dataclass
class BppConfig:
    """Who the BPP is and how it trades. Fees are in the tariff's currency."""

    identity: Identity
    cds_uri: str | None = None
    ttl: str = envelope.DEFAULT_TTL  # of the BPP's own requests (catalog_publish)
    provider_id: str = "ecopower-charging"
    provider_name: str = "EcoPower Charging Pvt Ltd"
    faults: set[str] = field(default_factory=set)
    service_fee: float = 10.0
    buyer_finder_fee_pct: float = 2.5  # when the BAP's order names none
    surge_pct: float = 0.0
    discount_pct: float = 0.0
    cancellation_fee: float = 10.0
    free_cancellation_before_s: float = 900.0  # a slot cancelled this early is free
    default_energy_kwh: float = 5.0  # the estimate quoted when the order names no quantity
    payment_url_template: str = ("https://pay.ecopower.example/pay?"
                                 "transaction_id={transaction_id}&amount={amount}")
    tracking_url_base: str = "https://track.ecopower.example/session"
    qr_base_url: str = "https://charge.ecopower.example/qr"
    feedback_url_base: str = "https://ecopower.example/feedback"
    support_url_base: str = "https://support.ecopower.example/ticket"
    support_phone: str = "18001080"
    support_email: str = "support@ecopower.example"
    callback_delay_s: float = 0.0
    payment_delay_s: float | None = 0.5  # payment completes this long after on_init; None: wait
    reservation_grace_s: float = 600.0
    early_start_s: float = 600.0  # a driver may start this long before the slot's hold begins
    # Energy the charger delivers past the order's limit before it stops: a charger that
    # fails to stop, the cause of an overcharge (TSD §12.5.2).
    limit_overrun_kwh: float = 0.0
    vehicle_battery_kwh: float = 40.0
    vehicle_soc_start: float = 20.0
    tick_interval_s: float | None = 0.5  # real seconds between charger ticks on a running clock

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")


class BppError(Exception):
    """A control request the BPP refuses: `status` is the HTTP status the control API answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# --- orders -----------------------------------------------------------------------------------


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
    """One order journey as the BPP holds it, keyed by transaction id."""

    transaction_id: str
    context: dict[str, Any]  # the last request's context: where unsolicited callbacks go
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


class Rejection(Exception):
    """A request the BPP answers with a business error in the callback."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def business_error(code: str, description: str) -> dict[str, Any]:
    """A callback's `error` object, shaped like the official rejections."""
    return {"code": code, "message": ERROR_MESSAGES.get(code, "Error"),
            "details": {"description": description}}


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def duration_s(ttl: Any, default: float = 30.0) -> float:
    """Seconds of an ISO 8601 duration (PT30S -> 30); `default` when it cannot be read."""
    match = _DURATION.match(ttl) if isinstance(ttl, str) else None
    if match is None or ttl in ("P", "PT"):
        return default
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _fmt(value: float) -> str:
    """A number for a description: 18 not 18.0, at most 3 decimals."""
    return f"{round(value, 3):g}"


# --- the BPP ----------------------------------------------------------------------------------

ACTIONS = ("discover", "select", "init", "confirm", "status", "track", "update", "cancel",
           "rating", "support")
# The test hooks a certification calls at `{control_url}/<hook>` (harness/hooks.py).
HOOKS = ("payment-completed", "plug-in", "cable-pulled", "advance", "overrun",
         "cancel-by-provider")
OVERRUN_STEP_S = 600.0
OVERRUN_MAX_STEPS = 144  # a day of simulated charging at most


class ReferenceBpp:
    """A conforming BPP; all state lives here and is touched only on the serving event loop."""

    def __init__(self, config: BppConfig, charger: Charger, transcript: Transcript, *,
                 directory: Directory, schemas: SchemaSet,
                 http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.identity = config.identity
        self.charger = charger
        self.transcript = transcript
        self.orders: dict[str, OrderRecord] = {}  # by transaction id
        self.outstanding: dict[str, list[Outstanding]] = {}  # by buyer id
        self.published_catalog: dict[str, Any] | None = None
        self.publish_results: list[dict[str, Any]] = []
        self.ratings: list[dict[str, Any]] = []
        self.tickets: list[dict[str, Any]] = []
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient()
        self.outbox = Outbox(self.identity, transcript, self.http, party="bpp")
        handlers = {action: self._receive for action in ACTIONS}
        handlers["on_catalog_publish"] = self._on_catalog_publish
        self.inbox = Inbox(self.identity, directory, transcript, schemas, handlers,
                           party="bpp")
        rogue = signing.KeyPair.generate(self.identity.subscriber_id, self.identity.key_id)
        self._rogue_signer = signing.Signer.from_keypair(rogue)  # for wrong-key-callback
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._items = {self.item_id(c): c.id for c in charger.connectors()}
        self.set_faults(config.faults)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop: charger events, and ticks when its clock runs by itself."""
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.charger.subscribe(self._on_charger_event)
        interval = self.config.tick_interval_s
        if interval and self.charger.clock.speed > 0:
            self._ticker = asyncio.create_task(run_ticker(self.charger, interval))

    async def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        pending = [t for t in (*self._tasks, self._ticker) if t is not None]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._ticker = None
        if self._owns_http:
            await self.http.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:  # one order's bug must not stop the others; it is logged
            log.exception("BPP task failed")

    # -- faults --------------------------------------------------------------------------------

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self.config.faults)

    def set_faults(self, names: set[str] | frozenset[str] | list[str]) -> None:
        """Switch exactly these faults on (ValueError for an unknown name)."""
        wanted = set(names)
        unknown = wanted - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        self.config.faults = wanted
        ignored: set[str] = set()
        if "accepts-tampered-request" in wanted:
            ignored |= {signing.DIGEST_MISMATCH, signing.BAD_SIGNATURE}
        if "accepts-expired-signature" in wanted:
            ignored.add(signing.EXPIRED)
        self.inbox.reset_steps()
        if ignored:
            self.inbox.replace_step("signature", verify_signatures(ignore=frozenset(ignored)))
        if "acks-schema-invalid-request" in wanted:
            self.inbox.replace_step("schema", skip)

    # -- catalog -------------------------------------------------------------------------------

    @staticmethod
    def item_id(connector: Connector) -> str:
        """EVSE id and connector id, the form of the official examples."""
        return f"{connector.evse_id}*{connector.id}" if connector.evse_id else connector.id

    def offer_id(self, connector: Connector) -> str:
        return f"offer-{connector.id}-{connector.tariff_id}".lower()

    def connector_for(self, item_id: str) -> Connector | None:
        connector_id = self._items.get(item_id, item_id)
        try:
            return self.charger.connector(connector_id)
        except ChargerError:
            return None

    def _provider(self) -> dict[str, Any]:
        return {"beckn:id": self.config.provider_id,
                "beckn:descriptor": {"@type": "beckn:Descriptor",
                                     "schema:name": self.config.provider_name}}

    def _item(self, connector: Connector) -> dict[str, Any]:
        location = self.charger.location(connector.location_id)
        point = next(cp for cp in location.charge_points if cp.id == connector.charge_point_id)
        power_type = "DC" if connector.power_type is PowerType.DC else (
            "AC_3_PHASE" if connector.phases > 1 else "AC_SINGLE_PHASE")
        kw = connector.max_power_kw
        speed = "SLOW" if kw <= 7.4 else "NORMAL" if kw <= 22 else "FAST" if kw < 150 \
            else "ULTRAFAST"
        address = location.address
        return {
            "@context": CORE_CONTEXT, "@type": "beckn:Item",
            "beckn:id": self.item_id(connector),
            "beckn:descriptor": {
                "@type": "beckn:Descriptor", "schema:name": point.name,
                "beckn:shortDesc": f"{kw:g} kW {connector.type.value} connector at "
                                   f"{location.name}"},
            "beckn:category": {"@type": "schema:CategoryCode", "schema:codeValue": "ev-charging",
                               "schema:name": "EV Charging"},
            "beckn:rateable": True,
            "beckn:isActive": connector.available and not connector.faulted,
            "beckn:provider": self._provider(),
            "beckn:itemAttributes": {
                "@context": SERVICE_CONTEXT, "@type": "ChargingService",
                "connectorType": connector.type.value, "maxPowerKW": kw,
                "reservationSupported": True,
                "chargingStation": {"id": point.id, "serviceLocation": {
                    "@type": "beckn:Location",
                    "geo": {"type": "Point",
                            "coordinates": [location.longitude, location.latitude]},
                    "address": {"streetAddress": address.street,
                                "addressLocality": address.locality,
                                "addressRegion": address.region,
                                "postalCode": address.postal_code,
                                "addressCountry": address.country}}},
                "evseId": connector.evse_id or connector.id,
                "qrIdentifier": f"{self.config.qr_base_url}/{connector.id}",
                "powerType": power_type,
                "connectorFormat": "CABLE" if connector.power_type is PowerType.DC
                else "SOCKET",
                "chargingSpeed": speed,
            },
        }

    def offer(self, connector: Connector) -> dict[str, Any]:
        tariff = self.charger.tariff(connector.tariff_id)
        attributes: dict[str, Any] = {"@context": OFFER_CONTEXT, "@type": "ChargingOffer",
                                      "tariffModel": "PER_KWH"}
        if tariff.idle_fee_per_minute > 0:
            attributes["idleFeePolicy"] = {
                "currency": tariff.currency, "value": tariff.idle_fee_per_minute,
                "applicableQuantity": {"unitCode": "MIN", "unitText": "minutes",
                                       "unitQuantity": 1}}
        return {
            "@context": CORE_CONTEXT, "@type": "beckn:Offer",
            "beckn:id": self.offer_id(connector),
            "beckn:descriptor": {"@type": "beckn:Descriptor",
                                 "schema:name": f"Per-kWh tariff - {connector.type.value} "
                                                f"{connector.max_power_kw:g}kW"},
            "beckn:items": [self.item_id(connector)],
            "beckn:provider": self.config.provider_id,
            "beckn:price": {"currency": tariff.currency, "value": tariff.price_per_kwh,
                            "applicableQuantity": {"unitText": "Kilowatt Hour",
                                                   "unitCode": "KWH", "unitQuantity": 1}},
            "beckn:acceptedPaymentMethod": ["UPI", "CREDIT_CARD", "WALLET"],
            "beckn:offerAttributes": attributes,
        }

    def catalog(self) -> dict[str, Any]:
        """The site as one catalog: every connector an item, its tariff an offer."""
        connectors = self.charger.connectors()
        return {
            "@context": CORE_CONTEXT, "@type": "beckn:Catalog",
            "beckn:id": f"catalog-{self.config.provider_id}",
            "beckn:descriptor": {"@type": "beckn:Descriptor",
                                 "schema:name": f"{self.config.provider_name} charging network"},
            "beckn:providerId": self.config.provider_id,
            "beckn:bppId": self.identity.subscriber_id,
            "beckn:bppUri": self.identity.uri,
            "beckn:isActive": True,
            "beckn:items": [self._item(c) for c in connectors],
            "beckn:offers": [self.offer(c) for c in connectors],
        }

    async def publish(self, cds_uri: str | None = None) -> Sent:
        """Send `catalog_publish` to the CDS; its on_catalog_publish lands in publish_results."""
        target = cds_uri or self.config.cds_uri
        if not target:
            raise BppError(409, "NO_CDS", "no CDS is configured to publish to")
        catalog = self.catalog()
        ctx = envelope.context("catalog_publish", transaction_id=envelope.new_id(),
                               bpp_id=self.identity.subscriber_id, bpp_uri=self.identity.uri,
                               ttl=self.config.ttl)
        self.published_catalog = catalog
        return await self.outbox.send(target, "catalog_publish",
                                      {"context": ctx, "message": {"catalogs": [catalog]}})

    async def _on_catalog_publish(self, inbound: Inbound) -> None:
        results = inbound.message.get("results")
        if isinstance(results, list):
            self.publish_results.extend(r for r in results if isinstance(r, dict))

    # -- lookups -------------------------------------------------------------------------------

    def order(self, key: str) -> OrderRecord | None:
        """An order by its id or its transaction id."""
        for record in self.orders.values():
            if record.order_id == key:
                return record
        return self.orders.get(key)

    def _find(self, ctx: Mapping[str, Any], order: Mapping[str, Any]) -> OrderRecord | None:
        """The order a post-init request is about: by its id, else by the transaction; only
        orders that have an id (from on_init on) can be referred to."""
        order_id = order.get("beckn:id")
        if isinstance(order_id, str):
            record = next((r for r in self.orders.values() if r.order_id == order_id), None)
        else:
            record = self.orders.get(str(ctx.get("transaction_id")))
        if record is None or record.order_id is None:
            return None
        record.context = dict(ctx)
        return record

    async def _find_or_refuse(self, ctx: dict[str, Any], order: Mapping[str, Any],
                              missing: str = "no such order") -> OrderRecord | None:
        """The order a request is about, or None after answering it with 30010."""
        record = self._find(ctx, order)
        if record is None:
            await self._reply(ctx, {}, error=business_error(envelope.ORDER_NOT_FOUND, missing))
        return record

    def balance(self, buyer_id: str) -> float:
        """What a buyer still owes from overcharged sessions."""
        return money(sum(entry.amount for entry in self.outstanding.get(buyer_id, [])))

    # -- receiving -----------------------------------------------------------------------------

    async def _receive(self, inbound: Inbound) -> None:
        # the inbox runs this after its ACK; the work gets its own task so shutdown can stop it
        self._spawn(self._dispatch(inbound))

    async def _dispatch(self, inbound: Inbound) -> None:
        context = inbound.doc.get("context")
        message = inbound.doc.get("message")
        if not isinstance(context, dict) or not isinstance(message, dict):
            return  # only reachable when acks-schema-invalid-request let it in
        if context.get("action") != inbound.action:  # the same fault: answer the route's action
            context = {**context, "action": inbound.action}
        handler = getattr(self, f"_handle_{inbound.action}")
        await handler(context, message)

    async def _handle_discover(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        # Filtering is the CDS's job; a BPP asked directly answers with its whole catalog.
        await self._reply(ctx, {"catalogs": [self.catalog()]})

    async def _draft_or_refuse(self, ctx: dict[str, Any], message: dict[str, Any], *,
                               keep_terms: bool) -> OrderRecord | None:
        """The order a select or init describes, held for its transaction; None when the
        request was refused (its callback is already sent): order past CREATED, unknown item,
        or a slot overlapping a confirmed booking (40000, TSD §12.4). With `keep_terms`, what
        the BPP said at select (order id, price, repricing) carries over."""
        order = _dict(message.get("order"))
        txn = str(ctx.get("transaction_id"))
        existing = self.orders.get(txn)
        if existing is not None and existing.status not in ("CREATED", "REJECTED"):
            existing.context = dict(ctx)
            await self._reply(ctx, {"order": self._order(existing)}, error=business_error(
                envelope.ACTION_NOT_APPLICABLE, f"order is already {existing.status}"))
            return None
        try:
            record = self._draft(ctx, order)
        except Rejection as rejection:
            await self._reply(ctx, {"order": _rejected_echo(order)},
                              error=business_error(rejection.code, rejection.description))
            return None
        if keep_terms and existing is not None:
            record.order_id, record.repriced = existing.order_id, existing.repriced
            record.unit_price = existing.unit_price
        self.orders[txn] = record
        conflict = self._slot_conflict(record)
        if conflict is not None:
            record.status = "REJECTED"
            await self._reply(ctx, {"order": self._order(record, value=False)},
                              error=business_error(envelope.BUSINESS_ERROR, conflict))
            return None
        return record

    async def _handle_select(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        record = await self._draft_or_refuse(ctx, message, keep_terms=False)
        if record is None:
            return
        record.carried = list(self.outstanding.get(record.buyer_id, []))
        record.components = self._quote(record)
        doc = self._order(record)
        if "schema-invalid-callback" in self.faults:
            doc.pop("beckn:orderItems", None)
        if "quote-total-mismatch" in self.faults:
            doc["beckn:orderValue"]["value"] = money(doc["beckn:orderValue"]["value"] + 10)
        await self._reply(ctx, {"order": doc})

    async def _handle_init(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        txn = str(ctx.get("transaction_id"))
        record = await self._draft_or_refuse(ctx, message, keep_terms=True)
        if record is None:
            return
        if "changes-price-after-select" in self.faults and not record.repriced:
            record.unit_price = money(record.unit_price * 1.1)
            record.repriced = True
        record.carried = list(self.outstanding.get(record.buyer_id, []))
        record.components = self._quote(record)
        order_id = record.order_id = record.order_id or f"order-{envelope.new_id()[:8]}"
        total = money(sum(c.value for c in record.components))
        record.payment = Payment(
            status="INITIATED", amount=total, id=f"payment-{envelope.new_id()}",
            url=self.config.payment_url_template.format(transaction_id=txn, amount=f"{total:.2f}"),
            txn_ref=f"TXN-{envelope.new_id()[:12].replace('-', '').upper()}",
            currency=record.currency)
        await self._reply(ctx, {"order": self._order(record)})
        delay = self.config.payment_delay_s
        if delay is not None:
            if delay > 0:
                await asyncio.sleep(delay)  # the buyer paying, simulated
            # unless a later init replaced this order, or it was paid or cancelled meanwhile
            if self.orders.get(txn) is record and record.status == "CREATED" and \
                    record.payment.status == "INITIATED":
                await self.complete_payment(order_id)

    async def complete_payment(self, order_id: str) -> OrderRecord:
        """The payment gateway reports the payment done: order PENDING, unsolicited on_status."""
        record = self._control_target(order_id)
        if record.payment is None or record.payment.status != "INITIATED" or \
                record.status != "CREATED":
            raise BppError(409, "NOT_AWAITING_PAYMENT",
                           f"order {order_id} is {record.status} and awaits no payment")
        self._mark_paid(record)
        await self._notify(record, "on_status", {"order": self._order(record)})
        return record

    def _mark_paid(self, record: OrderRecord) -> None:
        assert record.payment is not None
        record.payment.status = "COMPLETED"
        record.payment.paid_at = wire_time.now()
        record.payment.upi_transaction_id = f"UPI{int(time.time() * 1000) % 10**12:012d}"
        record.paid = record.payment.amount
        record.status = "PENDING"
        # a balance carried into this order is now collected
        ledger = self.outstanding.get(record.buyer_id, [])
        for entry in record.carried:
            if entry in ledger:
                ledger.remove(entry)

    async def _handle_confirm(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        order = _dict(message.get("order"))
        record = await self._find_or_refuse(
            ctx, order, "no order to confirm: select and init come first")
        if record is None:
            return
        if record.status == "CONFIRMED":
            await self._reply(ctx, {"order": self._confirmed(record)})
            return
        if record.status == "CREATED" and record.payment is not None and \
                requested_payment_status(order) == "COMPLETED":
            self._mark_paid(record)  # the BAP collected the payment and says so (TSD §12.0)
        if record.status != "PENDING":
            reason = "payment is not completed" if record.status == "CREATED" else \
                f"order is {record.status}"
            await self._reply(ctx, {"order": self._order(record)}, error=business_error(
                envelope.BUSINESS_ERROR, f"cannot confirm: {reason}"))
            return
        if record.slot is not None and record.reservation_id is None:
            try:
                reservation = self.charger.reserve(
                    record.connector_id, self._hold_start(record), record.slot[1],
                    self.config.reservation_grace_s)
            except ChargerError as exc:
                await self._reply(ctx, {"order": self._order(record, status="REJECTED")},
                                  error=business_error(envelope.BUSINESS_ERROR,
                                                       f"slot cannot be reserved: {exc.message}"))
                return
            record.reservation_id = reservation.id
        record.status = "CONFIRMED"
        record.session_status = "PENDING"
        doc = self._confirmed(record)
        if "illegal-state-transition" in self.faults:
            doc["beckn:orderStatus"] = "COMPLETED"
        await self._reply(ctx, {"order": doc})

    async def _handle_status(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        record = await self._find_or_refuse(ctx, _dict(message.get("order")))
        if record is None:
            return
        self.charger.tick()
        await self._reply(ctx, {"order": self._current(record)})

    async def _handle_update(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        order = _dict(message.get("order"))
        record = await self._find_or_refuse(ctx, order)
        if record is None:
            return
        if requested_session_status(order) == "STOP":
            await self._stop(ctx, record)
        else:
            await self._start(ctx, record)

    async def _start(self, ctx: dict[str, Any], record: OrderRecord) -> None:
        if record.status == "INPROGRESS":  # a repeated start: the session already runs
            await self._reply(ctx, {"order": self._current(record)})
            return
        if record.status != "CONFIRMED":
            await self._reply(ctx, {"order": self._current(record)}, error=business_error(
                envelope.ACTION_NOT_APPLICABLE, f"cannot start: order is {record.status}"))
            return
        overrun = self.config.limit_overrun_kwh
        energy_limit = money_limit = None
        if record.money_limit is not None:
            money_limit = record.money_limit + overrun * record.unit_price
        else:
            energy_limit = (record.quantity_kwh or self.config.default_energy_kwh) + overrun
        early = self._early_hold(record)
        if early is not None:  # the driver is a little early: the hold is not needed now
            self.charger.cancel_reservation(early.id)
            record.reservation_id = None
        try:
            session = self.charger.remote_start(
                record.connector_id, energy_limit_kwh=energy_limit, money_limit=money_limit,
                reservation_id=record.reservation_id,
                vehicle_battery_kwh=self.config.vehicle_battery_kwh,
                soc_start=self.config.vehicle_soc_start)
        except ChargerError as exc:
            if early is not None:  # keep the booking for when the driver can start
                record.reservation_id = self.charger.reserve(
                    early.connector_id, early.start, early.end, early.grace_s).id
            # the start is refused, the order stays CONFIRMED so the driver can try again
            await self._reply(ctx, {"order": self._current(record, status="REJECTED")},
                              error=business_error(envelope.FULFILMENT_AGENT_UNAVAILABLE,
                                                   f"Charger refused to start: {exc.message}"))
            return
        record.session_id = session.id
        record.status = "INPROGRESS"
        record.session_status = "ACTIVE"
        await self._reply(ctx, {"order": self._current(record)})

    def _early_hold(self, record: OrderRecord) -> Reservation | None:
        """The order's own hold when it has not begun yet but begins within
        `early_start_s`: a driver who arrives that early may charge at once."""
        if record.reservation_id is None:
            return None
        self.charger.tick()
        reservation = self.charger.reservation(record.reservation_id)
        if reservation.status is ReservationStatus.PENDING and \
                reservation.start - self.charger.now <= self.config.early_start_s:
            return reservation
        return None

    async def _stop(self, ctx: dict[str, Any], record: OrderRecord) -> None:
        if record.bill is not None:  # already settled (limit reached, interrupted): same bill
            await self._reply(ctx, {"order": self._current(record)})
            return
        if record.status != "INPROGRESS" or record.session_id is None:
            await self._reply(ctx, {"order": self._current(record)}, error=business_error(
                envelope.ACTION_NOT_APPLICABLE, f"no charging session to stop: order is "
                f"{record.status}"))
            return
        record.settling = True
        session = self.charger.session(record.session_id)
        if session.status not in (SessionStatus.COMPLETED, SessionStatus.INTERRUPTED):
            # the CDR is final at once: the charge point's stop confirmation is not awaited
            session = self.charger.remote_stop(record.session_id, force=True)
        self._settle(record, session)
        await self._reply(ctx, {"order": self._current(record)})
        await self._refund_if_due(record)

    async def _handle_track(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        record = await self._find_or_refuse(ctx, _dict(message.get("order")))
        if record is None:
            return
        self.charger.tick()
        if record.session_id is None:
            await self._reply(ctx, {"order": self._tracked(record)}, error=business_error(
                envelope.ACTION_NOT_APPLICABLE, "no charging session has started to track"))
            return
        await self._reply(ctx, {"order": self._tracked(record)})

    async def _handle_cancel(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        record = await self._find_or_refuse(ctx, _dict(message.get("order")))
        if record is None:
            return
        if record.status == "CANCELLED":
            await self._reply(ctx, {"order": self._current(record)})
            return
        if not self._cancellable(record):
            await self._reply(ctx, {"order": self._current(record)}, error=business_error(
                envelope.CANCELLATION_NOT_POSSIBLE,
                f"the charging session has started (order {record.status}); only an order "
                "whose session is PENDING can be cancelled"))
            return
        self._cancel(record, fee=self._cancellation_fee(record),
                     reason="Cancellation fee")
        await self._reply(ctx, {"order": self._current(record)})

    async def cancel_by_provider(self, order_id: str) -> OrderRecord:
        """The CPO cannot serve the order: full refund, unsolicited on_cancel (TSD §12.1)."""
        record = self._control_target(order_id)
        if not self._cancellable(record):
            raise BppError(409, "NOT_CANCELLABLE",
                           f"order {order_id} is {record.status}; only orders whose session "
                           "has not started can be cancelled")
        self._cancel(record, fee=0.0, reason="Cancellation fee (waived: cancelled by the CPO)")
        await self._notify(record, "on_cancel", {"order": self._current(record)})
        return record

    @staticmethod
    def _cancellable(record: OrderRecord) -> bool:
        return record.status in ("CREATED", "PENDING", "CONFIRMED") and \
            record.session_status in (None, "PENDING")

    def _cancellation_fee(self, record: OrderRecord) -> float:
        if record.paid <= 0:
            return 0.0
        if record.slot is not None and \
                record.slot[0] - self.charger.now >= self.config.free_cancellation_before_s:
            return 0.0  # cancelled early enough before the slot
        return min(self.config.cancellation_fee, record.paid)

    def _cancel(self, record: OrderRecord, *, fee: float, reason: str) -> None:
        if record.reservation_id is not None:
            with contextlib.suppress(ChargerError):  # it may have expired already
                self.charger.cancel_reservation(record.reservation_id)
        record.status = "CANCELLED"
        record.session_status = None  # no session will follow; on_cancel carries none
        record.bill = [PriceComponent("FEE", money(fee), reason, record.currency)]
        if record.payment is not None and record.payment.status == "COMPLETED":
            record.refund = money(record.paid - fee)
            record.payment = replace(record.payment, status="REFUNDED", amount=record.refund,
                                     paid_at=wire_time.now())
            # a balance carried into this order is refunded with it, so it is owed again
            self.outstanding.setdefault(record.buyer_id, []).extend(record.carried)

    async def _handle_rating(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        ratings = [r for r in message.get("ratings", []) if isinstance(r, dict)]
        known = {*self._items, *(c.id for c in self.charger.connectors()),
                 self.config.provider_id}
        for record in self.orders.values():
            known |= {record.order_id or "", record.fulfillment_id}
        rated = [r for r in ratings if r.get("id") in known]
        if not rated:
            await self._reply(ctx, {"received": False}, error=business_error(
                envelope.ENTITY_TO_RATE_NOT_FOUND, "none of the rated ids is known"))
            return
        self.ratings.extend(rated)
        submission = f"feedback-{envelope.new_id()}"
        await self._reply(ctx, {"received": True, "feedbackForm": {
            "@context": CORE_CONTEXT, "@type": "beckn:Form",
            "url": f"{self.config.feedback_url_base}/{submission}",
            "mime_type": "text/html", "submission_id": submission}})

    async def _handle_support(self, ctx: dict[str, Any], message: dict[str, Any]) -> None:
        ticket = f"SUP-{envelope.new_id()[:8].upper()}"
        self.tickets.append({"ticket": ticket, "request": message})
        support = {"@context": CORE_CONTEXT, "@type": "beckn:SupportInfo",
                   "name": f"{self.config.provider_name} support",
                   "phone": self.config.support_phone, "email": self.config.support_email,
                   "url": f"{self.config.support_url_base}/{ticket}",
                   "hours": "Mon-Sun 24/7 IST", "channels": ["PHONE", "EMAIL", "WEB"]}
        feedback = {"@context": UBC_CONTEXT, "@type": "SupportFeedback",
                    "supportStatus": "ACKNOWLEDGED"}
        ref_id, ref_type = message.get("refId"), message.get("refType")
        if ref_type == "ORDER" and isinstance(ref_id, str) and self.order(ref_id) is None:
            await self._reply(ctx, {"support": support}, error=business_error(
                envelope.ORDER_NOT_FOUND, f"no order {ref_id}"))
            return
        await self._reply(ctx, {"support": support, "feedback": feedback})

    # -- orders: drafting, pricing, settling ---------------------------------------------------

    def _draft(self, ctx: Mapping[str, Any], order: Mapping[str, Any]) -> OrderRecord:
        """The order a select or init asks for, checked against the catalog."""
        items = order.get("beckn:orderItems")
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) \
            else {}
        item_id = item.get("beckn:orderedItem")
        connector = self.connector_for(item_id) if isinstance(item_id, str) else None
        if connector is None or not isinstance(item_id, str):
            raise Rejection(envelope.ITEM_NOT_FOUND, f"no item {item_id!r} in this catalog")
        offer = self.offer(connector)
        offer_id = _dict(item.get("beckn:acceptedOffer")).get("beckn:id")
        if offer_id is not None and offer_id != offer["beckn:id"]:
            raise Rejection(envelope.OFFER_NOT_FOUND,
                            f"offer {offer_id!r} does not apply to {item_id}; "
                            f"the item's offer is {offer['beckn:id']!r}")
        tariff = self.charger.tariff(connector.tariff_id)
        record = OrderRecord(
            transaction_id=str(ctx.get("transaction_id")), context=dict(ctx),
            item_id=self.item_id(connector), connector_id=connector.id,
            unit_price=tariff.price_per_kwh, currency=tariff.currency,
            buyer=_dict(order.get("beckn:buyer")))
        quantity = item.get("beckn:quantity")
        if isinstance(quantity, dict):
            amount = _number(quantity.get("unitQuantity"))
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
        fee_value = _number(fee.get("feeValue"))
        if fee_value is not None and fee.get("feeType") in ("PERCENTAGE", "AMOUNT"):
            record.finder_fee = (str(fee["feeType"]), fee_value)
        elif self.config.buyer_finder_fee_pct > 0:
            record.finder_fee = ("PERCENTAGE", self.config.buyer_finder_fee_pct)
        preferences = _dict(attributes.get("preferences"))
        start, end = preferences.get("startTime"), preferences.get("endTime")
        if start is not None or end is not None:
            start_s, end_s = _epoch(start), _epoch(end)
            if start_s is None or end_s is None or end_s <= start_s:
                raise Rejection(envelope.BUSINESS_ERROR,
                                "preferences need a startTime before their endTime")
            if end_s <= self.charger.now:
                raise Rejection(envelope.BUSINESS_ERROR, "the requested slot ended before "
                                f"now ({rfc3339(self.charger.now)})")
            record.start_time, record.end_time = str(start), str(end)
            record.slot = (start_s, end_s)
        return record

    def _hold_start(self, record: OrderRecord) -> float:
        """When the charger holds the connector: the slot's start, except that a car whose
        session has ended does not block a slot starting now (it is leaving; the charger
        refuses only a hold that starts while it is still plugged, so it starts a second
        later)."""
        assert record.slot is not None
        start, now = record.slot[0], self.charger.now
        connector = self.charger.connector(record.connector_id)
        if start <= now and connector.plugged and connector.session_id is not None and \
                self.charger.session(connector.session_id).status in ENDED:
            return now + 1.0
        return start

    def _slot_conflict(self, record: OrderRecord) -> str | None:
        """Why the slot cannot be had (TSD §12.4), or None."""
        if record.slot is None:
            return None
        start, end = record.slot
        for reservation in self.charger.reservations():
            if reservation.connector_id == record.connector_id and \
                    reservation.status in HOLDING and reservation.id != record.reservation_id \
                    and start < reservation.end and reservation.start < end:
                return (f"Requested slot overlaps with an existing booking "
                        f"({rfc3339(reservation.start)} to {rfc3339(reservation.end)})")
        return None

    def _energy_estimate(self, record: OrderRecord) -> float:
        if record.quantity_kwh is not None:
            return record.quantity_kwh
        if record.money_limit is not None:
            return record.money_limit / record.unit_price
        return self.config.default_energy_kwh

    def _quote(self, record: OrderRecord) -> list[PriceComponent]:
        price = record.unit_price
        if record.money_limit is not None:
            unit = PriceComponent(
                "UNIT", money(record.money_limit),
                f"Charging budget ({_fmt(record.money_limit)} {record.currency} at "
                f"{_fmt(price)} {record.currency}/kWh, about "
                f"{_fmt(record.money_limit / price)} kWh)", record.currency)
        else:
            kwh = self._energy_estimate(record)
            unit = PriceComponent(
                "UNIT", money(price * kwh),
                f"Base charging session cost ({_fmt(price)} {record.currency}/kWh × "
                f"{_fmt(kwh)} kWh)", record.currency)
        return self._with_charges(record, [unit])

    def _with_charges(self, record: OrderRecord,
                      energy: list[PriceComponent]) -> list[PriceComponent]:
        """Energy lines plus surge, discount, fees and carried balances, each to the paisa."""
        base = money(sum(c.value for c in energy))
        cur = record.currency
        components = list(energy)
        if self.config.surge_pct > 0:
            components.append(PriceComponent(
                "SURCHARGE", money(base * self.config.surge_pct / 100),
                f"Surge price ({_fmt(self.config.surge_pct)}%)", cur))
        if self.config.discount_pct > 0:
            components.append(PriceComponent(
                "DISCOUNT", -money(base * self.config.discount_pct / 100),
                f"Offer discount ({_fmt(self.config.discount_pct)}%)", cur))
        if self.config.service_fee > 0:
            components.append(PriceComponent("FEE", money(self.config.service_fee),
                                             SERVICE_FEE_DESCRIPTION, cur))
        if record.finder_fee is not None:
            kind, value = record.finder_fee
            if kind == "PERCENTAGE":
                components.append(PriceComponent("FEE", money(base * value / 100),
                                                 f"Buyer finder fee ({_fmt(value)}%)", cur))
            else:
                components.append(PriceComponent("FEE", money(value), "Buyer finder fee", cur))
        components.extend(PriceComponent("FEE", money(entry.amount), entry.description, cur)
                          for entry in record.carried)
        return components

    def _bill(self, record: OrderRecord, kwh: float) -> list[PriceComponent]:
        """The final bill from metered energy at the order's tariff (TSD §12.5). All metered
        energy is one UNIT line, so UNIT = metered kWh x tariff holds for any session."""
        price, cur = record.unit_price, record.currency
        ordered = record.quantity_kwh
        excess = ""
        if record.money_limit is None and ordered is not None and kwh > ordered:
            excess = f", {_fmt(kwh - ordered)} kWh beyond the {_fmt(ordered)} kWh pre-authorised"
        unit = PriceComponent("UNIT", money(price * kwh),
                              f"Charging session cost ({_fmt(price)} {cur}/kWh × {_fmt(kwh)} kWh "
                              f"metered{excess})", cur)
        return self._with_charges(record, [unit])

    def _settle(self, record: OrderRecord, session: Session) -> None:
        """Close the order on the session's CDR: bill, refund due, or balance owed. Once."""
        record.settling = True
        if record.bill is not None:
            return
        # amounts come from the meter's own reading, so a money limit bills exactly the limit
        record.bill = self._bill(record, session.energy_kwh)
        record.metered_kwh = round(session.energy_kwh, 3)
        record.status = "COMPLETED"
        record.session_status = "COMPLETED"
        difference = money(record.paid - record.total)
        if difference > 0:
            record.refund = difference
        elif difference < 0 and record.order_id is not None:
            self.outstanding.setdefault(record.buyer_id, []).append(
                Outstanding(-difference, record.order_id, record.transaction_id))

    async def _refund_if_due(self, record: OrderRecord) -> None:
        """Undercharge: the gateway confirms the refund, an unsolicited on_status says so."""
        if record.refund <= 0 or record.payment is None or \
                record.payment.status == "REFUNDED":
            return
        record.payment = replace(record.payment, status="REFUNDED", amount=record.refund,
                                 paid_at=wire_time.now())
        await self._notify(record, "on_status", {"order": self._current(record)})

    # -- charger events ------------------------------------------------------------------------

    def _on_charger_event(self, event: Event) -> None:
        # may be called from any thread that drives the charger; the work happens on our loop
        if event.type is not EventType.SESSION_STOPPED or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
            self._loop.call_soon_threadsafe(self._session_stopped, str(event.data.get("id")))

    def _session_stopped(self, session_id: str) -> None:
        """The session ended without a stop request: limit reached, battery full, fault or
        pulled cable. Billed at once, so a stop that comes meanwhile sees the same bill."""
        record = next((r for r in self.orders.values() if r.session_id == session_id), None)
        if record is None or record.settling or record.status != "INPROGRESS":
            return  # not ours, or a stop this BPP asked for and is billing already
        session = self.charger.session(session_id)
        interruption = None
        if session.status is SessionStatus.INTERRUPTED:
            record.session_status = "INTERRUPTED"
            interruption = self._current(record)
        self._settle(record, session)
        self._spawn(self._announce_end(record, interruption))

    async def _announce_end(self, record: OrderRecord,
                            interruption: dict[str, Any] | None) -> None:
        if interruption is not None:  # TSD §12.2: the interruption first, then the bill
            await self._notify(record, "on_status", {"order": interruption})
        await self._notify(record, "on_update", {"order": self._current(record)})
        await self._refund_if_due(record)

    # -- order documents -----------------------------------------------------------------------

    def _order(self, record: OrderRecord, *, status: str | None = None, value: bool = True,
               fulfillment: Fulfillment | None = None, payment: bool = True,
               full: bool = True) -> dict[str, Any]:
        offer = copy.deepcopy(self.offer(self.charger.connector(record.connector_id)))
        offer["beckn:price"]["value"] = record.unit_price
        fee = record.finder_fee
        order = Order(
            seller=self.config.provider_id, item_id=record.item_id,
            status=status or record.status, id=record.order_id, offer=offer,
            unit_price=record.unit_price, currency=record.currency,
            components=list(record.value) if value and full else [],
            fulfillment=fulfillment, payment=record.payment if payment and full else None,
            start_time=record.start_time, end_time=record.end_time,
            buyer_finder_fee_pct=fee[1] if fee is not None and fee[0] == "PERCENTAGE" else None)
        doc = order.to_beckn(full=full)
        if record.buyer:
            doc["beckn:buyer"] = record.buyer
        if record.quantity is not None:
            line = doc["beckn:orderItems"][0]
            doc["beckn:orderItems"][0] = {"beckn:orderedItem": line["beckn:orderedItem"],
                                          "beckn:quantity": record.quantity,
                                          **{k: v for k, v in line.items()
                                             if k != "beckn:orderedItem"}}
        if full and fee is not None and fee[0] == "AMOUNT":
            attributes = doc.setdefault("beckn:orderAttributes",
                                        {"@context": SESSION_CONTEXT, "@type": "ChargingSession"})
            attributes["buyerFinderFee"] = {"feeType": "AMOUNT", "feeValue": fee[1]}
        return doc

    def _fulfillment(self, record: OrderRecord, *, readings: int = 0,
                     tracking: bool = False) -> Fulfillment:
        connector = self.charger.connector(record.connector_id)
        connector_status = None
        if record.session_status == "PENDING":
            if connector.faulted or not connector.available:
                connector_status = "UNAVAILABLE"
            elif connector.plugged:
                connector_status = "PREPARING"
        telemetry: list[Telemetry] = []
        tracking_url = None
        if record.session_id is not None:
            session = self.charger.session(record.session_id)
            if readings:
                telemetry = [Telemetry(rfc3339(mv.timestamp), mv.soc_percent, mv.power_kw,
                                       mv.energy_kwh, mv.voltage_v, mv.current_a)
                             for mv in session.meter_values[-readings:]]
            if tracking:
                tracking_url = f"{self.config.tracking_url_base}/{record.session_id}"
        return Fulfillment(id=record.fulfillment_id, mode="RESERVATION",
                           session_status=record.session_status,
                           connector_type=connector.type.value,
                           max_power_kw=connector.max_power_kw,
                           connector_status=connector_status, telemetry=telemetry,
                           tracking_url=tracking_url)

    def _confirmed(self, record: OrderRecord) -> dict[str, Any]:
        return self._order(record, fulfillment=self._fulfillment(record))

    def _current(self, record: OrderRecord, *, status: str | None = None) -> dict[str, Any]:
        """The order as it stands, with its session once confirmed; a billed session carries
        its closing meter reading, the energy the bill is computed from."""
        fulfillment = None
        if record.session_status is not None:
            fulfillment = self._fulfillment(record, readings=1 if record.bill else 0)
        doc = self._order(record, status=status, fulfillment=fulfillment)
        if record.metered_kwh is not None and "beckn:fulfillment" in doc:
            doc["beckn:fulfillment"]["beckn:deliveryAttributes"]["meteredEnergyKWh"] = \
                record.metered_kwh
        return doc

    def _tracked(self, record: OrderRecord) -> dict[str, Any]:
        """on_track's short order (as 12_on_track): the session, telemetry, tracking URL."""
        doc = self._order(record, full=False)
        if record.session_status is not None:
            doc["beckn:fulfillment"] = self._fulfillment(record, readings=5,
                                                         tracking=True).to_beckn()
        return doc

    def _control_target(self, order_id: str) -> OrderRecord:
        """An order by id or transaction id; only orders with an id (from on_init on) can be
        referred to, as in the protocol."""
        record = self.order(order_id)
        if record is None or record.order_id is None:
            raise BppError(404, "NOT_FOUND", f"no order {order_id!r}")
        return record

    # -- test hooks ----------------------------------------------------------------------------

    async def hook(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Play one event of the physical world (harness/hooks.py): BppError when refused."""
        try:
            if name == "payment-completed":
                return (await self.complete_payment(_text(body, "transaction_id"))).summary()
            if name == "cancel-by-provider":
                return (await self.cancel_by_provider(_text(body, "transaction_id"))).summary()
            if name == "plug-in":
                return self.charger.connector_as_dict(self._car_arrives(_text(body, "item_id")))
            if name == "cable-pulled":
                connector = self._hook_connector(_text(body, "item_id"))
                self.charger.inject_fault(connector.id, "cable_pulled")
                return self.charger.connector_as_dict(connector)
            if name == "advance":
                seconds = _number(body.get("seconds"))
                if seconds is None:
                    raise BppError(400, "INVALID_REQUEST", "seconds must be a number")
                self.charger.advance(seconds)
                return {"now": rfc3339(self.charger.now)}
            if name == "overrun":
                return self._overrun(_text(body, "transaction_id"), body.get("extra_kwh"))
        except ChargerError as exc:
            status = 400 if exc.code == "INVALID_REQUEST" else \
                404 if exc.code.startswith("UNKNOWN_") else 409
            raise BppError(status, exc.code, exc.message) from None
        raise BppError(404, "UNKNOWN_HOOK", f"no hook {name!r}; hooks: {', '.join(HOOKS)}")

    def _hook_connector(self, item_id: str) -> Connector:
        connector = self.connector_for(item_id)
        if connector is None:
            raise BppError(404, "UNKNOWN_ITEM", f"no item {item_id!r} in this catalog")
        return connector

    def _car_arrives(self, item_id: str) -> Connector:
        """A car is plugged in; one still standing there after its session ended leaves
        first, as it would before the next driver can plug in."""
        connector = self._hook_connector(item_id)
        if connector.plugged:
            current = self.charger.session(connector.session_id) if connector.session_id \
                else None
            if current is not None and current.status in (SessionStatus.ACTIVE,
                                                          SessionStatus.STOP):
                raise BppError(409, "BUSY", f"{item_id} is charging session {current.id}")
            self.charger.unplug(connector.id)
        return self.charger.plug_in(connector.id)

    def _overrun(self, order_id: str, extra: Any) -> dict[str, Any]:
        """The charger fails to stop: the running session's limit is raised by `extra_kwh`
        and simulated time runs until the session stops there (TSD §12.5.2)."""
        extra_kwh = _number(extra)
        if extra_kwh is None or extra_kwh <= 0:
            raise BppError(400, "INVALID_REQUEST", "extra_kwh must be a positive number")
        record = self._control_target(order_id)
        session = self.charger.session(record.session_id) if record.session_id else None
        if session is None or session.status is not SessionStatus.ACTIVE:
            raise BppError(409, "NOT_CHARGING", f"order {order_id} has no session charging")
        if session.energy_limit_kwh is not None:
            session.energy_limit_kwh += extra_kwh
        if session.money_limit is not None:
            session.money_limit += extra_kwh * record.unit_price
        for _ in range(OVERRUN_MAX_STEPS):
            if session.status is not SessionStatus.ACTIVE:
                break
            self.charger.advance(OVERRUN_STEP_S)
        return {"session_id": session.id, "status": session.status.value,
                "energy_kwh": round(session.energy_kwh, 3)}

    # -- sending -------------------------------------------------------------------------------

    async def _reply(self, request_ctx: dict[str, Any], message: dict[str, Any], *,
                     error: dict[str, Any] | None = None) -> None:
        """Send the callback answering a request, applying the callback faults switched on."""
        action = envelope.CALLBACK_OF[str(request_ctx.get("action"))]
        faults = self.faults
        if action == "on_select" and "missing-callback" in faults:
            return
        delay = self.config.callback_delay_s
        if "late-callback" in faults:
            delay = max(delay, duration_s(request_ctx.get("ttl")) + 1.0)
        if delay > 0:
            await asyncio.sleep(delay)
        ctx = envelope.callback_context(request_ctx, bpp_id=self.identity.subscriber_id,
                                        bpp_uri=self.identity.uri)
        if "wrong-transaction-id" in faults:
            ctx["transaction_id"] = envelope.new_id()
        if "wrong-message-id" in faults:
            ctx["message_id"] = envelope.new_id()
        doc: dict[str, Any] = {"context": ctx, "message": message}
        if error is not None:
            doc["error"] = error
        raw = orjson.dumps(doc)
        await self._deliver(ctx, action, raw)
        if "duplicate-callback" in faults:
            # same bytes, signed a second earlier so the signature differs (not a replay)
            await self._deliver(ctx, action, raw, created=int(time.time()) - 1,
                                note="duplicate-callback")

    async def _notify(self, record: OrderRecord, action: str, message: dict[str, Any]) -> None:
        """Send an unsolicited callback (new message_id) to the order's BAP."""
        base = record.context
        ctx = envelope.callback_context(base, unsolicited=True, action=action,
                                        bpp_id=self.identity.subscriber_id,
                                        bpp_uri=self.identity.uri)
        if "unsolicited-reuses-message-id" in self.faults and "message_id" in base:
            ctx["message_id"] = base["message_id"]
        await self._deliver(ctx, action, orjson.dumps({"context": ctx, "message": message}))

    async def _deliver(self, ctx: Mapping[str, Any], action: str, raw: bytes, *,
                       created: int | None = None, note: str | None = None) -> Sent | None:
        """Sign (or mis-sign, per the faults) and POST one callback to the context's bap_uri."""
        target = ctx.get("bap_uri")
        if not isinstance(target, str):
            return None
        faults = self.faults
        applied = [name for name in ("unsigned-callback", "expired-callback-signature",
                                     "bad-callback-signature", "wrong-key-callback")
                   if name in faults]
        options: dict[str, Any] = {"created": created}
        now = int(time.time())
        if "unsigned-callback" in faults:
            options["sign"] = False
        elif "expired-callback-signature" in faults:
            options.update(created=now - 600, expires=now - 300)
        elif "bad-callback-signature" in faults:
            options.update(sign=False, headers={signing.AUTHORIZATION: self._altered_signature(
                raw, created)})
        elif "wrong-key-callback" in faults:
            options["signer"] = self._rogue_signer
        notes = [n for n in (*applied, note) if n]
        return await self.outbox.send(target, action, raw, note=", ".join(notes) or None,
                                      **options)

    def _altered_signature(self, raw: bytes, created: int | None) -> str:
        header = signing.parse_header(self.identity.signer.sign(raw, created))
        signature = bytearray(base64.b64decode(header.signature))
        signature[0] ^= 0xFF
        return signing.build_header(header.key_id, header.created, header.expires,
                                    base64.b64encode(bytes(signature)).decode())

    # -- the app -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The Beckn endpoints (at the path of the BPP's URI) and the control API."""
        return [*self.inbox.routes(), *control_routes(self)]


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BppError(400, "INVALID_REQUEST", f"{name} must be a non-empty string")
    return value


def requested_payment_status(order: Mapping[str, Any]) -> str | None:
    value = _dict(order.get("beckn:payment")).get("beckn:paymentStatus")
    return value if isinstance(value, str) else None


def _rejected_echo(order: Mapping[str, Any]) -> dict[str, Any]:
    """The BAP's own (schema-valid) order, marked REJECTED, for a request the BPP cannot use."""
    echo = dict(order)
    echo["beckn:orderStatus"] = "REJECTED"
    return echo


# --- control API ------------------------------------------------------------------------------

MAX_CONTROL_BODY = 64 * 1024


def _control_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _json_body(request: Request, *, empty: Any = None) -> Any:
    """The parsed body (`empty` when there is none); BppError 413 or 400 otherwise."""
    declared = request.headers.get("content-length")
    too_large = BppError(413, "TOO_LARGE", f"body exceeds {MAX_CONTROL_BODY} bytes")
    if declared is not None and declared.isdigit() and int(declared) > MAX_CONTROL_BODY:
        raise too_large
    raw = await request.body()
    if len(raw) > MAX_CONTROL_BODY:
        raise too_large
    if not raw and empty is not None:
        return empty
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BppError(400, "INVALID_REQUEST", "body is not JSON") from None


def control_routes(bpp: ReferenceBpp) -> list[BaseRoute]:
    """`/_control`: what tests and scenarios use to drive the BPP from outside the protocol."""

    def guarded(endpoint: Callable[[Request], Awaitable[Response]]
                ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except BppError as exc:
                return _control_error(exc.status, exc.code, exc.message)
        return run

    async def hook(request: Request) -> Response:
        body = await _json_body(request, empty={})
        if not isinstance(body, dict):
            raise BppError(400, "INVALID_REQUEST", "body must be a JSON object")
        return JSONResponse(await bpp.hook(request.path_params["hook"], body))

    async def list_orders(request: Request) -> Response:
        return JSONResponse([record.summary() for record in bpp.orders.values()])

    async def payment_completed(request: Request) -> Response:
        record = await bpp.complete_payment(request.path_params["order_id"])
        return JSONResponse(record.summary())

    async def cancel_by_provider(request: Request) -> Response:
        record = await bpp.cancel_by_provider(request.path_params["order_id"])
        return JSONResponse(record.summary())

    async def publish(request: Request) -> Response:
        sent = await bpp.publish()
        return JSONResponse({"status": sent.status, "acked": sent.acked, "error": sent.error,
                             "items": len(bpp.published_catalog["beckn:items"])
                             if bpp.published_catalog else 0})

    def faults_view() -> dict[str, Any]:
        return {"faults": sorted(bpp.faults),
                "available": [{"name": name, "rule": fault.rule,
                               "description": fault.description}
                              for name, fault in FAULTS.items()]}

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            return await put_faults(request)
        return JSONResponse(faults_view())

    async def put_faults(request: Request) -> Response:
        body = await _json_body(request)
        names = body.get("faults") if isinstance(body, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return _control_error(400, "INVALID_REQUEST",
                                  'body must be {"faults": [names...]}')
        try:
            bpp.set_faults(set(names))
        except ValueError as exc:
            return _control_error(400, "UNKNOWN_FAULT", str(exc))
        return JSONResponse(faults_view())

    return [
        Route("/_control/orders", guarded(list_orders), methods=["GET"]),
        Route("/_control/orders/{order_id}/payment-completed", guarded(payment_completed),
              methods=["POST"]),
        Route("/_control/orders/{order_id}/cancel-by-provider", guarded(cancel_by_provider),
              methods=["POST"]),
        Route("/_control/catalog/publish", guarded(publish), methods=["POST"]),
        Route("/_control/hooks/{hook}", guarded(hook), methods=["POST"]),
        # one route for both methods, so a 405 elsewhere lists both in Allow
        Route("/_control/faults", guarded(faults), methods=["GET", "PUT"]),
    ]


def create_app(config: BppConfig, charger: Charger, transcript: Transcript, *,
               directory: Directory, schemas: SchemaSet,
               http: httpx.AsyncClient | None = None) -> Starlette:
    """The reference BPP as an ASGI app; the `ReferenceBpp` behind it is `app.state.bpp`."""
    bpp = ReferenceBpp(config, charger, transcript, directory=directory, schemas=schemas,
                       http=http)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bpp.start()
        try:
            yield
        finally:
            await bpp.aclose()

    app = Starlette(routes=bpp.routes(), lifespan=lifespan)
    app.state.bpp = bpp
    return app
