"""What a person reads of `ubc-cert run` in the terminal: the plan, one line per scenario, and
the summary — verdict, counts, findings by rule with their clause and first evidence, the root
findings to fix first, where the reports are — each a list of rich `Text` lines built from the
run's facts or its report.json, so the summary says what the report says and nothing else.

The display that prints them, live while the run goes on, is harness/certify/progress.py.
Everything the candidate controls (messages, NACK texts, URLs, ids) passes `printable()`
first: a control character from a candidate must never reach the operator's terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from harness.certify.listing import PlannedScenario
from harness.certify.plugin import FAILED, HARNESS_ERROR, NOT_EVALUATED, PASSED
from harness.report.printable import printable

MAX_RULES = 5  # rules shown in detail; the others are named on one line
MAX_FIXES = 3
MAX_REASONS = 3  # distinct reasons for not evaluated scenarios
MESSAGE_CHARS = 180
# The files of a run directory, the one a person opens first first.
REPORT_FILES = ("report.html", "report.json", "junit.xml", "transcript.ndjson",
                "allure-results", "certificate.json", "certificate.html", "result.json")
_RULE_ID = re.compile(r"\bUBC-[A-Z]+-\d{3}\b")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_]{40,}")  # digests, signatures, keys


def cut(line: Text) -> Text:
    """A line of detail: on a terminal it ends at the screen's edge instead of wrapping onto
    more (the report has it whole); a pipe gets it whole anyway (`print_lines`)."""
    line.no_wrap, line.overflow = True, "ellipsis"
    return line


def print_lines(console: Console, lines: Iterable[Text | str]) -> None:
    """Print lines: whole and unwrapped in a pipe (a soft-wrapping console), cut lines ending
    at the edge of a terminal."""
    for line in lines:
        text = line if isinstance(line, Text) else Text(line)
        if text.no_wrap and not console.soft_wrap:
            console.print(text, no_wrap=True, overflow=text.overflow or "ellipsis")
        else:
            console.print(text)


def one_line(value: object, limit: int = MESSAGE_CHARS) -> str:
    """Candidate text on one line of bounded length: printable, base64 runs shortened."""
    text = " ".join(str(value).split())  # newlines and tabs of a message become spaces
    text = _LONG_TOKEN.sub(lambda m: m.group()[:12] + "…", printable(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Symbols:
    passed: str
    failed: str
    not_evaluated: str
    harness_error: str
    running: str

    def of(self, status: str) -> str:
        return {PASSED: self.passed, FAILED: self.failed, NOT_EVALUATED: self.not_evaluated,
                HARNESS_ERROR: self.harness_error}.get(status, "?")


UNICODE = Symbols("✓", "✗", "–", "!", "…")
ASCII = Symbols("ok", "FAIL", "--", "ERR", "...")
STYLE = {PASSED: "green", FAILED: "bold red", NOT_EVALUATED: "yellow",
         HARNESS_ERROR: "bold magenta"}


def symbols_for(encoding: str | None) -> Symbols:
    """Check marks where the stream can carry them, plain words where it cannot."""
    name = (encoding or "").lower().replace("-", "").replace("_", "")
    return UNICODE if name.startswith("utf") else ASCII


# -- the plan -----------------------------------------------------------------------------------


def plan_lines(*, subscriber_id: str, role: str, uri: str, planned: Sequence[PlannedScenario],
               selected: Sequence[PlannedScenario], tags: str | None, ttl: str,
               ack_bound_s: float, announce: Iterable[str], state_dir: Path,
               identity_shown: bool) -> list[Text]:
    """What is about to run, and what the candidate must point at."""
    features = len({s.feature for s in selected})
    every_tag = sorted({t for s in selected for t in s.tags})
    count = (f"{len(selected)} scenarios in {features} features" if not tags else
             f"{len(selected)} of {len(planned)} scenarios (--tags {printable(tags)!r}: a "
             "partial run, never a certification)")
    lines = [Text.assemble(("Certifying ", "bold"), (printable(subscriber_id), "bold cyan"),
                           f" ({role}) at {printable(uri)}"),
             Text(f"  {'plan':25} {count}, ttl {ttl}, ACK within {ack_bound_s:g} s"),
             Text(f"  {'tags':25} {', '.join(every_tag) or '-'}")]
    lines += [Text(f"  {printable(line)}") for line in announce]
    if not identity_shown:
        lines.append(cut(Text(f"  {'identity':25} --show-identity or --emit-config FILE (keys "
                              f"in {state_dir})", style="dim")))
    return lines


def identity_lines(toml: str, state_dir: Path) -> list[Text]:
    head = Text(f"The harness's identity (keys kept in {state_dir}; --fresh-keys makes new ones "
                "under new key ids), ready to paste:", style="bold")
    return [Text(""), head, Text(""), *(Text(line) for line in toml.rstrip("\n").splitlines()),
            Text("")]


# -- one line per scenario ----------------------------------------------------------------------


def rules_of(message: str) -> list[str]:
    """The rule ids a failed scenario's message names, in order, each once."""
    return list(dict.fromkeys(_RULE_ID.findall(message)))


