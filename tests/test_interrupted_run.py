"""A run stopped early still leaves its evidence: SIGTERM (how CI cancels), SIGINT (Ctrl-C) and
`--max-time` stop `ubc-cert run` within moments, even while a step waits for a callback, and
report.json (valid against its schema, verdict interrupted), junit.xml and transcript.ndjson
are complete for what ran; a run that could not run leaves a red junit.xml; --exitfirst stops
at the first failed scenario.

The candidate is a stub BPP that acknowledges every request and never calls back, run by
`ubc-cert run` in its own process as an operator would. Scenarios run in the order of their
features' names: with the tags "security or walk_in", the eight security scenarios fail at once
(it ACKs what it must refuse), then the walk-in's discovery waits for an on_discover that never
comes, and that is when the run is stopped; with "support or security", the support scenario
waits first, and the security scenarios are never run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness import exitcodes
from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.report import schema
from harness.servers import ServerGroup, free_port

pytestmark = [pytest.mark.network]

ACK = json.dumps(envelope.ack()).encode()
KEYS = signing.KeyPair.generate("acks-only-bpp.example", "k1")
SECURITY_THEN_WALK_IN = "security or walk_in"
SUPPORT_THEN_SECURITY = "support or security"
TTL = "PT20S"  # a step waits 20 s and more for its callback: any stop is the signal's doing
STOP_BOUND_S = 5.0  # from the signal to the process's exit, artifacts written
START_BOUND_S = 60.0


class AckOnly:
    """A BPP that ACKs every request and sends no callback; `discovering` is set when the
    first discover reaches it (through the CDS): a scenario is then waiting for on_discover."""

    def __init__(self) -> None:
        self.discovering = threading.Event()

    async def endpoint(self, request: Request) -> Response:
        await request.body()
        if request.path_params["action"] == "discover":
            self.discovering.set()
        return Response(ACK, media_type="application/json")


@dataclass
class Stub:
    bpp: AckOnly
    candidate: Path
    reports: Path


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[Stub]:
    bpp = AckOnly()
    group = ServerGroup()
    served = group.add("bpp", Starlette(routes=[Route("/beckn/{action}", bpp.endpoint,
                                                      methods=["POST"])]))
    group.start()
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(Candidate("bpp", KEYS.subscriber_id, KEYS.key_id,
                                   KEYS.signing_public_key, f"{served.url}/beckn").to_toml())
    try:
        yield Stub(bpp, candidate, tmp_path / "reports")
    finally:
        group.stop()


def start(stub: Stub, *options: str) -> subprocess.Popen[bytes]:
    log = (stub.reports.parent / "run.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--role", "bpp", "--candidate",
         str(stub.candidate), "--report-dir", str(stub.reports), "--ttl", TTL, "--wait", "10",
         "--ack-bound", "2", *options],
        stdout=log, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen[bytes], bound: float) -> int:
    try:
        return process.wait(bound)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def output(stub: Stub) -> str:
    return (stub.reports.parent / "run.log").read_text(errors="replace")[-3000:]


def artifacts(stub: Stub) -> tuple[dict[str, Any], ElementTree.Element]:
    """The run's report.json (held to its schema), its junit.xml (parsed) and a check that its
    transcript is whole NDJSON."""
    [path] = stub.reports.glob("*/report.json")
    report = schema.load_checked(path)
    junit = ElementTree.parse(path.parent / "junit.xml").getroot()
    lines = [json.loads(line) for line in
             (path.parent / "transcript.ndjson").read_text().splitlines()]
    assert lines and all(line["id"] for line in lines[:-1])
    if report["verdict"] == "interrupted":  # the transcript says so last, in the same words
        assert lines[-1] == {"transcript_ended": {
            "verdict": "interrupted", "stopped_by": report["stopped_by"],
            "reason": report["reason"]}}, lines[-1]
    else:
        assert lines[-1]["id"]
    return report, junit


def suite_counts(junit: ElementTree.Element) -> dict[str, int]:
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", -1)) == len(suite.findall("testcase"))
    return {name: int(suite.get(name, 0)) for name in ("tests", "failures", "errors", "skipped")}


def stop_while_waiting(stub: Stub, how: signal.Signals, tags: str) -> tuple[int, float]:
    """Start the run, signal it once a scenario waits for a callback; (exit code, seconds
    from the signal to the exit)."""
    process = start(stub, "--tags", tags)
    try:
        # The CDS forwards a discover only while the scenario waits for its on_discover.
        assert stub.bpp.discovering.wait(START_BOUND_S), output(stub)
        process.send_signal(how)
        sent = time.monotonic()
        code = finish(process, STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not stop within {STOP_BOUND_S} s of {how.name}:\n"
                    + output(stub))
    return code, time.monotonic() - sent


def assert_interrupted(report: dict[str, Any], junit: ElementTree.Element, cause: str) -> None:
    """The verdict, and the scenarios as they stood: those before the one cut short done,
    those after it not run; junit.xml counts the same."""
    code = {"SIGINT": 130, "SIGTERM": 143, "max_time": 124}[cause]
    assert report["verdict"] == "interrupted" and report["exit_code"] == code
    assert report["stopped_by"] == cause
    statuses = [s["status"] for s in report["scenarios"]]
    if not statuses:  # stopped before the scenarios began (a slow start on a busy machine)
        assert "before the first scenario" in report["reason"], report["reason"]
        assert suite_counts(junit)["tests"] == 0
        return
    cut = statuses.index("interrupted")
    assert "interrupted" not in statuses[:cut] + statuses[cut + 1:], statuses
    assert "not run" not in statuses[:cut] and set(statuses[cut + 1:]) <= {"not run"}, statuses
    summary = report["summary"]
    assert (summary["interrupted"], summary["not_run"]) == (1, len(statuses) - cut - 1)
    assert f"after {cut} of {len(statuses)} scenarios" in report["reason"], report["reason"]
    counts = suite_counts(junit)
    assert counts["tests"] == len(statuses), counts
    assert counts["failures"] == statuses.count("failed"), counts
    assert (counts["errors"], counts["skipped"]) == (1, summary["not_run"]), counts


@pytest.mark.slow
def test_sigterm_mid_scenario_leaves_a_complete_interrupted_report(stub: Stub) -> None:
    code, took = stop_while_waiting(stub, signal.SIGTERM, SECURITY_THEN_WALK_IN)
    assert code == exitcodes.SIGTERM == 143, output(stub)
    assert took < STOP_BOUND_S
    report, junit = artifacts(stub)
    assert_interrupted(report, junit, "SIGTERM")
    # The probe scenarios ran and failed (the stub ACKs what it must refuse); the first to
    # wait for an on_discover was cut short.
    scenarios = report["scenarios"]
    statuses = [s["status"] for s in scenarios]
    assert statuses.count("failed") == 8 and statuses.count("interrupted") == 1, scenarios
    assert set(statuses) <= {"failed", "interrupted", "not run"}, statuses
    cut = next(s for s in scenarios if s["status"] == "interrupted")
    # the first scenario to discover (the signal's cue) is cut short: the ownership scenario's
    # given, or the walk-in
    assert cut["tags"] in (["security"], ["walk_in"]) and \
        "interrupted by SIGTERM, at the step" in cut["message"], cut
    assert report["reason"].startswith(
        f"interrupted by SIGTERM after 8 of {len(scenarios)} scenarios"), report["reason"]
    assert "so far 8 scenarios failed: UBC-SIG-013" in report["reason"], report["reason"]
    run_dir = stub.reports / report["run_id"]
    assert list((run_dir / "allure-results").iterdir())  # what ran is in Allure too
    # The transcript's closing line is no message: the audit reads the cut-short run as any.
    audited = subprocess.run([sys.executable, "-m", "harness.cli", "audit", str(run_dir),
                              "--format", "json"], capture_output=True, text=True, timeout=60,
                             check=False)
    assert audited.returncode in (0, 1), audited.stderr
    assert "transcript_ended" not in audited.stdout
    assert json.loads(audited.stdout)["messages"] > 0


@pytest.mark.slow
def test_sigint_mid_scenario_leaves_a_complete_interrupted_report(stub: Stub) -> None:
    code, _ = stop_while_waiting(stub, signal.SIGINT, SUPPORT_THEN_SECURITY)
    assert code == exitcodes.SIGINT == 130, output(stub)
    report, junit = artifacts(stub)
    assert_interrupted(report, junit, "SIGINT")
    statuses = [s["status"] for s in report["scenarios"]]
    assert statuses == ["interrupted"] + ["not run"] * (len(statuses) - 1), statuses
    assert report["scenarios"][0]["tags"] == ["support"]


@pytest.mark.slow
def test_max_time_stops_the_run_with_its_report(stub: Stub) -> None:
    process = start(stub, "--tags", SECURITY_THEN_WALK_IN, "--max-time", "3")
    started = time.monotonic()
    code = finish(process, 3 + STOP_BOUND_S + 5)
    assert code == exitcodes.MAX_TIME == 124, output(stub)
    report, junit = artifacts(stub)
    assert_interrupted(report, junit, "max_time")
    assert report["reason"].startswith("--max-time 3 s ran out"), report["reason"]
    assert report["options"]["max_time_s"] == 3
    assert time.monotonic() - started < 3 + STOP_BOUND_S


@pytest.mark.slow
def test_exitfirst_stops_at_the_first_failed_scenario(stub: Stub) -> None:
    process = start(stub, "--tags", SECURITY_THEN_WALK_IN, "--exitfirst")
    code = finish(process, START_BOUND_S)
    assert code == exitcodes.FAILED, output(stub)
    report, junit = artifacts(stub)
    assert report["verdict"] == "partial_failed" and report["stopped_by"] == "exitfirst"
    statuses = [s["status"] for s in report["scenarios"]]
    rest = len(statuses) - 1
    assert statuses == ["failed"] + ["not run"] * rest, statuses
    assert f"stopped at the first failed scenario (--exitfirst): {rest} not run" in \
        report["reason"], report["reason"]
    assert suite_counts(junit) == {"tests": rest + 1, "failures": 1, "errors": 0,
                                   "skipped": rest}


def test_a_run_that_could_not_run_leaves_a_red_junit(tmp_path: Path) -> None:
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(Candidate("bpp", KEYS.subscriber_id, KEYS.key_id,
                                   KEYS.signing_public_key,
                                   f"http://127.0.0.1:{free_port()}/beckn").to_toml())
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--role", "bpp", "--candidate",
         str(candidate), "--report-dir", str(tmp_path / "reports"), "--wait", "0.5"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == exitcodes.COULD_NOT_RUN, done.stderr
    [path] = (tmp_path / "reports").glob("*/report.json")
    report = schema.load_checked(path)
    assert report["verdict"] == "could_not_run" and "not reachable" in report["reason"]
    junit = ElementTree.parse(path.parent / "junit.xml").getroot()
    assert suite_counts(junit) == {"tests": 1, "failures": 0, "errors": 1, "skipped": 0}
    [error] = junit.iter("error")
    assert "not reachable" in (error.get("message") or "")
    assert (path.parent / "transcript.ndjson").exists()


def test_a_harness_error_still_leaves_its_evidence(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A harness bug exits 2 as one, never as a verdict on the candidate, and the run folder
    still holds a report saying so and a red junit.xml."""
    from harness import run
    from harness.cli import main

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug in the harness")
    monkeypatch.setattr(run, "_certify", broken)
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(Candidate("bpp", KEYS.subscriber_id, KEYS.key_id,
                                   KEYS.signing_public_key,
                                   f"http://127.0.0.1:{free_port()}/beckn").to_toml())
    code = main(["run", "--role", "bpp", "--candidate", str(candidate), "--report-dir",
                 str(tmp_path / "reports"), "--state-dir", str(tmp_path / "state")])
    assert code == exitcodes.COULD_NOT_RUN
    [path] = (tmp_path / "reports").glob("*/report.json")
    report = schema.load_checked(path)
    assert report["verdict"] == "could_not_run"
    assert report["reason"] == "harness error: RuntimeError: a bug in the harness"
    junit = ElementTree.parse(path.parent / "junit.xml").getroot()
    assert suite_counts(junit)["errors"] == 1
