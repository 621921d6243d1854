"""The evidence log: every HTTP exchange a mock receives or sends, with raw bytes and times.

Checks read the transcript, never the network, so a verdict can be re-derived from the file
alone. Receive times are taken when the bytes arrived (monotonic for intervals, wall clock for
people); `context.timestamp` is never trusted for timing.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

INBOUND = "inbound"  # a request that arrived at one of our parties
OUTBOUND = "outbound"  # a request one of our parties sent
STRAY = "stray"  # the note of an inbound request that reached no endpoint of the party

# The key of a transcript's closing line, written when the recording was cut short.
ENDED = "transcript_ended"

# The body of a request is not parsed yet (Transcript.begin's `doc`): None is a parsed "null".
NOT_PARSED: Any = object()

SECRET_HEADERS = frozenset({"cookie", "set-cookie", "x-admin-token", "proxy-authorization"})


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
    response_body: bytes = b""
    response_mono_time: float | None = None
    error: str | None = None  # transport failure: refused, reset, timeout
    action: str | None = None
    transaction_id: str | None = None
    message_id: str | None = None
    note: str | None = None  # e.g. the fault a mock applied on purpose

    def __post_init__(self) -> None:
        if self.action is None:
            self._read_context()

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


class Transcript:
    """A thread-safe, append-only list of exchanges that can be waited on."""

    def __init__(self) -> None:
        self._entries: list[Exchange] = []
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
            self._entries.append(exchange)
            self._by_transaction.setdefault(exchange.transaction_id, []).append(exchange)
        self._changed(exchange)
        return exchange

    def finish(self, exchange: Exchange, status: int | None, headers: Mapping[str, str],
               body: bytes, error: str | None = None) -> None:
        with self._lock:
            exchange.status = status
            exchange.response_headers = dict(headers)
            exchange.response_body = body
            exchange.response_mono_time = time.monotonic()
            exchange.error = error
        self._changed(exchange)

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
        """Every exchange, a line each; then, when `ended` is given, one last line
        {ENDED: ended} saying how the recording ended (a run stopped early: "interrupted"),
        which readers of exchanges skip (`is_end`)."""
        with path.open("w", encoding="utf-8") as handle:
            for exchange in self.entries():
                handle.write(json.dumps(exchange.as_record(redact), ensure_ascii=False) + "\n")
            if ended is not None:
                handle.write(json.dumps({ENDED: dict(ended)}, ensure_ascii=False) + "\n")


def is_end(record: Any) -> bool:
    """Whether a transcript line is its closing line, not an exchange."""
    return isinstance(record, dict) and set(record) == {ENDED}
