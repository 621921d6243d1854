"""Cross-message checks of an offline audit (`ubc-cert audit`) of a run that certified a BAP.

In such a run (`ubc-cert run --role bap`) the candidate is a driver's app: it sends the Beckn
requests (discover to the harness's CDS; select, init, confirm, ... to its BPP) and answers the
callbacks the harness sends it, the hostile BPP's probes among them. The run's report.json says
so and names the app's registered id and URI and the BPPs it could order from (flow.AppRun);
these checks apply offline what the run applied (harness/certify/bap/story.py, hostile.py):

- across each order, the app's requests (harness/checks/initiator.py): a fresh message_id per
  request (UBC-CTX-023), one transaction_id from select on (UBC-CTX-024), select, on_select,
  init, on_init, confirm in that order (UBC-STATE-012), its registered bap_uri and the BPP's
  registered bpp_id and bpp_uri (UBC-CTX-027);
- each select orders an item of the catalogs the app was shown (the on_discover callbacks sent
  to it) and accepts one of their offers for it at their price (UBC-CONS-005);
- each callback the harness sent the app, judged alone against the keys in report.json: one
  whose signature fails must be refused with 401 and a challenge (UBC-SIG-013/014); one for a
  transaction the app never started, or a second copy of one it took (same transaction,
  message_id and action; on_discover aside), or an unsolicited one out of order (stamped before
  a callback of its transaction the app took, and taking the order back to a state it left),
  or one naming another BPP than the one the app's requests of the transaction went to, with a
  4xx NACK (UBC-CTX-025, UBC-TIME-004, UBC-CTX-026, UBC-CTX-030); every
  other valid one must be acknowledged (UBC-SCH-013), the hostile BPP's control on_status and
  the callbacks of the app's orders alike. A callback with other problems of its own is asked
  neither: the harness sends none on purpose, and one that echoes the app's own broken context
  (a ttl of zero) is the app's doing.

An order is the app's requests from the discover or select that began it: a request in a
transaction no discover or select of the app began (an app that changed transaction_id
mid-order) belongs to the order the app was in.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.beckn import envelope, lifecycle
from harness.beckn import time as wire_time
from harness.beckn.order import dig, order_status, payment_status, session_status
from harness.checks import consistency, initiator, refusal, timing
from harness.checks.flow import AppRun, Flow
from harness.findings import Finding
from harness.transcript import Exchange

BEGINS = frozenset({"discover", "select"})  # a request that begins an order
# A discover may be answered many times under its message_id (the CDS's cached catalogs, then
# each BPP's): a second on_discover is no copy of the first.
ANSWERED_MANY_TIMES = frozenset({"on_discover"})


def _requests(flow: Flow) -> dict[str, list[Exchange]]:
    """Per BAP-role run, the requests the audited app sent, in arrival order."""
    found: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in flow.delivered():
        app = flow.apps.get(exchange.id)
        if app is not None and exchange.id in flow.sent_by_audited and \
                exchange.action in envelope.CALLBACK_OF:
            found[app.run].append(exchange)
    return found


def _callbacks(flow: Flow, run: str) -> list[Exchange]:
    """The callbacks the harness sent the app of one run, in arrival order."""
    return [e for e in flow.delivered() if e.id in flow.sent_to_audited
            and e.action in envelope.REQUEST_OF and (app := flow.apps.get(e.id)) is not None
            and app.run == run]


def orders(requests: list[Exchange]) -> list[list[Exchange]]:
    """The app's requests grouped by the order they belong to (see the module docstring)."""
    begun = {r.transaction_id for r in requests if r.action in BEGINS}
    found: dict[str | None, list[Exchange]] = {}
    current: str | None = None
    for request in requests:
        if request.transaction_id in begun or not found:
            current = request.transaction_id
        found.setdefault(current, []).append(request)
    return list(found.values())


def requests_across_orders(flow: Flow) -> list[Finding]:
    """UBC-CTX-023, UBC-CTX-024, UBC-STATE-012, UBC-CTX-027 over each order of each app."""
    findings: list[Finding] = []
    for run, requests in _requests(flow).items():
        app = flow.apps[requests[0].id]
        answered = _callbacks(flow, run)
        for order in orders(requests):
            findings += initiator.fresh_message_ids(order) + initiator.transaction_kept(order)
            findings += initiator.actions_in_order(order, answered)
            findings += initiator.addressed_as_registered(order, app.bap, dict(app.bpps))
    return findings


def selects_from_catalog(flow: Flow) -> list[Finding]:
    """UBC-CONS-005: each select of an app orders from the catalogs of the BPP it names that
    the app was shown (in any on_discover sent to it in the run); none shown, none judged."""
    findings: list[Finding] = []
    for run, requests in _requests(flow).items():
        shown: dict[Any, list[Any]] = defaultdict(list)
        for callback in _callbacks(flow, run):
            if callback.action == "on_discover":
                named = dig(callback.json(), "context", "bpp_id")
                for catalog in dig(callback.json(), "message", "catalogs") or []:
                    if isinstance(catalog, dict):
                        shown[catalog.get("beckn:bppId", named)].append(catalog)
        for select in (r for r in requests if r.action == "select"):
            findings += consistency.selected_from_catalog(
                select, shown.get(dig(select.json(), "context", "bpp_id"), []))
    return findings


