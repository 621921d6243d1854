"""The pytest plugin of a certification run: hands the run to the steps and records each
scenario's outcome as the operator reads it (passed, failed, not evaluated, harness error; and,
for a run stopped early, interrupted or not run), with each Gherkin step's outcome and the
transactions the scenario ran, for the reports.

Every scenario selected is recorded at collection, named as the operator reads it: a Scenario
Outline's examples by their example row ("... [without a signature]"), with the Gherkin tags of
the feature, the scenario and the example table. So a run stopped by a signal, `--max-time` or
`--exitfirst` still lists the scenarios it did not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_bdd.parser import ScenarioTemplate

from harness.certify.allure_evidence import StepExchanges, exchanges_text, label_scenario
from harness.certify.journey import CERTIFICATION, Certification, CheckFailed, NotEvaluated
from harness.findings import NOT_EVALUATED as FINDING_NOT_EVALUATED

PASSED, FAILED, NOT_EVALUATED, HARNESS_ERROR = (
    "passed", "failed", "not evaluated", "harness error")
SKIPPED = "skipped"  # a step the scenario never reached
RUNNING = "running"  # a step begun and not yet finished
NOT_RUN, INTERRUPTED = "not run", "interrupted"  # of a run stopped before its plan was done


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
    status: str = NOT_RUN
    message: str = ""
    duration_s: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)  # of its journeys, in order
    started: float = 0.0  # epoch seconds


def scenario_title(template: ScenarioTemplate, example: Mapping[str, str] | None) -> str:
    """The scenario's name; an outline's example named by its row when the name does not
    already take the row's values, so that every example has a name of its own."""
    if not example:
        return template.name
    rendered = template.render(example).name
    return rendered if rendered != template.name else (
        f"{template.name} [{', '.join(example.values())}]")


def scenario_tags(template: ScenarioTemplate, example: Mapping[str, str] | None) -> list[str]:
    """The Gherkin tags of the feature, its rule, the scenario and the example's table."""
    tags = set(template.feature.tags) | set(template.tags)
    tags |= set(template.rule.tags) if template.rule is not None else set()
    for table in template.examples:
        if example is not None and dict(example) in list(table.as_contexts()):
            tags |= set(table.tags)
    return sorted(tags)


def _template(item: pytest.Item) -> ScenarioTemplate | None:
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    function = getattr(item, "obj", None)
    return scenario_wrapper_template_registry.get(function) if callable(function) else None


