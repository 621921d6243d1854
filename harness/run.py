"""`ubc-cert run`: certify a candidate against the UBC user stories.

Brings up the mock network around the candidate, waits until the candidate answers, runs the
Gherkin features through pytest-bdd with the certification plugin, then writes the evidence
into `<report-dir>/<run-id>/`: report.json, junit.xml, allure-results/, transcript.ndjson.

Exit codes: 0 certified, 1 not certified, 2 could not run (bad candidate file, candidate not
reachable, harness error).
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness import candidate as candidate_module
from harness import rules
from harness.beckn.time import duration_seconds
from harness.certification import (
    CERTIFICATION,
    Certification,
    CheckFailed,
    NotEvaluated,
    run_sweep,
)
from harness.findings import NOT_EVALUATED, Finding
from harness.network import MockNetwork, NetworkConfig
from harness.paths import STEPS_DIR
from harness.transcript import Exchange

EXIT_CERTIFIED, EXIT_NOT_CERTIFIED, EXIT_COULD_NOT_RUN = 0, 1, 2
PASSED, FAILED, NOT_EVALUATED_STATUS, HARNESS_ERROR = (
    "passed", "failed", "not evaluated", "harness error")


@dataclass
class ScenarioResult:
    nodeid: str
    feature: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    status: str = NOT_EVALUATED_STATUS
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
            self._show_transcript(item, result)
        elif report.skipped or excinfo.errisinstance(NotEvaluated):
            result.status = NOT_EVALUATED_STATUS
            result.message = str(getattr(excinfo.value, "msg", excinfo.value))
        else:
            result.status = HARNESS_ERROR
            result.message = f"{excinfo.typename}: {excinfo.value}"

    def _show_transcript(self, item: Any, result: ScenarioResult) -> None:
        """Attach the scenario's exchanges to Allure and print them, so nobody reruns."""
        journey = next((j for j in self._certification.journeys if j.scenario == item.nodeid),
                       None)
        if journey is None:
            return
        exchanges = [e for e in self._certification.network.transcript.entries()
                     if e.transaction_id in journey.transaction_ids]
        lines = [_exchange_line(e) for e in exchanges]
        text = "\n".join(lines)
        try:
            import allure

            allure.attach(text, name="transcript", attachment_type=allure.attachment_type.TEXT)
        except Exception:  # Allure is evidence, not a reason to lose the result
            pass
        item.add_report_section("call", "transcript", text)


def _exchange_line(exchange: Exchange) -> str:
    latency = f"{exchange.latency * 1000:.0f} ms" if exchange.latency is not None else "-"
    answer = exchange.error or f"HTTP {exchange.status}"
    return (f"{exchange.id} {exchange.direction:8} {exchange.party:4} {exchange.action or '?':12}"
            f" msg {str(exchange.message_id)[:8]} -> {answer} ({latency}) {exchange.url}")


def _reachable(uri: str, timeout: float) -> bool:
    parts = urlsplit(uri)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)  # polling a port that is not yet open: nothing to wait on


