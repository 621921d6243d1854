"""`ubc-cert run` verdicts beyond pass and fail: partial runs and unjudgeable scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import exitcodes
from harness.selftest import certify_reference

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_without_test_hooks_scenarios_are_not_evaluated_and_never_certified(
        tmp_path: Path) -> None:
    result = certify_reference(tmp_path, tags="walk_in or security", hooks=False)
    assert result.exit_code == 1, result.output[-2000:]
    report = result.report
    assert report["verdict"] == "partial_failed"  # of a run limited by tags
    assert "not evaluated (the candidate declares no control_url" in report["reason"], report[
        "reason"]
    assert report["summary"]["not_evaluated"] >= 1
    skipped = [s for s in report["scenarios"] if s["status"] == "not evaluated"]
    assert all("control_url" in s["message"] for s in skipped)
    assert report["summary"]["errors"] == 0  # nothing wrong was found: it just could not look


def test_a_partial_run_is_not_a_certification(tmp_path: Path) -> None:
    result = certify_reference(tmp_path, tags="security")
    assert result.exit_code == exitcodes.PARTIAL_PASSED == 3, result.output[-2000:]
    assert result.report["verdict"] == "partial_passed"
    assert result.report["reason"] == ("partial run (tags 'security'): not a certification; "
                                       "all 9 scenarios passed with no error finding")
    assert {s["feature"] for s in result.report["scenarios"]} == {
        "The BPP refuses what it must not accept (BECKN-006, TSD §13)"}


def test_a_bad_candidate_file_could_not_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "c.toml").write_text('role = "bpp"\nsubscriber_id = "x"\n')
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--role", "bpp",
                           "--candidate", str(tmp_path / "c.toml")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "missing field 'key_id'" in done.stderr
