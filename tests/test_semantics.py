"""What one message says about itself: every single-message semantic rule fires on a mutated
official example and only there, the false positives an operator met are gone, and `validate`
and a run judge alike.

The 44 examples staying at zero errors is tests/test_validate.py's; here each mutation makes
exactly the finding it names, so a rule can neither be silent nor fire by accident.
"""

from __future__ import annotations

import copy
import json
import time as wall
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import schemas
from harness.beckn import time
from harness.checks import registry
from harness.checks.message import Message, Pipeline
from harness.cli import main
from harness.validation import Item, Validator

EXAMPLES = Path(__file__).parent / "fixtures" / "ubc-examples"
DISCOVER = EXAMPLES / "01_discover" / "discovery-by-QR.json"
ON_DISCOVER = EXAMPLES / "02_on_discover" / "ev-charging-on_discover.json"
SELECT = EXAMPLES / "03_select" / "ev-charging-select.json"
ON_SELECT = EXAMPLES / "04_on_select" / "ev-charging-on_select.json"
ON_INIT = EXAMPLES / "06_on_init" / "ev-charging-on_init-bpp.json"
ON_CONFIRM = EXAMPLES / "08_00_on_confirm" / "ev-charging-on_confirm.json"
ON_TRACK = EXAMPLES / "12_on_track" / "ev-charging-on_track.json"
COMPLETED = EXAMPLES / "14_02_on_update" / "ev-charging-completed-on_update.json"
UNDERCHARGE = EXAMPLES / "14_02_on_update" / "ev-charging-undercharge-on_update.json"
RATING = EXAMPLES / "15_rating" / "ev-charging-rating.json"
ON_CANCEL = EXAMPLES / "20_on_cancel" / "cpo-cancels-reservation.json"

