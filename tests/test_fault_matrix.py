"""Self-test: the reference BPP, run as its own process, is certified; with each fault switch
(switched at run time on one process per worker) it is not, and that fault's rule is among the
findings of the scenarios where the fault shows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.fault_matrix import CLEAN, Row, shows_in
from harness.report import allure_html, certificate, html, plan
from mocks.bpp import FAULTS
from tests import secret_scan
from tests.browser import BrowserPage
from tests.test_registry_compat import lookups_of, transcript_of
from tests.test_report_html import assert_self_contained, visible

# The matrix (a dozen and more certification runs, two at a time) is built once per session
# (tests/conftest.py `fault_matrix`); the audit tests below read the same runs.
pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def matrix(fault_matrix: dict[str, Row]) -> dict[str, Row]:
    return fault_matrix


def test_the_clean_reference_bpp_is_certified(matrix: dict[str, Row]) -> None:
    clean = matrix[CLEAN].result
    assert clean.exit_code == 0, clean.output[-3000:]
    assert clean.report["verdict"] == "certified"
    assert clean.report["summary"]["errors"] == 0
    assert clean.report["summary"]["not_evaluated"] == 0
    assert clean.report["reason"] == (f"all {clean.report['summary']['scenarios']} scenarios "
                                      "passed with no error finding")
    assert_the_scenarios_are_named_and_tagged(clean.report, "bpp")


def assert_the_scenarios_are_named_and_tagged(report: dict[str, Any], role: str) -> None:
    """A full run's report (held to its schema by the self-test) names every scenario once,
    an outline's examples by their row, with its Gherkin tags, and the plan it followed."""
    names = [s["name"] for s in report["scenarios"]]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert any(n.endswith(" [without a signature]") for n in names), names
    assert all(s["tags"] for s in report["scenarios"]), report["scenarios"]
    tags = {t for s in report["scenarios"] for t in s["tags"]}
    assert {"walk_in", "reservation", "cancel", "security", "corner_cases"} <= tags, tags
    assert report["plan"] == plan.of_role(role).as_dict()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_detected_with_its_rule(fault: str, matrix: dict[str, Row]) -> None:
    row = matrix[fault]
    assert row.result.exit_code == 1, row.result.output[-3000:]
    assert row.rule in row.result.error_rules, (
        f"{fault}: expected {row.rule}, found {sorted(row.result.error_rules)}")


# -- the same runs, audited offline from their transcripts (ubc-cert audit) ----------------

def audited(report_dir: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "audit", "--format", "json",
                           str(report_dir)], capture_output=True, text=True, timeout=60,
                          check=False)
    data = json.loads(done.stdout)
    data["exit_code"] = done.returncode
    return data


def error_rules(data: dict[str, Any]) -> set[str]:
    findings = [f for t in data["results"] for f in t["findings"]] + \
        [f for t in data["results"] for m in t["results"] for f in m["findings"]]
    return {f["rule"] for f in findings if f["severity"] == "error" and "status" not in f}


@pytest.mark.network
@pytest.mark.slow
def test_the_clean_run_audits_clean(fault_matrix: dict[str, Row]) -> None:
    """`ubc-cert audit` of the clean run's transcript finds nothing either."""
    result = fault_matrix[CLEAN].result  # every scenario, as the self-test certified it
    assert result.exit_code == 0 and result.report_path is not None, result.output[-2000:]
    data = audited(result.report_path.parent)
    assert data["exit_code"] == 0, error_rules(data)
    assert (data["errors"], data["not_evaluated"]) == (0, 0)
    assert data["judged"] > 50 and data["signatures"].startswith("verified")


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize(("fault", "rule", "tags"), [
    ("illegal-state-transition", "UBC-STATE-001", "walk_in"),
    ("quote-total-mismatch", "UBC-CONS-001", "walk_in"),
    ("duplicate-callback", "UBC-TIME-004", "walk_in"),
    ("wrong-message-id", "UBC-CTX-013", "walk_in"),
    ("missing-callback", "UBC-TIME-003", "walk_in"),
    ("late-callback", "UBC-TIME-002", "walk_in"),
    ("unsolicited-reuses-message-id", "UBC-CTX-014", "walk_in"),
    ("changes-price-after-select", "UBC-CONS-004", "walk_in"),
    ("accepts-tampered-request", "UBC-SIG-013", "security"),
    ("acks-schema-invalid-request", "UBC-SCH-011", "security"),
    ("callbacks-to-any-bap", "UBC-CTX-029", "security"),
])
def test_a_fault_switch_shows_its_rule_in_the_audit(fault_matrix: dict[str, Row], fault: str,
                                                    rule: str, tags: str) -> None:
    """The fault matrix's run of each fault (tests/conftest.py), audited from its transcript."""
    result = fault_matrix[fault].result
    assert shows_in(fault) == tags
    assert result.report_path is not None, result.output[-2000:]
    data = audited(result.report_path.parent)
    assert data["exit_code"] == 1 and rule in error_rules(data), error_rules(data)


