"""Every rule in the catalogue is made to fire by at least one test: a check that cannot fail
is a defect. A rule id that appears in no test (other than this file) fails the suite."""

from __future__ import annotations

from pathlib import Path

from harness import rules

TESTS = Path(__file__).parent


def test_every_rule_is_exercised_by_a_test() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in TESTS.rglob("*.py")
                     if p.name != Path(__file__).name)
    # The fault matrix (tests/test_fault_matrix.py) certifies the reference BPP with every
    # fault switch and requires that fault's rule among the findings.
    from mocks.bpp import FAULTS

    proven_by_faults = {fault.rule for fault in FAULTS.values()}
    missing = [rule.id for rule in rules.RULES if not rule.retired
               and rule.id not in text and rule.id not in proven_by_faults]
    assert missing == [], f"rules no test makes fire: {missing}"


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in rules.RULES]
    assert len(ids) == len(set(ids))
    families = {"SIG", "SCH", "CTX", "TIME", "STATE", "CONS", "MSG", "API"}
    for rule in rules.RULES:
        _, family, number = rule.id.split("-")
        assert family in families and number.isdigit() and len(number) == 3, rule.id
        assert rule.severity in (rules.ERROR, rules.WARNING) and rule.spec and rule.title
