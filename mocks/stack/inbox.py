"""The inbox: how every party of the mock network receives a signed Beckn request.

A request passes a list of named steps (`STEPS`, in order), each of which may refuse it:

- `signature`: 401 + `WWW-Authenticate` when `Authorization` (and `X-Gateway-Authorization`,
  when present) does not verify against the key the registry holds;
- `window`: 401 when the `Authorization` signature is valid for longer than the party accepts
  (UBC-SIG-015: one hour, plus the clock skew; `Safeguards.max_validity_s`), since its replays
  would have to be remembered that long;
- `json`: 400 when the body is not JSON;
- `schema`: 400 with the error in the NACK (TSD §13) when envelope, context or message is
  invalid for the route's action;
- `context`: 400 when there is no context object;
- `signer`: 401 when the keyId names someone other than the sender in the context;
- `sender-uri`: 400 when the sender's URI in the context is not the one the registry holds;
- `party`: 400 by the party's own rule (the BAP refuses callbacks of unknown transactions);
- `replay`: 401 when this exact signature was used before (remembered until it expires, in
  the network's replay memory, mocks/stack/replays.py, which outlives a restart).

Bodies over 1 MB are refused (413), and bodies not whole within BODY_TIMEOUT_S (408), before
any step. An accepted request is recorded, ACKed in the UBC shape, and only then handed to the
party's handler, so callbacks are asynchronous.
A party that must misbehave on purpose (the reference BPP's faults) replaces a named step with
`Inbox.replace_step`; nothing else in the inbox knows about faults.

Callback address: the mocks send callbacks to the context's URI, and accept a request only when
that URI agrees with the sender's registry record (trailing slashes aside), so stacks that call
back to the registry URL (beckn/protocol-server) reach the same place.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.beckn import envelope, signing
from harness.schemas import SchemaSet
from harness.transcript import INBOUND, NOT_PARSED, STRAY, Exchange, Transcript
from mocks.stack.directory import Directory, RegistryUnavailable
from mocks.stack.http import MAX_BECKN_BODY_BYTES, BodyTimeout, json_response, read_body
from mocks.stack.identity import Identity
from mocks.stack.safeguards import Safeguards

log = logging.getLogger("ubc.mocks")

STRAY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


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


@dataclass
class Arrival:
    """A request on its way through the steps; steps fill in what they learn."""

    action: str
    raw: bytes
    headers: dict[str, str]  # lower-cased names
    doc: Any = None
    # the body as parsed on arrival (for the transcript), taken by the json step: parsed once
    parsed: Any = NOT_PARSED
    header: signing.SignatureHeader | None = None  # the parsed Authorization, once verified
    gateway: signing.SignatureHeader | None = None  # and X-Gateway-Authorization, if sent

    @property
    def context(self) -> dict[str, Any]:
        context = self.doc.get("context") if isinstance(self.doc, dict) else None
        return context if isinstance(context, dict) else {}


Step = Callable[["Inbox", Arrival], Awaitable[Response | None]]
Handler = Callable[[Inbound], Awaitable[None]]
# A party's own acceptance rule, run after the shared checks: an error message means 400 NACK.
Admission = Callable[[str, dict[str, Any]], str | None]


def same_uri(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def unauthorized(inbox: Inbox, message: str) -> Response:
    return json_response(envelope.nack(envelope.SIGNATURE_INVALID, message), 401,
                         {"WWW-Authenticate": envelope.www_authenticate(
                             inbox.identity.subscriber_id)})


def registry_unavailable(message: str) -> Response:
    """503: the sender's key could not be looked up; it may send again (Retry-After)."""
    return json_response(envelope.nack(envelope.REGISTRY_UNAVAILABLE, message), 503,
                         {"Retry-After": "5"})


def bad_request(message: str, path: str | None) -> Response:
    return json_response(envelope.nack(envelope.INVALID_REQUEST, message, path), 400)


# -- the steps ----------------------------------------------------------------------------------

