"""Checks that what a BAP's client API shows once the order runs is what the BPP's callbacks
said (client-api-contract.md §4-§8): the order, payment and charging states (UBC-API-005),
the charging telemetry (UBC-API-006), and the bill, cancellation fee and refund (UBC-API-007).

`answer` is the /v1 exchange the harness made as the driver's client; `callbacks` are the
harness BPP's callbacks about the order, as it sent them to the app. Only those the app took
count (answered 2xx: a NACKed one is UBC-API-004's business), and only for what they say
without an error (a refusal is no report of the order's state). A /v1 answer must reflect
every callback the app took before the call was made; one taken during the call may or may not
be reflected yet, so the state before the call and each state reported during it are all
acceptable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.beckn import time as wire_time
from harness.beckn.order import dig, order_status, payment_status, session_status
from harness.checks.client_api import CENT, number
from harness.findings import Finding
from harness.transcript import Exchange

ACTIVE = frozenset({"ACTIVE"})
# Beckn's states -> those the contract's enums show for them (mocks/bap/orders.py reads alike)
ORDER_SHOWN = {"COMPLETED": frozenset({"COMPLETED"}), "CANCELLED": frozenset({"CANCELLED"}),
               "REJECTED": frozenset({"CANCELLED"}), "FAILED": frozenset({"CANCELLED"}),
               "RETURNED": frozenset({"CANCELLED"}),
               "REFUNDED": frozenset({"COMPLETED", "CANCELLED"})}  # every other: ACTIVE
PAYMENT_SHOWN = {"COMPLETED": frozenset({"PAID"}), "PAID": frozenset({"PAID"}),
                 "REFUNDED": frozenset({"REFUNDED"}), "FAILED": frozenset({"FAILED"})}
CHARGING_SHOWN = {"ACTIVE": ACTIVE, "COMPLETED": frozenset({"COMPLETED"}),
                  "STOP": frozenset({"STOPPED"}), "INTERRUPTED": frozenset({"STOPPED"})}
PENDING, IDLE, QUOTED = frozenset({"PENDING"}), frozenset({"IDLE"}), frozenset({"quoted_price"})
BECKN_FIELD = {"order": "beckn:orderStatus", "payment": "beckn:paymentStatus",
               "charging": "sessionStatus"}
TELEMETRY = ("beckn:fulfillment", "beckn:deliveryAttributes", "chargingTelemetry")
SAME_MOMENT_S = 0.001
SHOWN_ROUNDING = 0.05  # a value shown to one decimal is the BPP's


@dataclass(frozen=True)
class Reported:
    """One of the order's three states as one callback reported it."""

    callback: Exchange
    beckn: str  # the Beckn value
    shown: frozenset[str]  # the values of the contract's enum that show it


def _taken(callback: Exchange) -> bool:
    return callback.status is not None and 200 <= callback.status < 300 and \
        callback.response_mono_time is not None


def _refused(callback: Exchange) -> bool:
    return callback.error is not None or (callback.status is not None
                                          and not 200 <= callback.status < 300)


def _order(callback: Exchange) -> dict[str, Any] | None:
    """The order a callback reports, None for a refusal or a callback without one."""
    doc = callback.json()
    if not isinstance(doc, dict) or doc.get("error"):
        return None
    order = dig(doc, "message", "order")
    return order if isinstance(order, dict) else None


def reported_states(callback: Exchange) -> dict[str, Reported]:
    """What one callback says of the order ("order"), payment and charging states."""
    order = _order(callback)
    if order is None:
        return {}
    found = {}
    status = order_status(order)
    if status is not None:  # a quote is shown as such, every later order by its fate
        found["order"] = Reported(callback, status, QUOTED if callback.action == "on_select"
                                  else ORDER_SHOWN.get(status, ACTIVE))
    paid = payment_status(order)
    if paid is not None:
        found["payment"] = Reported(callback, paid, PAYMENT_SHOWN.get(paid, PENDING))
    session = session_status(order)
    if session is not None:
        found["charging"] = Reported(callback, session, CHARGING_SHOWN.get(session, IDLE))
    return found


