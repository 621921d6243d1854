"""Reading one file of an audit's input, a line at a time, and what a first pass over it learns.

An NDJSON line is either a record of a run's transcript.ndjson (`Exchange.as_record`) or a
capture line as `validate` reads it: a bare message, or {"headers": {...}, "body": "<raw JSON>"}
with an optional "received_at" (unix seconds or RFC 3339: when the message arrived). A .json
file holds one message.

The first pass (`scan`) keeps nothing of a capture but counts and the catalogs it publishes;
of a transcript (a run's recording, not a production capture) it keeps an id and a digest per
record, to tell the harness's internal traffic from what crossed to the candidate. It also emits
the keys that tie transactions together (`Link`): a transaction's messages are judged together,
and so are two transactions that share a message_id, the same recorded bytes, or a BAP-role run.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.audit.inputs import Piece, Source
from harness.audit.model import ACTIONS, CAPTURE, CAPTURED, CLIENT_PARTIES, RECORD, TIME_FIELD
from harness.beckn import time as wire_time
from harness.checks.flow import AppRun, catalog_items
from harness.checks.message import parse_body, too_large
from harness.transcript import INBOUND, OUTBOUND, STRAY, Exchange, is_end
from harness.validation import InputError, Item, capture_item

Link = Callable[[int, int], None]  # (key shared by some messages, their transaction's key)
# What a spilled line is, beyond its place: a transcript record, a capture line, a whole .json
# file, or a .json file too large to read (its size in place of an ordinal).
RECORD_LINE, CAPTURE_LINE, WHOLE_FILE, LARGE_FILE = 0, 1, 2, 3


def digest(tag: bytes, *parts: bytes) -> int:
    """A 64-bit key, the same in every process (hash() of a str is not)."""
    blake = hashlib.blake2b(tag, digest_size=8)
    for part in parts:
        blake.update(len(part).to_bytes(8, "little"))
        blake.update(part)
    return int.from_bytes(blake.digest(), "little")


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")  # the stdlib parser lets lone surrogates in


def transaction_key(transaction_id: str | None) -> int:
    return digest(b"t", b"") if transaction_id is None else digest(b"t", b"\x01",
                                                                   _text(transaction_id))


def bytes_key(exchange: Exchange) -> int:
    """The same request recorded twice (sent by one party, received by another): same URL and
    bytes. Its transaction_id is the one recorded, which need not be the body's."""
    return digest(b"b", _text(exchange.url), exchange.request_body)


def message_key(message_id: str) -> int:
    return digest(b"m", _text(message_id))


def run_key(run: str) -> int:
    return digest(b"r", _text(run))


@dataclass
class Read:
    """One message-bearing line of a file (or a whole .json file)."""

    form: int  # RECORD_LINE, CAPTURE_LINE, WHOLE_FILE or LARGE_FILE
    line: int
    raw: bytes  # the line as read; a .json file's bytes
    ordinal: int = 0  # among the file's captured lines (or a large file's size)
    exchange: Exchange | None = None  # of a transcript record
    item: Item | None = None  # of a captured message
    received: float | None = None

    @property
    def kind(self) -> int:
        return RECORD if self.form == RECORD_LINE else CAPTURE


def reads(piece: Piece, line_base: int = 0, ordinal_base: int = 0,
          tally: Tally | None = None) -> Iterator[Read]:
    """Every message-bearing line of a piece of a file, in order, numbered from its bases (the
    lines, and the captured lines, of the pieces before it); InputError for unusable input."""
    source = piece.source
    if not source.ndjson:
        body = None
        problem = too_large(source.size, "file")
        if problem is None:
            body = source.read()
            yield Read(WHOLE_FILE, 1, body, item=Item(source.display, body))
        else:
            yield Read(LARGE_FILE, 1, b"", source.size,
                       item=Item(source.display, None, problem=problem))
        return
    tally = tally if tally is not None else Tally()
    for number, line in enumerate(piece.lines(), start=line_base + 1):
        tally.lines += 1
        if not line.strip():
            continue
        read = read_line(source.display, number, line, ordinal_base + tally.captured)
        if read is not None:
            tally.captured += read.kind == CAPTURE
            yield read


@dataclass
class Tally:
    lines: int = 0  # of the piece, blank ones too
    captured: int = 0  # captured lines, with a message or not


def read_line(display: str, number: int, line: bytes, ordinal: int) -> Read | None:
    """A line of an NDJSON file, or None for a transcript's closing line."""
    source = f"{display}:{number}"
    parsed = parse_body(line)
    doc = parsed[0]
    if is_end(doc):  # a run cut short says so last: not a message
        return None
    if _is_record(doc):
        try:
            return Read(RECORD_LINE, number, line, exchange=Exchange.from_record(doc))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: not a transcript record: {exc}") from None
    return Read(CAPTURE_LINE, number, line, ordinal, item=capture_item(source, line, parsed),
                received=_received_at(source, doc))


