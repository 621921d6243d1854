"""junit.xml as a CI dashboard shows it: each test case named after its Gherkin scenario, in a
class named after its feature, instead of the Python function pytest-bdd generated for it
(`bpp.test_a_driver_walks_in_charges_for_a_money_limit_and_stops`).

pytest writes the file during the run; this renames its test cases afterwards, from the
certification plugin's record of which node ran which scenario of which feature. A test case
of no scenario (one a run that could not start writes) is left as it is.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from harness.certify.plugin import ScenarioResult

SUITE_NAME = "ubc-conformance"


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
