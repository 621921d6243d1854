"""Each check fed a violating exchange reports the right rule, and stays quiet on a good one."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness.beckn import signing
from harness.beckn.time import duration_seconds
from harness.candidate import Candidate
from harness.certify.journey import Certification
from harness.checks import consistency, context, signature, state, timing
from harness.checks.message import Message, Pipeline
from harness.checks.registry import judge_message
from harness.findings import NOT_EVALUATED
from harness.network import MockNetwork
from harness.transcript import INBOUND, OUTBOUND, Exchange, Transcript

EXAMPLES = Path(__file__).parent / "fixtures" / "ubc-examples"
SELECT = json.loads((EXAMPLES / "03_select" / "ev-charging-select.json").read_text())
ON_SELECT = json.loads((EXAMPLES / "04_on_select" / "ev-charging-on_select.json").read_text())
ON_CONFIRM = json.loads((EXAMPLES / "08_00_on_confirm" / "ev-charging-on_confirm.json")
                        .read_text())
ON_TRACK = json.loads((EXAMPLES / "12_on_track" / "ev-charging-on_track.json").read_text())


def exchange(doc: Any, *, direction: str = INBOUND, at: float = 0.0, status: int | None = 200,
             response: bytes = b'{"message":{"ack":{"status":"ACK"}}}',
             latency: float | None = 0.01, error: str | None = None,
             headers: dict[str, str] | None = None) -> Exchange:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    x = Exchange(id=f"x{at}", direction=direction, party="bap", method="POST",
                 url="http://127.0.0.1:1/beckn/x", request_headers=headers or {},
                 request_body=body, wall_time=at, mono_time=at, status=status,
                 response_headers={"content-type": "application/json"}, response_body=response,
                 response_mono_time=None if latency is None else at + latency, error=error)
    return x


def rules(findings: list[Any]) -> list[str]:
    return [f.rule for f in findings]


# -- context ------------------------------------------------------------------------------------

def test_callback_echoes_ids_and_bap() -> None:
    request = exchange(SELECT, direction=OUTBOUND)
    good = copy.deepcopy(ON_SELECT)
    good["context"]["bap_uri"] = SELECT["context"]["bap_uri"]
    assert context.callback_echoes_request(request, exchange(good)) == []
    bad = copy.deepcopy(good)
    bad["context"]["transaction_id"] = "00000000-0000-4000-8000-000000000000"
    bad["context"]["message_id"] = "00000000-0000-4000-8000-000000000001"
    bad["context"]["bap_id"] = "someone-else"
    assert rules(context.callback_echoes_request(request, exchange(bad))) == [
        "UBC-CTX-012", "UBC-CTX-013", "UBC-CTX-015"]


def test_callback_timestamp_not_before_request() -> None:
    request = exchange(SELECT, direction=OUTBOUND)
    late = copy.deepcopy(ON_SELECT)
    assert context.callback_not_before_request(request, exchange(late)) == []
    early = copy.deepcopy(ON_SELECT)
    early["context"]["timestamp"] = "2024-01-15T10:29:00Z"
    assert rules(context.callback_not_before_request(request, exchange(early))) == [
        "UBC-CTX-017"]


def test_sender_is_the_candidate() -> None:
    callback = exchange(ON_SELECT)
    uri = ON_SELECT["context"]["bpp_uri"]
    assert context.sender_is_candidate(callback, "example-bpp.com", uri + "/") == []
    assert rules(context.sender_is_candidate(callback, "other-bpp", "http://x/y")) == [
        "UBC-CTX-016", "UBC-CTX-016"]


def test_unsolicited_needs_a_new_message_id() -> None:
    callback = exchange(ON_CONFIRM)
    mine = {ON_CONFIRM["context"]["message_id"]}
    assert rules(context.unsolicited_has_new_message_id(callback, mine)) == ["UBC-CTX-014"]
    assert context.unsolicited_has_new_message_id(callback, set()) == []


# -- timing -------------------------------------------------------------------------------------

def test_unreachable_and_non_json_answers() -> None:
    refused = exchange(SELECT, direction=OUTBOUND, status=None, error="ConnectError: refused",
                       latency=None)
    assert rules(timing.answered(refused)) == ["UBC-TIME-006"]
    huge = exchange(SELECT, direction=OUTBOUND, error="answer larger than 1048576 bytes")
    assert rules(timing.answered(huge)) == ["UBC-SCH-012"]
    html = exchange(SELECT, direction=OUTBOUND, response=b"<html>502 Bad Gateway</html>")
    assert rules(timing.answered(html)) == ["UBC-TIME-007"]
    assert timing.answered(exchange(SELECT, direction=OUTBOUND)) == []


def test_ack_bound() -> None:
    assert timing.ack_within(exchange(SELECT, latency=0.2), 5.0) == []
    assert rules(timing.ack_within(exchange(SELECT, latency=6.0), 5.0)) == ["UBC-TIME-001"]


def test_callback_timing_classes() -> None:
    request = exchange(SELECT, direction=OUTBOUND, at=100.0)
    on_time = exchange(ON_SELECT, at=101.0)
    late = exchange(ON_SELECT, at=140.0)
    assert timing.callback_within_ttl(request, [on_time], 30) == []
    assert rules(timing.callback_within_ttl(request, [late], 30)) == ["UBC-TIME-002"]
    assert rules(timing.callback_within_ttl(request, [], 30)) == ["UBC-TIME-003"]
    assert rules(timing.callback_within_ttl(request, [on_time, exchange(ON_SELECT, at=102)],
                                            30)) == ["UBC-TIME-004"]
    assert rules(timing.unexpected_callback(on_time, "for unknown transaction")) == [
        "UBC-TIME-005"]


def test_not_evaluated_is_never_a_pass() -> None:
    finding = timing.not_evaluated("UBC-TIME-003", "no callback to inspect")
    assert finding.status == NOT_EVALUATED
    assert finding.as_dict()["status"] == NOT_EVALUATED


# -- states -------------------------------------------------------------------------------------

def with_states(doc: dict[str, Any], order: str | None = None, session: str | None = None,
                payment: str | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    o = doc["message"]["order"]
    if order:
        o["beckn:orderStatus"] = order
    if session:
        o.setdefault("beckn:fulfillment", {}).setdefault("beckn:deliveryAttributes", {})[
            "sessionStatus"] = session
    if payment:
        o.setdefault("beckn:payment", {})["beckn:paymentStatus"] = payment
    return doc


def test_step_states() -> None:
    assert state.step_states("on_confirm", exchange(ON_CONFIRM)) == []
    wrong = exchange(with_states(ON_CONFIRM, order="COMPLETED", session="ACTIVE"))
    findings = state.step_states("on_confirm", wrong)
    assert rules(findings) == ["UBC-STATE-004", "UBC-STATE-004"]
    assert findings[0].path == "/message/order/beckn:orderStatus"


def test_transitions_follow_the_table() -> None:
    good = [exchange(with_states(ON_SELECT, "CREATED"), at=1),
            exchange(with_states(ON_CONFIRM, "CONFIRMED", "PENDING", "COMPLETED"), at=2),
            exchange(with_states(ON_TRACK, "INPROGRESS", "ACTIVE"), at=3),
            exchange(with_states(ON_TRACK, "COMPLETED", "COMPLETED", "REFUNDED"), at=4)]
    assert state.transitions(good) == []
    backwards = [exchange(with_states(ON_SELECT, "CREATED"), at=0),
                 exchange(with_states(ON_CONFIRM, "CONFIRMED", "ACTIVE", "COMPLETED"), at=1),
                 exchange(with_states(ON_TRACK, "CREATED", "PENDING", "INITIATED"), at=2)]
    assert rules(state.transitions(backwards)) == ["UBC-STATE-001", "UBC-STATE-002",
                                                   "UBC-STATE-003"]


def test_refusals_do_not_move_the_order_but_need_the_right_code() -> None:
    rejected = with_states(ON_SELECT, "REJECTED")
    rejected["error"] = {"code": "40000", "message": "overlap"}
    flow = [exchange(with_states(ON_SELECT, "CREATED"), at=1), exchange(rejected, at=2)]
    assert state.transitions(flow) == []
    assert state.refused_with(exchange(rejected), "40000", "UBC-STATE-006", "overlap") == []
    rejected["error"]["code"] = "30000"
    for rule in ("UBC-STATE-005", "UBC-STATE-006", "UBC-STATE-007"):
        assert rules(state.refused_with(exchange(rejected), "40006", rule, "x")) == [rule]


# -- consistency --------------------------------------------------------------------------------

def test_quote_and_currency() -> None:
    assert consistency.quote_adds_up(exchange(ON_SELECT)) == []
    bad = copy.deepcopy(ON_SELECT)
    bad["message"]["order"]["beckn:orderValue"]["value"] = 100.0
    bad["message"]["order"]["beckn:orderValue"]["components"][1]["currency"] = "USD"
    assert sorted(rules(consistency.quote_adds_up(exchange(bad)))) == [
        "UBC-CONS-001", "UBC-CONS-007"]


def test_order_id_is_stable() -> None:
    confirmed = exchange(ON_CONFIRM, at=1)
    changed = copy.deepcopy(ON_TRACK)
    changed["message"]["order"]["beckn:id"] = "another-order"
    changed["context"]["action"] = "on_track"
    assert consistency.order_id_stable([confirmed, exchange(ON_TRACK, at=2)]) == []
    assert rules(consistency.order_id_stable([confirmed, exchange(changed, at=2)])) == [
        "UBC-CONS-002"]


def test_terms_unchanged() -> None:
    quoted = exchange(ON_SELECT)
    assert consistency.terms_unchanged(quoted, exchange(ON_SELECT)) == []
    other = copy.deepcopy(ON_SELECT)
    item = other["message"]["order"]["beckn:orderItems"][0]
    item["beckn:orderedItem"] = "another-item"
    item["beckn:acceptedOffer"]["beckn:id"] = "another-offer"
    item["beckn:price"]["value"] = 50.0
    assert rules(consistency.terms_unchanged(quoted, exchange(other))) == [
        "UBC-CONS-003", "UBC-CONS-004", "UBC-CONS-004"]


def test_items_in_catalog_and_bill() -> None:
    item = ON_SELECT["message"]["order"]["beckn:orderItems"][0]["beckn:orderedItem"]
    assert consistency.items_in_catalog(exchange(ON_SELECT), {item}) == []
    assert rules(consistency.items_in_catalog(exchange(ON_SELECT), {"x"})) == ["UBC-CONS-005"]
    assert consistency.bill_matches_energy(exchange(ON_SELECT), 2.5, 45.0) == []
    assert rules(consistency.bill_matches_energy(exchange(ON_SELECT), 3.5, 45.0)) == [
        "UBC-CONS-006"]


def test_overcharge_carried() -> None:
    carried = json.loads((EXAMPLES / "04_on_select" /
                          "ev-charging-overcharge-outstanding-on_select.json").read_text())
    assert consistency.overcharge_carried(exchange(carried), 143.95) == []
    assert rules(consistency.overcharge_carried(exchange(ON_SELECT), 143.95)) == [
        "UBC-CONS-008"]


# -- signatures on a callback -------------------------------------------------------------------

KEYS = signing.KeyPair.generate("example-bpp.com", "k1")
SIGNER = signing.Signer.from_keypair(KEYS)


def lookup(subscriber: str, key_id: str) -> str | None:
    return KEYS.signing_public_key if (subscriber, key_id) == ("example-bpp.com", "k1") else None


@pytest.mark.parametrize("mutate, rule", [
    (lambda h, b: ({}, b), "UBC-SIG-001"),
    (lambda h, b: ({"Authorization": h.replace("Signature ", "Sig ")}, b), "UBC-SIG-002"),
    (lambda h, b: ({"Authorization": h}, b.replace(b"Ravi", b"Ravj")), "UBC-SIG-009"),
    (lambda h, b: ({"Authorization": h, "X-Gateway-Authorization": "Signature x"}, b),
     "UBC-SIG-012"),
])
def test_callback_signature_rules(mutate: Any, rule: str) -> None:
    body = json.dumps(ON_SELECT).encode()
    headers, sent = mutate(SIGNER.sign(body), body)
    findings = signature.signature_findings(sent, headers, lookup, ON_SELECT["context"])
    assert rule in rules(findings)


def test_signer_must_be_the_sender_and_window_sane() -> None:
    body = json.dumps(ON_SELECT).encode()
    bap_keys = signing.KeyPair.generate("example-bap.com", "k1")
    ttl_s = int(duration_seconds(ON_SELECT["context"]["ttl"]))
    created = int(time.time())
    header = signing.Signer.from_keypair(bap_keys).sign(body, created, created + ttl_s)
    findings = signature.signature_findings(
        body, {"Authorization": header},
        lambda s, k: bap_keys.signing_public_key, ON_SELECT["context"])
    assert rules(findings) == ["UBC-SIG-011"]
    long = SIGNER.sign(body, 1_000, 1_000 + 7200)
    findings = signature.signature_findings(body, {"Authorization": long}, lookup,
                                            ON_SELECT["context"], now=2_000)
    assert rules(findings) == ["UBC-SIG-015", "UBC-SIG-017"]


def test_a_signature_valid_past_the_ttl_is_sig_017() -> None:
    """BECKN-006 ties the window to the ttl: the usual 300 s on a PT30S message is noted,
    the ttl itself (or within the skew of it) is not."""
    body = json.dumps(ON_SELECT).encode()
    context = {**ON_SELECT["context"], "ttl": "PT30S"}
    created = int(time.time())
    for window, expected in ((30, []), (34, []), (300, ["UBC-SIG-017"])):
        header = SIGNER.sign(body, created, created + window)
        found = signature.signature_findings(body, {"Authorization": header}, lookup, context)
        assert rules(found) == expected, window
    assert found[0].severity == "warning" and found[0].actual == "300 s"


def test_transcript_wait_is_bounded_and_records_everything(tmp_path: Path) -> None:
    transcript = Transcript()
    assert transcript.wait_for(lambda e: True, 0.05) is None
    entry = transcript.begin(INBOUND, "bap", "POST", "http://x/on_select", {"Cookie": "s"},
                             b"\xff\x00binary")
    transcript.finish(entry, 200, {}, b"{}")
    assert transcript.wait_for(lambda e: e.id == entry.id, 0.05) is entry
    transcript.write_ndjson(tmp_path / "t.ndjson")
    record = json.loads((tmp_path / "t.ndjson").read_text())
    assert record["request_body_base64"] and record["request_headers"]["Cookie"] == "<redacted>"


@pytest.mark.parametrize("make, rule", [
    (lambda h: h.replace('algorithm="ed25519"', 'algorithm="hmac"'), "UBC-SIG-003"),
    (lambda h: h.replace("(created) (expires) digest", "digest"), "UBC-SIG-004"),
    (lambda h: h.replace("example-bpp.com|k1|ed25519", "example-bpp.com|k1"), "UBC-SIG-005"),
    (lambda h: SIGNER.sign(BODY, NOW + 60, NOW + 360), "UBC-SIG-006"),
    (lambda h: SIGNER.sign(BODY, NOW - 600, NOW - 300), "UBC-SIG-007"),
    (lambda h: signing.Signer.from_keypair(KEYS).sign(
        json.dumps(ON_SELECT, indent=2).encode(), NOW, NOW + 300), "UBC-SIG-008"),
    (lambda h: signing.Signer("example-bpp.com", "k2", KEYS.signing_private_key).sign(
        BODY, NOW, NOW + 300), "UBC-SIG-010"),
])
def test_every_signature_reason_maps_to_its_rule(make: Any, rule: str) -> None:
    header = make(SIGNER.sign(BODY, NOW, NOW + 300))
    findings = signature.signature_findings(BODY, {"Authorization": header}, lookup,
                                            ON_SELECT["context"], now=NOW)
    assert rules(findings) == [rule], [f.message for f in findings]


BODY = json.dumps(ON_SELECT, separators=(",", ":")).encode()
NOW = 1_800_000_000


def test_bill_may_split_excess_units_into_a_fee_as_the_tsd_does() -> None:
    overcharge = json.loads((EXAMPLES / "14_02_on_update" / "ev-charging-overcharge-on_update.json")
                            .read_text())
    assert consistency.bill_matches_energy(exchange(overcharge), 5.0, 45.0) == []
    assert rules(consistency.bill_matches_energy(exchange(overcharge), 6.0, 45.0)) == [
        "UBC-CONS-006"]


def test_a_callback_judged_after_its_signature_window_is_judged_as_of_its_arrival() -> None:
    """A run judges some callbacks only at its end (the sweep): their signature's window is
    measured at arrival, as `audit` does, not when the sweep gets to them."""
    keys = signing.KeyPair.generate("cpo.example", "k1")
    candidate = Candidate("bpp", "cpo.example", "k1", keys.signing_public_key,
                          "http://cpo.example/beckn")
    certification = Certification(MockNetwork(), candidate)
    arrived = time.time() - 60
    raw = json.dumps({"context": {"action": "on_status"}, "message": {}}).encode()
    headers = {"Authorization": signing.Signer.from_keypair(keys).sign(
        raw, int(arrived) - 1, int(arrived) + 2)}
    late = exchange(raw, at=arrived, headers=headers)

    def judged(pipeline: Pipeline) -> list[str]:
        return rules(judge_message(pipeline, Message(raw, headers, "on_status")))
    assert "UBC-SIG-007" in judged(certification.pipeline)  # a minute later, it has expired
    assert "UBC-SIG-007" not in judged(certification.pipeline_at(late))

