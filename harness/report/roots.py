"""Root findings: one defect reported once, with every place it showed.

A candidate's defect shows many times in a run: the same wrong on_select in every scenario that
selects, a duplicate callback seen both as two answers to one request and as the same bytes
twice, a wrong order status seen by the step (UBC-STATE-004) and again as an illegal transition
(UBC-STATE-001). The report keeps every finding as evidence and adds the roots: each distinct
defect once, with all its evidence ids, the scenarios it showed in, and the other rules that
saw it. The summary counts roots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.findings import NOT_EVALUATED, Finding

# A transition finding is the step's wrong state seen again across messages: the step's rule
# is the root when both saw the same callback.
SEEN_AGAIN_AS = {"UBC-STATE-001": "UBC-STATE-004", "UBC-STATE-002": "UBC-STATE-004",
                 "UBC-STATE-003": "UBC-STATE-004"}
# What differs between two sightings of one defect: ids (uuids, exchange ids), digests and
# signatures (base64), times (RFC 3339) and measured durations.
_VARYING = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\bx\d{6}\b"
    r"|[A-Za-z0-9+/=_-]{40,}|\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)?"
    r"|\b\d+\.\d+ s\b")


@dataclass
class Root:
    finding: Finding
    scenarios: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)  # other rules that saw the same defect
    occurrences: int = 0

    def absorb(self, scenario: str, finding: Finding) -> None:
        self.occurrences += 1
        if scenario and scenario not in self.scenarios:
            self.scenarios.append(scenario)
        self.evidence += [e for e in finding.evidence if e not in self.evidence]
        if finding.rule != self.finding.rule and finding.rule not in self.also:
            self.also.append(finding.rule)


def _signature(finding: Finding) -> tuple[str, str, str, str, str]:
    """What makes two findings the same defect: rule, place, what was expected and found, and
    the message once the ids that differ between scenarios are taken out."""
    return (finding.rule, finding.path, repr(finding.expected), repr(finding.actual),
            _VARYING.sub("…", finding.message))


def roots(findings: list[tuple[str, Finding]]) -> list[Root]:
    """Every distinct defect once, in the order first seen; not-evaluated notes are no
    defects and are left out."""
    found: list[Root] = []
    by_signature: dict[tuple[str, str, str, str, str], Root] = {}
    judged = [(s, f) for s, f in findings if f.status != NOT_EVALUATED]
    # Steps' state findings first, so a transition that saw the same callback joins them.
    ordered = sorted(judged, key=lambda sf: sf[1].rule in SEEN_AGAIN_AS)
    for scenario, finding in ordered:
        root = by_signature.get(_signature(finding)) or _same_evidence(found, finding)
        if root is None:
            root = Root(finding)
            found.append(root)
            by_signature[_signature(finding)] = root
        root.absorb(scenario, finding)
    return found


def _same_evidence(found: list[Root], finding: Finding) -> Root | None:
    """A root the finding repeats: the same rule about overlapping messages (a duplicate seen
    twice), or the step's wrong state about the callback a transition finding ends at."""
    evidence = set(finding.evidence)
    for root in found:
        if finding.rule == root.finding.rule == "UBC-TIME-004" and \
                evidence & set(root.evidence):
            return root
        if SEEN_AGAIN_AS.get(finding.rule) == root.finding.rule and finding.evidence and \
                finding.evidence[-1] in root.evidence:
            return root
    return None


def as_dicts(found: list[Root]) -> list[dict[str, Any]]:
    result = []
    for root in found:
        data = root.finding.as_dict()
        data["title"] = root.finding.title
        data["evidence"] = root.evidence
        data["scenarios"] = root.scenarios
        data["occurrences"] = root.occurrences
        if root.also:
            data["also"] = root.also
        result.append(data)
    return result
