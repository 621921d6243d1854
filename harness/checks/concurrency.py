"""What a load run's callbacks show under concurrency (`ubc-cert load`, harness/load/).

The load's requests are sent by Locust users in other processes; the harness's two BAPs
received every callback, and the transcript holds each with its arrival time. These checks
look at those callbacks alone, once the load is over:

- one callback per request: a message_id answered twice (a second on_confirm above all) is
  UBC-TIME-004;
- each transaction's states move legally and its order keeps its id (UBC-STATE-001..003,
  UBC-CONS-002), as at the end of a certification scenario, in the order the BPP sent the
  callbacks (under load they overtake each other on the way);
- one booking per slot and per order (UBC-STATE-013, TSD §12.4): of two BAPs confirming one
  slot at once exactly one is CONFIRMED and the other refused with 40000, and no order id is
  confirmed in two transactions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from harness.beckn import envelope
from harness.beckn import time as wire_time
from harness.beckn.order import dig, order_status
from harness.checks import consistency, state
from harness.findings import NOT_EVALUATED, Finding
from harness.transcript import Exchange

RULE = "UBC-STATE-013"
BOOKING_STEPS = ("on_select", "on_init", "on_confirm")  # where a BPP may refuse the slot


@dataclass(frozen=True)
class SlotRace:
    """Two BAPs asked for the same slot of one item at once, each in its own transaction."""

    transactions: tuple[str, ...]
    item_id: str = ""
    slot: tuple[str, str] = ("", "")


@dataclass
class LoadCallbacks:
    """Every callback the harness's BAPs received during a load (accepted or refused by their
    inboxes), and the slot races that were run."""

    callbacks: list[Exchange]
    races: list[SlotRace] = field(default_factory=list)

    @property
    def accepted(self) -> list[Exchange]:
        """The callbacks the inboxes took (verified, schema-valid), in arrival order."""
        return sorted((c for c in self.callbacks if c.status == 200), key=lambda c: c.mono_time)

    def of_transaction(self) -> dict[str, list[Exchange]]:
        """Each transaction's accepted callbacks in arrival order, a repeated one (the same
        message_id and action: a duplicate, reported by itself) counted once, as a BAP that
        refuses duplicates takes them."""
        grouped: dict[str, list[Exchange]] = defaultdict(list)
        seen: set[tuple[str | None, str | None, str | None]] = set()
        for callback in self.accepted:
            key = (callback.transaction_id, callback.message_id, callback.action)
            if callback.transaction_id and callback.action != "on_discover" and key not in seen:
                seen.add(key)
                grouped[callback.transaction_id].append(callback)
        return grouped


def _error_code(callback: Exchange) -> str | None:
    code = dig(callback.json(), "error", "code")
    return str(code) if code is not None else None


def _order(callback: Exchange) -> Any:
    return dig(callback.json(), "message", "order")


def one_answer_per_request(load: LoadCallbacks) -> list[Finding]:
    """UBC-TIME-004: no request gets two callbacks (one on_confirm per confirm, and so on)."""
    answers: dict[tuple[str | None, str | None, str | None], list[Exchange]] = defaultdict(list)
    for callback in load.accepted:
        if callback.action != "on_discover":  # the CDS may relay several for one discover
            answers[(callback.transaction_id, callback.message_id, callback.action)].append(
                callback)
    findings = []
    for (transaction_id, message_id, action), copies in answers.items():
        if len(copies) > 1:
            same = len({c.request_body for c in copies}) == 1
            findings.append(Finding(
                "UBC-TIME-004", f"{len(copies)} {action} callbacks for message_id {message_id} "
                f"of transaction {transaction_id}" + (" (byte for byte the same)" if same
                                                      else ""),
                path="/context/message_id", expected=1, actual=len(copies),
                evidence=[c.id for c in copies]))
    return findings


def in_sending_order(callbacks: list[Exchange]) -> list[Exchange]:
    """The callbacks in the order their sender stamped them (context.timestamp; arrival order
    where it gives none), each a copy whose `mono_time` is its rank in that order. Under load,
    two callbacks sent a few milliseconds apart (an unsolicited payment on_status, then the
    on_confirm) overtake each other on the way: the order of their arrival says nothing of
    the order the BPP moved the order in."""
    def sent(callback: Exchange) -> tuple[float, float]:
        stamped = wire_time.epoch(dig(callback.json(), "context", "timestamp"))
        return (stamped if stamped is not None else float("inf"), callback.mono_time)
    ranked = sorted(callbacks, key=sent)
    return [replace(callback, mono_time=float(rank)) for rank, callback in enumerate(ranked)]


def states_move_legally(load: LoadCallbacks) -> list[Finding]:
    """UBC-STATE-001..003 and UBC-CONS-002 over each transaction's callbacks, in the order the
    BPP sent them: concurrency must not make an order skip or reverse a state, nor change its
    id."""
    findings: list[Finding] = []
    for callbacks in load.of_transaction().values():
        ordered = in_sending_order(callbacks)
        findings += state.transitions(ordered)
        findings += consistency.order_id_stable(ordered)
    return findings


def race_outcome(callbacks: list[Exchange]) -> tuple[Exchange | None, Exchange | None]:
    """(the on_confirm that booked the slot, the first callback that refused it)."""
    booked = refused = None
    for callback in callbacks:
        if callback.action not in BOOKING_STEPS:
            continue
        if _error_code(callback) is not None:
            refused = refused or callback
        elif callback.action == "on_confirm" and order_status(_order(callback)) == "CONFIRMED":
            booked = booked or callback
    return booked, refused


def one_booking_per_slot(load: LoadCallbacks) -> list[Finding]:
    """UBC-STATE-013: two BAPs confirming one slot at once — exactly one order is CONFIRMED,
    the other is refused (at on_select, on_init or on_confirm) with error 40000; and across
    the whole load no order id is confirmed in two transactions."""
    grouped = load.of_transaction()
    findings: list[Finding] = []
    for race in load.races:
        outcomes = {t: race_outcome(grouped.get(t, [])) for t in race.transactions}
        booked = [b for b, _ in outcomes.values() if b is not None]
        what = f"two BAPs booking {race.item_id} for {race.slot[0]}..{race.slot[1]}"
        evidence = [e.id for pair in outcomes.values() for e in pair if e is not None]
        if len(booked) > 1:
            findings.append(Finding(
                RULE, f"{what}: both were CONFIRMED, a double booking",
                expected="one CONFIRMED, the other refused with 40000",
                actual=f"{len(booked)} CONFIRMED", evidence=evidence))
            continue
        unanswered = [t for t, (b, r) in outcomes.items() if b is None and r is None]
        if unanswered:
            findings.append(Finding(
                RULE, f"not evaluated: {what}: no confirmation nor refusal arrived for "
                f"transaction {', '.join(unanswered)}", status=NOT_EVALUATED,
                evidence=evidence))
            continue
        if not booked:
            findings.append(Finding(
                RULE, f"{what}: neither was confirmed", expected="one CONFIRMED",
                actual="every one refused", evidence=evidence))
            continue
        for b, refusal in outcomes.values():
            code = _error_code(refusal) if b is None and refusal is not None else None
            if b is None and refusal is not None and code != envelope.BUSINESS_ERROR:
                findings.append(Finding(
                    RULE, f"{what}: the one that lost was refused in {refusal.action} with "
                    f"error {code}", path="/error/code", expected=envelope.BUSINESS_ERROR,
                    actual=code, evidence=evidence))
    findings += _order_ids_confirmed_once(load)
    return findings


def _order_ids_confirmed_once(load: LoadCallbacks) -> list[Finding]:
    confirmed: dict[str, dict[str, Exchange]] = defaultdict(dict)
    for callback in load.accepted:
        order = _order(callback)
        order_id = order.get("beckn:id") if isinstance(order, dict) else None
        if callback.action == "on_confirm" and isinstance(order_id, str) and \
                _error_code(callback) is None and order_status(order) == "CONFIRMED" and \
                callback.transaction_id:
            confirmed[order_id].setdefault(callback.transaction_id, callback)
    return [Finding(RULE, f"order id {order_id} was confirmed in {len(by_transaction)} "
                    "transactions", path="/message/order/beckn:id", expected=1,
                    actual=len(by_transaction),
                    evidence=[c.id for c in by_transaction.values()])
            for order_id, by_transaction in confirmed.items() if len(by_transaction) > 1]
