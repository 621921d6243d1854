"""A certification as the live view shows it (harness/live/): each scenario as it starts and
ends, and each finding as soon as the step that made it is over.

A pytest plugin beside the certification plugin (plugin.py), reading the same results; it
publishes on the network's feed and never changes an outcome.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.certify.journey import Certification
from harness.certify.plugin import RUNNING, ScenarioResult
from harness.findings import Finding
from harness.live.feed import LiveFeed


def finding_event(finding: Finding, scenario: str) -> dict[str, Any]:
    return {**finding.as_dict(), "status": finding.status, "scenario": scenario}


class LiveEvents:
    def __init__(self, certification: Certification, results: dict[str, ScenarioResult]
                 ) -> None:
        self.certification = certification
        self.results = results
        self.feed: LiveFeed = certification.network.live
        self._published: set[int] = set()  # ids of the findings already sent
        self.total = 0

    def _title(self, nodeid: str) -> str:
        return self.certification.scenario_names.get(nodeid, nodeid)

    def _scenario(self, nodeid: str, status: str) -> None:
        result = self.results.get(nodeid)
        self.feed.publish("scenario", {
            "nodeid": nodeid, "title": self._title(nodeid), "status": status,
            "duration_s": None if result is None or status == RUNNING else result.duration_s,
            "message": "" if result is None or status == RUNNING else result.message,
            "total": self.total})

    def scenario_revised(self, result: ScenarioResult) -> None:
        """A scenario whose outcome the end-of-run sweep changed."""
        self._scenario(result.nodeid, result.status)

    def publish_findings(self, nodeid: str | None = None) -> None:
        """The findings of the scenario `nodeid` (every journey's when None) not yet sent."""
        for journey in list(self.certification.journeys):
            if nodeid is not None and journey.scenario != nodeid:
                continue
            for finding in list(journey.findings):
                if id(finding) not in self._published:
                    self._published.add(id(finding))
                    self.feed.publish("finding", finding_event(
                        finding, self._title(journey.scenario)))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._scenario(nodeid, RUNNING)

    def pytest_bdd_after_step(self, request: Any, scenario: Any, step: Any) -> None:
        self.publish_findings(request.node.nodeid)

    def pytest_bdd_step_error(self, request: Any, scenario: Any, step: Any,
                              exception: BaseException) -> None:
        self.publish_findings(request.node.nodeid)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.publish_findings(nodeid)
        result = self.results.get(nodeid)
        self._scenario(nodeid, result.status if result is not None else "unknown")
