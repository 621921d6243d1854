"""The UBC 2.0.0-rc JSON Schemas under schemas/ubc-2.0.0-rc are sound and agree with the examples.

(a) every schema file is a valid draft 2020-12 schema whose $refs all resolve;
(b) the `message` of each of the 44 official examples validates, with zero errors, against
    messages/<context.action>.json, with both `jsonschema` and `jsonschema_rs`, formats asserted;
(c) mutated examples (a required part missing, a wrong type, a bad enum value, a malformed
    date-time or URI) fail with both libraries, and the failure points at the mutated field;
plus the lenient readings documented in the README, and the three ACK/NACK shapes.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SCHEMAS = Path(__file__).parent.parent / "schemas"
PROFILE = SCHEMAS / "ubc-2.0.0-rc"
EXAMPLES = Path(__file__).parent / "fixtures" / "ubc-examples"
BASE_ID = "https://ubc-conformance.example/schemas/ubc-2.0.0-rc/"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

ACTIONS = (
    "discover",
    "on_discover",
    "select",
    "on_select",
    "init",
    "on_init",
    "confirm",
    "on_confirm",
    "status",
    "on_status",
    "track",
    "on_track",
    "update",
    "on_update",
    "cancel",
    "on_cancel",
    "rating",
    "on_rating",
    "support",
    "on_support",
    "catalog_publish",
    "on_catalog_publish",
)


# --------------------------------------------------------------------------- loading


def _schema_files() -> list[Path]:
    return sorted(PROFILE.rglob("*.json"))


@cache
def _documents() -> dict[str, dict[str, Any]]:
    """Every schema of the profile, keyed by its $id."""
    docs: dict[str, dict[str, Any]] = {}
    for path in _schema_files():
        doc = json.loads(path.read_text(encoding="utf-8"))
        docs[doc["$id"]] = doc
    return docs


@cache
def _py_registry() -> Registry:
    return Registry().with_resources(
        (uri, DRAFT202012.create_resource(doc)) for uri, doc in _documents().items()
    )


@cache
def _rs_registry() -> jsonschema_rs.Registry:
    # Every file under its $id: relative $refs ("../defs/core.json#/$defs/Order") resolve
    # against the referring schema's $id and are then found here, with no network access.
    return jsonschema_rs.Registry(list(_documents().items()))


_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*$")
_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)


def _format_checker() -> FormatChecker:
    """jsonschema's stock checker skips date-time, uri and duration unless optional packages
    (rfc3339-validator, rfc3987, isoduration) happen to be installed: pin them here."""
    checker = FormatChecker()

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.match(value):
            return False
        try:
            datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            return False
        return True

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(_URI.match(value))

    @checker.checks("duration")
    def _duration(value: object) -> bool:
        return not isinstance(value, str) or bool(_DURATION.match(value))

    return checker


def _schema(relative: str) -> dict[str, Any]:
    return _documents()[BASE_ID + relative]


@cache
def _py_validator(relative: str) -> Draft202012Validator:
    return Draft202012Validator(
        _schema(relative), registry=_py_registry(), format_checker=_format_checker()
    )


@cache
def _rs_validator(relative: str) -> Any:
    return jsonschema_rs.validator_for(
        _schema(relative), registry=_rs_registry(), validate_formats=True
    )


def _errors(relative: str, instance: Any) -> tuple[list[str], list[str]]:
    """(jsonschema errors, jsonschema_rs errors), each as 'path: message'."""
    py = [
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _py_validator(relative).iter_errors(instance)
    ]
    rs = [
        f"/{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in _rs_validator(relative).iter_errors(instance)
    ]
    return py, rs


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*/*.json"))


def _load_example(relative: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / relative).read_text(encoding="utf-8"))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


# --------------------------------------------------------------------------- (a) the files


def test_profile_has_every_expected_file() -> None:
    expected = {f"messages/{a}.json" for a in ACTIONS} | {
        "defs/core.json",
        "defs/ev-charging.json",
        "ack.json",
    }
    present = {p.relative_to(PROFILE).as_posix() for p in _schema_files()}
    assert expected <= present, sorted(expected - present)
    assert (PROFILE / "README.md").is_file()


@pytest.mark.parametrize(
    "path", _schema_files(), ids=lambda p: p.relative_to(PROFILE).as_posix()
)
def test_schema_file_is_valid_draft_2020_12(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc.get("$schema") == DRAFT_2020_12
    assert doc.get("$id") == BASE_ID + path.relative_to(PROFILE).as_posix()
    Draft202012Validator.check_schema(doc)
    jsonschema_rs.meta.validate(doc)


@pytest.mark.parametrize(
    "path", _schema_files(), ids=lambda p: p.relative_to(PROFILE).as_posix()
)
def test_every_ref_resolves_and_compiles(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    resolver = _py_registry().resolver(base_uri=doc["$id"])
    for ref in _refs(doc):
        resolver.lookup(ref)  # raises if the target does not exist
    # jsonschema_rs resolves every $ref eagerly when it compiles.
    jsonschema_rs.validator_for(doc, registry=_rs_registry(), validate_formats=True)


# --------------------------------------------------------------------------- (b) the examples


def test_examples_cover_all_22_actions() -> None:
    examples = _examples()
    assert len(examples) == 44
    actions = {json.loads(p.read_text(encoding="utf-8"))["context"]["action"] for p in examples}
    assert actions == set(ACTIONS)


@pytest.mark.parametrize(
    "path", _examples(), ids=lambda p: p.relative_to(EXAMPLES).as_posix()
)
def test_official_example_message_validates(path: Path) -> None:
    envelope = json.loads(path.read_text(encoding="utf-8"))
    action = envelope["context"]["action"]
    py, rs = _errors(f"messages/{action}.json", envelope["message"])
    assert py == [], py
    assert rs == [], rs


# --------------------------------------------------------------------------- (c) mutations

_DELETE = object()

# (id, example, path inside message, new value or _DELETE, text the error must mention)
MUTATIONS: list[tuple[str, str, tuple[Any, ...], Any, str]] = [
    # the thing the action is about is missing
    ("select-without-order", "03_select/ev-charging-select.json", ("order",), _DELETE, "order"),
    ("on_select-without-order", "04_on_select/ev-charging-on_select.json",
     ("order",), _DELETE, "order"),
    ("on_select-without-orderItems", "04_on_select/ev-charging-on_select.json",
     ("order", "beckn:orderItems"), _DELETE, "beckn:orderItems"),
    ("on_select-empty-orderItems", "04_on_select/ev-charging-on_select.json",
     ("order", "beckn:orderItems"), [], "beckn:orderItems"),
    ("rating-without-ratings", "15_rating/ev-charging-rating.json",
     ("ratings",), _DELETE, "ratings"),
    ("support-without-support", "17_support/ev-charging-support.json",
     ("support",), _DELETE, "support"),
    ("on_catalog_publish-without-results", "22_on_publish/ev-charging-catalog-on_publish.json",
     ("results",), _DELETE, "results"),
    ("catalog_publish-no-catalogs", "21_publish/ev-charging-catalog-publish.json",
     ("catalogs",), [], "catalogs"),
    ("discover-without-query", "01_discover/discovery-by-QR.json",
     ("filters",), _DELETE, "/"),
    ("on_rating-empty", "16_on_rating/ev-charging-on_rating.json", (), {}, "/"),
    # a required field of a nested object is missing
    ("on_confirm-order-without-id", "08_00_on_confirm/ev-charging-on_confirm.json",
     ("order", "beckn:id"), _DELETE, "beckn:id"),
    ("status-order-without-id", "08_01_status/ev-charging-connector-status.json",
     ("order", "beckn:id"), _DELETE, "beckn:id"),
    ("item-without-connectorType", "02_on_discover/ev-charging-on_discover.json",
     ("catalogs", 0, "beckn:items", 0, "beckn:itemAttributes", "connectorType"), _DELETE,
     "connectorType"),
    ("telemetry-metric-without-unit", "12_on_track/ev-charging-on_track.json",
     ("order", "beckn:fulfillment", "beckn:deliveryAttributes", "chargingTelemetry", 0,
      "metrics", 0, "unitCode"), _DELETE, "unitCode"),
    # wrong JSON type
    ("maxPowerKW-as-string", "02_on_discover/ev-charging-on_discover.json",
     ("catalogs", 0, "beckn:items", 0, "beckn:itemAttributes", "maxPowerKW"), "60",
     "maxPowerKW"),
    ("orderValue-as-string", "04_on_select/ev-charging-on_select.json",
     ("order", "beckn:orderValue", "value"), "143.95", "value"),
    ("quantity-as-string", "03_select/ev-charging-select.json",
     ("order", "beckn:orderItems", 0, "beckn:quantity", "unitQuantity"), "2.5",
     "unitQuantity"),
    ("orderItems-as-object", "05_init/ev-charging-init-bpp.json",
     ("order", "beckn:orderItems"), {"beckn:orderedItem": "x"}, "beckn:orderItems"),
    # bad enum value
    ("orderStatus-unknown", "08_00_on_confirm/ev-charging-on_confirm.json",
     ("order", "beckn:orderStatus"), "BOOKED", "beckn:orderStatus"),
    ("sessionStatus-unknown", "10_on_update/ev-charging-start-on_update.json",
     ("order", "beckn:fulfillment", "beckn:deliveryAttributes", "sessionStatus"), "CHARGING",
     "sessionStatus"),
    ("connectorStatus-unknown", "08_02_on_status/ev-charging-connector-on_status.json",
     ("order", "beckn:fulfillment", "beckn:deliveryAttributes", "connectorStatus"), "OCCUPIED",
     "connectorStatus"),
    ("supportStatus-unknown", "18_on_support/ev-charging-on_support.json",
     ("feedback", "supportStatus"), "DONE", "supportStatus"),
    ("paymentStatus-unknown", "06_on_init/ev-charging-on_init-bpp.json",
     ("order", "beckn:payment", "beckn:paymentStatus"), "PAID", "beckn:paymentStatus"),
    ("price-component-type-unknown", "04_on_select/ev-charging-on_select.json",
     ("order", "beckn:orderValue", "components", 0, "type"), "TAXES", "type"),
    # malformed formats
    ("paidAt-not-date-time", "08_00_on_confirm/ev-charging-on_confirm.json",
     ("order", "beckn:payment", "beckn:paidAt"), "19/12/2025 10:05", "beckn:paidAt"),
    ("telemetry-eventTime-not-date-time", "12_on_track/ev-charging-on_track.json",
     ("order", "beckn:fulfillment", "beckn:deliveryAttributes", "chargingTelemetry", 0,
      "eventTime"), "17:00", "eventTime"),
    ("preference-start-not-date-time", "03_select/ev-charging-select.json",
     ("order", "beckn:orderAttributes", "preferences", "startTime"), "2026-01-04 08:00",
     "startTime"),
    ("paymentURL-not-uri", "06_on_init/ev-charging-on_init-bpp.json",
     ("order", "beckn:payment", "beckn:paymentURL"), "pay here", "beckn:paymentURL"),
]


def _mutate(message: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Delete or replace message[path]; an empty path replaces the whole message."""
    if not path:
        message.clear()
        message.update(copy.deepcopy(value))
        return
    parent: Any = message
    for step in path[:-1]:
        parent = parent[step]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)


