"""Checks on the Beckn requests a BAP initiates across one order (UBC-CTX-023, UBC-CTX-024,
UBC-CTX-027, UBC-STATE-012, UBC-CONS-010): fresh message ids, one transaction id, addressed as
the registry says, the flow's order, the slot the driver asked for.

Each takes the requests the candidate sent, as they arrived at the harness's BPP or CDS, in
arrival order; a finding names the request that breaks the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.beckn import time as wire_time
from harness.beckn.order import dig
from harness.findings import Finding
from harness.transcript import Exchange

ORDER_ACTIONS = ("select", "init", "confirm", "status", "update", "track", "cancel", "rating",
                 "support")
# what must have been answered in the transaction before a request of this action is sent
NEEDS = {"init": "on_select", "confirm": "on_init"}
ASKED_BY = {"on_select": "select", "on_init": "init"}
SLOT_ACTIONS = ("select", "init", "confirm")  # the requests that describe the order's terms
PREFERENCES = ("message", "order", "beckn:orderAttributes", "preferences")


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


def _same_uri(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def addressed_as_registered(requests: Sequence[Exchange], bap: tuple[str, str],
                            bpps: Mapping[str, str]) -> list[Finding]:
    """UBC-CTX-027: each request names the BAP's own registered `bap_uri` (the address its
    callbacks go to) and, when it names a BPP, that BPP's `bpp_id` and the `bpp_uri` of its
    registry record and catalog; a request that reached a BPP names it. `bap`: the
    candidate's (subscriber id, URI); `bpps`: subscriber id -> URI of the BPPs it may order
    from. (The bap_id is the signer's: UBC-SIG-011.)"""
    bap_id, bap_uri = bap
    findings = []
    for request in requests:
        doc = request.json()
        context = doc.get("context") if isinstance(doc, dict) else None
        if not isinstance(context, dict) or context.get("bap_id") != bap_id:
            continue
        wrong: list[tuple[str, Any, str]] = []
        if not _same_uri(context.get("bap_uri"), bap_uri):
            wrong.append(("bap_uri", context.get("bap_uri"), bap_uri))
        bpp_id = context.get("bpp_id")
        if request.party == "bpp" and bpp_id not in bpps:
            wrong.append(("bpp_id", bpp_id, " or ".join(sorted(bpps)) or "a registered BPP"))
        elif isinstance(bpp_id, str) and bpp_id in bpps and \
                not _same_uri(context.get("bpp_uri"), bpps[bpp_id]):
            wrong.append(("bpp_uri", context.get("bpp_uri"), bpps[bpp_id]))
        for name, actual, expected in wrong:
            findings.append(Finding(
                "UBC-CTX-027", f"{request.action} names {name} {actual!r}, not the registered "
                f"{expected!r}", path=f"/context/{name}", expected=expected, actual=actual,
                evidence=[request.id]))
    return findings


def requested_slot_carried(request: Exchange, window: tuple[str, str]) -> list[Finding]:
    """UBC-CONS-010: the driver asked the app for a reservation in `window` (start, end): its
    select carries that window as the order's preferences (startTime, endTime; the same
    instants, however written); an init or confirm may leave preferences out, as the TSD's
    examples do, but one that gives them gives the same window."""
    if request.action not in SLOT_ACTIONS:
        return []
    preferences = dig(request.json(), *PREFERENCES)
    given = preferences if isinstance(preferences, dict) else {}
    if not given and request.action != "select":
        return []
    pointer = "/" + "/".join(PREFERENCES)
    findings = []
    for name, asked in zip(("startTime", "endTime"), window, strict=True):
        sent = given.get(name)
        at, wanted = wire_time.epoch(sent), wire_time.epoch(asked)
        if at is not None and wanted is not None and abs(at - wanted) < 0.001:
            continue
        got = f"no {name}" if sent is None else f"{name} {sent!r}, not {asked!r}"
        findings.append(Finding(
            "UBC-CONS-010", f"the driver asked the app for the slot {window[0]} to {window[1]}; "
            f"its {request.action} carries {got}",
            path=f"{pointer}/{name}", expected=asked, actual=sent, evidence=[request.id]))
    return findings
