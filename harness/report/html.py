"""report.html: one self-contained page an operator reads after a run — the verdict, the
candidate, the plan, the findings to fix first, each scenario with its Gherkin steps, findings
and transactions' timelines, and the exchanges behind the findings.

Rendered with Jinja2 from report.json and transcript.ndjson of the run directory, so a run
that is long gone can be rendered again; autoescaping is on, since most of what the page shows
(bodies, headers, messages quoting them) was written by the candidate. The page carries its CSS
inline and loads nothing: it opens from a CI artifact, a mail, a file system, offline. Other
pages of a run (certificate.html) extend templates/base.html.j2 and use
templates/macros.html.j2 through `render`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from harness.beckn import time as wire_time
from harness.report import exchanges

REPORT_TEMPLATE = "report.html.j2"
TEXT_CAP = 1000  # characters of a finding's message or a scenario's message
VALUE_CAP = 1000  # characters of a finding's expected or actual value, as JSON
MAX_FINDINGS = 100  # findings listed per scenario (and at run level)
MAX_ROOTS = 200
MAX_LISTED = 300  # findings listed on the page in all: each may quote the candidate at length
MAX_EVIDENCE = 20  # exchanges listed per finding


@dataclass(frozen=True)
class Verdict:
    """The banner: its colour (`kind`: certified, failed or other), its words, its reason."""

    kind: str
    label: str
    reason: str


def verdict_of(report: Mapping[str, Any]) -> Verdict:
    """The verdict of report.json, whatever its shape: a string ("certified", "not certified",
    "not_certified", "partial_passed", ...) with `reason` beside it, or an object with a
    status and a reason. Only a certification is green; a failure of the candidate is red;
    everything else (partial runs, runs that could not run or were interrupted) is grey."""
    raw: Any = report.get("verdict")
    reason = report.get("reason") or ""
    if isinstance(raw, Mapping):
        reason = raw.get("reason") or reason
        raw = raw.get("status") or raw.get("value") or raw.get("verdict")
    text = str(raw or "unknown")
    key = text.strip().lower().replace(" ", "_").replace("-", "_")
    if key == "certified":
        kind = "certified"
    elif key in ("not_certified", "partial_failed", "failed"):
        kind = "failed"
    else:
        kind = "other"
    return Verdict(kind, text.replace("_", " ").upper(), str(reason))


@functools.cache
def environment() -> jinja2.Environment:
    """The templates of harness/report/templates/, escaping every value they show."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True,
        lstrip_blocks=True)
    env.filters["ms"] = _ms
    env.filters["json"] = _as_json
    return env


def render(template: str, **context: Any) -> str:
    """One page of a run: `template` of harness/report/templates/ with `context`."""
    return environment().get_template(template).render(**context)


def write(run_dir: Path, report: Mapping[str, Any] | None = None) -> Path:
    """Write `run_dir/report.html` from `report` (default: the run's report.json) and the run's
    transcript.ndjson."""
    if report is None:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    path = run_dir / "report.html"
    # errors="replace": a lone surrogate the candidate smuggled into a JSON string costs one
    # character of the page, not the page
    path.write_text(render(REPORT_TEMPLATE, **page(report, run_dir / "transcript.ndjson")),
                    encoding="utf-8", errors="replace")
    return path


def page(report: Mapping[str, Any], transcript: Path) -> dict[str, Any]:
    """What report.html.j2 shows, read defensively from `report`: a field a report lacks (an
    older or newer report.json) shows as absent, never as an error."""
    scenarios = [s for s in _list(report.get("scenarios")) if isinstance(s, Mapping)]
    roots = [r for r in _list(report.get("root_findings")) if isinstance(r, Mapping)]
    run_level = [f for f in _list(report.get("findings"))
                 if isinstance(f, Mapping) and not f.get("scenario")]
    # The findings the page lists, roots first; the exchanges they cite are shown in full.
    listing = _Listing(MAX_LISTED)
    listed_roots = listing.take(roots, MAX_ROOTS)
    listed = [listing.take([f for f in _list(s.get("findings")) if isinstance(f, Mapping)],
                           MAX_FINDINGS) for s in scenarios]
    listed_run_level = listing.take(run_level, MAX_FINDINGS)
    cited = [e for group in (listed_roots, *listed, listed_run_level) for f in group[0]
             for e in _evidence(f)[0]]
    evidence = exchanges.read(transcript, cited, exchanges.Parties.of(report))
    claimed: dict[str, int] = {}
    for scenario in scenarios:
        for transaction in set(_strings(scenario.get("transactions"))):
            claimed[transaction] = claimed.get(transaction, 0) + 1
    features: dict[str, list[dict[str, Any]]] = {}
    for scenario, findings in zip(scenarios, listed, strict=True):
        features.setdefault(str(scenario.get("feature") or "(no feature)"), []).append(
            _scenario(scenario, findings, evidence, claimed))
    shown = {t.transaction_id for s in features.values() for x in s for t in x["timelines"]}
    others = [i for t, ids in evidence.by_transaction.items() if t not in shown for i in ids]
    return {
        "report": report,
        "verdict": verdict_of(report),
        "candidate": _mapping(report.get("candidate")),
        "plan": _plan(report),
        "summary": _mapping(report.get("summary")),
        "roots": [_finding(r, evidence) for r in listed_roots[0]],
        "roots_more": listed_roots[1],
        "features": features,
        "run_level": [_finding(f, evidence) for f in listed_run_level[0]],
        "run_level_more": listed_run_level[1],
        # Exchanges of no scenario's transaction (registry lookups, the catalog's
        # publication, stray callbacks), in recording order.
        "other_traffic": evidence.timeline_of("", others),
        "details": [evidence.details[i] for i in evidence.wanted if i in evidence.details],
        "notes": evidence.notes,
        "exchange_count": len(evidence.records),
    }


