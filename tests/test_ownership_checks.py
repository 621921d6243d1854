"""The checks of order ownership (harness/checks/ownership.py, UBC-CTX-028/029): another BAP's
requests about an order refused without revealing it, the order left as it was, and its
callbacks kept to its own BAP; each made to fire by a violating exchange and quiet on a
conforming one. No server: exchanges are built by hand."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from harness.beckn import envelope
from harness.certify.journey import OrderWatch
from harness.checks import ownership
from harness.transcript import INBOUND, OUTBOUND, Exchange

_ids = itertools.count(1)
TXN, ORDER_ID = "txn-of-the-first-bap", "order-1234"
ASKED = {"order": {"@context": "ctx", "@type": "beckn:Order", "beckn:id": ORDER_ID,
                   "beckn:orderStatus": "CONFIRMED", "beckn:seller": "cpo",
                   "beckn:buyer": {"beckn:id": "other-bap-driver"},
                   "beckn:orderItems": [{"beckn:orderedItem": "item-1"}]}}
THE_ORDER = {**ASKED["order"], "beckn:buyer": {"beckn:id": "driver-1", "beckn:telephone": "+91"},
             "beckn:payment": {"beckn:paymentStatus": "COMPLETED"},
             "beckn:orderValue": {"currency": "INR", "value": 46.9}}
NOT_FOUND = {"code": "30010", "message": "Order not found"}


def request(action: str = "status", *, status: int | None = 200,
            answer: dict[str, Any] | None = None, message: dict[str, Any] | None = None
            ) -> Exchange:
    """Another BAP's request about the order, as its outbox recorded it with its answer."""
    n = next(_ids)
    doc = {"context": {"action": action, "transaction_id": TXN, "message_id": f"m{n}",
                       "bap_id": "other-bap.example"}, "message": message or ASKED}
    exchange = Exchange(f"x{n:06d}", OUTBOUND, "other-bap", "POST", f"http://bpp/{action}", {},
                        orjson.dumps(doc), 0.0, float(n), status=status)
    if status is not None:
        exchange.response_body = orjson.dumps(answer if answer is not None else envelope.ack())
    return exchange


def callback(action: str, *, message: dict[str, Any] | None = None,
             error: dict[str, Any] | None = None, transaction_id: str = TXN,
             message_id: str | None = None, at: float | None = None) -> Exchange:
    n = next(_ids)
    doc: dict[str, Any] = {"context": {"action": action, "transaction_id": transaction_id,
                                       "message_id": message_id or f"cb{n}"},
                           "message": message if message is not None else {}}
    if error is not None:
        doc["error"] = error
    return Exchange(f"x{n:06d}", INBOUND, "other-bap", "POST", f"http://bap/other/{action}", {},
                    orjson.dumps(doc), 0.0, float(n) if at is None else at, status=200)


# -- another BAP's request: refused without revealing the order --------------------------------

def test_an_error_callback_that_reveals_nothing_is_a_refusal() -> None:
    assert ownership.foreign_request_refused(request(), callback("on_status",
                                                                  error=NOT_FOUND)) == []


def test_an_error_callback_may_echo_what_the_request_said_and_mark_it_rejected() -> None:
    echo = {"order": {**ASKED["order"], "beckn:orderStatus": "REJECTED"}}
    assert ownership.foreign_request_refused(
        request(), callback("on_status", message=echo, error=NOT_FOUND)) == []


def test_a_4xx_nack_is_a_refusal() -> None:
    nack = envelope.nack("30010", "Order not found")
    assert ownership.foreign_request_refused(request(status=404, answer=nack), None) == []
    assert ownership.foreign_request_refused(request(status=401, answer=nack), None) == []


def test_the_order_served_to_another_bap_is_ctx_028() -> None:
    probe = request()
    served = callback("on_status", message={"order": THE_ORDER})
    [finding] = ownership.foreign_request_refused(probe, served)
    assert finding.rule == "UBC-CTX-028"
    assert "carries no error" in finding.message and "beckn:buyer" in finding.message
    assert "beckn:payment" in finding.message and "beckn:orderValue" in finding.message
    assert finding.evidence == [probe.id, served.id]
    assert finding.actual == {"error": None, "order_status": "CONFIRMED"}


def test_an_error_callback_that_still_tells_the_order_is_ctx_028() -> None:
    told = callback("on_cancel", error={"code": "50001"},
                    message={"order": {**ASKED["order"], "beckn:orderStatus": "INPROGRESS"}})
    [finding] = ownership.foreign_request_refused(request("cancel"), told)
    assert finding.rule == "UBC-CTX-028"
    assert finding.path == "/message/order/beckn:orderStatus"
    assert "carries no error" not in finding.message


