"""The long fuzz (`make test-long`) of every mock's OpenAPI document: the registry (its admin
API with the network's admin token), the charger, the CDS, the reference BPP and BAP (their
control APIs, and their Beckn endpoints unsigned) and the BAP's client API.

As tests/test_openapi.py does, a few hundred requests an operation instead of fifteen: never a
5xx, an answer within ANSWER_BOUND_S, every answer as the document says. The registry and the
charger are fuzzed on networks of their own, so that records removed or connectors faulted by
the fuzz change nothing the other operations rely on. The Beckn endpoints get their signed
requests from tests/test_long_signed.py; here they keep a few unsigned ones. Each test reports
how many requests it sent (tests/conftest.py adds them up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from harness.network import MockNetwork, NetworkConfig
from tests.mock_fuzz import (
    DOCUMENTS,
    OPERATIONS,
    REQUESTS_SENT,
    client_api_headers,
    fuzz,
    switch_faults_off,
)

pytestmark = [pytest.mark.network, pytest.mark.long]

EXAMPLES = 320  # an operation of the registry, the charger or a control API
BECKN_EXAMPLES = 20  # unsigned: refused before their (costly to draw) bodies are read
CLIENT_EXAMPLES = 8  # each call waits on the Beckn callbacks behind it
OWN_NETWORK = {"registry": "registry_network", "charger": "charger_network"}


def _count(document: str, label: str) -> int:
    if document == "client-api":
        return CLIENT_EXAMPLES
    if label.startswith("POST /beckn/") or label == "POST /{action}":
        return BECKN_EXAMPLES
    return EXAMPLES


def _alone(role: str) -> Iterator[MockNetwork]:
    network = MockNetwork(NetworkConfig(ttl="PT5S", roles=(role,))).start()
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture(scope="module")
def registry_network() -> Iterator[MockNetwork]:
    yield from _alone("registry")


@pytest.fixture(scope="module")
def charger_network() -> Iterator[MockNetwork]:
    yield from _alone("charger")


@pytest.fixture(scope="module")
def connection() -> Iterator[requests.Session]:
    with requests.Session() as session:  # kept connections: the fuzz does not wait on connects
        yield session


@pytest.mark.parametrize(("document", "label"), sorted(OPERATIONS),
                         ids=[f"{d}:{label}" for d, label in sorted(OPERATIONS)])
def test_the_mock_holds_under_long_fuzz(document: str, label: str,
                                        request: pytest.FixtureRequest,
                                        connection: requests.Session,
                                        record_property: Callable[[str, object], None]) -> None:
    network: MockNetwork = request.getfixturevalue(OWN_NETWORK.get(document, "network"))
    base_url = network.participants[DOCUMENTS[document]].url
    headers: dict[str, str] = {}
    if document == "registry":  # the admin API is fuzzed past its token
        headers = {"Authorization": f"Bearer {network.admin_token}"}
    elif document == "client-api":
        headers = client_api_headers(network)
    elif document in ("bpp", "bap"):
        switch_faults_off(network)
    sent = fuzz(OPERATIONS[(document, label)], base_url, _count(document, label), headers,
                connection)
    record_property(REQUESTS_SENT, sent)
