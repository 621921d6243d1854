"""What report.html shows of transcript.ndjson: the exchanges behind the findings, in full but
bounded, and each transaction's timeline (request → answer → callback, with latencies).

A hostile candidate's transcript may hold megabytes (a 10 MB answer, a flood of callbacks): the
file is read once, line by line, keeping bodies only of the exchanges shown in full, and what is
shown is capped — per body, per header, in rows and in total — with a note saying what was cut,
so the page stays small and renders in well under a second whatever the candidate sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from harness.transcript import OUTBOUND, STRAY, is_end

BODY_CAP = 8 * 1024  # characters of one body shown
DETAIL_BUDGET = 1024 * 1024  # characters of all bodies and headers shown, together
PRETTY_UP_TO = 256 * 1024  # a larger body is shown as sent: re-indenting it costs for nothing
HEADER_CAP = 400  # characters of one header's value
HEADERS_CAP = 40  # headers shown per request or answer
MAX_DETAILED = 150  # exchanges shown in full
MAX_ROWS = 2000  # timeline rows of the whole page
MAX_ROWS_PER_TRANSACTION = 300
HARNESS_AGENT = "ubc-conformance"  # the harness's parties name themselves in User-Agent


@dataclass
class Shown:
    """A text as the page shows it, and what was left out of it ("" when nothing was)."""

    text: str
    cut: str = ""


@dataclass
class Row:
    """One exchange as a line of a timeline."""

    id: str
    offset_ms: float  # from the first exchange of its transaction (or section)
    route: str  # who sent it to whom
    method: str
    action: str
    target: str  # the URL's path
    answer: str  # "200 ACK", "401 NACK", "no answer: timed out"
    latency_ms: float | None
    callback_after_ms: float | None  # a callback: how long after the request it answers
    detailed: bool = False  # shown in full in the evidence section


@dataclass
class Detail:
    """One exchange shown in full."""

    id: str
    route: str
    method: str
    url: str
    action: str
    transaction_id: str
    message_id: str
    answer: str
    latency_ms: float | None
    note: str
    request_headers: list[tuple[str, str]]
    request_body: Shown
    response_headers: list[tuple[str, str]]
    response_body: Shown


@dataclass
class Timeline:
    transaction_id: str
    rows: list[Row]
    more: int = 0  # rows left out


@dataclass
class Evidence:
    """The transcript as the page needs it."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> light record
    by_transaction: dict[str, list[str]] = field(default_factory=dict)  # "" for none
    details: dict[str, Detail] = field(default_factory=dict)
    wanted: list[str] = field(default_factory=list)  # evidence ids, in the order cited
    notes: list[str] = field(default_factory=list)  # what could not be read or was cut
    rows_left: int = MAX_ROWS

    def row(self, exchange_id: str) -> str:
        """A one-line summary of an exchange, for a finding's list of evidence."""
        record = self.records.get(exchange_id)
        if record is None:
            return f"{exchange_id} (not in transcript.ndjson)"
        latency = record["latency_ms"]
        took = f", {latency:.0f} ms" if latency is not None else ""
        return (f"{exchange_id} {record['route']}: {record['method']} "
                f"{record['action'] or record['target']} → {record['answer']}{took}")

    def timeline(self, transaction_id: str, *, since: float | None = None,
                 until: float | None = None) -> Timeline:
        """The transaction's exchanges in order (those recorded between `since` and `until`,
        epoch seconds, when given), each callback with how long after its request it came."""
        return self.timeline_of(transaction_id, self.by_transaction.get(transaction_id, []),
                                since=since, until=until)

    def timeline_of(self, label: str, ids: list[str], *, since: float | None = None,
                    until: float | None = None) -> Timeline:
        """A timeline of the exchanges `ids`, under `label`."""
        # A request between two of the harness's parties shows once, as sent.
        records = [self.records[i] for i in ids
                   if (not self.records[i]["mirror"] or i in self.details)
                   and (since is None or self.records[i]["wall_time"] >= since)
                   and (until is None or self.records[i]["wall_time"] <= until)]
        records.sort(key=lambda r: r["mono_time"])
        shown = records[:max(0, min(self.rows_left, MAX_ROWS_PER_TRANSACTION))]
        self.rows_left -= len(shown)
        first = shown[0]["mono_time"] if shown else 0.0
        requests: dict[tuple[str, str], float] = {}
        rows = []
        for record in shown:
            action, message_id = record["action"] or "", record["message_id"] or ""
            requests.setdefault((action, message_id), record["mono_time"])
            asked = requests.get((action[3:], message_id)) if action.startswith("on_") else None
            rows.append(Row(
                id=record["id"], offset_ms=(record["mono_time"] - first) * 1000,
                route=record["route"], method=record["method"], action=action,
                target=record["target"], answer=record["answer"],
                latency_ms=record["latency_ms"],
                callback_after_ms=(record["mono_time"] - asked) * 1000 if asked is not None
                else None,
                detailed=record["id"] in self.details))
        return Timeline(label, rows, len(records) - len(shown))


