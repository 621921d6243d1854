"""What a person reads of `ubc-cert run`, without a server: the summary rendered from a report
(harness/report/terminal.py), the display's plain and live lines (harness/certify/progress.py),
candidate text made harmless, and the listings that start nothing."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from harness.candidate import Candidate
from harness.certify import listing, progress
from harness.certify import verdict as verdicts
from harness.certify.plugin import FAILED, NOT_EVALUATED, PASSED, ScenarioResult
from harness.certify.waits import Waits
from harness.cli import main
from harness.findings import NOT_EVALUATED as FINDING_NOT_EVALUATED
from harness.findings import Finding
from harness.report import document, terminal

CLEAR_SCREEN = "\x1b[2J\x1b[H"


def _plain(lines: list[Text], width: int = 60) -> str:
    """The lines as a pipe receives them: whole, whatever the width."""
    out = io.StringIO()
    console = Console(file=out, width=width, soft_wrap=True, highlight=False, markup=False,
                      emoji=False)
    terminal.print_lines(console, lines)
    return out.getvalue()


def _candidate() -> Candidate:
    return Candidate(role="bpp", subscriber_id="cpo.example.com", key_id="cpo.example.com-k1",
                     signing_public_key="A" * 43 + "=", uri="http://127.0.0.1:9000/beckn")


def _result(n: int, status: str, message: str = "") -> ScenarioResult:
    return ScenarioResult(f"bpp.py::test_{n}", feature="Walk-in charging (TSD §11.1)",
                          name=f"Scenario number {n}", status=status, message=message,
                          duration_s=0.5)


def _failing_report(tmp_path: Path, *, hostile: str = "") -> tuple[dict[str, Any], Path]:
    """A run of 20 scenarios shaped like the demo's faulty one: a signature rule broken in
    four scenarios, the catalog missing, the rest blocked."""
    signature = [Finding("UBC-SIG-009", f"Authorization: bad-signature: does not verify{hostile}"
                         f" over digest BLAKE-512={'Q' * 86}==", evidence=[f"x{n:06d}"])
                 for n in range(10)]
    results = [_result(0, FAILED, "UBC-SIG-009 bad signature\nUBC-TIME-003 no catalog")]
    results += [_result(n, FAILED, "UBC-SIG-009 bad signature") for n in range(1, 4)]
    results += [_result(n, NOT_EVALUATED, "not evaluated: blocked by the candidate's catalog")
                for n in range(4, 20)]
    blocked = Finding("UBC-TIME-006", "blocked by the candidate's catalog",
                      status=FINDING_NOT_EVALUATED)
    findings = [(f"bpp.py::test_{n % 4}", f) for n, f in enumerate(signature)]
    findings.append(("bpp.py::test_0", Finding(
        "UBC-TIME-003", "the candidate's catalog did not reach the BAP through the CDS",
        expected="at least one item", actual=0)))
    findings += [(f"bpp.py::test_{n}", blocked) for n in range(4, 20)]
    facts = document.RunFacts(role="bpp", candidate=_candidate(), started=time.time() - 3,
                              options={})
    report = document.build(facts, verdicts.Verdict(verdicts.NOT_CERTIFIED, "4 failed"),
                            results, findings)
    run_dir = tmp_path / "20250101T000000Z-abcdef"
    run_dir.mkdir()
    document.write(run_dir, report)
    (run_dir / "junit.xml").write_text("<testsuites/>")
    return report, run_dir


# -- the summary --------------------------------------------------------------------------------


def test_a_failing_summary_names_its_rules_their_clause_and_what_to_fix_on_a_screen(
        tmp_path: Path) -> None:
    report, run_dir = _failing_report(tmp_path)
    symbols = terminal.UNICODE
    scenario_lines = [terminal.scenario_line(r["status"], f"{r['feature']}: {r['name']}",
                                             r["duration_s"], r["message"], symbols)
                      for r in report["scenarios"]]
    text = _plain(scenario_lines + terminal.summary_lines(report, run_dir))
    lines = text.splitlines()
    assert len(lines) <= 60, text
    assert "NOT CERTIFIED" in lines[len(scenario_lines) + 1]
    assert "UBC-SIG-009  ed25519 signature verifies against the signing string" in text
    assert "BECKN-006 Signing Algorithm; Step 5, item 6" in text
    assert "10 findings in 4 scenarios" in text
    assert "expected 'at least one item', got 0" in text
    fixes = text[text.index("Fix these first"):]
    assert fixes.index("UBC-SIG-009") < fixes.index("UBC-TIME-003")  # the widest first
    assert "16 scenarios: blocked by the candidate's catalog" in text
    assert f"Reports  {run_dir}/: report.json, junit.xml" in text
    assert "Traceback" not in text and "Q" * 20 not in text  # digests are cut short
    assert "✗ Walk-in charging (TSD §11.1): Scenario number 0    0.5 s  UBC-SIG-009 " \
           "UBC-TIME-003" in text


def test_a_certified_summary_is_short(tmp_path: Path) -> None:
    facts = document.RunFacts(role="bpp", candidate=_candidate(), started=time.time(),
                              options={})
    report = document.build(facts, verdicts.Verdict(verdicts.CERTIFIED, "all passed"),
                            [_result(1, PASSED)], [])
    text = _plain(terminal.summary_lines(report, tmp_path))
    assert text.splitlines()[1].startswith("CERTIFIED  cpo.example.com (bpp): 1 passed")
    assert "by rule" not in text and "Fix these first" not in text
    assert len(text.splitlines()) == 4


def test_the_quiet_verdict_is_one_line_with_the_rules_and_the_report(tmp_path: Path) -> None:
    report, run_dir = _failing_report(tmp_path)
    text = _plain([terminal.verdict_line(report, run_dir / "report.json")], width=80)
    assert text.count("\n") == 1
    assert text.startswith("NOT CERTIFIED  cpo.example.com (bpp): 0 passed, 4 failed, "
                           "16 not evaluated of 20 scenarios")
    assert "rules UBC-SIG-009, UBC-TIME-003; report " in text


def test_a_structured_verdict_is_read_too() -> None:
    report = {"verdict": {"value": "partial_failed", "reason": "--tags 'walk_in'"},
              "candidate": {"subscriber_id": "x"}, "role": "bap"}
    text = _plain([terminal.verdict_line(report)])
    assert text.startswith("PARTIAL FAILED  x (bap): --tags 'walk_in'")


# -- the candidate's text never drives the terminal ---------------------------------------------


def test_control_characters_from_the_candidate_are_shown_not_obeyed(tmp_path: Path) -> None:
    hostile = f"{CLEAR_SCREEN}\rgone\u202e\x07\x9b31m"
    assert terminal.printable(hostile) == "\\x1b[2J\\x1b[H\\x0dgone\\u202e\\x07\\x9b31m"
    report, run_dir = _failing_report(tmp_path, hostile=hostile)
    report["candidate"]["subscriber_id"] = f"evil{CLEAR_SCREEN}"
    report["scenarios"][4]["message"] = f"not evaluated: NACK {CLEAR_SCREEN}[red]markup[/red]"
    rendered = _plain([*terminal.summary_lines(report, run_dir), terminal.verdict_line(report)])
    assert "\x1b" not in rendered and "\r" not in rendered and "\x07" not in rendered
    assert "\\x1b[2J" in rendered and "[red]markup[/red]" in rendered  # shown, not obeyed
    assert "\u202e" not in rendered


# -- the display --------------------------------------------------------------------------------


class _Pipe(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return False


class _Tty(_Pipe):
    def isatty(self) -> bool:
        return True


def test_in_a_pipe_each_scenario_is_one_plain_line_and_a_long_wait_is_said_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "NOTICE_AFTER_S", 0.05)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    stream = _Pipe()
    display = progress.Display(stream)
    waits = Waits()
    waits.subscribe(display.awaiting)
    assert not display.live
    display.begin_scenarios(2)
    display.scenario_started("Walk-in: A driver walks in")
    said = threading.Event()
    with waits.awaiting("cpo.example.com to acknowledge select and send on_select", 21):
        deadline = time.monotonic() + 5
        while "waiting for" not in stream.getvalue() and time.monotonic() < deadline:
            said.wait(0.01)
    display.scenario_finished(FAILED, "Walk-in: A driver walks in", 1.25, "UBC-TIME-003 none")
    display.scenario_finished(PASSED, "Walk-in: Another", 0.5, "")
    display.close()
    text = stream.getvalue()
    assert text.splitlines() == [
        "  … waiting for cpo.example.com to acknowledge select and send on_select (up to 21 s)",
        "✗ Walk-in: A driver walks in    1.2 s  UBC-TIME-003",
        "✓ Walk-in: Another    0.5 s"]
    assert "\x1b" not in text


def test_a_short_wait_says_nothing_in_a_pipe() -> None:
    stream = _Pipe()
    display = progress.Display(stream)
    waits = Waits()
    waits.subscribe(display.awaiting)
    with waits.awaiting("anything", 30):
        pass
    display.close()
    assert stream.getvalue() == ""


def test_on_a_terminal_the_status_says_what_is_awaited_and_how_long(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERM", raising=False)
    display = progress.Display(_Tty())
    assert display.live
    display.begin_scenarios(20)
    display.scenario_started("Walk-in: A driver walks in")
    display.awaiting(progress.Awaited("on_select from cpo.example.com", 35))
    out = io.StringIO()
    Console(file=out, width=200).print(display._status())
    display.close()
    first, second = out.getvalue().splitlines()
    assert "[1/20]" in first and "Walk-in: A driver walks in" in first
    assert second.strip().startswith("waiting 0 s of up to 35 s for on_select from "
                                     "cpo.example.com")


def test_quiet_prints_only_what_is_said_at_quiet() -> None:
    stream = _Pipe()
    display = progress.Display(stream, verbosity=progress.QUIET)
    display.say("the plan")
    display.scenario_finished(PASSED, "a scenario", 0.1, "")
    display.say("VERDICT", at=progress.QUIET)
    display.close()
    assert stream.getvalue() == "VERDICT\n"


def test_pytest_output_is_kept_unless_verbose() -> None:
    kept = progress.Progress()
    with kept.pytest_output():
        print("pytest noise")
    assert kept.text == "pytest noise\n" and kept.pytest_args() == ["-q", "--tb=short"]
    assert progress.Progress(verbose=True).pytest_args() == ["-v"]


# -- listing, without starting anything ---------------------------------------------------------


def test_an_outline_is_listed_by_its_examples_and_tags_select_as_pytest_does() -> None:
    planned = listing.scenarios("bpp")
    security = listing.select(planned, "security")
    assert len(security) == 9 and all("security" in s.tags for s in security)
    titles = [s.title for s in security]
    assert "A select with a bad signature is refused with 401 (without a signature)" in titles
    assert len(set(titles)) == len(titles)
    assert len(listing.select(planned, "not security")) == len(planned) - 9
    with pytest.raises(listing.TagExpressionError, match="--tags 'walk_in and'"):
        listing.select(planned, "walk_in and")


def test_list_scenarios_and_tags_need_no_candidate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--role", "bpp", "--list-scenarios", "--tags", "walk_in"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "bpp: 1 of 21 scenarios", "Walk-in charging without a reservation (TSD §11.1)",
        "  A driver walks in, charges for a money limit and stops  @walk_in"]
    assert main(["run", "--role", "bap", "--list-tags"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  client_api +2 scenarios  a BAP's client API", out, re.M), out
    assert main(["run", "--role", "bap", "--list-scenarios", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"feature", "scenario", "tags"} <= set(listed[0]) and len(listed) == 21  # the BAP role


def test_a_run_without_a_candidate_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--role", "bpp"]) == 2
    assert "--candidate FILE is required" in capsys.readouterr().err


def test_run_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--format json > report.json" in out
    assert "--list-scenarios --tags security" in out


def test_scenarios_failed_by_the_sweeps_after_their_line_are_said_once() -> None:
    revised = [_result(1, FAILED, "UBC-SIG-009 a callback no step looked at"),
               _result(2, FAILED, "UBC-SIG-009 another")]
    line = terminal.revised_line(revised, terminal.UNICODE)
    assert line is not None and line.plain == (
        "2 scenarios shown ✓ above failed after all: the sweeps found UBC-SIG-009 in their "
        "exchanges")
    assert terminal.revised_line([_result(3, NOT_EVALUATED)], terminal.UNICODE) is None


def test_on_a_100_column_terminal_plan_scenarios_and_summary_fit_60_rows(
        tmp_path: Path) -> None:
    report, run_dir = _failing_report(tmp_path)
    planned = listing.scenarios("bpp")
    announce = ["point it at the registry  http://127.0.0.1:30556",
                "harness BAP               bap.mock.ubc at http://127.0.0.1:30559/beckn, key id "
                "bap.mock.ubc-20261129T214407Z",
                "CDS                       http://127.0.0.1:30557/beckn"]
    plan = terminal.plan_lines(
        subscriber_id="cpo.example.com", role="bpp", uri="http://127.0.0.1:9000/beckn",
        planned=planned, selected=planned, tags=None, ttl="PT30S", ack_bound_s=5,
        announce=announce, state_dir=tmp_path / "a-rather-long-state-folder-name",
        identity_shown=False)
    scenarios = [terminal.cut(terminal.scenario_line(
        r["status"], f"{r['feature']}: {r['name']} " * 3, r["duration_s"], r["message"],
        terminal.UNICODE)) for r in report["scenarios"]]
    out = io.StringIO()
    console = Console(file=out, width=100, highlight=False, markup=False, emoji=False)
    terminal.print_lines(console, [*plan, Text(""), *scenarios,
                                   *terminal.summary_lines(report, run_dir)])
    rows = out.getvalue().splitlines()
    assert len(rows) <= 60, out.getvalue()
    assert max(len(r) for r in rows) <= 100
