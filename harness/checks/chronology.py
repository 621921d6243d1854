"""The times one message states, judged on their own (UBC-CTX-021/022, UBC-MSG-011..013): a
ttl that leaves time to answer, a timestamp that is not in the future, time windows that end
after they start, and a payment time that is neither in the future nor after the message.

"Now" is the pipeline's: `validate --now` for old captures, the wall clock otherwise; the
allowed clock skew is the signing skew, so a message and its signature meet one tolerance.
"""

from __future__ import annotations

import time as wall
from collections.abc import Iterator
from typing import Any

from harness.beckn import time
from harness.checks.message import Message, Pipeline
from harness.checks.semantics import ORDER, order_of
from harness.findings import Finding

START_END = (("startTime", "endTime"), ("schema:startTime", "schema:endTime"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _now(pipeline: Pipeline) -> float:
    return pipeline.now if pipeline.now is not None else wall.time()


def ttl_positive(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-CTX-021: the ttl leaves the receiver some time: PT0S expires as it is sent."""
    ttl = message.context.get("ttl") if message.context else None
    try:
        seconds = time.duration_seconds(ttl)  # type: ignore[arg-type]
    except ValueError:
        return []  # not a duration we can measure: the schema's finding (UBC-CTX-007)
    if seconds > 0:
        return []
    return [Finding("UBC-CTX-021", f"context.ttl {ttl!r} is no time at all: the message "
                    "expires as it is sent", path="/context/ttl", expected="> PT0S (UBC: PT30S)",
                    actual=ttl)]


def timestamp_not_in_future(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-CTX-022: context.timestamp is not later than now, beyond the allowed clock skew."""
    stamp = message.context.get("timestamp") if message.context else None
    sent = time.epoch(stamp)
    now = _now(pipeline)
    if sent is None or sent <= now + pipeline.skew:
        return []
    return [Finding("UBC-CTX-022", f"context.timestamp {stamp} is {sent - now:,.0f} s after now "
                    f"({time.format(now)}); allowed clock skew {pipeline.skew:g} s",
                    path="/context/timestamp", expected=f"<= {time.format(now + pipeline.skew)}",
                    actual=stamp)]


def _windows(doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every start/end window at the places UBC puts one, as (JSON pointer, window)."""
    order = order_of(doc)
    if order is not None:
        yield f"{ORDER}/beckn:orderAttributes/preferences", _dict(
            _dict(order.get("beckn:orderAttributes")).get("preferences"))
        for i, item in enumerate(_list(order.get("beckn:orderItems"))):
            offer = _dict(_dict(item).get("beckn:acceptedOffer"))
            yield f"{ORDER}/beckn:orderItems/{i}/beckn:acceptedOffer/beckn:validity", _dict(
                offer.get("beckn:validity"))
        return
    message = _dict(doc.get("message")) if isinstance(doc, dict) else {}
    for i, catalog in enumerate(_list(message.get("catalogs"))):
        catalog = _dict(catalog)
        base = f"/message/catalogs/{i}"
        yield f"{base}/beckn:validity", _dict(catalog.get("beckn:validity"))
        for j, item in enumerate(_list(catalog.get("beckn:items"))):
            for k, window in enumerate(_list(_dict(item).get("beckn:availabilityWindow"))):
                yield f"{base}/beckn:items/{j}/beckn:availabilityWindow/{k}", _dict(window)
        for j, offer in enumerate(_list(catalog.get("beckn:offers"))):
            yield f"{base}/beckn:offers/{j}/beckn:validity", _dict(
                _dict(offer).get("beckn:validity"))


def windows_in_order(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-011: a time window (slot preferences, validity, availability) does not end
    before it starts. Times of day without a date are left alone: 22:00-06:00 is a night."""
    findings = []
    for path, window in _windows(message.doc):
        if not window:
            continue
        for start_name, end_name in START_END:
            start = time.epoch(window.get(start_name), zone_required=False)
            end = time.epoch(window.get(end_name), zone_required=False)
            if start is not None and end is not None and end < start:
                findings.append(Finding(
                    "UBC-MSG-011", f"window ends at {window[end_name]}, "
                    f"{start - end:,.0f} s before it starts at {window[start_name]}",
                    path=f"{path}/{end_name}", expected=f">= {window[start_name]}",
                    actual=window[end_name]))
    return findings


def paid_at_plausible(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-012: a payment is not dated in the future; UBC-MSG-013 (warning): nor after
    the message that reports it, which the official examples do (paidAt 2025-12-19 on
    messages of 2025-01-27)."""
    order = order_of(message.doc)
    paid_at = _dict(order.get("beckn:payment")).get("beckn:paidAt") if order else None
    paid = time.epoch(paid_at)
    if paid is None:
        return []
    path = f"{ORDER}/beckn:payment/beckn:paidAt"
    now = _now(pipeline)
    if paid > now + pipeline.skew:
        return [Finding("UBC-MSG-012", f"beckn:paidAt {paid_at} is {paid - now:,.0f} s after "
                        f"now ({time.format(now)})", path=path,
                        expected=f"<= {time.format(now + pipeline.skew)}", actual=paid_at)]
    stamp = message.context.get("timestamp") if message.context else None
    sent = time.epoch(stamp)
    if sent is not None and paid > sent + pipeline.skew:
        return [Finding("UBC-MSG-013", f"beckn:paidAt {paid_at} is {paid - sent:,.0f} s after "
                        f"the message reporting it ({stamp})", path=path,
                        expected=f"<= {stamp}", actual=paid_at)]
    return []
