"""The certification engine's run-level sweep, on a real mock network."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.beckn import signing
from harness.candidate import Candidate
from harness.certify.journey import Certification
from harness.certify.sweep import run_sweep
from harness.network import MockNetwork, NetworkConfig

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
    assert [f.rule for _, f in run_sweep(certification)] == ["UBC-TIME-005"]
