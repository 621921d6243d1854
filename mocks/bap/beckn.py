"""The reference BAP: the counterparty the harness uses to certify a BPP.

It builds and sends every UBC request signed with its own key (discover to the CDS, the rest
to the BPP), verifies and records every callback through the shared inbox, and refuses bad
ones: unsigned, tampered, expired or wrong-key callbacks get a 401 NACK from the inbox, and a
callback for a transaction it never started, or a second callback to one request, gets a
400 NACK here. Scenarios and tests drive it with one awaitable per step:

    result = await bap.select(order, bpp_uri=..., bpp_id=...)
    result.ack        # the synchronous answer
    result.callback   # the on_select, once it arrived (None if it did not within the ttl)

The driver-facing `/v1` client API (service.py) sits on top of this class: it sends through
`send`, waits for accepted callbacks with `answer` and `answers`, and follows unsolicited ones
through `observe`. Fault switches (faults.py) act at the hooks here: the context and signer of
each request and the inbox's steps.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.beckn import envelope
from harness.beckn.order import CORE_CONTEXT, UBC_CONTEXT, Order
from harness.beckn.time import duration_seconds
from harness.schemas import SchemaSet
from harness.transcript import INBOUND, Exchange, Transcript
from mocks.bap.config import BapConfig
from mocks.bap.faults import FaultSwitches
from mocks.stack import Directory, Inbound, Inbox, Outbox, Safeguards, Sent, Wire, wire

CALLBACKS = tuple(envelope.REQUEST_OF)  # on_discover ... on_support, on_catalog_publish
# Transactions remembered, the least recently used let go first: a BAP up for days
# (`ubc-cert serve`) starts one per request it is asked to send. A callback in one let go of is
# refused as of an unknown transaction.
TRANSACTIONS = 4096
Observer = Callable[[Inbound], Awaitable[None]]
Screen = Callable[[str, dict[str, Any]], str | None]  # (action, callback) -> why refused


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
class Answers:
    """The callbacks that answered one request: the documents of those the app accepted, and
    how many it refused."""

    accepted: list[dict[str, Any]]
    refused: int = 0


@dataclass
class Transaction:
    id: str
    bpp_id: str | None = None
    bpp_uri: str | None = None
    requests: dict[str, str] = field(default_factory=dict)  # message_id -> action we sent
    # (message_id, callback action) of the callbacks that arrived: a message id a faulty app
    # reused for a second request is answered once per request
    answered: set[tuple[str, str]] = field(default_factory=set)

    @property
    def message_ids(self) -> set[str]:
        return set(self.requests)


class ReferenceBap:
    """A conforming BAP, driven by awaitables; state lives here, not in globals."""

    def __init__(self, config: BapConfig, transcript: Transcript, *, directory: Directory,
                 schemas: SchemaSet, http: Wire | httpx.AsyncClient | None = None,
                 party: str = "bap", safeguards: Safeguards | None = None) -> None:
        self.config = config
        self.identity = config.identity
        self.transcript = transcript
        self.party = party  # how the transcript names what it sends and receives
        self.transactions: dict[str, Transaction] = {}  # least recently used first
        self.max_transactions = TRANSACTIONS
        self._lock = threading.Lock()
        self.http = wire(http)
        safeguards = safeguards or Safeguards()
        self.outbox = Outbox(self.identity, transcript, self.http, party=party,
                             outbound=safeguards.outbound,
                             timeout_s=config.send_timeout_s)
        self.inbox = Inbox(self.identity, directory, transcript, schemas,
                           {action: self._on_callback for action in CALLBACKS},
                           party=party, admission=self._admit, safeguards=safeguards)
        self.switches = FaultSwitches(self.identity, self.inbox, config.faults,
                                      foreign_signer=config.foreign_signer)
        self._observers: list[Observer] = []
        self._screens: list[Screen] = []

    @property
    def ttl_s(self) -> float:
        return duration_seconds(self.config.ttl)

    # -- receiving -----------------------------------------------------------------------------

    def _admit(self, action: str, doc: dict[str, Any]) -> str | None:
        """Why a callback is refused (400 NACK), None to take it: a transaction this BAP never
        started, a callback from another BPP than the transaction's, a second callback to one
        request, a callback answering no request of ours;
        then, for one no request of ours asked for, whatever a screen of those who follow the
        BAP's callbacks finds (`screen`). An answer it asked for is the answer, however late."""
        context = doc["context"]
        with self._lock:
            transaction = self.transactions.get(context.get("transaction_id"))
            message_id = context.get("message_id")
            if transaction is None:
                return f"unknown transaction_id {context.get('transaction_id')!r}"
            sender = context.get("bpp_id")
            if action != "on_discover" and transaction.bpp_id is not None and \
                    sender != transaction.bpp_id:
                foreign = self.switches.foreign_bpp_refusal(
                    f"{action} from {sender!r}, but transaction "
                    f"{context.get('transaction_id')!r} is with {transaction.bpp_id!r}")
                if foreign is not None:
                    return foreign
            if message_id in transaction.requests:
                expected = envelope.CALLBACK_OF[transaction.requests[message_id]]
                if action == expected:
                    if (message_id, action) in transaction.answered and \
                            action != "on_discover":
                        return f"duplicate {action} for message_id {message_id!r}"
                    transaction.answered.add((message_id, action))
                    return None
                if action not in envelope.UNSOLICITED:  # (one reusing an id: the harness's)
                    return (f"{action} does not answer request {message_id!r}, which was a "
                            f"{transaction.requests[message_id]}")
            elif action not in envelope.UNSOLICITED:
                return f"{action} answers no request: unknown message_id {message_id!r}"
            return next((reason for screen in self._screens
                         if (reason := screen(action, doc)) is not None), None)

    async def _on_callback(self, inbound: Inbound) -> None:
        """Recorded by the inbox already; the BAP keeps the BPP's address for the next step
        (not from on_discover: the CDS signs that, and the catalog names the BPP), then hands
        the callback to its observers (the client API's orders)."""
        context = inbound.context
        with self._lock:
            transaction = self.transactions.get(context["transaction_id"])
            if transaction is not None and transaction.bpp_uri is None and \
                    inbound.action != "on_discover":
                transaction.bpp_id = context.get("bpp_id")
                transaction.bpp_uri = context.get("bpp_uri")
        for observer in list(self._observers):
            await observer(inbound)

    def observe(self, observer: Observer) -> None:
        """Call `observer` with every callback the inbox accepted, after its ACK."""
        self._observers.append(observer)

    def screen(self, screen: Screen) -> None:
        """Refuse an unsolicited callback for which `screen(action, doc)` gives a reason, once
        it passed the BAP's own rules (called under the BAP's lock: it must not call back into
        it)."""
        self._screens.append(screen)

    def solicited(self, inbound: Inbound) -> bool:
        """Whether this callback answers a request the BAP sent (else it is unsolicited)."""
        context = inbound.context
        with self._lock:
            transaction = self.transactions.get(str(context.get("transaction_id")))
            return transaction is not None and context.get("message_id") in transaction.requests \
                and envelope.CALLBACK_OF.get(
                    transaction.requests[context["message_id"]]) == inbound.action

    # -- sending -------------------------------------------------------------------------------

    def transaction(self, transaction_id: str | None = None) -> Transaction:
        """The transaction, started if new; the least recently used forgotten past
        `max_transactions`."""
        with self._lock:
            tid = transaction_id or envelope.new_id()
            transaction = self.transactions.pop(tid, None) or Transaction(tid)
            self.transactions[tid] = transaction  # the most recently used, last
            while len(self.transactions) > self.max_transactions:
                del self.transactions[next(iter(self.transactions))]
            return transaction

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
            used = list(transaction.requests)
        ctx = self.switches.context(ctx, used)
        transaction = self.transaction(str(ctx["transaction_id"]))  # a fault may change it
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
        if "signer" not in send_options:
            send_options["signer"] = self.switches.signer()
        sent = await self.outbox.send(target, action, doc, **send_options)
        call = Call(action, doc, sent)
        if wait and sent.acked:
            await self.wait_callback(call, timeout)
        return call

    async def wait_callback(self, call: Call, timeout: float | None = None) -> Exchange | None:
        """The callback answering `call`, waiting at most `timeout` (default: the ttl)."""
        expected = envelope.CALLBACK_OF[call.action]
        call.callback_exchange = await self.transcript.wait_for_async(
            _answers(call, expected, self.party), self.ttl_s if timeout is None else timeout,
            transaction_id=call.transaction_id)
        return call.callback_exchange

    async def answer(self, call: Call, timeout: float | None = None) -> dict[str, Any] | None:
        """The callback answering `call` that the inbox accepted (ACKed), waiting at most
        `timeout` (default: the ttl); a refused one does not count."""
        exchange = await self.transcript.wait_for_async(
            _accepted(_answers(call, envelope.CALLBACK_OF[call.action], self.party)),
            self.ttl_s if timeout is None else timeout, transaction_id=call.transaction_id)
        doc = exchange.json() if exchange is not None else None
        return doc if isinstance(doc, dict) else None

    async def answers(self, call: Call, *, settle: float,
                      timeout: float | None = None) -> Answers:
        """Every callback answering `call` (on_discover may come from the CDS's cache and from
        each BPP it asked) until `settle` seconds pass without a new one, at most `timeout`
        (default: the ttl) in all. A refused one counts as come: once the answers stop, an
        app that refused them all has nothing left to wait for."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.ttl_s if timeout is None else timeout)
        answering = _answers(call, envelope.CALLBACK_OF[call.action], self.party)
        came: dict[str, Exchange] = {}
        while (remaining := deadline - loop.time()) > 0:
            exchange = await self.transcript.wait_for_async(
                lambda e: answering(e) and e.status is not None and e.id not in came,
                min(settle, remaining) if came else remaining,
                transaction_id=call.transaction_id)
            if exchange is None:
                break
            came[exchange.id] = exchange
        accepted = [doc for e in came.values() if e.status == 200
                    and isinstance(doc := e.json(), dict) and doc]
        return Answers(accepted, refused=sum(e.status != 200 for e in came.values()))

    async def wait_unsolicited(self, transaction_id: str, action: str, *, after: float = 0.0,
                               timeout: float | None = None,
                               predicate: Any = None) -> Exchange | None:
        """An accepted unsolicited callback of this transaction that arrived after `after`
        (a monotonic time) and satisfies `predicate(doc)`."""
        with self._lock:
            ours = set(self.transactions.get(transaction_id, Transaction("")).message_ids)

        def matches(exchange: Exchange) -> bool:
            return (exchange.direction == INBOUND and exchange.party == self.party
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


def _accepted(matches: Callable[[Exchange], bool]) -> Callable[[Exchange], bool]:
    return lambda exchange: exchange.status == 200 and matches(exchange)


def _answers(call: Call, callback_action: str, party: str) -> Any:
    def matches(exchange: Exchange) -> bool:
        return (exchange.direction == INBOUND and exchange.party == party
                and exchange.action == callback_action
                and exchange.transaction_id == call.transaction_id
                and exchange.message_id == call.message_id)
    return matches

