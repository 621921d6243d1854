"""schemathesis against the OpenAPI document of every mock, each served on a real socket.

Generated requests (valid and invalid by the document) must never meet a 5xx, and every
answer must match its document: status code, content type, body schema and headers. The Beckn
endpoints refuse unsigned requests, so for them this proves the refusals are well formed.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
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
EXAMPLES = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

pytestmark = pytest.mark.network


registry_schema = schemathesis.openapi.from_path(OPENAPI / "registry.yaml")
charger_schema = schemathesis.openapi.from_path(OPENAPI / "charger.yaml")
cds_schema = schemathesis.openapi.from_path(OPENAPI / "cds.yaml")
bpp_schema = schemathesis.openapi.from_path(OPENAPI / "bpp.yaml")
bap_schema = schemathesis.openapi.from_path(OPENAPI / "bap.yaml")
client_api_schema = schemathesis.openapi.from_path(OPENAPI / "client-api.yaml")


@registry_schema.parametrize()
@EXAMPLES
def test_registry_matches_its_document(case: schemathesis.Case, network: MockNetwork) -> None:
    case.call_and_validate(base_url=network.participants["registry"].url, checks=CHECKS)


@charger_schema.parametrize()
@EXAMPLES
def test_charger_matches_its_document(case: schemathesis.Case, network: MockNetwork) -> None:
    case.call_and_validate(base_url=network.participants["charger"].url, checks=CHECKS)


@cds_schema.parametrize()
@EXAMPLES
def test_cds_matches_its_document(case: schemathesis.Case, network: MockNetwork) -> None:
    case.call_and_validate(base_url=network.participants["cds"].url, checks=CHECKS)


@bpp_schema.parametrize()
@EXAMPLES
def test_bpp_matches_its_document(case: schemathesis.Case, network: MockNetwork) -> None:
    case.call_and_validate(base_url=network.participants["bpp"].url, checks=CHECKS)


@bap_schema.parametrize()
@EXAMPLES
def test_bap_matches_its_document(case: schemathesis.Case, network: MockNetwork) -> None:
    case.call_and_validate(base_url=network.participants["bap"].url, checks=CHECKS)


# Every client call waits for the Beckn callbacks behind it (a search for more on_discover
# answers to settle): fewer examples keep the fuzz of these operations to seconds.
CLIENT_EXAMPLES = settings(EXAMPLES, max_examples=6)


@client_api_schema.parametrize()
@CLIENT_EXAMPLES
def test_bap_client_api_matches_its_document(case: schemathesis.Case,
                                             network: MockNetwork) -> None:
    assert network.bap is not None
    network.bap.config.search_settle_s = 0.05  # one CDS and one BPP answer on this network
    bap_url = network.participants["bap"].url
    # the fuzzing of bap.yaml may have switched faults on
    assert httpx.put(f"{bap_url}/_control/faults", json={"faults": []}).status_code == 200
    token = {"Authorization": f"Bearer {network.bap.config.client_api_token}"}
    case.call_and_validate(base_url=bap_url, checks=CHECKS, headers=token)
