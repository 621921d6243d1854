"""The verdict of a run, its reason and its exit code.

One of six, each with a reason a person reads (never empty) and the exit code CI branches on
(harness/exitcodes.py):

- `certified` (0): every scenario of the full plan passed, no error or not-evaluated finding;
- `not_certified` (1): a scenario failed or was not evaluated, or the run found an error;
- `partial_passed` (3) / `partial_failed` (1): the same, of a run limited by tags, which is
  never a certification;
- `could_not_run` (2): nothing could be judged (candidate unreachable, catalog rejected, no
  scenario selected, harness error);
- `interrupted` (130 SIGINT, 143 SIGTERM, 124 --max-time): stopped before its plan was done.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from harness import exitcodes
from harness.certify.interruption import Stop
from harness.certify.plugin import (
    FAILED,
    HARNESS_ERROR,
    INTERRUPTED,
    NOT_EVALUATED,
    NOT_RUN,
    PASSED,
    ScenarioResult,
)
from harness.findings import NOT_EVALUATED as FINDING_NOT_EVALUATED
from harness.findings import Finding

CERTIFIED, NOT_CERTIFIED, PARTIAL_PASSED, PARTIAL_FAILED, COULD_NOT_RUN, INTERRUPTED_RUN = (
    "certified", "not_certified", "partial_passed", "partial_failed", "could_not_run",
    "interrupted")
VERDICTS = (CERTIFIED, NOT_CERTIFIED, PARTIAL_PASSED, PARTIAL_FAILED, COULD_NOT_RUN,
            INTERRUPTED_RUN)
_EXIT_CODES = {CERTIFIED: exitcodes.OK, NOT_CERTIFIED: exitcodes.FAILED,
               PARTIAL_PASSED: exitcodes.PARTIAL_PASSED, PARTIAL_FAILED: exitcodes.FAILED,
               COULD_NOT_RUN: exitcodes.COULD_NOT_RUN}


@dataclass(frozen=True)
class Verdict:
    name: str  # one of VERDICTS
    reason: str
    stop: Stop | None = None  # what interrupted the run, for INTERRUPTED_RUN
    stopped_by: str = ""  # "SIGINT", "SIGTERM", "max_time" or "exitfirst"; "" ran to its end

    def __post_init__(self) -> None:
        if self.name not in VERDICTS:
            raise ValueError(f"unknown verdict {self.name!r}")
        if not self.reason:
            raise ValueError(f"a {self.name} verdict needs a reason")
        if (self.name == INTERRUPTED_RUN) != (self.stop is not None):
            raise ValueError("an interrupted verdict, and only it, names its stop")

    @property
    def exit_code(self) -> int:
        return self.stop.exit_code if self.stop is not None else _EXIT_CODES[self.name]


def could_not_run(reason: str) -> Verdict:
    return Verdict(COULD_NOT_RUN, reason)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _shortened(text: str, limit: int = 120) -> str:
    """`text`, cut at a word before `limit` characters when longer."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + " …"


def _rules_of(results: list[ScenarioResult], findings: list[tuple[str, Finding]],
              statuses: tuple[str, ...]) -> str:
    """"UBC-SIG-009 (2), UBC-TIME-003": the error rules of the scenarios with these statuses,
    each with the number of those scenarios it showed in, most frequent first."""
    ids = {r.nodeid for r in results if r.status in statuses}
    seen = Counter(rule for _, rule in {(s, f.rule) for s, f in findings
                                        if s in ids and f.is_error
                                        and f.status != FINDING_NOT_EVALUATED})
    return ", ".join(rule + (f" ({n})" if n > 1 else "")
                     for rule, n in sorted(seen.items(), key=lambda item: (-item[1], item[0])))


