"""What a certification run puts in Allure beyond what allure-pytest-bdd records by itself.

allure-pytest-bdd (loaded by the engine instead of allure-pytest: the two register the same
`--alluredir` and cannot both load) makes each Gherkin feature, scenario and step an Allure
suite, test and step. This module adds, through `allure`'s dynamic API while the scenario's
test is still open:

- each Gherkin step's exchanges, attached to that step: those of the scenario's transactions
  recorded while the step ran (a callback is attached to the step that waited for it); what
  arrived after the last step (the end-of-scenario sweep's waits) to the scenario itself;
  never an empty attachment;
- the scenario's Gherkin tags as `tag` labels, the rule ids of its findings as `rule` labels
  (and as tags, so Allure's tag filter finds them), and each finding's spec clause as a
  `spec` label ("UBC-SIG-001: BECKN-006 ..."). A clause is a section of a document, not a
  URL, and an Allure link without a URL is a broken one: hence a label, not a link;
- `environment.properties` in allure-results (harness version, plan hash, role, candidate,
  ttl), which Allure shows as the run's environment.

Allure is evidence: nothing here may fail a run, so every call is guarded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.certify.journey import Certification, Journey
from harness.findings import Finding
from harness.rules import get as rule
from harness.transcript import Exchange


def title_paths_outside_the_rootdir() -> None:
    """allure-pytest-bdd 2.16 names a scenario's place by its feature file's path relative to
    pytest's rootdir, and raises when the file is not under it: the harness's features are
    not under harness/steps, the rootdir of a run (its node ids are relative to it). Outside
    the rootdir the feature's place is its folder's name ("bpp"), then the feature's name."""
    with contextlib.suppress(ImportError):
        from allure_pytest_bdd import pytest_bdd_listener

        library = pytest_bdd_listener.get_title_path
        if getattr(library, "__wrapped__", None) is not None:
            return  # already done in this process

        def title_path(request: Any, feature: Any) -> list[str]:
            try:
                return list(library(request, feature))
            except ValueError:
                return [Path(feature.filename).parent.name, feature.name or
                        Path(feature.filename).name]

        title_path.__wrapped__ = library  # type: ignore[attr-defined]
        pytest_bdd_listener.get_title_path = title_path


def _attach(text: str, name: str) -> None:
    if not text.strip():
        return  # an empty attachment tells nobody anything
    with contextlib.suppress(Exception):
        import allure

        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


class StepExchanges:
    """Attaches to each Gherkin step the exchanges of its scenario recorded while it ran."""

    def __init__(self, certification: Certification) -> None:
        self._certification = certification
        self._mark: dict[str, int] = {}  # scenario node id -> transcript length at step start

    def _journey(self, nodeid: str) -> Journey | None:
        return next((j for j in self._certification.journeys if j.scenario == nodeid), None)

    def _since_mark(self, nodeid: str) -> list[Exchange]:
        transcript = self._certification.network.transcript
        entries = transcript.entries()
        start = self._mark.get(nodeid, len(entries))
        self._mark[nodeid] = len(entries)
        journey = self._journey(nodeid)
        if journey is None:
            return []
        ours = set(journey.transaction_ids)
        return [e for e in entries[start:] if e.transaction_id in ours]

    def step_begins(self, nodeid: str) -> None:
        self._mark[nodeid] = len(self._certification.network.transcript)

    def step_ends(self, nodeid: str, step: str) -> None:
        """Attach what the step exchanged; call it while Allure's step is still open."""
        _attach(exchanges_text(self._since_mark(nodeid)), f"exchanges: {step}")

    def scenario_ends(self, nodeid: str) -> None:
        """Attach what arrived after the last step to the scenario, and label it."""
        if nodeid in self._mark:
            _attach(exchanges_text(self._since_mark(nodeid)), "exchanges after the last step")
            del self._mark[nodeid]


def exchanges_text(exchanges: Iterable[Exchange]) -> str:
    return "\n".join(exchange_line(e) for e in exchanges)


def exchange_line(exchange: Exchange) -> str:
    latency = f"{exchange.latency * 1000:.0f} ms" if exchange.latency is not None else "-"
    answer = exchange.error or f"HTTP {exchange.status}"
    return (f"{exchange.id} {exchange.direction:8} {exchange.party:4} {exchange.action or '?':12}"
            f" msg {str(exchange.message_id)[:8]} -> {answer} ({latency}) {exchange.url}")


def label_scenario(title: str, tags: Iterable[str], findings: Iterable[Finding]) -> None:
    """The open Allure test's title (as report.json and junit.xml name the scenario, an
    outline's example by its row) and labels: its Gherkin tags, its findings' rule ids and
    their clauses."""
    tags = list(tags)
    rule_ids = sorted({f.rule for f in findings})
    with contextlib.suppress(Exception):
        import allure

        if title:
            allure.dynamic.title(title)
        if tags or rule_ids:
            allure.dynamic.tag(*tags, *rule_ids)
        for rule_id in rule_ids:
            allure.dynamic.label("rule", rule_id)
            allure.dynamic.label("spec", f"{rule_id}: {rule(rule_id).spec}")


def write_environment(results_dir: Path, facts: Mapping[str, object]) -> None:
    """allure-results/environment.properties: one `key = value` a line, as Allure reads it.
    Only for a run whose scenarios began (the folder exists)."""
    if not results_dir.is_dir():
        return
    lines = [f"{key} = {_escape(str(value))}" for key, value in facts.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n",
                                                        encoding="utf-8")


def _escape(value: str) -> str:
    """A Java properties value on one line: backslashes and line breaks escaped, and what is
    not ASCII as \\uXXXX (a properties file is Latin-1)."""
    value = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    units = value.encode("utf-16-be")
    return "".join(
        chr(u) if u < 128 else f"\\u{u:04x}"
        for u in (int.from_bytes(units[i:i + 2], "big") for i in range(0, len(units), 2)))