@dataclass
class Parties:
    """Who listens where on the run's network (report.json's `network` and `candidate`), to
    name the sender and the receiver of each exchange."""

    by_url: list[tuple[str, str]] = field(default_factory=list)  # URL prefix -> name
    by_id: dict[str, str] = field(default_factory=dict)  # subscriber id -> name

    @classmethod
    def of(cls, report: Mapping[str, Any]) -> Parties:
        candidate = report.get("candidate")
        candidate = candidate if isinstance(candidate, Mapping) else {}
        prefixes = [(str(candidate.get(k) or ""), "candidate")
                    for k in ("uri", "client_api_url", "control_url")]
        by_id = {str(candidate.get("subscriber_id") or ""): "candidate"}
        network = report.get("network")
        for party in network if isinstance(network, list) else []:
            if isinstance(party, Mapping) and not str(party.get("role", "")).startswith(
                    "candidate"):
                name = str(party.get("role") or party.get("subscriber_id") or "?")
                prefixes += [(str(party.get(k) or ""), name) for k in ("uri", "url")]
                by_id.setdefault(str(party.get("subscriber_id") or ""), name)
        known = [(u.rstrip("/"), n) for u, n in prefixes if u]
        return cls(sorted(known, key=lambda un: -len(un[0])), by_id)

    def at(self, url: str) -> str:
        """The party listening at `url`, or its host and port."""
        return next((name for prefix, name in self.by_url if url.startswith(prefix)),
                    urlsplit(url).netloc or "?")


def read(path: Path, wanted: Iterable[str], parties: Parties) -> Evidence:
    """Read transcript.ndjson: a light record of every exchange, and the `wanted` ones (the
    first MAX_DETAILED of them, in the order given) in full."""
    evidence = Evidence()
    order = list(dict.fromkeys(wanted))
    detailed = set(order[:MAX_DETAILED])
    if len(order) > MAX_DETAILED:
        evidence.notes.append(f"{len(order) - MAX_DETAILED} more exchanges are cited as "
                              f"evidence than the {MAX_DETAILED} shown in full: see "
                              "transcript.ndjson")
    if not path.exists():
        evidence.notes.append(f"no {path.name} in the run directory: no exchange to show")
        return evidence
    budget = _Budget(DETAIL_BUDGET)
    unreadable = 0
    full: dict[str, dict[str, Any]] = {}
    with path.open("rb") as handle:
        for line in handle:
            try:
                record = orjson.loads(line)
                if is_end(record):  # how a run cut short ended: not an exchange
                    continue
                light = _light(record, parties)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                unreadable += line.strip() != b""
                continue
            evidence.records[light["id"]] = light
            evidence.by_transaction.setdefault(light["transaction_id"], []).append(light["id"])
            if light["id"] in detailed:
                full[light["id"]] = record
    _name_senders(evidence.records.values())
    # In the order cited, so the budget goes to the first findings ("fix these first").
    for exchange_id in order:
        if exchange_id in full:
            evidence.details[exchange_id] = _detail(full[exchange_id],
                                                    evidence.records[exchange_id], budget)
    evidence.wanted = order
    if unreadable:
        evidence.notes.append(f"{unreadable} lines of {path.name} could not be read and are "
                              "left out")
    if budget.spent:
        evidence.notes.append(f"the page shows at most {DETAIL_BUDGET // 1024} KiB of "
                              "exchange details: later bodies are left out (see "
                              f"{path.name})")
    return evidence


def _light(record: dict[str, Any], parties: Parties) -> dict[str, Any]:
    """What a timeline row and a finding's evidence line need of a transcript line."""
    latency = record.get("latency_s")
    url = str(record.get("url") or "")
    party = str(record.get("party") or "?")
    headers = record.get("request_headers")
    agent = next((str(v) for k, v in headers.items() if str(k).lower() == "user-agent"),
                 "") if isinstance(headers, dict) else ""
    outbound = record.get("direction") == OUTBOUND
    return {
        "id": str(record["id"]),
        "transaction_id": str(record.get("transaction_id") or ""),
        "message_id": str(record.get("message_id") or ""),
        "action": str(record.get("action") or ""),
        "method": str(record.get("method") or ""),
        "target": urlsplit(url).path or "/",
        "wall_time": float(record.get("wall_time") or 0.0),
        "mono_time": float(record.get("mono_time") or 0.0),
        "latency_ms": float(latency) * 1000 if isinstance(latency, int | float) else None,
        "answer": _answer(record),
        "outbound": outbound,
        "party": party,
        "sender": party if outbound else (
            parties.by_id.get(agent.split()[1], agent.split()[1])
            if agent.startswith(HARNESS_AGENT + " ") and len(agent.split()) > 1 else ""),
        "receiver": parties.at(url) if outbound else party,
        "stray": record.get("note") == STRAY,
        "mirror": False,  # the receiving side of a request between two harness parties
    }


