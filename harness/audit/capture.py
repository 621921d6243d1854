"""The messages of one partition (or of the whole input), rebuilt as entries, with what the audit
knows of each exchange: whether it is judged or owed, timed, broadcast, its candidate's
registered id, its BAP-role run.

In a transcript the recording network is the harness's own: a message recorded both as sent by
one of its parties and as received by another (same URL, same bytes) is internal traffic,
context only; a message recorded only as received came from outside (the candidate) and is
judged; a message recorded only as sent went outside, and the answer and callbacks it was owed
are judged. In a capture every message is judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from harness.audit.model import ACTIONS, Entry
from harness.audit.plan import FilePlan, Plan
from harness.audit.reading import (
    Read,
    bytes_key,
    captured_exchange,
    endpoint_of,
    internal_traffic,
    is_message,
)
from harness.beckn import envelope
from harness.checks.flow import AppRun
from harness.transcript import INBOUND, OUTBOUND, STRAY, Exchange


@dataclass
class Capture:
    """Entries in input order, and the sets the flow checks read."""

    entries: list[Entry] = field(default_factory=list)
    sent_by: set[str] = field(default_factory=set)
    sent_to: set[str] = field(default_factory=set)
    timed: set[str] = field(default_factory=set)
    horizon: dict[str, float] = field(default_factory=dict)
    broadcasts: set[str] = field(default_factory=set)
    registered: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> sender's
    apps: dict[str, AppRun] = field(default_factory=dict)  # id -> its BAP-role run

    @classmethod
    def of(cls, reads: Iterable[tuple[int, Read]], plan: Plan) -> Capture:
        """From (file, read) pairs of any order: each file's records, then its captured
        lines, files in input order."""
        capture = cls()
        by_file: dict[int, list[Read]] = {}
        for index, read in reads:
            by_file.setdefault(index, []).append(read)
        for index in sorted(by_file):
            found = sorted(by_file[index], key=lambda r: (r.kind, r.line))
            records = [r for r in found if r.exchange is not None]
            if records:
                capture._transcript(index, plan.files[index], records, plan)
            captured = [r for r in found if r.exchange is None]
            if captured:
                capture._captured(index, plan.files[index], captured, plan)
        return capture

    def _transcript(self, index: int, file: FilePlan, records: list[Read], plan: Plan) -> None:
        """Monotonic times are kept, anchored to the file's first wall time; the recording
        lasted until the run `ended` (wall clock), or at least to its last record."""
        exchanges = [r.exchange for r in records if r.exchange is not None]
        internal, twins = internal_traffic([(e.direction, bytes_key(e)) for e in exchanges])
        run = file.run
        for position, (read, exchange) in enumerate(zip(records, exchanges, strict=True)):
            if position in twins or not is_message(exchange):
                continue
            endpoint = endpoint_of(exchange)
            moved = replace(
                exchange, id=plan.renamed.get((index, read.line), exchange.id),
                mono_time=exchange.mono_time + file.offset,
                response_mono_time=None if exchange.response_mono_time is None
                else exchange.response_mono_time + file.offset)
            entry = Entry(f"{file.display}:{read.line}", moved, moved.request_headers,
                          endpoint if endpoint in ACTIONS else None,
                          seq=(index, read.kind, read.line))
            if exchange.direction == INBOUND and position not in internal:
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
            self.horizon[moved.id] = file.horizon
            self.entries.append(entry)

    def _captured(self, index: int, file: FilePlan, reads: list[Read], plan: Plan) -> None:
        for read in reads:
            item = read.item
            assert item is not None
            seq = (index, read.kind, read.line)
            if item.body is None:
                problems = [item.problem] if item.problem is not None else []
                self.entries.append(Entry(item.source, judged=True, findings=problems,
                                          seq=seq))
                continue
            received = read.received
            arrival = received if file.timed and received is not None else \
                float(file.base + read.ordinal)
            exchange = captured_exchange(
                item, plan.renamed.get((index, read.line), item.source), arrival, file.timed)
            self.entries.append(Entry(item.source, exchange, item.headers, judged=True,
                                      owed=True, seq=seq))
            self.sent_by.add(exchange.id)
            self.sent_to.add(exchange.id)
            if _broadcast(exchange):
                self.broadcasts.add(exchange.id)
            if file.timed:
                self.timed.add(exchange.id)
                self.horizon[exchange.id] = file.capture_horizon

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


def _broadcast(exchange: Exchange) -> bool:
    """A discover addressed to no BPP: the CDS answers it, and so may every BPP."""
    if exchange.action != "discover":
        return False
    doc = exchange.json()
    ctx = doc.get("context") if isinstance(doc, dict) else None
    return not (isinstance(ctx, dict) and ctx.get("bpp_id"))
