"""The outbox: how every party sends a signed Beckn request and records what came back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.transcript import NOT_PARSED, OUTBOUND, Exchange, Transcript
from mocks.stack.http import MAX_BECKN_BODY_BYTES
from mocks.stack.identity import Identity
from mocks.stack.outbound import OutboundHosts
from mocks.stack.wire import MAX_IN_FLIGHT, Wire, WireError, wire

log = logging.getLogger("ubc.mocks")

DEFAULT_SEND_TIMEOUT_S = 10.0  # twice the default ACK bound: slow answers are measured
# The longest a request waits for its ACK while the party's callbacks are backed up (`room`):
# then it is ACKed all the same, never refused for it.
ROOM_WAIT_S = 2.0


def signature_window(body: dict[str, Any] | bytes) -> int:
    """Seconds a signature of this message is valid: its context's ttl (BECKN-006 ties the
    window to it), whole seconds, at least one and at most an hour (UBC-SIG-015: a receiver
    may refuse a longer window); the usual 300 s when it has none."""
    if isinstance(body, bytes):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return signing.DEFAULT_VALIDITY_S
    context = body.get("context") if isinstance(body, dict) else None
    ttl = context.get("ttl") if isinstance(context, dict) else None
    seconds = wire_time.duration_or(ttl, float(signing.DEFAULT_VALIDITY_S))
    return max(1, math.ceil(min(float(signing.MAX_VALIDITY_S), seconds)))


@dataclass
class Sent:
    """What happened to one outbound request."""

    exchange: Exchange
    status: int | None
    ack: Any = None
    error: str | None = None

    @property
    def acked(self) -> bool:
        return self.status is not None and self.status < 300 and \
            envelope.ack_status(self.ack) == "ACK"


@dataclass
class Outbox:
    """Sends signed Beckn requests for one party and records them."""

    identity: Identity
    transcript: Transcript
    http: Wire | httpx.AsyncClient  # an httpx client is wrapped (wire.py)
    party: str = ""
    timeout_s: float = DEFAULT_SEND_TIMEOUT_S
    sign: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)
    outbound: OutboundHosts | None = None  # the hosts it may send to; None: any
    _slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)
    _wire: Wire = field(init=False, repr=False)
    _queued: int = field(default=0, init=False, repr=False)  # sends waiting for a slot
    # requests waiting for room (`room`), oldest first: each freed place wakes one
    _waiting: deque[asyncio.Future[None]] = field(default_factory=deque, init=False,
                                                  repr=False)

    def __post_init__(self) -> None:
        self._wire = wire(self.http)

    async def send(self, base_uri: str, action: str, body: dict[str, Any] | bytes, *,
                   headers: Mapping[str, str] | None = None,
                   tamper: Callable[[bytes], bytes] | None = None,
                   created: int | None = None, expires: int | None = None,
                   signer: signing.Signer | None = None, sign: bool | None = None,
                   note: str | None = None, parsed: Any = NOT_PARSED) -> Sent:
        """POST `{base_uri}/{action}`: the body is serialised once, and those exact bytes are
        signed and sent. `tamper` changes the bytes after signing (for hostile tests).
        `parsed`: the document the bytes serialise, when the sender has it: the signature's
        window and the transcript's context are read from it, not from the bytes again. A host
        off the outbound allow-list is not sent to: recorded with the reason as its error."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        out_headers = {"Content-Type": "application/json", **self.extra_headers}
        if self.sign if sign is None else sign:
            if expires is None:  # BECKN-006: the signature is valid for the message's ttl
                created = int(time.time()) if created is None else created
                expires = created + signature_window(
                    body if isinstance(body, dict) else raw if parsed is NOT_PARSED else parsed)
            out_headers[signing.AUTHORIZATION] = (signer or self.identity.signer).sign(
                raw, created, expires)
        out_headers.update(headers or {})
        if tamper is not None:
            raw = tamper(raw)
        url = f"{base_uri.rstrip('/')}/{action}"
        # the transcript reads the context from the document rather than parse the bytes again
        doc = NOT_PARSED if tamper is not None else body if isinstance(body, dict) else parsed
        refusal = self.outbound.refusal(url) if self.outbound is not None else None
        if refusal is not None:  # recorded, never sent: no slot to wait for
            exchange = self.transcript.begin(OUTBOUND, self.party or self.identity.role,
                                             "POST", url, out_headers, raw, note=note, doc=doc)
            reason = f"not sent: {refusal}"
            log.warning("%s did not send %s: %s", exchange.party, action, refusal)
            self.transcript.finish(exchange, None, {}, b"", error=reason)
            return Sent(exchange, None, error=reason)
        self._queued += 1
        try:
            await self._slot().acquire()
        finally:
            self._queued -= 1
            while self._waiting and self._queued < MAX_IN_FLIGHT:
                waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    break
        try:
            return await self._post(url, raw, out_headers, note, doc)
        finally:
            self._slot().release()

    async def room(self, bound_s: float = ROOM_WAIT_S) -> None:
        """Return once fewer than MAX_IN_FLIGHT sends wait for a slot, or after `bound_s`. A
        party's inbox awaits this before it ACKs (Inbox.pace): a burst of requests faster
        than their callbacks can go was ACKed at once and its callbacks queued for seconds
        behind each other (under wrk, the callback p99 grew 194 times for 16 times the
        senders); its senders wait for their ACKs instead, and the callbacks stay prompt."""
        if self._queued < MAX_IN_FLIGHT:
            return
        # One waiter woken per freed place, oldest first: an event woke them all at each
        # freed place, and at 64 senders that herd cost a fifth of the party's CPU.
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(bound_s):
                    await waiter
        finally:
            if not waiter.done():
                waiter.cancel()  # left in the queue: skipped when its turn comes

    def _slot(self) -> asyncio.Semaphore:
        """One of the MAX_IN_FLIGHT requests this party may have on the wire at once: a burst
        beyond that waits here, in order, for a free connection of its client to reuse."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        return self._slots

    async def _post(self, url: str, raw: bytes, out_headers: dict[str, str],
                    note: str | None, doc: Any) -> Sent:
        """Send, recorded from the moment the request leaves (its slot taken)."""
        exchange = self.transcript.begin(OUTBOUND, self.party or self.identity.role, "POST",
                                         url, out_headers, raw, note=note, doc=doc)
        try:
            # Bounded in time and size: a peer that never answers or answers 10 MB is evidence.
            async with asyncio.timeout(self.timeout_s):
                answer = await self._wire.post(url, raw, out_headers, self.timeout_s,
                                              MAX_BECKN_BODY_BYTES)
        except (WireError, TimeoutError) as exc:
            reason = str(exc) if isinstance(exc, WireError) else \
                f"no answer within {self.timeout_s:g} s"
            self.transcript.finish(exchange, None, {}, b"", error=reason)
            return Sent(exchange, None, error=reason)
        too_large, content = answer.too_large, answer.content
        error = f"answer larger than {MAX_BECKN_BODY_BYTES} bytes; kept the first ones" \
            if too_large else None
        self.transcript.finish(exchange, answer.status, answer.headers, content, error=error)
        try:
            ack = None if too_large else orjson.loads(content)
        except orjson.JSONDecodeError:
            ack = None
        return Sent(exchange, answer.status, ack, error=error)
