"""Envelope building blocks: contexts, ACK/NACK bodies and the error codes the mocks use.

The mocks answer in the UBC swagger shape (NOTES.md, "ACK / NACK"); schema errors go in the
NACK, value and business errors in the callback's `error` object (TSD §13).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

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


def now_rfc3339() -> str:
    """UTC time with milliseconds and a Z, as the examples write it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        "timestamp": timestamp or now_rfc3339(),
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
    ctx["timestamp"] = now_rfc3339()
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


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def ttl_seconds(ttl: str) -> float:
    """Seconds in an ISO 8601 duration of days, hours, minutes and seconds (PT30S -> 30)."""
    match = _DURATION.match(ttl)
    if not match or ttl in ("P", "PT"):
        raise ValueError(f"unsupported ttl {ttl!r}; use e.g. PT30S")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds
