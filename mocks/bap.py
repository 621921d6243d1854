"""The reference BAP: the counterparty the harness uses to certify a BPP.

It builds and sends every UBC request signed with its own key (discover to the CDS, the rest
to the BPP), verifies and records every callback through the shared inbox, and refuses bad
ones: unsigned, tampered, expired or wrong-key callbacks get a 401 NACK from the inbox, and a
callback for a transaction it never started, or a second callback to one request, gets a
400 NACK here. Scenarios and tests drive it with one awaitable per step:

    result = await bap.select(order, bpp_uri=..., bpp_id=...)
    result.ack        # the synchronous answer
    result.callback   # the on_select, once it arrived (None if it did not within the ttl)

The driver-facing `/v1` client API will sit on top of this class, calling the same methods.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.beckn import envelope
from harness.beckn.order import CORE_CONTEXT, UBC_CONTEXT, Order
from harness.beckn.time import duration_seconds
from harness.schemas import SchemaSet
from harness.transcript import INBOUND, Exchange, Transcript
from mocks.stack import DEFAULT_SEND_TIMEOUT_S, Directory, Identity, Inbound, Inbox, Outbox, Sent
from mocks.stack.inbox import STRAY_METHODS

CALLBACKS = tuple(envelope.REQUEST_OF)  # on_discover ... on_support, on_catalog_publish


@dataclass
class BapConfig:
    identity: Identity
    cds_uri: str | None = None
    ttl: str = envelope.DEFAULT_TTL
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S


@dataclass
class Call:
    """One request the BAP sent, its synchronous answer and, once it came, its callback."""

    action: str
    request: dict[str, Any]
    sent: Sent
    callback_exchange: Exchange | None = None

    @property
    def transaction_id(self) -> str:
        return str(self.request["context"]["transaction_id"])

    @property
    def message_id(self) -> str:
        return str(self.request["context"]["message_id"])

    @property
    def ack(self) -> Any:
        return self.sent.ack

    @property
    def callback(self) -> dict[str, Any] | None:
        if self.callback_exchange is None:
            return None
        doc = self.callback_exchange.json()
        return doc if isinstance(doc, dict) else None

    @property
    def order(self) -> Any:
        """`message.order` of the callback, when there is one."""
        doc = self.callback
        message = doc.get("message") if doc else None
        return message.get("order") if isinstance(message, dict) else None


@dataclass
class Transaction:
    id: str
    bpp_id: str | None = None
    bpp_uri: str | None = None
    requests: dict[str, str] = field(default_factory=dict)  # message_id -> action we sent
    answered: set[str] = field(default_factory=set)  # requests whose callback arrived

    @property
    def message_ids(self) -> set[str]:
        return set(self.requests)


class ReferenceBap:
    """A conforming BAP, driven by awaitables; state lives here, not in globals."""

    def __init__(self, config: BapConfig, transcript: Transcript, *, directory: Directory,
                 schemas: SchemaSet, http: httpx.AsyncClient | None = None,
                 ) -> None:
        self.config = config
        self.identity = config.identity
        self.transcript = transcript
        self.transactions: dict[str, Transaction] = {}
        self._lock = threading.Lock()
        self.http = http or httpx.AsyncClient()
        self.outbox = Outbox(self.identity, transcript, self.http, party="bap",
                             timeout_s=config.send_timeout_s)
        self.inbox = Inbox(self.identity, directory, transcript, schemas,
                           {action: self._on_callback for action in CALLBACKS},
                           party="bap", admission=self._admit)

    @property
    def ttl_s(self) -> float:
        return duration_seconds(self.config.ttl)

    # -- receiving -----------------------------------------------------------------------------

    def _admit(self, action: str, doc: dict[str, Any]) -> str | None:
        context = doc["context"]
        with self._lock:
            transaction = self.transactions.get(context.get("transaction_id"))
            message_id = context.get("message_id")
            if transaction is None:
                return f"unknown transaction_id {context.get('transaction_id')!r}"
            if message_id in transaction.requests:
                expected = envelope.CALLBACK_OF[transaction.requests[message_id]]
                if action == expected:
                    if message_id in transaction.answered and action != "on_discover":
                        return f"duplicate {action} for message_id {message_id!r}"
                    transaction.answered.add(message_id)
                    return None
                if action in envelope.UNSOLICITED:
                    return None  # unsolicited, wrongly reusing an id: judged by the harness
                return (f"{action} does not answer request {message_id!r}, which was a "
                        f"{transaction.requests[message_id]}")
            if action in envelope.UNSOLICITED:
                return None
            return f"{action} answers no request: unknown message_id {message_id!r}"

    async def _on_callback(self, inbound: Inbound) -> None:
        """Recorded by the inbox already; the BAP keeps the BPP's address for the next step
        (not from on_discover: the CDS signs that, and the catalog names the BPP)."""
        context = inbound.context
        with self._lock:
            transaction = self.transactions.get(context["transaction_id"])
            if transaction is not None and transaction.bpp_uri is None and \
                    inbound.action != "on_discover":
                transaction.bpp_id = context.get("bpp_id")
                transaction.bpp_uri = context.get("bpp_uri")

    # -- sending -------------------------------------------------------------------------------

    def transaction(self, transaction_id: str | None = None) -> Transaction:
        with self._lock:
            tid = transaction_id or envelope.new_id()
            return self.transactions.setdefault(tid, Transaction(tid))

    def build(self, action: str, message: dict[str, Any], *, transaction_id: str | None = None,
              bpp_id: str | None = None, bpp_uri: str | None = None,
              **context_overrides: Any) -> dict[str, Any]:
        transaction = self.transaction(transaction_id)
        bpp_id = bpp_id or transaction.bpp_id
        bpp_uri = bpp_uri or transaction.bpp_uri
        ctx = envelope.context(action, transaction_id=transaction.id,
                               bap_id=self.identity.subscriber_id, bap_uri=self.identity.uri,
                               bpp_id=None if action == "discover" else bpp_id,
                               bpp_uri=None if action == "discover" else bpp_uri,
                               ttl=self.config.ttl)
        if action == "discover":
            ctx["schema_context"] = [f"{CORE_CONTEXT.rsplit('/core/', 1)[0]}"
                                     "/EvChargingService/v1/context.jsonld"]
        ctx.update(context_overrides)
        with self._lock:
            transaction.requests[ctx["message_id"]] = action
            if bpp_uri and action != "discover":
                transaction.bpp_id, transaction.bpp_uri = bpp_id, bpp_uri
        return {"context": ctx, "message": message}

    async def send(self, action: str, message: dict[str, Any], *, to: str | None = None,
                   wait: bool = True, timeout: float | None = None,
                   transaction_id: str | None = None, bpp_id: str | None = None,
                   bpp_uri: str | None = None, context: dict[str, Any] | None = None,
                   **send_options: Any) -> Call:
        """Send one request and, with `wait`, wait up to the ttl for its callback."""
        doc = self.build(action, message, transaction_id=transaction_id, bpp_id=bpp_id,
                         bpp_uri=bpp_uri, **(context or {}))
        target = to or (self.config.cds_uri if action == "discover" else
                        doc["context"].get("bpp_uri"))
        if not target:
            raise ValueError(f"no address to send {action} to: give bpp_uri or to=")
        sent = await self.outbox.send(target, action, doc, **send_options)
        call = Call(action, doc, sent)
        if wait and sent.acked:
            await self.wait_callback(call, timeout)
        return call

    async def wait_callback(self, call: Call, timeout: float | None = None) -> Exchange | None:
        """The callback answering `call`, waiting at most `timeout` (default: the ttl)."""
        expected = envelope.CALLBACK_OF[call.action]
        call.callback_exchange = await self.transcript.wait_for_async(
            _answers(call, expected), self.ttl_s if timeout is None else timeout,
            transaction_id=call.transaction_id)
        return call.callback_exchange

    async def wait_unsolicited(self, transaction_id: str, action: str, *, after: float = 0.0,
                               timeout: float | None = None,
                               predicate: Any = None) -> Exchange | None:
        """An accepted unsolicited callback of this transaction that arrived after `after`
        (a monotonic time) and satisfies `predicate(doc)`."""
        with self._lock:
            ours = set(self.transactions.get(transaction_id, Transaction("")).message_ids)

        def matches(exchange: Exchange) -> bool:
            return (exchange.direction == INBOUND and exchange.party == "bap"
                    and exchange.action == action and exchange.transaction_id == transaction_id
                    and exchange.message_id not in ours and exchange.mono_time >= after
                    and exchange.status == 200
                    and (predicate is None or predicate(exchange.json())))
        return await self.transcript.wait_for_async(
            matches, self.ttl_s if timeout is None else timeout, transaction_id=transaction_id)

    # -- the UBC steps -------------------------------------------------------------------------

    async def discover(self, *, filters: str | None = None,
                       spatial: list[dict[str, Any]] | None = None,
                       text: str | None = None, **options: Any) -> Call:
        message: dict[str, Any] = {}
        if text:
            message["text_search"] = text
        if filters:
            message["filters"] = {"type": "jsonpath", "expression": filters}
        if spatial:
            message["spatial"] = spatial
        return await self.send("discover", message, **options)

    async def select(self, order: Order, **options: Any) -> Call:
        return await self.send("select", {"order": order.to_beckn()}, **options)

    async def init(self, order: Order, **options: Any) -> Call:
        return await self.send("init", {"order": order.to_beckn()}, **options)

    async def confirm(self, order: Order, **options: Any) -> Call:
        return await self.send("confirm", {"order": order.to_beckn()}, **options)

    async def status(self, order: Order, **options: Any) -> Call:
        return await self.send("status", {"order": order.to_beckn(full=False)}, **options)

    async def track(self, order: Order, **options: Any) -> Call:
        return await self.send("track", {"order": order.to_beckn(full=False)}, **options)

    async def update(self, order: Order, **options: Any) -> Call:
        """Start or stop: the session status in the order's fulfillment says which."""
        return await self.send("update", {"order": order.to_beckn()}, **options)

    async def cancel(self, order: Order, **options: Any) -> Call:
        return await self.send("cancel", {"order": order.to_beckn(full=False)}, **options)

    async def rating(self, order: Order, value: int = 4, comment: str = "Smooth session",
                     **options: Any) -> Call:
        ratings = [{"@context": CORE_CONTEXT, "@type": "beckn:RatingInput", "id": order.item_id,
                    "ratingValue": value, "bestRating": 5, "worstRating": 1,
                    "category": "ITEM", "feedback": {"comments": comment, "tags": []}}]
        return await self.send("rating", {"ratings": ratings}, **options)

    async def support(self, order: Order, comment: str = "Charger display unreadable",
                      **options: Any) -> Call:
        buyer = order.buyer
        message = {
            "refId": order.id or "", "refType": "ORDER",
            "support": {"@context": CORE_CONTEXT, "@type": "beckn:SupportInfo",
                        "name": buyer.name, "phone": buyer.phone, "email": buyer.email,
                        "channels": ["PHONE"]},
            "feedback": {"@context": UBC_CONTEXT, "@type": "SupportFeedback",
                         "comments": comment, "tags": ["charger-issue"],
                         "supportStatus": "OPEN"},
        }
        return await self.send("support", message, **options)

    async def aclose(self) -> None:
        await self.http.aclose()


def _answers(call: Call, callback_action: str) -> Any:
    def matches(exchange: Exchange) -> bool:
        return (exchange.direction == INBOUND and exchange.party == "bap"
                and exchange.action == callback_action
                and exchange.transaction_id == call.transaction_id
                and exchange.message_id == call.message_id)
    return matches


def create_app(bap: ReferenceBap) -> Starlette:
    """The BAP's Beckn callback endpoints (at the path of its URI) and a health probe."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"role": "bap", "subscriber_id": bap.identity.subscriber_id})

    routes = [*bap.inbox.routes(record_strays=True), Route("/_health", health),
              Route("/{rest:path}", bap.inbox.stray, methods=STRAY_METHODS)]
    return Starlette(routes=routes)
