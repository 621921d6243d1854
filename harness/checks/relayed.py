"""Whether what the BPP tells a driver's app reaches the driver (client-api-contract.md): news
the BPP reports unasked shows in the order the app shows (UBC-API-008), and a refusal of the
BPP reaches the driver as an error, not as a quote (UBC-API-009).

`view` and `answer` are /v1 exchanges the harness made as the driver's client; `told` and
`refusal` the BPP's callbacks as the harness's BPP sent them to the app.

How a Beckn state shows (the contract's "Appendix: Enum Values"), where the contract leaves a
choice: an order CREATED shows as `quoted_price` or, once initialised, ACTIVE; a session that
ended (COMPLETED) as COMPLETED, or STOPPED when the driver stopped it (§12.3: the contract's
STOPPED is "Charging stopped by user"); an INTERRUPTED one (§12.2: the cable pulled, nothing
charging, nothing connected) as STOPPED, or COMPLETED once billed — never ACTIVE or IDLE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.beckn import envelope
from harness.beckn.order import dig, order_status, payment_status, session_status
from harness.findings import Finding
from harness.transcript import Exchange

_ENDED_UNCOMPLETED = frozenset({"CANCELLED"})
# kind -> (where GET /v1/orders/{id} shows it, how a Beckn state reads, Beckn state -> shown)
Shows = tuple[tuple[str, ...], Callable[[Any], str | None], dict[str, frozenset[str]]]
SHOWN: dict[str, Shows] = {
    "order": (("order", "status"), order_status, {
        "CREATED": frozenset({"quoted_price", "ACTIVE"}), "PENDING": frozenset({"ACTIVE"}),
        "CONFIRMED": frozenset({"ACTIVE"}), "INPROGRESS": frozenset({"ACTIVE"}),
        "COMPLETED": frozenset({"COMPLETED"}), "CANCELLED": _ENDED_UNCOMPLETED,
        "REJECTED": _ENDED_UNCOMPLETED, "FAILED": _ENDED_UNCOMPLETED}),
    "session": (("charging", "status"), session_status, {
        "PENDING": frozenset({"IDLE"}), "ACTIVE": frozenset({"ACTIVE"}),
        "STOP": frozenset({"STOPPED"}), "INTERRUPTED": frozenset({"STOPPED", "COMPLETED"}),
        "COMPLETED": frozenset({"COMPLETED", "STOPPED"})}),
    "payment": (("payment", "status"), payment_status, {
        "INITIATED": frozenset({"PENDING"}), "PENDING": frozenset({"PENDING"}),
        "COMPLETED": frozenset({"PAID"}), "PAID": frozenset({"PAID"}),
        "REFUNDED": frozenset({"REFUNDED"}), "FAILED": frozenset({"FAILED"})}),
}


def acknowledged(callback: Exchange) -> bool:
    """The app took the callback: a 2xx ACK."""
    return callback.status is not None and callback.status < 300 and \
        envelope.ack_status(callback.response_json()) == "ACK"


def news_shown(view: Exchange, told: list[Exchange]) -> list[Finding]:
    """UBC-API-008: after the BPP told the app something unasked, the order the app shows
    (`view`, its answer to GET /v1/orders/{id}) says it. `told` is what the BPP sent the app
    from that unsolicited callback on, before the view was asked for; what the app refused
    does not count, and a later callback may have moved a state on (the interruption billed),
    so each of order, session and payment is held to the last state the app was told."""
    shown = view.response_json()
    if not isinstance(shown, dict):
        return []  # not an answer in the contract's shape: UBC-API-003 says so
    latest: dict[str, tuple[str, Exchange]] = {}
    for callback in sorted((c for c in told if acknowledged(c)), key=lambda c: c.mono_time):
        order = dig(callback.json(), "message", "order")
        for kind, (_, read, _) in SHOWN.items():
            state = read(order)
            if state is not None:
                latest[kind] = (state, callback)
    findings = []
    for kind, (state, callback) in latest.items():
        where, _, shows = SHOWN[kind]
        allowed = shows.get(state)
        actual = dig(shown, *where)
        if allowed is None or actual in allowed:
            continue
        pointer = "/" + "/".join(where)
        findings.append(Finding(
            "UBC-API-008", f"the BPP reported the {kind} {state} in its {callback.action} "
            f"({callback.id}), which the app acknowledged; {view.method} {view.url} shows "
            f"{pointer[1:].replace('/', ' ')} {actual!r}", path=pointer,
            expected=sorted(allowed) if len(allowed) > 1 else next(iter(allowed)),
            actual=actual, evidence=[callback.id, view.id]))
    return findings


def refusal_relayed(answer: Exchange, refusal: Exchange, status: int) -> list[Finding]:
    """UBC-API-009: the BPP refused the request behind a /v1 call (`refusal`, its callback
    carrying an error), and the app answered the driver with the contract's error `status`
    (409 for a business or policy error: "Order in invalid state for requested operation";
    the body's shape is UBC-API-003's), not with a success."""
    if answer.status is None or answer.status == status:
        return []  # unanswered, the call failed on its own: that blocks the step
    body = refusal.json()
    error = body.get("error") if isinstance(body, dict) else None
    what = f"the BPP refused it in {refusal.action} with error " \
        f"{error.get('code') if isinstance(error, dict) else None}"
    agreed = " as if the BPP had agreed" if answer.status < 300 else ""
    return [Finding("UBC-API-009", f"{answer.method} {answer.url} answered HTTP "
                    f"{answer.status}{agreed}; {what}", expected=status, actual=answer.status,
                    evidence=[refusal.id, answer.id])]
