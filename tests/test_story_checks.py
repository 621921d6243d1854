"""What each Then-step promises, checked without a server: every story check stays quiet on an
official example that keeps the promise and reports its rule on one that breaks it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from harness.beckn.order import dig
from harness.checks import story
from harness.findings import NOT_EVALUATED
from harness.transcript import INBOUND, Exchange

EXAMPLES = Path(__file__).parent / "fixtures" / "ubc-examples"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


ON_SELECT = example("04_on_select/ev-charging-on_select.json")
REJECTED_SELECT = example("04_on_select/ev-charging-on_select-Rejected.json")
ON_INIT = example("06_on_init/ev-charging-on_init-bpp.json")
ON_CONFIRM = example("08_00_on_confirm/ev-charging-on_confirm.json")
CONNECTOR = example("08_02_on_status/ev-charging-connector-on_status.json")
ON_TRACK = example("12_on_track/ev-charging-on_track.json")
STARTED = example("10_on_update/ev-charging-start-on_update.json")
START_REJECTED = example("10_on_update/ev-charging-start-on_update-Rejected.json")
INTERRUPTED = example("13_on_status/ev-charging-session-interupt-on_status.json")
REFUNDED = example("13_on_status/ev-charging-undercharge-refund-on_status.json")
COMPLETED = example("14_02_on_update/ev-charging-completed-on_update.json")
ON_RATING = example("16_on_rating/ev-charging-on_rating.json")
ON_SUPPORT = example("18_on_support/ev-charging-on_support.json")
ON_CANCEL = example("20_on_cancel/cpo-cancels-reservation.json")


def arrived(doc: Any) -> Exchange:
    return Exchange(id="x000001", direction=INBOUND, party="bap", method="POST",
                    url="http://127.0.0.1:1/beckn/on_x", request_headers={},
                    request_body=json.dumps(doc).encode(), wall_time=0.0, mono_time=0.0,
                    status=200)


def changed(doc: dict[str, Any], *path: str, value: Any = None, delete: bool = False
            ) -> dict[str, Any]:
    copied = copy.deepcopy(doc)
    parent = dig(copied, *path[:-1])
    assert isinstance(parent, dict | list), path
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copied


def rules(findings: list[Any]) -> list[str]:
    return [f.rule for f in findings]


ORDER = ("message", "order")


def test_the_catalog_must_reach_the_bap() -> None:
    assert story.catalog_reached([{"beckn:id": "a"}]) == []
    assert rules(story.catalog_reached([], "CCS2")) == ["UBC-TIME-003"]


def test_a_scannable_item_has_a_qr_identifier() -> None:
    item = {"beckn:itemAttributes": {"qrIdentifier": "QR-1"}}
    assert story.item_has_qr(item) == []
    assert rules(story.item_has_qr({"beckn:itemAttributes": {}})) == ["UBC-SCH-004"]


def test_discover_by_qr_lists_the_scanned_item_with_a_priced_offer() -> None:
    offer = {"beckn:price": {"value": 18}}
    assert story.scanned_item_listed([{"beckn:id": "a"}], "a", "QR", offer) == []
    assert rules(story.scanned_item_listed([{"beckn:id": "b"}], "a", "QR", None)) == [
        "UBC-CONS-005", "UBC-CONS-005"]


def test_a_nearby_ccs2_discover_lists_a_ccs2_item() -> None:
    ccs2 = {"beckn:itemAttributes": {"connectorType": "CCS2"}}
    assert story.ccs2_item_listed([ccs2]) == []
    assert rules(story.ccs2_item_listed([{"beckn:itemAttributes": {}}])) == ["UBC-CONS-005"]


def test_on_select_quotes_a_breakup() -> None:
    assert story.quote_has_breakup(arrived(ON_SELECT)) == []
    bare = changed(ON_SELECT, *ORDER, "beckn:orderValue", "components", value=[])
    assert rules(story.quote_has_breakup(arrived(bare))) == ["UBC-SCH-004"]


def test_on_init_asks_for_the_quoted_total() -> None:
    amount = dig(ON_INIT, *ORDER, "beckn:payment", "beckn:amount", "value")
    assert story.payment_is_quoted_total(arrived(ON_INIT), amount) == []
    assert rules(story.payment_is_quoted_total(arrived(ON_INIT), amount + 10)) == [
        "UBC-CONS-004"]


def test_on_confirm_gives_the_order_an_id() -> None:
    assert story.order_has_id(arrived(ON_CONFIRM)) == []
    anonymous = changed(ON_CONFIRM, *ORDER, "beckn:id", delete=True)
    assert rules(story.order_has_id(arrived(anonymous))) == ["UBC-SCH-004"]


def test_the_connector_is_preparing_after_plug_in() -> None:
    preparing = changed(CONNECTOR, *ORDER, "beckn:fulfillment", "beckn:deliveryAttributes",
                        "connectorStatus", value="PREPARING")
    assert story.connector_preparing(arrived(preparing)) == []
    idle = changed(preparing, *ORDER, "beckn:fulfillment", "beckn:deliveryAttributes",
                   "connectorStatus", value="AVAILABLE")
    assert rules(story.connector_preparing(arrived(idle))) == ["UBC-STATE-004"]


def test_tracking_carries_telemetry_and_a_url() -> None:
    assert story.tracking_live(arrived(ON_TRACK)) == []
    blind = changed(ON_TRACK, *ORDER, "beckn:fulfillment", "beckn:deliveryAttributes",
                    "chargingTelemetry", value=[])
    blind = changed(blind, *ORDER, "beckn:fulfillment", "trackingAction", delete=True)
    assert rules(story.tracking_live(arrived(blind))) == ["UBC-STATE-004", "UBC-STATE-004"]


def test_the_final_bill_matches_the_meter() -> None:
    # The official completed bill: 45 INR/kWh x 2.5 kWh = 112.5 as UNIT; it states no meter
    # reading itself, so the reading travels as ENERGY telemetry here.
    metered = changed(COMPLETED, *ORDER, "beckn:fulfillment", "beckn:deliveryAttributes",
                      "chargingTelemetry",
                      value=[{"metrics": [{"name": "ENERGY", "value": 2.5, "unitCode": "KWH"}]}])
    bill = arrived(metered)
    assert story.metered_energy(bill) == 2.5
    assert story.bill_matches_meter(bill, 45.0) == []
    assert rules(story.bill_matches_meter(bill, 50.0)) == ["UBC-CONS-006"]
    unknown = story.bill_matches_meter(arrived(COMPLETED), 45.0)
    assert rules(unknown) == ["UBC-CONS-006"] and unknown[0].status == NOT_EVALUATED


def test_reaching_the_limit_is_reported() -> None:
    assert story.completion_reported(arrived(COMPLETED)) == []
    assert rules(story.completion_reported(None)) == ["UBC-TIME-003"]


def test_on_rating_acknowledges_and_on_support_answers() -> None:
    assert story.rating_acknowledged(arrived(ON_RATING)) == []
    assert rules(story.rating_acknowledged(arrived(changed(ON_RATING, "message", value={})))) \
        == ["UBC-SCH-004"]
    assert story.support_answered(arrived(ON_SUPPORT)) == []
    mute = changed(ON_SUPPORT, "message", "support", delete=True)
    assert rules(story.support_answered(arrived(mute))) == ["UBC-SCH-004"]


def test_a_cancellation_refunds() -> None:
    assert story.cancel_refunds(arrived(ON_CANCEL)) == []
    kept = changed(ON_CANCEL, *ORDER, "beckn:payment", "beckn:paymentStatus", value="COMPLETED")
    assert rules(story.cancel_refunds(arrived(kept))) == ["UBC-STATE-004"]


def test_a_late_cancel_is_refused_with_50001() -> None:
    refused = changed(ON_CANCEL, "error", value={"code": "50001", "message": "started"})
    refused = changed(refused, *ORDER, "beckn:orderStatus", value="INPROGRESS")
    assert story.late_cancel_refused(arrived(refused)) == []
    assert rules(story.late_cancel_refused(arrived(ON_CANCEL))) == [
        "UBC-STATE-005", "UBC-STATE-005"]


def test_a_start_the_charger_cannot_perform_is_refused_with_40006() -> None:
    assert story.impossible_start_refused(arrived(START_REJECTED)) == []
    # the start reported as done: no error, order INPROGRESS, session ACTIVE
    assert rules(story.impossible_start_refused(arrived(STARTED))) == [
        "UBC-STATE-007", "UBC-STATE-007"]
    other_code = changed(START_REJECTED, "error", "code", value="50000")
    [finding] = story.impossible_start_refused(arrived(other_code))
    assert finding.rule == "UBC-STATE-007" and finding.actual == "50000"


def test_an_overlapping_slot_is_rejected_with_40000() -> None:
    assert story.overlap_rejected(arrived(REJECTED_SELECT)) == []
    assert rules(story.overlap_rejected(arrived(ON_SELECT))) == [
        "UBC-STATE-006", "UBC-STATE-006"]


def test_an_interruption_and_a_refund_are_announced() -> None:
    assert story.interruption_reported(arrived(INTERRUPTED)) == []
    assert rules(story.interruption_reported(None)) == ["UBC-STATE-008"]
    assert story.refund_reported(arrived(REFUNDED)) == []
    assert rules(story.refund_reported(None)) == ["UBC-STATE-009"]
    assert story.is_interrupted(INTERRUPTED) and story.is_refunded(REFUNDED)
    assert story.is_completed(COMPLETED) and not story.is_completed(INTERRUPTED)
