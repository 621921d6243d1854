"""Registry readers as strict as the stacks participants deploy, for the compatibility tests.

Our own code, written from the public behaviour of two stacks (no code of theirs is used):

- beckn/protocol-server (TypeScript): `POST {registry}/lookup` with `{subscriber_id, ukId}`
  (src/utils/lookup.utils.ts) or `{type, domain, subscriber_id}`; every record of the answer is
  parsed against a schema (src/schemas/subscriberDetails.schema.ts) and a record that fails it
  is dropped without a word; the first record left is used, its `subscriber_url` is where
  callbacks go. Its type must be one of BAP, BPP, BG, BREG.
- beckn-onix (Go): the v1 registry plugin (pkg/plugin/implementation/registry/registry.go)
  decodes the answer into typed structs (pkg/model/model.go Subscription): a field of the
  wrong JSON type, or a time that is not RFC 3339, fails the whole answer; a key whose status
  is EXPIRED, UNSUBSCRIBED or INVALID_SSL is unusable. The DeDi plugin
  (pkg/plugin/implementation/dediregistry/dediregistry.go) reads `data.details` (refusing a
  record without `signing_public_key`), `data.network_memberships`, `data.created_at`,
  `data.updated_at` and an optional `data.ttl` in seconds.

Where they differ, the reader here takes the stricter rule: a record must satisfy both, carry
`valid_from` and `status` too, and be SUBSCRIBED within its validity to be trusted.
`StrictLookups` is a Directory (mocks/stack/directory.py) built on these rules, so the
reference BPP can be run as a stack that reads the registry this strictly.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

V1_TYPES = frozenset({"BAP", "BPP", "BG", "BREG"})
# What protocol-server's schema requires, plus valid_from and status (the NOTES of what a
# deployed protocol-server dropped).
REQUIRED_TEXT = ("subscriber_id", "subscriber_url", "type", "signing_public_key", "valid_from",
                 "valid_until", "status")
# onix's Subscription: JSON strings (or null) ...
GO_STRINGS = ("subscriber_id", "url", "type", "domain", "key_id", "signing_public_key",
              "encr_public_key", "status", "nonce")
# ... and times, decoded by time.Time from RFC 3339 (null is a zero time).
GO_TIMES = ("valid_from", "valid_until", "created", "updated")
KEY_ID_NAMES = ("ukId", "unique_key_id", "key_id")
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_HTTP_URL = re.compile(r"https?://[^\s/?#]+([/?#]\S*)?")


def _instant(text: str) -> datetime:
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"{text!r} is not RFC 3339")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def go_decode_faults(record: Any) -> list[str]:
    """Why Go's json.Unmarshal into onix's Subscription would fail on `record` (empty: it
    would not)."""
    if not isinstance(record, dict):
        return [f"not an object: {type(record).__name__}"]
    faults = [f"{name} is not a string" for name in GO_STRINGS
              if record.get(name) is not None and not isinstance(record[name], str)]
    for name in GO_TIMES:
        value = record.get(name)
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            _instant(value)
        except ValueError:
            faults.append(f"{name} {value!r} is not an RFC 3339 time")
    memberships = record.get("network_memberships")
    if memberships is not None and not (
            isinstance(memberships, list) and all(isinstance(m, str) for m in memberships)):
        faults.append("network_memberships is not a list of strings")
    return faults


def v1_record_faults(record: Any) -> list[str]:
    """Why a strict v1 stack would drop this lookup record (empty: it keeps it)."""
    faults = go_decode_faults(record)
    if not isinstance(record, dict):
        return faults
    faults += [f"{name} is missing or not a string" for name in REQUIRED_TEXT
               if not isinstance(record.get(name), str) or not record[name]]
    if isinstance(record.get("type"), str) and record["type"] not in V1_TYPES:
        faults.append(f"type {record['type']!r} is not one of {sorted(V1_TYPES)}")
    url = record.get("subscriber_url")
    if isinstance(url, str) and not _HTTP_URL.fullmatch(url):
        faults.append(f"subscriber_url {url!r} is not an http(s) URL")
    key = record.get("signing_public_key")
    if isinstance(key, str):
        try:
            if len(base64.b64decode(key, validate=True)) != 32:
                faults.append("signing_public_key is not 32 bytes")
        except binascii.Error:
            faults.append("signing_public_key is not base64")
    return faults


def trust_faults(record: dict[str, Any], now: datetime | None = None) -> list[str]:
    """Why a kept record's key must not be used now: not SUBSCRIBED, outside its validity."""
    moment = now or datetime.now(UTC)
    faults = []
    if record["status"] != "SUBSCRIBED":  # stricter than onix, which refuses only
        faults.append(f"status {record['status']}")  # EXPIRED, UNSUBSCRIBED, INVALID_SSL
    if not _instant(record["valid_from"]) <= moment <= _instant(record["valid_until"]):
        faults.append("outside valid_from..valid_until")
    return faults