# -- the clean run's transcript: the registry traffic of the candidate ----------------------------

def test_the_clean_runs_transcript_holds_the_candidates_lookup_of_the_harness_bap(
        fault_matrix: dict[str, Row]) -> None:
    """The reference BPP in its own process looks keys up like any stack: the harness BAP's key
    it was asked to trust, and what the registry answered, are in transcript.ndjson; so is its
    lookup of the key no one registered (a security probe's), answered with nothing."""
    result = fault_matrix[CLEAN].result
    records = transcript_of(result.report_path)
    bap_key_id = next(p["key_id"] for p in result.report["network"]
                      if p["subscriber_id"] == "bap.mock.ubc")
    asked = [r for r in lookups_of(records, "bap.mock.ubc")
             if json.loads(r["request_body"]).get("key_id") == bap_key_id]
    assert asked, "the candidate's lookup of the harness BAP's key is not in the transcript"
    assert asked[0]["status"] == 200 and asked[0]["method"] == "POST"
    [found] = json.loads(asked[0]["response_body"])
    bap_key = next(p["public_key"] for p in result.report["network"]
                   if p["subscriber_id"] == "bap.mock.ubc")
    assert (found["subscriber_id"], found["signing_public_key"]) == ("bap.mock.ubc", bap_key)
    unknown = [r for r in lookups_of(records, "bap.mock.ubc")
               if json.loads(r["request_body"]).get("key_id") == "unregistered-key"]
    assert unknown and json.loads(unknown[0]["response_body"]) == []


# -- the same runs, sealed: the clean run's certificate holds until a byte changes, each fault run
# has a signed result, and no file of any run holds a secret --------------------------------------

def verify_certificate(run_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "verify-certificate",
                           str(run_dir), *options], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.parametrize("name", ["report.json", "transcript.ndjson", "certificate.json",
                                  "certificate.sig"])
