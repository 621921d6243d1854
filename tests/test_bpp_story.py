"""Story steps that wait for an unsolicited notice report their rule when it never comes."""

from __future__ import annotations

from typing import Any

from harness.certify.bpp.story import BppStory
from harness.findings import Finding


class SilentJourney:
    """A journey whose candidate never sends an unsolicited callback."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.marks: dict[str, Any] = {}
        self.transaction_id = "00000000-0000-4000-8000-000000000000"
        self.order = None

    def add(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    def unsolicited(self, action: str, predicate: Any = None, after: Any = None) -> None:
        return None


def story() -> tuple[BppStory, SilentJourney]:
    journey = SilentJourney()
    return BppStory(journey), journey  # type: ignore[arg-type]


def test_no_interruption_notice_is_state_008() -> None:
    bpp, journey = story()
    bpp.interrupted()
    assert [f.rule for f in journey.findings] == ["UBC-STATE-008"]


def test_no_refund_notice_is_state_009() -> None:
    bpp, journey = story()
    bpp.refunded()
    assert [f.rule for f in journey.findings] == ["UBC-STATE-009"]
