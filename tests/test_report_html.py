"""report.html (harness/report/html.py) and junit.xml's names (harness/report/junit.py).

Without a server: the page of a hostile candidate escapes its text, keeps a bearer token out,
stays small for a huge transcript and renders from a report that lacks fields; junit.xml's
test cases are named after scenarios and features. The pages of real runs are checked beside
the fault matrix that makes them (tests/test_fault_matrix.py).
"""

from __future__ import annotations

import json
import re
import time
import tomllib
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import mangle_test_address

from harness.certify.plugin import ScenarioResult
from harness.report import exchanges, html, junit

ROOT = Path(__file__).resolve().parent.parent
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
EXTERNAL = re.compile(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:[a-z]+:)?//|@import|url\(""",
                      re.IGNORECASE)
HOSTILE = '</pre><script>alert("pwned")</script><img src=x onerror=alert(1)>'


class Strict(HTMLParser):
    """html.parser, holding the page to well-formedness: every element closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'} at "
                                 f"{self.getpos()}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: str) -> Strict:
    parser = Strict()
    parser.feed(page)
    parser.close()
    assert parser.problems == [] and parser.open == [], (parser.problems, parser.open)
    return parser


def visible(page: str) -> str:
    """The page's text as a reader sees it, whitespace folded."""
    parser = parsed(re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL))
    return " ".join(" ".join(parser.text).split())


def assert_self_contained(page: str) -> None:
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page.lower()


# -- a synthetic run ------------------------------------------------------------------------

def exchange(number: int, *, transaction: str = "t-1", action: str = "select",
             direction: str = "outbound", party: str = "bap", body: str = "{}",
             response: str = '{"message":{"ack":{"status":"ACK"}}}',
             headers: dict[str, str] | None = None, url: str = "") -> dict[str, Any]:
    return {"id": f"x{number:06d}", "direction": direction, "party": party, "method": "POST",
            "url": url or f"http://127.0.0.1:9000/beckn/{action}", "action": action,
            "transaction_id": transaction, "message_id": f"m-{number}",
            "wall_time": 1_800_000_000.0 + number / 100, "mono_time": 100.0 + number / 100,
            "request_headers": headers or {"Content-Type": "application/json"},
            "request_body": body, "status": 200, "response_mono_time": 100.005 + number / 100,
            "latency_s": 0.005, "response_headers": {"content-type": "application/json"},
            "response_body": response, "error": None, "note": None}


def report(name: str = "A driver walks in", message: str = "quote total 122 but parts 112",
           evidence: tuple[str, ...] = ("x000002",), **candidate: str) -> dict[str, Any]:
    finding = {"rule": "UBC-CONS-001", "severity": "error", "path": "/message/order",
               "message": message, "spec": "UBC TSD §11.1", "expected": 112, "actual": message,
               "evidence": list(evidence), "title": "Quote total equals the sum of its breakup",
               "scenario": "bpp.py::test_x"}
    return {
        "run_id": "20260101T000000Z-abcdef", "verdict": "not certified", "reason": "",
        "role": "bpp", "profile": "ubc-2.0.0-rc", "started": "2026-01-01T00:00:00.000Z",
        "duration_s": 1.5, "options": {"tags": None, "ttl": "PT2S"},
        "candidate": {"role": "bpp", "subscriber_id": "cpo.example.com", "key_id": "k1",
                      "signing_public_key": "AAAA", "uri": "http://127.0.0.1:9000/beckn",
                      **candidate},
        "summary": {"scenarios": 1, "passed": 0, "failed": 1, "not_evaluated": 0,
                    "errors": 1, "warnings": 0, "rules": ["UBC-CONS-001"]},
        "scenarios": [{
            "feature": "Walk-in charging", "name": name, "tags": ["walk_in"],
            "status": "failed", "message": message, "duration_s": 0.2,
            "started": "2033-05-18T03:33:20.000Z", "transactions": ["t-1"],
            "steps": [{"keyword": "When", "name": name, "outcome": "passed"},
                      {"keyword": "Then", "name": "it adds up", "outcome": "failed"},
                      {"keyword": "And", "name": "more", "outcome": "skipped"}],
            "findings": [finding]}],
        "root_findings": [{**finding, "occurrences": 1, "scenarios": [name]}],
        "findings": [finding],
        "network": [{"role": "bap", "subscriber_id": "bap.mock.ubc",
                     "url": "http://127.0.0.1:7403", "uri": "http://127.0.0.1:7403/beckn"}],
    }


