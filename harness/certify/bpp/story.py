"""The UBC user stories as the harness plays them against a candidate BPP.

Each method is one step of a Gherkin scenario: it drives the harness's BAP (and, through the
candidate's test hooks, the physical world), then asks harness/checks/story.py whether what the
step promises holds, on top of the exchange checks every request gets. Steps in
`harness/steps/` are one-line calls into this; discovery lives in discovery.py.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from harness.beckn import hooks
from harness.beckn.order import (
    CORE_CONTEXT,
    UBC_CONTEXT,
    Buyer,
    Fulfillment,
    Order,
    Payment,
    dig,
    order_status,
)
from harness.certify.bpp.discovery import Discovery
from harness.certify.journey import Journey, NotEvaluated
from harness.checks import consistency, state, story, timing
from harness.transcript import Exchange


def order_transaction(journey: Journey) -> str:
    """The transaction the journey's order was placed in: that of its first select (a rival
    driver's come later), else the journey's first."""
    return next((c.transaction_id for c in journey.calls if c.action == "select"),
                journey.transaction_ids[0])


class BppStory:
    """One scenario's walk through the UBC flow against the candidate BPP."""

    def __init__(self, journey: Journey) -> None:
        self.j = journey
        self.discovery = Discovery(journey)
        self.catalog: dict[str, Any] | None = None
        self.item: dict[str, Any] | None = None
        self.offer: dict[str, Any] | None = None
        self.last: Exchange | None = None
        self.buyer = Buyer(id=f"driver-{journey.transaction_id[:8]}")

    # -- discovery ------------------------------------------------------------------------------

    def find_any_item(self, *, connector: str | None = None, fresh: bool = True) -> None:
        """Discover the candidate's catalog and pick an item (a CCS2 one when asked); with
        `fresh=False` a catalog an earlier scenario discovered is reused."""
        self.discovery.find_any_item(connector=connector, fresh=fresh)
        self.item, self.offer, self.catalog = (self.discovery.item, self.discovery.offer,
                                               self.discovery.catalog)

    def discover_by_qr(self) -> None:
        self.find_any_item()
        self.discovery.discover_by_qr()

    def scanned_item_listed(self) -> None:
        self.discovery.scanned_item_listed()

    def discover_ccs2_nearby(self) -> None:
        self.find_any_item(connector="CCS2")
        start, end = self.j.slot(immediate=True)
        self.discovery.discover_ccs2_nearby(start, end)

    def ccs2_listed(self) -> None:
        self.j.add(story.ccs2_item_listed(self.j.marks.get("nearby") or []))

    # -- ordering -------------------------------------------------------------------------------

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
                               slot=self.j.slot(immediate=immediate) if slot else None)
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
        assert self.last is not None
        self.j.add(story.quote_has_breakup(self.last))
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
        assert self.j.order is not None and self.last is not None
        self.j.add(story.payment_is_quoted_total(self.last, self.j.order.total))
        self._keep_terms()
        payment = Order.from_beckn(dig(doc, "message", "order"))
        self.j.marks["paid"] = self.j.order.total if payment else None

    def pay(self) -> None:
        self.j.marks["paid_at"] = time.monotonic()
        self.j.hook(hooks.PAYMENT_COMPLETED, {"transaction_id": self.j.transaction_id})

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
        self.j.order.payment = Payment(status="COMPLETED", amount=self.j.order.total)
        call = self.j.send("confirm", {"order": self.j.order.to_beckn()})
        self.last = call.callback_exchange

    def confirmed(self) -> None:
        self._expect_step("on_confirm")
        order_id = dig(self._last_doc(), "message", "order", "beckn:id")
        assert self.last is not None
        problems = story.order_has_id(self.last)
        self.j.add(problems)
        if not problems and self.j.order is not None:
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
        self.j.hook(hooks.PLUG_IN, {"item_id": self.j.order.item_id})

    def connector_preparing(self) -> None:
        self._expect_step("on_status_before_start")
        self._last_doc()
        assert self.last is not None
        self.j.add(story.connector_preparing(self.last))

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
        charging, repair a connector it faulted. Best effort and unchecked: the scenario's
        verdict is already taken."""
        if self.j.marks.get("faulted") and self.j.order is not None:
            with contextlib.suppress(Exception):
                self.j.hook(hooks.CONNECTOR_REPAIRED, {"item_id": self.j.order.item_id})
        if not self.j.marks.get("charging") or self.j.order is None:
            return
        order = self.j.order
        order.fulfillment = Fulfillment(session_status="STOP")
        # A candidate that cannot stop is judged by the scenarios, not by this cleanup.
        with contextlib.suppress(Exception):
            self.j.cert.run(self.j.cert.bap.send(
                "update", {"order": order.to_beckn()}, transaction_id=order_transaction(self.j),
                bpp_id=self.j.candidate.subscriber_id, bpp_uri=self.j.candidate.uri,
                timeout=self.j.cert.ttl_s))

    def track(self) -> None:
        assert self.j.order is not None
        call = self.j.send("track", {"order": self.j.order.to_beckn(full=False)})
        self.last = call.callback_exchange

    def tracked(self) -> None:
        self._expect_step("on_track")
        self._last_doc()
        assert self.last is not None
        self.j.add(story.tracking_live(self.last))

    def stop(self) -> None:
        if self.j.cert.hooks.available:
            self.j.hook(hooks.ADVANCE, {"seconds": 60})  # a minute of charging before the stop
        self.j.marks["stopped_at"] = time.monotonic()
        self.j.marks["charging"] = False
        self._update("STOP")

    def billed(self) -> None:
        self._expect_step("on_update_stop")
        if self.last is not None:
            self._bill_matches(self.last)

    def _bill_matches(self, exchange: Exchange) -> None:
        """UBC-CONS-006 on a final bill: UNIT components = metered energy x quoted tariff."""
        self.j.add(story.bill_matches_meter(exchange, self.j.order.unit_price
                                            if self.j.order else None))

    def terms_kept(self) -> None:
        if self.j.quoted is None or self.last is None:
            raise NotEvaluated("no on_select to compare the final bill with")
        self.j.add(consistency.terms_unchanged(self.j.quoted, self.last))

    def rate(self, value: int) -> None:
        assert self.j.order is not None
        call = self.j.send("rating", self._rating(value))
        self.last = call.callback_exchange

    def _rating(self, value: int) -> dict[str, Any]:
        assert self.j.order is not None
        return {"ratings": [{"@context": CORE_CONTEXT, "@type": "beckn:RatingInput",
                             "id": self.j.order.id or self.j.order.item_id,
                             "ratingValue": value, "bestRating": 5, "worstRating": 1,
                             "category": "ORDER",
                             "feedback": {"comments": "Quick and clean", "tags": []}}]}

    def rating_received(self) -> None:
        self._last_doc()
        assert self.last is not None
        self.j.add(story.rating_acknowledged(self.last))

    def support(self) -> None:
        assert self.j.order is not None
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
        self._last_doc()
        assert self.last is not None
        self.j.add(story.support_answered(self.last))

    # -- helpers --------------------------------------------------------------------------------

    def _last_doc(self) -> Any:
        if self.last is None:
            self.j.add([timing.not_evaluated("UBC-TIME-003", "no callback to inspect for this "
                                             "step")])
            self.j.assert_clean()
        assert self.last is not None
        return self.last.json()

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
        self._last_doc()
        assert self.last is not None
        self.j.add(story.cancel_refunds(self.last))

    def cancel_refused(self) -> None:
        self._last_doc()
        assert self.last is not None
        self.j.add(story.late_cancel_refused(self.last))

    def provider_cancels(self) -> None:
        assert self.j.order is not None
        self.j.marks["cancel_at"] = time.monotonic()
        self.j.hook(hooks.CANCEL_BY_PROVIDER, {"transaction_id": self.j.transaction_id})

    def provider_cancelled(self) -> None:
        exchange = self.j.unsolicited("on_cancel", after=self.j.marks.get("cancel_at"))
        if exchange is not None:
            self.last = exchange
            self.j.add(state.step_states("on_cancel", exchange))

    def overlapping_select(self) -> None:
        slot = self.j.slot()
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
        self.j.add(story.overlap_rejected(self.last))

    def fault_charger(self) -> None:
        """The order's connector develops a fault (hook `connector-fault`); the scenario's
        cleanup repairs it, so the next scenario finds the charger as it was."""
        assert self.j.order is not None
        self.j.marks["faulted"] = True
        self.j.hook(hooks.CONNECTOR_FAULT, {"item_id": self.j.order.item_id})

    def start_refused(self) -> None:
        self._last_doc()
        assert self.last is not None
        self.j.add(story.impossible_start_refused(self.last))

    def pull_cable(self) -> None:
        assert self.j.order is not None
        self.j.marks["charging"] = False
        self.j.marks["pulled_at"] = time.monotonic()
        self.j.hook(hooks.CABLE_PULLED, {"item_id": self.j.order.item_id})

    def interrupted(self) -> None:
        exchange = self.j.unsolicited("on_status", after=self.j.marks.get("pulled_at"),
                                      predicate=story.is_interrupted)
        self.last = exchange or self.last
        self.j.add(story.interruption_reported(exchange))

    def refunded(self) -> None:
        exchange = self.j.unsolicited("on_status", after=self.j.marks.get("stopped_at"),
                                      predicate=story.is_refunded)
        self.last = exchange or self.last
        self.j.add(story.refund_reported(exchange))

    def deliver_limit(self) -> None:
        self.j.marks["limit_at"] = time.monotonic()
        self.j.marks["charging"] = False
        self.j.hook(hooks.ADVANCE, {"seconds": 900})  # 15 minutes: far past a 2 kWh limit

    def completed_by_itself(self) -> None:
        since = self.j.marks.get("limit_at")
        for action in ("on_update", "on_status"):
            exchange = self.j.cert.run(self.j.cert.bap.wait_unsolicited(
                self.j.transaction_id, action, after=since or 0.0, timeout=0.1 if
                action == "on_status" else self.j.cert.ttl_s,
                predicate=story.is_completed))
            if exchange is not None:
                self.last = exchange
                self.j.add(self.j.message_findings(exchange, action))
                self.j.add(state.step_states("on_update_stop", exchange))
                self._bill_matches(exchange)
                return
        self.j.add(story.completion_reported(None))

    def overran_session(self) -> None:
        self.session_in_progress()
        self.j.hook(hooks.OVERRUN, {"transaction_id": self.j.transaction_id, "extra_kwh": 1.0})
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
