"""schemathesis against the OpenAPI document of every mock, each served on a real socket.

Generated requests (valid and invalid by the document, half each) must never meet a 5xx, and every
answer must match its document: status code, content type, body schema and headers. The Beckn
endpoints refuse unsigned requests, so for them this proves the refusals are well formed.

One test per documented operation, parametrized here rather than by schemathesis's own
expansion, so that the same operations run whether pytest runs alone or with xdist workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
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

OPENAPI = Path(__file__).parent.parent / "schemas" / "openapi"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
EXAMPLES = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
# Every client call waits for the Beckn callbacks behind it (a search for more on_discover
# answers to settle): three examples per operation keep their fuzz to seconds.
CLIENT_EXAMPLES = settings(EXAMPLES, max_examples=3)

pytestmark = pytest.mark.network

# document -> the party of the mock network that serves it
DOCUMENTS = {"registry": "registry", "charger": "charger", "cds": "cds", "bpp": "bpp",
             "bap": "bap", "client-api": "bap"}
OPERATIONS = {
    (document, result.ok().label): result.ok()
    for document in DOCUMENTS
    for result in schemathesis.openapi.from_path(OPENAPI / f"{document}.yaml")
    .get_all_operations()
}


def test_every_document_has_its_operations() -> None:
    assert {document for document, _ in OPERATIONS} == set(DOCUMENTS)
    assert len(OPERATIONS) >= 50


@pytest.mark.parametrize(("document", "label"), sorted(OPERATIONS),
                         ids=[f"{d}:{label}" for d, label in sorted(OPERATIONS)])
def test_the_mock_matches_its_document(document: str, label: str,
                                       network: MockNetwork) -> None:
    operation = OPERATIONS[(document, label)]
    base_url = network.participants[DOCUMENTS[document]].url
    headers: dict[str, str] = {}
    if document == "client-api":
        assert network.bap is not None
        network.bap.config.search_settle_s = 0.05  # one CDS and one BPP answer here
        # the fuzzing of bap.yaml may have switched faults on
        assert httpx.put(f"{base_url}/_control/faults", json={"faults": []}).status_code == 200
        headers = {"Authorization": f"Bearer {network.bap.config.client_api_token}"}

    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE)))
    @(CLIENT_EXAMPLES if document == "client-api" else EXAMPLES)
    def holds(case: Any) -> None:
        case.call_and_validate(base_url=base_url, checks=CHECKS, headers=headers)

    holds()
