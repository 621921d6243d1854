"""The hostile BAP: requests a BPP must refuse (BECKN-006, TSD §13), and the judgement of how
it refused them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.beckn import envelope, signing
from harness.beckn.order import Buyer, Order
from harness.findings import Finding
from harness.transcript import Exchange

if TYPE_CHECKING:  # avoids an import cycle with harness.bpp_story
    from harness.bpp_story import BppStory


@dataclass
class Refusal:
    """A request the candidate must refuse; `callbacks` is how many callbacks may answer it."""

    scenario: str
    exchange: Exchange
    callbacks: int = 0


class HostileRequests:
    def __init__(self, story: BppStory) -> None:
        self.story = story
        self.j = story.j
        self.last: Exchange | None = None
        self.first: Exchange | None = None

    def _order(self) -> dict[str, Any]:
        order = Order(seller="probe-provider", item_id="probe-item-not-in-any-catalog",
                      buyer=Buyer(id="probe-driver"), quantity_kwh=1.0)
        return {"order": order.to_beckn()}

    def _options(self, defect: str) -> dict[str, Any]:
        now = int(time.time())
        bap = self.j.cert.bap.identity
        if defect == "without a signature":
            return {"sign": False}
        if defect == "whose body was changed after signing":
            return {"tamper": lambda raw: raw.replace(b'"unitQuantity":1.0',
                                                      b'"unitQuantity":9.0')}
        if defect == "whose signature expired an hour ago":
            return {"created": now - 7200, "expires": now - 3600}
        if defect == "created ten minutes in the future":
            return {"created": now + 600, "expires": now + 900}
        if defect == "signed with a key nobody registered":
            keys = signing.KeyPair.generate(bap.subscriber_id, "unregistered-key")
            return {"signer": signing.Signer.from_keypair(keys)}
        if defect == "signed by a subscriber other than bap_id":
            cds = self.j.cert.network.participants["cds"]
            pair = self.j.cert.network.keys_for("cds")
            assert pair.subscriber_id == cds.subscriber_id
            return {"signer": signing.Signer.from_keypair(pair)}
        raise ValueError(f"harness bug: no hostile request for {defect!r}")

    def _sendable(self) -> None:
        if self.j.cert.candidate_gone:
            self.j.add([Finding("UBC-TIME-006", "not sent: the candidate stopped answering")])
            self.j.assert_clean()

    def send_select(self, defect: str) -> None:
        self._sendable()
        if defect == "whose order has no items":
            self.send_invalid()
            return
        self.j.marks["defect"] = defect
        call = self.j.cert.run(self.j.cert.bap.send(
            "select", self._order(), transaction_id=self.j.transaction_id,
            bpp_id=self.j.candidate.subscriber_id, bpp_uri=self.j.candidate.uri, wait=False,
            **self._options(defect)))
        self.last = call.sent.exchange
        self.j.cert.record_transport(self.last)

    def send_replay(self) -> None:
        self._sendable()
        self.j.marks["defect"] = "replayed"
        call = self.j.cert.run(self.j.cert.bap.send(
            "select", self._order(), transaction_id=self.j.transaction_id,
            bpp_id=self.j.candidate.subscriber_id, bpp_uri=self.j.candidate.uri, wait=False))
        self.first = call.sent.exchange
        self.j.cert.record_transport(self.first)
        self.j.add(self.j.answer_findings(self.first))
        original = self.first
        headers = {k: v for k, v in original.request_headers.items()
                   if k.lower() == "authorization"}
        replay = self.j.cert.run(self.j.cert.bap.outbox.send(
            self.j.candidate.uri, "select", original.request_body, headers=headers, sign=False,
            note="replay of " + original.id))
        self.last = replay.exchange

    def refused(self, status: int, *, replay: bool = False) -> None:
        exchange = self.last
        assert exchange is not None
        defect = self.j.marks.get("defect", "")
        rule = "UBC-SIG-016" if replay else ("UBC-SIG-013" if status == 401 else "UBC-SCH-011")
        findings = self.j.answer_findings(exchange)
        # answer_findings flags a NACK in non-UBC shape; only a missing answer stops us here.
        if any(f.rule in ("UBC-TIME-006", "UBC-TIME-007") for f in findings):
            self.j.add(findings)
            return
        self.j.add([f for f in findings if f.rule != "UBC-SCH-009"])
        body = exchange.response_json()

        acked = exchange.status is not None and exchange.status < 300 and \
            envelope.ack_status(body) == "ACK"
        what = "a replayed select" if replay else f"a select {defect}"
        if acked:
            self.j.add([Finding(rule, f"the BPP accepted {what} (HTTP {exchange.status} ACK)",
                                expected=f"HTTP {status} NACK", actual=exchange.status,
                                evidence=[exchange.id])])
            return
        if exchange.status != status:
            self.j.add([Finding(rule, f"the BPP refused {what} with HTTP {exchange.status}",
                                expected=status, actual=exchange.status,
                                evidence=[exchange.id])])
        if envelope.ack_status(body) != "NACK":
            self.j.add([Finding("UBC-SCH-009", f"the refusal of {what} carries no NACK body",
                                expected="NACK", actual=envelope.ack_status(body),
                                evidence=[exchange.id])])
        if status == 401 and not exchange.response_headers.get("www-authenticate"):
            self.j.add([Finding("UBC-SIG-014", f"the 401 for {what} has no WWW-Authenticate "
                                "header", evidence=[exchange.id])])
        if status == 400:
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict) or not error.get("code"):
                self.j.add([Finding("UBC-SCH-011", f"the 400 NACK for {what} carries no "
                                    "error code (TSD §13: schema errors go in the NACK)",
                                    evidence=[exchange.id])])

    def send_invalid(self) -> None:
        self.j.marks["defect"] = "whose order has no items"
        message = self._order()
        message["order"]["beckn:orderItems"] = []
        call = self.j.cert.run(self.j.cert.bap.send(
            "select", message, transaction_id=self.j.transaction_id,
            bpp_id=self.j.candidate.subscriber_id, bpp_uri=self.j.candidate.uri, wait=False))
        self.last = call.sent.exchange
        self.j.cert.record_transport(self.last)

    def expect_no_callback(self) -> None:
        """Checked once at the end of the run (after a grace), so scenarios need not wait."""
        if self.last is None:
            return
        allowed = 1 if self.first is not None else 0
        self.j.cert.refusals.append(Refusal(self.j.scenario, self.last, allowed))
