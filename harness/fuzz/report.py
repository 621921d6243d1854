"""What a fuzz run leaves: fuzz.json (for machines and for the record) and its summary in
the terminal, read from the same document so the two never disagree.

fuzz.json is not a certification's report.json (the live view and `ubc-cert audit` take a
folder with a report.json for a `run`'s): it says what was drawn (document, seed, digest),
the control, every request with how it was drawn, whether its bytes were schema-valid and how
it was answered, the findings, and the verdict with its exit code. The bodies themselves are
in transcript.ndjson, each request's entry named by its evidence id.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import exitcodes, rules
from harness.beckn import envelope
from harness.candidate import Candidate
from harness.findings import Finding
from harness.fuzz.session import Outcome
from harness.paths import ROOT
from harness.report.terminal import one_line, printable

PASSED, FAILED, COULD_NOT_RUN = "passed", "failed", "could_not_run"
EXIT_CODES = {PASSED: exitcodes.OK, FAILED: exitcodes.FAILED,
              COULD_NOT_RUN: exitcodes.COULD_NOT_RUN}
SHOWN_RULES = 5  # rules shown with their first finding; the others are counted


@dataclass
class FuzzFacts:
    """What the run knew before it sent anything."""

    role: str
    candidate: Candidate
    started: float
    options: dict[str, Any]
    document: Path
    draw: dict[str, Any] = field(default_factory=dict)
    network: list[dict[str, Any]] = field(default_factory=list)


def _document(path: Path) -> dict[str, Any]:
    try:
        shown = path.relative_to(ROOT).as_posix()
    except ValueError:  # an installed harness: the document where it lies
        shown = str(path)
    return {"path": shown, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def summary_of(outcome: Outcome | None) -> dict[str, Any]:
    requests = outcome.requests if outcome else []
    answered = [r for r in requests if r.exchange.status is not None]
    invalid = [r for r in requests if r.problems]
    return {
        "sent": len(requests), "not_sent": outcome.unsent if outcome else 0,
        "schema_valid": len(requests) - len(invalid), "schema_invalid": len(invalid),
        "answered": len(answered),
        "acknowledged": sum(r.exchange.status is not None and r.exchange.status < 300
                            and envelope.ack_status(r.exchange.response_json()) == "ACK"
                            for r in requests),
        "server_errors": sum((r.exchange.status or 0) >= 500 for r in requests),
        "errors": sum(f.is_error for f in (outcome.findings if outcome else [])),
        "by_rule": dict(sorted(Counter(f.rule for f in (outcome.findings if outcome else [])
                                       if f.is_error).items())),
    }


def build(facts: FuzzFacts, outcome: Outcome | None, reason: str = "") -> dict[str, Any]:
    """fuzz.json. Without an outcome, or with a `reason` and no outcome, the run could not
    run."""
    findings: list[Finding] = outcome.findings if outcome else []
    summary = summary_of(outcome)
    if outcome is None:
        verdict = COULD_NOT_RUN
    elif summary["errors"]:
        verdict = FAILED
        reason = reason or ", ".join(f"{rule} ({n})" if n > 1 else rule
                                     for rule, n in summary["by_rule"].items())
    else:
        verdict = PASSED
        reason = reason or (f"{summary['sent']} generated requests ({summary['schema_invalid']} "
                            "schema-invalid) answered without a finding")
    return {
        "kind": "ubc-cert fuzz", "harness_version": harness.version(),
        "verdict": verdict, "reason": reason, "exit_code": EXIT_CODES[verdict],
        "role": facts.role,
        "candidate": {"subscriber_id": facts.candidate.subscriber_id,
                      "key_id": facts.candidate.key_id, "uri": facts.candidate.uri},
        "options": facts.options, "document": _document(facts.document), "draw": facts.draw,
        "network": facts.network, "started": facts.started,
        "duration_s": None,  # set by write()
        "control": outcome.control.as_record() if outcome else None,
        "summary": summary,
        "requests": [r.as_record() for r in outcome.requests] if outcome else [],
        "findings": [f.as_dict() for f in findings],
    }


def write(run_dir: Path, report: dict[str, Any], ended: float) -> Path:
    report["duration_s"] = round(ended - report["started"], 3)
    path = run_dir / "fuzz.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def summary_lines(report: dict[str, Any], run_dir: Path) -> list[str]:
    """The end of the run in the terminal: verdict and counts, findings by rule with the
    first one's message, where the files are, and how to draw the same requests again."""
    candidate = report["candidate"]
    summary = report["summary"]
    title = {PASSED: "NOTHING FOUND", FAILED: "FINDINGS", COULD_NOT_RUN: "COULD NOT RUN"}
    lines = [f"{title[report['verdict']]}  {printable(candidate['subscriber_id'])} "
             f"({report['role']}): {one_line(report['reason'])}"]
    if report["verdict"] != COULD_NOT_RUN:
        lines.append(f"  {summary['sent']} requests sent ({summary['schema_valid']} "
                     f"schema-valid, {summary['schema_invalid']} schema-invalid), "
                     f"{summary['acknowledged']} acknowledged, {summary['server_errors']} "
                     f"server errors" + (f", {summary['not_sent']} not sent"
                                         if summary["not_sent"] else ""))
    by_rule = summary["by_rule"]
    for rule_id in list(by_rule)[:SHOWN_RULES]:
        first = next(f for f in report["findings"] if f["rule"] == rule_id)
        lines.append(f"  {rule_id}  {rules.get(rule_id).title}")
        lines.append(f"      {by_rule[rule_id]} finding(s)  [{first['spec']}]")
        lines.append(f"      first: {one_line(first['message'])}"
                     + (f", evidence {', '.join(first['evidence'])}"
                        if first.get("evidence") else ""))
    if len(by_rule) > SHOWN_RULES:
        lines.append(f"  and {', '.join(list(by_rule)[SHOWN_RULES:])}")
    lines.append(f"Reports  {run_dir}/: fuzz.json, transcript.ndjson")
    options = report["options"]
    if report["verdict"] != COULD_NOT_RUN:
        actions = f" --actions {','.join(options['actions'])}" if options.get("only") else ""
        lines.append(f"Again    ubc-cert fuzz --role {report['role']} --candidate "
                     f"{printable(options['candidate_file'])} --seed {options['seed']} "
                     f"--max-examples {options['max_examples']}{actions}")
    return lines


def request_line(record: dict[str, Any]) -> str:
    """One request as it is answered (-v)."""
    answer = f"HTTP {record['status']} {record['ack'] or ''}".rstrip() \
        if record["status"] is not None else f"no answer ({record['error']})"
    latency = f" {record['latency_s']:.3f} s" if record["latency_s"] is not None else ""
    found = f"  {' '.join(record['rules'])}" if record["rules"] else ""
    valid = "valid" if record["schema_valid"] else "INVALID"
    return (f"  {record['number']:4} {record['action']:10} {record['drawn']:8} {valid:7} "
            f"{one_line(answer, 60)}{latency}{found}")
