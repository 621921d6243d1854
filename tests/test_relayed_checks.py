"""What the BPP tells a driver's app must reach the driver (harness/checks/relayed.py): news it
reports unasked shows in the order the app shows (UBC-API-008), a refusal reaches the driver as
an error (UBC-API-009); and a callback out of order must be refused (UBC-CTX-026, judged by
refusal.unknown_transaction_refused), the order held back by harness/beckn/lifecycle.py. Each
check is fed a violating exchange and a conforming one; no server."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from harness.beckn import lifecycle
from harness.checks import refusal, relayed
from harness.transcript import OUTBOUND, Exchange

_ids = itertools.count(1)
ACK = {"message": {"ack": {"status": "ACK"}}}
NACK = {"message": {"ack": {"status": "NACK"}}, "error": {"code": "40000", "message": "stale"}}


def order(status: str, session: str | None = None, payment: str | None = None
          ) -> dict[str, Any]:
    doc: dict[str, Any] = {"beckn:orderStatus": status}
    if session:
        doc["beckn:fulfillment"] = {"beckn:deliveryAttributes": {"sessionStatus": session}}
    if payment:
        doc["beckn:payment"] = {"beckn:paymentStatus": payment}
    return doc


def told(action: str, beckn_order: dict[str, Any], *, status: int = 200,
         answer: dict[str, Any] | None = None, error: dict[str, Any] | None = None
         ) -> Exchange:
    """A callback the harness BPP sent the app, and the app's answer to it."""
    n = next(_ids)
    doc: dict[str, Any] = {"context": {"action": action, "transaction_id": "t1",
                                       "message_id": f"m{n}"},
                           "message": {"order": beckn_order}}
    if error:
        doc["error"] = error
    exchange = Exchange(f"x{n:06d}", OUTBOUND, "bpp", "POST", f"http://app/beckn/{action}", {},
                        orjson.dumps(doc), 0.0, float(n))
    exchange.status = status
    exchange.response_body = orjson.dumps(ACK if answer is None else answer)
    return exchange


def client(method: str, path: str, status: int, body: dict[str, Any]) -> Exchange:
    n = next(_ids)
    exchange = Exchange(f"x{n:06d}", OUTBOUND, "client-api", method, f"http://app/v1{path}", {},
                        b"", 0.0, float(n))
    exchange.status = status
    exchange.response_body = orjson.dumps(body)
    return exchange


def view(order_status: str, payment: str, charging: str) -> Exchange:
    return client("GET", "/orders/o1", 200, {
        "order": {"id": "o1", "status": order_status, "mode": "INSTANT"},
        "payment": {"status": payment}, "charging": {"status": charging}})


# --- UBC-API-008: the news shows -------------------------------------------------------------

def refund_news() -> list[Exchange]:
    return [told("on_status", order("COMPLETED", "COMPLETED", "REFUNDED"))]


def test_a_refund_shown_as_refunded_passes() -> None:
    assert relayed.news_shown(view("COMPLETED", "REFUNDED", "COMPLETED"), refund_news()) == []


def test_a_refund_the_app_took_but_does_not_show_is_api_008() -> None:
    news = refund_news()
    shown = view("COMPLETED", "PAID", "COMPLETED")
    [finding] = relayed.news_shown(shown, news)
    assert finding.rule == "UBC-API-008" and finding.path == "/payment/status"
    assert (finding.expected, finding.actual) == ("REFUNDED", "PAID")
    assert finding.evidence == [news[0].id, shown.id] and "on_status" in finding.message


def test_an_interruption_shows_as_stopped_and_never_as_active() -> None:
    news = [told("on_status", order("INPROGRESS", "INTERRUPTED", "COMPLETED"))]
    assert relayed.news_shown(view("ACTIVE", "PAID", "STOPPED"), news) == []
    [finding] = relayed.news_shown(view("ACTIVE", "PAID", "ACTIVE"), news)
    assert finding.rule == "UBC-API-008" and finding.path == "/charging/status"
    assert finding.expected == ["COMPLETED", "STOPPED"] and finding.actual == "ACTIVE"


