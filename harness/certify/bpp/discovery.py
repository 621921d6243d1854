"""Discovery as the harness's BAP plays it: through the CDS, by text, by QR code, by connector
and place; and the judgement of the candidate's part in it — the discover the CDS forwarded to
a candidate that does not publish, and its on_discover, judged like any request and callback."""

from __future__ import annotations

import time
from typing import Any

from harness.beckn.order import dig
from harness.certify.journey import Journey, NotEvaluated
from harness.checks import context, refusal, story, timing
from harness.transcript import INBOUND, OUTBOUND, Exchange


class Discovery:
    """One scenario's discovery of the candidate's catalog and the item it orders."""

    def __init__(self, journey: Journey) -> None:
        self.j = journey
        self.catalog: dict[str, Any] | None = None
        self.item: dict[str, Any] | None = None
        self.offer: dict[str, Any] | None = None

    def _candidate_catalogs(self, since: float, exchanges: list[Exchange] | None = None
                            ) -> list[dict[str, Any]]:
        """Catalogs of the candidate in every on_discover of this transaction so far."""
        if exchanges is None:
            exchanges = self.j.cert.network.transcript.query(
                party="bap", direction=INBOUND, action="on_discover",
                transaction_id=self.j.transaction_id, since=since)
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
        forwarded = [e for e in transcript.query(party="cds", direction=OUTBOUND,
                                                 action="discover", since=since)
                     if e.url.startswith(self.j.candidate.uri)]
        candidate_id = self.j.candidate.subscriber_id

        def from_candidate(e: Exchange) -> bool:
            return dig(e.json(), "context", "bpp_id") == candidate_id or \
                candidate_id in (e.header("authorization") or "")
        answers = [e for e in transcript.query(party="cds", direction=INBOUND,
                                               action="on_discover", since=since)
                   if from_candidate(e)]
        every_forward = {e.message_id for e in transcript.query(
            party="cds", direction=OUTBOUND, action="discover")}
        for request in forwarded:
            if request.status is None and request.error is None:
                continue  # the CDS is still waiting for the answer: nothing to judge yet
            problems = timing.answered(request)
            self.j.add(problems)
            if not problems:
                self.j.add(refusal.valid_request_acknowledged(
                    request, "the discover the CDS forwarded"))
            later = [a for a in answers if a.mono_time >= request.mono_time]
            mine = [a for a in later if a.message_id == request.message_id
                    and a.transaction_id == request.transaction_id] or [
                a for a in later if a.message_id not in every_forward - {request.message_id}
                and (a.message_id == request.message_id
                     or a.transaction_id == request.transaction_id)]
            if mine and request.status is not None and request.status < 300:
                self.j.add(timing.callback_within_ttl(request, mine[:1], cert.ttl_s))
                self.j.add(context.callback_echoes_request(request, mine[0]))
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
        with self.j.cert.waits.awaiting(f"{self.j.candidate.subscriber_id}'s catalog in an "
                                        "on_discover through the CDS", self.j.cert.ttl_s):
            found = transcript.wait_for(carries_candidate_catalog, self.j.cert.ttl_s)
        if found is None:
            # No catalog: give a late or malformed on_discover of the candidate the time to
            # reach the CDS, so it is judged (late, wrong ids, bad signature) rather than missed.
            candidate_id = self.j.candidate.subscriber_id
            transcript.wait_for(
                lambda e: e.direction == INBOUND and e.party == "cds"
                and e.action == "on_discover" and e.mono_time >= started
                and dig(e.json(), "context", "bpp_id") == candidate_id,
                min(self.j.cert.ttl_s, 5.0))
        catalogs = self._candidate_catalogs(started)
        self._check_candidate_on_discover(started)
        items = [i for c in catalogs for i in c.get("beckn:items") or [] if isinstance(i, dict)]
        self.j.cert.catalog_item_ids.update(str(i.get("beckn:id")) for i in items)
        if catalogs:
            self.catalog = catalogs[0]
        return items

    @staticmethod
    def _discover_message(filters: str | None, spatial: list[dict[str, Any]] | None
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
        if cached is None and self.j.cert.catalog_failed:
            # Nothing after discovery can run: blocked by that failure, reported once there.
            raise NotEvaluated(f"blocked by the candidate's catalog not reaching the BAP "
                               f"through the CDS in \"{self.j.cert.catalog_failed}\"")
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
            self.j.add(story.catalog_reached([], connector))
            self.j.assert_clean()
            return
        self.item = chosen[0]
        self.offer = self._offer_for(str(self.item.get("beckn:id")))

    def discover_by_qr(self) -> None:
        assert self.item is not None
        problems = story.item_has_qr(self.item)
        if problems:
            self.j.add(problems)
            return
        qr = dig(self.item, "beckn:itemAttributes", "qrIdentifier")
        expression = f"$[?(@.beckn:itemAttributes.qrIdentifier == '{qr}')]"
        self.j.marks["qr"] = qr
        self.j.marks["qr_items"] = self.discover(filters=expression)

    def scanned_item_listed(self) -> None:
        assert self.item is not None
        self.j.add(story.scanned_item_listed(self.j.marks.get("qr_items") or [],
                                             self.item.get("beckn:id"), self.j.marks.get("qr"),
                                             self.offer))

    def discover_ccs2_nearby(self, start: str, end: str) -> None:
        """Discover CCS2 chargers within 10 km of the chosen item, free between start and end."""
        assert self.item is not None
        geo = dig(self.item, "beckn:itemAttributes", "chargingStation", "serviceLocation",
                  "geo", "coordinates")
        spatial = None
        if isinstance(geo, list) and len(geo) == 2:
            spatial = [{"op": "s_dwithin",
                        "targets": "$['beckn:itemAttributes.chargingStation.serviceLocation.geo']",
                        "geometry": {"type": "Point", "coordinates": geo},
                        "distanceMeters": 10000}]
        expression = ("$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && "
                      f"@.beckn:availabilityWindow[?(@.schema:startTime <= '{end}' && "
                      f"@.schema:endTime >= '{start}')])]")
        self.j.marks["nearby"] = self.discover(filters=expression, spatial=spatial)


