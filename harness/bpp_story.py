"""The UBC user stories as the harness plays them against a candidate BPP.

Each method is one step of a Gherkin scenario: it drives the reference BAP (and, through the
candidate's test hooks, the physical world), then checks what the step promises on top of the
exchange checks every request gets. Steps in `harness/steps/` are one-line calls into this.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.beckn import envelope
from harness.beckn.order import (
    Buyer,
    Fulfillment,
    Order,
    dig,
    order_status,
    session_status,
)
from harness.certification import Journey, NotEvaluated
from harness.checks import consistency, state, timing
from harness.checks import context as context_checks
from harness.findings import NOT_EVALUATED, Finding
from harness.transcript import INBOUND, OUTBOUND, Exchange


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def order_transaction(story: BppStory) -> str:
    """The transaction the story's order was placed in (the first of its journey)."""
    return story.j.transaction_ids[0]



class BppStory:
    """One scenario's walk through the UBC flow against the candidate BPP."""

    def __init__(self, journey: Journey) -> None:
        self.j = journey
        self.catalog: dict[str, Any] | None = None
        self.item: dict[str, Any] | None = None
        self.offer: dict[str, Any] | None = None
        self.last: Exchange | None = None
        self.buyer = Buyer(id=f"driver-{journey.transaction_id[:8]}")

    # -- discovery ------------------------------------------------------------------------------

    def _candidate_catalogs(self, since: float, exchanges: list[Exchange] | None = None
                            ) -> list[dict[str, Any]]:
        """Catalogs of the candidate in every on_discover of this transaction so far."""
        if exchanges is None:
            exchanges = self.j.cert.network.transcript.find(
                lambda e: e.direction == INBOUND and e.party == "bap"
                and e.action == "on_discover" and e.transaction_id == self.j.transaction_id
                and e.mono_time >= since)
        catalogs = []
        for exchange in exchanges:
            for catalog in dig(exchange.json(), "message", "catalogs") or []:
                if isinstance(catalog, dict) and \
                        catalog.get("beckn:bppId") == self.j.candidate.subscriber_id:
                    catalogs.append(catalog)
        return catalogs

    def _check_candidate_on_discover(self, since: float) -> None:
        """The CDS forwarded the discover to the candidate (fan-out): judge that exchange and
        the candidate's on_discover like any request and callback. A candidate that published
        its catalog instead has none to judge."""
        cert = self.j.cert
        transcript = cert.network.transcript
        forwarded = transcript.find(
            lambda e: e.direction == OUTBOUND and e.party == "cds" and e.action == "discover"
            and e.mono_time >= since and e.url.startswith(self.j.candidate.uri))
        candidate_id = self.j.candidate.subscriber_id

        def from_candidate(e: Exchange) -> bool:
            context = dig(e.json(), "context")
            return dig(context, "bpp_id") == candidate_id or \
                candidate_id in (e.header("authorization") or "")
        answers = transcript.find(
            lambda e: e.direction == INBOUND and e.party == "cds" and e.action == "on_discover"
            and e.mono_time >= since and from_candidate(e))
        every_forward = {e.message_id for e in transcript.find(
            lambda e: e.direction == OUTBOUND and e.party == "cds" and e.action == "discover")}
        for request in forwarded:
            if request.status is None and request.error is None:
                continue  # the CDS is still waiting for the answer: nothing to judge yet
            problems = timing.answered(request)
            self.j.add(problems)
            if not problems and (request.status is None or request.status >= 300
                                 or envelope.ack_status(request.response_json()) != "ACK"):
                self.j.add([Finding("UBC-SCH-013", f"the discover the CDS forwarded was "
                                    f"refused: HTTP {request.status} "
                                    f"{request.response_body[:200].decode('utf-8', 'replace')}",
                                    expected="200 ACK", actual=request.status,
                                    evidence=[request.id])])
            later = [a for a in answers if a.mono_time >= request.mono_time]
            mine = [a for a in later if a.message_id == request.message_id
                    and a.transaction_id == request.transaction_id] or [
                a for a in later if a.message_id not in every_forward - {request.message_id}
                and (a.message_id == request.message_id
                     or a.transaction_id == request.transaction_id)]
            if mine and request.status is not None and request.status < 300:
                self.j.add(timing.callback_within_ttl(request, mine[:1], cert.ttl_s))
                self.j.add(context_checks.callback_echoes_request(request, mine[0]))
        for exchange in answers:
            self.j.add(self.j.message_findings(exchange, "on_discover"))

    def discover(self, *, filters: str | None = None, spatial: list[dict[str, Any]] | None = None
                 ) -> list[dict[str, Any]]:
        """Discover through the CDS; the items of the candidate's catalogs that came back."""
        started = time.monotonic()
        call = self.j.send("discover", self._discover_message(filters, spatial),
                           expect_callback=False, to=self.j.cert.network.participants["cds"].uri)
        if not call.sent.acked:
            return []
        transaction_id = self.j.transaction_id

        def carries_candidate_catalog(exchange: Exchange) -> bool:
            return (exchange.direction == INBOUND and exchange.party == "bap"
                    and exchange.action == "on_discover" and exchange.mono_time >= started
                    and exchange.transaction_id == transaction_id
                    and bool(self._candidate_catalogs(started, [exchange])))
        # The candidate is the only BPP of the certification network: its first catalog is
        # the answer; waiting longer would only slow every run down.
        transcript = self.j.cert.network.transcript
        if transcript.wait_for(carries_candidate_catalog, self.j.cert.ttl_s) is None:
            # No catalog: give a late or malformed on_discover of the candidate the time to
            # reach the CDS, so it is judged (late, wrong ids, bad signature) rather than missed.
            candidate_id = self.j.candidate.subscriber_id
            transcript.wait_for(
                lambda e: e.direction == INBOUND and e.party == "cds"
                and e.action == "on_discover" and e.mono_time >= started
                and dig(dig(e.json(), "context"), "bpp_id") == candidate_id,
                min(self.j.cert.ttl_s, 5.0))
        catalogs = self._candidate_catalogs(started)
        self._check_candidate_on_discover(started)
        items = [i for c in catalogs for i in c.get("beckn:items") or [] if isinstance(i, dict)]
        self.j.cert.catalog_item_ids.update(str(i.get("beckn:id")) for i in items)
        if catalogs:
            self.catalog = catalogs[0]
        return items

    def _discover_message(self, filters: str | None, spatial: list[dict[str, Any]] | None
                          ) -> dict[str, Any]:
        message: dict[str, Any] = {}
        if filters:
            message["filters"] = {"type": "jsonpath", "expression": filters}
        if spatial:
            message["spatial"] = spatial
        if not message:
            message["text_search"] = "charging"
        return message

    def _offer_for(self, item_id: str) -> dict[str, Any] | None:
        for catalog in [self.catalog] if self.catalog else []:
            for offer in catalog.get("beckn:offers") or []:
                if isinstance(offer, dict) and item_id in (offer.get("beckn:items") or []):
                    return offer
        return None

    def find_any_item(self, *, connector: str | None = None, fresh: bool = True) -> None:
        """Discover the candidate's catalog and pick an item (a CCS2 one when asked); with
        `fresh=False` a catalog an earlier scenario discovered is reused."""
        cached = self.j.cert.catalog
        if not fresh and cached is None and self.j.cert.catalog_failed:
            first = self.j.cert.catalog_failed
            self.j.add([Finding("UBC-TIME-003", "the candidate's catalog never reached the BAP "
                                f"through the CDS (first tried in \"{first}\")")])
            self.j.assert_clean()
        if not fresh and cached is not None:
            self.catalog = cached
            items = [i for i in cached.get("beckn:items") or [] if isinstance(i, dict)]
        else:
            items = self.discover()
            if self.catalog is not None:
                self.j.cert.catalog = self.catalog
        chosen = [i for i in items if connector is None or
                  dig(i, "beckn:itemAttributes", "connectorType") == connector]
        if not chosen:
            self.j.cert.catalog_failed = self.j.cert.catalog_failed or self.j.title
            self.j.add([Finding("UBC-TIME-003", "the candidate's catalog did not reach the BAP "
                                "through the CDS" + (f" with a {connector} item" if connector
                                                     else ""),
                                expected="at least one item", actual=len(items))])
            self.j.assert_clean()
            return
        self.item = chosen[0]
        self.offer = self._offer_for(str(self.item.get("beckn:id")))

    def discover_by_qr(self) -> None:
        self.find_any_item()
        assert self.item is not None
        qr = dig(self.item, "beckn:itemAttributes", "qrIdentifier")
        if not isinstance(qr, str):
            self.j.add([Finding("UBC-SCH-004", "the candidate's item has no qrIdentifier to "
                                "scan", path="/beckn:itemAttributes/qrIdentifier")])
            return
        expression = f"$[?(@.beckn:itemAttributes.qrIdentifier == '{qr}')]"
        self.j.marks["qr"] = qr
        self.j.marks["qr_items"] = self.discover(filters=expression)

    def scanned_item_listed(self) -> None:
        items = self.j.marks.get("qr_items") or []
        assert self.item is not None
        wanted = self.item.get("beckn:id")
        if wanted not in [i.get("beckn:id") for i in items]:
            self.j.add([Finding("UBC-CONS-005", f"discover by QR {self.j.marks.get('qr')!r} "
                                "did not list the scanned charger", expected=wanted,
                                actual=[i.get("beckn:id") for i in items])])
        if self.offer is None or not isinstance(dig(self.offer, "beckn:price", "value"),
                                                int | float):
            self.j.add([Finding("UBC-CONS-005", f"no offer with a price for item {wanted!r}",
                                expected="an offer listing the item")])

    def discover_ccs2_nearby(self) -> None:
        self.find_any_item(connector="CCS2")
        assert self.item is not None
        geo = dig(self.item, "beckn:itemAttributes", "chargingStation", "serviceLocation",
                   "geo", "coordinates")
        spatial = None
        if isinstance(geo, list) and len(geo) == 2:
            spatial = [{"op": "s_dwithin",
                        "targets": "$['beckn:itemAttributes.chargingStation.serviceLocation.geo']",
                        "geometry": {"type": "Point", "coordinates": geo},
                        "distanceMeters": 10000}]
        start, end = self._slot(immediate=True)
        expression = ("$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && "
                      f"@.beckn:availabilityWindow[?(@.schema:startTime <= '{end}' && "
                      f"@.schema:endTime >= '{start}')])]")
        self.j.marks["nearby"] = self.discover(filters=expression, spatial=spatial)

    def ccs2_listed(self) -> None:
        items = self.j.marks.get("nearby") or []
        if not any(dig(i, "beckn:itemAttributes", "connectorType") == "CCS2" for i in items):
            self.j.add([Finding("UBC-CONS-005", "discover for CCS2 chargers within 10 km in the "
                                "time window listed none of the candidate's",
                                expected="a CCS2 item", actual=len(items))])

    # -- ordering -------------------------------------------------------------------------------

    def _slot(self, *, immediate: bool = False) -> tuple[str, str]:
        """The scenario's slot: one that starts now for a driver on the way, else one on the
        run's future day; each scenario books its own hours, so scenarios never collide."""
        if "slot" not in self.j.marks:
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            if immediate:
                start, end = now - timedelta(minutes=5), now + timedelta(hours=2)
            else:
                start = self.j.cert.slot_base + timedelta(
                    hours=2 * self.j.cert.journeys.index(self.j))
                end = start + timedelta(hours=1)
            self.j.marks["slot"] = (_iso(start), _iso(end))
        start_text, end_text = self.j.marks["slot"]
        return str(start_text), str(end_text)

    def new_order(self, *, kwh: float | None = None, money: float | None = None,
                  slot: tuple[str, str] | None = None) -> Order:
        assert self.item is not None
        price = dig(self.offer, "beckn:price", "value")
        unit_price = float(price) if isinstance(price, int | float) else None
        if money is not None and unit_price:
            kwh = round(money / unit_price, 2)
        provider = dig(self.item, "beckn:provider", "beckn:id") or \
            (self.offer or {}).get("beckn:provider") or self.j.candidate.subscriber_id
        order = Order(seller=str(provider), item_id=str(self.item.get("beckn:id")),
                      buyer=self.buyer, quantity_kwh=kwh, offer=self.offer,
                      unit_price=unit_price, buyer_finder_fee_pct=2.5)
        if slot:
            order.start_time, order.end_time = slot
        self.j.order = order
        return order

    def select(self, *, kwh: float | None = None, money: float | None = None,
               slot: bool = False, immediate: bool = False) -> Exchange | None:
        order = self.new_order(kwh=kwh, money=money,
                               slot=self._slot(immediate=immediate) if slot else None)
        call = self.j.send("select", {"order": order.to_beckn()})
        self.last = call.callback_exchange
        if self.last is not None:
            self.j.quoted = self.last
            self.j.add(consistency.items_in_catalog(self.last, self.j.cert.catalog_item_ids)
                       if self.j.cert.catalog_item_ids else [])
        return self.last

    def quote_created(self) -> None:
        self._expect_step("on_select")
        quoted = Order.from_beckn(dig(self._last_doc(), "message", "order"))
        if not quoted.components:
            self.j.add([Finding("UBC-SCH-004", "on_select carries no quote breakup",
                                path="/message/order/beckn:orderValue/components",
                                evidence=self._evidence())])
        if self.j.order is not None:
            self.j.order.components = quoted.components
            if quoted.unit_price is not None:
                self.j.order.unit_price = quoted.unit_price

    def init(self) -> None:
        assert self.j.order is not None
        self.j.order.buyer = self.buyer
        call = self.j.send("init", {"order": self.j.order.to_beckn()})
        self.last = call.callback_exchange

    def payment_requested(self) -> None:
        self._expect_step("on_init")
        doc = self._last_doc()
        amount = dig(doc, "message", "order", "beckn:payment", "beckn:amount", "value")
        assert self.j.order is not None
        if not isinstance(amount, int | float) or abs(amount - self.j.order.total) > 0.01:
            self.j.add([Finding("UBC-CONS-004", "on_init asks for a payment other than the "
                                "quoted total", path="/message/order/beckn:payment/beckn:amount",
                                expected=self.j.order.total, actual=amount,
                                evidence=self._evidence())])
        self._keep_terms()
        payment = Order.from_beckn(dig(doc, "message", "order"))
        self.j.marks["paid"] = self.j.order.total if payment else None

    def pay(self) -> None:
        self.j.marks["paid_at"] = time.monotonic()
        self.j.hook("payment-completed", {"transaction_id": self.j.transaction_id})

    def payment_completed_notice(self) -> None:
        exchange = self.j.unsolicited("on_status", after=self.j.marks.get("paid_at"),
                                      predicate=lambda d: order_status(
                                          dig(d, "message", "order")) is not None)
        if exchange is not None:
            self.last = exchange
            self.j.add(state.step_states("payment_done", exchange))

    def confirm(self) -> None:
        assert self.j.order is not None
        self.j.order.status = "PENDING"
        from harness.beckn.order import Payment

        self.j.order.payment = Payment(status="COMPLETED", amount=self.j.order.total)
        call = self.j.send("confirm", {"order": self.j.order.to_beckn()})
        self.last = call.callback_exchange

    def confirmed(self) -> None:
        self._expect_step("on_confirm")
        order_id = dig(self._last_doc(), "message", "order", "beckn:id")
        if not isinstance(order_id, str) or not order_id:
            self.j.add([Finding("UBC-SCH-004", "on_confirm gives the order no id",
                                path="/message/order/beckn:id", evidence=self._evidence())])
        elif self.j.order is not None:
            self.j.order.id = order_id
            self.j.order.status = "CONFIRMED"
        self._keep_terms()

    def plug_in_and_status(self) -> None:
        self.plug_in()
        assert self.j.order is not None
        call = self.j.send("status", {"order": self.j.order.to_beckn(full=False)})
        self.last = call.callback_exchange

    def plug_in(self) -> None:
        assert self.j.order is not None
        self.j.hook("plug-in", {"item_id": self.j.order.item_id})

    def connector_preparing(self) -> None:
        self._expect_step("on_status_before_start")
        attributes = dig(self._last_doc(), "message", "order", "beckn:fulfillment",
                          "beckn:deliveryAttributes")
        status = dig(attributes, "connectorStatus")
        if status != "PREPARING":
            self.j.add([Finding("UBC-STATE-004", "on_status after plug-in does not show the "
                                "connector PREPARING",
                                path="/message/order/beckn:fulfillment/beckn:deliveryAttributes"
                                "/connectorStatus", expected="PREPARING", actual=status,
                                evidence=self._evidence())])

    def _update(self, session: str) -> None:
        assert self.j.order is not None
        self.j.order.fulfillment = Fulfillment(session_status=session)
        call = self.j.send("update", {"order": self.j.order.to_beckn()})
        self.last = call.callback_exchange

    def start(self) -> None:
        self._update("ACTIVE")

    def started(self) -> None:
        self.j.marks["charging"] = True
        self._expect_step("on_update_start")
        if self.j.order is not None:
            self.j.order.status = "INPROGRESS"

    def cleanup(self) -> None:
        """Leave the charger free for the next scenario: stop a session this one left
        charging. Best effort and unchecked: the scenario's verdict is already taken."""
        if not self.j.marks.get("charging") or self.j.order is None:
            return
        order = self.j.order
        order.fulfillment = Fulfillment(session_status="STOP")
        # A candidate that cannot stop is judged by the scenarios, not by this cleanup.
        with contextlib.suppress(Exception):
            self.j.cert.run(self.j.cert.bap.send(
                "update", {"order": order.to_beckn()}, transaction_id=order_transaction(self),
                bpp_id=self.j.candidate.subscriber_id, bpp_uri=self.j.candidate.uri,
                timeout=self.j.cert.ttl_s))

    def track(self) -> None:
        assert self.j.order is not None
        call = self.j.send("track", {"order": self.j.order.to_beckn(full=False)})
        self.last = call.callback_exchange

    def tracked(self) -> None:
        self._expect_step("on_track")
        fulfillment = dig(self._last_doc(), "message", "order", "beckn:fulfillment")
        telemetry = dig(fulfillment, "beckn:deliveryAttributes", "chargingTelemetry")
        if not isinstance(telemetry, list) or not telemetry:
            self.j.add([Finding("UBC-STATE-004", "on_track carries no chargingTelemetry",
                                path="/message/order/beckn:fulfillment/beckn:deliveryAttributes"
                                "/chargingTelemetry", evidence=self._evidence())])
        url = dig(fulfillment, "trackingAction", "target", "url")
        if not isinstance(url, str):
            self.j.add([Finding("UBC-STATE-004", "on_track carries no tracking URL",
                                path="/message/order/beckn:fulfillment/trackingAction",
                                evidence=self._evidence())])

    def stop(self) -> None:
        if self.j.cert.hooks.available:
            self.j.hook("advance", {"seconds": 60})  # a minute of charging before the stop
        self.j.marks["stopped_at"] = time.monotonic()
        self.j.marks["charging"] = False
        self._update("STOP")

    def billed(self) -> None:
        self._expect_step("on_update_stop")
        if self.last is not None:
            self._bill_matches(self.last)

    def _bill_matches(self, exchange: Exchange) -> None:
        """UBC-CONS-006 on a final bill: UNIT components = metered energy x quoted tariff.
        The metered energy is the last ENERGY telemetry the bill carries, else its quantity."""
        order = dig(exchange.json(), "message", "order")
        energy: Any = None
        telemetry = dig(order, "beckn:fulfillment", "beckn:deliveryAttributes",
                         "chargingTelemetry")
        for sample in telemetry if isinstance(telemetry, list) else []:
            for metric in dig(sample, "metrics") or []:
                if dig(metric, "name") == "ENERGY":
                    energy = dig(metric, "value")
        if not isinstance(energy, int | float):
            energy = Order.from_beckn(order).quantity_kwh
        price = self.j.order.unit_price if self.j.order else None
        if not isinstance(energy, int | float) or not price:
            self.j.add([Finding("UBC-CONS-006", "the final bill states no metered energy "
                                "(ENERGY telemetry or item quantity) to check it against",
                                status=NOT_EVALUATED, evidence=[exchange.id])])
            return
        self.j.add(consistency.bill_matches_energy(exchange, float(energy), price))

    def terms_kept(self) -> None:
        if self.j.quoted is None or self.last is None:
            raise NotEvaluated("no on_select to compare the final bill with")
        self.j.add(consistency.terms_unchanged(self.j.quoted, self.last))

    def rate(self, value: int) -> None:
        assert self.j.order is not None
        call = self.j.send("rating", self._rating(value))
        self.last = call.callback_exchange

    def _rating(self, value: int) -> dict[str, Any]:
        from harness.beckn.order import CORE_CONTEXT

        assert self.j.order is not None
        return {"ratings": [{"@context": CORE_CONTEXT, "@type": "beckn:RatingInput",
                             "id": self.j.order.id or self.j.order.item_id,
                             "ratingValue": value, "bestRating": 5, "worstRating": 1,
                             "category": "ORDER",
                             "feedback": {"comments": "Quick and clean", "tags": []}}]}

    def rating_received(self) -> None:
        doc = self._last_doc()
        message = dig(doc, "message")
        if not isinstance(message, dict) or not any(
                k in message for k in ("received", "aggregate", "feedbackForm")):
            self.j.add([Finding("UBC-SCH-004", "on_rating acknowledges nothing",
                                path="/message", evidence=self._evidence())])

    def support(self) -> None:
        assert self.j.order is not None
        from harness.beckn.order import CORE_CONTEXT, UBC_CONTEXT

        message = {
            "refId": self.j.order.id or self.j.transaction_id, "refType": "ORDER",
            "support": {"@context": CORE_CONTEXT, "@type": "beckn:SupportInfo",
                        "name": self.buyer.name, "phone": self.buyer.phone,
                        "email": self.buyer.email, "channels": ["PHONE"]},
            "feedback": {"@context": UBC_CONTEXT, "@type": "SupportFeedback",
                         "comments": "The display was hard to read", "tags": ["display"],
                         "supportStatus": "OPEN"},
        }
        call = self.j.send("support", message)
        self.last = call.callback_exchange

    def support_answered(self) -> None:
        support = dig(self._last_doc(), "message", "support")
        if not isinstance(support, dict):
            self.j.add([Finding("UBC-SCH-004", "on_support carries no support details",
                                path="/message/support", evidence=self._evidence())])

    # -- helpers --------------------------------------------------------------------------------

    def _last_doc(self) -> Any:
        if self.last is None:
            self.j.add([Finding("UBC-TIME-003", "no callback to inspect for this step",
                                status=NOT_EVALUATED)])
            self.j.assert_clean()
        assert self.last is not None
        return self.last.json()

    def _evidence(self) -> list[str]:
        return [self.last.id] if self.last is not None else []

    def _expect_step(self, step: str) -> None:
        if self.last is None:
            self._last_doc()
            return
        self.j.add(state.step_states(step, self.last))

    def _keep_terms(self) -> None:
        if self.j.quoted is not None and self.last is not None:
            self.j.add(consistency.terms_unchanged(self.j.quoted, self.last))

    # -- composite preconditions ----------------------------------------------------------------

    def confirmed_order(self, *, kwh: float = 2.0, slot: bool = False) -> None:
        """Given: discover, select, init, pay, confirm; each step's checks must pass."""
        self.find_any_item(fresh=False)
        for action in (lambda: self.select(kwh=kwh, slot=slot), self.quote_created, self.init,
                       self.payment_requested, self.pay, self.payment_completed_notice,
                       self.confirm, self.confirmed):
            action()
            self.j.assert_clean()

    def session_in_progress(self) -> None:
        self.confirmed_order()
        for action in (self.plug_in, self.start, self.started):
            action()
            self.j.assert_clean()

    def completed_session(self) -> None:
        self.session_in_progress()
        for action in (self.stop, self.billed):
            action()
            self.j.assert_clean()

    def cancel(self) -> None:
        assert self.j.order is not None
        call = self.j.send("cancel", {"order": self.j.order.to_beckn(full=False)})
        self.last = call.callback_exchange

    def cancelled_with_refund(self) -> None:
        self._expect_step("on_cancel")
        doc = self._last_doc()
        payment = dig(doc, "message", "order", "beckn:payment", "beckn:paymentStatus")
        if payment != "REFUNDED":
            self.j.add([Finding("UBC-STATE-004", "on_cancel does not refund the payment",
                                path="/message/order/beckn:payment/beckn:paymentStatus",
                                expected="REFUNDED", actual=payment, evidence=self._evidence())])

    def cancel_refused(self) -> None:
        doc = self._last_doc()
        assert self.last is not None
        self.j.add(state.refused_with(self.last, envelope.CANCELLATION_NOT_POSSIBLE,
                                      "UBC-STATE-005", "cancel after the session started"))
        status = order_status(dig(doc, "message", "order"))
        if status is not None and status == "CANCELLED":
            self.j.add([Finding("UBC-STATE-005", "a started session was cancelled",
                                expected="INPROGRESS", actual=status,
                                evidence=self._evidence())])

    def provider_cancels(self) -> None:
        assert self.j.order is not None
        self.j.marks["cancel_at"] = time.monotonic()
        self.j.hook("cancel-by-provider", {"transaction_id": self.j.transaction_id})

    def provider_cancelled(self) -> None:
        exchange = self.j.unsolicited("on_cancel", after=self.j.marks.get("cancel_at"))
        if exchange is not None:
            self.last = exchange
            self.j.add(state.step_states("on_cancel", exchange))

    def overlapping_select(self) -> None:
        slot = self._slot()
        first_order = self.j.order
        rival = BppStory(self.j)
        rival.item, rival.offer, rival.catalog = self.item, self.offer, self.catalog
        rival.buyer = Buyer(id="rival-driver")
        self.j.marks["first_order"] = first_order
        self.j.new_transaction()  # a different driver's transaction
        order = rival.new_order(kwh=2.0, slot=slot)
        call = self.j.send("select", {"order": order.to_beckn()})
        self.last = call.callback_exchange

    def rejected_overlap(self) -> None:
        self._last_doc()
        assert self.last is not None
        self.j.add(state.refused_with(self.last, envelope.BUSINESS_ERROR, "UBC-STATE-006",
                                      "overlapping slot"))
        status = order_status(dig(self.last.json(), "message", "order"))
        if status not in (None, "REJECTED"):
            self.j.add([Finding("UBC-STATE-006", "an overlapping slot was not rejected",
                                path="/message/order/beckn:orderStatus", expected="REJECTED",
                                actual=status, evidence=self._evidence())])

    def pull_cable(self) -> None:
        assert self.j.order is not None
        self.j.marks["charging"] = False
        self.j.marks["pulled_at"] = time.monotonic()
        self.j.hook("cable-pulled", {"item_id": self.j.order.item_id})

    def interrupted(self) -> None:
        exchange = self.j.unsolicited(
            "on_status", after=self.j.marks.get("pulled_at"),
            predicate=lambda d: session_status(dig(d, "message", "order")) == "INTERRUPTED")
        if exchange is None:
            self.j.add([Finding("UBC-STATE-008", "the interruption was not reported by an "
                                "unsolicited on_status")])
            return
        self.last = exchange
        self.j.add(state.step_states("interruption", exchange))

    def refunded(self) -> None:
        exchange = self.j.unsolicited(
            "on_status", after=self.j.marks.get("stopped_at"),
            predicate=lambda d: dig(d, "message", "order", "beckn:payment",
                                     "beckn:paymentStatus") == "REFUNDED")
        if exchange is None:
            self.j.add([Finding("UBC-STATE-009", "no unsolicited on_status refunded the unused "
                                "amount")])
            return
        self.last = exchange
        self.j.add(state.step_states("refund", exchange))

    def deliver_limit(self) -> None:
        self.j.marks["limit_at"] = time.monotonic()
        self.j.marks["charging"] = False
        self.j.hook("advance", {"seconds": 900})  # 15 minutes: far past a 2 kWh limit

    def completed_by_itself(self) -> None:
        since = self.j.marks.get("limit_at")
        for action in ("on_update", "on_status"):
            exchange = self.j.cert.run(self.j.cert.bap.wait_unsolicited(
                self.j.transaction_id, action, after=since or 0.0, timeout=0.1 if
                action == "on_status" else self.j.cert.ttl_s,
                predicate=lambda d: session_status(dig(d, "message", "order")) == "COMPLETED"))
            if exchange is not None:
                self.last = exchange
                self.j.add(self.j.message_findings(exchange, action))
                self.j.add(state.step_states("on_update_stop", exchange))
                self._bill_matches(exchange)
                return
        self.j.add([Finding("UBC-TIME-003", "no unsolicited on_update or on_status reported the "
                            "session COMPLETED after the energy limit was delivered")])

    def overran_session(self) -> None:
        self.session_in_progress()
        self.j.hook("overrun", {"transaction_id": self.j.transaction_id, "extra_kwh": 1.0})
        for action in (self.stop, self.billed):
            action()
            self.j.assert_clean()
        paid = self.j.order.total if self.j.order else 0.0
        billed = Order.from_beckn(dig(self._last_doc(), "message", "order")).total
        self.j.marks["outstanding"] = round(billed - paid, 2)

    def select_again(self) -> None:
        self.j.new_transaction()
        self.select(kwh=2.0)

    def outstanding_carried(self) -> None:
        self._last_doc()
        assert self.last is not None
        outstanding = self.j.marks.get("outstanding")
        if not isinstance(outstanding, float) or outstanding <= 0:
            raise NotEvaluated("the earlier session was not billed above its payment")
        self.j.add(consistency.overcharge_carried(self.last, outstanding))
