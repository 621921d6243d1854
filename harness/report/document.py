"""report.json: the verdict at the top, every scenario with its findings, every finding with
rule, severity, expected, actual, evidence ids and spec clause, and the network it ran on.

Its shape is published as a JSON Schema, schemas/report.schema.json (report/schema.py), which
every report the test suite makes is held to.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import rules
from harness.beckn import time as wire_time
from harness.candidate import Candidate
from harness.certify.plugin import (
    FAILED,
    HARNESS_ERROR,
    INTERRUPTED,
    NOT_EVALUATED,
    NOT_RUN,
    PASSED,
    ScenarioResult,
)
from harness.certify.verdict import Verdict
from harness.findings import NOT_EVALUATED as FINDING_NOT_EVALUATED
from harness.findings import WAIVED, Finding
from harness.report.roots import as_dicts, roots

PROFILE = "ubc-2.0.0-rc"


@dataclass
class RunFacts:
    """What the report says about the run besides its outcome."""

    role: str
    candidate: Candidate
    started: float  # epoch seconds
    options: dict[str, Any]
    network: list[dict[str, Any]] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)  # report/plan.py Plan.as_dict()


def finding_dict(scenario: str, finding: Finding) -> dict[str, Any]:
    data = finding.as_dict()
    data["title"] = finding.title
    data["scenario"] = scenario
    if finding.status == FINDING_NOT_EVALUATED:
        data["status"] = FINDING_NOT_EVALUATED
    return data


def build(facts: RunFacts, verdict: Verdict, results: list[ScenarioResult],
          findings: list[tuple[str, Finding]]) -> dict[str, Any]:
    titles = {r.nodeid: f"{r.feature}: {r.name}" for r in results}
    found = roots([(titles.get(s, s), f) for s, f in findings])
    errors = [r.finding for r in found if r.finding.is_error]
    return {
        "run_id": "",
        "verdict": verdict.name,
        "reason": verdict.reason,
        "exit_code": verdict.exit_code,
        "stopped_by": verdict.stopped_by or None,
        "harness_version": harness.version(),
        "plan": facts.plan,
        "profile": PROFILE,
        "role": facts.role,
        "candidate": facts.candidate.as_dict(),
        "started": wire_time.format(facts.started),
        "duration_s": round(time.time() - facts.started, 3),
        "options": facts.options,
        "summary": {
            "scenarios": len(results),
            "passed": sum(r.status == PASSED for r in results),
            "failed": sum(r.status == FAILED for r in results),
            "not_evaluated": sum(r.status == NOT_EVALUATED for r in results),
            "harness_errors": sum(r.status == HARNESS_ERROR for r in results),
            "interrupted": sum(r.status == INTERRUPTED for r in results),
            "not_run": sum(r.status == NOT_RUN for r in results),
            "errors": len(errors),
            "warnings": sum(1 for r in found if not r.finding.is_error
                            and r.finding.status != WAIVED),
            "waived": sum(1 for r in found if r.finding.status == WAIVED),  # e-certificate
            "findings_seen": len(findings),
            "rules": sorted({f.rule for f in errors}),
        },
        "scenarios": [
            {"feature": r.feature, "name": r.name, "tags": r.tags, "status": r.status,
             "message": r.message, "duration_s": round(r.duration_s, 3),
             # when it began, its Gherkin steps and its Beckn transactions: what report.html
             # shows of it, with the transcript's exchanges of those transactions
             "started": wire_time.format(r.started) if r.started else None,
             "steps": [step.as_dict() for step in r.steps],
             "transactions": r.transactions,
             "findings": [finding_dict(s, f) for s, f in findings if s == r.nodeid]}
            for r in results
        ],
        # Each defect once, with every place it showed; then every finding as evidence.
        "root_findings": as_dicts(found),
        "findings": [finding_dict(s, f) for s, f in findings],
        "network": facts.network,
        "rules_version": len(rules.RULES),
    }


def write(run_dir: Path, report: dict[str, Any]) -> Path:
    report["run_id"] = run_dir.name
    path = run_dir / "report.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return path
