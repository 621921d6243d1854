"""Checks on how a BAP's client API (client-api-contract.md) answers the calls a careless or
hostile client makes (harness/certify/bap/fuzz.py): none with a server error (UBC-API-010),
none without the app's Bearer token served (UBC-API-011), and every answer with a status its
operation documents (UBC-API-003, beside the shape `client_api.answers_in_contract_shape`
judges).

`answer` is a /v1 exchange the harness made; a call never answered is not judged here.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from harness.beckn import envelope
from harness.checks.client_api import HEADINGS, operation_of
from harness.findings import Finding
from harness.transcript import Exchange

# The contract's UpstreamError and UpstreamTimeout: the CDS or BPP behind the call failed.
UPSTREAM_FAILURES = (502, 504)
SHOWN = 160  # characters of a body quoted in a finding


def _excerpt(raw: bytes) -> str:
    text = raw[:SHOWN].decode("utf-8", "replace")
    return text + ("…" if len(raw) > SHOWN else "")


def call_of(answer: Exchange) -> str:
    """The call as an operator reads it: operation, method, path and query, and its body."""
    operation = operation_of(answer.method, answer.url)
    name = f"client API contract, {HEADINGS.get(operation.id, operation.id)}" if operation \
        else "no operation of the client API contract"
    parts = urlsplit(answer.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    body = f" with body {_excerpt(answer.request_body)!r}" if answer.request_body else ""
    return f"{answer.method} {target} ({name}){body}"


def answer_of(answer: Exchange) -> str:
    return f"{answer.status} {_excerpt(answer.response_body)!r}"


def _acknowledged(request: Exchange) -> bool:
    return request.status is not None and request.status < 300 and \
        envelope.ack_status(request.response_json()) == "ACK"


def no_server_error(answer: Exchange, upstream: Sequence[Exchange]) -> list[Finding]:
    """UBC-API-010: a call, however malformed, is answered without a server error.

    A 502 or 504 reports that the CDS or BPP behind the call failed (the contract's
    UpstreamError, UpstreamTimeout), so it stands only where that shows in `upstream`, the
    Beckn requests the app sent the harness's CDS and BPP during the call, with their answers:
    each acknowledged, the failure was theirs (a callback late, missing or carrying an error
    the client cannot act on). When the app sent nothing, the failure it reports is its own;
    when the CDS or BPP refused what it sent, the app forwarded input it had to refuse itself
    (400 or 422)."""
    status = answer.status
    if status is None or status < 500:
        return []
    refused = [r for r in upstream if not _acknowledged(r)]
    if status not in UPSTREAM_FAILURES:
        why = "a server error"
    elif not upstream:
        why = ("an upstream failure, yet the app sent the CDS and BPP nothing during the call: "
               "the failure is its own")
    elif refused:
        why = (f"an upstream failure after the harness's {refused[0].party.upper()} refused the "
               f"{refused[0].action or 'request'} the app sent (HTTP {refused[0].status}): it "
               "forwarded input it had to refuse itself with a 400 or 422")
    else:
        return []
    return [Finding("UBC-API-010", f"{call_of(answer)} was answered {answer_of(answer)}, "
                    f"{why}", expected="a 4xx refusing the call, or its answer",
                    actual=answer.status,
                    evidence=[answer.id, *(r.id for r in refused[:1])])]


def refused_without_token(answer: Exchange, credentials: str) -> list[Finding]:
    """UBC-API-011: a call made without the app's Bearer token (`credentials` says what it
    carried: no token, another token) is refused with 401 and a `WWW-Authenticate` challenge
    (RFC 6750 §3). The body's error format is UBC-API-003's to judge."""
    if answer.status is None:
        return []
    if answer.status != 401:
        served = "served it" if answer.status < 300 else "did not refuse it as unauthorised"
        return [Finding("UBC-API-011", f"{call_of(answer)}, made with {credentials}, was "
                        f"answered {answer_of(answer)}: the app {served}", expected=401,
                        actual=answer.status, evidence=[answer.id])]
    challenge = next((v for k, v in answer.response_headers.items()
                      if k.lower() == "www-authenticate"), "")
    if challenge.strip().lower().startswith("bearer"):
        return []
    return [Finding("UBC-API-011", f"{call_of(answer)}, made with {credentials}, was refused "
                    "with 401 but no Bearer challenge", expected="WWW-Authenticate: Bearer …",
                    actual=challenge or None, evidence=[answer.id])]


def status_documented(answer: Exchange) -> list[Finding]:
    """UBC-API-003: the answer's status is one its operation documents. Server errors are
    UBC-API-010's; calls the contract has no operation for are not judged."""
    operation = operation_of(answer.method, answer.url)
    if operation is None or answer.status is None or answer.status >= 500 or \
            str(answer.status) in operation.answers:
        return []
    return [Finding("UBC-API-003", f"{call_of(answer)} was answered {answer_of(answer)}, a "
                    f"status the contract does not give {operation.id}",
                    expected=sorted(operation.answers), actual=answer.status,
                    evidence=[answer.id])]
