"""The times one message states, judged on their own (UBC-CTX-021/022, UBC-MSG-011..013): a
ttl that leaves time to answer, a timestamp that is not in the future, time windows that end
after they start, and a payment time that is neither in the future nor after the message.

"Now" is the pipeline's: `validate --now` for old captures, the wall clock otherwise; the
allowed clock skew is the signing skew, so a message and its signature meet one tolerance.
The registry calls one check, `times_are_plausible`, which reads the message's times once.
"""

from __future__ import annotations

import time as wall
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from harness.beckn import time
from harness.checks.message import Message, Pipeline
from harness.checks.semantics import ORDER, obj, seq
from harness.findings import Finding

START_END = (("startTime", "endTime"), ("schema:startTime", "schema:endTime"))


@lru_cache(maxsize=4096)
def _epoch(text: str, zone_required: bool) -> float | None:
    return time.epoch(text, zone_required=zone_required)


def epoch(value: Any, *, zone_required: bool = True) -> float | None:
    """`time.epoch`, remembered: a capture repeats the same few times many times over."""
    return _epoch(value, zone_required) if isinstance(value, str) else None


@lru_cache(maxsize=256)
def _ttl_seconds(text: str) -> float | None:
    try:
        return time.duration_seconds(text)
    except ValueError:
        return None


def _now(pipeline: Pipeline) -> float:
    return pipeline.now if pipeline.now is not None else wall.time()


def times_are_plausible(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-CTX-021/022 and UBC-MSG-011..013 for one message."""
    context = message.context
    if context is None:
        return []
    now, skew = _now(pipeline), pipeline.skew
    sent = epoch(context.get("timestamp"))
    order = message.order
    findings = ttl_positive(context.get("ttl"))
    if sent is not None and sent > now + skew:
        findings += timestamp_not_in_future(context, sent, now, skew)
    if order is None or "beckn:orderAttributes" in order or "beckn:orderItems" in order:
        findings += windows_in_order(order, message.doc)
    if order is not None and "beckn:payment" in order:
        findings += paid_at_plausible(order, context, sent, now, skew)
    return findings


def ttl_positive(ttl: Any) -> list[Finding]:
    """UBC-CTX-021: the ttl leaves the receiver some time: PT0S expires as it is sent."""
    seconds = _ttl_seconds(ttl) if isinstance(ttl, str) else None
    if seconds is None or seconds > 0:
        return []  # not a duration we can measure is the schema's finding (UBC-CTX-007)
    return [Finding("UBC-CTX-021", f"context.ttl {ttl!r} is no time at all: the message "
                    "expires as it is sent", path="/context/ttl", expected="> PT0S (UBC: PT30S)",
                    actual=ttl)]


def timestamp_not_in_future(context: dict[str, Any], sent: float | None, now: float,
                            skew: float) -> list[Finding]:
    """UBC-CTX-022: context.timestamp is not later than now, beyond the allowed clock skew."""
    if sent is None or sent <= now + skew:
        return []
    stamp = context.get("timestamp")
    return [Finding("UBC-CTX-022", f"context.timestamp {stamp} is {sent - now:,.0f} s after now "
                    f"({time.format(now)}); allowed clock skew {skew:g} s",
                    path="/context/timestamp", expected=f"<= {time.format(now + skew)}",
                    actual=stamp)]


def _windows(order: dict[str, Any] | None, doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every start/end window at the places UBC puts one, as (JSON pointer, window)."""
    if order is not None:
        preferences = obj(order.get("beckn:orderAttributes")).get("preferences")
        if isinstance(preferences, dict):
            yield f"{ORDER}/beckn:orderAttributes/preferences", preferences
        for i, item in enumerate(seq(order.get("beckn:orderItems"))):
            validity = obj(obj(item).get("beckn:acceptedOffer")).get("beckn:validity")
            if isinstance(validity, dict):
                yield f"{ORDER}/beckn:orderItems/{i}/beckn:acceptedOffer/beckn:validity", validity
        return
    for i, catalog in enumerate(seq(obj(obj(doc).get("message")).get("catalogs"))):
        catalog = obj(catalog)
        base = f"/message/catalogs/{i}"
        yield f"{base}/beckn:validity", obj(catalog.get("beckn:validity"))
        for j, item in enumerate(seq(catalog.get("beckn:items"))):
            for k, window in enumerate(seq(obj(item).get("beckn:availabilityWindow"))):
                yield f"{base}/beckn:items/{j}/beckn:availabilityWindow/{k}", obj(window)
        for j, offer in enumerate(seq(catalog.get("beckn:offers"))):
            yield f"{base}/beckn:offers/{j}/beckn:validity", obj(
                obj(offer).get("beckn:validity"))


def windows_in_order(order: dict[str, Any] | None, doc: Any) -> list[Finding]:
    """UBC-MSG-011: a time window (slot preferences, validity, availability) does not end
    before it starts. Times of day without a date are left alone: 22:00-06:00 is a night."""
    findings = []
    for path, window in _windows(order, doc):
        for start_name, end_name in START_END:
            start = epoch(window.get(start_name), zone_required=False)
            end = epoch(window.get(end_name), zone_required=False)
            if start is not None and end is not None and end < start:
                findings.append(Finding(
                    "UBC-MSG-011", f"window ends at {window[end_name]}, "
                    f"{start - end:,.0f} s before it starts at {window[start_name]}",
                    path=f"{path}/{end_name}", expected=f">= {window[start_name]}",
                    actual=window[end_name]))
    return findings


def paid_at_plausible(order: dict[str, Any] | None, context: dict[str, Any], sent: float | None,
                      now: float, skew: float) -> list[Finding]:
    """UBC-MSG-012: a payment is not dated in the future; UBC-MSG-013 (warning): nor after
    the message that reports it, which the official examples do (paidAt 2025-12-19 on
    messages of 2025-01-27)."""
    paid_at = obj(order.get("beckn:payment")).get("beckn:paidAt") if order else None
    paid = epoch(paid_at)
    if paid is None:
        return []
    path = f"{ORDER}/beckn:payment/beckn:paidAt"
    if paid > now + skew:
        return [Finding("UBC-MSG-012", f"beckn:paidAt {paid_at} is {paid - now:,.0f} s after "
                        f"now ({time.format(now)})", path=path,
                        expected=f"<= {time.format(now + skew)}", actual=paid_at)]
    if sent is not None and paid > sent + skew:
        stamp = context.get("timestamp")
        return [Finding("UBC-MSG-013", f"beckn:paidAt {paid_at} is {paid - sent:,.0f} s after "
                        f"the message reporting it ({stamp})", path=path,
                        expected=f"<= {stamp}", actual=paid_at)]
    return []
