"""State checks: order, charging-session and payment states along a UBC flow.

The transitions are the table of the UBC profile notes (from the official examples), encoded
once as data in harness/beckn/lifecycle.py. A callback that carries an `error` refuses one
request (REJECTED with 40000 or 40006, 50001 for a late cancel); it reports, it does not move
the order. One message on its own must not contradict itself either: the state its action
reports, and the order, session and payment states it carries together (UBC-STATE-010/011).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.beckn import envelope
from harness.beckn.lifecycle import ORDER_TRANSITIONS, PAYMENT_TRANSITIONS, SESSION_TRANSITIONS
from harness.beckn.order import order_status, payment_status, session_status
from harness.checks.message import Message, Pipeline
from harness.findings import Finding
from harness.transcript import Exchange


@dataclass(frozen=True)
class Expected:
    """What one step must report; None means the step does not constrain it."""

    order: frozenset[str] | None = None
    session: frozenset[str] | None = None
    payment: frozenset[str] | None = None


def _one(*values: str) -> frozenset[str]:
    return frozenset(values)


# Step name (the scenario's word for the callback) -> the states of the NOTES.md table.
STEPS: dict[str, Expected] = {
    "on_select": Expected(order=_one("CREATED")),
    "on_init": Expected(order=_one("CREATED"), payment=_one("INITIATED")),
    "payment_done": Expected(order=_one("PENDING"), payment=_one("COMPLETED")),
    "on_confirm": Expected(order=_one("CONFIRMED"), session=_one("PENDING"),
                           payment=_one("COMPLETED")),
    "on_status_before_start": Expected(order=_one("CONFIRMED"), session=_one("PENDING")),
    "on_update_start": Expected(order=_one("INPROGRESS"), session=_one("ACTIVE")),
    "on_track": Expected(order=_one("INPROGRESS"), session=_one("ACTIVE")),
    "interruption": Expected(order=_one("INPROGRESS"), session=_one("INTERRUPTED")),
    "on_update_stop": Expected(order=_one("COMPLETED"), session=_one("COMPLETED")),
    "refund": Expected(order=_one("COMPLETED"), payment=_one("REFUNDED")),
    "on_cancel": Expected(order=_one("CANCELLED")),
}


def _order(exchange: Exchange) -> Any:
    doc = exchange.json()
    message = doc.get("message") if isinstance(doc, dict) else None
    return message.get("order") if isinstance(message, dict) else None


def _refusal(exchange: Exchange) -> bool:
    doc = exchange.json()
    error = doc.get("error") if isinstance(doc, dict) else None
    return isinstance(error, dict) and bool(error.get("code"))


def step_states(step: str, callback: Exchange) -> list[Finding]:
    """UBC-STATE-004: the callback of `step` reports the states the profile prescribes."""
    expected = STEPS[step]
    order = _order(callback)
    findings = []
    base = "/message/order"
    for what, wanted, actual, path in (
        ("order status", expected.order, order_status(order), f"{base}/beckn:orderStatus"),
        ("session status", expected.session, session_status(order),
         f"{base}/beckn:fulfillment/beckn:deliveryAttributes/sessionStatus"),
        ("payment status", expected.payment, payment_status(order),
         f"{base}/beckn:payment/beckn:paymentStatus"),
    ):
        if wanted is not None and actual not in wanted:
            findings.append(Finding("UBC-STATE-004", f"{callback.action} ({step}) reports "
                                    f"{what} {actual!r}", path=path,
                                    expected=sorted(wanted) if len(wanted) > 1 else
                                    next(iter(wanted)), actual=actual,
                                    evidence=[callback.id]))
    return findings


def transitions(callbacks: Iterable[Exchange], *, from_start: bool = True) -> list[Finding]:
    """UBC-STATE-001/002/003: across the callbacks of one transaction, in arrival order, each
    state moves only along an allowed transition. With `from_start=False` (a capture that
    begins mid-transaction) the first state reported of each kind is where it starts."""
    findings: list[Finding] = []
    last: dict[str, tuple[str | None, str | None]] = {}
    tables = (
        ("order", "UBC-STATE-001", ORDER_TRANSITIONS, order_status),
        ("session", "UBC-STATE-002", SESSION_TRANSITIONS, session_status),
        ("payment", "UBC-STATE-003", PAYMENT_TRANSITIONS, payment_status),
    )
    for callback in sorted(callbacks, key=lambda e: e.mono_time):
        if _refusal(callback):
            continue
        order = _order(callback)
        for name, rule, table, read in tables:
            state = read(order)
            if state is None:
                continue
            previous, previous_id = last.get(name, (None, None))
            allowed = table.get(previous, frozenset())
            if state not in allowed and (from_start or name in last):
                findings.append(Finding(
                    rule, f"{name} status went {previous or '(start)'} -> {state} "
                    f"in {callback.action}", expected=sorted(allowed),
                    actual=state, evidence=[e for e in (previous_id, callback.id) if e]))
            last[name] = (state, callback.id)
    return findings


def refused_with(callback: Exchange, code: str, rule: str, what: str) -> list[Finding]:
    """UBC-STATE-005/006/007: a refusal carries the prescribed error code."""
    doc = callback.json()
    error = doc.get("error") if isinstance(doc, dict) else None
    actual = error.get("code") if isinstance(error, dict) else None
    if actual != code:
        return [Finding(rule, f"{what}: {callback.action} carries error code {actual!r}",
                        path="/error/code", expected=code, actual=actual,
                        evidence=[callback.id])]
    return []


# --- one message on its own ---------------------------------------------------------------------

# The order status a callback that refuses nothing can report, by action (TSD §11, §12.1): a
# quote is CREATED, a confirmation CONFIRMED, a cancellation CANCELLED. on_status, on_update and
# on_track report whatever state the order is in. A callback with an `error` is a refusal and
# reports the order as it was (REJECTED, or unchanged for a late cancel).
ACTION_ORDER_STATES: dict[str, frozenset[str]] = {
    "on_select": _one("CREATED"),
    "on_init": _one("CREATED"),
    "on_confirm": _one("CONFIRMED"),
    "on_cancel": _one("CANCELLED"),
}
# Session states an order status rules out, and payment states: the rows of the profile's table
# that can never meet in one message (a completed order with a session still charging ...).
SESSION_RULED_OUT: dict[str, frozenset[str]] = {
    "CREATED": _one("ACTIVE", "STOP", "COMPLETED", "INTERRUPTED"),
    "PENDING": _one("ACTIVE", "STOP", "COMPLETED", "INTERRUPTED"),
    "CONFIRMED": _one("ACTIVE", "STOP", "COMPLETED"),
    "COMPLETED": _one("ACTIVE"),
    "CANCELLED": _one("ACTIVE"),
}
PAYMENT_RULED_OUT: dict[str, frozenset[str]] = {
    "CREATED": _one("REFUNDED"),
    "PENDING": _one("REFUNDED"),
    "CONFIRMED": _one("REFUNDED"),
    "INPROGRESS": _one("REFUNDED"),
}


def _refuses(message: Message) -> bool:
    error = message.doc.get("error") if isinstance(message.doc, dict) else None
    return isinstance(error, dict) and bool(error.get("code"))


def states_consistent(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-STATE-010/011: the states one callback reports, on their own."""
    order = message.order
    status = order.get("beckn:orderStatus") if order is not None else None
    if not isinstance(status, str):
        return []
    action = message.context.get("action") if message.context else None
    findings = action_reports_its_state(message, action, status) \
        if action in ACTION_ORDER_STATES else []
    # A request's states say what the BAP asks for (an update with session ACTIVE asks the
    # confirmed order to start); only what a BPP reports must be one consistent state.
    if envelope.sent_by_bpp(action) and (status in SESSION_RULED_OUT
                                         or status in PAYMENT_RULED_OUT):
        findings += states_agree(order, status)
    return findings


