"""Judging the messages of one partition: each message of the audited participants with the
per-message pipeline `validate` uses, then the whole with the registry's "flow" checks
(harness/checks/flow.py, app_flow.py), the findings grouped by transaction.

A partition holds whole transactions, and whole groups of tied ones (harness/audit/plan.py), so
what the flow checks find in it is what they find in the whole input. Each transaction comes out
with the place of its first message in the report's order (`Placed`), for the merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.audit.capture import Capture
from harness.audit.model import Entry, Transaction
from harness.audit.plan import Plan
from harness.audit.reading import Read
from harness.beckn import envelope
from harness.checks import registry
from harness.checks.flow import Flow
from harness.checks.message import Message, Pipeline
from harness.findings import Finding
from harness.schemas import SchemaSet
from harness.transcript import OUTBOUND

# Where a transaction stands in the report: the place of its first message. Messages arrive in
# time when every arrival is known, else in input order; messages that are no message at all
# (a line that is not JSON) come last; a transaction with findings and no message, never.
Place = tuple[int, float, int, int, int]


@dataclass
class Placed:
    place: Place
    transaction: Transaction


def judge(reads: Iterable[tuple[int, Read]], plan: Plan, schemas: SchemaSet) -> list[Placed]:
    """The transactions of these (file, read) pairs, in the report's order."""
    capture = Capture.of(reads, plan)
    options = plan.options
    if options.participants:
        capture.narrow(options.participants)
    _judge_messages(capture, schemas, plan)
    flow = _flow(capture, schemas, plan)
    flow.judged_requests = _judge_requests(capture, schemas, plan)
    findings = [f for check in registry.for_scope("flow") for f in check.run(flow)]
    return _by_transaction(capture, flow, findings, plan.all_timed)


def _judge_messages(capture: Capture, schemas: SchemaSet, plan: Plan) -> None:
    keys = plan.keys
    lookup = (lambda subscriber, key_id: keys.get(f"{subscriber}|{key_id}")) \
        if keys is not None else None
    options = plan.options
    for entry in capture.entries:
        exchange = entry.exchange
        if exchange is None or not entry.judged:
            continue
        # Signatures are judged when the message arrived, not when the audit runs.
        now = options.now if options.now is not None else (
            exchange.wall_time if exchange.id in capture.timed else None)
        pipeline = Pipeline(schemas, lookup, now=now, skew=options.skew)
        entry.findings = registry.judge_message(pipeline, Message(
            exchange.request_body, entry.headers, entry.expected_action,
            evidence=[exchange.id]))


def _judge_requests(capture: Capture, schemas: SchemaSet, plan: Plan
                    ) -> dict[str, list[Finding]]:
    """The harness's own messages to the audited participant, judged alone when their sender's
    key is known (from the run's report.json), to tell what it had to accept from what it had
    to refuse. The report names each party's key, not its key id: any key id of the party
    maps to its one registered key, so a probe signed with an unregistered key id fails."""
    keys: Mapping[str, str] = plan.network_keys

    def lookup(subscriber: str, key_id: str) -> str | None:
        return keys.get(subscriber)
    options = plan.options
    judged: dict[str, list[Finding]] = {}
    for entry in capture.entries:
        exchange = entry.exchange
        if exchange is None or exchange.direction != OUTBOUND or \
                exchange.id not in capture.sent_to or exchange.status is None:
            continue
        doc = exchange.json()
        ctx = doc.get("context") if isinstance(doc, dict) else None
        if not isinstance(ctx, dict) or envelope.sender_of(ctx) not in keys:
            continue
        at = options.now if options.now is not None else exchange.wall_time
        findings = registry.judge_message(
            Pipeline(schemas, lookup, now=at, skew=options.skew),
            Message(exchange.request_body, exchange.request_headers, entry.expected_action,
                    evidence=[exchange.id]))
        judged[exchange.id] = [f for f in findings if f.is_error]
    return judged


def _flow(capture: Capture, schemas: SchemaSet, plan: Plan) -> Flow:
    exchanges = [e.exchange for e in capture.entries if e.exchange is not None]
    if plan.all_timed:
        exchanges.sort(key=lambda e: e.mono_time)  # stable: recording order breaks ties
    options = plan.options
    return Flow(exchanges, frozenset(capture.sent_by), frozenset(capture.sent_to),
                frozenset(capture.timed), capture.horizon, frozenset(capture.broadcasts),
                options.ttl_s, plan.ack_bound_s, schemas, registered=capture.registered,
                apps=capture.apps, published=plan.published)


def place_of(entry: Entry, all_timed: bool) -> Place:
    if entry.exchange is None:
        return (1, 0.0, *entry.seq)
    return (0, entry.exchange.mono_time if all_timed else 0.0, *entry.seq)


def _by_transaction(capture: Capture, flow: Flow, findings: list[Finding], all_timed: bool
                    ) -> list[Placed]:
    groups: dict[str | None, Placed] = {}
    order = {e.id: i for i, e in enumerate(flow.exchanges)}
    entries = sorted(capture.entries, key=lambda e: order.get(
        e.exchange.id if e.exchange else "", len(order)))
    for entry in entries:
        key = entry.transaction_id
        if key not in groups:
            groups[key] = Placed(place_of(entry, all_timed), Transaction(key))
        groups[key].transaction.entries.append(entry)
    home = {e.id: flow.pairing.transaction_of(e) for e in flow.exchanges}
    for finding in findings:
        key = next((home[i] for i in finding.evidence if i in home), None)
        if key not in groups:  # no check cites no message; kept last if one ever does
            groups[key] = Placed((2, 0.0, 0, 0, len(groups)), Transaction(key))
        groups[key].transaction.findings.append(finding)
    return list(groups.values())
