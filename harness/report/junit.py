"""junit.xml says what report.json says, so a CI dashboard shows a run as it was.

pytest writes junit.xml for the scenarios that ran. A run that could not run gets one errored
test case naming the reason (red on a dashboard, never an empty green suite); a run stopped
early gets the scenario it cut short as an error and those it never ran as skipped, and a file
pytest left unwritten or unreadable (the stop came as it was writing) is rebuilt from the
results. Then each pytest-named test case is named after its scenario and its class after its
feature (`name_scenarios`), so a dashboard shows what the operator reads in the features.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from harness.certify.plugin import FAILED, HARNESS_ERROR, INTERRUPTED, NOT_RUN, ScenarioResult
from harness.certify.verdict import COULD_NOT_RUN, Verdict

SUITE = "ubc-conformance"


def _read(path: Path) -> ET.Element | None:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    return root if root.tag in ("testsuites", "testsuite") else None


def _suite(root: ET.Element) -> ET.Element:
    if root.tag == "testsuite":
        return root
    suite = root.find("testsuite")
    if suite is None:
        suite = ET.SubElement(root, "testsuite", name=SUITE)
    return suite


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name,
                         time=f"{seconds:.3f}")


def _from_results(results: list[ScenarioResult]) -> ET.Element:
    """A junit document of the scenarios that ran, for when pytest left none."""
    root = ET.Element("testsuites", name=SUITE)
    suite = ET.SubElement(root, "testsuite", name=SUITE)
    for result in results:
        if result.status in (NOT_RUN, INTERRUPTED):
            continue  # added by complete() as every run stopped early has them
        case = _case(suite, result.feature, result.name, result.duration_s)
        if result.status == FAILED:
            ET.SubElement(case, "failure", message=result.message.splitlines()[0]
                          if result.message else "failed").text = result.message
        elif result.status == HARNESS_ERROR:
            ET.SubElement(case, "error", message=result.message).text = result.message
        elif result.status != "passed":
            ET.SubElement(case, "skipped", message=f"{result.status}: {result.message}")
    return root


def _recount(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for kind, attribute in (("failure", "failures"), ("error", "errors"),
                            ("skipped", "skipped")):
        suite.set(attribute, str(sum(case.find(kind) is not None for case in cases)))
    if suite.get("time") is None:
        suite.set("time", f"{sum(float(c.get('time') or 0) for c in cases):.3f}")


def complete(path: Path, verdict: Verdict, results: list[ScenarioResult]) -> Path:
    """Rewrite junit.xml at `path` to agree with the run's verdict and results."""
    root = _read(path)
    rebuilt = root is None
    if root is None:
        root = _from_results(results)
    suite = _suite(root)
    changed = rebuilt
    for case in suite.findall("testcase"):
        if case.get("name") is None:  # pytest's stub of the scenario a stop cut short
            suite.remove(case)
            changed = True
    for result in results:
        changed = changed or result.status in (INTERRUPTED, NOT_RUN)
        if result.status == INTERRUPTED:
            case = _case(suite, result.feature, result.name, result.duration_s)
            ET.SubElement(case, "error", message=result.message, type="interrupted")
        elif result.status == NOT_RUN:
            case = _case(suite, result.feature, result.name)
            ET.SubElement(case, "skipped", message=f"not run: {verdict.reason}",
                          type="not run")
    if verdict.name == COULD_NOT_RUN and not any(
            case.find("error") is not None or case.find("failure") is not None
            for case in suite.iter("testcase")):
        changed = True
        case = _case(suite, SUITE, "could not run")
        ET.SubElement(case, "error", message=verdict.reason, type=COULD_NOT_RUN).text = (
            verdict.reason)
    if not changed:
        return path  # pytest's file already says it all
    _recount(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


SUITE_NAME = SUITE


def pytest_names(nodeid: str) -> tuple[str, str]:
    """(classname, name) pytest's junitxml gives the test of `nodeid` (as its
    `mangle_test_address` does): the module's dotted path and the function with its
    parameters, `("bpp", "test_a_select_is_refused[without a signature]")`."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def scenario_names(results: Iterable[ScenarioResult]) -> dict[tuple[str, str], tuple[str, str]]:
    """pytest's (classname, name) of each scenario -> (feature, scenario name), the name made
    unique within its feature (examples of one outline share the outline's name: each gets its
    example's values, as pytest's parameter id gives them)."""
    results = [r for r in results if r.name]
    shared = Counter((r.feature, r.name) for r in results)
    names = {}
    for result in results:
        name = result.name
        if shared[(result.feature, name)] > 1:
            _, bracket, params = result.nodeid.partition("[")
            name += f" [{params[:-1]}]" if bracket and params.endswith("]") else \
                f" ({result.nodeid})"
        names[pytest_names(result.nodeid)] = (result.feature or "(no feature)", name)
    return names


def name_scenarios(path: Path, results: Iterable[ScenarioResult]) -> bool:
    """Rename the test cases of `path` after their scenarios and features; False when there
    is no such file to rename (nothing ran)."""
    if not path.exists():
        return False
    names = scenario_names(results)
    tree = ET.parse(path)  # written by pytest in this run, not by the candidate
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for suite in suites:
        if suite.get("name") == "pytest":
            suite.set("name", SUITE_NAME)
        for case in suite.iter("testcase"):
            named = names.get((case.get("classname", ""), case.get("name", "")))
            if named is not None:
                case.set("classname", named[0])
                case.set("name", named[1])
    partial = path.with_name(path.name + ".partial")
    tree.write(partial, encoding="utf-8", xml_declaration=True)
    os.replace(partial, path)
    return True
