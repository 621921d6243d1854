"""The checks on what a candidate BAP shows once the order runs (harness/checks/shown.py:
UBC-API-005 states, UBC-API-006 telemetry, UBC-API-007 bill and cancellation) and on the slot
its requests carry (harness/checks/initiator.py: UBC-CONS-010): each made to fire by a
violating exchange, and quiet on a conforming one."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from harness.checks import initiator, shown
from harness.transcript import INBOUND, OUTBOUND, Exchange

_ids = itertools.count(1)


def callback(action: str, order: dict[str, Any] | None, *, taken_at: float,
             status: int = 200, error: dict[str, Any] | None = None) -> Exchange:
    """A callback the harness BPP sent the app, ACKed (or not: `status`) at `taken_at`."""
    n = next(_ids)
    doc: dict[str, Any] = {"context": {"action": action, "transaction_id": "t1",
                                       "message_id": f"m{n}"},
                           "message": {"order": order} if order is not None else {}}
    if error is not None:
        doc["error"] = error
    exchange = Exchange(f"c{n:05d}", OUTBOUND, "bpp", "POST", f"http://app/{action}", {},
                        orjson.dumps(doc), 0.0, taken_at - 0.01)
    exchange.status, exchange.response_mono_time = status, taken_at
    return exchange


def order(status: str, *, session: str | None = None, paid: str | None = None,
          amount: float | None = None, value: float | None = None,
          readings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"beckn:orderStatus": status}
    if paid is not None:
        doc["beckn:payment"] = {"beckn:paymentStatus": paid,
                                "beckn:amount": {"value": amount, "currency": "INR"}}
    if value is not None:
        doc["beckn:orderValue"] = {"value": value, "currency": "INR"}
    attributes: dict[str, Any] = {}
    if session is not None:
        attributes["sessionStatus"] = session
    if readings is not None:
        attributes["chargingTelemetry"] = readings
    if attributes:
        doc["beckn:fulfillment"] = {"beckn:deliveryAttributes": attributes}
    return doc


def answer(body: dict[str, Any], *, sent_at: float, answered_at: float, status: int = 200,
           method: str = "GET", path: str = "/v1/orders/o1") -> Exchange:
    """The app's /v1 answer to a call made at `sent_at`."""
    n = next(_ids)
    exchange = Exchange(f"a{n:05d}", OUTBOUND, "client-api", method, f"http://app{path}", {},
                        b"", 0.0, sent_at)
    exchange.status, exchange.response_mono_time = status, answered_at
    exchange.response_body = orjson.dumps(body)
    return exchange


def states(order_status: str, payment: str, charging: str) -> dict[str, Any]:
    return {"order": {"id": "o1", "status": order_status, "mode": "INSTANT"},
            "payment": {"status": payment}, "charging": {"status": charging}}


# -- UBC-API-005: the states shown -------------------------------------------------------------

CHARGING = [callback("on_confirm", order("CONFIRMED", session="PENDING", paid="COMPLETED",
                                         amount=100.0), taken_at=1.0),
            callback("on_update", order("INPROGRESS", session="ACTIVE", paid="COMPLETED",
                                        amount=100.0), taken_at=2.0)]


def test_the_states_the_bpp_last_reported_pass() -> None:
    view = answer(states("ACTIVE", "PAID", "ACTIVE"), sent_at=3.0, answered_at=3.1)
    assert shown.shown_states_follow_callbacks(view, CHARGING) == []


def test_a_charging_state_older_than_the_last_callback_is_api_005() -> None:
    view = answer(states("ACTIVE", "PAID", "IDLE"), sent_at=3.0, answered_at=3.1)
    [finding] = shown.shown_states_follow_callbacks(view, CHARGING)
    assert finding.rule == "UBC-API-005" and finding.path == "/charging/status"
    assert (finding.expected, finding.actual) == ("ACTIVE", "IDLE")
    assert finding.evidence == [view.id, CHARGING[1].id]
    assert "sessionStatus ACTIVE in its on_update" in finding.message