def respill(display: str, form: int, line: int, ordinal: int, raw: bytes) -> Read:
    """A Read back from what was spilled of it."""
    if form == WHOLE_FILE:
        return Read(form, line, raw, item=Item(display, raw))
    if form == LARGE_FILE:
        return Read(form, line, raw, ordinal,
                    item=Item(display, None, problem=too_large(ordinal, "file")))
    read = read_line(display, line, raw, ordinal)
    assert read is not None and read.form == form, "harness bug: a spilled line reads anew"
    return read


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


def captured_exchange(item: Item, exchange_id: str, arrival: float, timed: bool) -> Exchange:
    assert item.body is not None
    return Exchange(id=exchange_id, direction=CAPTURED, party="", method="POST", url="",
                    request_headers=dict(item.headers or {}), request_body=item.body,
                    wall_time=arrival if timed else 0.0, mono_time=arrival)


def endpoint_of(exchange: Exchange) -> str:
    return exchange.url.rstrip("/").rsplit("/", 1)[-1]


def is_message(exchange: Exchange) -> bool:
    """A transcript record the audit reads as a message (before telling twins apart): Beckn,
    or a request that reached no endpoint; never the harness driving an app."""
    if exchange.party in CLIENT_PARTIES:
        return False
    return exchange.action in ACTIONS or endpoint_of(exchange) in ACTIONS or \
        exchange.note == STRAY


def internal_traffic(records: list[tuple[str, Hashable]]) -> tuple[set[int], set[int]]:
    """Of (direction, bytes key) records in recording order, the inbound ones that are the
    network's own traffic (also recorded as sent: same URL, same bytes) and the outbound
    copies of those, matched first to first."""
    sent: dict[Hashable, deque[int]] = defaultdict(deque)
    for index, (direction, key) in enumerate(records):
        if direction == OUTBOUND:
            sent[key].append(index)
    internal: set[int] = set()
    twins: set[int] = set()
    for index, (direction, key) in enumerate(records):
        pending = sent.get(key)
        if direction == INBOUND and pending:
            twins.add(pending.popleft())
            internal.add(index)
    return internal, twins


# -- the first pass -------------------------------------------------------------------------------


@dataclass
class RunFacts:
    """What the report.json beside a transcript says about the run that wrote it."""

    ended: float | None = None  # wall clock: the transcript recorded until then
    candidate: tuple[str, str] | None = None  # a BPP's registered subscriber id and URI
    app: AppRun | None = None  # the run certified a BAP
    key: tuple[str, str] | None = None  # "subscriber|key_id" -> the candidate's public key
    key_source: str = ""  # the report.json that named it
    network_keys: list[tuple[str, str]] = field(default_factory=list)  # subscriber, key
    ack_bound_s: float | None = None


def run_facts(source: Source) -> RunFacts:
    """From the report.json of the run that wrote a transcript, what it says: the candidate's
    role, registered id, URI and key, every party's key, the ACK bound, and when the run ended
    (wall clock)."""
    report = source.report_beside()
    if not isinstance(report, dict):
        return RunFacts()
    facts = RunFacts()
    candidate = report.get("candidate")
    candidate = candidate if isinstance(candidate, dict) else {}
    names = [candidate.get(n) for n in ("subscriber_id", "key_id", "signing_public_key", "uri")]
    if all(isinstance(n, str) and n for n in names):
        facts.key = (f"{names[0]}|{names[1]}", str(names[2]))
        facts.key_source = source.report_name
        role = report.get("role", candidate.get("role"))
        if role == "bpp":  # callbacks name the BPP's id and URI
            facts.candidate = (str(names[0]), str(names[3]))
        elif role == "bap":  # the app: requests name its id and URI, and the BPP's
            bpps = tuple((str(p["subscriber_id"]), str(p["uri"]))
                         for p in report.get("network") or ()
                         if isinstance(p, dict) and p.get("role") == "bpp"
                         and isinstance(p.get("subscriber_id"), str)
                         and isinstance(p.get("uri"), str))
            facts.app = AppRun(source.run_name, (str(names[0]), str(names[3])), bpps)
    for party in report.get("network") or ():
        if isinstance(party, dict) and isinstance(party.get("subscriber_id"), str) and \
                isinstance(party.get("public_key"), str) and party["public_key"]:
            facts.network_keys.append((party["subscriber_id"], party["public_key"]))
    options = report.get("options")
    bound = options.get("ack_bound_s") if isinstance(options, dict) else None
    if isinstance(bound, int | float) and not isinstance(bound, bool):
        facts.ack_bound_s = float(bound)
    started, duration = wire_time.epoch(report.get("started")), report.get("duration_s")
    if started is not None and isinstance(duration, int | float) and \
            not isinstance(duration, bool):
        facts.ended = started + duration
    return facts