def _run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run(args: argparse.Namespace) -> int:
    started = time.time()
    try:
        cand = candidate_module.load(args.candidate)
    except candidate_module.CandidateError as exc:
        print(f"ubc-cert run: {exc}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    if cand.role != args.role:
        print(f"ubc-cert run: {args.candidate} describes a {cand.role}, not a {args.role}",
              file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    if args.role != "bpp":
        print("ubc-cert run: BAP certification is not built yet; only --role bpp runs",
              file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    try:
        duration_seconds(args.ttl)
    except ValueError as exc:
        print(f"ubc-cert run: --ttl: {exc}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    run_dir = Path(args.report_dir) / _run_id()
    run_dir.mkdir(parents=True, exist_ok=True)
    network = MockNetwork(NetworkConfig(port_base=args.port_base, ttl=args.ttl,
                                        roles=("registry", "cds", "bap")))
    try:
        network.build()
        network.register_candidate(cand)
        network.start()
    except OSError as exc:
        network.stop()
        print(f"ubc-cert run: cannot start the mock network: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    try:
        return _certify(args, cand, network, run_dir, started)
    finally:
        network.stop()


def _certify(args: argparse.Namespace, cand: candidate_module.Candidate, network: MockNetwork,
             run_dir: Path, started: float) -> int:
    bap = network.participants["bap"]
    print(f"Certifying {cand.subscriber_id} ({cand.role}) at {cand.uri}")
    print(f"  point it at the registry  {network.participants['registry'].url}")
    print(f"  harness BAP               {bap.subscriber_id}  key {bap.public_key}")
    print(f"  CDS                       {network.participants['cds'].uri}")
    if not _reachable(cand.uri, args.wait):
        message = f"candidate not reachable at {cand.uri} within {args.wait:g} s"
        print(f"ubc-cert run: {message}", file=sys.stderr)
        _write(run_dir, _report(args, cand, network, None, [], [], started, "could not run",
                                message))
        network.transcript.write_ndjson(run_dir / "transcript.ndjson")
        return EXIT_COULD_NOT_RUN
    certification = Certification(network, cand, ttl=args.ttl, ack_bound_s=args.ack_bound)
    plugin = CertificationPlugin(certification)
    pytest_args = [
        str(STEPS_DIR / "bpp.py"), "-c", str(STEPS_DIR / "pytest.ini"),
        "--rootdir", str(STEPS_DIR), "-p", "no:cacheprovider", "-q", "--no-header",
        # Only the plugins a run needs: autoloading every installed one (schemathesis,
        # hypothesis...) and rewriting their asserts costs seconds per run.
        "--disable-plugin-autoload", "-p", "pytest_bdd.plugin", "-p", "allure_pytest.plugin",
        "--assert=plain",
        f"--junitxml={run_dir / 'junit.xml'}", f"--alluredir={run_dir / 'allure-results'}",
    ]
    if args.tags:
        pytest_args += ["-m", args.tags]
    code = pytest.main(pytest_args, plugins=[plugin])
    sweep = run_sweep(certification)
    results = list(plugin.results.values())
    findings = [(j.scenario, f) for j in certification.journeys for f in j.findings] + sweep
    # A scenario whose steps passed fails still when its end-of-scenario or end-of-run sweep
    # found an error (a duplicate callback, a callback to a refused request...).
    for scenario_id, finding in findings:
        for result in results:
            if result.nodeid == scenario_id and result.status == PASSED and finding.is_error \
                    and finding.status != NOT_EVALUATED:
                result.status, result.message = FAILED, f"{finding.rule} {finding.message}"
    network.transcript.write_ndjson(run_dir / "transcript.ndjson")
    if code not in (0, 1) or any(r.status == HARNESS_ERROR for r in results) or not results:
        verdict, exit_code = "could not run", EXIT_COULD_NOT_RUN
        reason = next((r.message for r in results if r.status == HARNESS_ERROR),
                      f"pytest exited {code}" if results else "no scenario ran")
    elif all(r.status == PASSED for r in results) and not any(
            f.is_error or f.status == NOT_EVALUATED for _, f in findings):
        verdict, exit_code, reason = "certified", EXIT_CERTIFIED, ""
        if args.tags:
            verdict = f"passed (partial run, tags {args.tags!r}: not a certification)"
    else:
        verdict, exit_code, reason = "not certified", EXIT_NOT_CERTIFIED, ""
    report = _report(args, cand, network, results, findings, sweep, started, verdict, reason)
    _write(run_dir, report)
    _print_summary(report, run_dir)
    return exit_code


def _finding_dict(scenario: str, finding: Finding) -> dict[str, Any]:
    data = finding.as_dict()
    data["title"] = finding.title
    data["scenario"] = scenario
    if finding.status == NOT_EVALUATED:
        data["status"] = NOT_EVALUATED
    return data


def _report(args: argparse.Namespace, cand: candidate_module.Candidate, network: MockNetwork,
            results: list[ScenarioResult] | None, findings: list[tuple[str, Finding]],
            sweep: list[tuple[str, Finding]], started: float, verdict: str,
            reason: str) -> dict[str, Any]:
    results = results or []
    errors = [f for _, f in findings if f.is_error and f.status != NOT_EVALUATED]
    return {
        "run_id": "",
        "verdict": verdict,
        "reason": reason,
        "profile": "ubc-2.0.0-rc",
        "role": args.role,
        "candidate": cand.as_dict(),
        "started": datetime.fromtimestamp(started, UTC).isoformat(),
        "duration_s": round(time.time() - started, 3),
        "options": {"tags": args.tags, "ttl": args.ttl, "ack_bound_s": args.ack_bound},
        "summary": {
            "scenarios": len(results),
            "passed": sum(r.status == PASSED for r in results),
            "failed": sum(r.status == FAILED for r in results),
            "not_evaluated": sum(r.status == NOT_EVALUATED_STATUS for r in results),
            "harness_errors": sum(r.status == HARNESS_ERROR for r in results),
            "errors": len(errors),
            "warnings": sum(1 for _, f in findings if not f.is_error),
            "rules": sorted({f.rule for f in errors}),
        },
        "scenarios": [
            {"feature": r.feature, "name": r.name, "tags": r.tags, "status": r.status,
             "message": r.message, "duration_s": round(r.duration_s, 3),
             "findings": [_finding_dict(s, f) for s, f in findings if s == r.nodeid]}
            for r in results
        ],
        "findings": [_finding_dict(s, f) for s, f in findings],
        "network": [p.__dict__ for p in network.table()],
        "rules_version": len(rules.RULES),
    }


def _write(run_dir: Path, report: dict[str, Any]) -> None:
    report["run_id"] = run_dir.name
    (run_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False),
                                         encoding="utf-8")


def _print_summary(report: dict[str, Any], run_dir: Path) -> None:
    summary = report["summary"]
    print(f"\nVerdict: {report['verdict'].upper()}"
          + (f" ({report['reason']})" if report["reason"] else ""))
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
