"""The one Beckn stack every mock party shares: inbox (receive) and outbox (send).

Inbox, per request: read the raw body (over 1 MB -> 413 NACK) -> verify `Authorization` and,
when present, `X-Gateway-Authorization` against the registry (-> 401 NACK with
`WWW-Authenticate`) -> validate envelope, context and message for the route's action (-> 400
NACK, the error in TSD §13's place) -> check the sender's URI against its registry record ->
record the exchange -> ACK in the UBC shape, then run the party's handler after the answer has
gone, so callbacks are asynchronous.

Callback address: the Beckn context carries `bap_uri`/`bpp_uri` and the registry carries the
subscriber URL. The mocks send callbacks to the context's URI, and accept a request only when
that URI agrees with the sender's registry record (trailing slashes aside). Deployed stacks
that call back to the registry URL (beckn/protocol-server) therefore reach the same place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from harness.beckn import envelope, signing
from harness.checks.signature import sender_id
from harness.schemas import SchemaSet
from harness.transcript import INBOUND, OUTBOUND, Exchange, Transcript
from mocks import registry

log = logging.getLogger("ubc.mocks")

MAX_BODY_BYTES = 1024 * 1024
REPLAY_PURGE_AT = 4096  # remembered signatures before the expired ones are dropped
STRAY = "stray"  # the transcript note of a request that reached no endpoint
STRAY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Identity:
    """Who a party is on the network: registry identity, signing key, where it listens."""

    subscriber_id: str
    key_id: str
    role: str  # "bap", "bpp", "cds"
    uri: str  # base URI of its Beckn endpoints; the action is appended
    signer: signing.Signer

    @classmethod
    def create(cls, subscriber_id: str, role: str, uri: str,
               keys: signing.KeyPair | None = None) -> Identity:
        keys = keys or signing.KeyPair.generate(subscriber_id, f"{subscriber_id}-k1")
        return cls(subscriber_id, keys.key_id, role, uri.rstrip("/"),
                   signing.Signer.from_keypair(keys))

    @property
    def public_key(self) -> str:
        return self.signer.public_key


class Directory(Protocol):
    """The registry as the parties see it."""

    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None: ...

    async def subscriber_url(self, subscriber_id: str) -> str | None: ...


class RegistryClient:
    """Looks subscribers up over HTTP (`POST /lookup`), trusting only SUBSCRIBED records inside
    their validity window; answers are cached for `cache_s` seconds."""

    def __init__(self, registry_url: str, *, cache_s: float = 1.0, timeout: float = 3.0) -> None:
        self.registry_url = registry_url.rstrip("/")
        self.cache_s = cache_s
        self._http = httpx.AsyncClient(timeout=timeout)
        self._cache: dict[tuple[str, ...], tuple[float, list[dict[str, Any]]]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _lookup(self, **query: str) -> list[dict[str, Any]]:
        key = tuple(sorted(query.items()))
        hit = self._cache.get(key)  # type: ignore[arg-type]
        if hit is not None and time.monotonic() - hit[0] < self.cache_s:
            return hit[1]
        try:
            response = await self._http.post(f"{self.registry_url}/lookup", json=query)
            records = response.json() if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("registry lookup %s failed: %s", query, exc)
            return []
        records = [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
        self._cache[key] = (time.monotonic(), records)  # type: ignore[index]
        return records

    @staticmethod
    def _trusted(record: Mapping[str, Any]) -> bool:
        return registry.trusted(record.get("status"), record.get("valid_from"),
                                record.get("valid_until"))

    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None:
        for record in await self._lookup(subscriber_id=subscriber_id, key_id=key_id):
            if record.get("subscriber_id") == subscriber_id and self._trusted(record):
                key = record.get("signing_public_key")
                return key if isinstance(key, str) else None
        return None

    async def subscriber_url(self, subscriber_id: str) -> str | None:
        for record in await self._lookup(subscriber_id=subscriber_id):
            if record.get("subscriber_id") == subscriber_id and self._trusted(record):
                url = record.get("url")
                return url if isinstance(url, str) else None
        return None


@dataclass
class InboxPolicy:
    """What the inbox enforces. Fault switches loosen it to prove a harness catches that."""

    skew_s: float = signing.DEFAULT_SKEW_S
    ignore_signature_reasons: frozenset[str] = frozenset()
    ack_schema_invalid: bool = False
    check_sender_uri: bool = True
    reject_replays: bool = True


@dataclass
class Inbound:
    """An accepted request, as handed to a party's handler."""

    action: str
    doc: dict[str, Any]
    raw: bytes
    exchange: Exchange

    @property
    def context(self) -> dict[str, Any]:
        return self.doc["context"]

    @property
    def message(self) -> dict[str, Any]:
        return self.doc["message"]


Handler = Callable[[Inbound], Awaitable[None]]
# A party's own acceptance rule, run after the shared checks: an error message means 400 NACK
# (e.g. the BAP refusing a callback for a transaction it never started).
Admission = Callable[[str, dict[str, Any]], str | None]