ORDER = ["message", "order"]
VALUE = [*ORDER, "beckn:orderValue"]
ITEM = [*ORDER, "beckn:orderItems", 0]
PAYMENT = [*ORDER, "beckn:payment"]
SESSION = [*ORDER, "beckn:fulfillment", "beckn:deliveryAttributes"]
TELEMETRY = [*SESSION, "chargingTelemetry", 0, "metrics"]
PREFERENCES = [*ORDER, "beckn:orderAttributes", "preferences"]
CATALOG = ["message", "catalogs", 0]
# after every official paidAt (2025-12-19) and context.timestamp, before the examples' windows
NOW = time.epoch("2025-12-20T00:00:00Z")


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(schemas.load(), now=NOW)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def at(doc: Any, path: list[Any]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def put(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        at(doc, path[:-1])[path[-1]] = value
    return mutate


def both(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)
    return mutate


def reprice(index: int, value: float) -> Callable[[dict[str, Any]], None]:
    """Set one component's value and keep the total equal to the sum (no UBC-CONS-001)."""
    def mutate(doc: dict[str, Any]) -> None:
        order_value = at(doc, VALUE)
        order_value["components"][index]["value"] = value
        order_value["value"] = round(sum(c["value"] for c in order_value["components"]), 2)
        payment = doc["message"]["order"].get("beckn:payment")
        if payment and "beckn:amount" in payment:
            payment["beckn:amount"]["value"] = order_value["value"]
    return mutate


def every_currency(code: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: Any) -> None:
        if isinstance(doc, dict):
            for key, value in doc.items():
                if key == "currency":
                    doc[key] = code
                else:
                    mutate(value)
        elif isinstance(doc, list):
            for value in doc:
                mutate(value)
    return mutate


def findings_of(validator: Validator, doc: dict[str, Any]) -> list[Any]:
    return validator.check(Item("mutated", json.dumps(doc).encode())).findings


def errors_of(validator: Validator, doc: dict[str, Any]) -> set[str]:
    return {f.rule for f in findings_of(validator, doc) if f.is_error}


MUTATIONS: list[tuple[str, Path, Callable[[dict[str, Any]], None], str, str]] = [
    # (what the operator tried, example, mutation, rule, JSON pointer of the finding)
    ("zero quantity", SELECT, put([*ITEM, "beckn:quantity", "unitQuantity"], 0),
     "UBC-MSG-001", "/message/order/beckn:orderItems/0/beckn:quantity/unitQuantity"),
    ("negative quantity", ON_INIT, put([*ITEM, "beckn:quantity", "unitQuantity"], -2.5),
     "UBC-MSG-001", "/message/order/beckn:orderItems/0/beckn:quantity/unitQuantity"),
    ("UNIT is not price x quantity", ON_SELECT, reprice(0, 100.0), "UBC-MSG-002",
     "/message/order/beckn:orderValue/components"),
    ("quantity changed under the same UNIT", ON_INIT,
     put([*ITEM, "beckn:quantity", "unitQuantity"], 3), "UBC-MSG-002",
     "/message/order/beckn:orderValue/components"),
    ("payment is not the quote total", ON_INIT, put([*PAYMENT, "beckn:amount", "value"], 100.0),
     "UBC-MSG-003", "/message/order/beckn:payment/beckn:amount/value"),
    ("confirmed payment is not the quote total", ON_CONFIRM,
     put([*PAYMENT, "beckn:amount", "value"], 150.0), "UBC-MSG-003",
     "/message/order/beckn:payment/beckn:amount/value"),
    ("positive DISCOUNT", ON_SELECT, reprice(2, 15.0), "UBC-MSG-004",
     "/message/order/beckn:orderValue/components/2/value"),
    ("negative FEE", ON_SELECT, reprice(3, -10.0), "UBC-MSG-004",
     "/message/order/beckn:orderValue/components/3/value"),
    ("currency not ISO 4217", ON_INIT, every_currency("RS"), "UBC-MSG-005",
     "/message/order/beckn:orderValue/currency"),
    ("lower-case currency", ON_SELECT, every_currency("inr"), "UBC-MSG-005",
     "/message/order/beckn:orderValue/currency"),
    ("published price not ISO 4217", ON_DISCOVER,
     put([*CATALOG, "beckn:offers", 0, "beckn:price", "currency"], "RUPEES"), "UBC-MSG-005",
     "/message/catalogs/0/beckn:offers/0/beckn:price/currency"),
    ("negative unit price", SELECT, put([*ITEM, "beckn:acceptedOffer", "beckn:price", "value"],
                                        -45.0),
     "UBC-MSG-006", "/message/order/beckn:orderItems/0/beckn:acceptedOffer/beckn:price/value"),
    ("negative published price", ON_DISCOVER,
     put([*CATALOG, "beckn:offers", 0, "beckn:price", "value"], -1), "UBC-MSG-006",
     "/message/catalogs/0/beckn:offers/0/beckn:price/value"),
    ("refund is not the overpayment", UNDERCHARGE, put([*VALUE, "components", 4, "value"], -50.0),
     "UBC-MSG-007", "/message/order/beckn:orderValue/components"),
    ("invoice is not the bill", COMPLETED, put([*ORDER, "beckn:invoice", "beckn:totals", "value"],
                                               150.0),
     "UBC-MSG-014", "/message/order/beckn:invoice/beckn:totals/value"),
    ("finder fee over 100 %", SELECT,
     put([*ORDER, "beckn:orderAttributes", "buyerFinderFee", "feeValue"], 250),
     "UBC-MSG-015", "/message/order/beckn:orderAttributes/buyerFinderFee/feeValue"),
    ("item price in another currency", ON_SELECT, put([*ITEM, "beckn:price", "currency"], "USD"),
     "UBC-CONS-007", "/message/order/beckn:orderItems/0/beckn:price/currency"),
    ("offer price in another currency", ON_SELECT,
     put([*ITEM, "beckn:acceptedOffer", "beckn:price", "currency"], "EUR"), "UBC-CONS-007",
     "/message/order/beckn:orderItems/0/beckn:acceptedOffer/beckn:price/currency"),
    ("payment in another currency", ON_INIT, put([*PAYMENT, "beckn:amount", "currency"], "USD"),
     "UBC-CONS-007", "/message/order/beckn:payment/beckn:amount/currency"),
    ("refund outside the total of a quote", ON_SELECT,
     lambda doc: at(doc, [*VALUE, "components"]).append(
         {"type": "DISCOUNT", "value": -5.0, "currency": "INR",
          "description": "Refund adjustment"}),
     "UBC-CONS-001", "/message/order/beckn:orderValue/value"),
    ("state of charge over 100 %", ON_TRACK, put([*TELEMETRY, 0, "value"], 104.0),
     "UBC-MSG-008", "/message/order/beckn:fulfillment/beckn:deliveryAttributes/"
     "chargingTelemetry/0/metrics/0/value"),
    ("negative state of charge", ON_TRACK, put([*TELEMETRY, 0, "value"], -1),
     "UBC-MSG-008", "/message/order/beckn:fulfillment/beckn:deliveryAttributes/"
     "chargingTelemetry/0/metrics/0/value"),
    ("negative energy", ON_TRACK, put([*TELEMETRY, 2, "value"], -10.2), "UBC-MSG-009",
     "/message/order/beckn:fulfillment/beckn:deliveryAttributes/chargingTelemetry/0/metrics/2/"
     "value"),
    ("rating above its scale", RATING, put(["message", "ratings", 0, "ratingValue"], 7),
     "UBC-MSG-010", "/message/ratings/0/ratingValue"),
    ("rating below its scale", RATING, put(["message", "ratings", 1, "ratingValue"], 0),
     "UBC-MSG-010", "/message/ratings/1/ratingValue"),
    ("rating scale upside down", RATING, put(["message", "ratings", 0, "worstRating"], 10),
     "UBC-MSG-010", "/message/ratings/0/bestRating"),
    ("slot ending before it starts", SELECT, put([*PREFERENCES, "endTime"],
                                                 "2026-01-04T07:00:00Z"),
     "UBC-MSG-011", "/message/order/beckn:orderAttributes/preferences/endTime"),
    ("availability ending before it starts", ON_DISCOVER,
     put([*CATALOG, "beckn:items", 0, "beckn:availabilityWindow", 0, "schema:endTime"],
         "2026-01-03T20:00:00Z"), "UBC-MSG-011",
     "/message/catalogs/0/beckn:items/0/beckn:availabilityWindow/0/schema:endTime"),
    ("paidAt in the future", ON_CONFIRM, put([*PAYMENT, "beckn:paidAt"], "2026-03-01T10:00:00Z"),
     "UBC-MSG-012", "/message/order/beckn:payment/beckn:paidAt"),
    ("ttl PT0S", SELECT, put(["context", "ttl"], "PT0S"), "UBC-CTX-021", "/context/ttl"),
    ("ttl P0D", SELECT, put(["context", "ttl"], "P0D"), "UBC-CTX-021", "/context/ttl"),
    ("timestamp a day in the future", ON_SELECT,
     put(["context", "timestamp"], "2025-12-21T00:00:00Z"), "UBC-CTX-022", "/context/timestamp"),
    ("on_cancel reporting CONFIRMED", ON_CANCEL, both(
        put([*ORDER, "beckn:orderStatus"], "CONFIRMED"),
        put([*PAYMENT, "beckn:paymentStatus"], "COMPLETED")),
     "UBC-STATE-010", "/message/order/beckn:orderStatus"),
    ("on_confirm reporting CREATED", ON_CONFIRM, put([*ORDER, "beckn:orderStatus"], "CREATED"),
     "UBC-STATE-010", "/message/order/beckn:orderStatus"),
    ("order COMPLETED with session ACTIVE", COMPLETED, put([*SESSION, "sessionStatus"], "ACTIVE"),
     "UBC-STATE-011", "/message/order/beckn:fulfillment/beckn:deliveryAttributes/sessionStatus"),
    ("order CONFIRMED with a refunded payment", ON_CONFIRM,
     put([*PAYMENT, "beckn:paymentStatus"], "REFUNDED"), "UBC-STATE-011",
     "/message/order/beckn:payment/beckn:paymentStatus"),
    ("unknown beckn: property on a Payment", ON_INIT, put([*PAYMENT, "beckn:method"], "UPI"),
     "UBC-SCH-105", "/message/order/beckn:payment/beckn:method"),
    ("unknown beckn: property on an Order", ON_SELECT, put([*ORDER, "beckn:notes"], "x"),
     "UBC-SCH-105", "/message/order/beckn:notes"),
    ("unknown beckn: property on a Fulfillment", ON_CONFIRM,
     put([*ORDER, "beckn:fulfillment", "beckn:trackingAction"], {"@type": "beckn:TrackAction"}),
     "UBC-SCH-105", "/message/order/beckn:fulfillment/beckn:trackingAction"),
    ("unknown beckn: property on an embedded Invoice", COMPLETED,
     put([*ORDER, "beckn:invoice", "beckn:amountDue"], 0), "UBC-SCH-105",
     "/message/order/beckn:invoice/beckn:amountDue"),
    ("Buyer with another @type", ON_INIT, put([*ORDER, "beckn:buyer", "@type"], "schema:Person"),
     "UBC-SCH-006", "/message/order/beckn:buyer/@type"),
    ("Fulfillment without its @type", ON_CONFIRM,
     lambda doc: at(doc, [*ORDER, "beckn:fulfillment"]).pop("@type"), "UBC-SCH-004",
     "/message/order/beckn:fulfillment/@type"),
    ("accepted Offer with another @type", SELECT,
     put([*ITEM, "beckn:acceptedOffer", "@type"], "beckn:Item"), "UBC-SCH-006",
     "/message/order/beckn:orderItems/0/beckn:acceptedOffer/@type"),
    ("Order with another @type", ON_SELECT, put([*ORDER, "@type"], "beckn:Orders"),
     "UBC-SCH-006", "/message/order/@type"),
    ("Payment with another @type", ON_INIT, put([*PAYMENT, "@type"], "schema:Order"),
     "UBC-SCH-006", "/message/order/beckn:payment/@type"),
    ("Offer without its @type", ON_DISCOVER,
     lambda doc: at(doc, [*CATALOG, "beckn:offers", 0]).pop("@type"), "UBC-SCH-004",
     "/message/catalogs/0/beckn:offers/0/@type"),
    ("unknown payment method", ON_DISCOVER,
     put([*CATALOG, "beckn:offers", 0, "beckn:acceptedPaymentMethod"], ["UPI", "BITCOIN"]),
     "UBC-SCH-006", "/message/catalogs/0/beckn:offers/0/beckn:acceptedPaymentMethod/1"),
]


@pytest.mark.parametrize(("name", "path", "mutate", "rule", "pointer"), MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_each_rule_fires_on_a_mutated_example(
    name: str, path: Path, mutate: Callable[[dict[str, Any]], None], rule: str, pointer: str,
    validator: Validator,
) -> None:
    doc = load(path)
    before = {f.rule for f in findings_of(validator, doc)}
    assert rule not in before, f"{rule} already fires on {path.name}"
    mutate(doc)
    findings = findings_of(validator, doc)
    fired = [f for f in findings if f.rule == rule]
    assert fired, [f.as_dict() for f in findings]
    assert fired[0].path == pointer
    assert fired[0].is_error
    # a mutation makes its own finding, not a cascade of unrelated errors
    others = {f.rule for f in findings if f.is_error} - {rule}
    assert others <= {"UBC-CONS-001", "UBC-MSG-002", "UBC-MSG-003", "UBC-MSG-004"}, others


def test_a_refused_callback_reports_the_order_as_it_was(validator: Validator) -> None:
    doc = load(ON_CANCEL)
    doc["message"]["order"]["beckn:orderStatus"] = "CONFIRMED"
    doc["message"]["order"]["beckn:payment"]["beckn:paymentStatus"] = "COMPLETED"
    doc["error"] = {"code": "50001", "message": "Cancellation not possible"}
    assert "UBC-STATE-010" not in errors_of(validator, doc)


def test_a_final_bill_may_leave_the_refund_to_on_status(validator: Validator) -> None:
    doc = load(UNDERCHARGE)
    components = doc["message"]["order"]["beckn:orderValue"]["components"]
    components.pop()  # no refund adjustment listed: the refund is reported when it happens
    assert errors_of(validator, doc) == set()


def test_the_final_bill_is_not_priced_by_the_ordered_quantity(validator: Validator) -> None:
    doc = load(COMPLETED)
    item = doc["message"]["order"]["beckn:orderItems"][0]
    item["beckn:quantity"] = {"unitQuantity": 1.0, "unitCode": "KWH"}
    item["beckn:price"] = {"currency": "INR", "value": 45.0}
    assert "UBC-MSG-002" not in errors_of(validator, doc)


def test_a_refunded_or_billed_payment_need_not_be_the_total(validator: Validator) -> None:
    doc = load(ON_CANCEL)
    doc["message"]["order"]["beckn:payment"]["beckn:amount"]["value"] = 100.0  # fee kept
    assert "UBC-MSG-003" not in errors_of(validator, doc)


def test_paid_at_after_its_message_is_a_warning(validator: Validator) -> None:
    findings = findings_of(validator, load(ON_CONFIRM))
    assert [(f.rule, f.severity) for f in findings] == [("UBC-MSG-013", "warning")]
    assert "2025-01-27T10:05:00Z" in findings[0].message


def test_times_of_day_may_wrap_past_midnight(validator: Validator) -> None:
    doc = load(ON_DISCOVER)
    window = doc["message"]["catalogs"][0]["beckn:items"][0]["beckn:availabilityWindow"][0]
    window["schema:startTime"], window["schema:endTime"] = "22:00:00", "06:00:00"
    assert "UBC-MSG-011" not in errors_of(validator, doc)


def test_a_rating_without_a_scale_uses_cores_default(validator: Validator) -> None:
    doc = load(RATING)
    for rating in doc["message"]["ratings"]:
        del rating["bestRating"], rating["worstRating"]
    assert errors_of(validator, doc) == set()
    doc["message"]["ratings"][0]["ratingValue"] = 6
    assert errors_of(validator, doc) == {"UBC-MSG-010"}


# -- the false positives an operator met ------------------------------------------------------


def test_error_null_is_no_error_and_hides_nothing(validator: Validator) -> None:
    doc = load(ON_SELECT)
    doc["error"] = None
    assert findings_of(validator, doc) == []
    doc["message"]["order"]["beckn:orderValue"]["value"] += 10
    assert errors_of(validator, doc) == {"UBC-CONS-001"}


@pytest.mark.parametrize("ttl", ["PT0.5S", "PT0,5S", "PT1.5M", "P1W", "PT30S", "P1DT2H"])
def test_iso_8601_durations_with_fractions_are_valid_ttls(ttl: str, validator: Validator) -> None:
    doc = load(SELECT)
    doc["context"]["ttl"] = ttl
    assert findings_of(validator, doc) == []
    assert time.duration_seconds(ttl) > 0


@pytest.mark.parametrize("ttl", ["30S", "PT", "P1DT", "PT30s", "-PT30S"])
def test_what_is_no_duration_stays_a_context_error(ttl: str, validator: Validator) -> None:
    doc = load(SELECT)
    doc["context"]["ttl"] = ttl
    assert errors_of(validator, doc) == {"UBC-CTX-007"}


def test_duration_seconds_reads_zero_and_fractions_without_crashing() -> None:
    assert time.duration_seconds("PT0S") == 0
    assert time.duration_seconds("PT0.5S") == 0.5
    assert time.duration_seconds("PT0,25S") == 0.25
    assert time.duration_seconds("P2W") == 14 * 86400
    with pytest.raises(ValueError):
        time.duration_seconds("P1M")  # a month has no fixed length
    assert time.duration_or("P1M", 30.0) == 30.0


def test_the_ttl_schema_pattern_is_the_kernels() -> None:
    context = json.loads((Path(schemas.__file__).parent.parent / "schemas" / "ubc-2.0.0-rc" /
                          "context.json").read_text(encoding="utf-8"))
    assert context["properties"]["ttl"]["pattern"] == time.DURATION_PATTERN


@pytest.mark.parametrize("path", [SELECT, ON_CONFIRM, COMPLETED, ON_CANCEL])
def test_schema_context_is_allowed_on_every_action(path: Path, validator: Validator) -> None:
    doc = load(path)
    doc["context"]["schema_context"] = [
        "https://raw.githubusercontent.com/beckn/protocol-specifications-v2/refs/heads/"
        "core-v2.0.0-rc/schema/EvChargingSession/v1/context.jsonld"]
    before = findings_of(validator, load(path))
    assert [f.rule for f in findings_of(validator, doc)] == [f.rule for f in before]


def test_units_as_the_session_pack_words_them_are_named_as_such(validator: Validator) -> None:
    findings = [f for f in findings_of(validator, load(ON_TRACK)) if f.rule == "UBC-SCH-102"]
    assert findings and all("EV session pack" in f.message for f in findings)
    doc = load(ON_TRACK)
    doc["message"]["order"]["beckn:fulfillment"]["beckn:deliveryAttributes"][
        "chargingTelemetry"][0]["metrics"][2]["unitCode"] = "WH"
    wh = [f for f in findings_of(validator, doc) if f.rule == "UBC-SCH-102"
          and f.path.endswith("/0/metrics/2/unitCode")]
    assert wh and "pack" not in wh[0].message


# -- now, from validate --now or the wall clock -------------------------------------------------


def test_a_future_timestamp_is_judged_against_the_wall_clock() -> None:
    doc = load(SELECT)
    doc["context"]["timestamp"] = time.format(wall.time() + 86400)
    assert errors_of(Validator(schemas.load()), doc) == {"UBC-CTX-022"}
    doc["context"]["timestamp"] = time.format(wall.time() + 2)  # within the clock skew
    assert errors_of(Validator(schemas.load()), doc) == set()


def test_validate_now_places_a_capture_in_its_own_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    doc = load(SELECT)
    doc["context"]["timestamp"] = "2024-01-16T10:30:00Z"  # a day after --now
    path = tmp_path / "select.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    now = str(time.epoch("2024-01-15T10:30:00Z"))
    assert main(["validate", "--format", "json", "--now", now, str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in report["results"][0]["findings"]] == ["UBC-CTX-022"]
    assert main(["validate", "--now", str(time.epoch("2024-01-16T10:30:01Z")), str(path)]) == 0


# -- validate and run share the checks ---------------------------------------------------------


def test_run_judges_a_callback_with_the_same_semantic_checks() -> None:
    doc = load(COMPLETED)
    doc["message"]["order"]["beckn:fulfillment"]["beckn:deliveryAttributes"][
        "sessionStatus"] = "ACTIVE"
    raw = json.dumps(doc).encode()
    offline = Validator(schemas.load(), now=NOW).check(Item("x", raw)).findings
    online = registry.judge_message(Pipeline(schemas.load(), now=NOW),
                                    Message(raw, evidence=["cb-1"]))
    assert [f.rule for f in offline] == [f.rule for f in online]
    assert "UBC-STATE-011" in [f.rule for f in online]
    assert all("cb-1" in f.evidence for f in online)


@pytest.mark.parametrize("body", [[1, 2], "text", {"context": [], "message": 1}, {}])
def test_semantic_checks_never_crash_on_shapes_the_schema_refuses(body: Any) -> None:
    findings = Validator(schemas.load()).check(Item("x", json.dumps(body).encode())).findings
    assert {f.rule for f in findings} <= {"UBC-SCH-002"}


def test_every_message_check_survives_a_hollowed_example() -> None:
    pipeline = Pipeline(schemas.load(), now=NOW)
    doc = load(COMPLETED)
    hollow = copy.deepcopy(doc)
    order = hollow["message"]["order"]
    for key in list(order):
        order[key] = None
    for check in registry.MESSAGE_CHECKS:
        message = Message(json.dumps(hollow).encode())
        message.doc = hollow
        check.run(message, pipeline)  # must not raise


# -- citations name clauses that exist ------------------------------------------------------

# The numbered sections of UBC TSD v0.9 and the headings of BECKN-006 (which numbers only the
# Steps of its example flow), as data: tests never read the specification itself.
TSD_SECTIONS = {
    "8", "8.1", "8.2", "8.3", "8.4", "8.5", "8.5.1", "8.5.2", "9", "9.1", "9.1.1", "9.2",
    "9.2.1", "9.2.2", "9.2.3", "10", "10.1", "10.2", "10.3", "10.4", "11", "11.1", "11.1.1",
    "11.1.2", "11.2", "11.2.1", "11.2.2", "12", "12.0", "12.1", "12.1.1", "12.2", "12.3", "12.4",
    "12.5", "12.5.1", "12.5.1.1", "12.5.1.2", "12.5.2", "12.5.2.1", "12.5.2.2", "12.5.3",
    "12.5.4", "12.5.5", "13", "14",
    # the actions of the reservation flow: 11.2.2.1 discover to 11.2.2.19 on_support
    *(f"11.2.2.{n}" for n in range(1, 20)),
}
BECKN_006_HEADINGS = ("Context", "Subscriber Authentication", "Signature Attributes",
                      "Hashing Algorithm", "Signing Algorithm")
BECKN_006_STEPS = range(1, 11)


def test_every_rule_cites_clauses_that_exist() -> None:
    import re

    from harness import rules

    for rule in rules.RULES:
        for section in re.findall(r"§(\d+(?:\.\d+)*)", rule.spec):
            assert section in TSD_SECTIONS, (rule.id, section)
        in_beckn_006 = False
        for part in (p.strip() for p in rule.spec.split(";")):
            if part.startswith("BECKN-006"):
                in_beckn_006, part = True, part.removeprefix("BECKN-006").strip()
            elif not part.startswith("Step "):
                in_beckn_006 = False
            if not in_beckn_006:
                continue
            step = re.match(r"Step (\d+)", part)
            assert (step and int(step.group(1)) in BECKN_006_STEPS) or \
                part.startswith(BECKN_006_HEADINGS), (rule.id, part)
