"""The reference BPP's service: a handler per Beckn action, the charger's events, and the
payment and operator events of the order journey.

Requests come through the shared inbox (verify, validate, ACK); each handler then works on its
own task and answers with a callback (callbacks.py). Value and business errors travel in the
callback's `error` (TSD §13), never in the NACK. States follow the table of the profile notes:
`on_select` CREATED, `on_init` CREATED with payment INITIATED, unsolicited `on_status`
PENDING/COMPLETED once paid, `on_confirm` CONFIRMED with session PENDING, start
INPROGRESS/ACTIVE, final bill COMPLETED, refund REFUNDED.

Two readings the examples leave open, taken here:
- An `update` asks to stop when its order's fulfillment says `sessionStatus: STOP`
  (14_01_update), and to start otherwise (09_update says PENDING).
- The order gets its `beckn:id` at `on_init` (06_on_init) and keeps it; the unsolicited
  payment `on_status` already needs it.

An order belongs to the BAP that placed it (the `bap_id` of its select, init and confirm):
status, track, update, cancel, rating and support about it from another BAP are answered
with error 30010 "Order not found", in the same words as an order that does not exist, so a
BAP cannot even learn that it exists; and its callbacks go only to its own BAP (the context of
the last request it was served to), never to a BAP that merely asked (UBC-CTX-028/029).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

import httpx

from harness.beckn import envelope
from harness.beckn.order import session_status as requested_session_status
from harness.schemas import SchemaSet
from harness.transcript import Transcript
from mocks.bpp import charging, pricing
from mocks.bpp.callbacks import Callbacks
from mocks.bpp.catalog import Publication, SiteCatalog
from mocks.bpp.config import BppConfig
from mocks.bpp.documents import OrderDocuments
from mocks.bpp.faults import FaultSwitches
from mocks.bpp.orders import (
    OrderBook,
    OrderRecord,
    Rejection,
    business_error,
    draft,
    rejected_echo,
    requested_payment_status,
)
from mocks.charger import Charger, ChargerError, Event, EventType, SessionStatus
from mocks.charger.clock import catch_up
from mocks.stack import Directory, Inbound, Inbox, Outbox, Safeguards, Sent, Wire, wire
from mocks.stack.http import ApiError

log = logging.getLogger("ubc.mocks.bpp")

KEPT = 256  # ratings and support tickets remembered
ACTIONS = ("discover", "select", "init", "confirm", "status", "track", "update", "cancel",
           "rating", "support")
Message = dict[str, Any]


class ReferenceBpp:
    """A conforming BPP; all state lives here and is touched only on the serving event loop."""

    def __init__(self, config: BppConfig, charger: Charger, transcript: Transcript, *,
                 directory: Directory, schemas: SchemaSet,
                 http: Wire | httpx.AsyncClient | None = None,
                 safeguards: Safeguards | None = None) -> None:
        self.config = config
        self.identity = config.identity
        self.charger = charger
        self.transcript = transcript
        self.site = SiteCatalog(charger, config)
        self.documents = OrderDocuments(self.site, config)
        self.orders = OrderBook()
        self.ledger = pricing.Ledger()
        # What the BPP was told, the latest only: nothing reads them back but a person.
        self.ratings: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self.tickets: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._owns_http = http is None
        self.http = wire(http)
        safeguards = safeguards or Safeguards()
        self.outbox = Outbox(self.identity, transcript, self.http, party="bpp",
                             outbound=safeguards.outbound)
        self.publication = Publication(self.site, self.outbox)
        handlers = {action: self._receive for action in ACTIONS}
        handlers["on_catalog_publish"] = self.publication.receive
        self.inbox = Inbox(self.identity, directory, transcript, schemas, handlers,
                           party="bpp", safeguards=safeguards)
        # a burst faster than its callbacks go waits for its ACKs (Outbox.room)
        self.inbox.pace = self.outbox.room
        self.switches = FaultSwitches(self.identity, self.inbox, config.faults)
        self.callbacks = Callbacks(config, self.outbox, self.switches,
                                   followers=self.orders.followers_of)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks = Tasks()
        self._unsubscribe: Callable[[], None] | None = None
        self._ticker: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop: charger events, and ticks when its clock runs by itself."""
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.charger.subscribe(self._on_charger_event)
        interval = self.config.tick_interval_s
        if interval and self.charger.clock.speed > 0:
            self._ticker = asyncio.create_task(self._run_clock(interval))

    async def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._tasks.cancel(*([self._ticker] if self._ticker is not None else []))
        self._ticker = None
        if self._owns_http:
            await self.http.aclose()

    async def _run_clock(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)  # pacing: the clock decides what is due
            try:  # in slices: after a long /clock/advance, the loop runs between them
                await catch_up(self.charger)
            except Exception:
                log.exception("charger tick failed")

    # -- faults, catalog, balances -------------------------------------------------------------

    @property
    def faults(self) -> frozenset[str]:
        return self.switches.names

    def set_faults(self, names: Iterable[str]) -> None:
        """Switch exactly these faults on (ValueError for an unknown name)."""
        self.switches.switch(names)

    def catalog(self) -> dict[str, Any]:
        return self.site.catalog()

    async def publish(self, cds_uri: str | None = None) -> Sent:
        """Send `catalog_publish` to the CDS; its on_catalog_publish lands in publish_results."""
        return await self.publication.send(cds_uri or self.config.cds_uri)

    @property
    def publish_results(self) -> list[dict[str, Any]]:
        return self.publication.results

    def balance(self, buyer_id: str) -> float:
        """What a buyer still owes from overcharged sessions."""
        return self.ledger.balance(buyer_id)

    def referable(self, key: str) -> OrderRecord:
        """An order by id or transaction id, once it has an id; ApiError 404 otherwise."""
        record = self.orders.referable(key)
        if record is None:
            raise ApiError(404, "NOT_FOUND", f"no order {key!r}")
        return record

    # -- receiving -----------------------------------------------------------------------------

    async def _receive(self, inbound: Inbound) -> None:
        # the inbox runs this after its ACK; the work gets its own task so shutdown can stop it
        self._tasks.spawn(self._dispatch(inbound))

    async def _dispatch(self, inbound: Inbound) -> None:
        context = inbound.doc.get("context")
        message = inbound.doc.get("message")
        if not isinstance(context, dict) or not isinstance(message, dict):
            return  # only reachable when a fault lets schema-invalid requests in
        if context.get("action") != inbound.action:  # the same: answer the route's action
            context = {**context, "action": inbound.action}
        handler = getattr(self, f"_handle_{inbound.action}")
        try:
            await handler(context, message)
        except Rejection as refused:  # value and business errors travel in the callback
            code = self.switches.refusal_code(refused.code)
            error = refused.error if code == refused.code else \
                business_error(code, refused.description)
            await self._reply(context, refused.answer, error=error)

    async def _reply(self, ctx: Mapping[str, Any], message: Message, *,
                     error: dict[str, Any] | None = None) -> None:
        await self.callbacks.reply(ctx, message, error=error)

    def _refusal(self, record: OrderRecord, code: str, description: str, *,
                 status: str | None = None) -> Rejection:
        """A refusal answered with the order as it stands."""
        return Rejection(code, description,
                         {"order": self.documents.current(record, status=status)})

    def _about(self, ctx: dict[str, Any], message: Message,
               missing: str = "no such order") -> OrderRecord:
        """The order a request is about; Rejection 30010 when there is none, or when it is
        another BAP's."""
        record = self.orders.about(ctx, _dict(message.get("order")), self._serves,
                                   self.switches.follows)
        if record is None:
            raise Rejection(envelope.ORDER_NOT_FOUND, missing)
        return record

    def _serves(self, record: OrderRecord, bap_id: str) -> bool:
        """Whether a request of `bap_id` about this order is served: only its own BAP's."""
        return self.switches.serves(record.bap_id == bap_id)

    # -- select, init, payment -----------------------------------------------------------------

    async def _handle_discover(self, ctx: dict[str, Any], message: Message) -> None:
        # Filtering is the CDS's job; a BPP asked directly answers with its whole catalog.
        await self._reply(ctx, {"catalogs": [self.site.catalog()]})

    def _drafted(self, ctx: dict[str, Any], message: Message, *,
                 keep_terms: bool) -> OrderRecord:
        """The order a select or init describes, held for its transaction; Rejection for an
        order past CREATED, an unknown item, or a slot overlapping a confirmed booking (40000,
        TSD §12.4). With `keep_terms`, what the BPP said at select (order id, price,
        repricing) carries over."""
        order = _dict(message.get("order"))
        existing = self.orders.of_transaction(str(ctx.get("bap_id") or ""),
                                              str(ctx.get("transaction_id")))
        if existing is not None and existing.status not in ("CREATED", "REJECTED"):
            existing.context = dict(ctx)
            raise Rejection(envelope.ACTION_NOT_APPLICABLE, f"order is already {existing.status}",
                            {"order": self.documents.order(existing)})
        try:
            record = draft(ctx, order, self.site, finder_fee_pct=self.config.buyer_finder_fee_pct)
        except Rejection as rejection:
            rejection.answer = {"order": rejected_echo(order)}
            raise
        if keep_terms and existing is not None:
            record.order_id, record.repriced = existing.order_id, existing.repriced
            record.unit_price = existing.unit_price
            if record.slot is None:  # the TSD's init (05_init) does not restate the slot
                record.start_time, record.end_time = existing.start_time, existing.end_time
                record.slot = existing.slot
        self.orders.hold(record)
        conflict = charging.slot_conflict(record, self.charger)
        if conflict is not None:
            record.status = "REJECTED"
            raise Rejection(envelope.BUSINESS_ERROR, conflict,
                            {"order": self.documents.order(record, value=False)})
        record.carried = self.ledger.owed(record.buyer_id)
        return record

    async def _handle_select(self, ctx: dict[str, Any], message: Message) -> None:
        record = self._drafted(ctx, message, keep_terms=False)
        record.components = pricing.quote(record, self.config)
        await self._reply(ctx, {"order": self.switches.quote(self.documents.order(record))})

    async def _handle_init(self, ctx: dict[str, Any], message: Message) -> None:
        record = self._drafted(ctx, message, keep_terms=True)
        if not record.repriced:  # the price quoted at select holds, unless a fault says not
            price = self.switches.init_price(record.unit_price)
            record.repriced = price != record.unit_price
            record.unit_price = price
        record.components = pricing.quote(record, self.config)
        order_id = record.order_id = record.order_id or f"order-{envelope.new_id()[:8]}"
        record.payment = pricing.payment_terms(record, self.config)
        await self._reply(ctx, {"order": self.documents.order(record)})
        delay = self.config.payment_delay_s
        if delay is not None:
            if delay > 0:
                await asyncio.sleep(delay)  # the buyer paying, simulated
            # unless a later init replaced this order, or it was paid or cancelled meanwhile
            if self.orders.of_transaction(record.bap_id, record.transaction_id) is record and \
                    record.status == "CREATED" and record.payment.status == "INITIATED":
                await self.complete_payment(order_id)

    async def complete_payment(self, order_id: str) -> OrderRecord:
        """The payment gateway reports the payment done: order PENDING, unsolicited on_status."""
        record = self.referable(order_id)
        if record.payment is None or record.payment.status != "INITIATED" or \
                record.status != "CREATED":
            raise ApiError(409, "NOT_AWAITING_PAYMENT",
                           f"order {order_id} is {record.status} and awaits no payment")
        pricing.mark_paid(record, self.ledger)
        await self.callbacks.notify(record.context, "on_status",
                                    {"order": self.documents.order(record)})
        return record

    # -- confirm, status, track ----------------------------------------------------------------

    async def _handle_confirm(self, ctx: dict[str, Any], message: Message) -> None:
        record = self._about(ctx, message, "no order to confirm: select and init come first")
        if record.status == "CONFIRMED":
            await self._reply(ctx, {"order": self.documents.confirmed(record)})
            return
        if record.status == "CREATED" and record.payment is not None and \
                requested_payment_status(_dict(message.get("order"))) == "COMPLETED":
            pricing.mark_paid(record, self.ledger)  # the BAP collected it and says so (§12.0)
        if record.status != "PENDING":
            reason = "payment is not completed" if record.status == "CREATED" else \
                f"order is {record.status}"
            raise Rejection(envelope.BUSINESS_ERROR, f"cannot confirm: {reason}",
                            {"order": self.documents.order(record)})
        try:
            charging.reserve(record, self.charger, self.config)
        except ChargerError as exc:
            raise Rejection(envelope.BUSINESS_ERROR, f"slot cannot be reserved: {exc.message}",
                            {"order": self.documents.order(record, status="REJECTED")}) from None
        record.status = "CONFIRMED"
        record.session_status = "PENDING"
        confirmed = self.switches.confirmation(self.documents.confirmed(record))
        await self._reply(ctx, {"order": confirmed})

    async def _handle_status(self, ctx: dict[str, Any], message: Message) -> None:
        record = self._about(ctx, message)
        self.charger.tick()
        await self._reply(ctx, {"order": self.documents.current(record)})

    async def _handle_track(self, ctx: dict[str, Any], message: Message) -> None:
        record = self._about(ctx, message)
        self.charger.tick()
        tracked = {"order": self.documents.tracked(record)}
        if record.session_id is None:
            raise Rejection(envelope.ACTION_NOT_APPLICABLE,
                            "no charging session has started to track", tracked)
        await self._reply(ctx, tracked)

    # -- update: start and stop ----------------------------------------------------------------

    async def _handle_update(self, ctx: dict[str, Any], message: Message) -> None:
        record = self._about(ctx, message)
        if requested_session_status(_dict(message.get("order"))) == "STOP":
            await self._stop(ctx, record)
        else:
            await self._start(ctx, record)

    async def _start(self, ctx: dict[str, Any], record: OrderRecord) -> None:
        if record.status == "INPROGRESS":  # a repeated start: the session already runs
            await self._reply(ctx, {"order": self.documents.current(record)})
            return
        if record.status != "CONFIRMED":
            raise self._refusal(record, envelope.ACTION_NOT_APPLICABLE,
                                f"cannot start: order is {record.status}")
        try:
            session = charging.start(record, self.charger, self.config)
        except ChargerError as exc:
            # the start is refused, the order stays CONFIRMED so the driver can try again
            raise self._refusal(record, envelope.FULFILMENT_AGENT_UNAVAILABLE,
                                f"Charger refused to start: {exc.message}",
                                status="REJECTED") from None
        record.session_id = session.id
        record.status = "INPROGRESS"
        record.session_status = "ACTIVE"
        await self._reply(ctx, {"order": self.documents.current(record)})

    async def _stop(self, ctx: dict[str, Any], record: OrderRecord) -> None:
        if record.bill is not None:  # already settled (limit reached, interrupted): same bill
            await self._reply(ctx, {"order": self.documents.current(record)})
            return
        if record.status != "INPROGRESS" or record.session_id is None:
            raise self._refusal(record, envelope.ACTION_NOT_APPLICABLE,
                                f"no charging session to stop: order is {record.status}")
        record.settling = True
        session = charging.stop(record, self.charger)
        pricing.settle(record, session.energy_kwh, self.ledger, self.config)
        await self._reply(ctx, {"order": self.documents.current(record)})
        await self._refund_if_due(record)

    async def _refund_if_due(self, record: OrderRecord) -> None:
        """Undercharge: the gateway confirms the refund, an unsolicited on_status says so."""
        if pricing.refund(record):
            await self.callbacks.notify(record.context, "on_status",
                                        {"order": self.documents.current(record)})

    # -- cancel --------------------------------------------------------------------------------

    async def _handle_cancel(self, ctx: dict[str, Any], message: Message) -> None:
        record = self._about(ctx, message)
        if record.status != "CANCELLED":
            if not record.cancellable:
                raise self._refusal(
                    record, envelope.CANCELLATION_NOT_POSSIBLE,
                    f"the charging session has started (order {record.status}); only an order "
                    "whose session is PENDING can be cancelled")
            fee = pricing.cancellation_fee(record, self.config, self.charger.now)
            self._cancel(record, fee=fee, reason="Cancellation fee")
        await self._reply(ctx, {"order": self.documents.current(record)})

    async def cancel_by_provider(self, order_id: str) -> OrderRecord:
        """The CPO cannot serve the order: full refund, unsolicited on_cancel (TSD §12.1)."""
        record = self.referable(order_id)
        if not record.cancellable:
            raise ApiError(409, "NOT_CANCELLABLE",
                           f"order {order_id} is {record.status}; only orders whose session "
                           "has not started can be cancelled")
        self._cancel(record, fee=0.0, reason="Cancellation fee (waived: cancelled by the CPO)")
        await self.callbacks.notify(record.context, "on_cancel",
                                    {"order": self.documents.current(record)})
        return record

    def _cancel(self, record: OrderRecord, *, fee: float, reason: str) -> None:
        charging.release(record, self.charger)
        pricing.close_cancelled(record, fee=fee, reason=reason, ledger=self.ledger)

    # -- rating and support --------------------------------------------------------------------

    async def _handle_rating(self, ctx: dict[str, Any], message: Message) -> None:
        ratings = [r for r in message.get("ratings", []) if isinstance(r, dict)]
        own = self.orders.placed_by(str(ctx.get("bap_id") or ""), self._serves)
        known = {*self.site.item_ids(), *(c.id for c in self.charger.connectors()),
                 self.config.provider_id, *(r.order_id for r in own if r.order_id),
                 *(r.fulfillment_id for r in own)}
        rated = [r for r in ratings if r.get("id") in known]
        if not rated:
            raise Rejection(envelope.ENTITY_TO_RATE_NOT_FOUND, "none of the rated ids is known",
                            {"received": False})
        self.ratings.extend(rated)
        form = self.documents.feedback_form(f"feedback-{envelope.new_id()}")
        await self._reply(ctx, {"received": True, "feedbackForm": form})

    async def _handle_support(self, ctx: dict[str, Any], message: Message) -> None:
        ticket = f"SUP-{envelope.new_id()[:8].upper()}"
        self.tickets.append({"ticket": ticket, "request": message})
        support = self.documents.support(ticket)
        ref_id, ref_type = message.get("refId"), message.get("refType")
        own = self.orders.placed_by(str(ctx.get("bap_id") or ""), self._serves)
        if ref_type == "ORDER" and isinstance(ref_id, str) and \
                all(ref_id not in (r.order_id, r.transaction_id) for r in own):
            raise Rejection(envelope.ORDER_NOT_FOUND, f"no order {ref_id}", {"support": support})
        await self._reply(ctx, {"support": support,
                                "feedback": self.documents.support_acknowledged()})

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
        record = self.orders.charging(session_id)
        if record is None or record.settling or record.status != "INPROGRESS":
            return  # not ours, or a stop this BPP asked for and is billing already
        session = self.charger.session(session_id)
        interruption = None
        if session.status is SessionStatus.INTERRUPTED:
            record.session_status = "INTERRUPTED"
            interruption = self.documents.current(record)
        pricing.settle(record, session.energy_kwh, self.ledger, self.config)
        self._tasks.spawn(self._announce_end(record, interruption))

    async def _announce_end(self, record: OrderRecord,
                            interruption: dict[str, Any] | None) -> None:
        if interruption is not None:  # TSD §12.2: the interruption first, then the bill
            await self.callbacks.notify(record.context, "on_status", {"order": interruption})
        await self.callbacks.notify(record.context, "on_update",
                                    {"order": self.documents.current(record)})
        await self._refund_if_due(record)


class Tasks:
    """The BPP's work in the background: one task per request or event, each guarded (a
    failure is logged and stops nothing else), all cancelled at shutdown."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(coro))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    @staticmethod
    async def _guarded(coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:  # one order's bug must not stop the others; it is logged
            log.exception("BPP task failed")

    async def cancel(self, *others: asyncio.Task[None]) -> None:
        """Cancel every running task (and `others`) and wait until they have stopped."""
        pending = [*self._running, *others]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
