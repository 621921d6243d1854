"""How the reference BPP's callbacks leave it: `on_<action>` answering a request (same
transaction and message id) and unsolicited ones about an order (a new message id), built,
signed and POSTed to the context's `bap_uri` through the outbox.

Here the faults switched on get their say about callbacks (faults.py): when and how often one
is sent (`schedule`), the ids its context carries (`address`) and how each copy is signed
(`signature`).

A callback the BAP never received is sent again, with backoff, within the request's ttl: when
no connection could be made, or the BAP answered 503 (it could not look the BPP's key up).
Nothing else is retried: a NACK is the BAP's answer, and a timeout may hide a callback the BAP
did take (a second copy would be a duplicate). Every failed attempt is logged and, like every
attempt, in the transcript.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.transcript import NOT_PARSED
from mocks.bpp.config import BppConfig
from mocks.bpp.faults import Callback, FaultSwitches, Signature
from mocks.stack import Outbox, Sent

log = logging.getLogger("ubc.mocks")
RETRY_BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # waits before the 2nd, 3rd ... attempt
DEFAULT_TTL_S = 30.0


def undelivered(sent: Sent) -> bool:
    """The BAP surely did not take the callback: no connection, or 503 (try again)."""
    if sent.status is None:
        return (sent.error or "").startswith(("ConnectError", "ConnectTimeout"))
    return sent.status == 503


class Callbacks:
    """Sends the BPP's callbacks, as its fault switches shape them."""

    def __init__(self, config: BppConfig, outbox: Outbox, switches: FaultSwitches, *,
                 followers: Callable[[Mapping[str, Any]], list[dict[str, Any]]] = lambda _: []
                 ) -> None:
        self.config = config
        self.identity = config.identity
        self.outbox = outbox
        self.switches = switches
        # the contexts of BAPs also sent an order's callbacks, by the context of its request:
        # none but under a fault (orders.py `followers`)
        self.followers = followers

    async def reply(self, request_ctx: Mapping[str, Any], message: dict[str, Any], *,
                    error: dict[str, Any] | None = None) -> None:
        """Send the callback answering a request (after the configured delay)."""
        callback = Callback(envelope.CALLBACK_OF[str(request_ctx.get("action"))], request_ctx,
                            solicited=True, delay_s=self.config.callback_delay_s)
        await self._send(callback, message, error)

    async def notify(self, order_ctx: Mapping[str, Any], action: str,
                     message: dict[str, Any]) -> None:
        """Send an unsolicited callback about an order to the BAP of its last request."""
        await self._send(Callback(action, order_ctx, solicited=False), message, None)

    async def _send(self, callback: Callback, message: dict[str, Any],
                    error: dict[str, Any] | None) -> None:
        callback = self.switches.schedule(callback)
        if not callback.copies:
            return
        if callback.delay_s > 0:
            await asyncio.sleep(callback.delay_s)
        # the context is made after the wait, so its timestamp is the time it is sent
        ctx = envelope.callback_context(dict(callback.request),
                                        unsolicited=not callback.solicited,
                                        action=callback.action,
                                        bpp_id=self.identity.subscriber_id,
                                        bpp_uri=self.identity.uri)
        ctx = self.switches.address(ctx, callback)
        ttl = wire_time.duration_or(callback.request.get("ttl"), DEFAULT_TTL_S)
        deadline = time.monotonic() + ttl
        own: dict[str, Any] = {}  # the context's own BAP, then any followers
        for follower in [own, *self.followers(callback.request)]:
            addressed = dict(ctx)
            addressed.update((k, follower[k]) for k in ("bap_id", "bap_uri") if k in follower)
            doc: dict[str, Any] = {"context": addressed, "message": message}
            if error is not None:
                doc["error"] = error
            target = addressed.get("bap_uri")
            if isinstance(target, str):
                await self._copies(callback, target, orjson.dumps(doc), ttl, deadline, doc)

    async def _copies(self, callback: Callback, target: str, raw: bytes, ttl: float,
                      deadline: float, doc: dict[str, Any]) -> None:
        """Each copy of one callback to one BAP, retried while undelivered and in its ttl."""
        for index, note in enumerate(callback.copies):
            # a later copy is signed a second earlier per copy, so its signature differs
            created = int(time.time()) - index if index else None
            sent = await self._deliver(target, callback.action, raw, created, note, doc)
            for attempt, backoff in enumerate(RETRY_BACKOFF_S, start=2):
                if not undelivered(sent) or time.monotonic() + backoff >= deadline:
                    break
                log.warning("%s to %s not delivered (%s); attempt %d in %.2f s",
                            callback.action, target, sent.error or f"HTTP {sent.status}",
                            attempt, backoff)
                await asyncio.sleep(backoff)
                sent = await self._deliver(target, callback.action, raw, None,
                                           f"retry {attempt - 1}", doc)
            if undelivered(sent):
                log.warning("%s to %s given up undelivered (%s) within its ttl of %g s",
                            callback.action, target, sent.error or f"HTTP {sent.status}", ttl)

    async def _deliver(self, target: str, action: str, raw: bytes, created: int | None,
                       note: str | None, doc: Any = NOT_PARSED) -> Sent:
        """One signed copy; `doc` is what `raw` serialises (the outbox need not parse it)."""
        signature, applied = self.switches.signature(Signature(
            self.identity.signer, self.switches.impostor, created=created))
        notes = [n for n in (*applied, note) if n]
        return await self.outbox.send(target, action, raw, note=", ".join(notes) or None,
                                      parsed=doc, **_signing(signature, raw))


def _signing(signature: Signature, raw: bytes) -> dict[str, Any]:
    """The outbox's signing options for a signature."""
    if not signature.signed:
        return {"sign": False}
    if signature.altered:
        header = signing.parse_header(signature.signer.sign(raw, signature.created,
                                                            signature.expires))
        flipped = bytearray(base64.b64decode(header.signature))
        flipped[0] ^= 0xFF
        return {"sign": False, "headers": {signing.AUTHORIZATION: signing.build_header(
            header.key_id, header.created, header.expires,
            base64.b64encode(bytes(flipped)).decode())}}
    return {"signer": signature.signer, "created": signature.created,
            "expires": signature.expires}
