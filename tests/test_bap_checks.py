"""The checks on what a candidate BAP sends and shows (harness/checks/initiator.py and
client_api.py): each made to fire by a violating exchange, and quiet on a conforming one."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from harness.checks import client_api, consistency, initiator, refusal
from harness.transcript import INBOUND, OUTBOUND, Exchange

_ids = itertools.count(1)


def beckn(action: str, transaction_id: str = "t1", message_id: str | None = None,
          at: float | None = None, body: dict[str, Any] | None = None) -> Exchange:
    n = next(_ids)
    doc = {"context": {"action": action, "transaction_id": transaction_id,
                       "message_id": message_id or f"m{n}"}, **(body or {})}
    return Exchange(f"x{n:06d}", INBOUND, "bpp", "POST", f"http://bpp/{action}", {},
                    orjson.dumps(doc), 0.0, float(n) if at is None else at)


def answered(request: Exchange, action: str) -> Exchange:
    callback = beckn(action, request.transaction_id or "", request.message_id,
                     at=request.mono_time + 0.5)
    callback.direction = OUTBOUND
    return callback


def walk_in() -> tuple[list[Exchange], list[Exchange]]:
    select = beckn("select", at=1.0)
    init = beckn("init", at=2.0)
    confirm = beckn("confirm", at=3.0)
    return [select, init, confirm], [answered(select, "on_select"), answered(init, "on_init")]


def test_a_conforming_order_passes_every_initiator_check() -> None:
    requests, callbacks = walk_in()
    assert initiator.fresh_message_ids(requests) == []
    assert initiator.transaction_kept(requests) == []
    assert initiator.actions_in_order(requests, callbacks) == []


def test_a_reused_message_id_is_ctx_023() -> None:
    select = beckn("select", message_id="same")
    init = beckn("init", message_id="same")
    [finding] = initiator.fresh_message_ids([select, init])
    assert finding.rule == "UBC-CTX-023" and finding.path == "/context/message_id"
    assert finding.evidence == [select.id, init.id] and finding.actual == "same"


def test_a_new_transaction_at_init_is_ctx_024() -> None:
    select = beckn("select", transaction_id="t1")
    init = beckn("init", transaction_id="t2")
    [finding] = initiator.transaction_kept([beckn("discover", "t0"), select, init])
    assert finding.rule == "UBC-CTX-024"
    assert (finding.expected, finding.actual) == ("t1", "t2")


def test_confirm_without_init_is_state_012() -> None:
    select = beckn("select", at=1.0)
    confirm = beckn("confirm", at=2.0)
    [finding] = initiator.actions_in_order([select, confirm], [answered(select, "on_select")])
    assert finding.rule == "UBC-STATE-012" and finding.evidence == [confirm.id]


def test_init_before_its_on_select_is_state_012() -> None:
    select = beckn("select", at=1.0)
    init = beckn("init", at=1.2)
    late = answered(select, "on_select")  # at 1.5: after the init
    [finding] = initiator.actions_in_order([select, init], [late])
    assert finding.rule == "UBC-STATE-012" and "on_select" in finding.message


APP = ("app.example", "https://app.example/beckn")
BPPS = {"cpo.example": "https://cpo.example/beckn"}


def addressed(action: str, party: str = "bpp", **context: Any) -> Exchange:
    request = beckn(action, body={})
    doc = orjson.loads(request.request_body)
    doc["context"].update({"bap_id": APP[0], "bap_uri": APP[1], "bpp_id": "cpo.example",
                           "bpp_uri": BPPS["cpo.example"], **context})
    request.request_body, request.party = orjson.dumps(doc), party
    return request


def test_requests_addressed_as_registered_pass() -> None:
    discover = addressed("discover", party="cds", bpp_id=None, bpp_uri=None)
    select = addressed("select", bap_uri=APP[1] + "/")  # a trailing slash is the same URI
    assert initiator.addressed_as_registered([discover, select], APP, BPPS) == []


def test_a_wrong_bap_uri_is_ctx_027() -> None:
    [finding] = initiator.addressed_as_registered(
        [addressed("init", bap_uri="http://localhost:9000/beckn")], APP, BPPS)
    assert finding.rule == "UBC-CTX-027" and finding.path == "/context/bap_uri"
    assert finding.expected == APP[1]


def test_a_bpp_uri_other_than_the_registered_one_is_ctx_027() -> None:
    [finding] = initiator.addressed_as_registered(
        [addressed("select", bpp_uri="https://cpo.example/other")], APP, BPPS)
    assert finding.rule == "UBC-CTX-027" and finding.path == "/context/bpp_uri"


def test_a_request_to_the_bpp_naming_no_or_another_bpp_is_ctx_027() -> None:
    for bpp_id in (None, "someone.else"):
        [finding] = initiator.addressed_as_registered(
            [addressed("confirm", bpp_id=bpp_id)], APP, BPPS)
        assert finding.rule == "UBC-CTX-027" and finding.path == "/context/bpp_id"


def client_answer(body: dict[str, Any]) -> Exchange:
    exchange = Exchange("x900001", OUTBOUND, "client-api", "POST", "http://app/v1/estimate",
                        {}, b"{}", 0.0, 0.0)
    exchange.response_body = orjson.dumps(body)
    return exchange


QUOTED = {"message": {"order": {"beckn:orderValue": {"value": 360.0, "currency": "INR"}}}}


def test_the_quoted_total_shown_passes() -> None:
    callback = beckn("on_select", body=QUOTED)
    assert client_api.shown_total_is_quoted(
        client_answer({"amount": {"value": 360, "currency": "INR"}}), ("amount", "value"),
        callback, ("message", "order", "beckn:orderValue", "value")) == []


def test_another_total_shown_is_api_001() -> None:
    callback = beckn("on_select", body=QUOTED)
    answer = client_answer({"amount": {"value": 324.0, "currency": "INR"}})
    [finding] = client_api.shown_total_is_quoted(
        answer, ("amount", "value"), callback, ("message", "order", "beckn:orderValue", "value"))
    assert finding.rule == "UBC-API-001" and finding.path == "/amount/value"
    assert (finding.expected, finding.actual) == (360.0, 324.0)
    assert finding.evidence == [answer.id, callback.id]


def test_a_paid_order_never_confirmed_is_api_002() -> None:
    notice = beckn("on_status")
    [finding] = client_api.paid_order_confirmed(notice, None, 3.0)
    assert finding.rule == "UBC-API-002" and finding.evidence == [notice.id]
    assert client_api.paid_order_confirmed(notice, beckn("confirm"), 3.0) == []


def test_a_select_of_an_item_not_in_the_catalog_is_cons_005() -> None:
    """The app's select, as it arrived at the harness BPP, against the catalog it was shown."""
    def select(item: str) -> Exchange:
        return beckn("select", body={"message": {"order": {"beckn:orderItems": [
            {"beckn:orderedItem": item}]}}})
    assert consistency.items_in_catalog(select("CCS2-A"), {"CCS2-A", "TYPE2-A"}) == []
    [finding] = consistency.items_in_catalog(select("CCS2-A-NOT-IN-CATALOG"), {"CCS2-A"})
    assert finding.rule == "UBC-CONS-005" and finding.actual == "CCS2-A-NOT-IN-CATALOG"