def test_a_state_reported_while_the_call_ran_may_or_may_not_show_yet() -> None:
    completed = callback("on_update", order("COMPLETED", session="COMPLETED"), taken_at=3.05)
    for shown_as in ("ACTIVE", "COMPLETED"):
        view = answer(states(shown_as, "PAID", shown_as), sent_at=3.0, answered_at=3.1)
        assert shown.shown_states_follow_callbacks(view, [*CHARGING, completed]) == []
    # sent while the call ran, its ACK not back at the BPP when the answer came: may show
    in_flight = callback("on_update", order("COMPLETED", session="COMPLETED"), taken_at=3.05)
    in_flight.status = in_flight.response_mono_time = None
    view = answer(states("COMPLETED", "PAID", "COMPLETED"), sent_at=3.0, answered_at=3.1)
    assert shown.shown_states_follow_callbacks(view, [*CHARGING, in_flight]) == []
    # reported after the answer left: not yet the app's to show
    late = callback("on_update", order("COMPLETED", session="COMPLETED"), taken_at=3.5)
    view = answer(states("ACTIVE", "PAID", "ACTIVE"), sent_at=3.0, answered_at=3.1)
    assert shown.shown_states_follow_callbacks(view, [*CHARGING, late]) == []


def test_callbacks_the_app_refused_or_refusals_report_no_state() -> None:
    nacked = callback("on_status", order("CANCELLED"), taken_at=2.5, status=401)
    refused = callback("on_cancel", order("INPROGRESS", session="ACTIVE"), taken_at=2.6,
                       error={"code": "50001", "message": "Cancellation not possible"})
    view = answer(states("ACTIVE", "PAID", "ACTIVE"), sent_at=3.0, answered_at=3.1)
    assert shown.shown_states_follow_callbacks(view, [*CHARGING, nacked, refused]) == []


def test_cancelled_and_refunded_are_shown_as_such() -> None:
    cancelled = callback("on_cancel", order("CANCELLED", paid="REFUNDED", amount=90.0),
                         taken_at=2.5)
    view = answer(states("CANCELLED", "REFUNDED", "IDLE"), sent_at=3.0, answered_at=3.1)
    assert shown.shown_states_follow_callbacks(view, [CHARGING[0], cancelled]) == []
    wrong = answer(states("ACTIVE", "PAID", "IDLE"), sent_at=3.0, answered_at=3.1)
    findings = shown.shown_states_follow_callbacks(wrong, [CHARGING[0], cancelled])
    assert {(f.path, f.expected, f.actual) for f in findings} == {
        ("/order/status", "CANCELLED", "ACTIVE"), ("/payment/status", "REFUNDED", "PAID")}


def test_a_quote_is_shown_as_quoted_price() -> None:
    quoted = callback("on_select", order("CREATED"), taken_at=0.5)
    estimate = answer({"order": {"id": "o1", "status": "quoted_price"}}, sent_at=0.4,
                      answered_at=0.6, method="POST", path="/v1/estimate")
    assert shown.shown_states_follow_callbacks(estimate, [quoted]) == []
    active = answer({"order": {"id": "o1", "status": "ACTIVE"}}, sent_at=0.4, answered_at=0.6,
                    method="POST", path="/v1/estimate")
    [finding] = shown.shown_states_follow_callbacks(active, [quoted])
    assert (finding.rule, finding.expected) == ("UBC-API-005", "quoted_price")


def test_a_failed_call_is_not_judged_for_states() -> None:
    refused = answer({"error": {"code": "CONFLICT"}}, sent_at=3.0, answered_at=3.1, status=409)
    assert shown.shown_states_follow_callbacks(refused, CHARGING) == []