def verify_signatures(*, skew_s: float = signing.DEFAULT_SKEW_S,
                      ignore: frozenset[str] = frozenset()) -> Step:
    """Authorization (and X-Gateway-Authorization when present) verify against the registry
    key. `ignore` lists reasons let through (a fault of the reference BPP)."""
    async def signature(inbox: Inbox, arrival: Arrival) -> Response | None:
        for name in (signing.AUTHORIZATION, signing.GATEWAY_AUTHORIZATION):
            value = arrival.headers.get(name.lower())
            if value is None and name == signing.GATEWAY_AUTHORIZATION:
                continue
            key: str | None = None
            parsed: signing.SignatureHeader | None = None
            if value:
                try:
                    parsed = signing.parse_header(value)
                    key = await inbox.directory.trusted_key(parsed.subscriber_id,
                                                            parsed.unique_key_id)
                except signing.HeaderError:
                    pass  # verify() reports the precise reason below
                except RegistryUnavailable as exc:
                    return registry_unavailable(f"{name}: cannot look up {parsed.subscriber_id}"
                                                f"|{parsed.unique_key_id}: {exc}"
                                                if parsed else str(exc))
            result = signing.verify(arrival.raw, value, key, skew=skew_s,
                                    claimed_digest=arrival.headers.get("digest"))
            if not result.valid and result.reason not in ignore:
                return unauthorized(inbox, f"{name}: {result.reason}: {result.detail}")
            if name == signing.AUTHORIZATION:
                arrival.header = parsed
            else:
                arrival.gateway = parsed
        return None
    return signature


async def parse_json(inbox: Inbox, arrival: Arrival) -> Response | None:
    if arrival.parsed is not NOT_PARSED:
        arrival.doc = arrival.parsed
        return None
    try:
        arrival.doc = orjson.loads(arrival.raw)
    except orjson.JSONDecodeError as exc:
        return bad_request(f"body is not JSON: {exc}", None)
    return None


async def validate_schema(inbox: Inbox, arrival: Arrival) -> Response | None:
    findings = [f for f in inbox.schemas.validate(arrival.doc, expected_action=arrival.action)
                if f.is_error]
    if findings:
        first = findings[0]
        return bad_request(f"{first.rule}: {first.message}", first.path or None)
    return None


async def require_context(inbox: Inbox, arrival: Arrival) -> Response | None:
    if not isinstance(arrival.doc, dict) or not isinstance(arrival.doc.get("context"), dict):
        return bad_request("no context", "/context")
    return None


async def signer_is_sender(inbox: Inbox, arrival: Arrival) -> Response | None:
    expected = envelope.sender_of(arrival.context)
    header = arrival.header
    if header is not None and expected is not None and header.subscriber_id != expected:
        return unauthorized(inbox, f"signed by {header.subscriber_id!r} but the context names "
                                   f"{expected!r} as the sender")
    return None


async def sender_uri_registered(inbox: Inbox, arrival: Arrival) -> Response | None:
    sender = envelope.sender_of(arrival.context)
    claimed = envelope.sender_uri_of(arrival.context)
    if sender is None or claimed is None:
        return None
    try:
        registered = await inbox.directory.subscriber_url(sender)
    except RegistryUnavailable as exc:
        return registry_unavailable(f"cannot look up {sender}: {exc}")
    if registered is not None and not same_uri(claimed, registered):
        return bad_request(f"context gives {claimed!r} for {sender!r} but the registry holds "
                           f"{registered!r}", "/context")
    return None


async def party_rule(inbox: Inbox, arrival: Arrival) -> Response | None:
    if inbox.admission is None:
        return None
    problem = inbox.admission(arrival.action, arrival.doc)
    return bad_request(problem, "/context") if problem is not None else None