def taken_around(answer: Exchange, callbacks: Sequence[Exchange]
                 ) -> tuple[list[Exchange], list[Exchange]]:
    """The callbacks the app took (ACKed) before the call was made, in the order taken; and
    those it may have taken while the call ran, in the order sent: sent before the answer
    came and not refused (the app may answer the call before its ACK of a callback reaches
    the BPP, so one still unanswered counts too)."""
    before = sorted((c for c in callbacks if _taken(c)
                     and (c.response_mono_time or 0.0) <= answer.mono_time),
                    key=lambda c: c.response_mono_time or 0.0)
    end = answer.response_mono_time if answer.response_mono_time is not None else math.inf
    taken = {c.id for c in before}
    during = sorted((c for c in callbacks if c.id not in taken and c.mono_time <= end
                     and not _refused(c)), key=lambda c: c.mono_time)
    return before, during


def _succeeded(answer: Exchange) -> dict[str, Any] | None:
    body = answer.response_json()
    ok = answer.status is not None and 200 <= answer.status < 300 and isinstance(body, dict)
    return body if ok else None


def shown_states_follow_callbacks(answer: Exchange, callbacks: Sequence[Exchange]
                                  ) -> list[Finding]:
    """UBC-API-005: each of the order, payment and charging states a /v1 answer shows is
    the one the BPP's latest report implies (as of the call, or reported during it), mapped
    to the contract's enums. A state no callback reported is not judged here."""
    body = _succeeded(answer)
    if body is None:
        return []
    before, during = taken_around(answer, callbacks)
    findings = []
    for name, beckn_field in BECKN_FIELD.items():
        shown = dig(body, name, "status")
        if not isinstance(shown, str):
            continue  # whether it must be there is the contract's shape (UBC-API-003)
        reports = [r for c in before if (r := reported_states(c).get(name))][-1:] + \
            [r for c in during if (r := reported_states(c).get(name))]
        allowed = frozenset().union(*(r.shown for r in reports))
        if not reports or shown in allowed:
            continue
        last = reports[-1]
        findings.append(Finding(
            "UBC-API-005", f"{answer.method} {answer.url} shows the {name} {shown}; the BPP "
            f"last reported {beckn_field} {last.beckn} in its {last.callback.action}, which "
            f"the client API shows as {' or '.join(sorted(last.shown))}",
            path=f"/{name}/status", expected=sorted(allowed)[0] if len(allowed) == 1
            else sorted(allowed), actual=shown,
            evidence=[answer.id, *dict.fromkeys(r.callback.id for r in reports)]))
    return findings


def answered_as_the_bpp_decided(answer: Exchange, callback: Exchange,
                                refused_status: int = 409) -> list[Finding]:
    """UBC-API-005: the client API answers as the BPP decided the request behind the call
    (`callback`): a refusal (its callback carries an error) with the contract's error of
    `refused_status` (409: the order's state does not allow it), not as if it were carried
    out; a request carried out with success."""
    doc = callback.json()
    error = doc.get("error") if isinstance(doc, dict) else None
    code = error.get("code") if isinstance(error, dict) and error else None
    got = f"HTTP {answer.status}" if answer.status is not None else "no answer"
    succeeded = answer.status is not None and 200 <= answer.status < 300
    if (code is None and succeeded) or (code is not None and answer.status == refused_status):
        return []
    decided = f"refused it (error {code})" if code is not None else "carried it out"
    return [Finding("UBC-API-005", f"the BPP {decided} in its {callback.action}, the request "
                    f"behind {answer.method} {answer.url}; the app answered {got}",
                    path="/error" if code is not None else "",
                    expected=refused_status if code is not None else "a 2xx answer",
                    actual=answer.status, evidence=[answer.id, callback.id])]


