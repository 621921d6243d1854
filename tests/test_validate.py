"""Schema, context and profile validation of messages; `ubc-cert validate` end to end.

Every rule family is made to fire by mutating an official example, so no check can pass by
accident.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import schemas
from harness.beckn import signing
from harness.cli import main
from harness.validation import Item, Validator, parse_body

EXAMPLES = Path(__file__).parent / "fixtures" / "ubc-examples"
EXAMPLE_FILES = sorted(EXAMPLES.rglob("*.json"))
SELECT = EXAMPLES / "03_select" / "ev-charging-select.json"
ON_SELECT = EXAMPLES / "04_on_select" / "ev-charging-on_select.json"
DISCOVER = EXAMPLES / "01_discover" / "discovery-by-QR.json"
ON_STATUS = EXAMPLES / "08_02_on_status" / "ev-charging-connector-on_status.json"


@pytest.fixture(scope="module")
def schema_set() -> schemas.SchemaSet:
    return schemas.load()


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def rules_of(findings: list[Any], severity: str | None = None) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity == severity}


def test_there_are_44_official_examples() -> None:
    assert len(EXAMPLE_FILES) == 44


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_official_example_has_no_error(path: Path, schema_set: schemas.SchemaSet) -> None:
    result = Validator(schema_set).check(Item(str(path), path.read_bytes()))
    errors = [f.as_dict() for f in result.findings if f.is_error]
    assert errors == [], json.dumps(errors, indent=1)


def test_known_example_defects_are_warnings_under_named_rules(
    schema_set: schemas.SchemaSet,
) -> None:
    validator = Validator(schema_set)
    warnings: dict[str, set[str]] = {}
    for path in EXAMPLE_FILES:
        for finding in validator.check(Item(str(path), path.read_bytes())).findings:
            assert finding.severity == "warning"
            warnings.setdefault(finding.rule, set()).add(path.parent.name)
    assert warnings["UBC-SCH-101"] == {"14_02_on_update"}  # embedded invoice object
    assert warnings["UBC-SCH-102"] == {"12_on_track"}  # POWER in KWH, ENERGY in KW
    assert warnings["UBC-CONS-009"] == {"14_02_on_update"}  # refund listed beside the total
    # paidAt 2025-12-19 on messages of 2025-01-27
    assert warnings["UBC-MSG-013"] == {"06_on_status_1", "07_confirm", "08_00_on_confirm",
                                       "08_01_status", "08_02_on_status", "09_update",
                                       "10_on_update", "13_on_status", "14_01_update",
                                       "14_02_on_update", "20_on_cancel"}
    assert set(warnings) == {"UBC-SCH-101", "UBC-SCH-102", "UBC-CONS-009", "UBC-MSG-013"}


# -- mutations: each family of rule fires with the right id ---------------------------------------


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return mutate


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]
    return mutate


ORDER = ["message", "order"]
MUTATIONS: list[tuple[str, Path, Callable[[dict[str, Any]], None], str, str]] = [
    # (name, example, mutation, expected rule, expected JSON pointer prefix)
    ("context missing ttl", SELECT, _delete(["context", "ttl"]), "UBC-CTX-001", "/context/ttl"),
    ("context missing message_id", SELECT, _delete(["context", "message_id"]), "UBC-CTX-001",
     "/context/message_id"),
    ("wrong version", SELECT, _set(["context", "version"], "1.1.0"), "UBC-CTX-002",
     "/context/version"),
    ("wrong domain", SELECT, _set(["context", "domain"], "ONDC:TRV10"), "UBC-CTX-003",
     "/context/domain"),
    ("bad transaction uuid", SELECT, _set(["context", "transaction_id"], "txn-1"), "UBC-CTX-004",
     "/context/transaction_id"),
    ("bad message uuid", SELECT, _set(["context", "message_id"], "12345"), "UBC-CTX-005",
     "/context/message_id"),
    ("epoch timestamp", SELECT, _set(["context", "timestamp"], "1705314600"), "UBC-CTX-006",
     "/context/timestamp"),
    ("timestamp without zone", SELECT, _set(["context", "timestamp"], "2024-01-15T10:30:00"),
     "UBC-CTX-006", "/context/timestamp"),
    ("ttl in seconds", SELECT, _set(["context", "ttl"], "30"), "UBC-CTX-007", "/context/ttl"),
    ("ttl as number", SELECT, _set(["context", "ttl"], 30), "UBC-CTX-007", "/context/ttl"),
    ("select without bap_id", SELECT, _delete(["context", "bap_id"]), "UBC-CTX-008",
     "/context/bap_id"),
    ("select without bpp_uri", SELECT, _delete(["context", "bpp_uri"]), "UBC-CTX-009",
     "/context/bpp_uri"),
    ("on_status without bpp_id", ON_STATUS, _delete(["context", "bpp_id"]), "UBC-CTX-009",
     "/context/bpp_id"),
    ("bap_uri not a URI", SELECT, _set(["context", "bap_uri"], "example-bap"), "UBC-CTX-010",
     "/context/bap_uri"),
    ("unknown action", SELECT, _set(["context", "action"], "search"), "UBC-SCH-003",
     "/context/action"),
    ("no context", SELECT, _delete(["context"]), "UBC-SCH-002", ""),
    ("message not an object", SELECT, _set(["message"], []), "UBC-SCH-002", "/message"),
    ("select without order", SELECT, _delete(["message", "order"]), "UBC-SCH-004",
     "/message/order"),
    ("on_select order without items", ON_SELECT, _delete([*ORDER, "beckn:orderItems"]),
     "UBC-SCH-004", "/message/order/beckn:orderItems"),
    ("items as a string", SELECT, _set([*ORDER, "beckn:orderItems"], "CCS2-A"), "UBC-SCH-005",
     "/message/order/beckn:orderItems"),
    ("quantity as a string", SELECT,
     _set([*ORDER, "beckn:orderItems", 0, "beckn:quantity", "unitQuantity"], "2.5"),
     "UBC-SCH-005", "/message/order/beckn:orderItems/0/beckn:quantity/unitQuantity"),
    ("no items at all", SELECT, _set([*ORDER, "beckn:orderItems"], []), "UBC-SCH-008",
     "/message/order/beckn:orderItems"),
    ("order status not in enum", ON_SELECT, _set([*ORDER, "beckn:orderStatus"], "DONE"),
     "UBC-SCH-006", "/message/order/beckn:orderStatus"),
    ("price component type not in enum", ON_SELECT,
     _set([*ORDER, "beckn:orderValue", "components", 0, "type"], "BASE"), "UBC-SCH-006",
     "/message/order/beckn:orderValue/components/0/type"),
]


@pytest.mark.parametrize("name, example, mutate, rule, pointer", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_fires_the_right_rule(
    name: str, example: Path, mutate: Callable[[dict[str, Any]], None], rule: str, pointer: str,
    schema_set: schemas.SchemaSet,
) -> None:
    doc = load(example)
    assert not [f for f in schema_set.validate(doc) if f.is_error], "example must start valid"
    mutate(doc)
    findings = schema_set.validate(doc)
    hits = [f for f in findings if f.rule == rule]
    assert hits, f"{rule} not among {[(f.rule, f.path, f.message) for f in findings]}"
    assert any(f.path.startswith(pointer) for f in hits), [f.path for f in hits]
    assert all(f.severity == "error" for f in hits)


def test_format_in_message_is_enforced(schema_set: schemas.SchemaSet) -> None:
    doc = load(SELECT)
    doc["message"]["order"]["beckn:orderAttributes"]["preferences"]["startTime"] = "tomorrow"
    findings = schema_set.validate(doc)
    assert "UBC-SCH-007" in rules_of(findings), [(f.rule, f.path) for f in findings]


def test_wrong_action_for_the_schema(schema_set: schemas.SchemaSet) -> None:
    # A select body labelled on_rating is judged by on_rating's schema, and fails it.
    doc = load(SELECT)
    doc["context"]["action"] = "on_rating"
    assert {"UBC-SCH-004"} <= rules_of(schema_set.validate(doc))
    # Sent to /select but labelled confirm: the route and the context disagree.
    doc = load(SELECT)
    doc["context"]["action"] = "confirm"
    findings = schema_set.validate(doc, expected_action="select")
    assert "UBC-CTX-011" in rules_of(findings)


def test_discover_needs_no_bpp_but_every_other_call_does(schema_set: schemas.SchemaSet) -> None:
    assert not schema_set.validate(load(DISCOVER))
    doc = load(DISCOVER)
    del doc["context"]["bap_uri"]
    assert rules_of(schema_set.validate(doc)) == {"UBC-CTX-008"}


def test_publish_carries_no_bap_fields(schema_set: schemas.SchemaSet) -> None:
    doc = load(EXAMPLES / "21_publish" / "ev-charging-catalog-publish.json")
    assert "bap_id" not in doc["context"]
    assert not [f for f in schema_set.validate(doc) if f.is_error]


def test_profile_warnings(schema_set: schemas.SchemaSet) -> None:
    validator = Validator(schema_set)
    doc = load(ON_SELECT)
    doc["message"]["order"]["beckn:orderValue"]["components"][0]["type"] = "TAX"
    doc["context"]["bapId"] = doc["context"]["bap_id"]
    doc["context"]["schema_context"] = ["https://example.com/ctx.jsonld"]
    result = validator.check(Item("x", json.dumps(doc).encode()))
    # schema_context outside discover is no finding: core allows it on every action
    assert rules_of(result.findings) == {"UBC-SCH-103", "UBC-CTX-019"}
    assert result.errors == 0


def test_ack_shapes(schema_set: schemas.SchemaSet) -> None:
    assert schema_set.validate_ack({"message": {"ack": {"status": "ACK"}}}) == []
    nack = {"message": {"ack": {"status": "NACK"}}, "error": {"code": "30001", "message": "x"}}
    assert schema_set.validate_ack(nack) == []
    core = {"transaction_id": "2b4d69aa-22e4-4c78-9f56-5a7b9e2b2002",
            "timestamp": "2024-01-15T10:30:00Z", "ack_status": "ACK"}
    assert rules_of(schema_set.validate_ack(core)) == {"UBC-SCH-010"}
    onix = {"message": {"status": "ACK", "messageId": "bb9f86db-9a3d-4e9c-8c11-81c8f1a7b901"}}
    assert rules_of(schema_set.validate_ack(onix)) == {"UBC-SCH-010"}
    assert rules_of(schema_set.validate_ack({"status": "ok"})) == {"UBC-SCH-009"}
    assert rules_of(schema_set.validate_ack({"message": {"ack": {"status": "YES"}}})) == {
        "UBC-SCH-009"}


# -- bad input is a finding, not a traceback ---------------------------------------------------


@pytest.mark.parametrize("body, rule, text", [
    (b"", "UBC-SCH-001", "empty"),
    (b"   \n", "UBC-SCH-001", "empty"),
    (b'{"context": ', "UBC-SCH-001", "not JSON"),
    (b'\xff\xfe{"a":1}', "UBC-SCH-001", "not UTF-8"),
    (b'{"context": {}, "message": {}, "x": NaN}', "UBC-SCH-001", "NaN"),
    (b"[1, 2]", "UBC-SCH-002", "list"),
    (b'"text"', "UBC-SCH-002", "str"),
])
def test_unparseable_bodies(body: bytes, rule: str, text: str,
                            schema_set: schemas.SchemaSet) -> None:
    findings = Validator(schema_set).check(Item("f", body)).findings
    assert [f.rule for f in findings] == [rule]
    assert text in findings[0].message


def test_big_integers_and_lone_surrogates_are_still_json() -> None:
    assert parse_body(b'{"n": 123456789012345678901234567890}')[1] is None
    assert parse_body(b'{"s": "\\ud800"}')[1] is None


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_validates_the_examples_folder_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "validate", "--format", "json", str(EXAMPLES))
    assert code == 0
    report = json.loads(out)
    assert report["messages"] == 44 and report["errors"] == 0 \
        and report["warnings"] == 23  # 8 known defects, 15 paidAt after its message (MSG-013)
    first = report["results"][0]
    assert set(first) == {"source", "action", "message_id", "findings"}
    assert first["action"] == "discover"
    finding = next(f for r in report["results"] for f in r["findings"])
    assert set(finding) >= {"rule", "severity", "path", "message", "spec"}


def test_cli_bad_files_are_findings_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "empty.json": b"",
        "broken.json": b'{"context": {"action": "select"',
        "latin1.json": "{\"note\": \"caf\u00e9\"}".encode("latin-1"),
        "nocontext.json": b'{"message": {}}',
        "unknown.json": json.dumps({**load(SELECT), "context": {
            **load(SELECT)["context"], "action": "teleport"}}).encode(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    big = tmp_path / "huge.json"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    code, out, err = cli(capsys, "validate", "--format", "json", str(tmp_path))
    assert code == 1, err
    assert "Traceback" not in err
    by_source = {Path(r["source"]).name: r for r in json.loads(out)["results"]}
    assert set(by_source) == {*files, "huge.json"}
    expectations = {
        "empty.json": "UBC-SCH-001", "broken.json": "UBC-SCH-001", "latin1.json": "UBC-SCH-001",
        "nocontext.json": "UBC-SCH-002", "unknown.json": "UBC-SCH-003",
        "huge.json": "UBC-SCH-012",
    }
    for name, rule in expectations.items():
        assert rule in {f["rule"] for f in by_source[name]["findings"]}, (name, by_source[name])


def test_cli_missing_path_is_exit_2_but_other_paths_are_still_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "validate", "/nonexistent/x.json", str(SELECT))
    assert code == 2
    assert "/nonexistent/x.json: no such file or folder" in err
    assert "1 message(s): 0 error(s)" in out


def test_cli_text_output_names_file_rule_and_pointer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = load(SELECT)
    doc["context"]["ttl"] = "thirty seconds"
    bad = tmp_path / "bad-select.json"
    bad.write_text(json.dumps(doc))
    code, out, _ = cli(capsys, "validate", str(bad))
    assert code == 1
    assert "bad-select.json" in out and "UBC-CTX-007 at /context/ttl" in out


# -- NDJSON captures with signatures -----------------------------------------------------------


def _capture(tmp_path: Path) -> tuple[Path, Path]:
    bap = signing.KeyPair.generate("example-bap.com", "k1")
    bpp = signing.KeyPair.generate("example-bpp.com", "k1")
    select = SELECT.read_bytes()
    on_select = ON_SELECT.read_bytes()
    lines = [
        {"headers": {"Authorization": signing.Signer.from_keypair(bap).sign(select)},
         "body": select.decode()},
        # the BPP's callback, tampered after signing
        {"headers": {"authorization": signing.Signer.from_keypair(bpp).sign(on_select)},
         "body": on_select.decode().replace("Ravi Kumar", "Ravi Kumat")},
        # a callback signed by the BAP's key: keyId names the wrong party
        {"headers": {"Authorization": signing.Signer.from_keypair(bap).sign(on_select)},
         "body": on_select.decode()},
        # unsigned
        {"headers": {}, "body": select.decode()},
        load(DISCOVER),  # a bare message: no signature to check
    ]
    capture = tmp_path / "capture.ndjson"
    capture.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"example-bap.com|k1": bap.signing_public_key,
                                "example-bpp.com|k1": bpp.signing_public_key}))
    return capture, keys


def test_cli_verifies_capture_signatures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture, keys = _capture(tmp_path)
    code, out, _ = cli(capsys, "validate", "--format", "json", "--keys", str(keys), str(capture))
    assert code == 1
    results = json.loads(out)["results"]
    assert [r["source"].rsplit(":", 1)[1] for r in results] == ["1", "2", "3", "4", "5"]
    rules = [{f["rule"] for f in r["findings"] if f["severity"] == "error"} for r in results]
    assert rules == [set(), {"UBC-SIG-009"}, {"UBC-SIG-011"}, {"UBC-SIG-001"}, set()]


def test_cli_without_keys_checks_only_schemas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture, _ = _capture(tmp_path)
    code, out, _ = cli(capsys, "validate", "--format", "json", str(capture))
    assert code == 0
    assert json.loads(out)["messages"] == 5


@pytest.mark.parametrize("content, message", [
    ("[]", "must be a JSON object"),
    ('{"a": "key"}', 'must be "subscriber_id|key_id"'),
    ('{"a|b": "short"}', "entry 'a|b'"),
    ("{", "not JSON"),
])
def test_cli_bad_keys_file_is_exit_2(content: str, message: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(content)
    code, _, err = cli(capsys, "validate", "--keys", str(keys), str(SELECT))
    assert code == 2 and message in err


def test_bad_capture_records_are_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "c.jsonl"
    capture.write_text('{"headers": {}, "body": {"not": "a string"}}\nnot json\n')
    code, out, _ = cli(capsys, "validate", "--format", "json", str(capture))
    assert code == 1
    results = json.loads(out)["results"]
    assert [r["findings"][0]["rule"] for r in results] == ["UBC-SCH-001", "UBC-SCH-001"]
    assert results[0]["findings"][0]["path"] == "/body"


def test_deepcopy_guard() -> None:
    # The mutation table must never share state between cases.
    assert copy.deepcopy(load(SELECT)) == load(SELECT)


def test_quote_total_must_add_up(schema_set: schemas.SchemaSet) -> None:
    doc = load(ON_SELECT)
    doc["message"]["order"]["beckn:orderValue"]["value"] = 150.0
    result = Validator(schema_set).check(Item("x", json.dumps(doc).encode()))
    assert rules_of(result.findings, "error") == {"UBC-CONS-001"}
    doc["message"]["order"]["beckn:orderValue"]["value"] = 143.95
    doc["message"]["order"]["beckn:orderValue"]["components"][0]["currency"] = "USD"
    result = Validator(schema_set).check(Item("x", json.dumps(doc).encode()))
    assert rules_of(result.findings, "error") == {"UBC-CONS-007"}


def test_error_callback_may_omit_the_order(schema_set: schemas.SchemaSet) -> None:
    doc = load(EXAMPLES / "04_on_select" / "ev-charging-on_select-Rejected.json")
    del doc["message"]["order"]
    assert not [f for f in schema_set.validate(doc) if f.is_error]
    doc["error"] = {}
    assert "UBC-SCH-004" in rules_of(schema_set.validate(doc))


def test_alternatives_are_explained_by_the_closest_form(schema_set: schemas.SchemaSet) -> None:
    doc = load(EXAMPLES / "14_02_on_update" / "ev-charging-completed-on_update.json")
    doc["message"]["order"]["beckn:invoice"] = {"@type": "beckn:Invoice", "beckn:totals": {}}
    findings = schema_set.validate(doc)
    assert [(f.rule, f.path) for f in findings] == [
        ("UBC-SCH-004", "/message/order/beckn:invoice/beckn:id")]
    doc = load(SELECT)
    doc["context"]["action"] = "on_rating"
    finding = next(f for f in schema_set.validate(doc) if f.rule == "UBC-SCH-004")
    assert finding.expected == ["received", "aggregate", "feedbackForm"]


def test_callback_error_codes_come_from_beckn_005(schema_set: schemas.SchemaSet) -> None:
    doc = load(EXAMPLES / "04_on_select" / "ev-charging-on_select-Rejected.json")
    validator = Validator(schema_set)
    assert "UBC-SCH-104" not in rules_of(validator.check(Item("x", json.dumps(doc).encode()))
                                         .findings)
    doc["error"]["code"] = "SLOT_TAKEN"
    findings = validator.check(Item("x", json.dumps(doc).encode())).findings
    assert [(f.rule, f.severity) for f in findings] == [("UBC-SCH-104", "warning")]