Listed = tuple[list[Mapping[str, Any]], int]  # the findings listed, and how many were not


class _Listing:
    """How many more findings the page lists: past it, a count says how many are left out."""

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, findings: list[Mapping[str, Any]], cap: int) -> Listed:
        shown = findings[:max(0, min(cap, self.left))]
        self.left -= len(shown)
        return shown, len(findings) - len(shown)


def _scenario(scenario: Mapping[str, Any], findings: Listed, evidence: exchanges.Evidence,
              claimed: Mapping[str, int]) -> dict[str, Any]:
    transactions = list(dict.fromkeys(_strings(scenario.get("transactions"))))
    if not transactions:  # a report without them: the transactions its evidence shows
        transactions = list(dict.fromkeys(
            evidence.records[e]["transaction_id"] for f in findings[0]
            for e in _evidence(f)[0]
            if e in evidence.records and evidence.records[e]["transaction_id"]))
    since = wire_time.epoch(scenario.get("started"))
    duration = scenario.get("duration_s")
    until = since + float(duration) + 1.0 if since is not None and \
        isinstance(duration, int | float) else None
    timelines = []
    for transaction in transactions:
        # A transaction several scenarios share (an order held across them) is cut to this
        # scenario's time.
        shared = claimed.get(transaction, 0) > 1
        timeline = evidence.timeline(transaction, since=since if shared else None,
                                     until=until if shared else None)
        if timeline.rows or timeline.more:
            timelines.append(timeline)
    return {
        "name": str(scenario.get("name") or "(unnamed scenario)"),
        "status": str(scenario.get("status") or "unknown"),
        "tags": _strings(scenario.get("tags")),
        "duration_s": scenario.get("duration_s"),
        "message": _cap(str(scenario.get("message") or ""), TEXT_CAP),
        "steps": [s for s in _list(scenario.get("steps")) if isinstance(s, Mapping)],
        "findings": [_finding(f, evidence) for f in findings[0]],
        "findings_more": findings[1],
        "timelines": timelines,
    }


def _evidence(finding: Mapping[str, Any]) -> tuple[list[str], int]:
    """The evidence ids a finding's entry shows, and how many more it has."""
    ids = _list(finding.get("evidence"))
    return [str(i) for i in ids[:MAX_EVIDENCE]], max(0, len(ids) - MAX_EVIDENCE)


def _finding(finding: Mapping[str, Any], evidence: exchanges.Evidence) -> dict[str, Any]:
    ids, more = _evidence(finding)
    return {
        "rule": str(finding.get("rule") or "?"),
        "title": str(finding.get("title") or ""),
        "severity": str(finding.get("severity") or ""),
        "status": str(finding.get("status") or ""),
        "spec": str(finding.get("spec") or ""),
        "path": str(finding.get("path") or ""),
        "message": _cap(str(finding.get("message") or ""), TEXT_CAP),
        "expected": _value(finding, "expected"),
        "actual": _value(finding, "actual"),
        "scenarios": _strings(finding.get("scenarios")),
        "occurrences": finding.get("occurrences"),
        "also": _strings(finding.get("also")),
        "evidence": [{"id": i, "line": evidence.row(i), "linked": i in evidence.details}
                     for i in ids],
        "evidence_more": more,
    }


def _plan(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's facts as label and value, those the report has."""
    options, harness = _mapping(report.get("options")), _mapping(report.get("harness"))
    facts: list[tuple[str, Any]] = [
        ("run id", report.get("run_id")),
        ("role", report.get("role")),
        ("profile", report.get("profile")),
        ("harness version", report.get("harness_version") or harness.get("version")),
        ("plan hash", report.get("plan_hash") or harness.get("plan_hash")),
        ("started", report.get("started")),
        ("duration", f"{report['duration_s']} s" if isinstance(report.get("duration_s"),
                                                                int | float) else None),
        ("tags", options.get("tags") or "(every scenario)"),
    ]
    facts += [(str(k), v) for k, v in options.items() if k != "tags" and v not in (None, "")]
    return [(label, value if isinstance(value, str) else _as_json(value))
            for label, value in facts if value is not None]


def _value(finding: Mapping[str, Any], name: str) -> str | None:
    if name not in finding:
        return None
    value = finding[name]
    return _cap(value if isinstance(value, str) else _as_json(value), VALUE_CAP)


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _cap(text: str, cap: int) -> str:
    return text if len(text) <= cap else f"{text[:cap]} … ({len(text) - cap} more characters)"


def _ms(value: Any) -> str:
    return f"{value:.0f} ms" if isinstance(value, int | float) else "–"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [str(v) for v in _list(value)]
