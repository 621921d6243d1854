"""The pytest plugin of a certification run: hands the run to the steps and records each
scenario's outcome as the operator reads it (passed, failed, not evaluated, harness error),
with each Gherkin step's outcome and the transactions the scenario ran, for the reports."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.certify.journey import CERTIFICATION, Certification, CheckFailed, NotEvaluated
from harness.transcript import Exchange

PASSED, FAILED, NOT_EVALUATED, HARNESS_ERROR = (
    "passed", "failed", "not evaluated", "harness error")
SKIPPED = "skipped"  # a step the scenario never reached
RUNNING = "running"  # a step begun and not yet finished


@dataclass
class StepResult:
    """One Gherkin step as the feature file words it (examples filled in), and its outcome."""

    keyword: str
    name: str
    outcome: str = SKIPPED
    duration_s: float = 0.0
    started: float = 0.0  # monotonic, while it runs

    def as_dict(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "name": self.name, "outcome": self.outcome,
                "duration_s": round(self.duration_s, 3)}


@dataclass
class ScenarioResult:
    nodeid: str
    feature: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    status: str = NOT_EVALUATED
    message: str = ""
    duration_s: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)  # of its journeys, in order
    started: float = 0.0  # epoch seconds


class CertificationPlugin:
    """Gives the steps their `certification` fixture and records each scenario's outcome."""

    def __init__(self, certification: Certification) -> None:
        self._certification = certification
        self.results: dict[str, ScenarioResult] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        # The steps' `certification` fixture reads the run from the config's stash.
        config.stash[CERTIFICATION] = self._certification

    def pytest_bdd_before_scenario(self, request: Any, feature: Any, scenario: Any) -> None:
        result = self.results.setdefault(request.node.nodeid,
                                         ScenarioResult(request.node.nodeid))
        result.feature, result.name = feature.name, scenario.name
        self._certification.scenario_names[request.node.nodeid] = (
            f"{feature.name}: {scenario.name}")
        result.tags = sorted(getattr(scenario, "tags", []) or [])
        result.started = time.time()
        result.steps = [StepResult(s.keyword, s.name) for s in scenario.steps]
        # A scenario this run cannot evaluate at all (e.g. one that needs the app's /v1 API in
        # a run driven by hand) is not evaluated before its first step.
        why = self._certification.unavailable({m.name for m in request.node.iter_markers()})
        if why:
            self._certification.journey(request.node.nodeid).not_evaluated(why)
            pytest.skip(f"not evaluated: {why}")

    def _step(self, request: Any, scenario: Any, step: Any) -> StepResult | None:
        result = self.results.get(request.node.nodeid)
        index = next((i for i, s in enumerate(scenario.steps) if s is step), None)
        if result is None or index is None or index >= len(result.steps):
            return None
        return result.steps[index]

    def pytest_bdd_before_step(self, request: Any, scenario: Any, step: Any) -> None:
        if (begun := self._step(request, scenario, step)) is not None:
            begun.outcome, begun.started = RUNNING, time.monotonic()

    def pytest_bdd_after_step(self, request: Any, scenario: Any, step: Any) -> None:
        if (done := self._step(request, scenario, step)) is not None:
            done.outcome, done.duration_s = PASSED, time.monotonic() - done.started

    def pytest_bdd_step_error(self, request: Any, scenario: Any, step: Any,
                              exception: BaseException) -> None:
        if (done := self._step(request, scenario, step)) is not None:
            done.duration_s = time.monotonic() - done.started
            done.outcome = (FAILED if isinstance(exception, CheckFailed) else
                            NOT_EVALUATED if isinstance(exception, NotEvaluated) else
                            HARNESS_ERROR)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
        outcome = yield
        report = outcome.get_result()
        result = self.results.setdefault(item.nodeid, ScenarioResult(item.nodeid))
        result.duration_s += report.duration
        excinfo = call.excinfo
        if report.when == "call" and report.passed and result.status != FAILED:
            result.status = PASSED
        if report.when == "teardown":
            result.transactions = [t for j in self._certification.journeys
                                   if j.scenario == item.nodeid for t in j.transaction_ids]
        if excinfo is not None:
            self._judge(item, report, excinfo, result)
        if report.when == "call":
            # A step still running ended the way its scenario did (a step that could not be
            # judged skips the scenario, which pytest-bdd tells no step hook).
            for step in result.steps:
                if step.outcome == RUNNING:
                    step.outcome = result.status
                    step.duration_s = time.monotonic() - step.started

    def _judge(self, item: Any, report: Any, excinfo: Any, result: ScenarioResult) -> None:
        if excinfo.errisinstance(CheckFailed):
            result.status, result.message = FAILED, str(excinfo.value)
            self._show_transcript(item)
        elif report.skipped or excinfo.errisinstance(NotEvaluated):
            result.status = NOT_EVALUATED
            result.message = str(getattr(excinfo.value, "msg", excinfo.value))
        else:
            result.status = HARNESS_ERROR
            result.message = f"{excinfo.typename}: {excinfo.value}"

    def _show_transcript(self, item: Any) -> None:
        """Attach the scenario's exchanges to Allure and print them, so nobody reruns."""
        journey = next((j for j in self._certification.journeys if j.scenario == item.nodeid),
                       None)
        if journey is None:
            return
        transcript = self._certification.network.transcript
        exchanges = sorted((e for t in journey.transaction_ids
                            for e in transcript.query(transaction_id=t)), key=lambda e: e.id)
        text = "\n".join(exchange_line(e) for e in exchanges)
        with contextlib.suppress(Exception):  # Allure is evidence, not a reason to lose a result
            import allure

            allure.attach(text, name="transcript", attachment_type=allure.attachment_type.TEXT)
        item.add_report_section("call", "transcript", text)


def exchange_line(exchange: Exchange) -> str:
    latency = f"{exchange.latency * 1000:.0f} ms" if exchange.latency is not None else "-"
    answer = exchange.error or f"HTTP {exchange.status}"
    return (f"{exchange.id} {exchange.direction:8} {exchange.party:4} {exchange.action or '?':12}"
            f" msg {str(exchange.message_id)[:8]} -> {answer} ({latency}) {exchange.url}")