async def bounded_window(inbox: Inbox, arrival: Arrival) -> Response | None:
    """A signature valid longer than the party accepts is refused, however well it verifies:
    the sender's (Authorization) and a gateway's (X-Gateway-Authorization) alike."""
    limit = inbox.safeguards.max_validity_s
    for name, header in ((signing.AUTHORIZATION, arrival.header),
                         (signing.GATEWAY_AUTHORIZATION, arrival.gateway)):
        if header is None or header.expires - header.created <= limit:
            continue
        return unauthorized(inbox, (
            f"{name}: the signature is valid for "
            f"{header.expires - header.created} s (created={header.created}, "
            f"expires={header.expires}), longer than the {limit:g} s this party accepts "
            f"(UBC-SIG-015: at most {signing.MAX_VALIDITY_S} s, plus the clock skew): sign "
            "with expires = created + the message's ttl"))
    return None


async def refuse_replays(inbox: Inbox, arrival: Arrival) -> Response | None:
    header = arrival.header
    if header is None:
        return None
    # Remembered as long as the signature could verify: past that, it is refused as expired.
    if not inbox.safeguards.replays.first_use(inbox.party, header.signature,
                                              header.expires + signing.DEFAULT_SKEW_S):
        return unauthorized(inbox, "replayed request: this signature was already used")
    return None


async def skip(inbox: Inbox, arrival: Arrival) -> Response | None:
    """A step switched off (a fault of the reference BPP)."""
    return None


def default_steps() -> dict[str, Step]:
    return {
        "signature": verify_signatures(),
        "window": bounded_window,
        "json": parse_json,
        "schema": validate_schema,
        "context": require_context,
        "signer": signer_is_sender,
        "sender-uri": sender_uri_registered,
        "party": party_rule,
        "replay": refuse_replays,
    }


STEPS = tuple(default_steps())


# -- the inbox ----------------------------------------------------------------------------------

