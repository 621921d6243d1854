"""Findings: what a check reports, citing one rule of the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness import rules

NOT_EVALUATED = "not-evaluated"
# A failed finding an approved waiver covers (harness/waivers.py): kept as evidence, with its
# waiver, and no longer an error, so it fails neither its step nor the run.
WAIVED = "waived"


@dataclass
class Finding:
    """One observation about one message or exchange, tied to a catalogue rule.

    `path` is a JSON pointer into the message it concerns ("" for the whole body);
    `evidence` lists transcript entry ids (empty for offline validation).
    """

    rule: str
    message: str
    path: str = ""
    expected: Any = None
    actual: Any = None
    evidence: list[str] = field(default_factory=list)
    severity: str = ""
    status: str = "failed"  # or NOT_EVALUATED: the check could not look, which is never a pass
    waiver: dict[str, str] | None = None  # the waiver that covers it (status WAIVED)

    def __post_init__(self) -> None:
        rule = rules.get(self.rule)  # an unknown rule id is a harness bug: fail loudly
        if not self.severity:
            self.severity = rule.severity

    @property
    def title(self) -> str:
        return rules.get(self.rule).title

    @property
    def spec(self) -> str:
        return rules.get(self.rule).spec

    @property
    def is_error(self) -> bool:
        """An error that counts against the candidate: error severity, and not waived."""
        return self.severity == rules.ERROR and self.status != WAIVED

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "spec": self.spec,
        }
        if self.status != "failed":
            data["status"] = self.status
        if self.expected is not None:
            data["expected"] = self.expected
        if self.actual is not None:
            data["actual"] = self.actual
        if self.evidence:
            data["evidence"] = list(self.evidence)
        if self.waiver is not None:
            data["waiver"] = dict(self.waiver)
        return data


def pointer(parts: tuple[Any, ...] | list[Any]) -> str:
    """RFC 6901 JSON pointer from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