def shown_mode_is_asked(answer: Exchange, *, reservation: bool) -> list[Finding]:
    """UBC-API-005: an order the driver asked for in a time window is shown as a
    reservation (mode RESERVATION, `reservation` in the estimate). A walk-in is not judged:
    the contract's own examples show every order as a reservation."""
    body = _succeeded(answer)
    mode = dig(body, "order", "mode") if body is not None else None
    if not reservation or not isinstance(mode, str) or mode.upper() == "RESERVATION":
        return []
    return [Finding("UBC-API-005", f"{answer.method} {answer.url} shows the order the driver "
                    f"asked for in a time window as mode {mode}", path="/order/mode",
                    expected="RESERVATION", actual=mode, evidence=[answer.id])]


def _readings(callback: Exchange) -> list[dict[str, Any]]:
    order = _order(callback)
    found = dig(order, *TELEMETRY) if order is not None else None
    return [r for r in found or [] if isinstance(r, dict)] if isinstance(found, list) else []


def _metrics(reading: Any) -> dict[str, tuple[float, str]]:
    """name -> (value, unitCode) of a reading's metrics that carry a number."""
    metrics = reading.get("metrics") if isinstance(reading, dict) else None
    return {str(m.get("name")): (value, str(m.get("unitCode") or "").upper())
            for m in metrics or [] if isinstance(m, dict)
            and (value := number(m.get("value"))) is not None}


def shown_telemetry_is_latest(answer: Exchange, callbacks: Sequence[Exchange]) -> list[Finding]:
    """UBC-API-006: the charging telemetry a /v1 answer shows is a reading the BPP sent (each
    metric the BPP sent is shown with its value, to a decimal), and no older than the latest
    reading the app took before the call. Metrics the app adds (a session's duration) are its
    own; an answer without telemetry is not judged here."""
    body = _succeeded(answer)
    shown = body.get("chargingTelemetry") if body is not None else None
    if not isinstance(shown, dict):
        return []
    before, during = taken_around(answer, callbacks)
    sent = [(c, r, wire_time.epoch(r.get("eventTime"))) for c in [*before, *during]
            for r in _readings(c)]
    if not sent:
        return []
    event = shown.get("eventTime")
    moment = wire_time.epoch(event)
    where = f"{answer.method} {answer.url} shows telemetry"
    taken_before = {c.id for c in before}
    latest = max((s for s in sent if s[0].id in taken_before and s[2] is not None),
                 key=lambda s: s[2] or 0.0, default=None)
    if moment is None or (latest is not None and latest[2] is not None
                          and moment < latest[2] - SAME_MOMENT_S):
        newest = latest or sent[-1]
        return [Finding("UBC-API-006", f"{where} of {event!r}; the latest reading the BPP "
                        f"sent before the call is of {newest[1].get('eventTime')!r} (its "
                        f"{newest[0].action})", path="/chargingTelemetry/eventTime",
                        expected=newest[1].get("eventTime"), actual=event,
                        evidence=[answer.id, newest[0].id])]
    same = [s for s in sent if s[2] is not None and abs(s[2] - moment) < SAME_MOMENT_S]
    if not same:
        return [Finding("UBC-API-006", f"{where} of {event!r}, a reading the BPP never sent",
                        path="/chargingTelemetry/eventTime",
                        expected=[s[1].get("eventTime") for s in sent][-3:], actual=event,
                        evidence=[answer.id, *dict.fromkeys(s[0].id for s in sent)])]
    callback, reading, _ = same[-1]
    findings = []
    for name, (value, unit) in _metrics(shown).items():
        bpp = _metrics(reading).get(name)
        if bpp is None or (unit and bpp[1] and unit != bpp[1]):
            continue  # the app's own metric, or one shown in another unit
        if abs(value - bpp[0]) > SHOWN_ROUNDING + 1e-9:
            findings.append(Finding(
                "UBC-API-006", f"{where}: {name} {value:g} {unit}; the BPP's reading of "
                f"{event} says {bpp[0]:g} {bpp[1]} (its {callback.action})",
                path="/chargingTelemetry/metrics", expected=bpp[0], actual=value,
                evidence=[answer.id, callback.id]))
    return findings


