"""What a load run reports: `load.json` in its run folder, and a table on the terminal.

The verdict: `passed` (exit 0) when every objective of the SLO was met and the callbacks
showed no finding; `failed` (1) when one was not, or a check found something (or could not
look: never a pass); `could_not_run` (2) when nothing could be judged (the candidate out of
reach, no catalog, a fault of the harness); `interrupted` (130, 143) when stopped by a signal.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness import exitcodes
from harness.report.terminal import one_line

PASSED, FAILED, COULD_NOT_RUN, INTERRUPTED = "passed", "failed", "could_not_run", "interrupted"
EXIT = {PASSED: exitcodes.OK, FAILED: exitcodes.FAILED, COULD_NOT_RUN: exitcodes.COULD_NOT_RUN}
STYLE = {PASSED: "bold green", FAILED: "bold red", COULD_NOT_RUN: "bold yellow",
         INTERRUPTED: "bold yellow"}
LISTED = 8  # findings and failures shown on the terminal; load.json has them all


def verdict(slo: list[dict[str, Any]], findings: list[dict[str, Any]]) -> tuple[str, str]:
    """The verdict and a reason a person reads."""
    missed = [s["objective"] for s in slo if not s["met"]]
    errors = [f for f in findings if f.get("severity") == "error"]
    if not missed and not errors:
        return PASSED, f"every objective met ({len(slo)}), no finding"
    parts = []
    if missed:
        parts.append(f"objective{'s' if len(missed) > 1 else ''} not met: {', '.join(missed)}")
    if errors:
        rules = sorted({f["rule"] for f in errors})
        parts.append(f"{len(errors)} finding{'s' if len(errors) > 1 else ''} ({', '.join(rules)})")
    return FAILED, "; ".join(parts)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _measured(objective: dict[str, Any]) -> str:
    value = objective["measured"]
    if value is None:
        return "nothing measured"
    if objective["key"].startswith("p"):
        return _ms(value)
    if objective["key"] == "throughput":
        return f"{value:.2f}/s"
    return f"{value:.2f}%" if objective["objective"].endswith("%") else f"{value:g}"


def latency_table(document: dict[str, Any]) -> Table:
    """A row per measurement; a race's requests only all together (load.json has each)."""
    table = Table(title=None, show_edge=True, header_style="bold")
    for header in ("measured", "count", "failed", "p50", "p90", "p95", "p99", "max"):
        table.add_column(header, justify="left" if header == "measured" else "right",
                         no_wrap=True)
    rows = document["measurements"]["rows"]
    for row in rows:
        if row["type"].startswith("race") and row["name"] != "*" and \
                sum(r["type"] == row["type"] for r in rows) > 1:
            continue
        name = f"{row['type']} {'(all)' if row['name'] == '*' else row['name']}"
        table.add_row(name, str(row["count"]), str(row["failures"] or "-"),
                      *(_ms(row.get(f"p{p}_ms")) for p in (50, 90, 95, 99)),
                      _ms(row.get("max_ms")),
                      style="dim" if row["name"] == "*" else None)
    return table


def _race_line(race: dict[str, Any]) -> str:
    words = []
    for rival in race["rivals"]:
        outcome = rival["outcome"]
        if outcome == "refused":
            outcome = f"refused {rival.get('code')} at {rival.get('at')}"
        elif outcome == "confirmed":
            outcome = f"CONFIRMED ({rival.get('order_id')})"
        words.append(one_line(f"{rival.get('bap_id') or rival['transaction_id']} {outcome}",
                              120))
    return f"{race['item_id']} {race['slot'][0]}: " + " / ".join(words)


def lines(document: dict[str, Any]) -> list[Text | str | Table]:
    """The terminal's report: what ran, the latency table, the counts, the races, the
    findings, the objectives, the verdict and where load.json is."""
    out: list[Text | str | Table] = [Text(
        f"ubc-cert load: {document['candidate']['subscriber_id']} at "
        f"{document['candidate']['uri']}", style="bold")]
    if document["verdict"] == COULD_NOT_RUN:
        out.append(Text(f"could not run: {one_line(document['reason'], 300)}",
                        style=STYLE[COULD_NOT_RUN]))
        return [*out, f"report: {document['run_dir']}/load.json"]
    options, sessions, throughput = (document["options"], document["sessions"],
                                     document["throughput"])
    out += [
        f"{sessions['completed']} of {sessions['started']} walk-in sessions completed in "
        f"{document['elapsed_s']:.1f} s, {options['concurrency']} in flight"
        f"{', ' + str(document['workers']) + ' workers' if document['workers'] else ''}: "
        f"{throughput['sessions_per_s']:.2f} sessions/s, {throughput['requests_per_s']:.1f} "
        "requests/s",
        latency_table(document),
        "callback latency = arrival at the harness's BAP - request sent "
        f"({document['clock']}); percentiles of what arrived",
    ]
    callbacks = document["callbacks"]
    out.append(f"callbacks: {callbacks['accepted']} taken, {callbacks['refused']} refused by "
               f"the harness's BAP, {callbacks['late']} late (after the ttl "
               f"{options['ttl']}), {callbacks['lost']} lost, {callbacks['unmatched']} "
               "answering no request waited for")
    failures = document["measurements"]["failures"]
    for failure in failures[:LISTED]:
        out.append(f"  {failure['count']:>5} x {failure['type']} {failure['name']}: "
                   f"{one_line(failure['error'], 120)}")
    if len(failures) > LISTED:
        out.append(f"  ... {len(failures) - LISTED} more in load.json")
    out += [f"slot race: {_race_line(r)}" for r in document["races"]]
    findings = document["findings"]
    out.append(f"findings: {len(findings) or 'none'}")
    for finding in findings[:LISTED]:
        out.append(Text(f"  {finding['rule']} {one_line(finding['message'], 160)} "
                        f"[{finding['spec']}]", style="red"))
    for objective in document["slo"]:
        mark = "met" if objective["met"] else "NOT MET"
        out.append(Text(f"SLO {objective['objective']}: {_measured(objective)} — {mark}",
                        style="" if objective["met"] else "red"))
    out += [Text(f"verdict: {document['verdict'].upper()} — {one_line(document['reason'], 300)}",
                 style=STYLE.get(document["verdict"], "")),
            f"report: {document['run_dir']}/load.json"]
    return out


def show(console: Console, document: dict[str, Any]) -> None:
    for line in lines(document):
        console.print(line)
