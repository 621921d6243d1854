"""The self-test's runs (harness/selftest.py) reuse one port base for minutes, and the ports are
free between runs: another test on the machine may hold one of them for a moment. A run that
could not start for that is run again, and only its second report is kept."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness import exitcodes
from harness.selftest import PORT_RETRY_S, ReferenceProcess
from harness.servers import bind

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_a_run_whose_port_is_held_for_a_moment_is_run_again(tmp_path: Path) -> None:
    with ReferenceProcess(tmp_path / "reference", preloaded=True) as reference:
        held = bind(reference.base + 3)  # the harness BAP's port, taken by someone else
        releaser = threading.Timer(PORT_RETRY_S / 2, held.close)
        releaser.start()
        try:
            result = reference.certify(tags="walk_in", report_dir=tmp_path / "reports")
        finally:
            releaser.cancel()
            held.close()
    assert result.exit_code == exitcodes.PARTIAL_PASSED, result.output[-3000:]
    assert len(list((tmp_path / "reports").glob("*/report.json"))) == 1  # the set-aside one gone


def test_a_port_held_for_good_still_ends_in_could_not_run(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr("harness.selftest.PORT_RETRY_S", 0.1)
    with ReferenceProcess(tmp_path / "reference", preloaded=True) as reference:
        held = bind(reference.base + 3)
        try:
            result = reference.certify(tags="walk_in", report_dir=tmp_path / "reports")
        finally:
            held.close()
    assert result.exit_code == exitcodes.COULD_NOT_RUN
    assert "Address already in use" in result.output
