"""The CDS as a Beckn party: its inbox and outbox, publication, discover and fan-out.

- `catalog_publish` (BPP -> CDS): ACK, then judge every catalog (publish.py), cache what is
  accepted and answer `on_catalog_publish` to the publisher with one result per catalog.
- `discover` (BAP -> CDS): ACK, then answer `on_discover` from the cache first (query.py: one
  catalog per cached catalog with a match, keeping the real BPP's `beckn:bppId`/`bppUri`).
  Then fan out (TSD §8.5.1): every BPP its Directory trusts now (SUBSCRIBED, within validity)
  that has no live catalog here gets the discover, signed by the CDS as the BAP (bap_id/bap_uri
  = the CDS, same transaction_id and message_id); each `on_discover` such a BPP sends back
  within the discover's ttl is relayed to the BAP, re-signed by the CDS, after the cache
  answer. Every on_discover the BAP gets names the CDS as bpp_id/bpp_uri (as 02_on_discover
  does); the catalogs name the BPPs. A discover the CDS cannot interpret gets `catalogs: []`
  and an `error` (code 30000) in its on_discover, and is not fanned out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from harness.beckn import envelope
from harness.beckn import time as wire_time
from harness.beckn.subscriber import record_url
from harness.schemas import SchemaSet
from harness.transcript import Transcript
from mocks.cds.cache import CatalogCache
from mocks.cds.publish import (
    DEFAULT_VALIDITY_S,
    CatalogJudge,
    Judgement,
    PublishTolerantSchemas,
)
from mocks.cds.query import DiscoverError, Selection, discover_selection, matching_catalog
from mocks.stack import Directory, Identity, Inbound, Inbox, Outbox, Safeguards, Wire, wire
from mocks.stack.inbox import Step

log = logging.getLogger("ubc.mocks.cds")

DEFAULT_TTL_S = 30.0  # when a discover's ttl is not a duration we can read

Clock = Callable[[], float]


@dataclass
class CdsConfig:
    """How the CDS behaves; `clock` (epoch seconds) decides cache validity and can be faked."""

    identity: Identity
    default_validity_s: float = DEFAULT_VALIDITY_S
    clock: Clock = time.time
    fan_out: bool = True
    reject_foreign_catalogs: bool = True  # catalog bppId/bppUri must be the publisher's
    send_timeout_s: float = 5.0


@dataclass
class PendingDiscover:
    """A discover forwarded to BPPs, waiting for their on_discover until `deadline`."""

    request: dict[str, Any]
    targets: dict[str, str]  # bpp_id -> url the discover went to
    deadline: float  # loop time
    cache_answered: asyncio.Event


@dataclass
class _Tasks:
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cds task failed", exc_info=task.exception())

    async def cancel_all(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)


class CatalogDiscoveryService:
    """The CDS's state and behaviour: cache, pending fan-outs, inbox and outbox."""

    def __init__(self, config: CdsConfig, transcript: Transcript, *, directory: Directory,
                 schemas: SchemaSet, http: Wire | httpx.AsyncClient | None = None,
                 steps: Mapping[str, Step] | None = None,
                 safeguards: Safeguards | None = None) -> None:
        self.config = config
        self.identity = config.identity
        self.transcript = transcript
        self.schemas = schemas
        self.directory = directory
        self.catalog_judge = CatalogJudge(
            schemas, reject_foreign_catalogs=config.reject_foreign_catalogs,
            default_validity_s=config.default_validity_s)
        self.cache = CatalogCache()
        self.pending: dict[tuple[str, str], PendingDiscover] = {}
        self._owns_http = http is None
        self.http = wire(http)
        self._tasks = _Tasks()
        safeguards = safeguards or Safeguards()
        self.outbox = Outbox(self.identity, transcript, self.http, party="cds",
                             outbound=safeguards.outbound,
                             timeout_s=config.send_timeout_s)
        self.inbox = Inbox(
            self.identity, directory, transcript,
            cast(SchemaSet, PublishTolerantSchemas(schemas)),
            {"catalog_publish": self._on_catalog_publish, "discover": self._on_discover,
             "on_discover": self._on_bpp_answer},
            party="cds", admission=self._admit, safeguards=safeguards)
        for name, step in (steps or {}).items():  # e.g. signature checks off for fuzzing
            self.inbox.replace_step(name, step)

    def now(self) -> float:
        return self.config.clock()

    # -- publication ---------------------------------------------------------------------------

    def index(self, context: dict[str, Any], catalogs: list[Any]) -> list[dict[str, Any]]:
        """Judge the catalogs of one catalog_publish, cache what is accepted, and return the
        on_catalog_publish results (one per catalog, in order)."""
        results = []
        for position, catalog in enumerate(catalogs):
            judgement = self.judge(context, position, catalog)
            if judgement.entry is not None:
                self.cache.put(judgement.entry)
            results.append(judgement.result)
        return results

    def judge(self, context: dict[str, Any], position: int, catalog: Any) -> Judgement:
        """The outcome of one published catalog (`position` in the publish's list)."""
        return self.catalog_judge.judge(context, position, catalog, self.now())

    async def _on_catalog_publish(self, inbound: Inbound) -> None:
        context = inbound.context
        results = self.index(context, inbound.message["catalogs"])
        answer = {
            "context": envelope.callback_context(context, bpp_id=self.identity.subscriber_id,
                                                 bpp_uri=self.identity.uri),
            "message": {"results": results},
        }
        await self.outbox.send(context["bpp_uri"], "on_catalog_publish", answer)

    # -- discover ------------------------------------------------------------------------------

    def search(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The catalogs the cache answers a discover message with; raises DiscoverError."""
        return self._search(discover_selection(message))

    def _search(self, selection: Selection) -> list[dict[str, Any]]:
        now = self.now()
        found = (matching_catalog(entry, selection, now) for entry in self.cache.live(now))
        return [catalog for catalog in found if catalog is not None]

    async def fan_out_targets(self) -> dict[str, str]:
        """BPPs to forward a discover to: trusted by the directory now, with no live catalog
        in the cache, by subscriber id -> registered URL."""
        records = await self.directory.subscribers("BPP", envelope.DOMAIN)
        publishers = self.cache.publishers(self.now())
        targets: dict[str, str] = {}
        for record in records:
            subscriber, url = record.get("subscriber_id"), record_url(record)
            if isinstance(subscriber, str) and isinstance(url, str) and \
                    subscriber not in publishers and subscriber != self.identity.subscriber_id:
                targets.setdefault(subscriber, url)
        return targets

    async def _on_discover(self, inbound: Inbound) -> None:
        request = inbound.doc
        cache_answered = asyncio.Event()
        try:
            selection = discover_selection(inbound.message)
        except DiscoverError as exc:
            await self._answer(request, {"catalogs": []}, exc.as_error())
            return
        if self.config.fan_out:
            self._tasks.spawn(self._fan_out(request, cache_answered))
        try:
            await self._answer(request, {"catalogs": self._search(selection)})
        finally:
            cache_answered.set()

    async def _answer(self, request: dict[str, Any], message: dict[str, Any],
                      error: dict[str, Any] | None = None) -> None:
        """on_discover to the BAP that asked, signed by the CDS and naming it as bpp."""
        doc: dict[str, Any] = {
            "context": envelope.callback_context(request["context"],
                                                 bpp_id=self.identity.subscriber_id,
                                                 bpp_uri=self.identity.uri),
            "message": message,
        }
        if error:
            doc["error"] = error
        await self.outbox.send(request["context"]["bap_uri"], "on_discover", doc)

    async def _fan_out(self, request: dict[str, Any], cache_answered: asyncio.Event) -> None:
        targets = await self.fan_out_targets()
        if not targets:
            return
        context = request["context"]
        key = (context["transaction_id"], context["message_id"])
        loop = asyncio.get_running_loop()
        try:
            ttl = wire_time.duration_seconds(str(context.get("ttl")))
        except ValueError:
            ttl = DEFAULT_TTL_S
        self._forget_expired()
        self.pending[key] = PendingDiscover(request, targets, loop.time() + ttl, cache_answered)
        forwarded = {
            "context": {**context, "bap_id": self.identity.subscriber_id,
                        "bap_uri": self.identity.uri, "timestamp": wire_time.now()},
            "message": request["message"],
        }
        await asyncio.gather(*(self.outbox.send(url, "discover", forwarded,
                                                note=f"fan-out to {bpp}")
                               for bpp, url in targets.items()))

    def _forget_expired(self) -> None:
        now = asyncio.get_running_loop().time()
        for key in [k for k, p in self.pending.items() if p.deadline < now]:
            del self.pending[key]

    def _admit(self, action: str, doc: dict[str, Any]) -> str | None:
        """An on_discover is taken only from a BPP the CDS asked, within the discover's ttl."""
        if action != "on_discover":
            return None
        self._forget_expired()
        context = doc["context"]
        pending = self.pending.get((context.get("transaction_id"), context.get("message_id")))
        if pending is None:
            return ("on_discover answers no discover this CDS forwarded (unknown "
                    "transaction_id/message_id, or the discover's ttl is over)")
        if context.get("bpp_id") not in pending.targets:
            return f"the discover was not forwarded to {context.get('bpp_id')!r}"
        if context.get("bap_id") != self.identity.subscriber_id:
            return f"bap_id must be the CDS {self.identity.subscriber_id!r}, which asked"
        return None

    async def _on_bpp_answer(self, inbound: Inbound) -> None:
        """Relay a fanned-out BPP's on_discover to the BAP, after the cache answer."""
        context = inbound.context
        pending = self.pending.get((context["transaction_id"], context["message_id"]))
        if pending is None:
            return  # its ttl ended between admission and now
        remaining = pending.deadline - asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pending.cache_answered.wait(), max(remaining, 0.0))
        error = inbound.doc.get("error")
        await self._answer(pending.request, inbound.message,
                           error if isinstance(error, dict) and error else None)

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._tasks.cancel_all()
        if self._owns_http:
            await self.http.aclose()
