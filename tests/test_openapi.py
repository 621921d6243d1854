"""schemathesis against the OpenAPI document of every mock, each served on a real socket.

Generated requests (valid and invalid by the document, half each) must never meet a 5xx, and every
answer must match its document: status code, content type, body schema and headers. The Beckn
endpoints refuse unsigned requests, so for them this proves the refusals are well formed
(tests/test_long_signed.py signs them, under `make test-long`).

One test per documented operation, parametrized here rather than by schemathesis's own
expansion, so that the same operations run whether pytest runs alone or with xdist workers.
"""

from __future__ import annotations

import pytest

from harness.network import MockNetwork
from tests.mock_fuzz import DOCUMENTS, OPERATIONS, client_api_headers, fuzz

EXAMPLES = 15
# Every client call waits for the Beckn callbacks behind it (a search for more on_discover
# answers to settle): three examples per operation keep their fuzz to seconds.
CLIENT_EXAMPLES = 3

pytestmark = pytest.mark.network


def test_every_document_has_its_operations() -> None:
    assert {document for document, _ in OPERATIONS} == set(DOCUMENTS)
    assert len(OPERATIONS) >= 50


@pytest.mark.parametrize(("document", "label"), sorted(OPERATIONS),
                         ids=[f"{d}:{label}" for d, label in sorted(OPERATIONS)])
def test_the_mock_matches_its_document(document: str, label: str,
                                       network: MockNetwork) -> None:
    base_url = network.participants[DOCUMENTS[document]].url
    if document == "client-api":
        fuzz(OPERATIONS[(document, label)], base_url, CLIENT_EXAMPLES,
             client_api_headers(network))
    else:
        fuzz(OPERATIONS[(document, label)], base_url, EXAMPLES)
