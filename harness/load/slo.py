"""Service-level objectives of a load run: `--slo p99_callback=2s,errors=0,...`, each held to
what the run measured.

- `pNN_ack`, `pNN_callback`, `pNN_session` (NN: 50, 90, 95, 99): that percentile of the ACK
  latency, of the callback latency (arrival - send) or of the session's duration is at most
  the duration given (`2s`, `500ms`);
- `errors`: requests and callbacks that failed (unreachable, NACKed, refused by the
  harness's BAP, carrying an error where none belongs) at most a count, or `1%` of them all;
- `timeouts`: requests without a synchronous answer within twice the ACK bound, at most;
- `lost`: callbacks that never came (none by the end of the drain), at most;
- `late`: callbacks that came after their request's ttl, at most;
- `throughput`: completed sessions per second, at least (`5` or `5/s`).

Unless the SLO says otherwise, `errors=0,timeouts=0,lost=0,late=0` hold: a load run that
passes lost nothing. A percentile over nothing measured is not met.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

LATENCY = re.compile(r"p(50|90|95|99)_(ack|callback|session)")
COUNTS = ("errors", "timeouts", "lost", "late")
DEFAULTS = "errors=0,timeouts=0,lost=0,late=0"
ERROR_KINDS = ("unreachable", "nack", "refused", "error")
MEASURED_TYPES = ("ACK", "callback", "race ACK", "race callback")  # requests and callbacks
ROW_TYPE = {"ack": "ACK", "callback": "callback", "session": "session"}


class SloError(ValueError):
    """An --slo that cannot be read; the message says which part and why."""


@dataclass(frozen=True)
class Objective:
    key: str
    limit: float  # ms for a latency, a count or a share (percent) for errors, sessions/s
    percent: bool = False

    @property
    def text(self) -> str:
        if LATENCY.fullmatch(self.key):
            return f"{self.key} <= {_duration(self.limit)}"
        if self.key == "throughput":
            return f"throughput >= {self.limit:g}/s"
        return f"{self.key} <= {self.limit:g}{'%' if self.percent else ''}"


def _duration(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def _number(text: str, part: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SloError(f"{part}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise SloError(f"{part}: give a finite number, 0 or more")
    return value


def _latency_ms(text: str, part: str) -> float:
    match = re.fullmatch(r"([0-9.]+)\s*(ms|s)", text.strip())
    if not match:
        raise SloError(f"{part}: give a duration such as 2s or 500ms, not {text!r}")
    value = _number(match.group(1), part)
    return value if match.group(2) == "ms" else value * 1000


def parse(spec: str | None) -> list[Objective]:
    """The objectives of `spec` on top of the defaults (a key given replaces its default)."""
    chosen: dict[str, Objective] = {}
    for source in (DEFAULTS, spec or ""):
        for part in (p.strip() for p in source.split(",")):
            if not part:
                continue
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep or not value:
                raise SloError(f"{part!r}: write KEY=VALUE, e.g. p99_callback=2s")
            if LATENCY.fullmatch(key):
                chosen[key] = Objective(key, _latency_ms(value, part))
            elif key in COUNTS:
                percent = key == "errors" and value.endswith("%")
                chosen[key] = Objective(key, _number(value.rstrip("%"), part), percent)
            elif key == "throughput":
                chosen[key] = Objective(key, _number(value.removesuffix("/s"), part))
            else:
                raise SloError(f"{part!r}: unknown objective {key!r}; known: pNN_ack, "
                               f"pNN_callback, pNN_session (NN 50, 90, 95, 99), "
                               f"{', '.join(COUNTS)}, throughput")
    return list(chosen.values())


def _row(measured: dict[str, Any], row_type: str) -> dict[str, Any] | None:
    rows = [r for r in measured["rows"] if r["type"] == row_type]
    together = [r for r in rows if r["name"] == "*"]
    return (together or rows or [None])[0]


def observed(objective: Objective, measured: dict[str, Any]) -> float | None:
    """What the run measured for `objective`: the Locust statistics (`rows`, `failures`), the
    listener's count of callbacks, the sessions and the load's wall time."""
    key = objective.key
    latency = LATENCY.fullmatch(key)
    if latency:
        row = _row(measured, ROW_TYPE[latency.group(2)])
        value = row.get(f"p{latency.group(1)}_ms") if row else None
        return float(value) if value is not None else None
    failures = measured["failures"]
    if key == "errors":
        count = sum(f["count"] for f in failures
                    if f["kind"] in ERROR_KINDS and f["type"] in MEASURED_TYPES)
        if not objective.percent:
            return count
        total = sum(r["count"] for r in measured["rows"]
                    if r["type"] in MEASURED_TYPES and r["name"] != "*")
        return 100.0 * count / total if total else 0.0
    if key == "timeouts":
        return sum(f["count"] for f in failures if f["kind"] == "timeout")
    if key == "lost":
        return measured["callbacks"]["lost"]
    if key == "late":
        return measured["callbacks"]["late"] + sum(f["count"] for f in failures
                                                   if f["kind"] == "late")
    elapsed = measured["elapsed_s"]
    return measured["sessions"]["completed"] / elapsed if elapsed > 0 else 0.0


def judge(objectives: list[Objective], measured: dict[str, Any]) -> list[dict[str, Any]]:
    """Each objective with what was measured and whether it was met."""
    results = []
    for objective in objectives:
        value = observed(objective, measured)
        if value is None:
            met = False
        elif objective.key == "throughput":
            met = value >= objective.limit
        else:
            met = value <= objective.limit
        results.append({"objective": objective.text, "key": objective.key,
                        "limit": objective.limit, "measured": value, "met": met})
    return results
