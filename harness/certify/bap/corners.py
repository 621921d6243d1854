"""The corner cases of TSD §12 told from the driver's app (features/bap/corner_cases.feature):
what the BPP tells the app without being asked, and what it refuses, must reach the driver.

The harness plays the BPP (the reference BPP) and owns its charger, so it makes the physical
world happen on the charger itself, as the BPP side's test hooks do (harness/beckn/hooks.py):
the cable pulled out of the car, a minute of charging (the charger's clock advanced, never
waited for), another driver's booking held on the connector. Then:

- interruption (§12.2) and early stop (§12.3, §12.5.1): the BPP reports unasked, in an
  on_status (then an on_update billing the session, an on_status refunding the rest); the app
  must acknowledge each (UBC-SCH-013, as every valid callback of the harness), and once the BPP
  has said all it had to say, `GET /v1/orders/{id}` must show the last of it (UBC-API-008);
- a start the faulted charger cannot perform (BECKN-005, example
  10_on_update/ev-charging-start-on_update-Rejected): the BPP answers the app's update with
  on_update REJECTED and error 40006; the app's `PUT /v1/orders/{id}/start` must answer the
  driver 409, as below, not that charging started (UBC-API-009);
- overlapping slot (§12.4): the BPP answers the app's select with on_select REJECTED and error
  40000; the app's `POST /v1/estimate` must answer the driver 409 CONFLICT in the contract's
  error format — the contract's status for "Order in invalid state for requested operation",
  and the one schemas/openapi/client-api.yaml gives a business or policy refusal of the BPP —
  not a quote (UBC-API-009).

The session these scenarios start from is BapStory's walk: search, estimate, pay, then plug in
and start. Whether the app confirms on the BPP's payment notice is the walk-in's to judge
(UBC-API-002); here the driver waits for that confirm a ttl at most and starts charging
either way, so an app that misses unsolicited callbacks is judged on what it shows afterwards.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

from harness.beckn import envelope, hooks
from harness.beckn import time as wire_time
from harness.beckn.order import dig, payment_status, session_status
from harness.certify.bap.story import BapStory
from harness.certify.journey import NotEvaluated
from harness.checks import relayed
from harness.transcript import INBOUND, OUTBOUND, Exchange
from mocks.charger import Charger, ChargerError

T = TypeVar("T")
QUIET_S = 0.1  # the BPP has said all it had to say when nothing more came for this long
CHARGED_S = 60.0  # simulated seconds of charging before the cable is pulled or the driver stops
OVERLAP = timedelta(minutes=30)  # how far the driver's slot is shifted from the booked one
CONFLICT = 409  # client API contract, Error Responses: the answer to the BPP's 40000
# what the BPP refuses, by the driver's call: (request, its callback, error code, what)
REFUSALS = {"select": ("select", "on_select", envelope.BUSINESS_ERROR, "the overlapping slot"),
            "start": ("update", "on_update", envelope.FULFILMENT_AGENT_UNAVAILABLE,
                      "the start on a faulted charger")}
NEWS = {"the session INTERRUPTED": lambda doc: session_status(
            dig(doc, "message", "order")) == "INTERRUPTED",
        "the payment REFUNDED": lambda doc: payment_status(
            dig(doc, "message", "order")) == "REFUNDED"}


class CornerCases:
    """One corner-case scenario, driving the app through `story`."""

    def __init__(self, story: BapStory) -> None:
        self.story = story
        self.j = story.j
        self.cert = story.cert
        self.news: Exchange | None = None  # the BPP's unsolicited report of the event
        self.reservation_id: str | None = None  # another driver's hold on the connector
        self.refused: Exchange | None = None  # the app's answer to a call the BPP refused
        self.faulted = False  # the connector was made to fault; the cleanup repairs it
        self.refusal = "select"  # which refusal of REFUSALS the scenario is about

    # -- the world --------------------------------------------------------------------------------

    def _on_charger(self, act: Callable[[Charger], T]) -> T:
        charger = self.cert.network.charger
        if charger is None:
            raise NotEvaluated("this run plays no charger")

        async def on_loop() -> T:  # the charger lives on the network's loop
            return act(charger)
        return self.cert.run(on_loop(), timeout=5)

    @property
    def _connector(self) -> str:
        """The charger's id of the connector the app found (the catalog's ends with it)."""
        connector = str(self.story.connector.get("id") or "").rsplit("*", 1)[-1]
        if not connector:
            raise NotEvaluated("the app found no connector of the harness BPP")
        return connector

    # -- a charging session in progress ------------------------------------------------------------

    def session_in_progress(self) -> None:
        """Search, estimate 20 kWh, pay, start with the car plugged in, then a minute of
        charging; each step's checks must pass."""
        story = self.story
        for step in (story.catalog_listed, story.search, lambda: story.estimate(20.0),
                     story.pay, self._paid, story.plug_in_and_start):
            step()
            self.j.assert_clean()
        self._on_charger(lambda charger: charger.advance(CHARGED_S))

    def _paid(self) -> None:
        """The BPP's payment notice came, and the app's confirm, if it sends one, within a
        ttl."""
        transcript, tid = self.cert.network.transcript, self.story.transaction_id
        if transcript.wait_for(lambda e: e.direction == OUTBOUND and e.party == "bpp"
                               and e.action == "on_status" and e.transaction_id == tid,
                               self.cert.ttl_s + 2) is None:
            raise NotEvaluated("the harness BPP sent no payment notice (on_status)")
        transcript.wait_for(lambda e: e.direction == INBOUND and e.party == "bpp"
                            and e.action == "confirm" and e.transaction_id == tid,
                            self.cert.ttl_s)
        self.story.judge()

    def pull_cable(self) -> None:
        """The driver pulls the cable out mid-charge, as the BPP's `cable-pulled` hook does."""
        connector = self._connector
        self._on_charger(lambda charger: charger.inject_fault(connector, "cable_pulled"))

    # -- what the BPP tells the app unasked -------------------------------------------------------

    def _from_bpp(self, exchange: Exchange) -> bool:
        """A callback of the harness BPP to the app in the order's transaction."""
        return (exchange.direction == OUTBOUND and exchange.party == "bpp"
                and (exchange.action or "").startswith("on_")
                and exchange.transaction_id == self.story.transaction_id)

    def told(self, what: str) -> None:
        """The BPP reported `what` (a key of NEWS: states the session reaches only after the
        scenario's event) in an unsolicited callback; wait until it has said all it had to
        say, and judge the app's answers to it all."""
        if what not in NEWS:
            raise ValueError(f"harness bug: no news {what!r}; news: {', '.join(NEWS)}")
        asked = {r.message_id for r in self.story.requests()}
        reports = NEWS[what]
        self.news = self.cert.network.transcript.wait_for(
            lambda e: self._from_bpp(e) and e.action in envelope.UNSOLICITED
            and e.message_id not in asked
            and e.status is not None and reports(e.json()), self.cert.ttl_s + 2)
        if self.news is None:
            raise NotEvaluated(f"the harness BPP reported {what} in no unsolicited callback")
        self._settled()
        self.story.judge()  # every callback must be ACKed (UBC-SCH-013)

    def _settled(self) -> None:
        """No callback of the BPP in flight, and none begun for QUIET_S since the news
        (bounded by the ttl): the app has taken in everything it was told."""
        assert self.news is not None
        transcript, since = self.cert.network.transcript, self.news.mono_time
        deadline = time.monotonic() + self.cert.ttl_s
        seen: set[str] = set()
        while (left := deadline - time.monotonic()) > 0:
            fresh = transcript.wait_for(lambda e: self._from_bpp(e) and e.id not in seen
                                        and e.mono_time >= since, min(QUIET_S, left))
            if fresh is None:
                return
            seen.add(fresh.id)
            transcript.wait_for(partial(_finished, fresh.id), left)

    def shows_news(self) -> None:
        """`GET /v1/orders/{id}` shows what the BPP last told the app (UBC-API-008)."""
        if self.news is None:
            raise NotEvaluated("no unsolicited callback to look for in what the app shows")
        self.story.order_call("GET")
        view = self.story.last
        assert view is not None
        answered = view.response_mono_time or view.mono_time
        told = [e for e in self.cert.network.transcript.query(
                    party="bpp", direction=OUTBOUND, transaction_id=self.story.transaction_id,
                    since=self.news.mono_time)
                if self._from_bpp(e) and e.mono_time <= answered]
        self.j.add(relayed.news_shown(view, told))

    # -- an overlapping slot ----------------------------------------------------------------------

    def slot_held_elsewhere(self) -> None:
        """Another driver holds the connector the app found for this scenario's one-hour
        slot: a booking the charger holds, whoever took it."""
        start, end = (wire_time.epoch(t) for t in self.j.slot())
        assert start is not None and end is not None
        connector = self._connector
        self.reservation_id = self._on_charger(
            lambda charger: charger.reserve(connector, start, end)).id

    def estimate_overlapping(self, kwh: float) -> None:
        """The driver asks for a slot starting half an hour into the held one."""
        start, end = (wire_time.parse(t) + OVERLAP for t in self.j.slot())
        window = {"start": wire_time.format(start, timespec="seconds"),
                  "end": wire_time.format(end, timespec="seconds")}
        self.refusal = "select"
        self.refused = self.story.attempt("POST", "/estimate", self.story.asking(
            kwh, (window["start"], window["end"])))

    def _rejection(self) -> Exchange:
        """The BPP's callback refusing the app's request behind the refused call: on_select
        with 40000 (an overlapping slot), or on_update with 40006 (a start the charger
        cannot perform)."""
        request, callback, code, what = REFUSALS[self.refusal]
        if not any(r.action == request for r in self.story.requests()):
            self.j.assert_clean()
            raise NotEvaluated(f"the app sent no {request} for the driver's call")
        rejected = [e for e in self.story.callbacks(callback)
                    if dig(e.json(), "error", "code") == code]
        if not rejected:
            raise NotEvaluated(f"the harness BPP did not refuse {what} with {code}")
        return rejected[-1]

    def rejected(self) -> None:
        self._rejection()
        self.j.assert_clean()

    def refusal_reaches_driver(self) -> None:
        if self.refused is None:
            raise NotEvaluated("the driver made no call the BPP could refuse")
        self.j.add(relayed.refusal_relayed(self.refused, self._rejection(), CONFLICT))

    # -- a start the charger cannot perform -----------------------------------------------------

    def fault_charger(self) -> None:
        """The connector of the driver's order develops a fault (the harness BPP's test hook,
        as a BPP candidate's `connector-fault`): the charger cannot start a session."""
        item = str(self.story.connector.get("id") or "")
        if not item:
            raise NotEvaluated("no connector found to fault")
        self.faulted = True
        self.story.hook(hooks.CONNECTOR_FAULT, {"item_id": item})

    def try_to_start(self) -> None:
        """The driver plugs in and asks the app to start: the app's answer, whatever it is."""
        self.refusal = "start"
        self.story.plug_in()
        self.refused = self.story.attempt("PUT", f"/orders/{self.story.order_id}/start")

    # -- after the scenario ------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Give another driver's hold back and repair a connector made to fault, so the
        connector is free for what follows."""
        if self.faulted:
            with contextlib.suppress(Exception):  # best effort: the verdict is taken
                self.story.hook(hooks.CONNECTOR_REPAIRED,
                                {"item_id": str(self.story.connector.get("id") or "")})
        held = self.reservation_id
        if held is None:
            return

        def release(charger: Charger) -> None:
            with contextlib.suppress(ChargerError):  # it ended on its own meanwhile
                charger.cancel_reservation(held)
        self._on_charger(release)


def _finished(exchange_id: str, exchange: Exchange) -> bool:
    """The exchange `exchange_id` was answered, or failed."""
    return exchange.id == exchange_id and (exchange.status is not None
                                           or exchange.error is not None)