def test_an_order_found_by_its_transaction_alone_is_revealed_by_its_id() -> None:
    by_transaction = {"order": {"beckn:orderStatus": "CONFIRMED"}}
    answered = callback("on_track", message={"order": {"beckn:id": ORDER_ID}}, error=NOT_FOUND)
    [finding] = ownership.foreign_request_refused(request("track", message=by_transaction),
                                                  answered)
    assert finding.rule == "UBC-CTX-028" and finding.path == "/message/order/beckn:id"


def test_an_acknowledged_request_without_callback_is_left_to_the_timing_checks() -> None:
    assert ownership.foreign_request_refused(request(), None) == []


def test_a_server_error_is_no_refusal() -> None:
    [finding] = ownership.foreign_request_refused(
        request(status=500, answer={"detail": "boom"}), None)
    assert finding.rule == "UBC-CTX-028" and finding.actual == 500


def test_a_4xx_without_a_nack_body_is_sch_009() -> None:
    [finding] = ownership.foreign_request_refused(
        request(status=403, answer={"detail": "forbidden"}), None)
    assert finding.rule == "UBC-SCH-009"


def test_an_unanswered_request_is_left_to_the_timing_checks() -> None:
    assert ownership.foreign_request_refused(request(status=None), None) == []


# -- the order as its own BAP sees it --------------------------------------------------------

def own_status(order_status: str, session: str | None = "PENDING") -> Exchange:
    order: dict[str, Any] = {"beckn:id": ORDER_ID, "beckn:orderStatus": order_status,
                             "beckn:payment": {"beckn:paymentStatus": "COMPLETED"}}
    if session:
        order["beckn:fulfillment"] = {"beckn:deliveryAttributes": {"sessionStatus": session}}
    exchange = callback("on_status", message={"order": order})
    exchange.party = "bap"
    return exchange


def test_the_order_as_it_was_passes() -> None:
    assert ownership.order_unchanged(own_status("CONFIRMED"), own_status("CONFIRMED")) == []


@pytest.mark.parametrize(("status", "session"), [("CANCELLED", "PENDING"),
                                                 ("INPROGRESS", "ACTIVE")])
def test_an_order_another_bap_cancelled_or_started_is_ctx_028(status: str, session: str) -> None:
    before, after = own_status("CONFIRMED"), own_status(status, session)
    [finding] = ownership.order_unchanged(before, after)
    assert finding.rule == "UBC-CTX-028" and finding.evidence == [before.id, after.id]
    assert finding.expected == "order CONFIRMED, session PENDING, payment COMPLETED"
    assert finding.actual == f"order {status}, session {session}, payment COMPLETED"


# -- callbacks of the order: only to its own BAP ---------------------------------------------

def test_the_answers_to_the_other_bap_s_own_requests_are_allowed() -> None:
    answer = callback("on_status", error=NOT_FOUND, message_id="m-probe")
    assert ownership.callbacks_stay_with_owner([answer], TXN, ORDER_ID,
                                               {("m-probe", "on_status")}) == []


def test_a_later_callback_of_the_order_to_the_other_bap_is_ctx_029() -> None:
    later = callback("on_cancel", message={"order": THE_ORDER}, message_id="m-new")
    [finding] = ownership.callbacks_stay_with_owner([later], TXN, ORDER_ID,
                                                    {("m-probe", "on_status")})
    assert finding.rule == "UBC-CTX-029" and finding.evidence == [later.id]
    assert finding.actual == later.url


def test_a_callback_naming_the_order_in_another_transaction_is_ctx_029() -> None:
    elsewhere = callback("on_status", message={"order": THE_ORDER}, transaction_id="t-other")
    [finding] = ownership.callbacks_stay_with_owner([elsewhere], TXN, ORDER_ID, set())
    assert finding.rule == "UBC-CTX-029"


def test_a_callback_about_something_else_is_not_the_order_s() -> None:
    other = callback("on_status", message={"order": {"beckn:id": "order-9"}},
                     transaction_id="t-other")
    assert ownership.callbacks_stay_with_owner([other], TXN, ORDER_ID, set()) == []


def test_a_watch_reports_each_callback_once_and_only_after_it_began() -> None:
    before = callback("on_status", message={"order": THE_ORDER}, at=1.0)
    after = callback("on_update", message={"order": THE_ORDER}, at=5.0)
    watch = OrderWatch("scenario", TXN, ORDER_ID, since=2.0)
    [finding] = watch.findings([before, after])
    assert finding.evidence == [after.id]
    assert watch.findings([before, after]) == []