def action_reports_its_state(message: Message, action: Any, status: str) -> list[Finding]:
    """UBC-STATE-010: on_select and on_init report CREATED, on_confirm CONFIRMED, on_cancel
    CANCELLED, unless the callback refuses with an error."""
    allowed = ACTION_ORDER_STATES[action]
    if status in allowed or _refuses(message):
        return []
    return [Finding("UBC-STATE-010", f"{action} reports order status {status!r} without an "
                    "error", path="/message/order/beckn:orderStatus",
                    expected=next(iter(allowed)), actual=status)]


def states_agree(order: Any, status: str) -> list[Finding]:
    """UBC-STATE-011: the order, session and payment states of one message can coexist."""
    findings = []
    session, payment = session_status(order), payment_status(order)
    if session in SESSION_RULED_OUT.get(status, ()):
        findings.append(Finding(
            "UBC-STATE-011", f"order {status} with charging session {session}",
            path="/message/order/beckn:fulfillment/beckn:deliveryAttributes/sessionStatus",
            expected=f"not {sorted(SESSION_RULED_OUT[status])}", actual=session))
    if payment in PAYMENT_RULED_OUT.get(status, ()):
        findings.append(Finding(
            "UBC-STATE-011", f"order {status} with payment {payment}",
            path="/message/order/beckn:payment/beckn:paymentStatus",
            expected=f"not {sorted(PAYMENT_RULED_OUT[status])}", actual=payment))
    return findings