def test_a_refused_request_answered_as_done_is_api_005() -> None:
    on_cancel = callback("on_cancel", order("INPROGRESS", session="ACTIVE"), taken_at=3.05,
                         error={"code": "50001", "message": "Cancellation not possible"})
    conflict = answer({"error": {"code": "CONFLICT"}}, sent_at=3.0, answered_at=3.1,
                      status=409, method="POST", path="/v1/orders/o1/cancel")
    assert shown.answered_as_the_bpp_decided(conflict, on_cancel) == []
    done = answer(states("CANCELLED", "REFUNDED", "IDLE"), sent_at=3.0, answered_at=3.1,
                  method="POST", path="/v1/orders/o1/cancel")
    [finding] = shown.answered_as_the_bpp_decided(done, on_cancel)
    assert finding.rule == "UBC-API-005" and (finding.expected, finding.actual) == (409, 200)
    assert "error 50001" in finding.message and finding.evidence == [done.id, on_cancel.id]


def test_a_request_the_bpp_carried_out_answered_as_an_error_is_api_005() -> None:
    cancelled = callback("on_cancel", order("CANCELLED", paid="REFUNDED", amount=90.0),
                         taken_at=3.05)
    done = answer(states("CANCELLED", "REFUNDED", "IDLE"), sent_at=3.0, answered_at=3.1,
                  method="POST", path="/v1/orders/o1/cancel")
    assert shown.answered_as_the_bpp_decided(done, cancelled) == []
    failed = answer({"error": {"code": "UPSTREAM_ERROR"}}, sent_at=3.0, answered_at=3.1,
                    status=502, method="POST", path="/v1/orders/o1/cancel")
    [finding] = shown.answered_as_the_bpp_decided(failed, cancelled)
    assert finding.rule == "UBC-API-005" and finding.actual == 502
    assert "carried it out" in finding.message


def test_a_slot_shown_as_anything_but_a_reservation_is_api_005() -> None:
    def estimate(mode: str) -> Exchange:
        return answer({"order": {"id": "o1", "status": "quoted_price", "mode": mode}},
                      sent_at=0.4, answered_at=0.6, method="POST", path="/v1/estimate")
    assert shown.shown_mode_is_asked(estimate("reservation"), reservation=True) == []
    assert shown.shown_mode_is_asked(estimate("instant"), reservation=False) == []
    assert shown.shown_mode_is_asked(estimate("reservation"), reservation=False) == []
    [finding] = shown.shown_mode_is_asked(estimate("instant"), reservation=True)
    assert finding.rule == "UBC-API-005" and finding.path == "/order/mode"


# -- UBC-API-006: the telemetry shown ----------------------------------------------------------

def reading(at: str, energy: float, power: float = 50.0) -> dict[str, Any]:
    return {"eventTime": at, "metrics": [
        {"name": "STATE_OF_CHARGE", "value": 40.0, "unitCode": "PERCENTAGE"},
        {"name": "POWER", "value": power, "unitCode": "KW"},
        {"name": "ENERGY", "value": energy, "unitCode": "KWH"}]}


FIRST, SECOND = reading("2026-01-04T08:00:00Z", 0.0), reading("2026-01-04T08:01:00Z", 0.83)
TRACKED = [callback("on_track", order("INPROGRESS", session="ACTIVE", readings=[FIRST]),
                    taken_at=1.0),
           callback("on_track", order("INPROGRESS", session="ACTIVE",
                                      readings=[FIRST, SECOND]), taken_at=2.0)]


def telemetry(view: dict[str, Any]) -> Exchange:
    metrics = [*view["metrics"], {"name": "SESSION_DURATION", "value": 1, "unitCode": "min"}]
    return answer({**states("ACTIVE", "PAID", "ACTIVE"),
                   "chargingTelemetry": {"eventTime": view["eventTime"], "metrics": metrics}},
                  sent_at=3.0, answered_at=3.1)


def test_the_latest_reading_shown_passes() -> None:
    assert shown.shown_telemetry_is_latest(telemetry(SECOND), TRACKED) == []
    # the same moment written otherwise, a value rounded to a decimal
    rounded = {"eventTime": "2026-01-04T08:01:00.000+00:00", "metrics": [
        {"name": "ENERGY", "value": 0.8, "unitCode": "KWH"}]}
    assert shown.shown_telemetry_is_latest(telemetry(rounded), TRACKED) == []


