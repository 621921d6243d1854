"""The end-of-run sweep: what only the whole transcript can show, judged once all scenarios
ran — callbacks to requests the candidate had to refuse, callbacks sent to a wrong address, and
callbacks for transactions the harness never started."""

from __future__ import annotations

import time

from harness.beckn import envelope
from harness.certify.journey import Certification
from harness.checks import context, refusal, timing
from harness.findings import Finding
from harness.transcript import INBOUND

REFUSAL_GRACE_S = 1.0  # how long after the last refused request a stray callback is awaited


def run_sweep(certification: Certification) -> list[tuple[str, Finding]]:
    """Run-level findings, each paired with the scenario it belongs to ("" for none)."""
    transcript = certification.network.transcript
    findings: list[tuple[str, Finding]] = []
    if certification.refusals:
        last = max(r.exchange.mono_time for r in certification.refusals)
        transcript.wait_for(lambda e: False, max(0.0, last + REFUSAL_GRACE_S - time.monotonic()))
    for refused in certification.refusals:
        request = refused.exchange
        answers = transcript.query(party="bap", direction=INBOUND, message_id=request.message_id,
                                   action=envelope.CALLBACK_OF.get(request.action or "", ""))
        findings += [(refused.scenario, f) for f in refusal.refused_request_unanswered(
            request, answers, refused.callbacks)]
    bap_uri = certification.bap.identity.uri
    for exchange in transcript.query(party="bap", direction=INBOUND, stray=True):
        scenario = next((j.scenario for j in certification.journeys
                         if exchange.transaction_id in j.transaction_ids), "")
        findings += [(scenario, f) for f in context.sent_to_wrong_address(exchange, bap_uri)]
    known = {t for j in certification.journeys for t in j.transaction_ids}
    for exchange in transcript.query(party="bap", direction=INBOUND, stray=False):
        if exchange.transaction_id not in known and exchange.action != "on_discover":
            findings += [("", f) for f in timing.unexpected_callback(
                exchange, f"for unknown transaction {exchange.transaction_id!r}")]
    return findings
