"""Whether a BPP keeps an order to the BAP that placed it (UBC-CTX-028, UBC-CTX-029).

A second registered BAP, correctly signed as itself, names the first BAP's order (its id and
its transaction) in status, track, update and cancel requests. Each must be refused: a 4xx
NACK, or an ACK and then a callback that carries an error and tells nothing of the order that
the request did not say itself (an echo of the id asked about reveals nothing; the order's
status, buyer, items, bill, payment or session do). The order must be as it was before, and
no callback about it may reach the second BAP but the answers to its own requests. The
reading behind the rules is in harness/rules.py.
"""

from __future__ import annotations

from typing import Any

from harness.beckn import envelope
from harness.beckn.order import dig, order_status, payment_status, session_status
from harness.findings import Finding, pointer
from harness.transcript import Exchange

IDENTITY = frozenset({"@context", "@type"})  # JSON-LD framing, not a detail of the order
REFUSED_MARK = "REJECTED"  # the status a refusal gives the request (official rejections)


def revealed(sent: Any, answered: Any) -> list[str]:
    """JSON pointers of what the callback's message says beyond an echo of the request's:
    every part of `message.order` (and any other part of the message) that the request did
    not carry with the same value, but a REJECTED status."""
    sent = sent if isinstance(sent, dict) else {}
    if not isinstance(answered, dict):
        return []
    found: list[str] = []
    for key, value in answered.items():
        if key == "order" and isinstance(value, dict):
            asked = sent.get("order") if isinstance(sent.get("order"), dict) else {}
            found += [pointer(("message", "order", part)) for part, told in value.items()
                      if part not in IDENTITY and told != asked.get(part)
                      and not (part == "beckn:orderStatus" and told == REFUSED_MARK)]
        elif value != sent.get(key):
            found.append(pointer(("message", key)))
    return found


def foreign_request_refused(request: Exchange, callback: Exchange | None) -> list[Finding]:
    """UBC-CTX-028: another BAP's request about an order was refused, with a 4xx NACK or with
    a callback that carries an error and reveals nothing of the order; UBC-SCH-009 for a 4xx
    without a NACK body. An unanswered or non-JSON answer is timing.answered's, a missing
    callback timing.callback_within_ttl's: both are left to them."""
    body = request.response_json()
    status = request.status
    what = f"another BAP's {request.action or 'request'} about the order"
    if status is None or body is None:
        return []
    if status >= 500:
        return [Finding("UBC-CTX-028", f"{what} was answered HTTP {status}: a server error is "
                        "no refusal", expected="4xx NACK, or ACK and a callback with an error",
                        actual=status, evidence=[request.id])]
    if envelope.ack_status(body) != "ACK":
        if 400 <= status < 500 and envelope.ack_status(body) != "NACK":
            return [Finding("UBC-SCH-009", f"the refusal of {what} carries no NACK body",
                            expected="NACK", actual=envelope.ack_status(body),
                            evidence=[request.id])]
        return []
    if callback is None:
        return []
    doc = callback.json()
    doc = doc if isinstance(doc, dict) else {}
    error = doc.get("error")
    refused = isinstance(error, dict) and bool(error.get("code"))
    sent = request.json()
    told = revealed(sent.get("message") if isinstance(sent, dict) else None,
                    doc.get("message"))
    if refused and not told:
        return []
    order = dig(doc, "message", "order")
    problems = ([] if refused else ["carries no error"]) + \
        ([f"reveals {', '.join(told)}"] if told else [])
    return [Finding("UBC-CTX-028", f"the BPP served {what}: its {callback.action} "
                    f"{' and '.join(problems)}",
                    expected="an error (e.g. 30010 Order not found) and nothing of the order",
                    actual={"error": error, "order_status": order_status(order)},
                    path=told[0] if told else "/error", evidence=[request.id, callback.id])]


def order_unchanged(before: Exchange, after: Exchange) -> list[Finding]:
    """UBC-CTX-028: the order's own BAP sees it in the same state (order, session, payment)
    after another BAP's requests as before them."""
    def states(exchange: Exchange) -> tuple[str | None, str | None, str | None]:
        order = dig(exchange.json(), "message", "order")
        return order_status(order), session_status(order), payment_status(order)

    was, now = states(before), states(after)
    if was == now:
        return []
    return [Finding("UBC-CTX-028", "another BAP's requests changed the order: its own BAP now "
                    "sees it in another state", expected=_states_text(was),
                    actual=_states_text(now), path="/message/order",
                    evidence=[before.id, after.id])]


def callbacks_stay_with_owner(callbacks: list[Exchange], transaction_id: str,
                              order_id: str | None,
                              answers: set[tuple[str, str]]) -> list[Finding]:
    """UBC-CTX-029: none of these callbacks, which reached another BAP than the order's, is
    about the order (its transaction, or its id anywhere in the body) but the answers to that
    BAP's own requests (`answers`: message_id, action)."""
    findings = []
    for exchange in callbacks:
        if (exchange.message_id, exchange.action) in answers:
            continue
        names_order = exchange.transaction_id == transaction_id or (
            order_id is not None and order_id.encode() in exchange.request_body)
        if not names_order:
            continue
        findings.append(Finding(
            "UBC-CTX-029", f"{exchange.action or 'a callback'} about the order went to another "
            "BAP than the one that placed it", expected="the order's own bap_uri",
            actual=exchange.url, evidence=[exchange.id]))
    return findings


def _states_text(states: tuple[str | None, str | None, str | None]) -> str:
    order, session, payment = states
    return f"order {order}, session {session}, payment {payment}"
