"""The walk-in story told from the driver's app: the harness, as the driver, calls the
candidate's /v1 client API; the app sends Beckn requests to the harness's CDS and BPP.

After each call every request the app sent since the scenario began is judged: the
per-message pipeline on each (once), then harness/checks/initiator.py across them all (fresh
message ids, one transaction id, the flow's order); a select must order an item of the
catalog the harness BPP published (UBC-CONS-005); every valid callback the harness sent the
app (its CDS's on_discover, its BPP's callbacks for the order) must be ACKed (UBC-SCH-013).
Each /v1 answer must have the contract's shape; what the app shows is held against the
callbacks behind it (harness/checks/client_api.py): amounts, and in every answer the order,
payment and charging states and the telemetry the BPP last reported.
The harness plays the BPP, so the physical world (the driver paying, the charger's clock, the
operator cancelling) goes through that BPP's test hooks (`BapCertification.bpp_hooks`).
A /v1 call that does not succeed blocks the scenario (not evaluated) unless the requests
behind it already failed it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.beckn import hooks
from harness.beckn import time as wire_time
from harness.beckn.order import dig, order_status, session_status
from harness.certify.bap.certification import BapCertification, HeldOrder
from harness.certify.journey import Journey, NotEvaluated
from harness.checks import client_api, consistency, initiator, refusal, shown
from harness.findings import Finding
from harness.transcript import INBOUND, OUTBOUND, Exchange

SITE = [12.9352, 77.6245]
NEAR_THE_SITE = {"geo_coordinates": SITE, "distance_meters": 5000}
CAR = {"make": "Tata", "model": "Nexon EV", "type": "4-wheeler"}
QUOTED_TOTAL = ("message", "order", "beckn:orderValue", "value")
ASKED_AMOUNT = ("message", "order", "beckn:payment", "beckn:amount", "value")


class BapStory:
    """One scenario's walk through the UBC flow, driving the candidate app."""

    def __init__(self, journey: Journey) -> None:
        self.j = journey
        cert = journey.certification
        assert isinstance(cert, BapCertification)
        self.cert = cert
        self.bpp_id = cert.network.participants["bpp"].subscriber_id
        self.order_id = ""
        # The X-Transaction-Id the driver sends about the order, once the estimate gave one.
        self.tracking_id: str | None = None
        self.connector: dict[str, Any] = {}
        self.reported: set[tuple[str, tuple[str, ...]]] = set()
        self.last: Exchange | None = None

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def transaction_id(self) -> str:
        return self.j.transaction_id

    def requests(self) -> list[Exchange]:
        return self.cert.requests_from_candidate(since=self.j.started_mono)

    def callbacks(self, action: str) -> list[Exchange]:
        """The harness BPP's callbacks of this action in the order's transaction."""
        return self.cert.network.transcript.query(party="bpp", direction=OUTBOUND,
                                                  action=action,
                                                  transaction_id=self.transaction_id)

    def judge(self) -> None:
        """Judge every request the app sent so far; each finding is reported once."""
        requests = self.requests()
        for request in requests:
            self._add(self.cert.judge_request(request))
        answered = [e for e in self.cert.network.transcript.query(party="bpp",
                                                                  direction=OUTBOUND,
                                                                  since=self.j.started_mono)]
        bpp = self.cert.network.participants["bpp"]
        self._add(initiator.fresh_message_ids(requests) + initiator.transaction_kept(requests)
                  + initiator.actions_in_order(requests, answered)
                  + initiator.addressed_as_registered(
                      requests, (self.cert.candidate.subscriber_id, self.cert.candidate.uri),
                      {bpp.subscriber_id: bpp.uri}))
        for callback in self.callbacks_to_app(requests):
            self._add(refusal.valid_request_acknowledged(
                callback, f"the harness {callback.party.upper()}'s valid, signed "
                f"{callback.action}"))
        selects = [r for r in requests if r.action == "select" and r.party == "bpp"]
        catalogs = self.catalogs() if selects else []
        for select in selects:
            self._add(consistency.selected_from_catalog(select, catalogs))
        window = self.j.marks.get("window")
        if isinstance(window, tuple):
            for request in requests:
                self._add(initiator.requested_slot_carried(request, window))

    def callbacks_to_app(self, requests: list[Exchange]) -> list[Exchange]:
        """The valid callbacks the harness sent the app since the scenario began, which it must
        ACK: the CDS's on_discover answering a discover the app sent (`requests`), the harness
        BPP's callbacks in the order's transactions."""
        app = self.cert.candidate.uri.rstrip("/")
        discovers = {r.message_id for r in requests if r.action == "discover"}
        sent = [e for party in ("cds", "bpp") for e in self.cert.network.transcript.query(
            party=party, direction=OUTBOUND, since=self.j.started_mono)]
        return [e for e in sent if e.url.startswith(app) and (
            (e.action == "on_discover" and e.message_id in discovers)
            or (e.party == "bpp" and (e.action or "").startswith("on_")
                and e.transaction_id in self.j.transaction_ids))]

    def catalogs(self) -> list[dict[str, Any]]:
        """The harness BPP's catalogs the app was shown (the CDS's on_discover answers to it)
        or the CDS holds: what the app can order, and at which offers."""
        shown = [c for e in self.cert.network.transcript.query(party="cds", direction=OUTBOUND,
                                                               action="on_discover")
                 for c in dig(e.json(), "message", "catalogs") or [] if isinstance(c, dict)]
        held = [r.get("catalog") for r in self.cert.network.live_catalogs(self.bpp_id)]
        return [c for c in [*shown, *held]
                if isinstance(c, dict) and c.get("beckn:bppId") == self.bpp_id]

    def catalog_items(self) -> dict[str, dict[str, Any]]:
        """The items of the harness BPP's catalogs (`catalogs`), by id."""
        return {str(item.get("beckn:id")): item for catalog in self.catalogs()
                for item in catalog.get("beckn:items") or [] if isinstance(item, dict)}

    def _add(self, findings: list[Finding]) -> None:
        for finding in findings:
            key = (finding.rule, tuple(finding.evidence))
            if key not in self.reported:
                self.reported.add(key)
                self.j.add([finding])

    def attempt(self, method: str, path: str, body: dict[str, Any] | None = None,
                *, about_order: bool = True) -> Exchange:
        """One /v1 call as the driver, judged: its shape, the requests behind it, and the
        states and telemetry it shows against the BPP's callbacks; its exchange, whatever the
        answer."""
        exchange = self.cert.client.call(
            method, path, body=body, transaction_id=self.tracking_id or (
                self.transaction_id if about_order or len(self.j.transaction_ids) > 1
                else None),
            bpp_id=self.bpp_id if about_order else None)
        self.last = exchange
        self._add(client_api.answers_in_contract_shape(exchange))
        self.judge()
        callbacks = self.order_callbacks()
        self._add(shown.shown_states_follow_callbacks(exchange, callbacks))
        self._add(shown.shown_telemetry_is_latest(exchange, callbacks))
        if isinstance(self.j.marks.get("window"), tuple):  # the driver booked a slot
            self._add(shown.shown_mode_is_asked(exchange, reservation=True))
        return exchange

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             *, about_order: bool = True) -> dict[str, Any]:
        """One /v1 call as the driver; its answer's body. Blocks the step when it fails."""
        return self.succeeded(self.attempt(method, path, body, about_order=about_order))

    def succeeded(self, exchange: Exchange) -> dict[str, Any]:
        """The body of a /v1 answer that succeeded; else the step is blocked."""
        method, path = exchange.method, exchange.url
        answer = exchange.response_json()
        if exchange.status is not None and 200 <= exchange.status < 300 and \
                isinstance(answer, dict):
            return answer
        self.j.assert_clean()  # the requests behind it failed: that is the reason
        if exchange.status is None:  # no answer at all: the driver's error says why
            raise NotEvaluated(f"{method} {path}: {exchange.error or 'no answer'}")
        raise NotEvaluated(f"the app's client API answered {method} {path} with HTTP "
                           f"{exchange.status}: {exchange.response_body[:200]!r}")

    def order_call(self, method: str, suffix: str = "",
                   body: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.order_id:
            raise NotEvaluated("no order: the estimate did not give one")
        return self.call(method, f"/orders/{self.order_id}{suffix}", body)

    # -- the walk-in ----------------------------------------------------------------------------

    def catalog_listed(self) -> None:
        """The harness BPP is registered; the CDS answers a discover from its cache or by
        fanning it out to the BPP, so its charger is discoverable either way."""
        if "bpp" not in self.cert.network.participants or self.cert.network.cds is None:
            raise NotEvaluated("this run plays no BPP or no CDS for the app to find")

    def search(self, query: dict[str, Any] | None = None) -> None:
        found = self.call("POST", "/search", query or NEAR_THE_SITE, about_order=False)
        assert self.last is not None
        transaction_id = self.last.response_headers.get("x-transaction-id")
        if transaction_id:
            self.j.transaction_ids.append(transaction_id)
        # The contract's search names no BPP: a connector is the harness BPP's when the app
        # says so (`bpp_id`, the reference BAP's addition) or when its id is one of that BPP's
        # items (the contract's connector id is the Beckn item id an estimate orders).
        items = self.catalog_items()
        connectors = [c for catalog in found.get("catalogs") or [] if isinstance(catalog, dict)
                      for c in catalog.get("connectors") or [] if isinstance(c, dict) and (
                          catalog.get("bpp_id") == self.bpp_id if "bpp_id" in catalog
                          else c.get("id") in items)]
        self.connector = next((c for c in connectors if dig(
            c, "connectorAttributes", "connectorType") == "CCS2"), connectors[0]
            if connectors else {})
        if not self.connector:
            raise NotEvaluated("the app's search listed no connector of the harness BPP")
        self.cert.found_connector = dict(self.connector)

    def discovered_through_cds(self) -> None:
        if not any(r.action == "discover" and r.party == "cds" for r in self.requests()):
            raise NotEvaluated("the app listed chargers without a discover to the CDS")
        self.j.assert_clean()

    def estimate(self, kwh: float, window: tuple[str, str] | None = None) -> None:
        self.estimated(self.call("POST", "/estimate", self.asking(kwh, window)))

    def asking(self, kwh: float, window: tuple[str, str] | None = None) -> dict[str, Any]:
        """An estimate's body for `kwh` at the connector found, in the slot `window` (start,
        end) for a reservation: what the app's select (init, confirm) must then carry."""
        body: dict[str, Any] = {
            "evse_id": self.evse_id(), "connector_id": self.connector.get("id"),
            "vehicle": CAR, "energy": {"value": kwh, "unit": "kWh"}}
        if window is not None:
            body["time_window"] = {"start": window[0], "end": window[1]}
            self.j.marks["window"] = window
        return body

    def evse_id(self) -> Any:
        """The EVSE id of the connector found. The contract's connector carries none, which an
        estimate needs: the driver reads it off the charger, i.e. the EVSE id of that item in
        the harness BPP's catalog."""
        return self.connector.get("evse_id") or dig(
            self.catalog_items().get(str(self.connector.get("id")), {}),
            "beckn:itemAttributes", "evseId")

    def estimated(self, answer: dict[str, Any]) -> None:
        """The order the estimate gave, and the transactions it goes on in. The driver's
        `X-Transaction-Id` is the app's tracking id of the order (the contract leaves open
        whether it is the Beckn transaction_id too): the driver keeps sending the one the
        estimate was asked under (or the one its answer named), and the order's Beckn
        transaction is the one of the select the app sent for the estimate."""
        self.order_id = str(dig(answer, "order", "id") or "")
        estimate = self.last
        assert estimate is not None
        asked = estimate.header("X-Transaction-Id")
        named = estimate.response_headers.get("x-transaction-id")
        self.tracking_id = named or asked or self.tracking_id
        selects = [r.transaction_id for r in self.requests() if r.action == "select"
                   and r.party == "bpp" and r.mono_time >= estimate.mono_time]
        for transaction_id in (named, *selects[-1:]):
            if transaction_id and transaction_id != self.transaction_id:
                self.j.transaction_ids.append(transaction_id)

    def shows_quoted_total(self) -> None:
        self.shows("on_select", ("amount", "value"), QUOTED_TOTAL)

    def shows(self, action: str, shown_at: tuple[str, ...], quoted_at: tuple[str, ...]) -> None:
        answer, callbacks = self.last, self.callbacks(action)
        if answer is None or not callbacks:
            raise NotEvaluated(f"no {action} in the order's transaction to compare with")
        self.j.add(client_api.shown_total_is_quoted(answer, shown_at, callbacks[-1], quoted_at))

    def pay(self) -> None:
        """The driver pays through the app, then at the payment link the BPP gave: the BPP's
        gateway reports it (the hook), and the BPP tells the app in an unsolicited on_status."""
        self.order_call("POST", "/payment", {"payment_method": "UPI"})
        order_id = self.bpp_order_id()
        if not order_id:
            raise NotEvaluated("the harness BPP gave the app no order to pay for (no on_init)")
        self.hook(hooks.PAYMENT_COMPLETED, {"transaction_id": order_id})

    def shows_asked_amount(self) -> None:
        self.shows("on_init", ("amount",), ASKED_AMOUNT)

    def confirms_once_paid(self) -> None:
        """The harness BPP reports the payment in an unsolicited on_status; a confirm of the
        app must follow within the ttl."""
        transcript, wait = self.cert.network.transcript, self.cert.ttl_s + 2
        notice = transcript.wait_for(
            lambda e: e.direction == OUTBOUND and e.party == "bpp" and e.action == "on_status"
            and e.transaction_id == self.transaction_id, wait)
        if notice is None:
            raise NotEvaluated("the harness BPP sent no payment notice (on_status)")
        confirm = transcript.wait_for(
            lambda e: e.direction == INBOUND and e.party == "bpp" and e.action == "confirm"
            and e.mono_time >= self.j.started_mono, wait)
        if confirm is not None:  # the driver goes on once the BPP has answered it (a slot is
            # reserved as the BPP confirms: a car plugged in before that would occupy it)
            transcript.wait_for(
                lambda e: e.direction == OUTBOUND and e.party == "bpp"
                and e.action == "on_confirm" and e.message_id == confirm.message_id
                and e.status is not None, wait)
        self.judge()
        self.j.add(client_api.paid_order_confirmed(notice, confirm, wait))

    def plug_in(self) -> None:
        charger, connector = self.cert.network.charger, str(self.connector.get("id") or "")
        if charger is None or not connector:
            raise NotEvaluated("no charger or connector to plug the car into")

        async def plug() -> None:
            charger.plug_in(connector.rsplit("*", 1)[-1])
        self.cert.run(plug(), timeout=5)

    def plug_in_and_start(self) -> None:
        self.plug_in()
        self.order_call("PUT", "/start")

    def watch(self) -> None:
        """A minute into the session (the charger's clock moves on), the driver looks."""
        self.hook(hooks.ADVANCE, {"seconds": 60})
        self.order_call("GET")

    def stop(self) -> None:
        self.order_call("PUT", "/stop", {"reason_code": "USER_REQUESTED"})
        self.j.marks["stopped"] = self.last

    def rate(self, value: int) -> None:
        self.order_call("POST", "/rating", {"value": value, "feedback": {"comments": "Quick"}})

    def support(self) -> None:
        self.order_call("GET", "/support")

    def sent(self, action: str) -> None:
        """The app sent a request of this action for the order, and it was judged."""
        if not any(r.action == action for r in self.requests()):
            raise NotEvaluated(f"the app sent no {action} for the driver's call")
        self.j.assert_clean()

    def cleanup(self) -> None:
        """At the end of the scenario every car leaves the harness's charger (a session still
        charging is ended by it), so the next scenario, a reservation's slot that begins now
        above all, finds the connectors free: the harness plays the drivers of every one."""
        charger = self.cert.network.charger
        if charger is None:
            return

        async def unplug() -> None:
            for c in charger.connectors():
                if c.plugged:
                    charger.unplug(c.id)
        self.cert.run(unplug(), timeout=5)

    # -- the stories besides the walk-in (reservation, cancel, rating, support) -----------------
    # The givens they share, what the app shows at each point, and the reservation's own
    # steps; the cancellations are in cancel.py.

    def hook(self, name: str, body: dict[str, Any]) -> Any:
        """Play the physical world at the harness's BPP (its test hooks)."""
        return self.j.hook(name, body, via=self.cert.bpp_hooks)

    def order_transactions(self) -> set[str | None]:
        """The scenario's transactions, and every one the app sent the BPP a request in
        (an app that wrongly moves its order to another is judged for that, UBC-CTX-024)."""
        return {*self.j.transaction_ids,
                *(r.transaction_id for r in self.requests() if r.party == "bpp")}

    def order_callbacks(self) -> list[Exchange]:
        """The harness BPP's callbacks to the app in the order's transactions, in the order
        they were sent: what the app knows of its order."""
        app, transactions = self.cert.candidate.uri.rstrip("/"), self.order_transactions()
        return [e for e in self.cert.network.transcript.query(
                    party="bpp", direction=OUTBOUND, since=self.j.started_mono)
                if e.url.startswith(app) and (e.action or "").startswith("on_")
                and e.transaction_id in transactions]

    def bpp_order_id(self) -> str:
        """The BPP's id of the order, from its latest on_init or on_confirm to the app."""
        for callback in reversed(self.order_callbacks()):
            found = dig(callback.json(), "message", "order", "beckn:id")
            if callback.action in ("on_init", "on_confirm") and isinstance(found, str) and found:
                return found
        return ""

    def wait_callback(self, action: str, after: float, what: str,
                      predicate: Callable[[Any], bool] | None = None) -> Exchange:
        """The harness BPP's callback of `action` to the app about the order, sent after
        `after` (a monotonic time) and answered by the app; NotEvaluated when none comes
        within the ttl."""
        app, transactions = self.cert.candidate.uri.rstrip("/"), self.order_transactions()
        with self.cert.waits.awaiting(f"the harness BPP's {action} {what}, answered by the app",
                                      self.cert.ttl_s + 2):
            found = self.cert.network.transcript.wait_for(
                lambda e: e.direction == OUTBOUND and e.party == "bpp" and e.action == action
                and e.url.startswith(app) and e.transaction_id in transactions
                and e.mono_time >= after and e.status is not None
                and (predicate is None or predicate(e.json())), self.cert.ttl_s + 2)
        if found is None:
            raise NotEvaluated(f"the harness BPP sent the app no {action} {what}")
        return found

    # -- givens ---------------------------------------------------------------------------------

    def holding(self) -> HeldOrder:
        """The order this scenario drove the app to, for a later one to go on with."""
        return HeldOrder(self.order_id, tuple(self.j.transaction_ids), dict(self.connector),
                         self.tracking_id)

    def adopt(self, held: HeldOrder) -> None:
        """Go on with an order an earlier scenario drove the app to."""
        self.order_id, self.connector = held.order_id, dict(held.connector)
        self.tracking_id = held.tracking_id
        self.j.transaction_ids.extend(t for t in held.transaction_ids
                                      if t not in self.j.transaction_ids)

    def confirmed_order(self, kwh: float, window: tuple[str, str] | None = None) -> None:
        """Given: the driver holds an order the BPP confirmed. The connector an earlier
        scenario's search listed is ordered without searching again (an app that wants a
        search of its own first gets one); then the payment, the app's confirm once the BPP
        reports it, and the BPP's on_confirm. Every step's checks must pass."""
        self.catalog_listed()
        self.connector = self.connector or dict(self.cert.found_connector)
        if self.connector:
            tried = self.attempt("POST", "/estimate", self.asking(kwh, window))
            if tried.status is not None and 200 <= tried.status < 300:
                self.estimated(self.succeeded(tried))
        if not self.order_id:
            self.search()
            self.estimate(kwh, window)
        for step in (self.pay, self.confirms_once_paid, self.confirmed_by_bpp):
            self.j.assert_clean()
            step()
        self.j.assert_clean()

    def confirmed_by_bpp(self) -> None:
        self.wait_callback("on_confirm", self.j.started_mono, "confirming the order")

    def charging_session(self, kwh: float) -> None:
        """Given: a confirmed order, the car plugged in and charging started from the app."""
        self.confirmed_order(kwh)
        self.plug_in_and_start()
        self.j.assert_clean()

    def completed_session(self, kwh: float) -> None:
        """Given: a charging session the driver stopped from the app, billed by the BPP."""
        self.charging_session(kwh)
        self.stop()
        self.j.assert_clean()

    # -- what the app shows ---------------------------------------------------------------------

    def shows_states(self, order: str, payment: str | None, charging: str) -> None:
        """The driver looks at the order (`GET /v1/orders/{id}`); every answer is held
        against the BPP's callbacks (UBC-API-005, in `attempt`). The states the story expects
        must be those the BPP reported: else the flow never got here, which is not judged."""
        self.order_call("GET")
        assert self.last is not None
        before, during = shown.taken_around(self.last, self.order_callbacks())
        reported = {name: state for callback in [*before, *during]
                    for name, state in shown.reported_states(callback).items()}
        expected = {"order": order, "payment": payment, "charging": charging}
        off = [f"{name} {want} (the BPP reported {reported[name].beckn})"
               for name, want in expected.items()
               if want and name in reported and want not in reported[name].shown]
        if off:
            raise NotEvaluated(f"the BPP's callbacks did not bring the order where the story "
                               f"expects it: {', '.join(off)}")

    def shows_bill(self) -> None:
        """The stop answer shows the final bill the BPP sent (and a refund of what was paid
        beyond it)."""
        stopped, callbacks = self.j.marks.get("stopped"), self.order_callbacks()
        if not isinstance(stopped, Exchange):
            raise NotEvaluated("the driver stopped no session to be billed for")
        before, during = shown.taken_around(stopped, callbacks)
        bills = [c for c in [*before, *during] if c.action in ("on_update", "on_status")
                 and order_status(dig(c.json(), "message", "order")) == "COMPLETED"]
        if not bills:
            raise NotEvaluated("no final bill of the BPP to compare the app's with")
        self.j.add(shown.shown_bill_is_billed(stopped, bills[-1], shown.paid_amount(callbacks)))

    # -- the reservation ------------------------------------------------------------------------

    def slot(self) -> tuple[str, str]:
        """The scenario's one-hour slot, begun a minute or two ago on the charger's clock
        (simulated time runs ahead of the wall's): the driver is on the way."""
        if "slot" not in self.j.marks:
            charger = self.cert.network.charger
            if charger is None:
                raise NotEvaluated("this run plays no charger to book a slot at")
            start = (int(charger.clock.now()) // 60 - 1) * 60
            self.j.marks["slot"] = (wire_time.format(start, timespec="seconds"),
                                    wire_time.format(start + 3600, timespec="seconds"))
        start, end = self.j.marks["slot"]
        return str(start), str(end)

    def search_for_slot(self) -> None:
        """CCS2 connectors within 10 km of the destination, free in the driver's slot."""
        start, end = self.slot()
        self.search({"geo_coordinates": SITE, "distance_meters": 10000,
                     "time_window": {"start": start, "end": end},
                     "filters": {"connector_type": "CCS2"}})

    def found_ccs2(self) -> None:
        if dig(self.connector, "connectorAttributes", "connectorType") != "CCS2":
            raise NotEvaluated("the app's search for CCS2 chargers listed none")
        self.discovered_through_cds()

    def estimate_slot(self, kwh: float) -> None:
        self.estimate(kwh, self.slot())

    def shows_reservation(self) -> None:
        """The estimate shows the total on_select quoted; that it shows a reservation is
        judged in every answer about the order (`attempt`)."""
        self.shows_quoted_total()

    def deliver_limit(self) -> None:
        """The charger's clock runs 15 minutes on, far past a 2 kWh limit: the charger stops
        the session there by itself."""
        self.j.marks["limit_at"] = time.monotonic()
        self.hook(hooks.ADVANCE, {"seconds": 900})

    def completion_acknowledged(self) -> None:
        """The BPP reports the session COMPLETED unsolicited; the app must ACK it (judged
        with every callback to the app in `judge`)."""
        self.wait_callback("on_update", self.j.marks.get("limit_at", self.j.started_mono),
                           "reporting the session COMPLETED", completed)
        self.judge()


def completed(doc: Any) -> bool:
    """A callback reporting the charging session COMPLETED."""
    return session_status(dig(doc, "message", "order")) == "COMPLETED"
