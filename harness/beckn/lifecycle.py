"""How an order, its charging session and its payment move along a UBC flow: the transitions of
the UBC profile notes' table ("States along the flow", from the official examples), as data.

Both sides use them: harness/checks/state.py holds a BPP's callbacks to them (UBC-STATE-001..
003), and the reference BAP refuses a callback that would move the order it holds back to a
state it has left (UBC-CTX-026). A state not in a table is one the flow does not name; nothing
is said about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from harness.beckn.order import order_status, payment_status, session_status

Table = Mapping[str | None, frozenset[str]]

ORDER_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"CREATED"}),
    "CREATED": frozenset({"CREATED", "PENDING", "CONFIRMED", "CANCELLED"}),
    "PENDING": frozenset({"PENDING", "CONFIRMED", "CANCELLED"}),
    "CONFIRMED": frozenset({"CONFIRMED", "INPROGRESS", "CANCELLED"}),
    "INPROGRESS": frozenset({"INPROGRESS", "COMPLETED"}),
    "COMPLETED": frozenset({"COMPLETED"}),
    "CANCELLED": frozenset({"CANCELLED"}),
}
SESSION_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"PENDING", "ACTIVE"}),
    "PENDING": frozenset({"PENDING", "ACTIVE"}),
    "ACTIVE": frozenset({"ACTIVE", "STOP", "COMPLETED", "INTERRUPTED"}),
    "INTERRUPTED": frozenset({"INTERRUPTED", "ACTIVE", "STOP", "COMPLETED"}),
    "STOP": frozenset({"STOP", "COMPLETED"}),
    "COMPLETED": frozenset({"COMPLETED"}),
}
PAYMENT_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"INITIATED", "COMPLETED"}),
    "INITIATED": frozenset({"INITIATED", "COMPLETED"}),
    "COMPLETED": frozenset({"COMPLETED", "REFUNDED"}),
    "REFUNDED": frozenset({"REFUNDED"}),
}
# (what, its table, how a Beckn order says it)
KINDS = (("order", ORDER_TRANSITIONS, order_status),
         ("session", SESSION_TRANSITIONS, session_status),
         ("payment", PAYMENT_TRANSITIONS, payment_status))


@cache
def _ahead(kind: str, state: str) -> frozenset[str]:
    table = next(t for name, t, _ in KINDS if name == kind)
    seen, todo = {state}, [state]
    while todo:
        for following in table.get(todo.pop(), frozenset()):
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return frozenset(seen)


def reachable(kind: str, state: str) -> frozenset[str]:
    """Every state of `kind` ("order", "session", "payment") the flow can reach from `state`
    in any number of steps, `state` itself included. Skipping states is allowed (a callback
    reporting them may have been missed); going back to one left behind is not."""
    return _ahead(kind, state)


def left_behind(held: Mapping[str, str | None], order: object) -> list[tuple[str, str, str]]:
    """(kind, held state, reported state) for each state the Beckn `order` reports that the
    flow cannot reach from the one `held` (by kind) — the order would go back. Kinds not held,
    not reported, or in a state the flow does not name are not judged."""
    found = []
    for kind, table, read in KINDS:
        was, now = held.get(kind), read(order)
        if was is None or now is None or was not in table or now not in _every(kind):
            continue
        if now not in reachable(kind, was):
            found.append((kind, was, now))
    return found


@cache
def _every(kind: str) -> frozenset[str]:
    table = next(t for name, t, _ in KINDS if name == kind)
    return frozenset(s for s in table if s is not None) | frozenset().union(*table.values())
