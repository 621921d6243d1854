"""The harness as a hostile BPP (features/bap/security.feature): the checks on how a driver's
app refuses callbacks (harness/checks/refusal.py) made to fire and kept quiet, then the
reference BAP certified with the security scenarios, and not with its callback faults."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from harness.beckn import envelope
from harness.certify.bap.hostile import tampered
from harness.checks import refusal
from harness.transcript import OUTBOUND, Exchange

_ids = itertools.count(1)


def sent(status: int | None, answer: dict[str, Any] | None) -> Exchange:
    n = next(_ids)
    exchange = Exchange(f"x{n:06d}", OUTBOUND, "bpp-probe", "POST", "http://app/on_status", {},
                        b"{}", 0.0, float(n))
    exchange.status = status
    exchange.response_body = orjson.dumps(answer) if answer is not None else b""
    exchange.response_headers = {"content-type": "application/json"}
    return exchange


def shown(order: dict[str, Any]) -> Exchange:
    return sent(200, order)


# -- the checks -------------------------------------------------------------------------------

def test_a_callback_for_an_unknown_transaction_refused_with_a_4xx_nack_passes() -> None:
    assert refusal.unknown_transaction_refused(
        sent(400, envelope.nack("UNKNOWN", "no such transaction")), "x") == []
    assert refusal.unknown_transaction_refused(
        sent(404, envelope.nack("UNKNOWN", "no such transaction")), "x") == []


def test_a_callback_for_an_unknown_transaction_acked_is_ctx_025() -> None:
    [finding] = refusal.unknown_transaction_refused(sent(200, envelope.ack()), "a probe")
    assert finding.rule == "UBC-CTX-025" and "accepted a probe" in finding.message
    [finding] = refusal.unknown_transaction_refused(
        sent(500, envelope.nack("X", "boom")), "a probe")
    assert finding.rule == "UBC-CTX-025" and finding.actual == 500


def test_a_duplicate_callback_acked_is_time_004() -> None:
    [finding] = refusal.unknown_transaction_refused(sent(200, envelope.ack()),
                                                    "the on_confirm again", "UBC-TIME-004")
    assert finding.rule == "UBC-TIME-004"


def test_a_callback_from_another_bpp_acked_is_ctx_030() -> None:
    [finding] = refusal.unknown_transaction_refused(
        sent(200, envelope.ack()), "an on_status about the order from another BPP",
        "UBC-CTX-030")
    assert finding.rule == "UBC-CTX-030" and finding.expected == "HTTP 4xx NACK"
    assert refusal.unknown_transaction_refused(
        sent(403, envelope.nack("X", "not your order")), "x", "UBC-CTX-030") == []


def test_a_refusal_without_a_nack_body_is_sch_009() -> None:
    [finding] = refusal.unknown_transaction_refused(sent(400, {"detail": "no"}), "a probe")
    assert finding.rule == "UBC-SCH-009"


def test_the_app_is_named_in_a_refusal_finding() -> None:
    [finding] = refusal.refused_properly(sent(200, envelope.ack()), 401, "UBC-SIG-013",
                                         "an unsigned on_status", who="the app")
    assert finding.rule == "UBC-SIG-013"
    assert finding.message.startswith("the app accepted an unsigned on_status")


def test_an_order_shown_the_same_after_a_refusal_passes() -> None:
    order = {"order": {"id": "o1", "status": "CREATED", "updated_at": "2026-01-01T00:00:00Z",
                       "items": [{"id": "i1"}]}}
    later = {"order": {**order["order"], "updated_at": "2026-01-01T00:00:09Z"}}
    assert refusal.shown_order_unchanged(shown(order), shown(later), "x") == []


def test_an_order_shown_differently_after_a_refusal_is_api_010() -> None:
    before = shown({"order": {"id": "o1", "status": "CREATED", "items": [{"id": "i1"}]}})
    after = shown({"order": {"id": "o1", "status": "CANCELLED", "items": [{"id": "i1"}]}})
    [finding] = refusal.shown_order_unchanged(before, after, "the refused on_status")
    assert finding.rule == "UBC-API-004"
    assert (finding.path, finding.expected, finding.actual) == \
        ("/order/status", "CREATED", "CANCELLED")
    assert finding.evidence == [before.id, after.id]
    grown = shown({"order": {"id": "o1", "status": "CREATED",
                             "items": [{"id": "i1"}, {"id": "i2"}]}})
    [finding] = refusal.shown_order_unchanged(before, grown, "x")
    assert finding.path == "/order/items"


def test_a_tampered_callback_always_differs_from_what_was_signed() -> None:
    confirmed = b'{"message":{"order":{"beckn:orderStatus":"CONFIRMED"}}}'
    assert b'"CANCELLED"' in tampered(confirmed)
    other = b'{"message":{"order":{"beckn:orderStatus":"ACTIVE"}}}'
    assert tampered(other) != other and orjson.loads(tampered(other)) == orjson.loads(other)
