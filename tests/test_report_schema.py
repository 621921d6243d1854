"""report.json as scripts and CI read it (no server): its published schema accepts the reports
the harness builds and refuses broken ones; the plan hash is stable and follows the features
and the rule catalogue; every scenario has a name of its own and its tags; `--version`.

Reports of real runs are held to the schema where the suite makes them (harness/selftest.py,
tests/test_hostile_candidates.py, tests/test_interrupted_run.py).
"""

from __future__ import annotations

import copy
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from pytest_bdd.parser import FeatureParser

import harness
from harness import rules
from harness.candidate import Candidate
from harness.certify import verdict as verdicts
from harness.certify.interruption import SIGTERM, Stop
from harness.certify.plugin import (
    FAILED,
    INTERRUPTED,
    NOT_RUN,
    PASSED,
    ScenarioResult,
    scenario_tags,
    scenario_title,
)
from harness.cli import main
from harness.findings import Finding
from harness.paths import FEATURES_DIR
from harness.report import document, junit, plan, schema

CANDIDATE = Candidate("bpp", "cpo.example.com", "cpo.example.com-k1", "A" * 43 + "=",
                      "http://127.0.0.1:9000/beckn")


def report_of(verdict: verdicts.Verdict, results: list[ScenarioResult],
              findings: list[tuple[str, Finding]], tags: str | None = None) -> dict[str, Any]:
    facts = document.RunFacts(role="bpp", candidate=CANDIDATE, started=1_760_000_000.0,
                              options={"tags": tags, "ttl": "PT30S", "ack_bound_s": 5.0,
                                       "catalog": {"mode": "fan-out"}},
                              plan=plan.of_role("bpp").as_dict())
    report = document.build(facts, verdict, results, findings)
    report["run_id"] = "20251014T090000Z-a1b2c3"
    return report


def failing_run() -> dict[str, Any]:
    results = [ScenarioResult("bpp.py::test_a", "Walk-in", "A driver walks in", ["walk_in"],
                              FAILED, "UBC-SIG-009 bad signature", 1.2),
               ScenarioResult("bpp.py::test_b", "Security", "A select is refused [unsigned]",
                              ["security"], PASSED)]
    finding = Finding("UBC-SIG-009", "the signature does not verify", expected="valid",
                      actual="invalid", evidence=["e12"])
    findings = [("bpp.py::test_a", finding)]
    return report_of(verdicts.judge(1, results, findings, None), results, findings)


# -- the schema ---------------------------------------------------------------------------------

def test_the_reports_the_harness_builds_conform() -> None:
    report = failing_run()
    assert report["verdict"] == "not_certified" and report["exit_code"] == 1
    assert report["reason"] == "1 scenario failed: UBC-SIG-009"
    assert schema.problems(report) == []
    assert report["harness_version"] == harness.version()
    stop = Stop(SIGTERM, "interrupted by SIGTERM", 3.0)
    cut = [ScenarioResult("bpp.py::test_a", "Walk-in", "A driver walks in", ["walk_in"],
                          INTERRUPTED, "interrupted by SIGTERM"),
           ScenarioResult("bpp.py::test_b", "Security", "A replay", ["security"], NOT_RUN)]
    interrupted = report_of(verdicts.judge(2, cut, [], None, stop=stop), cut, [])
    assert schema.problems(interrupted) == []
    assert (interrupted["verdict"], interrupted["exit_code"]) == ("interrupted", 143)
    empty = report_of(verdicts.could_not_run("candidate not reachable"), [], [])
    assert schema.problems(empty) == []


def _broken(report: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(report)
    *path, last = where.split("/")
    node: Any = broken
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return broken


@pytest.mark.parametrize(("where", "value", "said"), [
    ("verdict", "passed (partial run, tags 'walk_in': not a certification)", "verdict"),
    ("verdict", "not certified", "verdict"),
    ("reason", "", "reason"),
    ("reason", KeyError, "reason"),
    ("exit_code", 0, "exit_code"),  # not_certified exits 1
    ("stopped_by", "SIGTERM", "stopped_by"),  # only an interrupted run was stopped by a signal
    ("plan", KeyError, "plan"),
    ("plan/sha256", "abc", "sha256"),
    ("harness_version", "", "harness_version"),
    ("scenarios/0/status", "skipped", "status"),
    ("scenarios/0/tags", "walk_in", "tags"),
    ("scenarios/0/name", "", "name"),
    ("findings/0/rule", "SIG-9", "rule"),
    ("summary/not_run", -1, "not_run"),
    ("surprise", {"a": 1}, "surprise"),
])
def test_a_report_that_breaks_the_schema_is_refused_where_it_breaks(
        where: str, value: Any, said: str) -> None:
    problems = schema.problems(_broken(failing_run(), where, value))
    assert problems and any(said in p for p in problems), problems


def test_a_certified_report_must_exit_0_and_be_a_full_run() -> None:
    results = [ScenarioResult("t::a", "Walk-in", "A walk-in", ["walk_in"], PASSED)]
    report = report_of(verdicts.judge(0, results, [], None), results, [])
    assert (report["verdict"], report["exit_code"]) == ("certified", 0)
    assert schema.problems(report) == []
    assert schema.problems(_broken(report, "exit_code", 3))
    assert schema.problems(_broken(report, "options/tags", "walk_in"))


def test_load_checked_names_the_file_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"verdict": "certified"}')
    with pytest.raises(schema.NonConforming, match=r"report\.json breaks report\.schema\.json"):
        schema.load_checked(path)


# -- the plan hash ------------------------------------------------------------------------------

