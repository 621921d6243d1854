"""`ubc-cert demo`: certify the bundled reference BPP and reference BAP end to end, then show
a fault of each caught.

Each reference runs as its own process (`ubc-cert reference bpp|bap`), exactly as an
implementer's server would; `ubc-cert run` certifies it against every UBC user story on a mock
network of real loopback servers (for the BAP, driving the app through its /v1 client API).
A second run of each switches one fault on and must fail with that fault's rule.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import exitcodes
from harness.report import certificate
from harness.selftest import SelfTestResult, certify_reference


@dataclass(frozen=True)
class Act:
    """One participant the demo certifies, and the fault it then shows caught."""

    role: str
    fault: str
    rule: str
    what: str  # what the fault does, for the title of its run
    covers: str  # what the clean run certifies, for the opening line


ACTS = (
    Act("bpp", "bad-callback-signature", "UBC-SIG-009", "it corrupts its callback signatures",
        "TSD user stories, security, corner cases"),
    Act("bap", "shows-other-price", "UBC-API-001",
        "its app shows the driver less than the BPP quoted",
        "the driver's stories through its /v1 client API, hostile callbacks"),
)


def _summary(title: str, result: SelfTestResult) -> None:
    report = result.report
    summary = report.get("summary", {})
    print(f"\n{title}")
    verdict = str(report.get("verdict", "no report")).replace("_", " ").upper()
    print(f"  verdict:   {verdict} "
          f"(exit {result.exit_code}, {result.wall_s:.1f} s including server start)")
    if report.get("reason"):
        print(f"  reason:    {report['reason']}")
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
        print(f"  read:      {run_dir / 'report.html'}")
        print(f"  reports:   {run_dir}/  (report.json, junit.xml, allure-results/, "
              "transcript.ndjson)")
        _signed(run_dir)
    else:
        print(result.output[-2000:])


def _signed(run_dir: Path) -> None:
    """The run's certificate (or signed result), checked as `ubc-cert verify-certificate`
    would check it (e-certificate)."""
    try:
        checked = certificate.verify(run_dir)
    except certificate.Unreadable as exc:
        print(f"  signed:    nothing: {exc}")
        return
    state = "valid" if checked.valid else "INVALID: " + "; ".join(checked.problems)
    print(f"  signed:    {checked.kind}.json, {state} (ubc-cert verify-certificate {run_dir})")


def run(args: argparse.Namespace) -> int:
    report_dir = Path(args.report_dir).resolve()
    ok = True
    step = 0
    with tempfile.TemporaryDirectory(prefix="ubc-demo-") as tmp:
        for act in ACTS:
            name = f"reference {act.role.upper()}"
            print(f"\nubc-conformance demo: certifying the {name} ({act.covers}) against the "
                  "mock network...")
            clean = certify_reference(Path(tmp) / f"{act.role}-clean", report_dir=report_dir,
                                      role=act.role)
            step += 1
            _summary(f"{step}. {name}, as shipped", clean)
            faulty = certify_reference(Path(tmp) / f"{act.role}-fault", (act.fault,),
                                       report_dir=report_dir, role=act.role)
            step += 1
            _summary(f"{step}. {name} with the fault switch {act.fault!r} ({act.what})", faulty)
            caught = faulty.exit_code == exitcodes.FAILED and act.rule in faulty.error_rules
            passed = clean.exit_code == exitcodes.OK and caught
            print(f"\n   {name}: " + (f"certified as shipped; the fault is caught with "
                                       f"{act.rule}." if passed else "FAILED: see the reports "
                                       "above."))
            ok = ok and passed
    print("\nDemo " + ("passed: both conforming references are certified and each faulty one "
                      "is caught with its rule." if ok else "FAILED: see the reports above."))
    return exitcodes.OK if ok else exitcodes.FAILED
