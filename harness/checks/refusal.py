"""How a candidate refuses, and whether it refuses what it must (BECKN-006 §5.3, TSD §13).

A valid, correctly signed request must be acknowledged (UBC-SCH-013); a request with a bad
signature must get 401 with a NACK and a `WWW-Authenticate` challenge (UBC-SIG-013/014); a
schema-invalid one 400 with the error in the NACK (UBC-SCH-011); a replay 401 (UBC-SIG-016);
and no refused request may be answered by a callback all the same. A BAP refuses a callback for
a transaction it never started, a second copy of one it took, or one out of order, with a 4xx
NACK (UBC-CTX-025, UBC-TIME-004, UBC-CTX-026), and a callback it refused leaves the order it
shows the driver as it was (UBC-API-004).
"""

from __future__ import annotations

from typing import Any

import orjson

from harness.beckn import envelope
from harness.findings import Finding
from harness.transcript import Exchange


def error_text(body: Any) -> str:
    """"code: message" of a NACK's error, "" when it has none."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}"
    return ""


def valid_request_acknowledged(request: Exchange, what: str | None = None) -> list[Finding]:
    """UBC-SCH-013: a request we sent correctly signed and schema-valid got a 2xx ACK. Only
    for answered requests: one unanswered, or answered with something other than JSON, is
    UBC-TIME-006/007 (timing.answered)."""
    body = request.response_json()
    if request.status is None or body is None:
        return []
    if request.status < 300 and envelope.ack_status(body) == "ACK":
        return []
    detail = error_text(body) or request.response_body[:200].decode("utf-8", "replace")
    return [Finding("UBC-SCH-013", f"{what or request.action} was refused: HTTP "
                    f"{request.status} {detail}".rstrip(), expected="200 ACK",
                    actual=request.status, evidence=[request.id])]


def refused_properly(request: Exchange, status: int, rule: str, what: str,
                     who: str = "the BPP") -> list[Finding]:
    """`rule` (UBC-SIG-013, UBC-SCH-011 or UBC-SIG-016) when a request the candidate had to
    refuse was ACKed or refused with another status; UBC-SCH-009 without a NACK body,
    UBC-SIG-014 for a 401 without `WWW-Authenticate`, UBC-SCH-011 for a 400 without an error
    code. Call it only for an answered request (see timing.answered)."""
    body = request.response_json()
    acked = request.status is not None and request.status < 300 and \
        envelope.ack_status(body) == "ACK"
    if acked:
        return [Finding(rule, f"{who} accepted {what} (HTTP {request.status} ACK)",
                        expected=f"HTTP {status} NACK", actual=request.status,
                        evidence=[request.id])]
    findings = []
    if request.status != status:
        findings.append(Finding(rule, f"{who} refused {what} with HTTP {request.status}",
                                expected=status, actual=request.status, evidence=[request.id]))
    if envelope.ack_status(body) != "NACK":
        findings.append(Finding("UBC-SCH-009", f"the refusal of {what} carries no NACK body",
                                expected="NACK", actual=envelope.ack_status(body),
                                evidence=[request.id]))
    if request.status == 401:
        findings += challenge_given(request, what)
    if request.status == 400:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not error.get("code"):
            findings.append(Finding("UBC-SCH-011", f"the 400 NACK for {what} carries no error "
                                    "code (TSD §13: schema errors go in the NACK)",
                                    evidence=[request.id]))
    return findings


def challenge_given(request: Exchange, what: str) -> list[Finding]:
    """UBC-SIG-014: a 401 tells the client how to authenticate (WWW-Authenticate)."""
    if request.status != 401 or request.response_headers.get("www-authenticate"):
        return []
    return [Finding("UBC-SIG-014", f"the 401 for {what} has no WWW-Authenticate header",
                    evidence=[request.id])]


def refused_request_unanswered(request: Exchange, answers: list[Exchange], allowed: int
                               ) -> list[Finding]:
    """UBC-SIG-013 / UBC-SCH-011 / UBC-SIG-016: no more than `allowed` callbacks answered a
    request the candidate had to refuse (one for a replay, whose original was accepted). The
    same callback sent twice is a duplicate (UBC-TIME-004), not an answer to the replay."""
    if len(answers) <= allowed:
        return []
    rule = "UBC-SIG-016" if allowed else (
        "UBC-SCH-011" if request.status == 400 else "UBC-SIG-013")
    if allowed and all(a.request_body == answers[0].request_body for a in answers):
        rule = "UBC-TIME-004"
    return [Finding(rule, f"{len(answers)} {answers[0].action} callback(s) answered a request "
                    "the BPP had to refuse", expected=allowed, actual=len(answers),
                    evidence=[request.id, *(a.id for a in answers)])]


def unknown_transaction_refused(callback: Exchange, what: str,
                                rule: str = "UBC-CTX-025") -> list[Finding]:
    """UBC-CTX-025: a callback for a transaction the app never started got a 4xx NACK; one
    ACKed, or refused otherwise, is a finding, and UBC-SCH-009 a refusal without a NACK body.
    With `rule` UBC-TIME-004, the same for a second copy of a callback the app already took;
    with UBC-CTX-026, for a callback out of order; with UBC-CTX-030, for one about the order
    from another BPP than the order's (harness/certify/bap/hostile.py says which).
    Call it only for an answered callback (see timing.answered)."""
    body = callback.response_json()
    status = callback.status
    if status is not None and 400 <= status < 500:
        if envelope.ack_status(body) == "NACK":
            return []
        return [Finding("UBC-SCH-009", f"the refusal of {what} carries no NACK body",
                        expected="NACK", actual=envelope.ack_status(body),
                        evidence=[callback.id])]
    accepted = status is not None and status < 300 and envelope.ack_status(body) == "ACK"
    return [Finding(rule, f"the app {'accepted' if accepted else 'answered'} {what} "
                    f"(HTTP {status} {envelope.ack_status(body)})", expected="HTTP 4xx NACK",
                    actual=status, evidence=[callback.id])]


VOLATILE = ("_at", "time", "timestamp")  # keys a view may refresh on its own (clock readings)


def shown_order_unchanged(before: Exchange, after: Exchange, what: str) -> list[Finding]:
    """UBC-API-004: the order the app shows (`GET /v1/orders/{id}`) is the same after a
    callback it refused as before it, but for clock readings (keys ending in _at, time or
    timestamp). One finding at the first leaf that differs, with its JSON pointer."""
    shown, now = before.response_json(), after.response_json()
    if shown is None or now is None:
        return []
    where = _first_difference(shown, now, "")
    if where is None:
        return []
    pointer, was, became = where
    return [Finding("UBC-API-004", f"after {what} the app shows the order differently at "
                    f"{pointer or '/'}", expected=was, actual=became, path=pointer,
                    evidence=[before.id, after.id])]


def _first_difference(was: Any, now: Any, pointer: str) -> tuple[str, Any, Any] | None:
    if isinstance(was, dict) and isinstance(now, dict):
        for key in sorted(set(was) | set(now)):
            if key.lower().endswith(VOLATILE):
                continue
            found = _first_difference(was.get(key), now.get(key), f"{pointer}/{_escape(key)}")
            if found:
                return found
        return None
    if isinstance(was, list) and isinstance(now, list) and len(was) == len(now):
        for index, (a, b) in enumerate(zip(was, now, strict=True)):
            found = _first_difference(a, b, f"{pointer}/{index}")
            if found:
                return found
        return None
    if orjson.dumps(was) == orjson.dumps(now):
        return None
    return pointer, was, now


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