OFFERS = {"offer-A": ({"CCS2-A"}, 18.0), "offer-B": ({"TYPE2-A"}, 12.0)}


def accepting(item: str, offer: str, price: float | None = None) -> Exchange:
    accepted: dict[str, Any] = {"beckn:id": offer}
    if price is not None:
        accepted["beckn:price"] = {"currency": "INR", "value": price}
    return beckn("select", body={"message": {"order": {"beckn:orderItems": [
        {"beckn:orderedItem": item, "beckn:acceptedOffer": accepted}]}}})


def test_a_select_accepting_the_catalog_offer_passes() -> None:
    assert consistency.offers_in_catalog(accepting("CCS2-A", "offer-A", 18.0), OFFERS) == []
    assert consistency.offers_in_catalog(beckn("select", body={"message": {"order": {
        "beckn:orderItems": [{"beckn:orderedItem": "CCS2-A"}]}}}), OFFERS) == []


def test_an_offer_not_in_the_catalog_is_cons_005() -> None:
    [finding] = consistency.offers_in_catalog(accepting("CCS2-A", "offer-Z"), OFFERS)
    assert finding.rule == "UBC-CONS-005" and finding.actual == "offer-Z"
    assert finding.path.endswith("/beckn:acceptedOffer/beckn:id")