def write_run(run_dir: Path, data: dict[str, Any], lines: list[dict[str, Any]]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(data), encoding="utf-8")
    with (run_dir / "transcript.ndjson").open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")
    return run_dir


def test_a_page_shows_verdict_candidate_steps_findings_and_timeline(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", report(), [
        exchange(1), exchange(2, action="on_select", direction="inbound",
                              url="http://127.0.0.1:7403/beckn/on_select")])
    page = html.write(run).read_text(encoding="utf-8")
    assert_self_contained(page)
    text = visible(page)
    for shown in ("NOT CERTIFIED", "cpo.example.com", "UBC-CONS-001", "UBC TSD §11.1",
                  "Quote total equals the sum of its breakup", "Feature: Walk-in charging",
                  "A driver walks in", "it adds up", "transaction t-1",
                  "bap → candidate", "candidate → bap", "200 ACK"):
        assert shown in text, shown
    assert 'id="x000002"' in page and 'href="#x000002"' in page  # the evidence, in full
    assert '<span class="badge failed">failed</span> <span class="keyword">Then' in page


def test_a_hostile_candidates_text_is_escaped(tmp_path: Path) -> None:
    """Names, messages, values, headers and bodies are the candidate's: shown, never run."""
    body = json.dumps({"context": {"action": "on_select"}, "message": HOSTILE})
    data = report(name=HOSTILE, message=HOSTILE, subscriber_id=HOSTILE)
    data["scenarios"][0]["feature"] = HOSTILE
    run = write_run(tmp_path / "run", data, [
        exchange(1, body=HOSTILE, response=HOSTILE),
        exchange(2, action="on_select", direction="inbound", body=body,
                 headers={"X-Evil": HOSTILE, "Authorization": "Bearer s3cr3t-token"})])
    page = html.write(run).read_text(encoding="utf-8")
    assert_self_contained(page)
    assert "<img" not in page and "s3cr3t-token" not in page
    assert "&lt;script&gt;" in page
    assert HOSTILE in visible(page)  # shown as text
    assert "Bearer &lt;redacted&gt;" in page


def test_authorization_signatures_are_kept_and_credentials_redacted() -> None:
    signature = 'Signature keyId="a|k|ed25519",signature="c2ln"'
    assert exchanges.redact("Authorization", signature) == signature
    assert exchanges.redact("authorization", "Bearer abc.def") == "Bearer <redacted>"
    assert exchanges.redact("Authorization", "Basic dXNlcjpwdw==") == "Basic <redacted>"
    assert exchanges.redact("Cookie", "session=1") == "<redacted>"


def test_the_page_stays_small_and_quick_for_a_huge_transcript(tmp_path: Path) -> None:
    """A hostile candidate's transcript: answers of 4 MB, a flood of 5000 callbacks, all cited
    as evidence. The page caps each body and the whole, and says what it cut."""
    huge = json.dumps({"message": {"filler": "x" * 4_000_000}})
    lines = [exchange(n, response=huge, body=huge) for n in range(1, 6)]
    lines += [exchange(n, action="on_status", direction="inbound", transaction=f"t-{n % 40}")
              for n in range(6, 5006)]
    data = report(evidence=tuple(line["id"] for line in lines))
    data["scenarios"][0]["transactions"] = [f"t-{n}" for n in range(40)]
    flood = report(message="y" * 5000)["findings"][0]  # each quoting the candidate at length
    data["scenarios"] *= 20
    for scenario in data["scenarios"]:
        scenario["findings"] = [flood] * 150
    data["root_findings"] *= 150
    run = write_run(tmp_path / "run", data, lines)
    started = time.perf_counter()
    page = html.write(run, data).read_text(encoding="utf-8")  # as `ubc-cert run` does
    took = time.perf_counter() - started
    assert len(page.encode()) < 3_000_000, len(page)
    assert took < 2.0, took  # well under a second on an idle machine; the suite shares cores
    text = visible(page)
    assert "more characters of" in text and "not shown" in text
    assert f"and {5005 - html.MAX_EVIDENCE} more (report.json)" in text  # evidence ids
    assert "more exchanges not shown" in text  # the timelines' rows are capped too
    assert "more findings in report.json" in text and "more characters)" in text