def paid_amount(callbacks: Sequence[Exchange]) -> float | None:
    """What the buyer paid, as the BPP reported it: the amount of the latest payment it
    reported COMPLETED (or PAID); None when it reported none."""
    paid = None
    for callback in callbacks:
        order = _order(callback)
        if order is not None and payment_status(order) in ("COMPLETED", "PAID"):
            paid = number(dig(order, "beckn:payment", "beckn:amount", "value")) or paid
    return paid


def _lines(body: dict[str, Any]) -> dict[str, float]:
    """The sum of the price components a /v1 answer shows, by type (numbers or strings)."""
    sums: dict[str, float] = {}
    for line in body.get("price_components") or []:
        value = number(line.get("value")) if isinstance(line, dict) else None
        if value is not None:
            kind = str(line.get("type"))
            sums[kind] = sums.get(kind, 0.0) + value
    return sums


def _amount_shown(answer: Exchange, what: str, shown: float, expected: float,
                  source: Exchange, why: str) -> list[Finding]:
    if abs(shown - expected) < CENT:
        return []
    return [Finding("UBC-API-007", f"{answer.method} {answer.url} shows the driver {what} "
                    f"{shown:g}; {why}", path="/price_components", expected=expected,
                    actual=shown, evidence=[answer.id, source.id])]


def shown_bill_is_billed(answer: Exchange, bill: Exchange, paid: float | None) -> list[Finding]:
    """UBC-API-007: the final bill a stop answer shows (its price components but REFUND)
    totals the BPP's final bill (`bill`, the callback that closed the order); a REFUND line it
    shows is what was paid beyond that bill."""
    body, order = _succeeded(answer), _order(bill)
    if body is None or order is None:
        return []
    billed = number(dig(order, "beckn:orderValue", "value"))
    if billed is None:
        return []
    lines = _lines(body)
    charged = [v for k, v in lines.items() if k != "REFUND"]
    if not charged:  # no bill shown: the answer's shape is UBC-API-003's to judge
        return []
    findings = _amount_shown(answer, "a bill of", sum(charged), billed, bill,
                             f"the BPP's {bill.action} billed {billed:g}")
    if "REFUND" in lines and paid is not None:
        findings += _amount_shown(answer, "a refund of", abs(lines["REFUND"]),
                                  max(0.0, paid - billed), bill,
                                  f"{paid:g} was paid and the BPP billed {billed:g}")
    return findings


def shown_cancellation_is_the_bpps(answer: Exchange, on_cancel: Exchange,
                                   paid: float | None) -> list[Finding]:
    """UBC-API-007: a cancellation answer shows the refund the BPP's on_cancel reported (its
    payment REFUNDED, of that amount; none otherwise) and as fee what was paid less that
    refund (the BPP's own word: the TSD's on_cancel keeps the order's value as it was)."""
    body, order = _succeeded(answer), _order(on_cancel)
    if body is None or order is None:
        return []
    refunded = payment_status(order) == "REFUNDED"
    refund = number(dig(order, "beckn:payment", "beckn:amount", "value")) if refunded else 0.0
    lines = _lines(body)
    findings = []
    if "REFUND" in lines and refund is not None:
        findings += _amount_shown(answer, "a refund of", abs(lines["REFUND"]), refund,
                                  on_cancel, f"the BPP's on_cancel refunds {refund:g}")
    if "FEE" in lines and paid is not None and refund is not None:
        fee = max(0.0, paid - refund)
        findings += _amount_shown(answer, "a cancellation fee of", lines["FEE"], fee,
                                  on_cancel, f"{paid:g} was paid and the BPP's on_cancel "
                                  f"refunds {refund:g}")
    return findings
