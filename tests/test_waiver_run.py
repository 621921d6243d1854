"""`ubc-cert run --waivers`: the reference BPP with a fault switched on, certified with a waiver
for the fault's rule — the findings are kept, marked waived, and the run is certified with the
waiver listed in its certificate; a waiver past its date or for another candidate is ignored
with a warning, and what it would have covered still fails the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import exitcodes
from harness.report import certificate
from harness.selftest import ReferenceProcess, SelfTestResult

pytestmark = pytest.mark.network

APPROVER = "A. Operator <operator@example.com>"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceProcess]:
    with ReferenceProcess(tmp_path_factory.mktemp("waived-bpp"), preloaded=True) as process:
        yield process


def _waiver_file(path: Path, *entries: tuple[str, str, str]) -> str:
    """(rule, subscriber id, expires) each, as a waiver file."""
    path.write_text("".join(
        f'[[waiver]]\nrule = "{rule}"\nsubscriber_id = "{subscriber}"\n'
        f'reason = "accepted for the test"\napproved_by = "{APPROVER}"\nexpires = {expires}\n'
        for rule, subscriber, expires in entries), encoding="utf-8")
    return str(path)


def _waived(result: SelfTestResult) -> list[dict[str, Any]]:
    return [f for f in result.report["findings"] if f.get("status") == "waived"]


def _subscriber(reference: ReferenceProcess) -> str:
    line = next(x for x in reference.candidate.read_text().splitlines()
                if x.startswith("subscriber_id"))
    return line.split('"')[1]


def test_a_waived_rule_leaves_a_fault_run_certified(reference: ReferenceProcess,
                                                    tmp_path: Path) -> None:
    me = _subscriber(reference)
    reference.switch_faults(("quote-total-mismatch",))
    waivers = _waiver_file(tmp_path / "waivers.toml", ("UBC-CONS-001", me, "2099-12-31"),
                           ("UBC-CONS-004", me, "2020-01-31"),
                           ("UBC-CONS-001", "other-cpo.example.com", "2099-12-31"))
    result = reference.certify(options=("--waivers", waivers))
    assert result.exit_code == exitcodes.OK, result.output[-4000:]
    assert result.report["verdict"] == "certified" and result.error_rules == set()
    waived = _waived(result)
    assert waived and {f["rule"] for f in waived} == {"UBC-CONS-001"}, waived
    assert all(f["waiver"]["approved_by"] == APPROVER for f in waived)
    section = result.report["waivers"]
    assert [(u["rule"], u["findings"]) for u in section["used"]] == [
        ("UBC-CONS-001", len(waived))]
    warnings = [f"waiver 2 (UBC-CONS-004 for {me}) ignored: expired on 2020-01-31",
                "waiver 3 (UBC-CONS-001 for other-cpo.example.com) ignored: granted to "
                f"other-cpo.example.com, not to the candidate {me}"]
    assert section["warnings"] == warnings
    assert all(f"warning: {w}" in result.output for w in warnings), result.output[-4000:]
    run_dir = (result.report_path or Path()).parent
    assert json.loads((run_dir / "certificate.json").read_text())["waivers"] == section["used"]
    assert certificate.verify(run_dir).valid


def test_an_expired_waiver_does_not_apply_and_the_run_fails_on_it(reference: ReferenceProcess,
                                                                  tmp_path: Path) -> None:
    """The BPP's quote does not add up (waived: the walk goes on past on_select) and on_init
    raises the price (its waiver expired: that fails the run)."""
    me = _subscriber(reference)
    reference.switch_faults(("quote-total-mismatch", "changes-price-after-select"))
    waivers = _waiver_file(tmp_path / "waivers.toml", ("UBC-CONS-001", me, "2099-12-31"),
                           ("UBC-CONS-004", me, "2020-01-31"))
    result = reference.certify(tags="walk_in", options=("--waivers", waivers))
    assert result.exit_code not in (exitcodes.OK, exitcodes.COULD_NOT_RUN), result.output[-4000:]
    assert "UBC-CONS-004" in result.error_rules and "UBC-CONS-001" not in result.error_rules
    assert {f["rule"] for f in _waived(result)} == {"UBC-CONS-001"}
    assert f"warning: waiver 2 (UBC-CONS-004 for {me}) ignored: expired on 2020-01-31" in \
        result.output
    run_dir = (result.report_path or Path()).parent
    assert not (run_dir / "certificate.json").exists()
    body = json.loads((run_dir / "result.json").read_text())
    assert [w["rule"] for w in body["waivers"]] == ["UBC-CONS-001"]