def scenario_cells(status: str, title: str, duration_s: float, message: str,
                   symbols: Symbols) -> tuple[Text, Text, Text]:
    """(mark, title, time and rules) of a finished scenario's line."""
    style = STYLE.get(status, "")
    tail = f"{duration_s:5.1f} s"
    if status in (FAILED, HARNESS_ERROR):
        rules = rules_of(message)
        tail += "  " + (" ".join(rules[:3]) + (" …" if len(rules) > 3 else "") if rules
                        else "harness error" if status == HARNESS_ERROR else "")
    return Text(symbols.of(status), style=style), Text(printable(title)), Text(tail.rstrip(),
                                                                                style="dim")


def scenario_line(status: str, title: str, duration_s: float, message: str,
                  symbols: Symbols) -> Text:
    mark, name, tail = scenario_cells(status, title, duration_s, message, symbols)
    return Text.assemble(mark, " ", name, "  ", tail)


def revised_line(revised: Sequence[Any], symbols: Symbols) -> Text | None:
    """One line for the scenarios whose line above showed another outcome than the end:
    the sweeps of a scenario's transaction and of the whole run fail scenarios whose steps
    passed (`revised`: their ScenarioResults, as they are now)."""
    failed = [r for r in revised if r.status == FAILED]
    if not failed:
        return None
    rules = list(dict.fromkeys(rule for r in failed for rule in rules_of(r.message)))
    return Text.assemble((f"{_times(len(failed), 'scenario')} shown {symbols.passed} above "
                          "failed after all", STYLE[FAILED]),
                         ": the sweeps found " + (", ".join(rules) if rules else "errors")
                         + " in their exchanges")


# -- the summary --------------------------------------------------------------------------------


def verdict_of(report: dict[str, Any]) -> tuple[str, str]:
    """(verdict, reason) of a report, whether its verdict is a word or an object."""
    verdict, reason = report.get("verdict", ""), report.get("reason", "")
    if isinstance(verdict, dict):
        reason = verdict.get("reason", reason)
        verdict = next((verdict[k] for k in ("value", "outcome", "status", "verdict")
                        if isinstance(verdict.get(k), str)), "")
    return str(verdict), str(reason or "")


def _verdict_style(verdict: str) -> str:
    word = verdict.replace("_", " ").lower()
    if word == "certified":
        return "bold green"
    if word.startswith(("not certified", "partial failed")):
        return "bold red"
    if word.startswith(("could not run", "interrupted")):
        return "bold magenta"
    return "bold yellow"


