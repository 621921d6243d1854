"""Timing checks, measured on arrival at the harness, never from `context.timestamp`."""

from __future__ import annotations

from harness.findings import NOT_EVALUATED, Finding
from harness.transcript import Exchange

DEFAULT_ACK_BOUND_S = 5.0


def answered(request: Exchange) -> list[Finding]:
    """UBC-TIME-006/007 and UBC-SCH-012: the candidate answered, with JSON, at most 1 MB."""
    if request.error is not None and request.status is not None:
        return [Finding("UBC-SCH-012", f"{request.action} answered HTTP {request.status} with "
                        f"{request.error}", actual=request.error, evidence=[request.id])]
    if request.error is not None:
        return [Finding("UBC-TIME-006", f"{request.action} to {request.url} got no answer: "
                        f"{request.error}", actual=request.error, evidence=[request.id])]
    content_type = request.response_headers.get("content-type", "")
    if request.response_json() is None:
        preview = request.response_body[:80].decode("utf-8", "replace")
        return [Finding("UBC-TIME-007", f"{request.action} answered HTTP {request.status} with "
                        f"{len(request.response_body)} bytes of {content_type or 'no type'}, "
                        f"not JSON: {preview!r}", actual=content_type, evidence=[request.id])]
    return []


def ack_within(request: Exchange, bound_s: float = DEFAULT_ACK_BOUND_S) -> list[Finding]:
    """UBC-TIME-001: the synchronous answer came within the bound."""
    latency = request.latency
    if latency is None or request.error is not None:
        return []  # reported by answered()
    if latency > bound_s:
        return [Finding("UBC-TIME-001", f"{request.action} answered after {latency:.3f} s",
                        expected=f"<= {bound_s:g} s", actual=f"{latency:.3f} s",
                        evidence=[request.id])]
    return []


def callback_within_ttl(request: Exchange, callbacks: list[Exchange], ttl_s: float
                        ) -> list[Finding]:
    """UBC-TIME-002/003/004: exactly one callback, arriving within the request's ttl."""
    if not callbacks:
        return [Finding("UBC-TIME-003", f"no {request.action} callback arrived within "
                        f"{ttl_s:g} s of the request", expected="one callback", actual="none",
                        evidence=[request.id])]
    findings = []
    first = min(callbacks, key=lambda c: c.mono_time)
    delay = first.mono_time - request.mono_time
    if delay > ttl_s:
        findings.append(Finding("UBC-TIME-002", f"{first.action} arrived {delay:.3f} s after "
                                "the request", expected=f"<= {ttl_s:g} s (ttl)",
                                actual=f"{delay:.3f} s", evidence=[request.id, first.id]))
    return findings + one_callback(request, callbacks)


def unexpected_callback(callback: Exchange, reason: str) -> list[Finding]:
    """UBC-TIME-005: a callback for a transaction or message we never sent."""
    return [Finding("UBC-TIME-005", f"{callback.action} {reason}", evidence=[callback.id])]


def not_evaluated(rule: str, why: str, evidence: list[str] | None = None) -> Finding:
    """A check that could not look (e.g. no callback to inspect): never a pass."""
    return Finding(rule, f"not evaluated: {why}", status=NOT_EVALUATED,
                   evidence=evidence or [])


def not_sent(action: str, why: str) -> list[Finding]:
    """UBC-TIME-006: a request the run did not send because the candidate stopped answering."""
    return [Finding("UBC-TIME-006", f"{action} not sent: {why}")]


def unsolicited_missing(action: str, transaction_id: str, wait_s: float) -> list[Finding]:
    """UBC-TIME-003: an unsolicited callback the step waits for did not come."""
    return [Finding("UBC-TIME-003", f"no unsolicited {action} of transaction {transaction_id} "
                    f"arrived within {wait_s:g} s")]


def one_callback(request: Exchange, answers: list[Exchange]) -> list[Finding]:
    """UBC-TIME-004: a request got more than one callback answering it."""
    if len(answers) <= 1:
        return []
    first = min(answers, key=lambda c: c.mono_time)
    return [Finding("UBC-TIME-004", f"{len(answers)} {first.action} callbacks for one request",
                    expected=1, actual=len(answers),
                    evidence=[request.id, *(c.id for c in answers)])]


def delivered_once(copies: list[Exchange]) -> list[Finding]:
    """UBC-TIME-004: the same message (identical bytes) arrived more than once."""
    if len(copies) <= 1:
        return []
    first = min(copies, key=lambda c: c.mono_time)
    return [Finding("UBC-TIME-004", f"the same {first.action} (identical bytes, message_id "
                    f"{first.message_id}) arrived {len(copies)} times", expected=1,
                    actual=len(copies), evidence=[c.id for c in copies])]
