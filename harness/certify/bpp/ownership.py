"""Another BAP asks about the harness BAP's order: status, track, start and cancel from the
second registered BAP (`other-bap.mock.ubc`, correctly signed as itself), naming the order's
id and its transaction. Each must be refused without revealing the order, the order must stay
as it was, and its callbacks must keep going to its own BAP (UBC-CTX-028/029).

The probes count only beside a control: the BAP's own status about the order, answered with
the order. A BPP that cannot find the order for its own BAP either would refuse the other
BAP's requests for no reason of ownership, so without the control the probes are not
evaluated. How the answers are judged is harness/checks/ownership.py.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from harness.beckn import envelope
from harness.beckn.order import Buyer, Fulfillment, Order, dig
from harness.certify.bpp.story import order_transaction
from harness.certify.journey import Journey, NotEvaluated, OrderWatch
from harness.checks import ownership, timing
from harness.transcript import INBOUND, Exchange
from mocks.bap import Call

# The second BAP's own driver: nothing of the first BAP's buyer goes into its requests, so
# whatever of that buyer comes back was revealed, not echoed.
STRANGER = Buyer(id="other-bap-driver", name="Mallory Rao", phone="+91-9000000001",
                 email="mallory@other-bap.example", vpa=None)
PROBES = ("status", "track", "start", "cancel")


class ForeignRequests:
    """One scenario's requests from the second BAP about the harness BAP's order."""

    def __init__(self, journey: Journey) -> None:
        self.j = journey
        self.control_status: Exchange | None = None
        self.calls: list[Call] = []

    @property
    def order(self) -> Order:
        if self.j.order is None or not self.j.order.id:
            raise NotEvaluated("no confirmed order with an id to ask about")
        return self.j.order

    def _own_status(self) -> Exchange | None:
        """The BAP's own status about its order; its on_status, if one came."""
        call = self.j.send("status", {"order": self.order.to_beckn(full=False)})
        return call.callback_exchange

    def control(self) -> None:
        """The positive control: the BAP's own status is answered with its order."""
        callback = self._own_status()
        self.j.assert_clean()
        shown = dig(callback.json(), "message", "order") if callback is not None else None
        if not isinstance(shown, dict) or shown.get("beckn:id") != self.order.id:
            got = f"an order with id {shown.get('beckn:id')!r}" if isinstance(shown, dict) \
                else "no order"
            raise NotEvaluated(
                f"the BPP answered the BAP's own status about order {self.order.id!r} with "
                f"{got}; another BAP's requests about it prove nothing until its own BAP is "
                "served")
        self.control_status = callback

    def _message(self, probe: str) -> dict[str, Any]:
        """What the second BAP sends: the order's id and items, its own driver, and for the
        start only the session it asks for (none of the first BAP's bill or payment)."""
        asked = replace(self.order, buyer=STRANGER, components=[], payment=None,
                        fulfillment=Fulfillment(session_status="ACTIVE")
                        if probe == "start" else None)
        return {"order": asked.to_beckn(full=probe == "start")}

    def send(self) -> None:
        """Status, track, start and cancel from the second BAP, one after the other, each
        awaited (bounded) with its callback and judged as any exchange is."""
        other = self.j.cert.other_bap
        candidate = self.j.candidate
        transaction_id = order_transaction(self.j)
        watch = OrderWatch(self.j.scenario, transaction_id, self.order.id, time.monotonic())
        self.j.cert.watches.append(watch)
        wait = self.j.cert.ttl_s + min(self.j.cert.ttl_s, 5.0)
        for probe in PROBES:
            action = "update" if probe == "start" else probe
            self.j.stop_if_candidate_gone(action)
            call = self.j.cert.run(other.send(
                action, self._message(probe), transaction_id=transaction_id,
                bpp_id=candidate.subscriber_id, bpp_uri=candidate.uri, timeout=wait))
            self.j.cert.record_transport(call.sent.exchange)
            watch.answers.add((call.message_id, envelope.CALLBACK_OF[action]))
            self.calls.append(call)
            self.j.add(self.j.answer_findings(call.sent.exchange))
            if call.sent.acked:
                self.j.add(self.j.callback_findings(call))

    def refused(self) -> None:
        transcript = self.j.cert.network.transcript
        for call in self.calls:
            self.j.add(ownership.foreign_request_refused(call.sent.exchange,
                                                         call.callback_exchange))
            self.j.add(timing.one_callback(call.sent.exchange, transcript.query(
                party=self.j.cert.other_bap.party, direction=INBOUND,
                message_id=call.message_id, action=envelope.CALLBACK_OF[call.action])))

    def unchanged(self) -> None:
        if self.control_status is None:
            raise NotEvaluated("no answer to the BAP's own status before the other BAP's "
                               "requests to compare with")
        callback = self._own_status()
        self.j.assert_clean()
        if callback is not None:
            self.j.add(ownership.order_unchanged(self.control_status, callback))

    def no_callbacks_to_other(self) -> None:
        """What reached the second BAP about the order so far; the end-of-run sweep looks
        again once every scenario ran (harness/certify/sweep.py)."""
        received = self.j.cert.network.transcript.query(party=self.j.cert.other_bap.party,
                                                        direction=INBOUND)
        for watch in self.j.cert.watches:
            if watch.scenario == self.j.scenario:
                self.j.add(watch.findings(received))


__all__ = ["PROBES", "ForeignRequests"]
