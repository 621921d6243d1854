"""The walk-in story told from the driver's app: the harness, as the driver, calls the
candidate's /v1 client API; the app sends Beckn requests to the harness's CDS and BPP.

After each call every request the app sent since the scenario began is judged: the
per-message pipeline on each (once), then harness/checks/initiator.py across them all (fresh
message ids, one transaction id, the flow's order); a select must order an item of the
catalog the harness BPP published (UBC-CONS-005); every valid callback the harness sent the
app (its CDS's on_discover, its BPP's callbacks for the order) must be ACKed (UBC-SCH-013).
Each /v1 answer must have the contract's shape; what the app shows is held against the
callbacks behind it (harness/checks/client_api.py).
A /v1 call that does not succeed blocks the scenario (not evaluated) unless the requests
behind it already failed it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from harness.beckn import hooks
from harness.beckn.order import dig
from harness.certify.bap.certification import BapCertification
from harness.certify.hooks import Hooks, HookUnavailable
from harness.certify.journey import Journey, NotEvaluated
from harness.checks import client_api, consistency, initiator, refusal
from harness.findings import Finding
from harness.transcript import INBOUND, OUTBOUND, Exchange

NEAR_THE_SITE = {"geo_coordinates": [12.9352, 77.6245], "distance_meters": 5000}
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
        self._add(initiator.fresh_message_ids(requests) + initiator.transaction_kept(requests)
                  + initiator.actions_in_order(requests, answered))
        for callback in self.callbacks_to_app(requests):
            self._add(refusal.valid_request_acknowledged(
                callback, f"the harness {callback.party.upper()}'s valid, signed "
                f"{callback.action}"))
        selects = [r for r in requests if r.action == "select" and r.party == "bpp"]
        catalog = self.catalog_item_ids() if selects else set()
        for select in selects if catalog else []:
            self._add(consistency.items_in_catalog(select, catalog))

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

    def catalog_item_ids(self) -> set[str]:
        """The item ids of the harness BPP's catalogs the app was shown (the CDS's on_discover
        answers to it) or the CDS holds: what the app can order."""
        shown = [c for e in self.cert.network.transcript.query(party="cds", direction=OUTBOUND,
                                                               action="on_discover")
                 for c in dig(e.json(), "message", "catalogs") or [] if isinstance(c, dict)]
        held = [r.get("catalog") for r in self.cert.network.live_catalogs(self.bpp_id)]
        return {str(item.get("beckn:id")) for catalog in [*shown, *held]
                if isinstance(catalog, dict) and catalog.get("beckn:bppId") == self.bpp_id
                for item in catalog.get("beckn:items") or [] if isinstance(item, dict)}

    def _add(self, findings: list[Finding]) -> None:
        for finding in findings:
            key = (finding.rule, tuple(finding.evidence))
            if key not in self.reported:
                self.reported.add(key)
                self.j.add([finding])

    def attempt(self, method: str, path: str, body: dict[str, Any] | None = None,
                *, about_order: bool = True) -> Exchange:
        """One /v1 call as the driver, whatever it answers: its shape and the requests the app
        sent for it are judged."""
        exchange = self.cert.client.call(
            method, path, body=body, transaction_id=self.transaction_id if about_order or
            len(self.j.transaction_ids) > 1 else None,
            bpp_id=self.bpp_id if about_order else None)
        self.last = exchange
        self._add(client_api.answers_in_contract_shape(exchange))
        self.judge()
        return exchange

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             *, about_order: bool = True) -> dict[str, Any]:
        """One /v1 call as the driver; its answer's body. Blocks the step when it fails."""
        exchange = self.attempt(method, path, body, about_order=about_order)
        answer = exchange.response_json()
        if exchange.status is not None and 200 <= exchange.status < 300 and \
                isinstance(answer, dict):
            return answer
        self.j.assert_clean()  # the requests behind it failed: that is the reason
        what = exchange.error or f"HTTP {exchange.status}: {exchange.response_body[:200]!r}"
        raise NotEvaluated(f"the app's client API answered {method} {path} with {what}")

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

    def search(self) -> None:
        found = self.call("POST", "/search", NEAR_THE_SITE, about_order=False)
        assert self.last is not None
        transaction_id = self.last.response_headers.get("x-transaction-id")
        if transaction_id:
            self.j.transaction_ids.append(transaction_id)
        catalog = next((c for c in found.get("catalogs") or []
                        if isinstance(c, dict) and c.get("bpp_id") == self.bpp_id), None)
        connectors = [c for c in (catalog or {}).get("connectors") or [] if isinstance(c, dict)]
        self.connector = next((c for c in connectors if dig(
            c, "connectorAttributes", "connectorType") == "CCS2"), connectors[0]
            if connectors else {})
        if not self.connector:
            raise NotEvaluated("the app's search listed no connector of the harness BPP")

    def discovered_through_cds(self) -> None:
        if not any(r.action == "discover" and r.party == "cds" for r in self.requests()):
            raise NotEvaluated("the app listed chargers without a discover to the CDS")
        self.j.assert_clean()

    def estimate(self, kwh: float) -> None:
        answer = self.call("POST", "/estimate", self.estimate_request(kwh))
        self.order_id = str(dig(answer, "order", "id") or "")

    def estimate_request(self, kwh: float) -> dict[str, Any]:
        """The body of an estimate of `kwh` at the connector the search found."""
        return {"evse_id": self.connector.get("evse_id"),
                "connector_id": self.connector.get("id"), "vehicle": CAR,
                "energy": {"value": kwh, "unit": "kWh"}}

    def shows_quoted_total(self) -> None:
        self.shows("on_select", ("amount", "value"), QUOTED_TOTAL)

    def shows(self, action: str, shown_at: tuple[str, ...], quoted_at: tuple[str, ...]) -> None:
        answer, callbacks = self.last, self.callbacks(action)
        if answer is None or not callbacks:
            raise NotEvaluated(f"no {action} in the order's transaction to compare with")
        self.j.add(client_api.shown_total_is_quoted(answer, shown_at, callbacks[-1], quoted_at))

    def pay(self) -> None:
        """The app shows the payment terms; the driver pays the BPP at once, through the
        harness BPP's test hook (its own simulated payment comes half a second after on_init,
        and then finds the order paid), and the BPP reports it to the app unasked."""
        self.order_call("POST", "/payment", {"payment_method": "UPI"})
        bpp = Hooks(f"{self.cert.network.participants['bpp'].url}/_control/hooks")
        with contextlib.suppress(HookUnavailable):  # paid already: the notice is on its way
            self.cert.run(bpp.call(hooks.PAYMENT_COMPLETED,
                                   {"transaction_id": self.transaction_id}), timeout=5)

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
        self.judge()
        self.j.add(client_api.paid_order_confirmed(notice, confirm, wait))

    def plug_in_and_start(self) -> None:
        charger, connector = self.cert.network.charger, str(self.connector.get("id") or "")
        if charger is None or not connector:
            raise NotEvaluated("no charger or connector to plug the car into")

        async def plug() -> None:
            charger.plug_in(connector.rsplit("*", 1)[-1])
        self.cert.run(plug(), timeout=5)
        self.order_call("PUT", "/start")

    def watch(self) -> None:
        self.order_call("GET")

    def stop(self) -> None:
        self.order_call("PUT", "/stop", {"reason_code": "USER_REQUESTED"})

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
        charger = self.cert.network.charger
        connector = str(self.connector.get("id") or "").rsplit("*", 1)[-1]
        if charger is None or not connector:
            return

        async def unplug() -> None:
            for c in charger.connectors():
                if c.plugged and c.id == connector:
                    charger.unplug(c.id)
        self.cert.run(unplug(), timeout=5)
