"""How a candidate's Beckn endpoint takes generated requests, valid and malformed
(`ubc-cert fuzz`, harness/fuzz/).

Whether a request was schema-invalid is judged here, on the exact bytes sent, by the same
schemas and the same reading of JSON as every message of a run (harness/checks/message.py):
what the generator meant a body to be does not count. A schema-invalid request must not be
acknowledged (UBC-SCH-011: TSD §13 puts schema errors in the NACK), and no request, however
malformed, may be answered with a server error (UBC-SCH-014). Unanswered, non-JSON and late
answers are timing.py's (UBC-TIME-006/007, UBC-TIME-001).
"""

from __future__ import annotations

from harness.beckn import envelope
from harness.checks.message import parse_body
from harness.checks.refusal import error_text
from harness.findings import Finding
from harness.schemas import SchemaSet
from harness.transcript import Exchange


def schema_problems(raw: bytes, action: str, schemas: SchemaSet) -> list[Finding]:
    """Why a request body is schema-invalid for `action` (not UTF-8 JSON, envelope, context,
    message), as the findings its sender would get; empty when it is valid. These describe
    the harness's own request: they classify it, they are not the candidate's findings."""
    doc, problem = parse_body(raw)
    if problem is not None:
        return [problem]
    return [f for f in schemas.validate(doc, expected_action=action) if f.is_error]


def _acknowledged(request: Exchange) -> bool:
    return request.status is not None and request.status < 300 and \
        envelope.ack_status(request.response_json()) == "ACK"


def _problem(problems: list[Finding]) -> str:
    """The first problem, which names where it lies, and how many more there are."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0].rule} {problems[0].message}{more}"


def malformed_refused(request: Exchange, problems: list[Finding], who: str = "the candidate"
                      ) -> list[Finding]:
    """UBC-SCH-011: a request with schema `problems` (schema_problems) was not acknowledged.
    How it was refused (400, a NACK body) is not judged here: a refusal of any kind keeps
    the broken message out of the flow."""
    if not problems or not _acknowledged(request):
        return []
    return [Finding("UBC-SCH-011", f"{who} acknowledged a {request.action or 'request'} the "
                    f"schema refuses: {_problem(problems)}", path=problems[0].path,
                    expected="HTTP 400 NACK with the error", actual=f"HTTP {request.status} ACK",
                    evidence=[request.id])]


def no_server_error(request: Exchange, problems: list[Finding], who: str = "the candidate"
                    ) -> list[Finding]:
    """UBC-SCH-014: a request, valid or not (`problems` says), was answered without a 5xx:
    what an endpoint cannot take it refuses with a 4xx NACK, and what it takes it ACKs."""
    if request.status is None or request.status < 500:
        return []
    answer = error_text(request.response_json()) or \
        request.response_body[:120].decode("utf-8", "replace")
    what = f"a schema-invalid {request.action or 'request'} ({_problem(problems)})" if problems \
        else f"a valid {request.action or 'request'}"
    return [Finding("UBC-SCH-014", f"{who} answered {what} with HTTP {request.status} "
                    f"{answer}".rstrip(),
                    expected="HTTP 400 NACK" if problems else "HTTP 200 ACK",
                    actual=request.status, evidence=[request.id])]
