"""Readings one message reports, judged against their physical or declared range
(UBC-MSG-008..010): a state of charge between 0 and 100 %, energy that is not negative, and a
rating inside the scale it declares.
"""

from __future__ import annotations

from typing import Any

from harness.checks.message import Message, Pipeline
from harness.checks.semantics import ORDER, number, obj, seq
from harness.findings import Finding

TELEMETRY = f"{ORDER}/beckn:fulfillment/beckn:deliveryAttributes/chargingTelemetry"
# RatingInput's scale when it does not declare one (core: best 5, worst "1 or 0").
DEFAULT_BEST, DEFAULT_WORST = 5.0, 0.0


def readings_in_range(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-008..010 for one message: telemetry and ratings."""
    order = message.order
    if order is not None:
        return telemetry_in_range(order)
    ratings = obj(obj(message.doc).get("message")).get("ratings")
    return ratings_on_scale(ratings) if isinstance(ratings, list) else []


def telemetry_in_range(order: dict[str, Any]) -> list[Finding]:
    """UBC-MSG-008: state of charge is 0..100 %; UBC-MSG-009: an energy reading is not
    negative (the session's meteredEnergyKWh has its minimum in the schema)."""
    session = obj(obj(order.get("beckn:fulfillment")).get("beckn:deliveryAttributes"))
    findings = []
    for i, sample in enumerate(seq(session.get("chargingTelemetry"))):
        for j, metric in enumerate(seq(obj(sample).get("metrics"))):
            metric = obj(metric)
            name, value = metric.get("name"), number(metric.get("value"))
            if value is None:
                continue
            path = f"{TELEMETRY}/{i}/metrics/{j}/value"
            if name == "STATE_OF_CHARGE" and not 0 <= value <= 100:
                findings.append(Finding("UBC-MSG-008", f"state of charge of {value:g} %",
                                        path=path, expected="0..100", actual=value))
            elif name == "ENERGY" and value < 0:
                findings.append(Finding("UBC-MSG-009", f"energy reading of {value:g}",
                                        path=path, expected=">= 0", actual=value))
    return findings


def ratings_on_scale(ratings: list[Any]) -> list[Finding]:
    """UBC-MSG-010: each rating lies between its worstRating and bestRating (core's defaults
    when it declares none), and the scale runs upwards."""
    findings = []
    for i, rating in enumerate(ratings):
        rating = obj(rating)
        value = number(rating.get("ratingValue"))
        best = number(rating.get("bestRating"))
        worst = number(rating.get("worstRating"))
        best = DEFAULT_BEST if best is None else best
        worst = DEFAULT_WORST if worst is None else worst
        path = f"/message/ratings/{i}"
        if worst >= best:
            findings.append(Finding("UBC-MSG-010", f"rating {i} declares a scale from {worst:g} "
                                    f"to {best:g}", path=f"{path}/bestRating",
                                    expected=f"> {worst:g}", actual=best))
        elif value is not None and not worst <= value <= best:
            findings.append(Finding("UBC-MSG-010", f"rating {i} of {value:g} on a scale of "
                                    f"{worst:g}..{best:g}", path=f"{path}/ratingValue",
                                    expected=f"{worst:g}..{best:g}", actual=value))
    return findings