def test_a_report_that_lacks_fields_still_renders(tmp_path: Path) -> None:
    """An older or newer report.json, or a run that could not run: nothing to show is no
    error."""
    (tmp_path / "report.json").write_text('{"verdict": "could not run", "reason": "no socket"}')
    text = visible(html.write(tmp_path).read_text(encoding="utf-8"))
    assert "COULD NOT RUN" in text and "no socket" in text and "Nothing was judged" in text
    assert "no transcript.ndjson in the run directory" in text
    lines = [exchange(1), "not json", {"id": 3}]
    write_run(tmp_path / "odd", {"verdict": {"status": "partial_failed", "reason": "r"},
                                 "scenarios": [{"steps": "?"}, 7], "findings": {}}, [])
    (tmp_path / "odd" / "transcript.ndjson").write_text(
        "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines))
    text = visible(html.write(tmp_path / "odd").read_text(encoding="utf-8"))
    assert "PARTIAL FAILED" in text and "1 lines of transcript.ndjson could not be read" in text


@pytest.mark.parametrize(("verdict", "kind", "label"), [
    ("certified", "certified", "CERTIFIED"),
    ("not certified", "failed", "NOT CERTIFIED"),
    ("not_certified", "failed", "NOT CERTIFIED"),
    ("partial_failed", "failed", "PARTIAL FAILED"),
    ("partial_passed", "other", "PARTIAL PASSED"),
    ("passed (partial run, tags 'security': not a certification)", "other", "PASSED (PARTIAL"),
    ("could not run", "other", "COULD NOT RUN"),
    ({"status": "interrupted", "reason": "SIGTERM"}, "other", "INTERRUPTED"),
    (None, "other", "UNKNOWN"),
])
def test_only_a_certification_is_green(verdict: Any, kind: str, label: str) -> None:
    seen = html.verdict_of({"verdict": verdict, "reason": "why"})
    assert seen.kind == kind and seen.label.startswith(label)
    assert seen.reason == ("SIGTERM" if isinstance(verdict, dict) else "why")


def test_the_templates_ship_with_the_package() -> None:
    """A non-editable install has them only if pyproject's package-data names them."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["harness"]
    templates = ROOT / "harness" / "report" / "templates"
    for path in templates.iterdir():
        relative = path.relative_to(ROOT / "harness")
        assert any(relative.match(p) for p in patterns), (relative, patterns)
    assert "jinja2" in " ".join(tomllib.loads((ROOT / "pyproject.toml").read_text())
                                ["project"]["dependencies"]).lower()


# -- junit.xml ------------------------------------------------------------------------------

@pytest.mark.parametrize("nodeid", ["bpp.py::test_a_driver_walks_in",
                                    "bpp.py::test_refused[signed with a key nobody registered]",
                                    "steps/bap.py::test_x[a::b]"])
def test_junit_names_are_those_pytest_writes(nodeid: str) -> None:
    names = mangle_test_address(nodeid)
    assert junit.pytest_names(nodeid) == (".".join(names[:-1]), names[-1])


def test_junit_test_cases_are_named_after_scenarios_and_features(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        '<testsuite name="pytest" tests="4">'
        '<testcase classname="bpp" name="test_walk_in" time="0.1" />'
        '<testcase classname="bpp" name="test_bad_signature[without a signature]" />'
        '<testcase classname="bpp" name="test_bad_signature[with an expired one]">'
        '<failure message="UBC-SIG-013">trace</failure></testcase>'
        '<testcase classname="ubc-cert" name="could not run" />'
        '</testsuite></testsuites>', encoding="utf-8")
    results = [
        ScenarioResult("bpp.py::test_walk_in", "Walk-in (TSD §11.1)", "A driver walks in"),
        ScenarioResult("bpp.py::test_bad_signature[without a signature]", "Security",
                       "A select with a bad signature is refused"),
        ScenarioResult("bpp.py::test_bad_signature[with an expired one]", "Security",
                       "A select with a bad signature is refused")]
    assert junit.name_scenarios(path, results)
    cases = [(c.get("classname"), c.get("name"))
             for c in ET.parse(path).getroot().iter("testcase")]
    assert cases == [
        ("Walk-in (TSD §11.1)", "A driver walks in"),
        ("Security", "A select with a bad signature is refused [without a signature]"),
        ("Security", "A select with a bad signature is refused [with an expired one]"),
        ("ubc-cert", "could not run")]
    assert ET.parse(path).getroot().find("testsuite").get("name") == "ubc-conformance"
    assert "trace" in path.read_text(encoding="utf-8")  # the rest is as pytest wrote it
    assert not junit.name_scenarios(tmp_path / "absent.xml", results)
