"""Checks that a BAP's client API (client-api-contract.md) answers in the contract's shapes
(UBC-API-003) and reflects the Beckn callbacks behind it (UBC-API-001, UBC-API-002; once the
order runs, harness/checks/shown.py): the driver sees what the BPP said, and the app acts on
it.

`answer` is the /v1 exchange the harness made as the driver's client; `callback` the BPP's
callback (as the harness's BPP sent it) the answer must reflect. The shapes are the response
schemas of schemas/openapi/client-api.yaml (JSON Schema 2020-12, OpenAPI 3.1's dialect), read
once per process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness.beckn.order import dig
from harness.findings import Finding
from harness.paths import SCHEMAS_DIR
from harness.transcript import Exchange

CONTRACT = SCHEMAS_DIR / "openapi" / "client-api.yaml"
_URI = "urn:ubc-conformance:openapi:client-api.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SHAPE_FAULTS_SHOWN = 3  # per answer: the first few say enough
# the heading of client-api-contract.md each operation is specified under
HEADINGS = {"search": "1) Search Charging Connectors", "estimate": "2) Get Charging Estimate",
            "initiatePayment": "3) Initiate Payment", "getOrder": "4) Get Order Information",
            "startCharging": "5) Start Charging Session",
            "stopCharging": "6) Stop Charging Session",
            "cancellationEstimate": "7) Cancel Order - Estimate",
            "cancelOrder": "8) Cancel Order - Confirm",
            "rateOrder": "9) Submit Rating & Feedback", "orderSupport": "10) Get Order Support"}

CENT = 0.005  # amounts are money: equal to the cent
# The transcript party of the harness's calls to a candidate BAP's /v1 client API
# (harness/certify/bap/client.py): the driver's side of the app, no Beckn traffic.
CLIENT_API = "client-api"
# The transcript party of what the operator of a run driven by hand said the app showed
# (harness/certify/bap/operator.py): a person's reading of the app, not the app's answer.
OPERATOR = "operator"


def number(value: Any) -> float | None:
    """A JSON amount as a float (numbers, or strings as some answers carry them)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def shown_total_is_quoted(answer: Exchange, shown_at: tuple[str, ...], callback: Exchange,
                          quoted_at: tuple[str, ...]) -> list[Finding]:
    """UBC-API-001: the amount the client API shows (at `shown_at` in its answer) is the
    total the callback quoted (at `quoted_at` in it)."""
    shown = number(dig(answer.response_json(), *shown_at))
    quoted = number(dig(callback.json(), *quoted_at))
    if quoted is None or (shown is not None and abs(shown - quoted) < CENT):
        return []
    return [Finding("UBC-API-001", f"{answer.method} {answer.url} shows the driver "
                    f"{shown if shown is not None else 'no amount'}, the BPP's "
                    f"{callback.action} quoted {quoted}", path="/" + "/".join(shown_at),
                    expected=quoted, actual=shown, evidence=[answer.id, callback.id])]


def paid_order_confirmed(notice: Exchange, confirm: Exchange | None,
                         waited_s: float) -> list[Finding]:
    """UBC-API-002: after the BPP's unsolicited on_status reported the payment COMPLETED, the
    app sent confirm."""
    if confirm is not None:
        return []
    return [Finding("UBC-API-002", f"the BPP reported the payment COMPLETED in an unsolicited "
                    f"on_status, and no confirm followed within {waited_s:g} s",
                    path="/message/order/beckn:payment/beckn:paymentStatus",
                    expected="a confirm of the paid order", actual=None,
                    evidence=[notice.id])]


@dataclass(frozen=True)
class Operation:
    """One operation of the contract: where it is, and a validator per answer status."""

    id: str
    method: str
    path: re.Pattern[str]  # matches the end of an answered URL's path
    answers: Mapping[str, Draft202012Validator]  # by status code ("200", "404", ...)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def contract() -> tuple[Operation, ...]:
    """The operations of schemas/openapi/client-api.yaml, their response schemas compiled."""
    with CONTRACT.open(encoding="utf-8") as text:
        document = yaml.load(text, Loader=_LOADER)
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(document, default_specification=DRAFT202012))
    operations = []
    for template, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers = {}
            for status, response in operation["responses"].items():
                at = ["paths", template, method, "responses", status]
                if "$ref" in response:  # "#/components/responses/..."
                    at = response["$ref"].removeprefix("#/").split("/")
                    response = registry.resolver(_URI).lookup(response["$ref"]).contents
                if "application/json" not in (response.get("content") or {}):
                    continue
                pointer = "/".join(_escape(p) for p in
                                   [*at, "content", "application/json", "schema"])
                answers[str(status)] = Draft202012Validator({"$ref": f"{_URI}#/{pointer}"},
                                                            registry=registry)
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+",
                             re.escape(template.removeprefix("/v1")))
            operations.append(Operation(operation["operationId"], method.upper(),
                                        re.compile(pattern + "$"), answers))
    return tuple(operations)


def operation_of(method: str, url: str) -> Operation | None:
    """The contract's operation a call to `url` is, by method and the end of its path."""
    path = urlsplit(url).path.rstrip("/")
    return next((op for op in contract() if op.method == method.upper()
                 and op.path.search(path)), None)


def _pointer(parts: Any) -> str:
    return "".join(f"/{_escape(str(part))}" for part in parts)


def answers_in_contract_shape(answer: Exchange) -> list[Finding]:
    """UBC-API-003: a /v1 answer with a status its operation declares has that status's
    JSON body, valid against the contract's schema. Calls the contract has no operation for,
    statuses it does not declare, calls never answered and what an operator typed (party
    `OPERATOR`: the app has no /v1 API to judge) are not judged here."""
    if answer.party == OPERATOR:
        return []
    operation = operation_of(answer.method, answer.url)
    validator = operation and answer.status is not None and \
        operation.answers.get(str(answer.status))
    if not operation or not validator:
        return []
    where = f"{answer.method} {answer.url} (client API contract, " \
        f"{HEADINGS.get(operation.id, operation.id)}) answered {answer.status}"
    body = answer.response_json()
    if body is None:
        return [Finding("UBC-API-003", f"{where} with a body that is not JSON",
                        expected="application/json", actual=answer.response_body[:80].decode(
                            "utf-8", "replace"), evidence=[answer.id])]
    errors = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    return [Finding("UBC-API-003", f"{where}: {error.message[:200]}",
                    path=_pointer(error.absolute_path),
                    expected={str(error.validator): error.validator_value},
                    actual=error.instance if not isinstance(error.instance, dict | list)
                    else type(error.instance).__name__, evidence=[answer.id])
            for error in errors[:SHAPE_FAULTS_SHOWN]]