def test_the_last_state_told_counts_when_a_later_callback_moved_it_on() -> None:
    """Interrupted, then billed, then refunded: the driver sees the end of it."""
    news = [told("on_status", order("INPROGRESS", "INTERRUPTED", "COMPLETED")),
            told("on_update", order("COMPLETED", "COMPLETED", "COMPLETED")),
            told("on_status", order("COMPLETED", "COMPLETED", "REFUNDED"))]
    assert relayed.news_shown(view("COMPLETED", "REFUNDED", "COMPLETED"), news) == []
    findings = relayed.news_shown(view("ACTIVE", "PAID", "STOPPED"), news)
    assert [(f.path, f.actual) for f in findings] == [("/order/status", "ACTIVE"),
                                                      ("/payment/status", "PAID")]


def test_a_callback_the_app_refused_does_not_count() -> None:
    news = [told("on_status", order("COMPLETED", "COMPLETED", "REFUNDED"), status=400,
                 answer=NACK)]
    assert relayed.news_shown(view("ACTIVE", "PAID", "ACTIVE"), news) == []


def test_a_cancellation_by_the_provider_shows_as_cancelled() -> None:
    news = [told("on_cancel", order("CANCELLED", payment="REFUNDED"))]
    assert relayed.news_shown(view("CANCELLED", "REFUNDED", "IDLE"), news) == []
    [finding] = relayed.news_shown(view("ACTIVE", "REFUNDED", "IDLE"), news)
    assert finding.rule == "UBC-API-008" and finding.expected == "CANCELLED"


# --- UBC-API-009: a refusal reaches the driver as an error -----------------------------------

def overlap_refused() -> Exchange:
    return told("on_select", order("REJECTED"),
                error={"code": "40000", "message": "Requested slot overlaps"})


def test_a_refused_select_answered_409_passes() -> None:
    answer = client("POST", "/estimate", 409, {"error": {
        "code": "CONFLICT", "message": "the slot is taken", "details": {}}})
    assert relayed.refusal_relayed(answer, overlap_refused(), 409) == []


def test_a_refused_select_shown_as_a_quote_is_api_009() -> None:
    refused = overlap_refused()
    answer = client("POST", "/estimate", 200, {"order": {"id": "o1"},
                                               "amount": {"value": 0, "currency": "INR"}})
    [finding] = relayed.refusal_relayed(answer, refused, 409)
    assert finding.rule == "UBC-API-009" and "as if the BPP had agreed" in finding.message
    assert (finding.expected, finding.actual) == (409, 200) and "40000" in finding.message
    assert finding.evidence == [refused.id, answer.id]


def test_a_refused_select_answered_as_a_server_failure_is_api_009() -> None:
    answer = client("POST", "/estimate", 502, {"error": {
        "code": "UPSTREAM_ERROR", "message": "the BPP refused", "details": {}}})
    [finding] = relayed.refusal_relayed(answer, overlap_refused(), 409)
    assert finding.rule == "UBC-API-009" and finding.actual == 502


# --- UBC-CTX-026: a callback out of order is refused -----------------------------------------

def test_a_callback_out_of_order_acked_is_ctx_026() -> None:
    stale = told("on_update", order("CREATED", payment="INITIATED"))
    [finding] = refusal.unknown_transaction_refused(stale, "an on_update out of order",
                                                    "UBC-CTX-026")
    assert finding.rule == "UBC-CTX-026" and finding.expected == "HTTP 4xx NACK"


def test_a_callback_out_of_order_refused_with_a_4xx_nack_passes() -> None:
    stale = told("on_update", order("CREATED", payment="INITIATED"), status=400, answer=NACK)
    assert refusal.unknown_transaction_refused(stale, "an on_update out of order",
                                               "UBC-CTX-026") == []


def test_going_back_is_told_from_skipping_ahead() -> None:
    held = {"order": "CONFIRMED", "session": "PENDING", "payment": "COMPLETED"}
    assert lifecycle.left_behind(held, order("CREATED", payment="INITIATED")) == [
        ("order", "CONFIRMED", "CREATED"), ("payment", "COMPLETED", "INITIATED")]
    # a callback missed on the way (the start) does not make the bill out of order
    assert lifecycle.left_behind(held, order("COMPLETED", "COMPLETED", "REFUNDED")) == []
    # an interrupted session may resume; states the flow does not name are not judged
    assert lifecycle.left_behind({"session": "INTERRUPTED"}, order("INPROGRESS", "ACTIVE")) == []
    assert lifecycle.left_behind({"order": "REJECTED"}, order("CREATED")) == []
