"""The summary a person reads at the end of `ubc-cert run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.certify.plugin import PASSED


def print_summary(report: dict[str, Any], run_dir: Path) -> None:
    summary = report["summary"]
    print(f"\nVerdict: {report['verdict'].replace('_', ' ').upper()} ({report['reason']})")
    print(f"Scenarios: {summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['not_evaluated']} not evaluated; findings: {summary['errors']} error(s), "
          f"{summary['warnings']} warning(s)")
    for scenario in report["scenarios"]:
        if scenario["status"] != PASSED:
            print(f"  {scenario['status']:13} {scenario['feature']}: {scenario['name']}")
            if scenario["message"]:
                print("    " + scenario["message"].splitlines()[0][:200])
    if summary["rules"]:
        print(f"Rules broken: {', '.join(summary['rules'])}")
    print(f"Reports: {run_dir}/report.json, junit.xml, allure-results/, transcript.ndjson")
