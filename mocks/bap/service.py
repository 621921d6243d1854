"""The driver's app behind the `/v1` client API: what each call does on the Beckn side, and
how the app follows the BPP's callbacks.

Each call maps to the Beckn requests behind it and answers from their callbacks:

| client API | Beckn |
|---|---|
| `POST /v1/search` | `discover` to the CDS; every `on_discover` until the answers settle |
| `POST /v1/estimate` | `select` to the BPP of X-Bpp-Id; `on_select` is the quote |
| `POST /v1/orders/{id}/payment` | `init`; `on_init` gives the payment terms |
| (the driver pays the BPP) | the BPP's unsolicited `on_status` says so; the app `confirm`s |
| `GET /v1/orders/{id}` | `status`, and `track` while charging |
| `PUT /v1/orders/{id}/start` | `update`, session ACTIVE (`status`, `confirm` first if need be) |
| `PUT /v1/orders/{id}/stop` | `update` with session STOP; `on_update` is the bill |
| `GET /v1/orders/{id}/cancel` | none: Beckn has no cancellation quote; the app estimates |
| `POST /v1/orders/{id}/cancel` | `cancel`; an order never initialised is dropped locally |
| `POST /v1/orders/{id}/rating` | `rating` of the order |
| `GET /v1/orders/{id}/support` | `support` about the order |

A request the CDS or BPP does not acknowledge is a 502, one whose callback does not come
within the ttl a 504; a callback carrying an `error` is the BPP's refusal: 404 for an unknown
item or offer, 409 for the business and policy errors (a refused start, a cancellation not
possible), 502 for any other. Callbacks that come late, and the unsolicited ones, are taken
in by the order as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from harness.beckn import envelope
from harness.beckn.order import CORE_CONTEXT, UBC_CONTEXT, Fulfillment, Order, Payment, dig
from mocks.bap.beckn import Call, ReferenceBap
from mocks.bap.catalogs import Catalogs, Listing, discover_message, matches, payment_methods
from mocks.bap.client_requests import EstimateRequest, Rating, SearchQuery
from mocks.bap.errors import ClientError, invalid
from mocks.bap.orders import AppOrder, OrderBook
from mocks.stack import Inbound

log = logging.getLogger("ubc.mocks.bap")

REFUSALS = {envelope.ITEM_NOT_FOUND: 404, envelope.OFFER_NOT_FOUND: 404,
            envelope.ORDER_NOT_FOUND: 409}  # else 409 for 4xxxx and 5xxxx, 502 for the rest
STARTED = frozenset({"ACTIVE", "STOP", "COMPLETED", "INTERRUPTED"})


def _refusal(action: str, error: dict[str, Any]) -> ClientError:
    code = str(error.get("code", ""))
    status = REFUSALS.get(code, 409 if code[:1] in ("4", "5") else 502)
    reason = dig(error, "details", "description") or error.get("message") or "no reason given"
    return ClientError(status, f"the BPP refused the {action}: {reason}", bpp_error=error)


class DriverApp:
    """The app's orders and catalogs, driven by the client API, on top of one ReferenceBap."""

    def __init__(self, bap: ReferenceBap) -> None:
        self.bap = bap
        self.config = bap.config
        self.catalogs = Catalogs()
        self.orders = OrderBook()
        self._tasks: set[asyncio.Task[None]] = set()
        bap.observe(self._on_callback)
        bap.screen(self._in_order)

    # -- the Beckn exchanges -------------------------------------------------------------------

    @staticmethod
    def _acknowledged(call: Call, who: str) -> None:
        if not call.sent.acked:
            error = call.ack.get("error") if isinstance(call.ack, dict) else None
            answer = f"HTTP {call.sent.status}" if call.sent.status else call.sent.error
            raise ClientError(502, f"{who} did not acknowledge the {call.action} ({answer})",
                              upstream_status=call.sent.status, upstream_error=error)

    async def _exchange(self, order: AppOrder, action: str, message: dict[str, Any]
                        ) -> dict[str, Any]:
        """Send one request about the order and wait for its accepted callback."""
        call = await self.bap.send(action, message, wait=False,
                                   transaction_id=order.transaction_id, bpp_id=order.bpp_id,
                                   bpp_uri=order.bpp_uri)
        self.orders.continue_in(order, call.transaction_id)
        self._acknowledged(call, f"the BPP {order.bpp_id}")
        doc = await self.bap.answer(call)
        if doc is None:
            raise ClientError(504, f"no {envelope.CALLBACK_OF[action]} from the BPP "
                              f"{order.bpp_id} within the ttl ({self.config.ttl})",
                              bpp_id=order.bpp_id, message_id=call.message_id)
        return doc

    async def _ask(self, order: AppOrder, action: str, message: dict[str, Any]
                   ) -> dict[str, Any]:
        """`_exchange`, a callback carrying an error being the BPP's refusal; the order in
        the callback is taken in."""
        doc = await self._exchange(order, action, message)
        self._refused(action, doc)
        order.take(doc["context"], dig(doc, "message", "order"))
        return doc

    def _refused(self, action: str, doc: dict[str, Any]) -> None:
        """The ClientError telling the driver of the BPP's refusal, when `doc` (the callback
        answering `action`) carries an error."""
        error = doc.get("error")
        if isinstance(error, dict) and error and \
                self.bap.switches.heeds_refusal(envelope.CALLBACK_OF[action]):
            raise _refusal(action, error)

    async def _on_callback(self, inbound: Inbound) -> None:
        """Every accepted callback: catalogs learned, orders brought up to date, and a paid
        order confirmed as soon as the BPP says it is paid."""
        if inbound.action == "on_discover":
            self.catalogs.learn(inbound.doc)
            return
        order = self.orders.of_transaction(str(inbound.context.get("transaction_id")))
        if order is None or inbound.doc.get("error"):
            return
        solicited = self.bap.solicited(inbound)
        if not solicited and not self.bap.switches.heeds(inbound.action):
            return
        if inbound.action != "on_select":  # a quote is taken by the estimate that asked
            order.take(inbound.context, dig(inbound.message, "order"))
        if not solicited and order.payment_completed and not order.confirmed and \
                not order.ended:
            self._spawn(self._confirm_paid(order))

    def _in_order(self, action: str, doc: dict[str, Any]) -> str | None:
        """An unsolicited callback about one of the app's orders that is out of order is
        refused (orders.py, UBC-CTX-026); a refusal (a callback with an error) moves nothing."""
        if action == "on_discover" or doc.get("error"):
            return None
        order = self.orders.of_transaction(str(doc["context"].get("transaction_id")))
        if order is None:
            return None
        return self.bap.switches.stale_refusal(
            order.out_of_order(doc["context"], dig(doc, "message", "order")))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- search and estimate -------------------------------------------------------------------

    async def search(self, query: SearchQuery, transaction_id: str) -> list[Listing]:
        """Discover through the CDS; the connectors that came back and match the search."""
        if not self.config.cds_uri:
            raise ClientError(502, "this BAP knows no CDS to search through")
        call = await self.bap.send("discover", discover_message(query), wait=False,
                                   transaction_id=transaction_id)
        self._acknowledged(call, "the CDS")
        came = await self.bap.answers(call, settle=self.config.search_settle_s)
        answers = came.accepted
        if not answers:
            raise ClientError(504, f"no on_discover this app accepted: it refused the "
                              f"{came.refused} that came" if came.refused else
                              f"no on_discover within the ttl ({self.config.ttl})",
                              message_id=call.message_id)
        errors = [doc["error"] for doc in answers if isinstance(doc.get("error"), dict)
                  and doc["error"] and not dig(doc, "message", "catalogs")]
        if len(errors) == len(answers):
            raise ClientError(502, "the CDS refused the search", upstream_error=errors[0])
        found: dict[tuple[str, str, str], Listing] = {}
        for doc in answers:
            for listing in self.catalogs.learn(doc):
                if matches(listing, query):
                    found[(listing.bpp_id, listing.catalog_id, listing.id)] = listing
        return list(found.values())

    def _listing(self, request: EstimateRequest, bpp_id: str) -> tuple[Listing, dict[str, Any]]:
        if not self.catalogs.knows(bpp_id):
            raise ClientError(404, f"no catalog of BPP {bpp_id!r} came with any search: search "
                              "first, then estimate with a bpp_id it gave", bpp_id=bpp_id)
        listing = self.catalogs.listing(bpp_id, request.connector_id)
        if listing is None:
            raise ClientError(404, f"BPP {bpp_id!r} lists no connector "
                              f"{request.connector_id!r}", connector_id=request.connector_id)
        if request.evse_id not in (listing.evse_id, listing.id):
            raise ClientError(404, f"connector {listing.id!r} is not at EVSE "
                              f"{request.evse_id!r} (its EVSE is {listing.evse_id!r})",
                              evse_id=request.evse_id)
        offer = listing.offer(request.offer_id)
        if offer is None:
            if request.offer_id is not None:
                raise ClientError(404, f"no offer {request.offer_id!r} for connector "
                                  f"{listing.id!r}", offer_id=request.offer_id)
            raise ClientError(409, f"the catalog prices connector {listing.id!r} by no offer")
        return listing, offer

    async def estimate(self, request: EstimateRequest, transaction_id: str,
                       bpp_id: str) -> AppOrder:
        """Select the connector for the driver's energy or budget; on_select is the quote."""
        listing, offer = self._listing(request, bpp_id)
        price = dig(offer, "beckn:price", "value")
        currency = str(dig(offer, "beckn:price", "currency") or "INR")
        if not isinstance(price, int | float) or price <= 0:
            raise ClientError(409, f"offer {offer.get('beckn:id')!r} has no price per kWh")
        if request.currency is not None and request.currency != currency:
            raise invalid("/amount/currency", f"the offer is priced in {currency}")
        window = request.window
        if window is not None and (window.start is None or window.end is None):
            raise invalid("/time_window", "a reservation needs both start and end")
        kwh = request.energy_kwh
        if request.amount is not None:
            budget = round(request.amount / price, 2)
            kwh = budget if kwh is None else min(kwh, budget)
        earlier = self.orders.of_transaction(transaction_id)
        if earlier is not None and (earlier.initialised or earlier.ended):
            raise ClientError(409, f"transaction {transaction_id} already carries order "
                              f"{earlier.id}, past its estimate", order_id=earlier.id)
        beckn = Order(seller=listing.provider_id or bpp_id,
                      item_id=self.bap.switches.ordered_item(listing.id),
                      buyer=self.config.driver, quantity_kwh=kwh,
                      offer=self.bap.switches.accepted_offer(offer),
                      unit_price=float(price), currency=currency,
                      start_time=window.start if window else None,
                      end_time=window.end if window else None)
        order = AppOrder(id=OrderBook.new_id(), transaction_id=transaction_id, bpp_id=bpp_id,
                         bpp_uri=listing.bpp_uri, listing=listing, vehicle=request.vehicle,
                         reservation=window is not None, beckn=beckn, energy_kwh=kwh,
                         window=(str(window.start), str(window.end)) if window else None)
        doc = await self._exchange(order, "select",
                                   {"order": self.bap.switches.selected(beckn.to_beckn())})
        self._refused("select", doc)  # an overlapping slot (40000, TSD §12.4): a 409
        order.quoted(dig(doc, "message", "order"))
        if earlier is not None:
            self.orders.remove(earlier.id)  # a new estimate in the same transaction replaces it
        self.orders.add(order)
        return order

    # -- payment and confirmation --------------------------------------------------------------

    def check_payment_method(self, order: AppOrder, method: str | None) -> None:
        accepted = payment_methods(order.beckn.offer)
        if method is not None and accepted and method not in accepted:
            raise invalid("/payment_method", f"the BPP accepts {', '.join(accepted)}")

    async def pay(self, order: AppOrder) -> AppOrder:
        """Initialise the order: on_init says what to pay and where. Asked again, the same
        terms (nothing is sent twice)."""
        async with order.lock:
            if order.ended:
                raise ClientError(409, f"order {order.id} is {order.shown_status()}",
                                  order_id=order.id)
            if order.initialised:
                return order
            for step in self.bap.switches.payment_steps(("init",)):
                if step == "init":
                    await self._ask(order, "init", {"order": order.beckn.to_beckn()})
                    order.initialised = True
                else:
                    await self._confirm(order)
        return order

    async def _confirm(self, order: AppOrder) -> None:
        order.beckn.status = "PENDING"
        order.beckn.payment = Payment(status="COMPLETED", amount=order.paid or order.total,
                                      currency=order.currency)
        await self._ask(order, "confirm", {"order": order.beckn.to_beckn()})

    async def _confirm_paid(self, order: AppOrder) -> None:
        async with order.lock:
            if order.confirmed or order.ended or not order.initialised or \
                    not order.payment_completed:
                return
            try:
                await self._confirm(order)
            except ClientError as exc:  # the driver sees it when starting
                log.warning("confirming order %s failed: %s", order.id, exc.message)

    async def _ensure_confirmed(self, order: AppOrder) -> None:
        """A paid order confirmed, even if the payment notice never came (lock held)."""
        if order.confirmed:
            return
        if not order.initialised:
            raise ClientError(409, f"order {order.id} is not paid for: POST "
                              f"/v1/orders/{order.id}/payment first", order_id=order.id)
        if not order.payment_completed:
            await self._ask(order, "status", {"order": order.beckn.to_beckn(full=False)})
        if not order.payment_completed:
            raise ClientError(409, f"the payment of order {order.id} is not completed yet",
                              order_id=order.id)
        if not order.confirmed:
            await self._confirm(order)

    # -- the session ---------------------------------------------------------------------------

    async def refresh(self, order: AppOrder) -> AppOrder:
        """Ask the BPP how the order stands, and how the session goes while it charges."""
        async with order.lock:
            if not order.initialised or order.ended:
                # A quote only: the BPP holds nothing to ask about. Ended: what still changes
                # (a refund) the BPP reports unasked (TSD §12.5.1), and the app shows it.
                return order
            await self._ask(order, "status", {"order": order.beckn.to_beckn(full=False)})
            if order.session_status == "ACTIVE":
                try:
                    await self._ask(order, "track", {"order": order.beckn.to_beckn(full=False)})
                except ClientError as exc:
                    if exc.status != 409:  # the session ended in between: no telemetry now
                        raise
        return order

    async def start(self, order: AppOrder) -> AppOrder:
        async with order.lock:
            if order.ended:
                raise ClientError(409, f"order {order.id} is {order.shown_status()}",
                                  order_id=order.id)
            await self._ensure_confirmed(order)
            order.beckn.fulfillment = Fulfillment(session_status="ACTIVE")
            await self._ask(order, "update", {"order": order.beckn.to_beckn()})
        return order

    async def stop(self, order: AppOrder) -> AppOrder:
        async with order.lock:
            if order.status == "CANCELLED" or order.session_status not in STARTED:
                raise ClientError(409, f"order {order.id} has no charging session to stop "
                                  f"(order {order.shown_status()}, charging "
                                  f"{order.shown_charging()})", order_id=order.id)
            order.beckn.fulfillment = Fulfillment(session_status="STOP")
            await self._ask(order, "update", {"order": order.beckn.to_beckn()})
        return order

    # -- cancel, rating, support ---------------------------------------------------------------

    def cancellation_fee(self, order: AppOrder) -> float:
        """The app's estimate of what cancelling costs now (409 when it cannot be)."""
        if order.ended or order.session_status in STARTED:
            raise ClientError(409, f"order {order.id} cannot be cancelled: order "
                              f"{order.shown_status()}, charging {order.shown_charging()}",
                              order_id=order.id)
        return min(self.config.cancellation_fee, order.paid) if order.paid > 0 else 0.0

    async def cancel(self, order: AppOrder, reason: tuple[str | None, str | None]) -> AppOrder:
        async with order.lock:
            if order.ended:
                raise ClientError(409, f"order {order.id} is {order.shown_status()} already",
                                  order_id=order.id)
            order.cancel_reason = reason
            if not order.initialised:
                order.status = "CANCELLED"  # the BPP holds no order yet: nothing to send
                return order
            await self._ask(order, "cancel", {"order": order.beckn.to_beckn(full=False)})
        return order

    async def rate(self, order: AppOrder, rating: Rating) -> dict[str, Any]:
        if order.status != "COMPLETED":
            raise ClientError(409, f"only a completed session can be rated; order {order.id} "
                              f"is {order.shown_status()}", order_id=order.id)
        ratings = [{"@context": CORE_CONTEXT, "@type": "beckn:RatingInput",
                    "id": order.bpp_order_id or order.listing.id, "ratingValue": rating.value,
                    "bestRating": 5, "worstRating": 1, "category": "ORDER",
                    "feedback": {"comments": rating.comments or "", "tags": list(rating.tags)}}]
        doc = await self._ask(order, "rating", {"ratings": ratings})
        message = doc.get("message")
        return message if isinstance(message, dict) else {}

    async def support(self, order: AppOrder) -> dict[str, Any]:
        """The BPP's support contacts for the order; a refusal that still names them will do."""
        driver = self.config.driver
        message = {
            "refId": order.bpp_order_id or order.transaction_id, "refType": "ORDER",
            "support": {"@context": CORE_CONTEXT, "@type": "beckn:SupportInfo",
                        "name": driver.name, "phone": driver.phone, "email": driver.email,
                        "channels": ["PHONE"]},
            "feedback": {"@context": UBC_CONTEXT, "@type": "SupportFeedback",
                         "comments": "Support asked for through the app", "tags": [],
                         "supportStatus": "OPEN"},
        }
        doc = await self._exchange(order, "support", message)
        info = dig(doc, "message", "support")
        if isinstance(info, dict):
            return info
        error = doc.get("error")
        raise _refusal("support", error if isinstance(error, dict) else {})
