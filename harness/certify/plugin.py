"""The pytest plugin of a certification run: hands the run to the steps and records each
scenario's outcome as the operator reads it (passed, failed, not evaluated, harness error)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.certify.journey import CERTIFICATION, Certification, CheckFailed, NotEvaluated
from harness.transcript import Exchange

PASSED, FAILED, NOT_EVALUATED, HARNESS_ERROR = (
    "passed", "failed", "not evaluated", "harness error")


@dataclass
class ScenarioResult:
    nodeid: str
    feature: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    status: str = NOT_EVALUATED
    message: str = ""
    duration_s: float = 0.0


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
        # A scenario this run cannot evaluate at all (e.g. one that needs the app's /v1 API in
        # a run driven by hand) is not evaluated before its first step.
        why = self._certification.unavailable({m.name for m in request.node.iter_markers()})
        if why:
            self._certification.journey(request.node.nodeid).not_evaluated(why)
            pytest.skip(f"not evaluated: {why}")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
        outcome = yield
        report = outcome.get_result()
        result = self.results.setdefault(item.nodeid, ScenarioResult(item.nodeid))
        result.duration_s += report.duration
        excinfo = call.excinfo
        if report.when == "call" and report.passed and result.status != FAILED:
            result.status = PASSED
        if excinfo is None:
            return
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