def _json_response(body: dict[str, Any], status: int,
                   headers: Mapping[str, str] | None = None,
                   background: BackgroundTask | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=dict(headers or {}),
                    media_type="application/json", background=background)


def same_uri(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def sender_uri(context: Mapping[str, Any]) -> str | None:
    action = context.get("action")
    name = "bpp_uri" if isinstance(action, str) and (
        action.startswith("on_") or action == "catalog_publish") else "bap_uri"
    value = context.get(name)
    return value if isinstance(value, str) else None


class Inbox:
    """Receives signed Beckn requests for one party and hands accepted ones to its handlers."""

    def __init__(self, identity: Identity, directory: Directory, transcript: Transcript,
                 schemas: SchemaSet, handlers: Mapping[str, Handler], *,
                 policy: InboxPolicy | None = None, party: str | None = None,
                 admission: Admission | None = None) -> None:
        self.identity = identity
        self.directory = directory
        self.transcript = transcript
        self.schemas = schemas
        self.handlers = dict(handlers)
        self.policy = policy or InboxPolicy()
        self.party = party or identity.role
        self.admission = admission
        self._seen: dict[str, float] = {}  # signature -> expires, to refuse replays
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self, *, record_strays: bool = False) -> list[BaseRoute]:
        """`POST {uri path}/{action}` for every handled action. With `record_strays`, any other
        request under the URI is recorded as a stray (note "stray") and answered 404, so a
        counterparty calling a wrong address is evidence, not silence."""
        inner: list[BaseRoute] = [
            Route(f"/{action}", self._endpoint(action), methods=["POST"], name=action)
            for action in self.handlers
        ]
        if record_strays:
            inner.append(Route("/{rest:path}", self.stray, methods=STRAY_METHODS))
        path = urlsplit(self.identity.uri).path.rstrip("/")
        return [Mount(path, routes=inner)] if path else inner

    async def stray(self, request: Request) -> Response:
        """A request to no endpoint of this party: recorded, then 404 with a NACK."""
        raw, _ = await _read_limited(request, MAX_BODY_BYTES)
        exchange = self.transcript.begin(INBOUND, self.party, request.method, str(request.url),
                                         dict(request.headers), raw, note=STRAY)
        return self._finish(exchange, _json_response(envelope.nack(
            envelope.INVALID_REQUEST, f"no endpoint {request.method} {request.url.path}; "
            f"Beckn endpoints are POST {self.identity.uri}/{{action}}"), 404))

    def _endpoint(self, action: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.receive(action, request)
        return endpoint

    async def receive(self, action: str, request: Request) -> Response:
        raw, too_large = await _read_limited(request, MAX_BODY_BYTES)
        headers = dict(request.headers)
        exchange = self.transcript.begin(INBOUND, self.party, request.method, str(request.url),
                                         headers, raw)
        if too_large:
            response = _json_response(envelope.nack(
                envelope.BODY_TOO_LARGE, f"body exceeds {MAX_BODY_BYTES} bytes"), 413)
            return self._finish(exchange, response)
        refusal, doc = await self.admit(action, raw, headers)
        if refusal is not None:
            return self._finish(exchange, refusal)
        handler = self.handlers[action]
        inbound = Inbound(action, doc, raw, exchange)
        task = BackgroundTask(self._run_handler, handler, inbound)
        return self._finish(exchange, _json_response(envelope.ack(), 200, background=task))

    def _finish(self, exchange: Exchange, response: Response) -> Response:
        self.transcript.finish(exchange, response.status_code, dict(response.headers),
                               bytes(response.body))
        return response

    async def _run_handler(self, handler: Handler, inbound: Inbound) -> None:
        try:
            await handler(inbound)
        except Exception:  # a party's bug must not take the server down; it is logged
            log.exception("%s handler for %s failed", self.party, inbound.action)

    async def admit(self, action: str, raw: bytes,
                    headers: Mapping[str, str]) -> tuple[Response | None, Any]:
        """None and the parsed body when the request is acceptable, else the NACK response."""
        lowered = {k.lower(): v for k, v in headers.items()}
        for name in (signing.AUTHORIZATION, signing.GATEWAY_AUTHORIZATION):
            value = lowered.get(name.lower())
            if value is None and name == signing.GATEWAY_AUTHORIZATION:
                continue
            refusal = await self._verify(raw, name, value, lowered.get("digest"))
            if refusal is not None:
                return refusal, None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return self._bad_request(f"body is not JSON: {exc}", None), None
        findings = [f for f in self.schemas.validate(doc, expected_action=action) if f.is_error]
        if findings and not self.policy.ack_schema_invalid:
            first = findings[0]
            return self._bad_request(f"{first.rule}: {first.message}", first.path or None), None
        if not isinstance(doc, dict) or not isinstance(doc.get("context"), dict):
            return self._bad_request("no context", "/context"), None
        context = doc["context"]
        try:
            header: signing.SignatureHeader | None = signing.parse_header(
                lowered.get(signing.AUTHORIZATION.lower(), ""))
        except signing.HeaderError:
            header = None  # only reachable when a fault switch lets bad headers through
        expected_sender = sender_id(context)
        if header is not None and expected_sender is not None and \
                header.subscriber_id != expected_sender and \
                signing.BAD_KEY_ID not in self.policy.ignore_signature_reasons:
            return self._unauthorized(
                f"signed by {header.subscriber_id!r} but the context names "
                f"{expected_sender!r} as the sender"), None
        if self.policy.check_sender_uri and expected_sender is not None:
            claimed = sender_uri(context)
            registered = await self.directory.subscriber_url(expected_sender)
            if claimed is not None and registered is not None and not same_uri(claimed,
                                                                                 registered):
                return self._bad_request(
                    f"context gives {claimed!r} for {expected_sender!r} but the registry "
                    f"holds {registered!r}", "/context"), None
        if self.admission is not None:
            problem = self.admission(action, doc)
            if problem is not None:
                return self._bad_request(problem, "/context"), None
        if self.policy.reject_replays and header is not None:
            now = time.time()
            if header.signature in self._seen:
                return self._unauthorized("replayed request: this signature was already used"), None
            if len(self._seen) > REPLAY_PURGE_AT:  # purge in batches, not per request
                self._seen = {s: e for s, e in self._seen.items()
                              if e + self.policy.skew_s >= now}
            self._seen[header.signature] = header.expires
        return None, doc

    async def _verify(self, raw: bytes, name: str, value: str | None,
                      claimed_digest: str | None) -> Response | None:
        key: str | None = None
        if value:
            try:
                parsed = signing.parse_header(value)
                key = await self.directory.trusted_key(parsed.subscriber_id,
                                                       parsed.unique_key_id)
            except signing.HeaderError:
                pass  # verify() reports the precise reason below
        result = signing.verify(raw, value, key, skew=self.policy.skew_s,
                                claimed_digest=claimed_digest)
        if result.valid or result.reason in self.policy.ignore_signature_reasons:
            return None
        return self._unauthorized(f"{name}: {result.reason}: {result.detail}")

    def _unauthorized(self, message: str) -> Response:
        return _json_response(envelope.nack(envelope.SIGNATURE_INVALID, message), 401,
                              {"WWW-Authenticate": envelope.www_authenticate(
                                  self.identity.subscriber_id)})

    @staticmethod
    def _bad_request(message: str, path: str | None) -> Response:
        return _json_response(envelope.nack(envelope.INVALID_REQUEST, message, path), 400)


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
    http: httpx.AsyncClient
    party: str = ""
    timeout_s: float = 10.0  # twice the default ACK bound: slow answers are measured, not lost
    sign: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)

    async def send(self, base_uri: str, action: str, body: dict[str, Any] | bytes, *,
                   headers: Mapping[str, str] | None = None,
                   tamper: Callable[[bytes], bytes] | None = None,
                   created: int | None = None, expires: int | None = None,
                   signer: signing.Signer | None = None, sign: bool | None = None,
                   note: str | None = None) -> Sent:
        """POST `{base_uri}/{action}`: the body is serialised once, and those exact bytes are
        signed and sent. `tamper` changes the bytes after signing (for hostile tests)."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        out_headers = {"Content-Type": "application/json", **self.extra_headers}
        if self.sign if sign is None else sign:
            out_headers[signing.AUTHORIZATION] = (signer or self.identity.signer).sign(
                raw, created, expires)
        out_headers.update(headers or {})
        if tamper is not None:
            raw = tamper(raw)
        url = f"{base_uri.rstrip('/')}/{action}"
        exchange = self.transcript.begin(OUTBOUND, self.party or self.identity.role, "POST",
                                         url, out_headers, raw, note=note)
        try:
            # Bounded in time and size: a peer that never answers or answers 10 MB is evidence.
            async with asyncio.timeout(self.timeout_s), self.http.stream(
                    "POST", url, content=raw, headers=out_headers,
                    timeout=self.timeout_s) as response:
                content, too_large = await _read_answer(response, MAX_BODY_BYTES)
        except (httpx.HTTPError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {self.timeout_s:g} s"
            self.transcript.finish(exchange, None, {}, b"", error=reason)
            return Sent(exchange, None, error=reason)
        error = f"answer larger than {MAX_BODY_BYTES} bytes; kept the first ones" \
            if too_large else None
        self.transcript.finish(exchange, response.status_code, dict(response.headers),
                               content, error=error)
        try:
            ack = None if too_large else orjson.loads(content)
        except orjson.JSONDecodeError:
            ack = None
        return Sent(exchange, response.status_code, ack, error=error)


async def _read_answer(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """An answer's body, or its first `limit` bytes and True when it is larger."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


async def _read_limited(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, or its first `limit` bytes and True when it is larger (we stop reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: max(0, limit - (size - len(chunk)))])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False
