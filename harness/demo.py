"""`ubc-cert demo`: certify the bundled reference BPP end to end, then show a fault caught.

The reference BPP runs as its own process (`ubc-cert reference bpp`), exactly as an
implementer's server would; `ubc-cert run` certifies it against every UBC user story on a mock
network of real loopback servers. A second run switches one fault on and must fail with that
fault's rule.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness import exitcodes
from harness.selftest import SelfTestResult, certify_reference

DEMO_FAULT = "bad-callback-signature"


def _summary(title: str, result: SelfTestResult) -> None:
    report = result.report
    summary = report.get("summary", {})
    print(f"\n{title}")
    print(f"  verdict:   {str(report.get('verdict', 'no report')).upper()} "
          f"(exit {result.exit_code}, {result.wall_s:.1f} s including server start)")
    if summary:
        print(f"  scenarios: {summary['passed']} passed, {summary['failed']} failed, "
              f"{summary['not_evaluated']} not evaluated")
        print(f"  findings:  {summary['errors']} error(s), {summary['warnings']} warning(s)"
              + (f"; rules broken: {', '.join(summary['rules'])}" if summary["rules"] else ""))
    roots = [f for f in report.get("root_findings", [])
             if f.get("severity") == "error" and "status" not in f]
    for finding in roots[:3]:  # each defect once, however many scenarios it showed in
        print(f"    {finding['rule']} {finding['message'][:110]}")
    if result.report_path is not None:
        run_dir = result.report_path.parent
        print(f"  reports:   {run_dir}/  (report.json, junit.xml, allure-results/, "
              "transcript.ndjson)")
    else:
        print(result.output[-2000:])


def run(args: argparse.Namespace) -> int:
    report_dir = Path(args.report_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="ubc-demo-") as tmp:
        print("ubc-conformance demo: certifying the reference BPP (TSD user stories, "
              "security, corner cases) against the mock network...")
        clean = certify_reference(Path(tmp) / "clean", report_dir=report_dir)
        _summary("1. reference BPP, as shipped", clean)
        faulty = certify_reference(Path(tmp) / "fault", (DEMO_FAULT,), report_dir=report_dir)
        _summary(f"2. reference BPP with the fault switch {DEMO_FAULT!r} "
                 "(it corrupts its callback signatures)", faulty)
    caught = faulty.exit_code == 1 and "UBC-SIG-009" in faulty.error_rules
    ok = clean.exit_code == 0 and caught
    print("\nDemo " + ("passed: the conforming BPP is certified and the faulty one is caught "
                      "with UBC-SIG-009." if ok else "FAILED: see the reports above."))
    return exitcodes.OK if ok else exitcodes.FAILED
