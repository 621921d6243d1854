"""The end-of-run sweep: what only the whole transcript can show, judged once all scenarios
ran — every callback no step looked at (NACKed, retried, duplicated, unsolicited), the same
bytes arriving twice, callbacks to requests the candidate had to refuse, callbacks sent to a
wrong address, callbacks for transactions the harness never started, and callbacks about an
order that reached another BAP than the one that placed it."""

from __future__ import annotations

import time

from harness.beckn import envelope
from harness.certify.journey import Certification
from harness.checks import context, refusal, timing
from harness.checks.message import Message
from harness.checks.registry import judge_message
from harness.findings import Finding
from harness.transcript import INBOUND, Exchange

# how long after the last refused request (or request about another BAP's order) a stray
# callback is awaited
REFUSAL_GRACE_S = 1.0


def run_sweep(certification: Certification) -> list[tuple[str, Finding]]:
    """Run-level findings, each paired with the scenario it belongs to ("" for none)."""
    transcript = certification.network.transcript
    findings: list[tuple[str, Finding]] = []
    probed = [r.exchange.mono_time for r in certification.refusals] + \
        [w.since for w in certification.watches]
    if probed:
        transcript.wait_for(lambda e: False,
                            max(0.0, max(probed) + REFUSAL_GRACE_S - time.monotonic()))
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
    if certification.watches:
        received = transcript.query(party=certification.other_bap.party, direction=INBOUND)
        findings += [(w.scenario, f) for w in certification.watches
                     for f in w.findings(received)]
    findings += _unjudged_callbacks(certification)
    findings += _repeated_bytes(certification)
    known = {t for j in certification.journeys for t in j.transaction_ids} | set(
        certification.liveness_transactions)
    for exchange in transcript.query(party="bap", direction=INBOUND, stray=False):
        if exchange.transaction_id not in known and exchange.action != "on_discover":
            findings += [("", f) for f in timing.unexpected_callback(
                exchange, f"for unknown transaction {exchange.transaction_id!r}")]
    return findings


def _scenario_of(certification: Certification, exchange: Exchange) -> str:
    return next((j.scenario for j in certification.journeys
                 if exchange.transaction_id in j.transaction_ids), "")


def _candidate_callbacks(certification: Certification) -> list[Exchange]:
    """What the candidate sent the harness's BAP: every callback but the CDS's on_discover."""
    return [e for e in certification.network.transcript.query(
        party="bap", direction=INBOUND, stray=False) if e.action != "on_discover"]


def _unjudged_callbacks(certification: Certification) -> list[tuple[str, Finding]]:
    """Every callback of the candidate no step judged — NACKed, retried, late, unsolicited —
    goes through the same per-message pipeline and sender check as the ones a step awaited."""
    candidate = certification.candidate
    findings: list[tuple[str, Finding]] = []
    for exchange in _candidate_callbacks(certification):
        if exchange.id in certification.judged:
            continue
        certification.judged.add(exchange.id)
        scenario = _scenario_of(certification, exchange)
        judged = judge_message(certification.pipeline_at(exchange), Message(
            exchange.request_body, exchange.request_headers, exchange.action,
            evidence=[exchange.id]))
        judged += context.sender_is_candidate(exchange, candidate.subscriber_id, candidate.uri)
        findings += [(scenario, f) for f in judged]
    return findings


def _repeated_bytes(certification: Certification) -> list[tuple[str, Finding]]:
    """UBC-TIME-004 for a callback delivered more than once with identical bytes, whatever its
    action: solicited or unsolicited, accepted or refused by the BAP."""
    copies: dict[bytes, list[Exchange]] = {}
    for exchange in _candidate_callbacks(certification):
        copies.setdefault(exchange.request_body, []).append(exchange)
    return [(_scenario_of(certification, same[0]), f)
            for same in copies.values() if len(same) > 1
            for f in timing.delivered_once(same)]
