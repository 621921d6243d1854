"""The hostile BPP: callbacks a driver's app must refuse (BECKN-006, TSD §13), each beside a
positive control, sent to the app's Beckn endpoint (`{uri}/on_<action>` of the candidate file)
as the harness BPP the app is ordering from, with that BPP's registered key.

The control is an unsolicited on_status restating the order the app holds, in the
transaction the app's select started, from the BPP the app chose: the BPP may report an
order's state at any time (TSD §11: the payment notice is one such on_status), so an app that
refuses it cannot follow the order at all. Only when the app ACKs it do the probes mean
anything; refused (or when the app refused the harness's own callbacks on the way to the
order) the probes are not evaluated, with a diagnosis, never passed. Each probe must be
refused, and the order the app shows (`GET /v1/orders/{id}`) must stay as it was. How the
answers are judged is harness/checks/refusal.py.

An on_update out of order (UBC-CTX-026) is the reading taken of issue 10's "an on_update out of
order": correctly signed by the BPP, in the order's transaction, with a message id of its own
(an unsolicited callback, TSD §12.2: the BPP "can invoke the on_update" unasked), carrying the
order as the BPP's on_init reported it — order CREATED, payment INITIATED — and that on_init's
`context.timestamp` (Beckn core Context.timestamp: when the message was made). So it is older
than the on_confirm the app applied, and it would take the order back from CONFIRMED to
CREATED and the payment from COMPLETED to INITIATED, transitions the flow's table never makes
(UBC profile notes, "States along the flow"; harness/beckn/lifecycle.py): a message from before
what the app knows, delivered late, as a retrying or queueing stack delivers one. Applied, it
would show the driver a paid, confirmed order as unpaid. It must be refused with a 4xx NACK:
the app has no callback to refuse a callback with (TSD §13), as for UBC-CTX-025.

A callback about the order from another BPP (UBC-CTX-030, the BAP's side of order ownership):
the harness's second registered BPP (`other-bpp.mock.ubc`) restates the order in an on_status
of the order's transaction, naming itself as bpp_id with its registered bpp_uri and signed with
its own registered key — every signature and registry check passes — about an order the app
placed with the first. Taken, any BPP on the network could move what a driver is shown of an
order with another.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from harness import tls
from harness.beckn import envelope, signing
from harness.certify.bap.story import BapStory
from harness.certify.journey import CheckFailed, NotEvaluated
from harness.checks import refusal, timing
from harness.transcript import OUTBOUND, Exchange
from mocks.stack import Identity, Outbox

PARTY = "bpp-probe"  # the harness BPP's hand-made callbacks, apart from its own in the transcript
# An app may apply an accepted callback just after its ACK: the order it shows is read this
# long after the control (which restates the order, so applying it late changes nothing) and
# after a probe (whose refusal is judged on the NACK itself; this catches an app that NACKs
# but applies anyway).
SETTLE_S = 0.25
UNKNOWN_TRANSACTION = "for a transaction the app never started"
FOREIGN_BPP = "about the order from another registered BPP"
DUPLICATE = "on_confirm it already took, again"
OUT_OF_ORDER = "on_update out of order"
# the rule a probe that must get any 4xx NACK falls under
REFUSED_BY = {UNKNOWN_TRANSACTION: "UBC-CTX-025", DUPLICATE: "UBC-TIME-004",
              OUT_OF_ORDER: "UBC-CTX-026", FOREIGN_BPP: "UBC-CTX-030"}


class HostileCallbacks:
    """The control and the probes of one security scenario, driving the app via `story`."""

    def __init__(self, story: BapStory) -> None:
        self.story = story
        self.j = story.j
        self.cert = story.cert
        network = self.cert.network
        bpp = network.participants["bpp"]
        self.bpp = Identity.create(bpp.subscriber_id, "bpp", bpp.uri, network.keys_for("bpp"))
        other = network.participants["other-bpp"]
        self.other_bpp = Identity.create(other.subscriber_id, "bpp", other.uri,
                                         network.keys_for("other-bpp"))
        self.shown: Exchange | None = None  # the order as the app showed it after the control
        self.last: Exchange | None = None
        self.defect = ""

    # -- the control ----------------------------------------------------------------------------

    def hold_an_order(self) -> None:
        """Drive the app to an order the harness BPP confirmed (`BapStory.confirmed_order`).
        A step that fails because the app refused a callback of the harness is the control
        failing; once it did, later scenarios of the run do not drive the app again.

        The order is held across the security scenarios: each probe must leave it as it was,
        and the next scenario's control restates it and takes what the app then shows as its
        baseline. A scenario that ends with any finding (a probe the app took, an order that
        moved) gives it up, and the next one orders afresh."""
        if self.cert.control_refused:
            raise NotEvaluated(f"{self.cert.control_refused} (seen earlier in this run)")
        if self.cert.held_order is not None:
            self.story.adopt(self.cert.held_order)
            return
        try:
            self.story.confirmed_order(10.0)
        except (NotEvaluated, CheckFailed):  # a refused harness callback fails the walk-in
            refused = self._refused_harness_callback()
            if refused is None:
                raise
            self._control_failed(refused)
        self.cert.held_order = self.story.holding()

    def release(self) -> None:
        """At the end of the scenario: an order a scenario with any finding leaves behind is
        not held on to (what the app shows of it may have moved)."""
        if self.j.findings:
            self.cert.held_order = None

    def control(self) -> None:
        """The correctly signed on_status restating the order must be ACKed; then the order the
        app shows is taken as the baseline the probes must not move."""
        exchange = self._send(self._restated())
        self.j.add(timing.answered(exchange))
        self.j.assert_clean()
        if refusal.valid_request_acknowledged(exchange, "the control on_status"):
            self._control_failed(exchange)
        # No settling here: the control restates the order, so an app that applies it after
        # its ACK shows the same order before and after.
        self.story.order_call("GET")
        self.shown = self.story.last

    def _refused_harness_callback(self) -> Exchange | None:
        """The first callback the harness's CDS or BPP sent the app in this scenario that the
        app refused, None when it refused none."""
        for party in ("cds", "bpp", PARTY):
            for sent in self.cert.network.transcript.query(party=party, direction=OUTBOUND,
                                                           since=self.j.started_mono):
                if (sent.action or "").startswith("on_") and sent.status is not None and \
                        refusal.valid_request_acknowledged(sent):
                    return sent
        return None

    def _control_failed(self, refused: Exchange) -> None:
        self.j.add(refusal.valid_request_acknowledged(refused, f"the harness's {refused.action}"))
        self.cert.control_refused = self._diagnosis(refused)
        raise NotEvaluated(self.cert.control_refused)

    def _diagnosis(self, refused: Exchange) -> str:
        try:
            signer = signing.parse_header(refused.header("authorization") or "")
            who = f"{signer.subscriber_id}|{signer.unique_key_id}"
        except signing.HeaderError:
            who = "the harness"
        why = refusal.error_text(refused.response_json()) or f"HTTP {refused.status}"
        registry = self.cert.network.participants["registry"].url
        question = f"can it look that key up at {registry}/lookup?" if refused.status == 401 \
            else (f"the refusal is not about the signature (HTTP {refused.status}): does it "
                  f"look the key up at {registry}/lookup, and why is a valid {refused.action} "
                  "refused?")
        return (f"your app refused a correctly signed {refused.action} from {who} ({why}, "
                f"{refused.id}) — {question} Its refusals of bad callbacks prove nothing until "
                "it accepts good ones")

    # -- the probes -----------------------------------------------------------------------------

    def _restated(self, transaction_id: str | None = None) -> dict[str, Any]:
        """An unsolicited on_status carrying the order of the harness BPP's on_confirm (so it
        changes nothing the app shows), with a fresh message id and timestamp; in another
        transaction when one is given."""
        sent = [e for e in self.story.callbacks("on_confirm") if e.request_body]
        if not sent:
            raise NotEvaluated("the harness BPP sent no on_confirm to restate the order from")
        doc = orjson.loads(sent[-1].request_body)
        context = envelope.callback_context(doc["context"], unsolicited=True,
                                            action="on_status")
        if transaction_id:
            context["transaction_id"] = transaction_id
        return {"context": context, "message": doc.get("message") or {}}

    def _duplicate(self) -> dict[str, Any]:
        """The on_confirm the harness BPP sent, as it was: same message id, same order."""
        sent = [e for e in self.story.callbacks("on_confirm") if e.request_body]
        if not sent:
            raise NotEvaluated("the harness BPP sent no on_confirm to send again")
        doc: dict[str, Any] = orjson.loads(sent[-1].request_body)
        return doc

    def _out_of_order(self) -> dict[str, Any]:
        """The on_update out of order of the module's docstring: the order as the harness
        BPP's on_init left it, stamped when that on_init was, under a new message id."""
        sent = [e for e in self.story.callbacks("on_init") if e.request_body]
        if not sent:
            raise NotEvaluated("the harness BPP sent no on_init to take the order back to")
        doc = orjson.loads(sent[-1].request_body)
        context = envelope.callback_context(doc["context"], unsolicited=True,
                                            action="on_update",
                                            timestamp=doc["context"]["timestamp"])
        return {"context": context, "message": doc.get("message") or {}}

    def _from_other_bpp(self) -> dict[str, Any]:
        """The restating on_status, as the second registered BPP would send it about the
        order: its own bpp_id and registered bpp_uri in the context, in the order's
        transaction, signed with its own key (`_send(..., sender=...)`)."""
        doc = self._restated()
        doc["context"].update(bpp_id=self.other_bpp.subscriber_id, bpp_uri=self.other_bpp.uri)
        return doc

    def _send(self, doc: dict[str, Any], sender: Identity | None = None,
              **options: Any) -> Exchange:
        target, action = self.cert.candidate.uri, str(doc["context"]["action"])

        async def send() -> Exchange:
            async with httpx.AsyncClient(verify=tls.context()) as http:
                outbox = Outbox(sender or self.bpp, self.cert.network.transcript, http,
                                party=PARTY,
                                timeout_s=self.cert.ack_bound_s + 5)
                return (await outbox.send(target, action, doc, **options)).exchange
        exchange = self.cert.run(send())
        exchange.transaction_id = str(doc["context"].get("transaction_id") or "")
        self.cert.record_transport(exchange)
        return exchange

    def _options(self, defect: str) -> dict[str, Any]:
        now = int(time.time())
        if defect == "without a signature":
            return {"sign": False}
        if defect == "whose body was changed after signing":
            return {"tamper": tampered}
        if defect == "whose signature expired an hour ago":
            return {"created": now - 7200, "expires": now - 3600}
        if defect == "signed with a key nobody registered":
            keys = signing.KeyPair.generate(self.bpp.subscriber_id, "unregistered-key")
            return {"signer": signing.Signer.from_keypair(keys)}
        raise ValueError(f"harness bug: no hostile callback {defect!r}")

    def send(self, defect: str) -> None:
        if self.shown is None:
            raise NotEvaluated("no accepted control: nothing to compare a refusal with")
        self.defect = defect
        if defect == UNKNOWN_TRANSACTION:
            self.last = self._send(self._restated(envelope.new_id()))
        elif defect == DUPLICATE:
            self.last = self._send(self._duplicate())
        elif defect == OUT_OF_ORDER:
            self.last = self._send(self._out_of_order())
        elif defect == FOREIGN_BPP:
            self.last = self._send(self._from_other_bpp(), sender=self.other_bpp)
        else:
            self.last = self._send(self._restated(), **self._options(defect))

    def refused(self, status: int | None) -> None:
        """401 with a NACK and a challenge for a signature problem (`status`), any 4xx NACK
        (`status` None) for a transaction the app never started, a copy of a callback it took,
        a callback out of order or one about the order from another BPP."""
        exchange = self.last
        assert exchange is not None
        answered = timing.answered(exchange)
        if answered:
            self.j.add(answered)
            return
        what = what_of(self.defect)
        if status is None:
            found = refusal.unknown_transaction_refused(exchange, what,
                                                        REFUSED_BY[self.defect])
        else:
            found = refusal.refused_properly(exchange, status, "UBC-SIG-013", what,
                                             who="the app")
        self.j.add(found)
        if found:  # this step fails the scenario: what the app shows now is evidence too
            self.order_unchanged()

    def order_unchanged(self) -> None:
        assert self.shown is not None and self.last is not None
        time.sleep(SETTLE_S)
        self.story.order_call("GET")
        assert self.story.last is not None
        self.j.add(refusal.shown_order_unchanged(self.shown, self.story.last,
                                                 f"refusing {what_of(self.defect)}"))


def tampered(raw: bytes) -> bytes:
    """The signed bytes changed: the order cancelled, were it applied; a space before the
    closing brace when the order says no CONFIRMED, so the digest never matches anyway."""
    changed = raw.replace(b'"beckn:orderStatus":"CONFIRMED"', b'"beckn:orderStatus":"CANCELLED"')
    return changed if changed != raw else raw.rstrip()[:-1] + b" }"


def what_of(defect: str) -> str:
    if defect == OUT_OF_ORDER:
        return "an on_update out of order (the order as on_init reported it, stamped then)"
    return f"the {defect}" if defect == DUPLICATE else f"an on_status {defect}"


__all__ = ["HostileCallbacks", "tampered"]
