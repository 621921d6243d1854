"""What an audit reports: each message of the input (an entry) with its own findings, grouped by
transaction with the findings across its messages, and the options that shape the judgement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.beckn import envelope, signing
from harness.checks.client_api import CLIENT_API, OPERATOR
from harness.findings import NOT_EVALUATED, Finding
from harness.transcript import Exchange

CAPTURED = "captured"  # the direction of a captured message: who recorded it is unknown
TIME_FIELD = "received_at"
ACTIONS = frozenset(envelope.CALLBACK_OF) | frozenset(envelope.REQUEST_OF)
RUN_TRANSCRIPT = "transcript.ndjson"
RUN_REPORT = "report.json"
# Transcript parties of a BAP-role run that record the driver's side of the app, not Beckn.
CLIENT_PARTIES = frozenset({CLIENT_API, OPERATOR})
# Where an entry stands in the input: (file number, RECORD or CAPTURE, line number). A file's
# transcript records are read before its captured lines, as the single-pass reader did.
RECORD, CAPTURE = 0, 1
Seq = tuple[int, int, int]


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
    seq: Seq = (0, 0, 0)  # its place in the input, which orders the report

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


def counts_of(findings: list[Finding]) -> dict[str, int]:
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
        return counts_of([f for e in self.entries for f in e.findings] + self.findings)

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
    participants: frozenset[str] = frozenset()  # empty: as described in harness/audit/__init__
    keys: Mapping[str, str] | None = None  # "subscriber|key_id" -> public key; None: look beside
    now: float | None = None  # None: each message's arrival time, else the present
    skew: float = signing.DEFAULT_SKEW_S
    ttl_s: float | None = None  # None: each request's own ttl
    ack_bound_s: float | None = None  # None: the run's (report.json), else 5 s