def callbacks_refused_as_deserved(flow: Flow) -> list[Finding]:
    """UBC-SIG-013/014, UBC-CTX-025/026/030, UBC-TIME-004, UBC-SCH-009, UBC-SCH-013: what each
    app had to do with each callback the harness sent it, re-derived from the transcript."""
    findings: list[Finding] = []
    started: dict[str, set[str | None]] = defaultdict(set)  # run -> transactions the app began
    # (run, transaction) -> the BPP the app's requests in it went to (Context.bpp_id)
    placed_with: dict[tuple[str, Any], Any] = {}
    taken: set[tuple[str, Any, Any, Any]] = set()  # (run, transaction, message, action) ACKed
    asked: set[tuple[str, Any, Any]] = set()  # (run, transaction, message) the app sent
    held: dict[tuple[str, Any], Held] = {}  # (run, transaction) -> the order the app took in
    for exchange in flow.delivered():
        app = flow.apps.get(exchange.id)
        if app is None:
            continue
        if exchange.id in flow.sent_by_audited and exchange.action in envelope.CALLBACK_OF:
            started[app.run].add(exchange.transaction_id)
            asked.add((app.run, exchange.transaction_id, exchange.message_id))
            bpp_id = dig(exchange.json(), "context", "bpp_id")
            if bpp_id and exchange.action != "discover":
                placed_with.setdefault((app.run, exchange.transaction_id), bpp_id)
            continue
        if exchange.id not in flow.sent_to_audited or \
                exchange.action not in envelope.REQUEST_OF:
            continue
        key = (app.run, exchange.transaction_id, exchange.message_id, exchange.action)
        problems = flow.judged_requests.get(exchange.id)
        order = (app.run, exchange.transaction_id)
        late = None if (app.run, exchange.transaction_id, exchange.message_id) in asked \
            else _out_of_order(exchange, held.get(order))
        placed = placed_with.get(order)
        sender = dig(exchange.json(), "context", "bpp_id")
        foreign = placed is not None and exchange.action != "on_discover" and sender != placed
        if problems is not None and exchange.status is not None and \
                not timing.answered(exchange):
            findings += _deserved(exchange, app, problems, started, key in taken, late,
                                  f"from {sender!r}, though the order is with {placed!r}"
                                  if foreign else None)
        if _acknowledged(exchange) and exchange.action not in ANSWERED_MANY_TIMES:
            taken.add(key)
            if not problems and late is None and not foreign:
                held[order] = Held.after(held.get(order), exchange)
    return findings


class Held:
    """The order as an app took it in from the callbacks it acknowledged: the latest stamp and
    the order, session and payment states they reported."""

    def __init__(self, stamp: float | None, states: dict[str, str | None]) -> None:
        self.stamp, self.states = stamp, states

    @classmethod
    def after(cls, before: Held | None, callback: Exchange) -> Held:
        doc = callback.json()
        order = dig(doc, "message", "order")
        stamp = wire_time.epoch(dig(doc, "context", "timestamp"))
        states = dict(before.states) if before else {}
        for kind, read in (("order", order_status), ("session", session_status),
                           ("payment", payment_status)):
            states[kind] = read(order) or states.get(kind)
        stamps = [t for t in (stamp, before.stamp if before else None) if t is not None]
        return cls(max(stamps) if stamps else None, states)


def _out_of_order(callback: Exchange, held: Held | None) -> str | None:
    """Why an unsolicited callback is out of order for the order the app holds (UBC-CTX-026):
    stamped before the last callback it took in, and taking the order back; None if not."""
    doc = callback.json()
    stamp = wire_time.epoch(dig(doc, "context", "timestamp"))
    if held is None or held.stamp is None or stamp is None or stamp >= held.stamp:
        return None
    behind = lifecycle.left_behind(held.states, dig(doc, "message", "order"))
    if not behind:
        return None
    kind, was, now = behind[0]
    return f"stamped before a callback the app took, it takes the {kind} back from {was} to {now}"


def _deserved(callback: Exchange, app: AppRun, problems: list[Finding],
              started: dict[str, set[str | None]], again: bool,
              late: str | None, foreign: str | None = None) -> list[Finding]:
    signature = [f for f in problems if f.rule.startswith("UBC-SIG-")]
    if signature:
        what = f"{callback.action} ({signature[0].rule}: {signature[0].message})"
        return refusal.refused_properly(callback, 401, "UBC-SIG-013", what, who="the app")
    if callback.transaction_id not in started[app.run]:
        return refusal.unknown_transaction_refused(
            callback, f"an {callback.action} for transaction {callback.transaction_id!r}, "
            "which the app never started", "UBC-CTX-025")
    if foreign is not None:
        return refusal.unknown_transaction_refused(
            callback, f"an {callback.action} about the order {foreign}", "UBC-CTX-030")
    if again:
        return refusal.unknown_transaction_refused(
            callback, f"{callback.action} with message_id {callback.message_id!r} it already "
            "took, again", "UBC-TIME-004")
    if late is not None:
        return refusal.unknown_transaction_refused(
            callback, f"an unsolicited {callback.action} out of order ({late})", "UBC-CTX-026")
    if problems:
        return []  # neither to be taken nor to be refused: see the module docstring
    return refusal.valid_request_acknowledged(
        callback, f"the valid, signed {callback.action} of the harness's {callback.party}")


def _acknowledged(exchange: Exchange) -> bool:
    return exchange.status is not None and exchange.status < 300 and \
        envelope.ack_status(exchange.response_json()) == "ACK"