def _what_went_wrong(results: list[ScenarioResult],
                     findings: list[tuple[str, Finding]]) -> str:
    """"3 scenarios failed: UBC-SIG-009 (2), UBC-TIME-003; 1 not evaluated (why)"; "" when
    nothing did."""
    parts = []
    failed = [r for r in results if r.status == FAILED]
    if failed:
        rules = _rules_of(results, findings, (FAILED,))
        parts.append(f"{_count(len(failed), 'scenario')} failed" + (f": {rules}" if rules else ""))
    unjudged = [r for r in results if r.status == NOT_EVALUATED]
    if unjudged:
        first = unjudged[0].message.removeprefix("not evaluated: ").splitlines()
        why = f" ({_shortened(first[0])})" if first and first[0] else ""
        parts.append(f"{len(unjudged)} not evaluated{why}" if failed
                     else f"{_count(len(unjudged), 'scenario')} not evaluated{why}")
    ids = {r.nodeid for r in results}
    passed = {r.nodeid for r in results if r.status == PASSED}
    unsettled = [(s, f) for s, f in findings
                 if f.is_error or f.status == FINDING_NOT_EVALUATED]
    outside = sorted({f.rule for s, f in unsettled if s not in ids})
    if outside:
        parts.append(f"{', '.join(outside)} found by the end-of-run checks")
    left_open = sorted({f.rule for s, f in unsettled if s in passed})
    if left_open:  # a passed scenario with a check it could not make
        parts.append(f"{', '.join(left_open)} not evaluated in passed scenarios")
    return "; ".join(parts)


def judge(pytest_code: int | pytest.ExitCode, results: list[ScenarioResult],
          findings: list[tuple[str, Finding]], tags: str | None, *, stop: Stop | None = None,
          stopped_at: str = "") -> Verdict:
    """The verdict of a run: `stop` interrupted it; it stopped at the failed scenario
    `stopped_at` under --exitfirst."""
    if stop is not None:
        return interrupted(stop, results, findings)
    if pytest_code not in (0, 1) or any(r.status == HARNESS_ERROR for r in results) \
            or not results:
        reason = next((f"harness error in \"{r.name}\": {r.message}" for r in results
                       if r.status == HARNESS_ERROR),
                      f"pytest exited {pytest_code}" if results else
                      f"no scenario matches the tags {tags!r}" if tags else "no scenario ran")
        return could_not_run(reason)
    done = [r for r in results if r.status != NOT_RUN]
    wrong = _what_went_wrong(results, findings)
    partial = f"partial run (tags {tags!r}): not a certification" if tags else ""
    if not wrong and len(done) == len(results):
        passed = (f"all {len(results)} scenarios" if len(results) > 1 else "1 scenario") + (
            " passed with no error finding")
        if tags:
            return Verdict(PARTIAL_PASSED, f"{partial}; {passed}")
        return Verdict(CERTIFIED, passed)
    if stopped_at:
        wrong += (f"; stopped at the first failed scenario (--exitfirst): "
                  f"{len(results) - len(done)} not run")
    return Verdict(PARTIAL_FAILED if tags else NOT_CERTIFIED,
                   f"{partial}; {wrong}" if tags else wrong,
                   stopped_by="exitfirst" if stopped_at else "")


def interrupted(stop: Stop, results: list[ScenarioResult],
                findings: list[tuple[str, Finding]]) -> Verdict:
    """"interrupted by SIGTERM after 8 of 12 scenarios (1 cut short, 3 not run); so far 8
    scenarios failed: UBC-SIG-013 (6)"."""
    if not results:
        return Verdict(INTERRUPTED_RUN, f"{stop.description} before the first scenario "
                       f"({stop.after_s:.1f} s into the run)", stop, stop.cause)
    done = sum(r.status not in (NOT_RUN, INTERRUPTED) for r in results)
    cut = sum(r.status == INTERRUPTED for r in results)
    left = sum(r.status == NOT_RUN for r in results)
    reason = (f"{stop.description} after {done} of {_count(len(results), 'scenario')} ("
              + ", ".join(p for p in (f"{cut} cut short" if cut else "",
                                      f"{left} not run" if left else "") if p) + ")")
    reason = reason.replace(" ()", "")
    wrong = _what_went_wrong(results, findings)
    passed = sum(r.status == PASSED for r in results)
    reason += f"; so far {wrong}" if wrong else f"; so far {passed} passed" if done else ""
    return Verdict(INTERRUPTED_RUN, reason, stop, stop.cause)
