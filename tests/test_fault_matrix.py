"""Self-test: the reference BPP, run as its own process, is certified; with each fault switch
(switched at run time on one process per worker) it is not, and that fault's rule is among the
findings of the scenarios where the fault shows."""

from __future__ import annotations

import pytest

from harness.fault_matrix import CLEAN, Row
from mocks.bpp import FAULTS

# The matrix (a dozen and more certification runs, two at a time) is built once per session
# (tests/conftest.py `fault_matrix`); the audit tests read the same runs.
pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def matrix(fault_matrix: dict[str, Row]) -> dict[str, Row]:
    return fault_matrix


def test_the_clean_reference_bpp_is_certified(matrix: dict[str, Row]) -> None:
    clean = matrix[CLEAN].result
    assert clean.exit_code == 0, clean.output[-3000:]
    assert clean.report["verdict"] == "certified"
    assert clean.report["summary"]["errors"] == 0
    assert clean.report["summary"]["not_evaluated"] == 0


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_detected_with_its_rule(fault: str, matrix: dict[str, Row]) -> None:
    row = matrix[fault]
    assert row.result.exit_code == 1, row.result.output[-3000:]
    assert row.rule in row.result.error_rules, (
        f"{fault}: expected {row.rule}, found {sorted(row.result.error_rules)}")
