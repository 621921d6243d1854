"""Cross-message checks of an offline audit (`ubc-cert audit`): a capture of whole transactions
judged the way a certification run judges its exchanges (harness/certify/journey.py, sweep.py).

A `Flow` is every Beckn exchange of the capture in arrival order, and what the audit knows of
each: whether its sender is audited (then its message and the callbacks it sent are judged),
whether its recipient is (then its synchronous answer and the callbacks it owed are), and
whether its arrival time is known. The checks apply the registry's callback and transaction
checks (timing, context, state, consistency, refusal) to it:

- a request is paired with its callbacks by transaction_id, message_id and action
  (envelope.CALLBACK_OF); a callback of an UNSOLICITED action that answers no request is
  unsolicited; any other callback answering no request is unexpected (UBC-TIME-005), unless it
  is the answer of a request left unanswered, sent with a wrong transaction or message id
  (UBC-CTX-012/013);
- a request the recipient refused (NACK) owes no callback; a callback to it is a finding;
- where the requests sent to an audited participant could be judged in full (signatures
  verified against known keys: a run's transcript), it must have acknowledged the valid ones
  and refused the others as BECKN-006 and TSD §13 say; a repeat of the same signed bytes is a
  replay it must refuse;
- timing is judged only where arrival times are known. Where they are not, or the capture ends
  before a request's ttl ran out, the check is reported not evaluated, never passed.

A run that certified a BAP (a driver's app) is the other way round: the app sends the requests
and answers the harness's callbacks. Its exchanges are marked with the run (`AppRun`) and
judged by harness/checks/app_flow.py, not by the refusal check here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.beckn import envelope
from harness.beckn import time as wire_time
from harness.beckn.order import Order
from harness.checks import consistency, context, refusal, state, timing
from harness.findings import Finding
from harness.schemas import SchemaSet
from harness.transcript import STRAY, Exchange

# Callbacks that report an order agreed at on_select: its item, offer and price must hold.
REPORTS_ORDER = frozenset({"on_init", "on_confirm", "on_status", "on_update", "on_track",
                           "on_cancel"})
BEGINS_ORDER = frozenset({"select", "on_select"})  # a transaction seen from its beginning
DEFAULT_TTL_S = wire_time.duration_seconds(envelope.DEFAULT_TTL)


@dataclass(frozen=True)
class AppRun:
    """A run that certified a BAP, as its report.json names it: the app's registered subscriber
    id and URI, and the BPPs the harness played (subscriber id -> URI)."""

    run: str  # which transcript: the requests of one run are judged together
    bap: tuple[str, str]
    bpps: tuple[tuple[str, str], ...] = ()


@dataclass
class Flow:
    """Every Beckn exchange of one capture, in arrival order, and what is known of each."""

    exchanges: list[Exchange]
    sent_by_audited: frozenset[str] = frozenset()  # ids: message and callbacks sent judged
    sent_to_audited: frozenset[str] = frozenset()  # ids: answer and callbacks owed judged
    timed: frozenset[str] = frozenset()  # ids whose arrival time (mono_time) is known
    horizon: Mapping[str, float] = field(default_factory=dict)  # id -> end of its recording
    broadcasts: frozenset[str] = frozenset()  # ids of requests any number may answer
    ttl_s: float | None = None  # None: each request's own context.ttl
    ack_bound_s: float = timing.DEFAULT_ACK_BOUND_S
    schemas: SchemaSet | None = None  # to judge the shape of synchronous answers
    # Requests owed to audited participants whose validity is known in full (signature
    # verified): id -> the error findings of the per-message pipeline on them.
    judged_requests: Mapping[str, list[Finding]] = field(default_factory=dict)
    # id -> the subscriber id and URI its sender registered, when known (a run's candidate)
    registered: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # id -> the BAP-role run that recorded it (harness/checks/app_flow.py judges those)
    apps: Mapping[str, AppRun] = field(default_factory=dict)
    # BPP id -> the item ids its catalog_publish messages listed, read from the whole capture
    # when the flow holds only part of it (an audit judged in partitions); None: from `exchanges`
    published: Mapping[Any, set[str]] | None = None

    @cached_property
    def position(self) -> dict[str, int]:
        return {e.id: i for i, e in enumerate(self.exchanges)}

    @cached_property
    def pairing(self) -> Pairing:
        return Pairing.of(self)

    @cached_property
    def begun(self) -> frozenset[str | None]:
        """The transactions whose select or on_select is in the capture."""
        return frozenset(e.transaction_id for e in self.delivered()
                         if e.action in BEGINS_ORDER)

    @cached_property
    def catalogs(self) -> dict[tuple[str | None, Any], set[str]]:
        """Item ids by (transaction, BPP) from on_discover answers, and by (None, BPP) from
        catalog_publish (a catalog names its BPP, or its message's bpp_id does)."""
        found: dict[tuple[str | None, Any], set[str]] = defaultdict(set)
        for exchange in self.delivered():
            if exchange.action == "on_discover" or (
                    exchange.action == "catalog_publish" and self.published is None):
                scope = exchange.transaction_id if exchange.action == "on_discover" else None
                for bpp_id, items in catalog_items(exchange):
                    found[(scope, bpp_id)].update(items)
        for bpp_id, items in (self.published or {}).items():
            found[(None, bpp_id)].update(items)
        return dict(found)

    def ttl_of(self, request: Exchange) -> float:
        if self.ttl_s is not None:
            return self.ttl_s
        return wire_time.duration_or(_context(request).get("ttl"), DEFAULT_TTL_S)

    def judged_callback(self, exchange: Exchange) -> bool:
        return exchange.id in self.sent_by_audited and _is_callback(exchange)

    def delivered(self) -> Iterator[Exchange]:
        """The exchanges that reached a Beckn endpoint (strays reached none)."""
        return (e for e in self.exchanges if e.note != STRAY)


@dataclass
class Pairing:
    """Which callback answers which request, computed once per flow."""

    groups: dict[tuple[Any, ...], list[Exchange]]  # (transaction, message, action) -> requests
    answers: dict[str, list[Exchange]]  # request id -> its callbacks, in arrival order
    unsolicited: list[Exchange]
    orphans: list[Exchange]  # callbacks of a solicited action that answer no request
    misaddressed: dict[str, Exchange]  # unanswered request id -> its callback with wrong ids
    home: dict[str, str | None] = field(default_factory=dict)  # misaddressed -> its transaction
    # callbacks addressed to another BAP than the one whose request they answer or, unsolicited,
    # than the one that placed the order (UBC-CTX-029): not answers, nor duplicates of them
    diverted: list[Exchange] = field(default_factory=list)

    @classmethod
    def of(cls, flow: Flow) -> Pairing:
        groups: dict[tuple[Any, ...], list[Exchange]] = defaultdict(list)
        for exchange in flow.delivered():
            if _is_request(exchange):
                groups[_key(exchange)].append(exchange)
        pairing = cls(dict(groups), defaultdict(list), [], [], {})
        owners = _owners(flow)
        for callback in flow.delivered():
            if not _is_callback(callback):
                continue
            requests = groups.get((callback.transaction_id, callback.message_id,
                                   envelope.REQUEST_OF[callback.action or ""]), [])
            if _diverted(callback, requests, owners):
                pairing.diverted.append(callback)
            elif requests:
                pairing.answers[_answered_request(flow, requests, callback).id].append(callback)
            elif callback.action in envelope.UNSOLICITED:
                pairing.unsolicited.append(callback)
            else:
                pairing.orphans.append(callback)
        pairing.misaddressed = _misaddressed(flow, pairing)
        by_id = {r.id: r for group in groups.values() for r in group}
        pairing.home = {c.id: by_id[r].transaction_id for r, c in pairing.misaddressed.items()}
        return pairing

    @property
    def claimed(self) -> set[str]:
        return {c.id for c in self.misaddressed.values()}

    def transaction_of(self, callback: Exchange) -> str | None:
        """A misaddressed callback belongs to the transaction of the request it answers."""
        return self.home.get(callback.id, callback.transaction_id)


def _owners(flow: Flow) -> dict[str | None, Any]:
    """Each transaction's BAP: the sender of its first select, init or confirm."""
    owners: dict[str | None, Any] = {}
    for exchange in flow.delivered():
        if exchange.action in ("select", "init", "confirm"):
            owners.setdefault(exchange.transaction_id, _context(exchange).get("bap_id"))
    return owners


def _diverted(callback: Exchange, requests: list[Exchange],
              owners: dict[str | None, Any]) -> bool:
    """The callback names another BAP than every sender of the requests with its ids, or,
    unsolicited, than the order's BAP (when each of them names one)."""
    to = _context(callback).get("bap_id")
    if not isinstance(to, str):
        return False
    if requests:
        senders = {_context(r).get("bap_id") for r in requests}
        return all(isinstance(s, str) for s in senders) and to not in senders
    owner = owners.get(callback.transaction_id)
    return callback.action in envelope.UNSOLICITED and isinstance(owner, str) and owner != to


def _answered_request(flow: Flow, requests: list[Exchange], callback: Exchange) -> Exchange:
    """Of the requests with the callback's ids, the one it answers: one that owed a callback
    (not refused), sent before it, to an audited recipient when the callback's sender is
    audited (the discover the CDS forwarded, not the BAP's to the CDS), the latest of them."""
    pool = [r for r in requests if not _refused(r)] or requests
    pool = [r for r in pool if flow.position[r.id] < flow.position[callback.id]] or pool
    audited = callback.id in flow.sent_by_audited
    pool = [r for r in pool if (r.id in flow.sent_to_audited) == audited] or pool
    return pool[-1]


def _misaddressed(flow: Flow, pairing: Pairing) -> dict[str, Exchange]:
    """Requests owed a callback that got none, each matched with the first later callback of
    the right action that carries its message_id in another transaction (UBC-CTX-012), or
    another message_id in its transaction (UBC-CTX-013; unsolicited actions excepted)."""
    found: dict[str, Exchange] = {}
    taken: set[str] = set()
    near: dict[tuple[Any, ...], list[Exchange]] = defaultdict(list)
    for callback in (*pairing.orphans, *pairing.unsolicited):
        if flow.judged_callback(callback):
            near[("message", callback.message_id, callback.action)].append(callback)
            near[("transaction", callback.transaction_id, callback.action)].append(callback)
    for requests in pairing.groups.values():
        for request in requests:
            if request.id not in flow.sent_to_audited or request.id in flow.broadcasts or \
                    not _owes_callback(request) or _answers_of(flow, pairing, [request]):
                continue
            expected = envelope.CALLBACK_OF[request.action or ""]
            wrong_transaction = [c for c in near[("message", request.message_id, expected)]
                                 if c.transaction_id != request.transaction_id]
            wrong_message = [] if expected in envelope.UNSOLICITED else [
                c for c in near[("transaction", request.transaction_id, expected)]
                if c.message_id != request.message_id]
            later = sorted((c for c in (*wrong_transaction, *wrong_message)
                            if c.id not in taken
                            and flow.position[c.id] > flow.position[request.id]),
                           key=lambda c: flow.position[c.id])
            if later:
                found[request.id] = later[0]
                taken.add(later[0].id)
    return found


# -- the checks -----------------------------------------------------------------------------------


def answers_acknowledge(flow: Flow) -> list[Finding]:
    """UBC-TIME-001/006/007, UBC-SCH-009/010/012: every request or callback sent to an audited
    participant whose synchronous answer was recorded got one: JSON, in time, an ACK or NACK."""
    findings: list[Finding] = []
    for exchange in flow.delivered():
        if exchange.id not in flow.sent_to_audited or \
                (exchange.status is None and exchange.error is None):
            continue
        problems = timing.answered(exchange)
        if not problems:
            if exchange.id in flow.timed:
                problems += timing.ack_within(exchange, flow.ack_bound_s)
            if flow.schemas is not None:
                problems += flow.schemas.validate_ack(exchange.response_json())
        for problem in problems:
            if exchange.id not in problem.evidence:
                problem.evidence.append(exchange.id)
        findings += problems
    return findings


def refused_as_deserved(flow: Flow) -> list[Finding]:
    """UBC-SCH-013, UBC-SIG-013/014/016, UBC-SCH-009/011: a valid request was acknowledged; one
    with a bad signature refused with 401 and WWW-Authenticate, a replay with 401, a
    schema-invalid one with 400 and an error code."""
    findings: list[Finding] = []
    seen: set[tuple[str, bytes, str]] = set()
    for exchange in flow.delivered():
        authorization = exchange.header("authorization")
        signed = (exchange.url, exchange.request_body, authorization or "")
        replay = authorization is not None and signed in seen
        seen.add(signed)
        problems = flow.judged_requests.get(exchange.id)
        if problems is None or exchange.status is None or timing.answered(exchange) or \
                exchange.id in flow.apps:
            continue  # not judged in full, its answer a finding of its own, or an app's
        signature = [f for f in problems if f.rule.startswith("UBC-SIG-")]
        cause = next(iter(signature or problems), None)
        what = f"{exchange.action} ({cause.rule}: {cause.message})" if cause is not None \
            else f"a replay of {exchange.action}"
        if signature:
            findings += refusal.refused_properly(exchange, 401, "UBC-SIG-013", what)
        elif replay:
            findings += refusal.refused_properly(exchange, 401, "UBC-SIG-016", what)
        elif problems:
            findings += refusal.refused_properly(exchange, 400, "UBC-SCH-011", what)
        else:
            findings += refusal.valid_request_acknowledged(exchange)
    return findings


def callbacks_answer_requests(flow: Flow) -> list[Finding]:
    """UBC-TIME-002/003/004, UBC-CTX-012/013/015/017, and UBC-SIG-013/016 or UBC-SCH-011 for a
    refused request that was answered all the same: each request an audited participant
    accepted got exactly one callback, in time, echoing its ids."""
    pairing = flow.pairing
    findings: list[Finding] = []
    untimed: dict[str | None, list[str]] = defaultdict(list)
    for requests in pairing.groups.values():
        owed = [r for r in requests if r.id in flow.sent_to_audited]
        if not owed:
            continue
        taken = [r for r in owed if not _refused(r)]
        refused = [r for r in owed if _refused(r)]
        answers = _answers_of(flow, pairing, requests)
        if refused and len(answers) > len(taken):
            findings += refusal.refused_request_unanswered(refused[0], answers, len(taken))
            continue
        for request in taken:
            mine = _answers_of(flow, pairing, [request])
            if request.id in pairing.misaddressed:
                findings += context.callback_echoes_request(
                    request, pairing.misaddressed[request.id])
            elif mine:
                findings += _answer_findings(flow, request, mine, untimed)
            elif _owes_callback(request) and request.id not in flow.broadcasts:
                findings += _missing(flow, request)
    for transaction_id, ids in untimed.items():
        findings.append(timing.not_evaluated(
            "UBC-TIME-002", f"{len(ids)} callback(s) of transaction {transaction_id} not timed: "
            "the capture holds no arrival times", ids))
    return findings


def _answer_findings(flow: Flow, request: Exchange, answers: list[Exchange],
                     untimed: dict[str | None, list[str]]) -> list[Finding]:
    """A broadcast (a discover through the CDS) is answered once by each sender, the others
    once in all."""
    ttl = flow.ttl_of(request)
    timed = request.id in flow.timed and all(c.id in flow.timed for c in answers)
    if not timed:
        untimed[request.transaction_id].append(request.id)
    by_sender: dict[str | None, list[Exchange]] = defaultdict(list)
    for answer in answers:
        sender = envelope.sender_of(_context(answer)) if request.id in flow.broadcasts else None
        by_sender[sender].append(answer)
    findings: list[Finding] = []
    for mine in by_sender.values():
        findings += timing.callback_within_ttl(request, mine, ttl) if timed else \
            timing.one_callback(request, mine)
        findings += context.callback_echoes_request(request, mine[0])
        findings += context.callback_not_before_request(request, mine[0])
    return findings


def _missing(flow: Flow, request: Exchange) -> list[Finding]:
    """UBC-TIME-003 once the capture shows the ttl ran out; not evaluated before that."""
    ttl = flow.ttl_of(request)
    expected = envelope.CALLBACK_OF[request.action or ""]
    if request.id not in flow.timed:
        return [timing.not_evaluated(
            "UBC-TIME-003", f"no {expected} answers {request.action} in the capture; without "
            "arrival times a missing callback cannot be told from one outside it", [request.id])]
    waited = flow.horizon.get(request.id, request.mono_time) - request.mono_time
    if waited < ttl:
        return [timing.not_evaluated(
            "UBC-TIME-003", f"no {expected} answers {request.action} in the capture, which ends "
            f"{waited:.3f} s after it, before its ttl of {ttl:g} s ran out", [request.id])]
    return timing.callback_within_ttl(request, [], ttl)


def callbacks_without_request(flow: Flow) -> list[Finding]:
    """UBC-CTX-014, UBC-TIME-004/005: an unsolicited callback carries a message_id no request
    used; a callback of a solicited action answers some request; none is sent twice."""
    pairing = flow.pairing
    claimed = pairing.claimed
    sent = {e.message_id for e in flow.delivered() if _is_request(e) and e.message_id}
    findings: list[Finding] = []
    loose: dict[tuple[Any, ...], list[Exchange]] = defaultdict(list)
    for callback in pairing.unsolicited:
        if flow.judged_callback(callback) and callback.id not in claimed:
            findings += context.unsolicited_has_new_message_id(callback, sent)
            loose[_key(callback)].append(callback)
    for callback in pairing.orphans:
        if flow.judged_callback(callback) and callback.id not in claimed:
            findings += timing.unexpected_callback(
                callback, f"answers no {envelope.REQUEST_OF[callback.action or '']} in the "
                f"capture (transaction_id {callback.transaction_id!r}, message_id "
                f"{callback.message_id!r})")
            loose[_key(callback)].append(callback)
    for (_, message_id, action), copies in loose.items():
        if len(copies) > 1:
            same = len({c.request_body for c in copies}) == 1
            findings.append(Finding(
                "UBC-TIME-004", f"{len(copies)} {action} callbacks with message_id "
                f"{message_id!r}" + (", byte for byte the same" if same else ""),
                path="/context/message_id", expected=1, actual=len(copies),
                evidence=[c.id for c in copies]))
    return findings


def callbacks_reach_their_bap(flow: Flow) -> list[Finding]:
    """UBC-CTX-029: a callback goes to the BAP that sent the request it answers, or,
    unsolicited, to the BAP that placed the order (the sender of the transaction's first
    select, init or confirm), not to another BAP."""
    return [Finding(
        "UBC-CTX-029", f"{callback.action} of transaction {callback.transaction_id!r} went to "
        f"{_context(callback).get('bap_id')!r}, not the BAP whose order it is about",
        path="/context/bap_id", expected="the bap_id of the request it answers, or of the "
        "order's BAP", actual=_context(callback).get("bap_id"), evidence=[callback.id])
        for callback in flow.pairing.diverted if flow.judged_callback(callback)]


def states_move_legally(flow: Flow) -> list[Finding]:
    """UBC-STATE-001/002/003 and UBC-CONS-002 over each transaction's delivered callbacks from
    audited participants, in arrival order. A transaction whose select and on_select are not
    in the capture is judged from the first state it reports."""
    findings: list[Finding] = []
    for transaction_id, callbacks in _reports(flow).items():
        findings += state.transitions(callbacks, from_start=transaction_id in flow.begun)
        findings += consistency.order_id_stable(callbacks)
    return findings


def terms_kept(flow: Flow) -> list[Finding]:
    """UBC-CONS-003/004: item, offer and unit price of the last on_select hold in every later
    callback reporting the order; UBC-CONS-005: the item quoted is in the BPP's catalog when
    the transaction's discovery or the BPP's catalog_publish is in the capture."""
    findings: list[Finding] = []
    for transaction_id, callbacks in _reports(flow).items():
        quoted: Exchange | None = None
        for callback in callbacks:
            if _refuses(callback):
                continue
            if callback.action == "on_select" and _order_item(callback):
                quoted = callback
                bpp_id = _context(callback).get("bpp_id")
                catalog = flow.catalogs.get((transaction_id, bpp_id), set()) | \
                    flow.catalogs.get((None, bpp_id), set())
                if catalog:
                    findings += consistency.items_in_catalog(callback, catalog)
            elif quoted is not None and callback.action in REPORTS_ORDER:
                findings += consistency.terms_unchanged(quoted, callback)
    return findings


def senders_registered(flow: Flow) -> list[Finding]:
    """UBC-CTX-016: a callback names its sender's registered bpp_id and bpp_uri."""
    findings: list[Finding] = []
    for callback in flow.delivered():
        if flow.judged_callback(callback) and callback.id in flow.registered:
            findings += context.sender_is_candidate(callback, *flow.registered[callback.id])
    return findings


def delivered_to_endpoints(flow: Flow) -> list[Finding]:
    """UBC-CTX-018: a message from an audited participant reached no Beckn endpoint."""
    findings: list[Finding] = []
    for exchange in flow.exchanges:
        if exchange.note == STRAY and exchange.id in flow.sent_by_audited:
            uri = envelope.recipient_uri_of(_context(exchange)) or \
                exchange.url.rsplit("/", 1)[0]
            findings += context.sent_to_wrong_address(exchange, uri.rstrip("/"))
    return findings


# -- reading exchanges ----------------------------------------------------------------------------


def catalog_items(exchange: Exchange) -> list[tuple[Any, set[str]]]:
    """(BPP id, item ids) of each catalog an on_discover or catalog_publish lists; a catalog
    names its BPP, or its message's bpp_id does."""
    doc = exchange.json()
    message = doc.get("message") if isinstance(doc, dict) else None
    listed = message.get("catalogs") if isinstance(message, dict) else None
    found: list[tuple[Any, set[str]]] = []
    for catalog in listed if isinstance(listed, list) else ():
        if not isinstance(catalog, dict):
            continue
        items = catalog.get("beckn:items")
        found.append((catalog.get("beckn:bppId", _context(exchange).get("bpp_id")), {
            item["beckn:id"] for item in (items if isinstance(items, list) else ())
            if isinstance(item, dict) and isinstance(item.get("beckn:id"), str)}))
    return found


def _context(exchange: Exchange) -> dict[str, Any]:
    doc = exchange.json()
    ctx = doc.get("context") if isinstance(doc, dict) else None
    return ctx if isinstance(ctx, dict) else {}


def _key(exchange: Exchange) -> tuple[Any, ...]:
    return (exchange.transaction_id, exchange.message_id, exchange.action)


def _is_request(exchange: Exchange) -> bool:
    return exchange.action in envelope.CALLBACK_OF


def _is_callback(exchange: Exchange) -> bool:
    return exchange.action in envelope.REQUEST_OF


def _owes_callback(request: Exchange) -> bool:
    """Acknowledged, or sent with no answer recorded (a capture of messages only). A request
    that got no answer or garbage may be answered or not: only what comes is judged."""
    if request.status is None:
        return request.error is None
    return request.status < 300 and envelope.ack_status(request.response_json()) == "ACK"


def _refused(request: Exchange) -> bool:
    """Answered in JSON, and not with an ACK: no callback may follow."""
    return request.status is not None and not timing.answered(request) and \
        not _owes_callback(request)


def _answers_of(flow: Flow, pairing: Pairing, requests: list[Exchange]) -> list[Exchange]:
    answers = [c for r in requests for c in pairing.answers.get(r.id, ())
               if c.id in flow.sent_by_audited]
    return sorted(answers, key=lambda c: flow.position[c.id])


def _refuses(exchange: Exchange) -> bool:
    doc = exchange.json()
    error = doc.get("error") if isinstance(doc, dict) else None
    return isinstance(error, dict) and bool(error.get("code"))


def _reports(flow: Flow) -> dict[str | None, list[Exchange]]:
    """Per transaction, the callbacks audited participants sent that the recipient took in
    (any 2xx, or unknown in a capture), discovery aside, in arrival order."""
    pairing = flow.pairing
    found: dict[str | None, list[Exchange]] = defaultdict(list)
    for callback in flow.delivered():
        if flow.judged_callback(callback) and callback.action != "on_discover" and \
                (callback.status is None or 200 <= callback.status < 300):
            found[pairing.transaction_of(callback)].append(callback)
    return found


def _order_item(exchange: Exchange) -> str:
    doc = exchange.json()
    message = doc.get("message") if isinstance(doc, dict) else None
    return Order.from_beckn(message.get("order") if isinstance(message, dict) else None).item_id
