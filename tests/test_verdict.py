"""The verdict of a run, its reason and its exit code (no server), and how a stop signal ends a
run: once, promptly, even in the middle of a wait, and never while its evidence is written."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from harness import exitcodes
from harness.certify import verdict as verdicts
from harness.certify.interruption import MAX_TIME, SIGINT, Interrupted, Stop, StopSignals
from harness.certify.plugin import (
    FAILED,
    HARNESS_ERROR,
    INTERRUPTED,
    NOT_EVALUATED,
    NOT_RUN,
    PASSED,
    ScenarioResult,
)
from harness.findings import Finding


def scenario(n: int, status: str, message: str = "") -> ScenarioResult:
    return ScenarioResult(f"bpp.py::test_{n}", "Feature", f"Scenario {n}", ["walk_in"], status,
                          message)


def error(rule: str) -> Finding:
    return Finding(rule, "wrong")


def test_a_full_run_that_passed_is_certified_and_exits_0() -> None:
    results = [scenario(1, PASSED), scenario(2, PASSED)]
    verdict = verdicts.judge(0, results, [("bpp.py::test_1", Finding("UBC-TIME-001", "slow",
                                                                     severity="warning"))],
                             None)
    assert (verdict.name, verdict.exit_code) == ("certified", exitcodes.OK)
    assert verdict.reason == "all 2 scenarios passed with no error finding"


def test_failed_scenarios_are_named_by_their_rules_most_frequent_first() -> None:
    results = [scenario(1, FAILED), scenario(2, FAILED), scenario(3, FAILED), scenario(4, PASSED)]
    findings = [("bpp.py::test_1", error("UBC-TIME-003")), ("bpp.py::test_2", error("UBC-SIG-009")),
                ("bpp.py::test_3", error("UBC-SIG-009")), ("bpp.py::test_3", error("UBC-SIG-009"))]
    verdict = verdicts.judge(1, results, findings, None)
    assert (verdict.name, verdict.exit_code) == ("not_certified", exitcodes.FAILED)
    assert verdict.reason == "3 scenarios failed: UBC-SIG-009 (2), UBC-TIME-003"


def test_a_scenario_not_evaluated_is_never_a_certification() -> None:
    results = [scenario(1, PASSED),
               scenario(2, NOT_EVALUATED, "not evaluated: the candidate declares no control_url")]
    verdict = verdicts.judge(0, results, [], None)
    assert verdict.name == "not_certified"
    assert verdict.reason == ("1 scenario not evaluated (the candidate declares no "
                              "control_url)")


def test_a_long_reason_for_not_evaluating_is_cut_at_a_word() -> None:
    why = "not evaluated: blocked by the candidate's catalog not reaching the BAP through the " \
          "CDS in \"Asking for support (TSD §11.1): The driver asks for support\""
    verdict = verdicts.judge(0, [scenario(1, NOT_EVALUATED, why)], [], None)
    assert verdict.reason == ("1 scenario not evaluated (blocked by the candidate's catalog not "
                              "reaching the BAP through the CDS in \"Asking for support (TSD "
                              "§11.1): The driver …)")


def test_an_error_of_the_end_of_run_sweep_is_no_certification() -> None:
    verdict = verdicts.judge(0, [scenario(1, PASSED)], [("", error("UBC-TIME-004"))], None)
    assert verdict.name == "not_certified"
    assert verdict.reason == "UBC-TIME-004 found by the end-of-run checks"


def test_a_partial_run_never_exits_0() -> None:
    passed = verdicts.judge(0, [scenario(1, PASSED)], [], "walk_in")
    assert (passed.name, passed.exit_code) == ("partial_passed", exitcodes.PARTIAL_PASSED)
    assert passed.exit_code == 3
    assert passed.reason == ("partial run (tags 'walk_in'): not a certification; 1 scenario "
                             "passed with no error finding")
    failed = verdicts.judge(1, [scenario(1, FAILED)], [("bpp.py::test_1", error("UBC-SIG-009"))],
                            "walk_in")
    assert (failed.name, failed.exit_code) == ("partial_failed", exitcodes.FAILED)
    assert failed.reason == ("partial run (tags 'walk_in'): not a certification; 1 scenario "
                             "failed: UBC-SIG-009")


@pytest.mark.parametrize(("code", "results", "tags", "reason"), [
    (0, [], None, "no scenario ran"),
    (5, [], "nothing", "no scenario matches the tags 'nothing'"),
    (1, [scenario(1, PASSED), scenario(2, HARNESS_ERROR, "TypeError: boom")], None,
     'harness error in "Scenario 2": TypeError: boom'),
    (3, [scenario(1, PASSED)], None, "pytest exited 3"),
])
def test_what_could_not_run_says_why_and_exits_2(code: int, results: list[ScenarioResult],
                                                tags: str | None, reason: str) -> None:
    verdict = verdicts.judge(code, results, [], tags)
    assert (verdict.name, verdict.exit_code, verdict.reason) == (
        "could_not_run", exitcodes.COULD_NOT_RUN, reason)


@pytest.mark.parametrize(("cause", "code"), [("SIGINT", 130), ("SIGTERM", 143),
                                              ("max_time", 124)])
def test_an_interrupted_run_exits_with_its_cause(cause: str, code: int) -> None:
    stop = Stop(cause, f"stopped by {cause}", 12.0)
    results = [scenario(1, FAILED), scenario(2, PASSED), scenario(3, INTERRUPTED),
               scenario(4, NOT_RUN), scenario(5, NOT_RUN)]
    verdict = verdicts.judge(2, results, [("bpp.py::test_1", error("UBC-SIG-009"))], "walk_in",
                             stop=stop)
    assert (verdict.name, verdict.exit_code, verdict.stopped_by) == ("interrupted", code, cause)
    assert verdict.reason == (f"stopped by {cause} after 2 of 5 scenarios (1 cut short, 2 not "
                              "run); so far 1 scenario failed: UBC-SIG-009")
    early = verdicts.judge(2, [], [], None, stop=stop)
    assert early.reason == f"stopped by {cause} before the first scenario (12.0 s into the run)"


def test_exitfirst_says_what_it_did_not_run() -> None:
    results = [scenario(1, PASSED), scenario(2, FAILED), scenario(3, NOT_RUN)]
    verdict = verdicts.judge(1, results, [("bpp.py::test_2", error("UBC-TIME-003"))], None,
                             stopped_at="Scenario 2")
    assert (verdict.name, verdict.exit_code, verdict.stopped_by) == (
        "not_certified", 1, "exitfirst")
    assert verdict.reason == ("1 scenario failed: UBC-TIME-003; stopped at the first failed "
                              "scenario (--exitfirst): 1 not run")


def test_a_verdict_has_a_reason_and_a_known_name() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        verdicts.Verdict(verdicts.NOT_CERTIFIED, "")
    with pytest.raises(ValueError, match="unknown verdict"):
        verdicts.Verdict("passed (partial run)", "x")
    with pytest.raises(ValueError, match="names its stop"):
        verdicts.Verdict(verdicts.INTERRUPTED_RUN, "x")


# -- stop signals -------------------------------------------------------------------------------

@pytest.fixture
def main_thread() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be set in the main thread")
    previous = signal.getsignal(signal.SIGINT)
    yield
    assert signal.getsignal(signal.SIGINT) is previous  # the run gave it back


def test_a_signal_interrupts_a_wait_at_once(main_thread: None) -> None:
    waited = threading.Event()
    with StopSignals() as signals:
        threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        with pytest.raises(Interrupted) as stopped:
            waited.wait(30)  # a step waiting for its callback
        assert time.monotonic() - started < 5
        assert stopped.value.stop == signals.stop and signals.stop.cause == SIGINT
        assert signals.stop.exit_code == 130
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while stopping: noted, not raised
        time.sleep(0.05)
    assert isinstance(stopped.value, KeyboardInterrupt)  # pytest answers it by ending the session


def test_a_held_stop_is_noted_not_raised(main_thread: None) -> None:
    told: list[Stop] = []
    with StopSignals() as signals:
        signals.when_stopping(told.append)
        signals.hold()  # the run is writing its evidence
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert signals.stop is not None and told == [signals.stop]


def test_max_time_interrupts_the_run(main_thread: None) -> None:
    with StopSignals(0.3) as signals, pytest.raises(Interrupted):
        threading.Event().wait(30)
    assert signals.stop is not None and signals.stop.cause == MAX_TIME
    assert signals.stop.exit_code == exitcodes.MAX_TIME == 124
    assert signals.stop.description == "--max-time 0.3 s ran out"