def test_the_same_plan_has_the_same_hash_and_a_changed_feature_another(tmp_path: Path) -> None:
    first = plan.of_role("bpp")
    assert plan.of_role("bpp") == first and len(first.sha256) == 64
    assert plan.of_role("bap").sha256 != first.sha256
    assert first.features[0] == "bpp/cancel.feature" and list(first.features) == sorted(
        first.features)
    copied = tmp_path / "features"
    shutil.copytree(FEATURES_DIR, copied)
    assert plan.of_role("bpp", copied).sha256 == first.sha256  # where it lies does not count
    walk_in = copied / "bpp" / "walk_in.feature"
    walk_in.write_bytes(walk_in.read_bytes().replace(b"100 INR", b"101 INR"))
    assert plan.of_role("bpp", copied).sha256 != first.sha256
    (copied / "bpp" / "extra.feature").write_text("Feature: more\n")
    assert len(plan.of_role("bpp", copied).features) == len(first.features) + 1


def test_the_plan_hash_follows_the_rule_catalogue() -> None:
    first = plan.of_role("bpp")
    fewer = plan.of_role("bpp", catalogue=rules.RULES[:-1])
    assert fewer.sha256 != first.sha256 and fewer.rules == first.rules - 1
    reworded = (*rules.RULES[:-1], rules.Rule(rules.RULES[-1].id, "another title",
                                               rules.RULES[-1].severity,
                                               rules.RULES[-1].spec))
    assert plan.of_role("bpp", catalogue=reworded).sha256 != first.sha256


def test_the_plan_hash_frames_each_file() -> None:
    """Two plans whose files concatenate to the same bytes are still two plans."""
    assert plan.plan_hash({"a.feature": b"ab", "b.feature": b"c"}, rules.RULES) != \
        plan.plan_hash({"a.feature": b"a", "b.feature": b"bc"}, rules.RULES)


# -- scenario names and tags --------------------------------------------------------------------

def _scenarios(role: str) -> list[tuple[str, list[str]]]:
    """(name, tags) of every scenario a full run of `role` has, as the plugin names them."""
    found = []
    for path in sorted((FEATURES_DIR / role).glob("*.feature")):
        feature = FeatureParser(str(path.parent), path.name).parse()
        for template in feature.scenarios.values():
            examples = [c for table in template.examples for c in table.as_contexts()]
            for example in examples or [None]:
                found.append((scenario_title(template, example),
                              scenario_tags(template, example)))
    return found


@pytest.mark.parametrize("role", ["bpp", "bap"])
def test_every_scenario_has_a_name_of_its_own_and_its_tags(role: str) -> None:
    scenarios = _scenarios(role)
    names = [name for name, _ in scenarios]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(tags for _, tags in scenarios), [n for n, tags in scenarios if not tags]


def test_an_outline_example_is_named_by_its_row() -> None:
    names = dict(_scenarios("bap"))
    assert names["A callback with a bad signature is refused with 401 and changes nothing "
                 "[without a signature]"] == ["security"]
    bpp = [n for n, _ in _scenarios("bpp") if n.startswith("A select with a bad signature")]
    assert len(bpp) == 6 and "A select with a bad signature is refused with 401 " \
        "[signed by a subscriber other than bap_id]" in bpp


# -- the version --------------------------------------------------------------------------------

def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"ubc-cert {harness.version()}\n"
    assert harness.version() == metadata.version("ubc-conformance")


# -- junit.xml ----------------------------------------------------------------------------------

PYTEST_JUNIT = ('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
                '<testsuite name="pytest" errors="0" failures="1" skipped="0" tests="3" '
                'time="4.2"><testcase classname="bpp" name="test_a" time="1.0"><failure '
                'message="UBC-SIG-009">UBC-SIG-009</failure></testcase><testcase classname="bpp" '
                'name="test_b" time="0.5" /><testcase time="0.001" /></testsuite></testsuites>')


def _counts(path: Path) -> dict[str, str | None]:
    suite = ElementTree.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")}


def test_a_run_that_could_not_run_gets_one_errored_case(tmp_path: Path) -> None:
    path = junit.complete(tmp_path / "junit.xml",
                          verdicts.could_not_run("candidate not reachable at http://x"), [])
    assert _counts(path) == {"tests": "1", "failures": "0", "errors": "1", "skipped": "0"}
    [error] = ElementTree.parse(path).getroot().iter("error")
    assert error.get("message") == "candidate not reachable at http://x"


def test_a_stopped_run_adds_what_it_cut_short_and_did_not_run(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(PYTEST_JUNIT)
    results = [ScenarioResult("t::a", "F", "A", [], FAILED),
               ScenarioResult("t::b", "F", "B", [], PASSED),
               ScenarioResult("t::c", "F", "C", [], INTERRUPTED, "interrupted by SIGTERM"),
               ScenarioResult("t::d", "F", "D", [], NOT_RUN)]
    stop = Stop(SIGTERM, "interrupted by SIGTERM", 3.0)
    junit.complete(path, verdicts.judge(2, results, [], None, stop=stop), results)
    # pytest's nameless stub of the scenario cut short is replaced by the scenario, named
    assert _counts(path) == {"tests": "4", "failures": "1", "errors": "1", "skipped": "1"}
    names = [c.get("name") for c in ElementTree.parse(path).getroot().iter("testcase")]
    assert names == ["test_a", "test_b", "C", "D"]


def test_a_run_that_ran_to_its_end_keeps_the_junit_of_pytest(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(PYTEST_JUNIT.replace('<testcase time="0.001" />', ""))
    results = [ScenarioResult("t::a", "F", "A", [], FAILED),
               ScenarioResult("t::b", "F", "B", [], PASSED)]
    junit.complete(path, verdicts.judge(1, results, [], None), results)
    assert path.read_text() == PYTEST_JUNIT.replace('<testcase time="0.001" />', "")
