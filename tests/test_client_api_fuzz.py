"""The plan of the client API fuzzing (harness/certify/bap/fuzz.py), without a server: kept
beside the contract it was generated from, what the seeded generator draws today, every
operation called with valid and broken data and without the token, and refused loudly when it
is stale or broken. Its run against the reference BAP is in tests/test_bap_certification.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.candidate import Candidate
from harness.certify.bap import fuzz
from harness.certify.journey import NotEvaluated
from harness.checks import client_api


def test_the_kept_plan_is_what_the_seeded_generator_draws(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawn again from the contract, the same calls and the same digest: a run is
    reproducible. When this fails after a library upgrade or a change of the contract,
    regenerate the plan: python -m harness.certify.bap.fuzz"""
    monkeypatch.chdir(tmp_path)  # Hypothesis keeps its caches in the working directory
    kept = fuzz.plan()
    assert fuzz.generate() == kept
    document = json.loads(fuzz.PLAN_FILE.read_text(encoding="utf-8"))
    assert document["digest"] == kept.digest and document["seed"] == fuzz.SEED
    assert document["contract_sha256"] == fuzz.contract_hash()


def test_every_operation_is_called_with_valid_and_broken_data_and_without_the_token() -> None:
    kept = fuzz.plan()
    operations = [op.id for op in client_api.contract()]
    assert {(c.operation, c.data) for c in kept.generated} == {
        (op, data) for op in operations for data in ("positive", "negative")}
    assert all(c.token == "own" for c in kept.generated)
    assert [(c.operation, c.token) for c in kept.unauthenticated] == [
        (c.operation, token) for token in ("none", "wrong")
        for c in kept.unauthenticated[:len(operations)]]
    assert sorted(c.operation for c in kept.unauthenticated[:len(operations)]) == \
        sorted(operations)
    assert all(c.data == "positive" for c in kept.unauthenticated)  # otherwise valid calls
    # the cancellation, which ends the order, comes after every other operation
    first_cancel = next(i for i, c in enumerate(kept.generated) if c.operation in fuzz.LAST)
    assert all(c.operation in fuzz.LAST for c in kept.generated[first_cancel:])
    sent = [c.sent_as() for c in kept.generated]
    assert len(sent) == len(set(sent))  # no call twice
    assert len(kept.generated) <= len(operations) * sum(n for _, n in fuzz.EXAMPLES)


def test_calls_name_the_order_where_the_contract_requires_its_headers() -> None:
    for call in fuzz.plan().generated:
        named = set(call.order_headers)
        assert named <= set(fuzz.ORDER_HEADERS)
        sent = {name for name, _ in call.headers}
        assert not named & sent and "Authorization" not in sent
        if call.data == "positive" and call.operation != "search":
            assert named == set(fuzz.ORDER_HEADERS), call  # valid headers: the order's
        if "{order_id}" in call.path:
            assert call.path.startswith("/orders/{order_id}")


def test_a_plan_of_another_contract_or_altered_is_refused(tmp_path: Path) -> None:
    document = json.loads(fuzz.PLAN_FILE.read_text(encoding="utf-8"))
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({**document, "contract_sha256": "0" * 64}), encoding="utf-8")
    with pytest.raises(fuzz.PlanError, match="another version"):
        fuzz.plan(stale)
    altered = tmp_path / "altered.json"
    document["generated"][0]["path"] = "/search?page=2"
    altered.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(fuzz.PlanError, match="digest"):
        fuzz.plan(altered)
    broken = tmp_path / "broken.json"
    broken.write_text('{"generated": [', encoding="utf-8")
    with pytest.raises(fuzz.PlanError, match="cannot be read"):
        fuzz.plan(broken)


def test_a_body_that_is_not_text_survives_the_file() -> None:
    call = fuzz.PlannedCall("rateOrder", "negative", "POST", "/orders/{order_id}/rating",
                            (("Content-Type", "application/json"),), (), b"\xf5\x00{")
    record = call.as_record()
    assert "body" not in record and fuzz.PlannedCall.from_record(record) == call


def test_an_app_without_a_client_api_is_not_evaluated() -> None:
    """Never passed: without client_api_url there is nothing to fuzz."""
    app = Candidate(role="bap", subscriber_id="app.example", key_id="k1",
                    signing_public_key="A" * 43 + "=", uri="http://127.0.0.1:9/beckn")
    with pytest.raises(NotEvaluated, match="client_api_url"):
        fuzz.ClientApiFuzz.require_client_api(app)
    fuzz.ClientApiFuzz.require_client_api(Candidate(
        role="bap", subscriber_id="app.example", key_id="k1", signing_public_key="A" * 43 + "=",
        uri="http://127.0.0.1:9/beckn", client_api_url="http://127.0.0.1:9/v1",
        client_api_token="secret"))