@dataclass
class Inbox:
    """Receives signed Beckn requests for one party and hands accepted ones to its handlers."""

    identity: Identity
    directory: Directory
    transcript: Transcript
    schemas: SchemaSet
    handlers: Mapping[str, Handler]
    party: str = ""
    admission: Admission | None = None
    steps: dict[str, Step] = field(default_factory=default_steps)
    safeguards: Safeguards = field(default_factory=Safeguards)
    _prefix: tuple[str, str] = field(default=("", ""), init=False, repr=False)  # uri, path/
    # awaited before an accepted request is ACKed: a party whose work is backed up makes its
    # senders wait for the ACK (each sender's own pace), rather than queue callbacks for ever
    pace: Callable[[], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        self.handlers = dict(self.handlers)
        self.party = self.party or self.identity.role

    def replace_step(self, name: str, step: Step) -> None:
        if name not in self.steps:
            raise KeyError(f"no inbox step {name!r}; steps: {', '.join(self.steps)}")
        self.steps[name] = step

    def reset_steps(self) -> None:
        self.steps = default_steps()

    def loosen(self, ignored: frozenset[str], replaced: Mapping[str, Step]) -> None:
        """The default steps, but signatures failing for the `ignored` reasons let through
        and the `replaced` steps swapped (a reference party's faults)."""
        self.reset_steps()
        if ignored:
            self.replace_step("signature", verify_signatures(ignore=ignored))
        for name, step in replaced.items():
            self.replace_step(name, step)

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

    def front(self) -> Middleware:
        """A Starlette middleware taking this inbox's `POST {uri path}/{action}` straight to
        it, past the exception middleware, the router and the mount the routes above would
        cost each request (about a tenth of a party's CPU under load); any other request goes
        on to the routes, which answer it as before. Errors still end in the app's handler
        of unexpected errors, which sits outside every middleware."""
        return Middleware(InboxFront, inbox=self)

    def action_at(self, path: str) -> str | None:
        """The handled action that `POST path` reaches, if any."""
        uri, prefix = self._prefix
        if uri != self.identity.uri:
            uri = self.identity.uri
            prefix = urlsplit(uri).path.rstrip("/") + "/"
            self._prefix = (uri, prefix)
        if not path.startswith(prefix):
            return None
        action = path[len(prefix):]
        return action if action in self.handlers else None

    async def stray(self, request: Request) -> Response:
        """A request to no endpoint of this party: recorded, then 404 with a NACK."""
        try:
            raw, _ = await read_body(request, MAX_BECKN_BODY_BYTES)
        except BodyTimeout as late:
            return self._too_slow(request, late, note=STRAY)
        exchange = self.transcript.begin(INBOUND, self.party, request.method, str(request.url),
                                         dict(request.headers), raw, note=STRAY)
        return self._finish(exchange, json_response(envelope.nack(
            envelope.INVALID_REQUEST, f"no endpoint {request.method} {request.url.path}; "
            f"Beckn endpoints are POST {self.identity.uri}/{{action}}"), 404))

    def _endpoint(self, action: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.receive(action, request)
        return endpoint

    async def receive(self, action: str, request: Request) -> Response:
        try:
            raw, too_large = await read_body(request, MAX_BECKN_BODY_BYTES)
        except BodyTimeout as late:
            return self._too_slow(request, late)
        headers = dict(request.headers)
        parsed = NOT_PARSED
        if not too_large:
            with contextlib.suppress(orjson.JSONDecodeError):  # the json step says what is wrong
                parsed = orjson.loads(raw)
        exchange = self.transcript.begin(INBOUND, self.party, request.method, str(request.url),
                                         headers, raw, doc=parsed)
        if too_large:
            response = json_response(envelope.nack(
                envelope.BODY_TOO_LARGE, f"body exceeds {MAX_BECKN_BODY_BYTES} bytes"), 413)
            return self._finish(exchange, response)
        refusal, doc = await self.admit(action, raw, headers, parsed=parsed)
        if refusal is not None:
            return self._finish(exchange, refusal)
        if self.pace is not None:
            await self.pace()
        inbound = Inbound(action, doc, raw, exchange)
        task = BackgroundTask(self._run_handler, self.handlers[action], inbound)
        return self._finish(exchange, json_response(envelope.ack(), 200, background=task))

    def _too_slow(self, request: Request, late: BodyTimeout, note: str | None = None
                  ) -> Response:
        """408 with a NACK for a body that did not arrive in time; recorded with what came."""
        exchange = self.transcript.begin(INBOUND, self.party, request.method, str(request.url),
                                         dict(request.headers), late.received, note=note)
        return self._finish(exchange, json_response(
            envelope.nack(envelope.BODY_TIMEOUT, late.message), 408, late.headers))

    def _finish(self, exchange: Exchange, response: Response) -> Response:
        self.transcript.finish(exchange, response.status_code, dict(response.headers),
                               bytes(response.body))
        return response

    async def _run_handler(self, handler: Handler, inbound: Inbound) -> None:
        try:
            await handler(inbound)
        except Exception:  # a party's bug must not take the server down; it is logged
            log.exception("%s handler for %s failed", self.party, inbound.action)

    async def admit(self, action: str, raw: bytes, headers: Mapping[str, str], *,
                    parsed: Any = NOT_PARSED) -> tuple[Response | None, Any]:
        """None and the parsed body when every step accepts the request, else the refusal.
        `parsed`: the body parsed already; the json step takes it rather than parse again."""
        arrival = Arrival(action, raw, {k.lower(): v for k, v in headers.items()},
                          parsed=parsed)
        for step in list(self.steps.values()):
            refusal = await step(self, arrival)
            if refusal is not None:
                return refusal, None
        return None, arrival.doc


class InboxFront:
    """ASGI middleware: a handled action's POST goes to the inbox without routing
    (Inbox.front)."""

    def __init__(self, app: ASGIApp, inbox: Inbox) -> None:
        self.app = app
        self.inbox = inbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            action = self.inbox.action_at(scope["path"])
            if action is not None:
                response = await self.inbox.receive(action, Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
