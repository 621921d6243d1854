"""Envelope building blocks: contexts, ACK/NACK bodies and the error codes the mocks use.

The mocks answer in the UBC swagger shape (NOTES.md, "ACK / NACK"); schema errors go in the
NACK, value and business errors in the callback's `error` object (TSD §13).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from harness.beckn import time

VERSION = "2.0.0"
DOMAIN = "beckn.one:deg:ev-charging"
DEFAULT_TTL = "PT30S"

# BECKN-005 codes (the facts: code and meaning).
INVALID_REQUEST = "30000"
ITEM_NOT_FOUND = "30004"
OFFER_NOT_FOUND = "30006"
ORDER_NOT_FOUND = "30010"
UPDATE_TARGET_INVALID = "30012"
ENTITY_TO_RATE_NOT_FOUND = "30014"
BUSINESS_ERROR = "40000"
ACTION_NOT_APPLICABLE = "40001"
QUOTE_UNAVAILABLE = "40003"
FULFILMENT_AGENT_UNAVAILABLE = "40006"
POLICY_ERROR = "50000"
CANCELLATION_NOT_POSSIBLE = "50001"
SUPPORT_UNAVAILABLE = "50004"
# BECKN-005 has no code for authentication; the mocks use this one, documented in the README.
SIGNATURE_INVALID = "10001"
BODY_TOO_LARGE = "10002"
# ... nor for a registry that cannot be asked: a sender's key cannot be known, which is not
# the same as a bad key (10001): the sender may try again.
REGISTRY_UNAVAILABLE = "10003"
# ... nor for a body that did not arrive in time (HTTP 408): the sender may send it again.
BODY_TIMEOUT = "10004"

BECKN_005_CODES = frozenset({
    "30000", "30001", "30002", "30003", "30004", "30005", "30006", "30007", "30008", "30009",
    "30010", "30011", "30012", "30013", "30014", "30015", "40000", "40001", "40002", "40003",
    "40004", "40005", "40006", "50000", "50001", "50002", "50003", "50004",
})

# Who sends each request, and the callback that answers it.
CALLBACK_OF = {
    "discover": "on_discover", "select": "on_select", "init": "on_init",
    "confirm": "on_confirm", "status": "on_status", "track": "on_track",
    "update": "on_update", "cancel": "on_cancel", "rating": "on_rating",
    "support": "on_support", "catalog_publish": "on_catalog_publish",
}  # fmt: skip
REQUEST_OF = {callback: request for request, callback in CALLBACK_OF.items()}
# Callbacks a BPP may send on its own (a new message_id), besides answering a request.
UNSOLICITED = frozenset({"on_status", "on_update", "on_cancel"})


def sent_by_bpp(action: object) -> bool:
    """Who signs and sends this action: the BPP for callbacks and catalog publishing (the CDS
    answers on_catalog_publish under the publisher's bpp_id), the BAP for everything else."""
    return isinstance(action, str) and (action.startswith("on_") or action == "catalog_publish")


def sender_of(context: Mapping[str, Any]) -> str | None:
    """The subscriber id that must have signed a message with this context."""
    sender = context.get("bpp_id" if sent_by_bpp(context.get("action")) else "bap_id")
    return sender if isinstance(sender, str) else None


def sender_uri_of(context: Mapping[str, Any]) -> str | None:
    """The subscriber URI the sender of this context claims (bpp_uri or bap_uri)."""
    uri = context.get("bpp_uri" if sent_by_bpp(context.get("action")) else "bap_uri")
    return uri if isinstance(uri, str) else None


def recipient_of(context: Mapping[str, Any]) -> str | None:
    """The subscriber id a message with this context is addressed to: the other side of
    `sender_of` (None when the context does not name it, as for catalog_publish)."""
    recipient = context.get("bap_id" if sent_by_bpp(context.get("action")) else "bpp_id")
    return recipient if isinstance(recipient, str) else None


def recipient_uri_of(context: Mapping[str, Any]) -> str | None:
    """The subscriber URI a message with this context must be sent to (bap_uri or bpp_uri)."""
    uri = context.get("bap_uri" if sent_by_bpp(context.get("action")) else "bpp_uri")
    return uri if isinstance(uri, str) else None


def new_id() -> str:
    return str(uuid.uuid4())


def context(
    action: str,
    *,
    transaction_id: str,
    message_id: str | None = None,
    bap_id: str | None = None,
    bap_uri: str | None = None,
    bpp_id: str | None = None,
    bpp_uri: str | None = None,
    ttl: str = DEFAULT_TTL,
    timestamp: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A UBC context; party fields left as None are omitted (discover has no BPP yet)."""
    ctx: dict[str, Any] = {
        "version": VERSION,
        "action": action,
        "domain": DOMAIN,
        "timestamp": timestamp or time.now(),
        "message_id": message_id or new_id(),
        "transaction_id": transaction_id,
    }
    for name, value in (("bap_id", bap_id), ("bap_uri", bap_uri), ("bpp_id", bpp_id),
                        ("bpp_uri", bpp_uri)):
        if value is not None:
            ctx[name] = value
    ctx["ttl"] = ttl
    ctx.update(extra)
    return ctx


def callback_context(request: dict[str, Any], *, unsolicited: bool = False,
                     **overrides: Any) -> dict[str, Any]:
    """The context of `on_<action>` answering a request: same transaction and message id
    (a new message id when unsolicited), parties kept, fresh timestamp."""
    action = request["action"]
    ctx = dict(request)
    ctx["action"] = action if action.startswith("on_") else CALLBACK_OF[action]
    ctx["timestamp"] = time.now()
    if unsolicited:
        ctx["message_id"] = new_id()
    ctx.pop("schema_context", None)
    ctx.update(overrides)
    return ctx


def ack() -> dict[str, Any]:
    return {"message": {"ack": {"status": "ACK"}}}


def nack(code: str, message: str, paths: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if paths:
        error["paths"] = paths
    return {"message": {"ack": {"status": "NACK"}}, "error": error}


def ack_status(body: Any) -> str | None:
    """"ACK" or "NACK" from any of the three known shapes, else None."""
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if isinstance(message, dict):
        ack_obj = message.get("ack")
        if isinstance(ack_obj, dict) and ack_obj.get("status") in ("ACK", "NACK"):
            return str(ack_obj["status"])
        if message.get("status") in ("ACK", "NACK"):
            return str(message["status"])
    if body.get("ack_status") in ("ACK", "NACK"):
        return str(body["ack_status"])
    return None


def www_authenticate(realm: str) -> str:
    """The challenge a 401 carries (BECKN-006)."""
    return f'Signature realm="{realm}",headers="(created) (expires) digest"'