def dedi_answer_faults(answer: Any) -> list[str]:
    """Why onix's DeDi plugin would refuse this lookup answer, or lose a field of it."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        return ["no data object"]
    details = data.get("details")
    if not isinstance(details, dict):
        return ["no data.details object"]
    faults = []
    if not isinstance(details.get("signing_public_key"), str) or not details["signing_public_key"]:
        faults.append("data.details.signing_public_key is missing")
    faults += [f"data.details.{name} is not a string"
               for name in ("url", "type", "domain", "subscriber_id")
               if not isinstance(details.get(name), str)]
    memberships = data.get("network_memberships")
    if not (isinstance(memberships, list) and all(isinstance(m, str) for m in memberships)):
        faults.append("data.network_memberships is not a list of strings")
    for name in ("created_at", "updated_at"):
        try:
            _instant(data[name])
        except (KeyError, TypeError, ValueError):
            faults.append(f"data.{name} is not an RFC 3339 time (read as the zero time)")
    ttl = data.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)
                            or ttl <= 0):
        faults.append("data.ttl is not a positive number of seconds")
    return faults


@dataclass
class Lookup:
    """One lookup as the strict reader saw it: the query, what it kept, what it dropped."""

    query: dict[str, str]
    kept: list[dict[str, Any]]
    dropped: list[tuple[Any, list[str]]]


@dataclass
class StrictLookups:
    """A Directory (the parties' view of the registry) that reads v1 lookups like a strict
    stack: protocol-server's requests, records dropped unless they satisfy both stacks.
    Every lookup is kept in `lookups`, so a test can say what was found and what dropped."""

    registry_url: str
    lookups: list[Lookup] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._http = httpx.AsyncClient(timeout=3.0, headers={"User-Agent": "strict-v1-stack"})

    async def aclose(self) -> None:
        await self._http.aclose()

    async def lookup(self, **query: str) -> list[dict[str, Any]]:
        """The records of a lookup that a strict stack keeps."""
        answer = await self._http.post(f"{self.registry_url.rstrip('/')}/lookup", json=query)
        records = answer.json() if answer.status_code == 200 else []
        if not isinstance(records, list):
            records = []
        seen = Lookup(query, [], [])
        for record in records:
            faults = v1_record_faults(record)
            if faults:
                seen.dropped.append((record, faults))
            else:
                seen.kept.append(record)
        self.lookups.append(seen)
        return seen.kept

    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None:
        for record in await self.lookup(subscriber_id=subscriber_id, ukId=key_id):
            if record["subscriber_id"] == subscriber_id \
                    and all(record.get(n, key_id) == key_id for n in KEY_ID_NAMES) \
                    and not trust_faults(record):
                return str(record["signing_public_key"])
        return None

    async def subscriber_url(self, subscriber_id: str) -> str | None:
        for record in await self.lookup(subscriber_id=subscriber_id):
            if record["subscriber_id"] == subscriber_id and not trust_faults(record):
                return str(record["subscriber_url"])
        return None

    async def subscribers(self, kind: str, domain: str | None = None) -> list[dict[str, Any]]:
        query = {"type": kind} if domain is None else {"type": kind, "domain": domain}
        return [r for r in await self.lookup(**query) if not trust_faults(r)]

    def looked_up(self) -> set[str]:
        """Every subscriber id asked for by id."""
        return {q.query["subscriber_id"] for q in self.lookups if "subscriber_id" in q.query}

    def dropped(self) -> list[tuple[Any, list[str]]]:
        return [d for q in self.lookups for d in q.dropped]
