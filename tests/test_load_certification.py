"""`ubc-cert load` against the reference BPP, run as its own process as an implementer's server
would be: a short clean load passes with sane numbers and the slot race won by exactly one
BAP; lost callbacks are counted and fail the SLO; a race lost with the wrong error code is a
finding; a master with two local workers merges their measurements; a candidate out of reach
cannot be loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import exitcodes
from harness.selftest import ReferenceProcess

LOAD_BOUND_S = 60.0
WALK_IN = ("select", "init", "confirm", "status")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceProcess]:
    with ReferenceProcess(tmp_path_factory.mktemp("load")) as started:
        yield started


def load(reference: ReferenceProcess, report_dir: Path, *options: str
         ) -> tuple[int, dict[str, Any], str]:
    """One `ubc-cert load --format json`: its exit code, load.json (as printed) and the text."""
    done = reference.load(report_dir, *options, timeout=LOAD_BOUND_S)
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, document, done.stderr


def rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{r['type']} {r['name']}": r for r in document["measurements"]["rows"]}


@pytest.mark.network
@pytest.mark.slow
def test_a_short_load_of_the_reference_passes_with_sane_numbers(
        reference: ReferenceProcess, tmp_path: Path) -> None:
    reference.switch_faults(())
    code, document, text = load(reference, tmp_path, "--sessions", "20", "--concurrency", "4",
                                "--ttl", "PT5S", "--slo", "p99_callback=5s,p99_ack=5s")
    assert code == exitcodes.OK, text
    assert document["verdict"] == "passed" and document["findings"] == []
    assert document["sessions"] == {"asked": 20, "started": 20, "completed": 20, "failed": 0}
    measured = rows(document)
    for action in WALK_IN:
        ack, answer = measured[f"ACK {action}"], measured[f"callback on_{action}"]
        assert (ack["count"], ack["failures"], answer["count"], answer["failures"]) == \
            (20, 0, 20, 0), action
    together = measured["callback *"]
    assert together["measured"] == 80
    assert 0 <= together["p50_ms"] <= together["p99_ms"] <= together["max_ms"] < 5000
    assert measured["session walk-in"]["measured"] == 20
    assert document["callbacks"]["lost"] == document["callbacks"]["late"] == 0
    assert document["callbacks"]["refused"] == 0
    assert document["throughput"]["sessions_per_s"] > 0
    assert all(objective["met"] for objective in document["slo"])
    assert "p99_callback <= 5 s" in [o["objective"] for o in document["slo"]]
    # The race: both BAPs asked for one slot at once; exactly one holds it.
    [race] = document["races"]
    outcomes = sorted((r["bap_id"], r["outcome"], r.get("code")) for r in race["rivals"])
    assert [o[1] for o in outcomes].count("confirmed") == 1
    assert ("refused", "40000") in [(o[1], o[2]) for o in outcomes]
    assert {o[0] for o in outcomes} == {"bap.mock.ubc", "other-bap.mock.ubc"}
    run_dir = Path(document["run_dir"])
    assert json.loads((run_dir / "load.json").read_text()) == document
    callbacks = [json.loads(line) for line in
                 (run_dir / "transcript.ndjson").read_text().splitlines()]
    assert sum(1 for c in callbacks if (c["action"] or "").startswith("on_")) >= 86
    for words in ("ACK select", "callback on_confirm", "slot race:", "verdict: PASSED"):
        assert words in text


@pytest.mark.network
@pytest.mark.slow
def test_lost_callbacks_are_counted_and_fail_the_slo(
        reference: ReferenceProcess, tmp_path: Path) -> None:
    reference.switch_faults(("missing-callback",))
    try:
        code, document, text = load(reference, tmp_path, "--sessions", "3", "--concurrency",
                                    "3", "--ttl", "PT1S", "--races", "0",
                                    "--slo", "p99_ack=5s")
    finally:
        reference.switch_faults(())
    assert code == exitcodes.FAILED, text
    assert document["verdict"] == "failed" and document["findings"] == []
    assert document["callbacks"]["lost"] == 3 and document["callbacks"]["late"] == 0
    assert document["sessions"]["completed"] == 0 and document["sessions"]["failed"] == 3
    [lost] = [f for f in document["measurements"]["failures"] if f["kind"] == "lost"]
    assert (lost["type"], lost["name"], lost["count"]) == ("callback", "on_select", 3)
    assert rows(document)["callback on_select"]["measured"] == 0  # no time for what never came
    results = {o["key"]: o["met"] for o in document["slo"]}
    assert results == {"errors": True, "timeouts": True, "lost": False, "late": True,
                       "p99_ack": True}
    assert "lost <= 0" in document["reason"]


@pytest.mark.network
@pytest.mark.slow
def test_a_race_lost_with_another_code_than_40000_is_a_finding(
        reference: ReferenceProcess, tmp_path: Path) -> None:
    reference.switch_faults(("refuses-with-generic-code",))
    try:
        code, document, text = load(reference, tmp_path, "--sessions", "4",
                                    "--concurrency", "2", "--ttl", "PT5S")
    finally:
        reference.switch_faults(())
    assert code == exitcodes.FAILED, text
    [finding] = document["findings"]
    assert finding["rule"] == "UBC-STATE-013" and finding["spec"] == "UBC TSD §12.4"
    # once under a loaded full suite both BAPs were refused: the report says how, if it recurs
    assert (finding["expected"], finding["actual"]) == ("40000", "50000"), text
    assert all(objective["met"] for objective in document["slo"])  # a refusal is no error
    assert "UBC-STATE-013" in text


@pytest.mark.network
@pytest.mark.slow
def test_a_master_with_two_local_workers_merges_their_measurements(
        reference: ReferenceProcess, tmp_path: Path) -> None:
    reference.switch_faults(())
    code, document, text = load(reference, tmp_path, "--sessions", "20", "--concurrency", "4",
                                "--ttl", "PT5S", "--workers", "2")
    assert code == exitcodes.OK, text
    assert document["workers"] == 2
    measured = rows(document)
    assert [measured[f"ACK {a}"]["count"] for a in WALK_IN] == [20, 20, 20, 20]
    assert measured["callback *"]["measured"] == 80
    assert document["sessions"]["completed"] == 20 and len(document["races"]) == 1
    run_dir = Path(document["run_dir"])
    assert (run_dir / "worker-1.log").exists() and (run_dir / "worker-2.log").exists()
    assert "2 workers" in text


@pytest.mark.network
def test_a_candidate_out_of_reach_cannot_be_loaded(tmp_path: Path) -> None:
    candidate = tmp_path / "cand.toml"
    candidate.write_text('role = "bpp"\nsubscriber_id = "gone.example"\n'
                         'key_id = "gone.example-k1"\n'
                         'signing_public_key = "JHfX1TliWkqzaxRIspApw93pQoweXTlpaacGHTehqeY="\n'
                         'uri = "http://127.0.0.1:9/beckn"\n')
    done = subprocess.run([sys.executable, "-m", "harness.cli", "load", "--role", "bpp",
                           "--candidate", str(candidate), "--report-dir", str(tmp_path),
                           "--wait", "1", "--state-dir", str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=LOAD_BOUND_S, check=False)
    assert done.returncode == exitcodes.COULD_NOT_RUN, done.stdout + done.stderr
    assert "not reachable at http://127.0.0.1:9/beckn" in done.stdout
    [written] = tmp_path.glob("*/load.json")
    assert json.loads(written.read_text())["verdict"] == "could_not_run"


def test_options_are_checked_before_anything_starts(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["load", "--role", "bpp"]) == exitcodes.COULD_NOT_RUN
    assert "--candidate FILE are required" in capsys.readouterr().err
    candidate = tmp_path / "cand.toml"
    candidate.write_text("role = 'bpp'\n")
    assert main(["load", "--role", "bpp", "--candidate", str(candidate),
                 "--slo", "p99_callback=soon"]) == exitcodes.COULD_NOT_RUN
    assert "p99_callback=soon" in capsys.readouterr().err
    assert main(["load", "--role", "bpp", "--candidate", str(candidate), "--workers", "3",
                 "--expect-workers", "2"]) == exitcodes.COULD_NOT_RUN
    assert list(tmp_path.iterdir()) == [candidate]  # no run folder for a refused command