@dataclass
class FileScan:
    """What the first pass learnt of one file (or of one piece of it, lines counted from the
    piece's first: `combine` makes the file's)."""

    index: int
    display: str
    size: int
    run: RunFacts | None = None  # read when the file holds transcript records
    records: list[tuple[int, str, str, int, bool, list[tuple[Any, set[str]]]]] = field(
        default_factory=list)  # (line, id, direction, bytes key, message?, catalogs published)
    offset: float = 0.0  # wall minus monotonic time of its first record
    mono_end: float | None = None  # the latest monotonic time a record saw
    kept: list[tuple[int, str]] = field(default_factory=list)  # (line, id) of its messages
    client_calls: int = 0
    lines: int = 0
    items: int = 0  # captured lines (a message each, or a finding why not)
    exchanges: int = 0  # captured lines that hold a message
    timed: bool = True  # every captured line says when it arrived
    latest: float | None = None  # the latest of those times
    whole: bool = False  # a .json file: one message, never timed
    catalogs: dict[Any, set[str]] = field(default_factory=dict)  # BPP id -> published items

    @property
    def entries(self) -> int:
        return len(self.kept) + self.items


def scan(piece: Piece, link: Link) -> FileScan:
    """One streaming pass over a piece of a file: its facts, and its links through `link`."""
    source = piece.source
    found = FileScan(source.index, source.display, source.size, whole=not source.ndjson)
    run_link: int | None = None
    tally = Tally()
    for read in reads(piece, tally=tally):
        exchange = read.exchange
        if exchange is not None:
            if found.run is None:
                found.run = run_facts(source)
                found.offset = exchange.wall_time - exchange.mono_time
                if found.run.app is not None:  # an app's run is judged as one
                    run_link = run_key(found.run.app.run)
            latest = max(exchange.mono_time, exchange.response_mono_time or exchange.mono_time)
            found.mono_end = latest if found.mono_end is None else max(found.mono_end, latest)
            transaction = transaction_key(exchange.transaction_id)
            key = bytes_key(exchange)
            link(key, transaction)
            if exchange.message_id:
                link(message_key(exchange.message_id), transaction)
            if run_link is not None:
                link(run_link, transaction)
            found.client_calls += exchange.party in CLIENT_PARTIES
            message = is_message(exchange)
            published = catalog_items(exchange) if message and exchange.note != STRAY and \
                exchange.action == "catalog_publish" else []
            found.records.append((read.line, exchange.id, exchange.direction, key, message,
                                  published))
            continue
        item = read.item
        assert item is not None
        found.items += 1
        if read.received is None:
            found.timed = False
        else:
            found.latest = read.received if found.latest is None else \
                max(found.latest, read.received)
        if item.body is None:
            continue
        found.exchanges += 1
        captured = captured_exchange(item, "", 0.0, False)
        if captured.message_id:
            link(message_key(captured.message_id), transaction_key(captured.transaction_id))
        if captured.action == "catalog_publish":
            _publish(found, catalog_items(captured))
    found.lines = tally.lines
    found.timed = found.timed and not found.whole
    return found


def combine(pieces: list[FileScan]) -> FileScan:
    """A file's scan from its pieces' in order: lines renumbered, the transcript's own traffic
    told apart across them."""
    found = FileScan(pieces[0].index, pieces[0].display, pieces[0].size, whole=pieces[0].whole)
    for piece in pieces:
        if piece.run is not None and found.run is None:
            found.run, found.offset = piece.run, piece.offset
        if piece.mono_end is not None:
            found.mono_end = piece.mono_end if found.mono_end is None else \
                max(found.mono_end, piece.mono_end)
        found.records += [(found.lines + r[0], r[1], r[2], r[3], r[4], r[5])
                          for r in piece.records]
        found.client_calls += piece.client_calls
        found.lines += piece.lines
        found.items += piece.items
        found.exchanges += piece.exchanges
        found.timed = found.timed and piece.timed
        if piece.latest is not None:
            found.latest = piece.latest if found.latest is None else \
                max(found.latest, piece.latest)
        for bpp_id, items in piece.catalogs.items():
            found.catalogs.setdefault(bpp_id, set()).update(items)
    _, twins = internal_traffic([(r[2], r[3]) for r in found.records])
    for index, (line, exchange_id, _, _, message, published) in enumerate(found.records):
        if message and index not in twins:
            found.kept.append((line, exchange_id))
            _publish(found, published)
    found.records = []  # what the plan needs of them is in `kept`
    return found


def _publish(found: FileScan, published: list[tuple[Any, set[str]]]) -> None:
    for bpp_id, items in published:
        found.catalogs.setdefault(bpp_id, set()).update(items)
