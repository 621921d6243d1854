"""Run a role's Gherkin features against the candidate and reach a verdict.

pytest-bdd runs the features with the certification plugin; the end-of-run sweep adds what
only the whole transcript shows; a scenario whose steps passed still fails when a sweep found
an error in it. The verdict (verdict.py): certified only when every scenario passed and no
error or not-evaluated finding remains; a run limited by tags is never a certification; a run
stopped by a signal or `--max-time` (interruption.py) is interrupted, with the scenarios it ran
judged and the rest listed as not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.certify import verdict as verdicts
from harness.certify.allure_evidence import title_paths_outside_the_rootdir
from harness.certify.interruption import Stop, StopSignals
from harness.certify.journey import Certification
from harness.certify.live_events import LiveEvents, finding_event
from harness.certify.plugin import FAILED, PASSED, CertificationPlugin, ScenarioResult
from harness.certify.progress import Progress
from harness.certify.role import Role
from harness.findings import NOT_EVALUATED, Finding


@dataclass
class Outcome:
    verdict: verdicts.Verdict
    results: list[ScenarioResult] = field(default_factory=list)
    findings: list[tuple[str, Finding]] = field(default_factory=list)  # (scenario, finding)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code


def certify(role: Role, certification: Certification, run_dir: Path,
            tags: str | None = None, progress: Progress | None = None, *,
            exitfirst: bool = False, signals: StopSignals | None = None) -> Outcome:
    """Run the role's scenarios (those matching `tags`); `exitfirst` stops at the first that
    fails. With `signals`, a stop signal ends the run early and its evidence is kept."""
    plugin = CertificationPlugin(certification, exitfirst=exitfirst,
                                 on_finish=signals.hold if signals else None)
    progress = progress or Progress()  # the live display and pytest's output
    live = LiveEvents(certification, plugin.results)  # the live view at /ui
    if signals is not None:
        signals.when_stopping(lambda stop: certification.stop_waiting())
    steps_dir = role.steps.parent
    pytest_args = [
        str(role.steps), "-c", str(steps_dir / "pytest.ini"),
        "--rootdir", str(steps_dir), "-p", "no:cacheprovider", *progress.pytest_args(),
        "--no-header",
        # Only the plugins a run needs: autoloading every installed one (schemathesis,
        # hypothesis...) and rewriting their asserts costs seconds per run. allure-pytest-bdd
        # makes Gherkin's features, scenarios and steps Allure's; allure-pytest, which would
        # show Python functions, must not load beside it (both add --alluredir).
        "--disable-plugin-autoload", "-p", "pytest_bdd.plugin",
        "-p", "allure_pytest_bdd.plugin",
        "--assert=plain",
        f"--junitxml={run_dir / 'junit.xml'}", f"--alluredir={run_dir / 'allure-results'}",
    ]
    if tags:
        pytest_args += ["-m", tags]
    title_paths_outside_the_rootdir()
    try:
        with progress.pytest_output():
            code: int | pytest.ExitCode = pytest.main(
                pytest_args, plugins=[plugin, progress.plugin(plugin.results), live])
    except KeyboardInterrupt:  # a stop that reached past pytest's own handling of it
        code = pytest.ExitCode.INTERRUPTED
    if signals is not None:
        signals.hold()
    stop = signals.stop if signals else None
    if stop is not None:
        plugin.cut_short(stop.description)
    sweep = role.sweep(certification)
    live.publish_findings()
    for scenario_id, finding in sweep:
        certification.network.live.publish("finding", finding_event(
            finding, certification.scenario_names.get(scenario_id, scenario_id)))
    results = list(plugin.results.values())
    findings = [(j.scenario, f) for j in certification.journeys for f in j.findings] + sweep
    if certification.waivers is not None:  # e-certificate: the sweep's findings too
        certification.waivers.apply(f for _, f in findings)
    # A scenario whose steps passed fails still when its end-of-scenario or end-of-run sweep
    # found an error (a duplicate callback, a callback to a refused request...).
    for scenario_id, finding in findings:
        for result in results:
            if result.nodeid == scenario_id and result.status == PASSED and finding.is_error \
                    and finding.status != NOT_EVALUATED:
                result.status, result.message = FAILED, f"{finding.rule} {finding.message}"
                live.scenario_revised(result)
    return Outcome(verdicts.judge(code, results, findings, tags, stop=stop,
                                  stopped_at=plugin.stopped_at),
                   results=results, findings=findings)


def interrupted_before_start(stop: Stop) -> Outcome:
    """The outcome of a run stopped before its scenarios began."""
    return Outcome(verdicts.interrupted(stop, [], []))
