"""The certification engine's run-level sweep, on a real mock network."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.certify.journey import Certification
from harness.certify.sweep import run_sweep
from harness.network import MockNetwork, NetworkConfig
from harness.servers import ServerGroup

EXAMPLES = Path(__file__).parent / "fixtures" / "ubc-examples"

pytestmark = pytest.mark.network


@pytest.fixture
def certification() -> Iterator[Certification]:
    net = MockNetwork(NetworkConfig(ttl="PT2S", roles=("registry", "cds", "bap")))
    keys = signing.KeyPair.generate("cand.example", "k1")
    candidate = Candidate("bpp", "cand.example", "k1", keys.signing_public_key,
                          "http://127.0.0.1:9/beckn")
    net.build()
    net.register_candidate(candidate)
    net.start()
    try:
        yield Certification(net, candidate, ttl="PT2S")
    finally:
        net.stop()


def test_a_callback_to_a_wrong_address_is_ctx_018(certification: Certification) -> None:
    bap = certification.network.participants["bap"]
    body = b'{"context":{"action":"on_select","transaction_id":"t"},"message":{}}'
    for url in (f"{bap.uri}/on_select/", f"{bap.url}/on_select", f"{bap.uri}/select"):
        answer = httpx.post(url, content=body, timeout=5)
        assert answer.status_code == 404
        assert answer.json()["message"]["ack"]["status"] == "NACK"
    findings = [f for _, f in run_sweep(certification)]
    assert [f.rule for f in findings] == ["UBC-CTX-018"] * 3
    assert findings[0].expected == f"POST {bap.uri}/on_select"


def test_a_callback_for_an_unknown_transaction_is_time_005(
        certification: Certification) -> None:
    bap = certification.network.participants["bap"]
    answer = httpx.post(f"{bap.uri}/on_status", content=b'{"context": {}, "message": {}}',
                        timeout=5)
    assert answer.status_code == 401  # unsigned: refused, and still evidence
    rules = [f.rule for _, f in run_sweep(certification)]
    assert "UBC-TIME-005" in rules
    assert "UBC-SIG-001" in rules  # refused by the BAP, and judged all the same


def _signed(doc: dict[str, Any], keys: signing.KeyPair) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(doc).encode()
    return body, {"Authorization": signing.Signer.from_keypair(keys).sign(body),
                  "Content-Type": "application/json"}


def test_every_callback_is_judged_and_identical_bytes_twice_are_time_004(
        certification: Certification) -> None:
    """Callbacks no step waited for (here: unsolicited, signed with a key the registry does
    not hold, sent twice) still go through the whole pipeline."""
    journey = certification.journey("scenario")
    bap = certification.network.participants["bap"]
    doc = json.loads((EXAMPLES / "13_on_status" /
                      "ev-charging-session-interupt-on_status.json").read_text())
    doc["context"].update(transaction_id=journey.transaction_id, bap_id=bap.subscriber_id,
                          bap_uri=bap.uri, bpp_id="cand.example",
                          bpp_uri="http://127.0.0.1:9/beckn")
    stranger = signing.KeyPair.generate("cand.example", "k1")  # not the registered key
    body, headers = _signed(doc, stranger)
    for _ in range(2):
        assert httpx.post(f"{bap.uri}/on_status", content=body, headers=headers,
                          timeout=5).status_code == 401
    found = run_sweep(certification)
    assert {s for s, _ in found} == {"scenario"}
    rules = [f.rule for _, f in found]
    assert rules.count("UBC-SIG-009") == 2 and rules.count("UBC-TIME-004") == 1


def test_a_liveness_probe_decides_whether_the_candidate_is_gone(
        certification: Certification) -> None:
    """Two requests that hung are not death: a status request that is answered keeps the run
    going; one that is not answered either ends it."""
    hanging = ServerGroup()

    async def answer(request: Request) -> Response:
        return Response(json.dumps(envelope.ack()).encode(), media_type="application/json")
    served = hanging.add("bpp", Starlette(routes=[Route("/beckn/{action}", answer,
                                                        methods=["POST"])]))
    hanging.start()
    uri = f"{served.url}/beckn"
    try:
        certification.candidate = dataclasses.replace(certification.candidate, uri=uri)
        certification.transport_failures = 2
        assert certification.candidate_gone is False
        assert certification.transport_failures == 0
        assert len(certification.liveness_transactions) == 1
    finally:
        hanging.stop()
    certification.transport_failures = 2  # and now nobody answers at all
    assert certification.candidate_gone is True
