"""The registry of checks against the rule catalogue: every rule has a check, every check
cites catalogued rules, and validate and run judge a message with the same checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import rules, schemas
from harness.checks import registry
from harness.checks.message import Message, Pipeline
from harness.validation import Item, Validator

EXAMPLE = Path(__file__).parent / "fixtures" / "ubc-examples" / "04_on_select" / \
    "ev-charging-on_select.json"


def test_every_rule_has_a_registered_check() -> None:
    missing = [rule.id for rule in rules.RULES
               if not rule.retired and not registry.for_rule(rule.id)]
    assert missing == []


def test_a_retired_rule_has_no_check() -> None:
    assert [rule.id for rule in rules.RULES if rule.retired and registry.for_rule(rule.id)] == []


def test_every_check_cites_catalogued_rules_and_a_known_scope() -> None:
    for check in registry.CHECKS:
        assert check.scope in registry.SCOPES, check.name
        assert check.rules and all(r in rules.BY_ID for r in check.rules), check.name


def test_scopes_are_asked_by_name() -> None:
    assert [c.name for c in registry.for_scope("message")] == [
        "schema_valid", "profile_warnings", "amounts_mean_what_they_say",
        "readings_in_range", "times_are_plausible", "states_consistent", "signatures_verify"]
    with pytest.raises(ValueError):
        registry.for_scope("everything")


def test_validate_and_run_judge_a_message_alike() -> None:
    raw = EXAMPLE.read_bytes()
    doc = json.loads(raw)
    doc["message"]["order"]["beckn:orderValue"]["value"] += 10
    broken = json.dumps(doc).encode()
    offline = Validator(schemas.load()).check(Item("x", broken)).findings
    online = registry.judge_message(Pipeline(schemas.load()), Message(broken, evidence=["x1"]))
    assert [f.rule for f in offline] == [f.rule for f in online]
    assert "UBC-CONS-001" in [f.rule for f in online]
    assert all("x1" in f.evidence for f in online)
