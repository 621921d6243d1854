"""junit.xml says what report.json says, so a CI dashboard shows a run as it was.

pytest writes junit.xml for the scenarios that ran. A run that could not run gets one errored
test case naming the reason (red on a dashboard, never an empty green suite); a run stopped
early gets the scenario it cut short as an error and those it never ran as skipped, and a file
pytest left unwritten or unreadable (the stop came as it was writing) is rebuilt from the
results.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.certify.plugin import FAILED, HARNESS_ERROR, INTERRUPTED, NOT_RUN, ScenarioResult
from harness.certify.verdict import COULD_NOT_RUN, Verdict

SUITE = "ubc-cert run"


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
