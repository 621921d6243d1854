"""Run a role's Gherkin features against the candidate and reach a verdict.

pytest-bdd runs the features with the certification plugin; the end-of-run sweep adds what
only the whole transcript shows; a scenario whose steps passed still fails when a sweep found
an error in it. The verdict: certified only when every scenario passed and no error or
not-evaluated finding remains; a run limited by tags is never a certification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import exitcodes
from harness.certify.journey import Certification
from harness.certify.plugin import (
    FAILED,
    HARNESS_ERROR,
    PASSED,
    CertificationPlugin,
    ScenarioResult,
)
from harness.certify.progress import Progress
from harness.certify.role import Role
from harness.findings import NOT_EVALUATED, Finding

CERTIFIED, NOT_CERTIFIED, COULD_NOT_RUN = "certified", "not certified", "could not run"


@dataclass
class Outcome:
    verdict: str
    exit_code: int
    reason: str = ""
    results: list[ScenarioResult] = field(default_factory=list)
    findings: list[tuple[str, Finding]] = field(default_factory=list)  # (scenario, finding)


def certify(role: Role, certification: Certification, run_dir: Path,
            tags: str | None = None, progress: Progress | None = None) -> Outcome:
    plugin = CertificationPlugin(certification)
    progress = progress or Progress()  # e-terminal: the live display and pytest's output
    steps_dir = role.steps.parent
    pytest_args = [
        str(role.steps), "-c", str(steps_dir / "pytest.ini"),
        "--rootdir", str(steps_dir), "-p", "no:cacheprovider", *progress.pytest_args(),
        "--no-header",
        # Only the plugins a run needs: autoloading every installed one (schemathesis,
        # hypothesis...) and rewriting their asserts costs seconds per run.
        "--disable-plugin-autoload", "-p", "pytest_bdd.plugin", "-p", "allure_pytest.plugin",
        "--assert=plain",
        f"--junitxml={run_dir / 'junit.xml'}", f"--alluredir={run_dir / 'allure-results'}",
    ]
    if tags:
        pytest_args += ["-m", tags]
    with progress.pytest_output():  # e-terminal
        code = pytest.main(pytest_args, plugins=[plugin, progress.plugin(plugin.results)])
    sweep = role.sweep(certification)
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
    return Outcome(*verdict(code, results, findings, tags), results=results, findings=findings)


def verdict(pytest_code: int | pytest.ExitCode, results: list[ScenarioResult],
            findings: list[tuple[str, Finding]], tags: str | None) -> tuple[str, int, str]:
    """(verdict, exit code, reason) of a run that ran."""
    if pytest_code not in (0, 1) or any(r.status == HARNESS_ERROR for r in results) \
            or not results:
        reason = next((r.message for r in results if r.status == HARNESS_ERROR),
                      f"pytest exited {pytest_code}" if results else "no scenario ran")
        return COULD_NOT_RUN, exitcodes.COULD_NOT_RUN, reason
    if all(r.status == PASSED for r in results) and not any(
            f.is_error or f.status == NOT_EVALUATED for _, f in findings):
        if tags:
            return (f"passed (partial run, tags {tags!r}: not a certification)",
                    exitcodes.OK, "")
        return CERTIFIED, exitcodes.OK, ""
    return NOT_CERTIFIED, exitcodes.FAILED, ""
