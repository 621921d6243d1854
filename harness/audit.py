"""Offline audit of whole transactions (`ubc-cert audit`): read a run's transcript or a capture
of production traffic, judge each message of the audited participants with the per-message
pipeline `validate` uses, then each transaction with the registry's "flow" checks
(harness/checks/flow.py), and report the findings grouped by transaction.

An NDJSON line is either a record of a run's transcript.ndjson (`Exchange.as_record`) or a
capture line as `validate` reads it: a bare message, or {"headers": {...}, "body": "<raw JSON>"}
with an optional "received_at" (unix seconds or RFC 3339: when the message arrived). A .json
file holds one message. Arrival times come from transcript records, and from captures whose
every record carries "received_at"; without them timing is reported not evaluated.

What is judged. In a transcript the recording network is the harness's own: a message recorded
both as sent by one of its parties and as received by another (same URL, same bytes) is internal
traffic, context only; a message recorded only as received came from outside (the candidate)
and is judged; a message recorded only as sent went outside, and the answer and callbacks it
was owed are judged. The harness's deliberately broken probes are thus never judged as
messages, only what the candidate did with them; registry and hook traffic is left out. In a
capture every message is judged. `participants` narrows either to the messages those
subscribers sent and the answers and callbacks owed to them.

Who the candidate is follows the run's role (report.json beside the transcript). A BPP sends
callbacks, which must name its registered id and URI. A BAP (a driver's app) sends requests and
answers the harness's callbacks, the hostile BPP's probes among them: its requests are judged
across each order, and its answers against what each callback deserved
(harness/checks/app_flow.py). The harness's calls to the app's /v1 client API, or the prompts to
the operator who drives it, are not Beckn messages: they are counted, never judged.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.checks import registry
from harness.checks.client_api import CLIENT_API, OPERATOR
from harness.checks.flow import AppRun, Flow
from harness.checks.message import Message, Pipeline, parse_body
from harness.checks.timing import DEFAULT_ACK_BOUND_S
from harness.findings import NOT_EVALUATED, Finding
from harness.schemas import SchemaSet
from harness.transcript import INBOUND, OUTBOUND, STRAY, Exchange, is_end
from harness.validation import NDJSON_SUFFIXES, InputError, Item, capture_item, iter_items

CAPTURED = "captured"  # the direction of a captured message: who recorded it is unknown
TIME_FIELD = "received_at"
ACTIONS = frozenset(envelope.CALLBACK_OF) | frozenset(envelope.REQUEST_OF)
RUN_TRANSCRIPT = "transcript.ndjson"
RUN_REPORT = "report.json"
# Transcript parties of a BAP-role run that record the driver's side of the app, not Beckn.
CLIENT_PARTIES = frozenset({CLIENT_API, OPERATOR})


@dataclass
class Entry:
    """One message of the input: where it came from and what was found about it alone."""

    source: str  # file:line
    exchange: Exchange | None = None  # None: the line yielded no message at all
    headers: Mapping[str, str] | None = None  # None: captured without headers, not signed
    expected_action: str | None = None  # the endpoint it reached, when recorded
    judged: bool = False  # its sender is audited: the message is judged
    owed: bool = False  # its recipient is audited: the answer and callbacks owed are judged
    findings: list[Finding] = field(default_factory=list)

    @property
    def transaction_id(self) -> str | None:
        return self.exchange.transaction_id if self.exchange is not None else None

    def as_dict(self) -> dict[str, Any]:
        exchange = self.exchange
        return {"id": exchange.id if exchange else self.source, "source": self.source,
                "direction": exchange.direction if exchange else None,
                "action": exchange.action if exchange else None,
                "message_id": exchange.message_id if exchange else None,
                "judged": self.judged, "owed": self.owed,
                "findings": [f.as_dict() for f in self.findings]}


def _counts(findings: list[Finding]) -> dict[str, int]:
    open_ = sum(1 for f in findings if f.status == NOT_EVALUATED)
    errors = sum(1 for f in findings if f.is_error and f.status != NOT_EVALUATED)
    return {"errors": errors, "warnings": len(findings) - errors - open_,
            "not_evaluated": open_}


@dataclass
class Transaction:
    """The messages of one transaction_id and the findings across them."""

    transaction_id: str | None
    entries: list[Entry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # across messages

    @property
    def counts(self) -> dict[str, int]:
        return _counts([f for e in self.entries for f in e.findings] + self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"transaction_id": self.transaction_id, "messages": len(self.entries),
                "judged": sum(e.judged for e in self.entries), **self.counts,
                "results": [e.as_dict() for e in self.entries],
                "findings": [f.as_dict() for f in self.findings]}


@dataclass
class Report:
    transactions: list[Transaction]
    keys: str  # how signatures were verified, in words
    client_calls: int = 0  # /v1 client-API calls and operator prompts: not Beckn, not judged

    @property
    def counts(self) -> dict[str, int]:
        totals = {"errors": 0, "warnings": 0, "not_evaluated": 0}
        for transaction in self.transactions:
            for name, value in transaction.counts.items():
                totals[name] += value
        return totals

    def as_dict(self) -> dict[str, Any]:
        entries = [e for t in self.transactions for e in t.entries]
        return {"transactions": len(self.transactions), "messages": len(entries),
                "judged": sum(e.judged for e in entries), **self.counts,
                "signatures": self.keys, "client_api_calls": self.client_calls,
                "results": [t.as_dict() for t in self.transactions]}


@dataclass
class Options:
    participants: frozenset[str] = frozenset()  # empty: as described in the module docstring
    keys: Mapping[str, str] | None = None  # "subscriber|key_id" -> public key; None: look beside
    now: float | None = None  # None: each message's arrival time, else the present
    skew: float = signing.DEFAULT_SKEW_S
    ttl_s: float | None = None  # None: each request's own ttl
    ack_bound_s: float | None = None  # None: the run's (report.json), else 5 s


# -- reading ----------------------------------------------------------------------------------


@dataclass
class Capture:
    """Everything read from the inputs, with what the audit knows of each exchange."""

    entries: list[Entry] = field(default_factory=list)
    sent_by: set[str] = field(default_factory=set)
    sent_to: set[str] = field(default_factory=set)
    timed: set[str] = field(default_factory=set)
    horizon: dict[str, float] = field(default_factory=dict)
    broadcasts: set[str] = field(default_factory=set)
    keys: dict[str, str] = field(default_factory=dict)  # the candidates' of report.json files
    network_keys: dict[str, str] = field(default_factory=dict)  # subscriber -> the harness's
    key_sources: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    files: set[Path] = field(default_factory=set)
    registered: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> sender's
    ack_bound_s: float | None = None  # the bound the run that wrote a transcript held to
    apps: dict[str, AppRun] = field(default_factory=dict)  # id -> its BAP-role run
    client_calls: int = 0  # records of the harness driving an app: not Beckn, not judged

    def read(self, name: str) -> None:
        """A file, or a folder: of a run folder (one holding transcript.ndjson) only the
        transcript is read, never its report.json or Allure files."""
        path = Path(name)
        if path.is_dir():
            runs = {t.parent for t in path.rglob(RUN_TRANSCRIPT) if t.is_file()}
            files = sorted(p for p in path.rglob("*") if p.is_file() and (
                p.suffix == ".json" or p.suffix in NDJSON_SUFFIXES) and (
                p.name == RUN_TRANSCRIPT or not any(d in runs for d in p.parents)))
            if not files:
                raise InputError(f"{name}: folder holds no *.json or *.ndjson files")
            for file in files:
                self._file(file, str(file))
        elif path.is_file():
            self._file(path, name)
        else:
            raise InputError(f"{name}: no such file or folder")

    def _file(self, path: Path, display: str) -> None:
        if path.resolve() in self.files:
            return  # named twice (a run folder and its transcript): read once
        self.files.add(path.resolve())
        if path.suffix not in NDJSON_SUFFIXES:
            for item in iter_items([display]):
                self._captured([(item, None)], timed=False)
            return
        try:
            lines = path.read_bytes().splitlines()
        except OSError as exc:
            raise InputError(f"{display}: cannot read: {exc.strerror or exc}") from None
        records: list[tuple[str, Exchange]] = []
        captured: list[tuple[Item, float | None]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            source = f"{display}:{number}"
            doc, _ = parse_body(line)
            if is_end(doc):  # a run cut short says so last: not a message
                continue
            if _is_record(doc):
                try:
                    records.append((source, Exchange.from_record(doc)))
                except (KeyError, TypeError, ValueError) as exc:
                    raise InputError(f"{source}: not a transcript record: {exc}") from None
            else:
                captured.append((capture_item(source, line), _received_at(source, doc)))
        if records:
            self._transcript(records, self._run_beside(path))
        if captured:
            self._captured(captured, timed=all(t is not None for _, t in captured))

    def _unique(self, wanted: str, display: str) -> str:
        """An exchange id no other input used (two transcripts both start at x000001)."""
        candidate, n = wanted, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{wanted}@{display}" if n == 2 else f"{wanted}@{display}#{n}"
        self.ids.add(candidate)
        return candidate

    def _transcript(self, records: list[tuple[str, Exchange]], run: RunFacts) -> None:
        """Internal traffic is context; what came in from outside is judged, and what went
        out is owed answers. Monotonic times are kept, anchored to the first wall time; the
        recording lasted until the run `ended` (wall clock), or at least to its last record."""
        first = records[0][1]
        offset = first.wall_time - first.mono_time
        horizon = max(max(e.mono_time, e.response_mono_time or e.mono_time)
                      for _, e in records) + offset
        horizon = max(horizon, run.ended or horizon)
        sent: dict[tuple[str, bytes], list[int]] = defaultdict(list)
        for index, (_, exchange) in enumerate(records):
            if exchange.direction == OUTBOUND:
                sent[(exchange.url, exchange.request_body)].append(index)
        internal: set[int] = set()
        twins: set[int] = set()
        for index, (_, exchange) in enumerate(records):
            pending = sent.get((exchange.url, exchange.request_body))
            if exchange.direction == INBOUND and pending:
                twins.add(pending.pop(0))
                internal.add(index)
        display = records[0][0].rsplit(":", 1)[0]
        for index, (source, exchange) in enumerate(records):
            if exchange.party in CLIENT_PARTIES:  # /v1/orders/{id}/rating is no Beckn rating
                self.client_calls += 1
                continue
            endpoint = exchange.url.rstrip("/").rsplit("/", 1)[-1]
            beckn = exchange.action in ACTIONS or endpoint in ACTIONS
            if index in twins or not (beckn or exchange.note == STRAY):
                continue
            moved = replace(exchange, id=self._unique(exchange.id, display),
                            mono_time=exchange.mono_time + offset,
                            response_mono_time=None if exchange.response_mono_time is None
                            else exchange.response_mono_time + offset)
            entry = Entry(source, moved, moved.request_headers,
                          endpoint if endpoint in ACTIONS else None)
            if exchange.direction == INBOUND and index not in internal:
                self.sent_by.add(moved.id)
                entry.judged = exchange.note != STRAY
                if run.candidate is not None:
                    self.registered[moved.id] = run.candidate
            elif exchange.direction == OUTBOUND:
                self.sent_to.add(moved.id)  # to one participant outside: not a broadcast
                entry.owed = True
            if exchange.direction == INBOUND and _broadcast(moved):
                self.broadcasts.add(moved.id)
            if run.app is not None:
                self.apps[moved.id] = run.app
            self.timed.add(moved.id)
            self.horizon[moved.id] = horizon
            self.entries.append(entry)

    def _captured(self, items: list[tuple[Item, float | None]], *, timed: bool) -> None:
        horizon = max((t for _, t in items if t is not None), default=0.0)
        for item, received in items:
            if item.body is None:
                problems = [item.problem] if item.problem is not None else []
                self.entries.append(Entry(item.source, judged=True, findings=problems))
                continue
            arrival = received if timed and received is not None else float(len(self.entries))
            exchange = Exchange(
                id=self._unique(item.source, item.source), direction=CAPTURED, party="",
                method="POST", url="", request_headers=dict(item.headers or {}),
                request_body=item.body, wall_time=arrival if timed else 0.0,
                mono_time=arrival)
            self.entries.append(Entry(item.source, exchange, item.headers, judged=True,
                                      owed=True))
            self.sent_by.add(exchange.id)
            self.sent_to.add(exchange.id)
            if _broadcast(exchange):
                self.broadcasts.add(exchange.id)
            if timed:
                self.timed.add(exchange.id)
                self.horizon[exchange.id] = horizon

    def _run_beside(self, transcript: Path) -> RunFacts:
        """From the report.json of the run that wrote the transcript, what it says: the
        candidate's role, registered id, URI and key, every party's key, the ACK bound, and
        when the run ended (wall clock)."""
        try:
            report = json.loads((transcript.parent / RUN_REPORT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return RunFacts()
        if not isinstance(report, dict):
            return RunFacts()
        facts = RunFacts()
        candidate = report.get("candidate")
        candidate = candidate if isinstance(candidate, dict) else {}
        names = [candidate.get(n) for n in ("subscriber_id", "key_id", "signing_public_key",
                                            "uri")]
        if all(isinstance(n, str) and n for n in names):
            self.keys[f"{names[0]}|{names[1]}"] = str(names[2])
            self.key_sources.append(str(transcript.parent / RUN_REPORT))
            role = report.get("role", candidate.get("role"))
            if role == "bpp":  # callbacks name the BPP's id and URI
                facts.candidate = (str(names[0]), str(names[3]))
            elif role == "bap":  # the app: requests name its id and URI, and the BPP's
                bpps = tuple((str(p["subscriber_id"]), str(p["uri"]))
                             for p in report.get("network") or ()
                             if isinstance(p, dict) and p.get("role") == "bpp"
                             and isinstance(p.get("subscriber_id"), str)
                             and isinstance(p.get("uri"), str))
                facts.app = AppRun(str(transcript), (str(names[0]), str(names[3])), bpps)
        for party in report.get("network") or ():
            if isinstance(party, dict) and isinstance(party.get("subscriber_id"), str) and \
                    isinstance(party.get("public_key"), str) and party["public_key"]:
                self.network_keys[party["subscriber_id"]] = party["public_key"]
        options = report.get("options")
        bound = options.get("ack_bound_s") if isinstance(options, dict) else None
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            self.ack_bound_s = float(bound)
        started, duration = wire_time.epoch(report.get("started")), report.get("duration_s")
        if started is not None and isinstance(duration, int | float) and \
                not isinstance(duration, bool):
            facts.ended = started + duration
        return facts

    def narrow(self, participants: frozenset[str]) -> None:
        """Judge only what these subscribers sent, and what was owed to them."""
        for entry in self.entries:
            if entry.exchange is None:
                continue
            doc = entry.exchange.json()
            ctx = doc.get("context") if isinstance(doc, dict) else None
            ctx = ctx if isinstance(ctx, dict) else {}
            if envelope.sender_of(ctx) not in participants:
                self.sent_by.discard(entry.exchange.id)
                entry.judged = False
            if envelope.recipient_of(ctx) not in participants:
                self.sent_to.discard(entry.exchange.id)
                entry.owed = False


@dataclass
class RunFacts:
    """What the report.json beside a transcript says about the run that wrote it."""

    ended: float | None = None  # wall clock: the transcript recorded until then
    candidate: tuple[str, str] | None = None  # a BPP's registered subscriber id and URI
    app: AppRun | None = None  # the run certified a BAP


def _broadcast(exchange: Exchange) -> bool:
    """A discover addressed to no BPP: the CDS answers it, and so may every BPP."""
    if exchange.action != "discover":
        return False
    doc = exchange.json()
    ctx = doc.get("context") if isinstance(doc, dict) else None
    return not (isinstance(ctx, dict) and ctx.get("bpp_id"))


def _is_record(doc: Any) -> bool:
    return isinstance(doc, dict) and "direction" in doc and "url" in doc and (
        "request_body" in doc or "request_body_base64" in doc)


def _received_at(source: str, doc: Any) -> float | None:
    if not isinstance(doc, dict) or "context" in doc or TIME_FIELD not in doc:
        return None
    value = doc[TIME_FIELD]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    moment = wire_time.epoch(value)
    if moment is None:
        raise InputError(f"{source}: {TIME_FIELD} must be unix seconds or an RFC 3339 "
                         f"date-time, not {value!r}")
    return moment


# -- judging ----------------------------------------------------------------------------------


def audit(paths: list[str], schemas: SchemaSet, options: Options | None = None) -> Report:
    """Read `paths`, judge every message and transaction; InputError for unusable input."""
    options = options or Options()
    capture = Capture()
    for name in paths:
        capture.read(name)
    if options.participants:
        capture.narrow(options.participants)
    keys: Mapping[str, str] | None = options.keys
    if keys is not None:
        described = "verified with the keys given"
    elif capture.keys:
        keys = capture.keys
        described = "verified with the candidate's key in " + (
            capture.key_sources[0] if len(capture.key_sources) == 1
            else f"{len(capture.key_sources)} report.json files")
    else:
        described = "not verified (no keys: give --keys FILE)"
    _judge_messages(capture, schemas, options, keys)
    flow = _flow(capture, schemas, options)
    flow.judged_requests = _judge_requests(capture, schemas, options)
    findings = [f for check in registry.for_scope("flow") for f in check.run(flow)]
    return Report(_by_transaction(capture, flow, findings), described, capture.client_calls)


def _judge_messages(capture: Capture, schemas: SchemaSet, options: Options,
                    keys: Mapping[str, str] | None) -> None:
    lookup = (lambda subscriber, key_id: keys.get(f"{subscriber}|{key_id}")) \
        if keys is not None else None
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


def _judge_requests(capture: Capture, schemas: SchemaSet, options: Options
                    ) -> dict[str, list[Finding]]:
    """The harness's own messages to the audited participant, judged alone when their sender's
    key is known (from the run's report.json), to tell what it had to accept from what it had
    to refuse. The report names each party's key, not its key id: any key id of the party
    maps to its one registered key, so a probe signed with an unregistered key id fails."""
    keys = capture.network_keys

    def lookup(subscriber: str, key_id: str) -> str | None:
        return keys.get(subscriber)
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


def _flow(capture: Capture, schemas: SchemaSet, options: Options) -> Flow:
    exchanges = [e.exchange for e in capture.entries if e.exchange is not None]
    if all(e.id in capture.timed for e in exchanges):
        exchanges.sort(key=lambda e: e.mono_time)  # stable: recording order breaks ties
    bound = options.ack_bound_s if options.ack_bound_s is not None else \
        capture.ack_bound_s if capture.ack_bound_s is not None else DEFAULT_ACK_BOUND_S
    return Flow(exchanges, frozenset(capture.sent_by), frozenset(capture.sent_to),
                frozenset(capture.timed), capture.horizon, frozenset(capture.broadcasts),
                options.ttl_s, bound, schemas, registered=capture.registered,
                apps=capture.apps)


def _by_transaction(capture: Capture, flow: Flow, findings: list[Finding]
                    ) -> list[Transaction]:
    groups: dict[str | None, Transaction] = {}
    order = {e.id: i for i, e in enumerate(flow.exchanges)}
    entries = sorted(capture.entries, key=lambda e: order.get(
        e.exchange.id if e.exchange else "", len(order)))
    for entry in entries:
        key = entry.transaction_id
        groups.setdefault(key, Transaction(key)).entries.append(entry)
    home = {e.id: flow.pairing.transaction_of(e) for e in flow.exchanges}
    for finding in findings:
        key = next((home[i] for i in finding.evidence if i in home), None)
        groups.setdefault(key, Transaction(key)).findings.append(finding)
    return list(groups.values())


# -- showing ----------------------------------------------------------------------------------


def render_text(report: Report, verbose: bool = False) -> str:
    """The report as an operator reads it: transactions with findings, then the totals."""
    lines: list[str] = []
    for transaction in report.transactions:
        counts = transaction.counts
        if not any(counts.values()) and not verbose:
            continue
        label = "FAIL" if counts["errors"] else "warn" if counts["warnings"] else \
            "open" if counts["not_evaluated"] else "ok"
        judged = sum(e.judged for e in transaction.entries)
        lines.append(f"{label:5} transaction {transaction.transaction_id or '(none)'}: "
                     f"{len(transaction.entries)} message(s), {judged} judged: "
                     f"{counts['errors']} error(s), {counts['warnings']} warning(s), "
                     f"{counts['not_evaluated']} not evaluated")
        for entry in transaction.entries:
            if not entry.findings and not (verbose and entry.judged):
                continue
            exchange = entry.exchange
            name = exchange.id if exchange else entry.source
            where = f" ({entry.source})" if entry.source != name else ""
            lines.append(f"  {name}{where} {exchange.action if exchange else 'no message'}"
                         + (f" message_id {exchange.message_id}"
                            if exchange and exchange.message_id else ""))
            lines += [f"    {_finding_line(f)}" for f in entry.findings]
        if transaction.findings:
            lines.append("  across messages")
            for finding in transaction.findings:
                cited = ", ".join(finding.evidence)
                lines.append(f"    {_finding_line(finding)}" + (f" <- {cited}" if cited else ""))
    totals = report.counts
    entries = [e for t in report.transactions for e in t.entries]
    if report.client_calls:
        lines.append(f"{report.client_calls} client-API call(s) (the harness driving the app "
                     "through its /v1 API or its operator): not Beckn messages, not judged")
    lines.append(f"{len(report.transactions)} transaction(s), {len(entries)} message(s), "
                 f"{sum(e.judged for e in entries)} judged: {totals['errors']} error(s), "
                 f"{totals['warnings']} warning(s), {totals['not_evaluated']} not evaluated; "
                 f"signatures {report.keys}")
    return "\n".join(lines)


def _finding_line(finding: Finding) -> str:
    severity = "n/e" if finding.status == NOT_EVALUATED else finding.severity
    where = f" at {finding.path}" if finding.path else ""
    told = f" (expected {finding.expected!r}, got {finding.actual!r})" \
        if finding.expected is not None or finding.actual is not None else ""
    return f"{severity:7} {finding.rule}{where}: {finding.message}{told} [{finding.spec}]"