@pytest.mark.parametrize(
    ("example", "path", "value", "mentions"),
    [m[1:] for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS],
)
def test_mutated_example_fails(
    example: str, path: tuple[Any, ...], value: Any, mentions: str
) -> None:
    envelope = _load_example(example)
    message = envelope["message"]
    relative = f"messages/{envelope['context']['action']}.json"
    assert _errors(relative, message) == ([], [])  # the unmutated message is clean
    _mutate(message, path, value)
    py, rs = _errors(relative, message)
    assert py, "jsonschema accepted the mutated message"
    assert rs, "jsonschema_rs accepted the mutated message"
    assert any(mentions in e for e in py), py
    assert any(mentions in e for e in rs), rs


# --------------------------------------------------------------------------- lenient readings

LENIENT: list[tuple[str, str, tuple[Any, ...], Any]] = [
    ("invoice-as-id", "14_02_on_update/ev-charging-completed-on_update.json",
     ("order", "beckn:invoice"), "invoice-ev-charging-001"),
    ("status-by-id-only", "08_01_status/ev-charging-connector-status.json",
     ("order",), {"beckn:id": "order-ev-charging-001"}),
    ("cancel-by-id-only", "19_cancel/cancel-a-reserved-slot.json",
     ("order",), {"beckn:id": "order-ev-charging-001"}),
    ("track-by-id-and-fulfillment", "11_track/ev-charging-track.json",
     ("order",), {"beckn:id": "order-ev-charging-001", "fulfillment": {"beckn:id": "f-1"}}),
    ("availability-as-time-of-day", "02_on_discover/ev-charging-on_discover.json",
     ("catalogs", 0, "beckn:items", 0, "beckn:availabilityWindow", 0),
     {"@type": "beckn:TimePeriod", "schema:startTime": "06:00:00",
      "schema:endTime": "22:00:00"}),
    ("vehicleType-as-list", "21_publish/ev-charging-catalog-publish.json",
     ("catalogs", 0, "beckn:items", 0, "beckn:itemAttributes", "vehicleType"),
     ["2-WHEELER", "4-WHEELER"]),
    ("connectorType-TSD-spelling", "02_on_discover/ev-charging-on_discover.json",
     ("catalogs", 0, "beckn:items", 2, "beckn:itemAttributes", "connectorType"), "TYPE2"),
    ("paidAt-null", "06_on_status_1/ev-charging-on_status-bpp.json",
     ("order", "beckn:payment", "beckn:paidAt"), None),
    ("vpa-null", "07_confirm/ev-charging-confirm.json",
     ("order", "beckn:buyer", "beckn:buyerAttributes", "vpa"), None),
    ("extra-unknown-field", "04_on_select/ev-charging-on_select.json",
     ("order", "ubc:somethingNew"), {"any": "thing"}),
    ("telemetry-units-as-spec-says", "12_on_track/ev-charging-on_track.json",
     ("order", "beckn:fulfillment", "beckn:deliveryAttributes", "chargingTelemetry", 0,
      "metrics", 1, "unitCode"), "KW"),
    ("date-time-with-offset", "03_select/ev-charging-select.json",
     ("order", "beckn:orderAttributes", "preferences", "startTime"),
     "2026-01-04T13:30:00+05:30"),
]