def test_a_reading_older_than_the_latest_taken_is_api_006() -> None:
    view = telemetry(FIRST)
    [finding] = shown.shown_telemetry_is_latest(view, TRACKED)
    assert finding.rule == "UBC-API-006" and finding.path == "/chargingTelemetry/eventTime"
    assert (finding.expected, finding.actual) == (SECOND["eventTime"], FIRST["eventTime"])
    assert finding.evidence == [view.id, TRACKED[1].id]


def test_a_reading_taken_during_the_call_may_show_and_an_older_one_still_may() -> None:
    during = callback("on_track", order("INPROGRESS", session="ACTIVE", readings=[
        SECOND, reading("2026-01-04T08:02:00Z", 1.66)]), taken_at=3.05)
    assert shown.shown_telemetry_is_latest(
        telemetry(reading("2026-01-04T08:02:00Z", 1.66)), [*TRACKED, during]) == []
    assert shown.shown_telemetry_is_latest(telemetry(SECOND), [*TRACKED, during]) == []


def test_values_other_than_the_bpps_are_api_006() -> None:
    view = telemetry(reading(SECOND["eventTime"], 0.83, power=50000.0))  # W, labelled kW
    [finding] = shown.shown_telemetry_is_latest(view, TRACKED)
    assert finding.rule == "UBC-API-006" and finding.path == "/chargingTelemetry/metrics"
    assert (finding.expected, finding.actual) == (50.0, 50000.0)


def test_a_reading_the_bpp_never_sent_is_api_006() -> None:
    [finding] = shown.shown_telemetry_is_latest(
        telemetry(reading("2026-01-04T09:00:00Z", 3.0)), TRACKED)
    assert finding.rule == "UBC-API-006" and "never sent" in finding.message
    [finding] = shown.shown_telemetry_is_latest(telemetry(reading("soon", 3.0)), TRACKED)
    assert finding.rule == "UBC-API-006" and finding.actual == "soon"


def test_no_telemetry_shown_or_sent_is_not_judged() -> None:
    assert shown.shown_telemetry_is_latest(
        answer(states("ACTIVE", "PAID", "ACTIVE"), sent_at=3.0, answered_at=3.1), TRACKED) == []
    assert shown.shown_telemetry_is_latest(telemetry(SECOND), CHARGING) == []


# -- UBC-API-007: the bill, fee and refund shown -----------------------------------------------

BILL = callback("on_update", order("COMPLETED", session="COMPLETED", paid="COMPLETED",
                                   amount=100.0, value=60.0), taken_at=4.0)


def bill(*lines: tuple[str, Any]) -> Exchange:
    return answer({**states("COMPLETED", "PAID", "COMPLETED"), "price_components": [
        {"type": kind, "value": value, "currency": "INR", "description": kind}
        for kind, value in lines]}, sent_at=3.9, answered_at=4.1, method="PUT",
        path="/v1/orders/o1/stop")


def test_the_bpps_bill_and_the_refund_it_leaves_pass() -> None:
    paid = shown.paid_amount([*CHARGING, BILL])
    assert paid == 100.0
    view = bill(("BASE", 45.0), ("FEE", 15.0), ("REFUND", -40.0))
    assert shown.shown_bill_is_billed(view, BILL, paid) == []


def test_a_bill_other_than_the_bpps_is_api_007() -> None:
    [finding] = shown.shown_bill_is_billed(bill(("BASE", 100.0)), BILL, 100.0)
    assert finding.rule == "UBC-API-007" and (finding.expected, finding.actual) == (60.0, 100.0)
    [finding] = shown.shown_bill_is_billed(bill(("BASE", 60.0), ("REFUND", -10.0)),
                                                BILL, 100.0)
    assert "a refund of" in finding.message and finding.expected == 40.0


