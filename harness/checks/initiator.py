"""Checks on the Beckn requests a BAP initiates across one order (UBC-CTX-023, UBC-CTX-024,
UBC-STATE-012): fresh message ids, one transaction id, the flow's order.

Each takes the requests the candidate sent, as they arrived at the harness's BPP or CDS, in
arrival order; a finding names the request that breaks the rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.findings import Finding
from harness.transcript import Exchange

ORDER_ACTIONS = ("select", "init", "confirm", "status", "update", "track", "cancel", "rating",
                 "support")
# what must have been answered in the transaction before a request of this action is sent
NEEDS = {"init": "on_select", "confirm": "on_init"}
ASKED_BY = {"on_select": "select", "on_init": "init"}


def fresh_message_ids(requests: Sequence[Exchange]) -> list[Finding]:
    """UBC-CTX-023: no request reuses a message_id an earlier request of its transaction used."""
    seen: dict[tuple[str | None, str | None], Exchange] = {}
    findings = []
    for request in requests:
        key = (request.transaction_id, request.message_id)
        first = seen.get(key)
        if first is None:
            seen[key] = request
            continue
        findings.append(Finding(
            "UBC-CTX-023", f"{request.action} reuses message_id {request.message_id!r} of the "
            f"{first.action} sent earlier in transaction {request.transaction_id!r}",
            path="/context/message_id", expected="a message_id new to the transaction",
            actual=request.message_id, evidence=[first.id, request.id]))
    return findings


def transaction_kept(requests: Sequence[Exchange]) -> list[Finding]:
    """UBC-CTX-024: every request of the order after its select carries the select's
    transaction_id."""
    select = next((r for r in requests if r.action == "select"), None)
    if select is None:
        return []
    findings = []
    for request in requests[requests.index(select) + 1:]:
        if request.action in ORDER_ACTIONS and request.transaction_id != select.transaction_id:
            findings.append(Finding(
                "UBC-CTX-024", f"{request.action} of the order selected in transaction "
                f"{select.transaction_id!r} carries another transaction_id",
                path="/context/transaction_id", expected=select.transaction_id,
                actual=request.transaction_id, evidence=[select.id, request.id]))
    return findings


def actions_in_order(requests: Sequence[Exchange], answered: Sequence[Exchange]
                     ) -> list[Finding]:
    """UBC-STATE-012: init only after an on_select of its transaction answered a select,
    confirm only after an on_init answered an init. `answered`: the callbacks the BPP sent
    (ACKed or not), in sending order."""
    findings = []
    for request in requests:
        needed = NEEDS.get(request.action or "")
        if needed is None:
            continue
        asks = {r.message_id for r in requests if r.action == ASKED_BY[needed]
                and r.transaction_id == request.transaction_id and r.mono_time < request.mono_time}
        if any(c.action == needed and c.message_id in asks and c.mono_time <= request.mono_time
               for c in answered):
            continue
        findings.append(Finding(
            "UBC-STATE-012", f"{request.action} sent in transaction {request.transaction_id!r} "
            f"before any {needed} answered a {ASKED_BY[needed]} of it",
            path="/context/action", expected=f"{ASKED_BY[needed]}, {needed}, then "
            f"{request.action}", actual=request.action, evidence=[request.id]))
    return findings