def test_an_offer_for_another_item_is_cons_005() -> None:
    [finding] = consistency.offers_in_catalog(accepting("CCS2-A", "offer-B"), OFFERS)
    assert finding.rule == "UBC-CONS-005" and finding.expected == ["TYPE2-A"]


def test_an_offer_at_another_price_is_cons_005() -> None:
    [finding] = consistency.offers_in_catalog(accepting("CCS2-A", "offer-A", 9.0), OFFERS)
    assert finding.rule == "UBC-CONS-005" and (finding.actual, finding.expected) == (9.0, 18.0)


def test_a_valid_callback_the_app_nacks_is_sch_013() -> None:
    callback = answered(beckn("select"), "on_select")
    callback.status, callback.response_body = 200, orjson.dumps(
        {"message": {"ack": {"status": "ACK"}}})
    assert refusal.valid_request_acknowledged(callback) == []
    callback.status, callback.response_body = 400, orjson.dumps(
        {"message": {"ack": {"status": "NACK"}}, "error": {"code": "30000", "message": "no"}})
    [finding] = refusal.valid_request_acknowledged(callback, "the harness BPP's on_select")
    assert finding.rule == "UBC-SCH-013" and finding.actual == 400


def answered_call(method: str, url: str, status: int, body: Any) -> Exchange:
    exchange = Exchange(f"x9{next(_ids):05d}", OUTBOUND, "client-api", method, url, {}, b"",
                        0.0, 0.0)
    exchange.status = status
    exchange.response_body = body if isinstance(body, bytes) else orjson.dumps(body)
    return exchange


RATED = {"order": {"id": "o1", "status": "COMPLETED", "mode": "INSTANT"},
         "feedbackForm": {"url": "https://app.example/f", "submission_id": "s1"}}
REFUSED = {"error": {"code": "NOT_FOUND", "message": "no order o9",
                     "details": {"timestamp": "2026-11-29T10:00:00.000Z", "order_id": "o9"}}}


def test_answers_in_the_contract_shape_pass() -> None:
    assert client_api.answers_in_contract_shape(
        answered_call("POST", "http://app/v1/orders/o1/rating", 200, RATED)) == []
    assert client_api.answers_in_contract_shape(
        answered_call("GET", "http://app/v1/orders/o9", 404, REFUSED)) == []
    # a status the operation does not declare, or a call the contract has no operation for
    assert client_api.answers_in_contract_shape(
        answered_call("GET", "http://app/v1/orders/o9", 418, b"teapot")) == []
    assert client_api.answers_in_contract_shape(
        answered_call("GET", "http://app/v1/wallet", 200, {})) == []


def test_an_answer_out_of_the_contract_shape_is_api_003() -> None:
    mutated = {"order": {**RATED["order"], "status": "DONE"}}  # not one of the contract's
    [finding] = client_api.answers_in_contract_shape(
        answered_call("POST", "http://app/v1/orders/o1/rating", 200, mutated))
    assert finding.rule == "UBC-API-003" and finding.path == "/order/status"
    assert finding.actual == "DONE" and "9) Submit Rating & Feedback" in finding.message
    renamed = {"error": {"kind": "NOT_FOUND", "message": "no order"}}  # code, details missing
    findings = client_api.answers_in_contract_shape(
        answered_call("GET", "http://app/v1/orders/o9", 404, renamed))
    assert {f.rule for f in findings} == {"UBC-API-003"}
    assert {f.path for f in findings} == {"/error"} and len(findings) == 2
    [not_json] = client_api.answers_in_contract_shape(
        answered_call("POST", "http://app/v1/estimate", 200, b"<html>ok</html>"))
    assert not_json.rule == "UBC-API-003" and not_json.expected == "application/json"
