"""schemathesis against the OpenAPI documents of the mocks: the operations, the checks every
answer must pass, and one operation fuzzed against a running mock.

tests/test_openapi.py fuzzes each operation a little in the suite; tests/test_long_documents.py
fuzzes them at length (`make test-long`), and tests/test_long_signed.py judges the answers to
its signed requests against the same documents.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness.network import MockNetwork
from harness.transcript import Exchange

OPENAPI = Path(__file__).parent.parent / "schemas" / "openapi"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
ANSWER_BOUND_S = 10.0  # a mock that has not answered by then hangs
REQUESTS_SENT = "requests_sent"  # the user property a long test reports its count under

# document -> the party of the mock network that serves it
DOCUMENTS = {"registry": "registry", "charger": "charger", "cds": "cds", "bpp": "bpp",
             "bap": "bap", "client-api": "bap"}
SCHEMAS = {document: schemathesis.openapi.from_path(OPENAPI / f"{document}.yaml")
           for document in DOCUMENTS}
OPERATIONS = {
    (document, result.ok().label): result.ok()
    for document, schema in SCHEMAS.items()
    for result in schema.get_all_operations()
}


def examples(count: int) -> settings:
    """Hypothesis's settings for `count` examples: the same draw on every run (seeded, no
    example database), no deadline (a mock's answer is bounded by ANSWER_BOUND_S instead)."""
    return settings(max_examples=count, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def client_api_headers(network: MockNetwork) -> dict[str, str]:
    """Ready the reference BAP's client API for fuzzing, and the headers its calls carry."""
    assert network.bap is not None
    network.bap.config.search_settle_s = 0.05  # one CDS and one BPP answer here
    switch_faults_off(network)
    return {"Authorization": f"Bearer {network.bap.config.client_api_token}"}


def switch_faults_off(network: MockNetwork) -> None:
    """The fuzzing of a control API may have switched faults on: the BPP's and the BAP's."""
    for role in ("bpp", "bap"):
        if role in network.participants:
            answer = httpx.put(f"{network.participants[role].url}/_control/faults",
                               json={"faults": []})
            assert answer.status_code == 200, answer.text


def fuzz(operation: Any, base_url: str, count: int, headers: dict[str, str] | None = None,
         session: requests.Session | None = None) -> int:
    """Up to `count` requests drawn for `operation`, valid and invalid by its document, each
    answered within ANSWER_BOUND_S and by the document (CHECKS); how many were sent."""
    sent = 0

    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE)))
    @examples(count)
    def holds(case: Any) -> None:
        nonlocal sent
        sent += 1
        try:
            case.call_and_validate(base_url=base_url, checks=CHECKS, headers=headers,
                                   session=session, timeout=ANSWER_BOUND_S)
        except requests.Timeout:
            raise AssertionError(f"no answer within {ANSWER_BOUND_S:g} s to "
                                 f"{case.as_curl_command(base_url=base_url)}") from None

    holds()
    return sent


def conforms(operation: Any, exchange: Exchange, path_parameters: dict[str, str] | None = None
             ) -> None:
    """The answer of a request sent outside schemathesis (`exchange`, as a party's outbox
    recorded it) is one `operation`'s document allows: status, content type, body, headers."""
    assert exchange.status is not None, f"{exchange.id}: no answer: {exchange.error}"
    sent = httpx.Request(exchange.method, exchange.url, headers=exchange.request_headers,
                         content=exchange.request_body)
    answer = httpx.Response(exchange.status, headers=exchange.response_headers,
                            content=exchange.response_body, request=sent)
    answer.elapsed = timedelta(seconds=exchange.latency or 0.0)
    case = operation.Case(path_parameters=path_parameters or {},
                          media_type="application/json")
    case.validate_response(answer, checks=CHECKS[1:])
