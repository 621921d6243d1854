"""The hostile BAP: requests a BPP must refuse (BECKN-006, TSD §13), each beside a positive
control. A refusal means something only when the same candidate, in the same run, accepts a
correctly signed, valid request of the same kind: without that control a BPP that refuses
everything (it cannot look our key up, it cached another run's key) would pass every probe.
How the refusals are judged is harness/checks/refusal.py."""

from __future__ import annotations

import time
from typing import Any

from harness.beckn import signing
from harness.beckn.order import Buyer, Order
from harness.certify.journey import Journey, NotEvaluated, Refusal
from harness.checks import refusal, timing
from harness.transcript import INBOUND, Exchange

NO_ITEMS = "whose order has no items"


class HostileRequests:
    def __init__(self, journey: Journey) -> None:
        self.j = journey
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
            # Another BAP the registry trusts: refused only because it is not the sender.
            pair = self.j.cert.network.keys_for("other-bap")
            return {"signer": signing.Signer.from_keypair(pair)}
        raise ValueError(f"harness bug: no hostile request for {defect!r}")

    def _send(self, message: dict[str, Any], transaction_id: str | None = None,
              **options: Any) -> Exchange:
        with self.j.cert.waits.awaiting(f"{self.j.candidate.subscriber_id} to answer a select",
                                        2 * self.j.cert.ack_bound_s):
            call = self.j.cert.run(self.j.cert.bap.send(
                "select", message, transaction_id=transaction_id or self.j.transaction_id,
                bpp_id=self.j.candidate.subscriber_id, bpp_uri=self.j.candidate.uri,
                wait=False, **options))
        self.j.cert.record_transport(call.sent.exchange)
        return call.sent.exchange

    def control(self) -> None:
        """The positive control: a correctly signed, schema-valid select that must be ACKed.
        Refused, it makes the probes of this scenario not evaluated, with a diagnosis."""
        self.j.stop_if_candidate_gone("select")
        # its own transaction: an order the scenario places next does not follow a refusal
        exchange = self._send(self._order(), self.j.side_transaction())
        self.j.marks["control"] = exchange
        problems = timing.answered(exchange)
        if problems:
            self.j.add(problems)
            self.j.assert_clean()
        refused = refusal.valid_request_acknowledged(exchange, "the control select")
        if not refused:
            return
        self.j.add(refused)
        if exchange.status == 401:  # a refusal still has to say how to authenticate
            self.j.add(refusal.challenge_given(exchange, "the control select"))
        raise NotEvaluated(self._diagnosis(exchange))

    def _diagnosis(self, exchange: Exchange) -> str:
        bap = self.j.cert.bap.identity
        why = refusal.error_text(exchange.response_json()) or f"HTTP {exchange.status}"
        hint = f" — {self._lookup_story(exchange)}" if exchange.status == 401 else ""
        return (f"the BPP refused a correctly signed, valid select from "
                f"{bap.subscriber_id}|{bap.key_id} ({why}){hint}; its refusals of bad requests "
                "prove nothing until it accepts good ones")

    def _lookup_story(self, refused: Exchange) -> str:
        """What the registry saw of the candidate looking our key up, from the transcript (the
        registry records every request; the harness's own parties say who they are)."""
        bap = self.j.cert.bap.identity
        registry = self.j.cert.network.participants["registry"].url
        asked = [e for e in self.j.cert.network.transcript.query(party="registry",
                                                                 direction=INBOUND)
                 if not (e.header("user-agent") or "").startswith("ubc-conformance")
                 and bap.subscriber_id in (e.url + e.request_body.decode("utf-8", "replace"))]
        if not asked:
            return (f"it never asked the registry ({registry}) for {bap.subscriber_id}'s key: "
                    "is its registry URL this one, or did it cache a key from an earlier run?")
        last = asked[-1]
        found = last.response_json()
        if last.status != 200 or not found:
            return (f"its lookup of {bap.subscriber_id} ({last.id}) was answered HTTP "
                    f"{last.status} with {last.response_body[:120].decode('utf-8', 'replace')}"
                    " — check the key id it asked for and the filters it sent")
        return (f"the registry gave it {bap.subscriber_id}'s record ({last.id}), yet it refused "
                "the signature: check how it reads the record (subscriber_url, ukId, validity) "
                "and verifies BECKN-006 signatures")

    def send_select(self, defect: str) -> None:
        self.j.stop_if_candidate_gone("select")
        if defect == NO_ITEMS:
            self.send_invalid()
            return
        self.j.marks["defect"] = defect
        self.last = self._send(self._order(), **self._options(defect))

    def send_replay(self) -> None:
        self.j.stop_if_candidate_gone("select")
        self.j.marks["defect"] = "replayed"
        self.first = original = self._send(self._order())
        self.j.add(self.j.answer_findings(original))
        # Only a request the BPP accepted can be replayed: refused, the probe means nothing.
        refused = refusal.valid_request_acknowledged(original, "the select to replay")
        if refused:
            self.j.add(refused)
            raise NotEvaluated(self._diagnosis(original))
        headers = {k: v for k, v in original.request_headers.items()
                   if k.lower() == "authorization"}
        replay = self.j.cert.run(self.j.cert.bap.outbox.send(
            self.j.candidate.uri, "select", original.request_body, headers=headers, sign=False,
            note="replay of " + original.id))
        self.last = replay.exchange

    def send_invalid(self) -> None:
        self.j.marks["defect"] = NO_ITEMS
        message = self._order()
        message["order"]["beckn:orderItems"] = []
        self.last = self._send(message)

    def refused(self, status: int, *, replay: bool = False) -> None:
        exchange = self.last
        assert exchange is not None
        rule = "UBC-SIG-016" if replay else ("UBC-SIG-013" if status == 401 else "UBC-SCH-011")
        findings = self.j.answer_findings(exchange)
        # answer_findings flags a NACK in non-UBC shape; only a missing answer stops us here.
        if any(f.rule in ("UBC-TIME-006", "UBC-TIME-007") for f in findings):
            self.j.add(findings)
            return
        self.j.add([f for f in findings if f.rule != "UBC-SCH-009"])
        what = "a replayed select" if replay else f"a select {self.j.marks.get('defect', '')}"
        self.j.add(refusal.refused_properly(exchange, status, rule, what))

    def expect_no_callback(self) -> None:
        """Checked once at the end of the run (after a grace), so scenarios need not wait."""
        if self.last is None:
            return
        allowed = 1 if self.first is not None else 0
        self.j.cert.refusals.append(Refusal(self.j.scenario, self.last, allowed))


__all__ = ["HostileRequests"]