@pytest.mark.parametrize(
    ("example", "path", "value"), [m[1:] for m in LENIENT], ids=[m[0] for m in LENIENT]
)
def test_lenient_reading_is_accepted(example: str, path: tuple[Any, ...], value: Any) -> None:
    envelope = _load_example(example)
    message = envelope["message"]
    _mutate(message, path, value)
    assert _errors(f"messages/{envelope['context']['action']}.json", message) == ([], [])


# --------------------------------------------------------------------------- ACK / NACK

ACK_BODIES: list[tuple[str, dict[str, Any], str | None]] = [
    ("ubc-ack", {"message": {"ack": {"status": "ACK"}}}, "ubc"),
    ("ubc-ack-null-error", {"message": {"ack": {"status": "ACK"}}, "error": None}, "ubc"),
    ("ubc-nack", {"message": {"ack": {"status": "NACK"}},
                  "error": {"code": "10001", "message": "Invalid signature"}}, "ubc"),
    ("core-ack", {"transaction_id": "2b4d69aa-22e4-4c78-9f56-5a7b9e2b2002",
                  "timestamp": "2025-10-14T07:31:01Z", "ack_status": "ACK"}, "core"),
    ("core-nack", {"transaction_id": "t", "timestamp": "2025-10-14T07:31:01Z",
                   "ack_status": "NACK", "error": {"code": "30000", "message": "bad"}}, "core"),
    ("onix-ack", {"message": {"status": "ACK",
                              "messageId": "a1eabf26-29f5-4a01-9d4e-4c5c9d1a3d02"}}, "onix"),
    ("empty", {}, None),
    ("ubc-unknown-status", {"message": {"ack": {"status": "OK"}}}, None),
    ("core-nack-without-error", {"transaction_id": "t", "timestamp": "2025-10-14T07:31:01Z",
                                 "ack_status": "NACK"}, None),
    ("core-bad-timestamp", {"transaction_id": "t", "timestamp": "yesterday",
                            "ack_status": "ACK"}, None),
    ("onix-unknown-status", {"message": {"status": "MAYBE"}}, None),
]


@pytest.mark.parametrize(
    ("body", "shape"), [b[1:] for b in ACK_BODIES], ids=[b[0] for b in ACK_BODIES]
)
def test_ack_shapes(body: dict[str, Any], shape: str | None) -> None:
    py, rs = _errors("ack.json", body)
    if shape is None:
        assert py and rs
        return
    assert py == [] and rs == [], (py, rs)
    ack = _schema("ack.json")
    matching = set()
    for name in ("ubc", "core", "onix"):
        sub = {"$schema": DRAFT_2020_12, "$ref": f"{ack['$id']}#/$defs/{name}"}
        validator = jsonschema_rs.validator_for(sub, registry=_rs_registry(), validate_formats=True)
        if validator.is_valid(body):
            matching.add(name)
    assert matching == {shape}
