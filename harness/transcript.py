"""The evidence log: every HTTP exchange a mock receives or sends, with raw bytes and times.

Checks read the transcript, never the network, so a verdict can be re-derived from the file
alone. Receive times are taken when the bytes arrived (monotonic for intervals, wall clock for
people); `context.timestamp` is never trusted for timing.

Each exchange is written to disk as it finishes (`Spool`: an NDJSON line, the same record as
transcript.ndjson's but unredacted); memory holds the most recent ones whole and, for older
ones, what lookups need (ids, parties, actions, times, status) — their headers and bodies are
read back from disk when someone asks (`Bounds`). A long-running network (`ubc-cert serve`)
also bounds how many exchanges memory knows at all, and how much of the file is kept.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.spool import MB, Place, Spool

INBOUND = "inbound"  # a request that arrived at one of our parties
OUTBOUND = "outbound"  # a request one of our parties sent
STRAY = "stray"  # the note of an inbound request that reached no endpoint of the party

# The key of a transcript's closing line, written when the recording was cut short.
ENDED = "transcript_ended"

# The body of a request is not parsed yet (Transcript.begin's `doc`): None is a parsed "null".
NOT_PARSED: Any = object()

SECRET_HEADERS = frozenset({"cookie", "set-cookie", "x-admin-token", "proxy-authorization"})
# What an exchange drops from memory once it is on disk, and reads back when asked for.
SPILLED = ("request_headers", "request_body", "response_headers", "response_body")


@dataclass
class Exchange:
    """One HTTP request and its answer, as seen by the party that recorded it."""

    id: str
    direction: str
    party: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    wall_time: float
    mono_time: float
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = field(default_factory=bytes)  # no class attribute: see __getattr__
    response_mono_time: float | None = None
    error: str | None = None  # transport failure: refused, reset, timeout
    action: str | None = None
    transaction_id: str | None = None
    message_id: str | None = None
    note: str | None = None  # e.g. the fault a mock applied on purpose
    # Once spilled by its transcript: reads the whole exchange back from disk (None if gone).
    _stored: Callable[[], Exchange | None] | None = field(
        default=None, init=False, repr=False, compare=False)
    _held: bool = field(default=False, init=False, repr=False, compare=False)  # indexed

    def __post_init__(self) -> None:
        if self.action is None:
            self._read_context()

    def __getattr__(self, name: str) -> Any:
        """Only called for an attribute the instance lacks: the headers and bodies of a spilled
        exchange, read back from the transcript's file (empty if the file no longer holds it)."""
        stored = self.__dict__.get("_stored")
        if name not in SPILLED or stored is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        whole = stored()
        if whole is None:
            return b"" if name.endswith("body") else {}
        return getattr(whole, name)

    @property
    def spilled(self) -> bool:
        """Whether its headers and bodies are on disk only."""
        return "request_body" not in self.__dict__

    def _spill(self, stored: Callable[[], Exchange | None]) -> None:
        self._stored = stored  # first, so that a reader on another thread never misses both
        for name in SPILLED:
            self.__dict__.pop(name, None)

    @property
    def size(self) -> int:
        """Roughly the bytes its headers and bodies hold in memory."""
        return len(self.request_body) + len(self.response_body) + sum(
            len(k) + len(v) for headers in (self.request_headers, self.response_headers)
            for k, v in headers.items())

    def _read_context(self, doc: Any = NOT_PARSED) -> None:
        """action, transaction_id and message_id from the body's context; `doc` is the body
        parsed already (a party that parses it anyway need not pay for it twice)."""
        if doc is NOT_PARSED:
            try:
                doc = orjson.loads(self.request_body) if self.request_body else None
            except orjson.JSONDecodeError:
                return
        context = doc.get("context") if isinstance(doc, dict) else None
        if isinstance(context, dict):
            for name in ("action", "transaction_id", "message_id"):
                value = context.get(name)
                if isinstance(value, str):
                    setattr(self, name, value)

    def json(self) -> Any:
        """The request body parsed, or None when it is not JSON."""
        try:
            return orjson.loads(self.request_body)
        except orjson.JSONDecodeError:
            return None

    def response_json(self) -> Any:
        try:
            return orjson.loads(self.response_body)
        except orjson.JSONDecodeError:
            return None

    @property
    def to_candidate_failed(self) -> bool:
        """No HTTP answer at all: refused, reset or timed out."""
        return self.status is None and self.error is not None

    @property
    def latency(self) -> float | None:
        """Seconds from the request to its synchronous answer."""
        if self.response_mono_time is None:
            return None
        return self.response_mono_time - self.mono_time

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.request_headers.items() if k.lower() == lowered), None)

    def as_record(self, redact: bool = True) -> dict[str, Any]:
        """One NDJSON line: bodies as text when UTF-8, else base64, so no byte is lost."""
        return {
            "id": self.id,
            "direction": self.direction,
            "party": self.party,
            "method": self.method,
            "url": self.url,
            "action": self.action,
            "transaction_id": self.transaction_id,
            "message_id": self.message_id,
            "wall_time": self.wall_time,
            "mono_time": self.mono_time,
            "request_headers": _headers(self.request_headers, redact),
            **_body("request_body", self.request_body),
            "status": self.status,
            "response_mono_time": self.response_mono_time,
            "latency_s": self.latency,
            "response_headers": _headers(self.response_headers, redact),
            **_body("response_body", self.response_body),
            "error": self.error,
            "note": self.note,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Exchange:
        """The exchange an `as_record` line describes (the inverse of `as_record`); KeyError,
        TypeError or ValueError when `record` is not such a line."""
        def text(name: str) -> str:
            value = record[name]
            if not isinstance(value, str):
                raise TypeError(f"{name} is not a string")
            return value

        def number(name: str, optional: bool = False) -> Any:
            value = record.get(name) if optional else record[name]
            if value is None and optional:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} is not a number")
            return float(value)

        def optional_text(name: str) -> str | None:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} is not a string")
            return value

        status = record.get("status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise TypeError("status is not an integer")
        return cls(
            id=text("id"), direction=text("direction"), party=text("party"),
            method=text("method"), url=text("url"),
            request_headers=_record_headers(record, "request_headers"),
            request_body=_record_body(record, "request_body"),
            wall_time=number("wall_time"), mono_time=number("mono_time"), status=status,
            response_headers=_record_headers(record, "response_headers"),
            response_body=_record_body(record, "response_body"),
            response_mono_time=number("response_mono_time", optional=True),
            error=optional_text("error"), action=optional_text("action"),
            transaction_id=optional_text("transaction_id"),
            message_id=optional_text("message_id"), note=optional_text("note"),
        )


def _record_headers(record: Mapping[str, Any], name: str) -> dict[str, str]:
    headers = record.get(name) or {}
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise TypeError(f"{name} must map names to strings")
    return dict(headers)


def _record_body(record: Mapping[str, Any], name: str) -> bytes:
    """A body as `_body` wrote it: text when UTF-8, else base64 under `<name>_base64`."""
    if f"{name}_base64" in record:
        encoded = record[f"{name}_base64"]
        if not isinstance(encoded, str):
            raise TypeError(f"{name}_base64 is not a string")
        return base64.b64decode(encoded, validate=True)
    value = record.get(name, "")
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value.encode("utf-8")


def _headers(headers: Mapping[str, str], redact: bool) -> dict[str, str]:
    return {k: ("<redacted>" if redact and k.lower() in SECRET_HEADERS else v)
            for k, v in headers.items()}


def _body(name: str, raw: bytes) -> dict[str, Any]:
    try:
        return {name: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(raw).decode()}


@dataclass(frozen=True)
class Bounds:
    """How much of a transcript memory and disk hold. Every exchange is on disk; in memory, the
    most recent `whole` finished ones (while their headers and bodies hold at most
    `whole_bytes`) keep everything, older ones only what lookups need. `index` bounds how many
    memory knows at all (None: every one — a run's checks query the whole run); past
    `segment_bytes` the file is renamed <file>.1 (replacing the one before) and a new one
    begun, so disk holds at most twice that (None: one file, however long)."""

    whole: int = 4000
    whole_bytes: int = 64 * MB
    index: int | None = None
    segment_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("whole", "whole_bytes", "index", "segment_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ValueError(f"transcript bounds: {name} must be a whole number >= 0, "
                                 f"not {value!r}")


RUN = Bounds()  # a run, fuzz or load: everything known to the end, bodies on disk past 64 MB
# `ubc-cert serve`, up for days: a few thousand exchanges in memory, half a gigabyte on disk.
SERVE = Bounds(whole=500, whole_bytes=8 * MB, index=5000, segment_bytes=256 * MB)


def _read_back(spool: Spool, place: Place) -> Exchange | None:
    """The exchange at `place`, read back whole."""
    line = spool.read(place)
    return None if line is None else Exchange.from_record(orjson.loads(line))


class Transcript:
    """A thread-safe, append-only log of exchanges that can be waited on, on disk as they
    finish, in memory within `bounds` (see Bounds); `path` names its file (default: an unnamed
    temporary one)."""

    def __init__(self, bounds: Bounds = RUN, path: Path | None = None) -> None:
        self.bounds = bounds
        self.spool = Spool(path, bounds.segment_bytes)
        self._entries: deque[Exchange] = deque()
        # On disk and still whole, oldest first: each with its size and how to read it back.
        self._whole: dict[str, tuple[Exchange, int, Callable[[], Exchange | None]]] = {}
        self._whole_bytes = 0
        self.forgotten = 0  # exchanges memory no longer knows (the file has them)
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._listeners: list[Callable[[Exchange], None]] = []
        self._by_transaction: dict[str | None, list[Exchange]] = {}

    def subscribe(self, listener: Callable[[Exchange], None]) -> Callable[[], None]:
        """Call `listener(exchange)` whenever an exchange begins or finishes; returns the
        function that unsubscribes it. Listeners run on the recording thread: keep them quick."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def _changed(self, exchange: Exchange) -> None:
        with self._lock:
            listeners = list(self._listeners)
            self._lock.notify_all()
        for listener in listeners:
            listener(exchange)

    def new_id(self) -> str:
        return f"x{next(self._ids):06d}"

    def begin(self, direction: str, party: str, method: str, url: str,
              headers: Mapping[str, str], body: bytes, *, note: str | None = None,
              doc: Any = NOT_PARSED) -> Exchange:
        """Record a request the moment it is sent or has fully arrived. `doc`: the body as
        the sender or receiver parsed it already (its context is read from it)."""
        known = doc is not NOT_PARSED
        exchange = Exchange(
            id=self.new_id(), direction=direction, party=party, method=method, url=url,
            request_headers=dict(headers), request_body=body, wall_time=time.time(),
            mono_time=time.monotonic(), note=note, action="" if known else None,
        )  # an action given ("") spares __post_init__ the parse; the context is read from doc
        if known:
            exchange.action = None
            exchange._read_context(doc)
        with self._lock:
            self._index(exchange)
        self._changed(exchange)
        return exchange

    def _index(self, exchange: Exchange) -> None:
        """Known from now on, within the index bound (lock held)."""
        exchange._held = True
        self._entries.append(exchange)
        self._by_transaction.setdefault(exchange.transaction_id, []).append(exchange)
        while self.bounds.index is not None and len(self._entries) > self.bounds.index:
            self._forget(self._entries.popleft())

    def finish(self, exchange: Exchange, status: int | None, headers: Mapping[str, str],
               body: bytes, error: str | None = None) -> None:
        """Record the answer (or the failure) of a request; the exchange goes to disk."""
        with self._lock:
            exchange.status = status
            exchange.response_headers = dict(headers)
            exchange.response_body = body
            exchange.response_mono_time = time.monotonic()
            exchange.error = error
            size = exchange.size
        self._store(exchange, size)

    def ingest(self, exchange: Exchange) -> Exchange:
        """Record an exchange another process recorded whole (a party served by a process of
        its own, harness/party_process.py): it takes an id of this transcript."""
        exchange.id = self.new_id()
        with self._lock:
            self._index(exchange)
            size = exchange.size
        self._store(exchange, size)
        return exchange

    def _store(self, exchange: Exchange, size: int) -> None:
        """A finished exchange to disk, kept whole in memory within the bounds."""
        place = self.spool.append(orjson.dumps(exchange.as_record(redact=False)) + b"\n")
        with self._lock:
            if place is not None and exchange._held and not exchange.spilled:
                previous = self._whole.pop(exchange.id, None)  # answered twice: once counted
                self._whole_bytes += size - (previous[1] if previous else 0)
                self._whole[exchange.id] = (exchange, size,
                                            functools.partial(_read_back, self.spool, place))
                self._trim()
        self._changed(exchange)

    def _trim(self) -> None:
        """Spill the oldest whole exchanges while memory holds more than the bounds (lock
        held): their headers and bodies stay on disk only."""
        while self._whole and (len(self._whole) > self.bounds.whole
                               or self._whole_bytes > self.bounds.whole_bytes):
            exchange, size, stored = self._whole.pop(next(iter(self._whole)))
            self._whole_bytes -= size
            exchange._spill(stored)

    def _forget(self, exchange: Exchange) -> None:
        """Memory lets go of `exchange` altogether (lock held); the file keeps it."""
        exchange._held = False
        self.forgotten += 1
        same = self._by_transaction.get(exchange.transaction_id)
        if same is not None:
            if same and same[0] is exchange:
                del same[0]
            elif exchange in same:
                same.remove(exchange)
            if not same:
                del self._by_transaction[exchange.transaction_id]
        whole = self._whole.pop(exchange.id, None)
        if whole is not None:
            self._whole_bytes -= whole[1]

    def close(self) -> None:
        """Close the file; what memory holds stays readable, spilled bodies read back empty."""
        self.spool.close()

    def entries(self) -> list[Exchange]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def find(self, predicate: Callable[[Exchange], bool]) -> list[Exchange]:
        return [e for e in self.entries() if predicate(e)]

    def wait_for(self, predicate: Callable[[Exchange], bool], timeout: float) -> Exchange | None:
        """The first exchange matching `predicate`, waiting at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for exchange in self._entries:
                    if predicate(exchange):
                        return exchange
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)

    async def wait_for_async(self, predicate: Callable[[Exchange], bool], timeout: float, *,
                             transaction_id: str | None = None) -> Exchange | None:
        """wait_for for coroutines: woken by the exchange that matches, not by polling. With
        `transaction_id`, only that transaction's exchanges are looked at (the predicate must
        imply it), so a wait costs the same however long the transcript has grown."""
        loop = asyncio.get_running_loop()
        found: asyncio.Future[Exchange] = loop.create_future()

        def settle(exchange: Exchange) -> None:
            if not found.done():
                found.set_result(exchange)

        def on_change(exchange: Exchange) -> None:
            if predicate(exchange):
                loop.call_soon_threadsafe(settle, exchange)
        unsubscribe = self.subscribe(on_change)
        try:
            for exchange in (self.entries() if transaction_id is None
                             else self.transaction(transaction_id)):
                if predicate(exchange):
                    return exchange
            return await asyncio.wait_for(found, timeout)
        except TimeoutError:
            return None
        finally:
            unsubscribe()

    def query(self, *, party: str | None = None, direction: str | None = None,
              action: str | None = None, transaction_id: str | None = None,
              message_id: str | None = None, since: float | None = None,
              stray: bool | None = None) -> list[Exchange]:
        """The exchanges matching every criterion given, in recording order: by party
        ("bap", "cds", ...), direction (INBOUND/OUTBOUND), action, transaction, message, recorded
        at or after `since` (monotonic seconds), and stray or not (`stray=False` leaves out
        requests that reached no endpoint)."""
        pool = self.entries() if transaction_id is None else self.transaction(transaction_id)
        return [e for e in pool
                if (party is None or e.party == party)
                and (direction is None or e.direction == direction)
                and (action is None or e.action == action)
                and (message_id is None or e.message_id == message_id)
                and (since is None or e.mono_time >= since)
                and (stray is None or (e.note == STRAY) == stray)]

    def transaction(self, transaction_id: str) -> list[Exchange]:
        with self._lock:
            return list(self._by_transaction.get(transaction_id, ()))

    def write_ndjson(self, path: Path, redact: bool = True,
                     ended: Mapping[str, Any] | None = None) -> None:
        """Every exchange, a line each, in recording order (when memory forgot some: the
        file's, in the order they finished, then those still unanswered); then, when `ended`
        is given, one last line {ENDED: ended} saying how the recording ended (a run stopped
        early: "interrupted"), which readers of exchanges skip (`is_end`)."""
        with path.open("w", encoding="utf-8") as handle:
            if self.forgotten:
                for line in self.spool.lines():
                    record = orjson.loads(line)
                    for name in ("request_headers", "response_headers"):
                        record[name] = _headers(record.get(name) or {}, redact)
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                with self._lock:
                    unanswered = [e for e in self._entries
                                  if e.id not in self._whole and not e.spilled]
            else:
                unanswered = self.entries()
            for exchange in unanswered:
                whole = (exchange._stored and exchange._stored()) or exchange
                handle.write(json.dumps(whole.as_record(redact), ensure_ascii=False) + "\n")
            if ended is not None:
                handle.write(json.dumps({ENDED: dict(ended)}, ensure_ascii=False) + "\n")


def is_end(record: Any) -> bool:
    """Whether a transcript line is its closing line, not an exchange."""
    return isinstance(record, dict) and set(record) == {ENDED}