def test_the_clean_run_certificate_fails_after_a_byte_changes(fault_matrix: dict[str, Row],
                                                              tmp_path: Path, name: str) -> None:
    result = fault_matrix[CLEAN].result
    assert result.report_path is not None, result.output[-2000:]
    run_dir = shutil.copytree(result.report_path.parent, tmp_path / "run")
    statement = json.loads((run_dir / "certificate.json").read_text())
    key = statement["operator"]["public_key"]
    assert certificate.verify(run_dir, key).valid  # in process; the command on the change
    changed = bytearray((run_dir / name).read_bytes())
    changed[len(changed) // 2] ^= 0x01
    (run_dir / name).write_bytes(bytes(changed))
    checked = verify_certificate(run_dir, "--operator-public-key", key)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    failures = [line for line in checked.stdout.splitlines() if "FAIL" in line]
    assert any(name in line for line in failures), checked.stdout


def test_a_faulty_bpp_run_gets_a_signed_result_and_no_certificate(
        fault_matrix: dict[str, Row]) -> None:
    for fault, row in fault_matrix.items():
        if fault == CLEAN:
            continue
        run_dir = (row.result.report_path or Path()).parent
        assert not (run_dir / "certificate.json").exists(), fault
        checked = certificate.verify(run_dir)  # in process: a command per fault costs seconds
        assert checked.valid and checked.kind == certificate.RESULT, checked.lines()
        assert "not a certificate" in checked.lines()[-1]


def test_no_bpp_run_leaks_a_private_key(fault_matrix: dict[str, Row]) -> None:
    """Every file of every run folder of the matrix, searched for every private key the
    harness kept (its parties' and the operator's)."""
    root = (fault_matrix[CLEAN].result.report_path or Path()).parents[3]
    secrets = secret_scan.secrets_under(root)
    assert any("operator-keys.json" in label for label in secrets), secrets.keys()
    folders = secret_scan.run_folders(root)
    assert len(folders) == len(fault_matrix)
    leaked = [f"{folder.name}/{leak}" for folder in folders
              for leak in secret_scan.leaks(folder, secrets)]
    assert leaked == []
    assert not [f for f, row in fault_matrix.items() if "harness bug: a secret" in
                row.result.output]


# -- report.html and junit.xml of the same runs (here: one xdist worker builds the matrix) -------

@pytest.mark.network
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("fault", [CLEAN, "quote-total-mismatch", "accepts-tampered-request"])
def test_every_run_writes_a_readable_report_html(fault_matrix: dict[str, Row],
                                                 fault: str) -> None:
    row = fault_matrix[fault]
    assert row.result.report_path is not None, row.result.output[-2000:]
    run_dir = row.result.report_path.parent
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    text = visible(page)
    report_data = row.result.report
    assert html.verdict_of(report_data).label in text
    # fault runs cover the scenarios where their fault shows: partial runs
    assert ("CERTIFIED" if fault == CLEAN else "PARTIAL FAILED") in text
    if fault != CLEAN:
        assert row.rule in text and "Fix these first" in text
    for scenario in report_data["scenarios"]:
        assert scenario["name"] in text
        assert all(step["name"] in text for step in scenario["steps"])
    assert {s["outcome"] for sc in report_data["scenarios"] for s in sc["steps"]} >= (
        {"passed"} if fault == CLEAN else {"passed", "failed"})
    assert "callback after" in text and "candidate → bap" in text  # the timelines
    cases = list(ET.parse(run_dir / "junit.xml").getroot().iter("testcase"))
    assert {c.get("name") for c in cases} >= {s["name"] for s in report_data["scenarios"]
                                              if "Scenario Outline" not in s["name"]
                                              and "bad signature" not in s["name"]}
    assert not any(c.get("name", "").startswith("test_") for c in cases)
    assert {c.get("classname") for c in cases} == {s["feature"] for s in report_data["scenarios"]}


def _allure_tests(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((run_dir / "allure-results").glob("*-result.json"))]


def _steps(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for step in node.get("steps", []) for s in (step, *_steps(step))]


def _attachments(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [*node.get("attachments", []),
            *(a for s in _steps(node) for a in s.get("attachments", []))]


@pytest.mark.parametrize("fault", [CLEAN, next(iter(FAULTS))])
def test_allure_shows_the_gherkin_steps_their_exchanges_and_the_rules(
        fault: str, matrix: dict[str, Row]) -> None:
    """allure-pytest-bdd's results: each scenario an Allure test named as report.json names
    it, its Gherkin steps as steps with the exchanges each caused attached to it, its tags and
    its findings' rule ids as labels, the run's environment; no empty attachment."""
    row = matrix[fault]
    run_dir = (row.result.report_path or Path()).parent
    report = row.result.report
    tests = _allure_tests(run_dir)
    ran = [s for s in report["scenarios"] if s["status"] != "not run"]
    assert len(tests) == len(ran), (len(tests), len(ran))
    by_name = {t["name"]: t for t in tests}
    for scenario in ran:
        test = by_name[scenario["name"]]
        assert [s["name"] for s in test["steps"]] == [
            f"{s['keyword']} {s['name']}" for s in scenario["steps"]], scenario["name"]
        tags = [label["value"] for label in test["labels"] if label["name"] == "tag"]
        assert set(scenario["tags"]) <= set(tags), (scenario["name"], tags)
        assert len(tags) == len(set(tags)), (scenario["name"], tags)
    step_attachments = [a for t in tests for s in _steps(t) for a in s.get("attachments", [])]
    assert step_attachments and all(a["name"].startswith("exchanges: ")
                                    for a in step_attachments)
    for attachment in (a for t in tests for a in _attachments(t)):
        assert (run_dir / "allure-results" / attachment["source"]).stat().st_size > 0
    assert all(p.stat().st_size > 0 for p in (run_dir / "allure-results").iterdir())
    rules = {label["value"] for t in tests for label in t["labels"] if label["name"] == "rule"}
    specs = [label["value"] for t in tests for label in t["labels"] if label["name"] == "spec"]
    if fault != CLEAN:  # (a clean run may still have warnings: their rules are labels too)
        assert row.rule in rules, rules
        assert any(s.startswith(f"{row.rule}: ") for s in specs), specs
    environment = (run_dir / "allure-results" / "environment.properties").read_text()
    assert f"plan.sha256 = {report['plan']['sha256']}" in environment.splitlines()
    assert f"harness.version = {report['harness_version']}" in environment.splitlines()
    assert "role = bpp" in environment.splitlines()


# -- the same runs' pages in a real browser (the system's Chromium, tests/browser.py) ------------

def _run_dir(row: Row) -> Path:
    assert row.result.report_path is not None, row.result.output[-2000:]
    return row.result.report_path.parent


@pytest.mark.parametrize(("fault", "name"), [(CLEAN, "report.html"), (CLEAN, "certificate.html"),
                                             ("quote-total-mismatch", "report.html")])
def test_a_run_page_reads_in_a_browser_and_loads_nothing_else(
        fault_matrix: dict[str, Row], browser_page: BrowserPage, tmp_path: Path, fault: str,
        name: str) -> None:
    """As a person opens it: from the file, the verdict in the first screen, the scenarios
    (and a failed run's rule) as rendered text, nothing fetched beside the file, no script
    error."""
    row = fault_matrix[fault]
    report = row.result.report
    seconds = browser_page.open(str(_run_dir(row) / name))
    assert seconds < 5, f"{name} took {seconds:.1f} s to load"
    browser_page.screenshot(tmp_path / f"{name}.png")
    verdict = "CERTIFIED" if fault == CLEAN else "PARTIAL FAILED"
    heading = browser_page.page.get_by_text(verdict, exact=True).first
    box = heading.bounding_box()
    assert heading.is_visible() and box is not None and box["y"] < 300, box
    text = browser_page.text()
    if name == "certificate.html":
        summary = report["summary"]
        assert f"{summary['passed']} of {summary['scenarios']} passed" in text
        assert report["candidate"]["subscriber_id"] in text and report["run_id"] in text
    else:
        missing = [s["name"] for s in report["scenarios"] if s["name"] not in text]
        assert missing == [], missing
    if fault != CLEAN:
        assert re.search(rf"Fix these first {row.rule} ", text), text[:2000]
    assert browser_page.requests == [(_run_dir(row) / name).as_uri()]
    browser_page.assert_offline_and_quiet()


def test_allure_single_file_renders_the_scenarios_from_the_file(
        fault_matrix: dict[str, Row], browser_page: BrowserPage, allure_cache: Path,
        tmp_path: Path) -> None:
    """`ubc-cert report RUN --allure` on the clean run: one HTML file that, opened from disk,
    shows each feature and, unfolded, each scenario by its name, fetching nothing (Allure's
    analytics tag is taken out). Needs npm, and the network the first time (Allure 3 is
    installed into `allure_cache`)."""
    row = fault_matrix[CLEAN]
    started = time.monotonic()
    try:
        page = allure_html.build(_run_dir(row), tmp_path / "allure.html", cache=allure_cache)
    except allure_html.AllureUnavailable as exc:
        pytest.skip(f"Allure 3 unavailable, so its HTML is not tried: {exc}")
    print(f"\nallure install (if needed) and generate: {time.monotonic() - started:.1f} s")
    assert "googletagmanager" not in page.read_text(encoding="utf-8")
    browser_page.open(str(page))
    features = sorted({s["feature"] for s in row.result.report["scenarios"]})
    # Allure's script decodes and renders its embedded data after the load event: on a busy
    # machine (load 10 on two cores) that took over 10 s; one that never renders still fails.
    browser_page.wait_for_text(features[0], timeout_s=60)
    for feature in features:
        browser_page.wait_for_text(feature)
        browser_page.page.get_by_text(feature, exact=True).first.click()
    for scenario in row.result.report["scenarios"]:
        browser_page.wait_for_text(scenario["name"])
    browser_page.screenshot(tmp_path / "allure.png")
    assert browser_page.requests == [page.as_uri()]
    browser_page.assert_offline_and_quiet()