class CertificationPlugin:
    """Gives the steps their `certification` fixture and records each scenario's outcome.

    `exitfirst`: stop at the first failed scenario, the rest not run. `on_finish` is called
    as the session ends, before its teardown, once every scenario that will run has run."""

    def __init__(self, certification: Certification, *, exitfirst: bool = False,
                 on_finish: Callable[[], None] | None = None) -> None:
        self._certification = certification
        self.results: dict[str, ScenarioResult] = {}
        self.exitfirst = exitfirst
        self.stopped_at = ""  # the failed scenario --exitfirst stopped at
        self.running = ""  # node id of the scenario under way, "" between scenarios
        self.step = ""  # the step under way, as the feature says it
        self._running_since = 0.0
        self._on_finish = on_finish
        self._allure = StepExchanges(certification)  # each step's exchanges, attached to it

    def pytest_configure(self, config: pytest.Config) -> None:
        # The steps' `certification` fixture reads the run from the config's stash.
        config.stash[CERTIFICATION] = self._certification

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            result = self.results.setdefault(item.nodeid, ScenarioResult(item.nodeid))
            template = _template(item)
            if template is None:
                result.name = item.name
                continue
            callspec = getattr(item, "callspec", None)
            example = callspec.params.get("_pytest_bdd_example") if callspec else None
            result.feature = template.feature.name
            result.name = scenario_title(template, example)
            result.tags = scenario_tags(template, example)
            self._certification.scenario_names[item.nodeid] = f"{result.feature}: {result.name}"

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.running, self.step, self._running_since = nodeid, "", time.monotonic()

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.running = ""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._on_finish is not None:
            self._on_finish()

    def cut_short(self, why: str) -> None:
        """Mark the scenario under way as interrupted: `why` the run stopped."""
        result = self.results.get(self.running)
        if result is None or result.status != NOT_RUN:
            return
        result.status = INTERRUPTED
        result.duration_s = time.monotonic() - self._running_since
        result.message = why + (f", at the step \"{self.step}\"" if self.step else "")

    def pytest_bdd_before_scenario(self, request: Any, feature: Any, scenario: Any) -> None:
        result = self.results.setdefault(request.node.nodeid,
                                         ScenarioResult(request.node.nodeid))
        if not result.feature:  # not collected by this plugin: name it as pytest-bdd does
            result.feature, result.name = feature.name, scenario.name
            result.tags = sorted(set(feature.tags) | set(scenario.tags))
            self._certification.scenario_names[request.node.nodeid] = (
                f"{feature.name}: {scenario.name}")
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
        self.step = f"{step.keyword} {step.name}"
        self._allure.step_begins(request.node.nodeid)
        if (begun := self._step(request, scenario, step)) is not None:
            begun.outcome, begun.started = RUNNING, time.monotonic()

    # tryfirst: before allure-pytest-bdd closes its step, so the exchanges attach to it.
    @pytest.hookimpl(tryfirst=True)
    def pytest_bdd_after_step(self, request: Any, scenario: Any, step: Any) -> None:
        self._allure.step_ends(request.node.nodeid, f"{step.keyword} {step.name}")
        if (done := self._step(request, scenario, step)) is not None:
            done.outcome, done.duration_s = PASSED, time.monotonic() - done.started

    @pytest.hookimpl(tryfirst=True)
    def pytest_bdd_step_error(self, request: Any, scenario: Any, step: Any,
                              exception: BaseException) -> None:
        self._allure.step_ends(request.node.nodeid, f"{step.keyword} {step.name}")
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
            # allure-pytest-bdd's wrapper, outside this one, writes the test after this.
            self._allure.scenario_ends(item.nodeid)
            # allure-pytest-bdd tags a test with its pytest marks (most Gherkin tags): the rest.
            marks = {m.name for m in item.iter_markers()}
            label_scenario(result.name, [t for t in result.tags if t not in marks],
                           (f for j in self._certification.journeys
                            if j.scenario == item.nodeid for f in j.findings))
        if excinfo is not None:
            self._record_failure(item, report, excinfo, result)
        if report.when == "call":
            # A step that could not be judged (skipped) is still open in Allure: its exchanges.
            running = next((s for s in result.steps if s.outcome == RUNNING), None)
            if running is not None:
                self._allure.step_ends(item.nodeid, f"{running.keyword} {running.name}")
            # A step still running ended the way its scenario did (a step that could not be
            # judged skips the scenario, which pytest-bdd tells no step hook).
            for step in result.steps:
                if step.outcome == RUNNING:
                    step.outcome = result.status
                    step.duration_s = time.monotonic() - step.started
        self._stop_at_first_failure(item, report, result)

    def _record_failure(self, item: Any, report: pytest.TestReport, excinfo: Any,
                        result: ScenarioResult) -> None:
        if excinfo.errisinstance(CheckFailed):
            result.status, result.message = FAILED, str(excinfo.value)
            self._show_transcript(item)
        elif report.skipped or excinfo.errisinstance(NotEvaluated):
            result.status = NOT_EVALUATED
            result.message = str(getattr(excinfo.value, "msg", excinfo.value))
        else:
            result.status = HARNESS_ERROR
            result.message = f"{excinfo.typename}: {excinfo.value}"

    def _stop_at_first_failure(self, item: Any, report: pytest.TestReport,
                               result: ScenarioResult) -> None:
        """--exitfirst: end the session after a scenario that failed, in its steps or in its
        end-of-scenario sweep (run at teardown)."""
        if not self.exitfirst or self.stopped_at or report.when != "teardown":
            return
        journey = next((j for j in self._certification.journeys if j.scenario == item.nodeid),
                       None)
        swept = journey is not None and any(
            f.is_error and f.status != FINDING_NOT_EVALUATED for f in journey.findings)
        if result.status in (FAILED, HARNESS_ERROR) or swept:
            self.stopped_at = result.name or item.nodeid
            item.session.shouldfail = f"--exitfirst: \"{self.stopped_at}\" failed"

    def _show_transcript(self, item: Any) -> None:
        """Print the scenario's exchanges with its failure, so nobody reruns (Allure has them
        step by step)."""
        journey = next((j for j in self._certification.journeys if j.scenario == item.nodeid),
                       None)
        if journey is None:
            return
        transcript = self._certification.network.transcript
        exchanges = sorted((e for t in journey.transaction_ids
                            for e in transcript.query(transaction_id=t)), key=lambda e: e.id)
        item.add_report_section("call", "transcript", exchanges_text(exchanges))