CANCELLED = callback("on_cancel", order("CANCELLED", paid="REFUNDED", amount=90.0, value=10.0),
                     taken_at=5.0)


def cancellation(fee: str, refund: str) -> Exchange:
    return answer({**states("CANCELLED", "REFUNDED", "IDLE"), "price_components": [
        {"type": "FEE", "value": fee, "currency": "INR", "description": "fee"},
        {"type": "REFUND", "value": refund, "currency": "INR", "description": "refund"}]},
        sent_at=4.9, answered_at=5.1, method="POST", path="/v1/orders/o1/cancel")


def test_the_bpps_fee_and_refund_pass() -> None:
    view = cancellation("10.00", "-90.00")
    assert shown.shown_cancellation_is_the_bpps(view, CANCELLED, 100.0) == []


def test_a_fee_or_refund_other_than_the_bpps_is_api_007() -> None:
    findings = shown.shown_cancellation_is_the_bpps(cancellation("0.00", "-100.00"),
                                                         CANCELLED, 100.0)
    assert {(f.rule, f.expected, f.actual) for f in findings} == {
        ("UBC-API-007", 90.0, 100.0), ("UBC-API-007", 10.0, 0.0)}


def test_a_cancellation_as_the_tsd_writes_it_keeps_the_value_and_refunds_all() -> None:
    """20_on_cancel/cpo-cancels-reservation.json: value unchanged, the whole payment
    REFUNDED: no fee."""
    full = callback("on_cancel", order("CANCELLED", paid="REFUNDED", amount=100.0, value=100.0),
                    taken_at=5.0)
    assert shown.shown_cancellation_is_the_bpps(cancellation("0.00", "-100.00"), full,
                                                     100.0) == []


# -- UBC-CONS-010: the slot the driver asked for -------------------------------------------------

WINDOW = ("2026-01-04T08:00:00Z", "2026-01-04T09:00:00Z")


def request(action: str, preferences: dict[str, Any] | None) -> Exchange:
    n = next(_ids)
    body: dict[str, Any] = {"context": {"action": action, "transaction_id": "t1",
                                        "message_id": f"m{n}"},
                            "message": {"order": {"beckn:orderStatus": "CREATED"}}}
    if preferences is not None:
        body["message"]["order"]["beckn:orderAttributes"] = {"preferences": preferences}
    return Exchange(f"r{n:05d}", INBOUND, "bpp", "POST", f"http://bpp/{action}", {},
                    orjson.dumps(body), 0.0, float(n))


def test_a_select_carrying_the_requested_slot_passes() -> None:
    same = {"startTime": "2026-01-04T13:30:00+05:30", "endTime": WINDOW[1]}
    assert initiator.requested_slot_carried(request("select", same), WINDOW) == []
    for action in ("init", "confirm"):  # left out, as the TSD's examples leave it
        assert initiator.requested_slot_carried(request(action, None), WINDOW) == []
        assert initiator.requested_slot_carried(request(action, same), WINDOW) == []
    assert initiator.requested_slot_carried(request("status", None), WINDOW) == []


def test_a_select_without_the_slot_is_cons_010() -> None:
    select = request("select", None)
    findings = initiator.requested_slot_carried(select, WINDOW)
    assert [f.rule for f in findings] == ["UBC-CONS-010"] * 2
    assert findings[0].path == "/message/order/beckn:orderAttributes/preferences/startTime"
    assert findings[0].evidence == [select.id] and findings[0].actual is None


def test_another_slot_restated_at_init_is_cons_010() -> None:
    other = {"startTime": WINDOW[0], "endTime": "2026-01-04T10:00:00Z"}
    [finding] = initiator.requested_slot_carried(request("init", other), WINDOW)
    assert finding.rule == "UBC-CONS-010" and finding.path.endswith("/endTime")
    assert (finding.expected, finding.actual) == (WINDOW[1], "2026-01-04T10:00:00Z")