def verdict_line(report: dict[str, Any], report_path: Path | None = None, *,
                 rules: bool = True) -> Text:
    """The whole run on one line: verdict, candidate, counts, broken rules (and the report)."""
    verdict, reason = verdict_of(report)
    summary = report.get("summary") or {}
    candidate = report.get("candidate") or {}
    word, _, said = verdict.replace("_", " ").partition(" (")  # "passed (partial run, ...)"
    line = Text(word.upper() + (f" ({said}" if said else ""), style=_verdict_style(verdict))
    line.append(f"  {printable(candidate.get('subscriber_id', '?'))} ({report.get('role', '?')})")
    if summary.get("scenarios"):
        line.append(f": {summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
                    f"{summary.get('not_evaluated', 0)} not evaluated of "
                    f"{summary['scenarios']} scenarios")
    if "duration_s" in report:
        line.append(f" ({float(report['duration_s']):.1f} s)")
    if reason:
        line.append(f": {one_line(reason, 300)}")
    if rules and summary.get("rules"):
        line.append(f"; rules {', '.join(summary['rules'])}")
    if report_path is not None:
        line.append(f"; report {report_path}")
    return line


def _by_rule(roots: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Root findings grouped by rule: errors first, each group in order of first sight."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for root in roots:
        grouped.setdefault(str(root.get("rule", "?")), []).append(root)
    return sorted(grouped.items(), key=lambda kv: kv[1][0].get("severity") != "error")


def _scenarios_of(group: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(s for root in group for s in root.get("scenarios") or []))


def _times(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def findings_lines(report: dict[str, Any], limit: int = MAX_RULES) -> list[Text]:
    """Findings by rule: id, title, clause, how often, and the first one's evidence."""
    groups = _by_rule(list(report.get("root_findings") or []))
    if not groups:
        return []
    summary = report.get("summary") or {}
    lines = [Text(f"{_times(int(summary.get('errors', 0)), 'error')}, "
                  f"{_times(int(summary.get('warnings', 0)), 'warning')}, by rule",
                  style="bold")]
    for rule, group in groups[:limit]:
        first = group[0]
        error = first.get("severity") == "error"
        head = Text("  ")
        head.append(rule, style="bold red" if error else "bold yellow")
        head.append(f"  {printable(first.get('title', ''))}")
        if not error:
            head.append(" (warning)", style="yellow")
        if first.get("waived"):
            head.append(" (waived)", style="dim")
        occurrences = sum(int(r.get("occurrences", 1)) for r in group)
        scenarios = _scenarios_of(group)
        found = one_line(first.get("message", ""))
        if "expected" in first or "actual" in first:
            found += (f" (expected {one_line(repr(first.get('expected')), 60)}, got "
                      f"{one_line(repr(first.get('actual')), 60)})")
        where = f"in \"{one_line(scenarios[0], 90)}\"" if scenarios else ""
        evidence = first.get("evidence") or []
        if evidence:
            where += (", " if where else "") + "evidence " + ", ".join(
                map(printable, evidence[:3])) + (" …" if len(evidence) > 3 else "")
        lines += [head,
                  Text(f"      {_times(occurrences, 'finding')} in "
                       f"{_times(len(scenarios), 'scenario')}  "
                       f"[{printable(first.get('spec', ''))}]", style="dim"),
                  Text(f"      first: {found}")]
        if where:
            lines.append(cut(Text(f"      {where}", style="dim")))
    rest = [rule for rule, _ in groups[limit:]]
    if rest:
        lines.append(Text(f"  and {_times(len(rest), 'more rule')}: {', '.join(rest)} "
                          "(report.json, root_findings)"))
    return lines


def fix_first_lines(report: dict[str, Any], limit: int = MAX_FIXES) -> list[Text]:
    """The rules of the root findings (each defect once) that touch the most scenarios: what
    to make hold first."""
    roots = [r for r in report.get("root_findings") or []
             if r.get("severity") == "error" and "status" not in r and not r.get("waived")]
    if not roots:
        return []
    groups = sorted(_by_rule(roots), key=lambda kv: -len(_scenarios_of(kv[1])))
    width = max(len(rule) for rule, _ in groups[:limit])
    lines = [Text("Fix these first", style="bold")]
    for number, (rule, group) in enumerate(groups[:limit], 1):
        scenarios = len(_scenarios_of(group))
        line = Text(f"  {number}. ")
        line.append(f"{rule:{width}}", style="bold")
        line.append(f"  {printable(group[0].get('title', ''))}")
        if scenarios:
            line.append(f" ({_times(scenarios, 'scenario')})", style="dim")
        lines.append(line)
    if len(groups) > limit:
        lines.append(Text(f"  and {_times(len(groups) - limit, 'more rule')}: report.json, "
                          "root_findings", style="dim"))
    return lines


def not_evaluated_lines(report: dict[str, Any], limit: int = MAX_REASONS) -> list[Text]:
    """Why scenarios were not evaluated (or met a harness error), each reason once."""
    lines: list[Text] = []
    reasons: dict[str, int] = {}
    broken = []
    for scenario in report.get("scenarios") or []:
        if scenario.get("status") == NOT_EVALUATED:
            why = re.sub(r"^not evaluated:\s*", "", str(scenario.get("message") or
                                                        "no reason given"))
            reasons[why] = reasons.get(why, 0) + 1
        elif scenario.get("status") == HARNESS_ERROR:
            broken.append(scenario)
    if reasons:
        lines.append(Text("Not evaluated (never a pass)", style="bold"))
        for why, count in list(reasons.items())[:limit]:
            lines.append(cut(Text(f"  {_times(count, 'scenario')}: {one_line(why, 160)}")))
        if len(reasons) > limit:
            lines.append(Text(f"  and {_times(len(reasons) - limit, 'more reason')} "
                              "(report.json, scenarios)", style="dim"))
    if broken:
        lines.append(Text("Harness errors (a bug of the harness, not the candidate's)",
                          style="bold magenta"))
        for scenario in broken[:limit]:
            lines.append(Text(f"  {printable(scenario.get('name', ''))}: "
                              f"{one_line(scenario.get('message', ''), 160)}"))
    return lines


def reports_line(run_dir: Path) -> Text:
    """Where the run's evidence is, the files a person opens first first."""
    present = {p.name for p in run_dir.iterdir()} if run_dir.is_dir() else set()
    names = [n for n in REPORT_FILES if n in present]
    names += sorted(present - set(names))
    shown = [n + "/" if (run_dir / n).is_dir() else n for n in names]
    return Text.assemble(("Reports  ", "bold"), f"{run_dir}/: ", (", ".join(shown), "dim"))


def summary_lines(report: dict[str, Any], run_dir: Path) -> list[Text]:
    """The end of a run: verdict and counts, findings by rule, what was not evaluated, the
    root findings to fix first, and where the reports are; blocks separated by a blank line."""
    blocks = [[verdict_line(report, rules=False)], findings_lines(report),
              not_evaluated_lines(report),
              fix_first_lines(report), [reports_line(run_dir)]]
    lines: list[Text] = []
    for block in blocks:
        if block:
            lines += [Text(""), *block]
    return lines


# -- what a run would run -----------------------------------------------------------------------


def scenario_list_lines(role: str, selected: Sequence[PlannedScenario],
                        planned: Sequence[PlannedScenario]) -> list[Text]:
    """`--list-scenarios`: feature by feature, each scenario with its tags."""
    lines = [Text(f"{role}: {len(selected)} of {len(planned)} scenarios" if len(selected)
                  != len(planned) else f"{role}: {len(planned)} scenarios", style="bold")]
    feature = None
    for scenario in selected:
        if scenario.feature != feature:
            feature = scenario.feature
            lines.append(Text(feature, style="bold"))
        lines.append(Text.assemble(f"  {scenario.title}  ",
                                   (" ".join(f"@{t}" for t in scenario.tags), "cyan")))
    return lines


def tag_list_lines(role: str, counted: dict[str, int], described: dict[str, str]) -> list[Text]:
    """`--list-tags`: each tag, how many scenarios carry it, and what it selects."""
    width = max((len(t) for t in counted), default=0)
    return [Text(f"{role}: tags for --tags (an expression: 'walk_in or security', "
                 "'not security')", style="bold"),
            *(Text.assemble((f"  {tag:{width}}", "cyan"), f"  {count:3} scenario"
                            + (" " if count == 1 else "s") + f"  {described.get(tag, '')}")
              for tag, count in counted.items())]