def _name_senders(records: Iterable[dict[str, Any]]) -> None:
    """Give each exchange its route. A request between two of the harness's parties is
    recorded twice, sent and received: a received request that one of them sent is theirs, and
    one no party sent (nor named itself in its User-Agent) is the candidate's."""
    records = list(records)
    sent = {(r["action"], r["message_id"], r["target"], r["receiver"]): r["party"]
            for r in records if r["outbound"] and r["message_id"]}
    for record in records:
        if not record["sender"]:
            sender = sent.get((record["action"], record["message_id"], record["target"],
                               record["receiver"]))
            record["sender"], record["mirror"] = sender or "candidate", sender is not None
        record["route"] = f"{record['sender']} → {record['receiver']}" + (
            " (no such endpoint)" if record["stray"] else "")


def _answer(record: Mapping[str, Any]) -> str:
    status, error = record.get("status"), record.get("error")
    if status is None:
        return f"no answer: {error}" if error else "no answer"
    body = record.get("response_body")
    ack = ""
    if isinstance(body, str) and len(body) < 4096:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("message"), dict):
            answer = doc["message"].get("ack")
            ack = str(answer.get("status", "")) if isinstance(answer, dict) else ""
    return f"{status} {ack}".strip()


class _Budget:
    def __init__(self, characters: int) -> None:
        self.left = characters
        self.spent = False

    def take(self, text: str, cap: int) -> Shown:
        """`text` cut to `cap` and to what is left of the budget, saying what was cut."""
        allowed = min(cap, self.left)
        if len(text) <= allowed:
            self.left -= len(text)
            return Shown(text)
        self.left -= allowed
        if allowed < cap:
            self.spent = True
        return Shown(text[:allowed], f"{len(text) - allowed} more characters of {len(text)} "
                                     "not shown (see transcript.ndjson)")


def _detail(record: dict[str, Any], light: dict[str, Any], budget: _Budget) -> Detail:
    return Detail(
        id=light["id"], route=light["route"], method=light["method"],
        url=str(record.get("url") or ""), action=light["action"],
        transaction_id=light["transaction_id"], message_id=light["message_id"],
        answer=light["answer"], latency_ms=light["latency_ms"],
        note=str(record.get("note") or ""),
        request_headers=_headers(record.get("request_headers"), budget),
        request_body=_body(record, "request_body", budget),
        response_headers=_headers(record.get("response_headers"), budget),
        response_body=_body(record, "response_body", budget))


def redact(name: str, value: str) -> str:
    """A header as the page shows it: an Authorization signature is evidence (a signature, not
    a secret), a bearer or basic credential is not."""
    if name.lower() in ("authorization", "proxy-authorization"):
        scheme, _, credential = value.partition(" ")
        if scheme.lower() in ("bearer", "basic") and credential and credential != "<redacted>":
            return f"{scheme} <redacted>"
    if name.lower() in ("cookie", "set-cookie", "x-admin-token") and value != "<redacted>":
        return "<redacted>"
    return value


def _headers(headers: Any, budget: _Budget) -> list[tuple[str, str]]:
    if not isinstance(headers, dict):
        return []
    shown = []
    for name, value in list(headers.items())[:HEADERS_CAP]:
        text = budget.take(redact(str(name), str(value)), HEADER_CAP)
        shown.append((str(name), text.text + (" …" if text.cut else "")))
    if len(headers) > HEADERS_CAP:
        shown.append(("…", f"{len(headers) - HEADERS_CAP} more headers not shown"))
    return shown


def _body(record: Mapping[str, Any], name: str, budget: _Budget) -> Shown:
    encoded = record.get(f"{name}_base64")
    if isinstance(encoded, str):
        shown = budget.take(encoded, BODY_CAP // 4)
        return Shown(shown.text, f"not UTF-8: {len(encoded) * 3 // 4} bytes, shown as base64"
                     + (f"; {shown.cut}" if shown.cut else ""))
    body = record.get(name)
    if not isinstance(body, str) or not body:
        return Shown("")
    text = body
    if len(body) <= PRETTY_UP_TO:
        try:
            text = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:
            text = body
    return budget.take(text, BODY_CAP)
