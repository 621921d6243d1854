"""`ubc-cert run --role bap` certifies the reference BAP (`ubc-cert reference bap`, its own
process) through its /v1 client API: certified as it is, and not certified, naming its rule,
with each of its fault switches on (the BAP fault matrix, harness/fault_matrix.py, run once
for the module with two reference processes switching faults at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import exitcodes
from harness.fault_matrix import CLEAN, Row, run_matrix
from harness.selftest import SelfTestResult
from mocks.bap import FAULTS

pytestmark = pytest.mark.network

@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Row]:
    rows = run_matrix({name: fault.rule for name, fault in FAULTS.items()}, role="bap",
                      workdir=tmp_path_factory.mktemp("bap-fault-matrix"))
    return {row.fault: row for row in rows}


def test_the_reference_bap_is_certified(matrix: dict[str, Row]) -> None:
    result = matrix[CLEAN].result
    assert result.exit_code == exitcodes.OK, result.output
    assert result.report["verdict"] == "certified"
    transcript = (result.report_path or Path()).parent / "transcript.ndjson"
    text = transcript.read_text()
    assert '"party":"client-api"' in text.replace(" ", "")  # the /v1 calls are evidence
    root = (result.report_path or Path()).parents[3]  # <root>/reports/none/<run>/report.json
    tokens = [c.read_text().split("client_api_token = ")[1].split('"')[1]
              for c in root.glob("worker-*/candidate.toml")]
    assert tokens and not any(token in text for token in tokens)  # the Bearer token is not


# accepts-bad-signature shows only in the security probes (harness.fault_matrix.shows_in).
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_bap_is_not_certified_with_its_rule(matrix: dict[str, Row], fault: str) -> None:
    row = matrix[fault]
    assert row.result.exit_code == exitcodes.FAILED, row.result.output
    assert row.rule in row.result.error_rules, (row.result.error_rules, row.result.output)


def test_the_bap_has_at_least_eight_fault_switches() -> None:
    assert len(FAULTS) >= 8


# -- the security scenarios, read from the same runs --------------------------------------------

def _security(result: SelfTestResult) -> list[dict[str, Any]]:
    return [s for s in result.report["scenarios"] if "refuses callbacks" in s["feature"]]


def test_the_reference_bap_passes_the_security_scenarios(matrix: dict[str, Row]) -> None:
    """The clean run is the whole BAP run (walk-in and security): a certification."""
    security = _security(matrix[CLEAN].result)
    assert len(security) == 7, matrix[CLEAN].result.report["scenarios"]
    assert {s["status"] for s in security} == {"passed"}, security


def test_a_bap_that_accepts_bad_signatures_is_not_certified(matrix: dict[str, Row]) -> None:
    result = matrix["accepts-bad-signature"].result
    assert result.exit_code == exitcodes.FAILED, result.output
    assert "UBC-SIG-013" in result.error_rules, (result.error_rules, result.output)
    # The tampered on_status it applied cancels the order, and an ended order is not asked
    # about again (mocks/bap/service.py refresh): the driver is shown it CANCELLED.
    assert "UBC-API-004" in result.error_rules, (result.error_rules, result.output)


def test_probes_of_a_bap_that_nacks_every_callback_are_not_evaluated(
        matrix: dict[str, Row]) -> None:
    """Refusing every callback is no proof of refusing bad ones: without an accepted control
    the security scenarios are not evaluated, with a diagnosis, and never passed."""
    result = matrix["nacks-every-callback"].result
    assert result.exit_code == exitcodes.FAILED, result.output
    security = _security(result)
    assert security and {s["status"] for s in security} == {"not evaluated"}, security
    assert all("your app refused a correctly signed" in s["message"]
               and "/lookup" in s["message"] for s in security), security
    assert "UBC-SCH-013" in result.error_rules


# -- the corner cases, read from the same runs ---------------------------------------------------

def _corners(result: SelfTestResult) -> list[dict[str, Any]]:
    return [s for s in result.report["scenarios"] if "told from the driver's app" in s["feature"]]


def test_the_reference_bap_passes_the_corner_cases(matrix: dict[str, Row]) -> None:
    corners = _corners(matrix[CLEAN].result)
    assert len(corners) == 3 and {s["status"] for s in corners} == {"passed"}, corners


def test_a_bap_that_ignores_unsolicited_callbacks_shows_no_refund(matrix: dict[str, Row]
                                                                  ) -> None:
    """Besides the missing confirm of the walk-in (UBC-API-002), the interruption and the
    early stop show the driver a payment the BPP reported REFUNDED as PAID (UBC-API-008)."""
    result = matrix["ignores-unsolicited-status"].result
    assert "UBC-API-008" in result.error_rules, (result.error_rules, result.output)
    failed = [s["name"] for s in _corners(result) if s["status"] == "failed"]
    assert len(failed) == 2 and not any("overlapping" in name for name in failed), failed


def test_a_bap_that_quotes_a_rejected_select_fails_only_the_overlap(matrix: dict[str, Row]
                                                                    ) -> None:
    result = matrix["quotes-a-rejected-select"].result
    failed = [s for s in _corners(result) if s["status"] != "passed"]
    assert [s["name"] for s in failed] == [
        "An overlapping slot is refused, and the app tells the driver so (§12.4)"], failed
    assert "UBC-API-009" in failed[0]["message"]
