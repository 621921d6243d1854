"""Context checks across a request and its callbacks (UBC-CTX-012..018)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harness.beckn import time
from harness.findings import Finding
from harness.transcript import Exchange


def _context(exchange: Exchange) -> dict[str, Any]:
    doc = exchange.json()
    context = doc.get("context") if isinstance(doc, dict) else None
    return context if isinstance(context, dict) else {}


def _when(value: Any) -> datetime | None:
    try:
        return time.parse(value, zone_required=False)
    except ValueError:
        return None


def callback_echoes_request(request: Exchange, callback: Exchange) -> list[Finding]:
    """UBC-CTX-012/013/015: a callback keeps the request's transaction_id, message_id, and the
    BAP's id and URI."""
    asked, answered = _context(request), _context(callback)
    evidence = [request.id, callback.id]
    findings = []
    for name, rule in (("transaction_id", "UBC-CTX-012"), ("message_id", "UBC-CTX-013")):
        if answered.get(name) != asked.get(name):
            findings.append(Finding(rule, f"{callback.action} carries {name} "
                                    f"{answered.get(name)!r}, the request had {asked.get(name)!r}",
                                    path=f"/context/{name}", expected=asked.get(name),
                                    actual=answered.get(name), evidence=evidence))
    for name in ("bap_id", "bap_uri"):
        if name in asked and answered.get(name) != asked.get(name):
            findings.append(Finding("UBC-CTX-015", f"{callback.action} changed {name}",
                                    path=f"/context/{name}", expected=asked.get(name),
                                    actual=answered.get(name), evidence=evidence))
    return findings


def callback_not_before_request(request: Exchange, callback: Exchange) -> list[Finding]:
    """UBC-CTX-017: the callback's timestamp is not earlier than the request's."""
    asked = _when(_context(request).get("timestamp"))
    answered = _when(_context(callback).get("timestamp"))
    if asked is None or answered is None or answered >= asked:
        return []
    return [Finding("UBC-CTX-017", f"{callback.action} timestamp {answered.isoformat()} is "
                    f"{(asked - answered).total_seconds():.3f} s before the request's",
                    path="/context/timestamp", expected=f">= {asked.isoformat()}",
                    actual=answered.isoformat(), evidence=[request.id, callback.id])]


def sender_is_candidate(callback: Exchange, subscriber_id: str, uri: str) -> list[Finding]:
    """UBC-CTX-016: bpp_id and bpp_uri are the candidate's registered id and URI."""
    context = _context(callback)
    findings = []
    if context.get("bpp_id") != subscriber_id:
        findings.append(Finding("UBC-CTX-016", f"{callback.action} names bpp_id "
                                f"{context.get('bpp_id')!r}", path="/context/bpp_id",
                                expected=subscriber_id, actual=context.get("bpp_id"),
                                evidence=[callback.id]))
    actual_uri = context.get("bpp_uri")
    if not isinstance(actual_uri, str) or actual_uri.rstrip("/") != uri.rstrip("/"):
        findings.append(Finding("UBC-CTX-016", f"{callback.action} names bpp_uri {actual_uri!r}",
                                path="/context/bpp_uri", expected=uri, actual=actual_uri,
                                evidence=[callback.id]))
    return findings


def unsolicited_has_new_message_id(callback: Exchange, sent_message_ids: set[str]
                                   ) -> list[Finding]:
    """UBC-CTX-014: an unsolicited on_status/on_update/on_cancel does not reuse the message_id
    of one of our requests."""
    message_id = _context(callback).get("message_id")
    if message_id in sent_message_ids:
        return [Finding("UBC-CTX-014", f"unsolicited {callback.action} reuses message_id "
                        f"{message_id!r} of an earlier request", path="/context/message_id",
                        actual=message_id, evidence=[callback.id])]
    return []


def sent_to_wrong_address(exchange: Exchange, uri: str) -> list[Finding]:
    """UBC-CTX-018: a request reached a path under our URI that is no Beckn endpoint."""
    action = exchange.action or "a request"
    return [Finding("UBC-CTX-018", f"{action} was sent to {exchange.method} {exchange.url}, "
                    "which is no Beckn endpoint of the BAP", expected=f"POST {uri}/{action}",
                    actual=exchange.url, evidence=[exchange.id])]
