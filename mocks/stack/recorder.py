"""Evidence of every request an app receives: an ASGI middleware that records each one, and its
answer, as an INBOUND exchange of the run's transcript.

For parties without a Beckn inbox (which records what it admits itself, mocks/stack/inbox.py):
the registry, whose lookups a candidate makes and whose answers decide whether the candidate
trusts anyone. Whatever the app answers is recorded — 200s, refusals, 404s of a wrong path,
the 500 of a bug — so that a candidate that could not find a key can be diagnosed from the
report alone.

The body is read once, at most `limit` bytes and one chunk more, then handed to the app as it
arrived, so the app's own body limit decides as before (413); the exchange keeps the first
`limit` bytes. A body not whole within BODY_TIMEOUT_S is answered 408 here, without the app.
Credentials other than a Beckn signature (a bearer or basic `Authorization`) never reach the
transcript.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.transcript import INBOUND, Exchange, Transcript
from mocks.stack import http

REDACTED = "<redacted>"
_EVIDENCE_SCHEMES = frozenset({"signature"})  # BECKN-006 headers are evidence, not secrets


def recorded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` with every credential but a signature replaced by its scheme and REDACTED."""
    shown = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization"):
            scheme = value.split(" ", 1)[0]
            if scheme.lower() not in _EVIDENCE_SCHEMES:
                value = f"{scheme} {REDACTED}" if " " in value.strip() else REDACTED
        shown[name] = value
    return shown


class RecordedRequests:
    """ASGI middleware: each HTTP request to `app`, with its answer, in `transcript` as an
    INBOUND exchange of `party`. Bodies over `limit` bytes are kept to their first `limit`."""

    def __init__(self, app: ASGIApp, *, transcript: Transcript, party: str, limit: int) -> None:
        self.app = app
        self.transcript = transcript
        self.party = party
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        arrived: list[bytes] = []
        try:
            async with asyncio.timeout(http.BODY_TIMEOUT_S):
                more = await self._read(request, receive, arrived)
        except TimeoutError:
            late = http.BodyTimeout(http.BODY_TIMEOUT_S, b"".join(arrived),
                                    request.headers.get("content-length"))
            exchange = self.transcript.begin(
                INBOUND, self.party, request.method, str(request.url),
                recorded_headers(request.headers), late.received[: self.limit])
            answer = http.error_response(late.status, late.code, late.message,
                                         headers=late.headers)
            await self._answer(exchange, scope, receive, send, app=answer)
            return
        exchange = self.transcript.begin(
            INBOUND, self.party, request.method, str(request.url),
            recorded_headers(request.headers), b"".join(arrived)[: self.limit])
        await self._answer(exchange, scope, self._replay(arrived, more, receive), send)

    async def _read(self, request: Request, receive: Receive, chunks: list[bytes]) -> bool:
        """Read the body's chunks into `chunks`, up to `limit` bytes and one chunk more; return
        whether more follows. Nothing is read when the declared length is over the limit."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            return True
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away mid-body
                return False
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                return False
            if size > self.limit:
                return True

    @staticmethod
    def _replay(arrived: list[bytes], more: bool, receive: Receive) -> Receive:
        """A `receive` that gives the app the chunks already read, then the rest of the stream."""
        pending = [{"type": "http.request", "body": b"".join(arrived), "more_body": more}] \
            if arrived else []

        async def replayed() -> Message:
            return pending.pop() if pending else await receive()
        return replayed

    async def _answer(self, exchange: Exchange, scope: Scope, receive: Receive,
                      send: Send, app: ASGIApp | None = None) -> None:
        """Run `app` (default: the wrapped one) and record its answer in `exchange`."""
        status: int | None = None
        headers: dict[str, str] = {}
        body = bytearray()
        finished = False

        async def recording_send(message: Message) -> None:
            nonlocal status, headers, finished
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = {k.decode("latin-1"): v.decode("latin-1")
                           for k, v in message.get("headers", ())}
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False) and not finished:
                    finished = True  # recorded before the client can read the answer
                    self.transcript.finish(exchange, status, headers, bytes(body))
            await send(message)

        try:
            await (app or self.app)(scope, receive, recording_send)
        except BaseException as exc:
            if not finished:
                self.transcript.finish(exchange, status, headers, bytes(body),
                                       error=_described(exc))
            raise


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
