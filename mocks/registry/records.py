"""A registry record: one signing key of one network participant, and the rules its fields obey.

`Subscriber` is the record as the store keeps it; `as_v1` and `as_dedi` are the two shapes the
lookups answer, each carrying every field the deployed stacks read, under every name they read
it by (the sources are named at each shape). `new_subscriber` and `checked_changes` turn JSON
fields into a record or a change of one. The fields' rules are the admin API's request-body
schemas in schemas/openapi/registry.yaml (openapi.py); here are only those a schema cannot say:
valid Unicode, a key that decodes to 32 bytes, real date-times (kept in UTC with milliseconds).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.beckn import time
from harness.beckn.subscriber import TRUSTED_STATUS, trusted, v1_type
from mocks.registry.errors import InvalidField
from mocks.registry.openapi import RequestBodies

DEFAULT_DOMAIN = "beckn.one:deg:ev-charging"
DEFAULT_REGISTRY_NAME = "ubc-mock-registry"
DEFAULT_VALIDITY = timedelta(days=365)
# Seconds a DeDi reader may cache a record (beckn-onix's dediregistry plugin reads `data.ttl`,
# and caches 5 minutes without it): short, so a participant that caches what it looked up
# meets a changed key within a minute.
DEDI_TTL_S = 60
# The admin API's operations whose request bodies are a new record and a change of one.
ADD_OPERATION = "addSubscriber"
CHANGE_OPERATION = "changeSubscriber"
# Echoed or server-managed fields: accepted on add, then ignored, so that a record read back from
# a lookup or the admin API can be added again as it is.
IGNORED_ON_ADD = ("unique_key_id", "ukId", "subscriber_url", "created", "updated")
# Spellings of key_id seen on the wire: v1 records say unique_key_id, beckn/protocol-server ukId.
KEY_ID_ALIASES = ("unique_key_id", "ukId")
_TIMES = ("valid_from", "valid_until")
_RECORD_NAMESPACE = uuid.UUID("0b7a4f0e-6a52-5bb4-9a55-8f2f1d1e8c11")


@dataclass(frozen=True)
class Subscriber:
    """One key of one network participant, as the registry holds it.

    Empty `valid_from`, `valid_until`, `created`, `updated` mean "not set": the store fills them
    in on `add` (now, now + 1 year, now, now). A `valid_until` before `valid_from` is kept as
    given: such a record is never trusted, which is one way to set up an expired key.
    """

    subscriber_id: str
    key_id: str
    type: str
    url: str
    signing_public_key: str
    domain: str = DEFAULT_DOMAIN
    encr_public_key: str | None = None
    status: str = TRUSTED_STATUS
    valid_from: str = ""
    valid_until: str = ""
    created: str = ""
    updated: str = ""
    network_memberships: tuple[str, ...] = ()
    city: str | None = None  # where given: ONDC-style registries and v1 lookups carry them
    country: str | None = None

    @property
    def unique_key_id(self) -> str:
        return self.key_id

    @property
    def record_id(self) -> str:
        """Stable id of this (subscriber_id, key_id), so a DeDi record id survives restarts."""
        return str(uuid.uuid5(_RECORD_NAMESPACE, f"{self.subscriber_id}|{self.key_id}"))

    def is_trusted(self, now: float | datetime | None = None) -> bool:
        """The network's trust rule (harness.beckn.subscriber.trusted) applied to this record."""
        return trusted(self.status, self.valid_from, self.valid_until, now)

    def as_dict(self) -> dict[str, Any]:
        """Every stored field; what the admin API answers."""
        record = asdict(self)
        record["network_memberships"] = list(self.network_memberships)
        return record

    def as_v1(self) -> dict[str, Any]:
        """One item of a Beckn v1 `/lookup` answer.

        The subscriber URI goes by both its names: `subscriber_url` (beckn/protocol-server
        drops a record without it, src/schemas/subscriberDetails.schema.ts) and `url` (the v1
        registry API; beckn-onix's pkg/model Subscriber). The key id goes by all three:
        `key_id` (onix), `ukId` (protocol-server's lookups), `unique_key_id` (ONDC-style
        registries). The type is one a v1 stack accepts: a CDS shows as BG (see
        harness.beckn.subscriber). Times are RFC 3339 in UTC, as Go's time.Time (onix) and
        JavaScript's Date.parse (protocol-server) both read them; `city` and `country` appear
        where the record has them.
        """
        record: dict[str, Any] = {
            "subscriber_id": self.subscriber_id,
            "subscriber_url": self.url,
            "url": self.url,
            "type": v1_type(self.type),
            "domain": self.domain,
        }
        for name in ("city", "country"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        record.update({
            "signing_public_key": self.signing_public_key,
            "encr_public_key": self.encr_public_key,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "key_id": self.key_id,
            "ukId": self.key_id,
            "unique_key_id": self.key_id,
            "network_memberships": list(self.network_memberships),
        })
        return record

    def as_dedi(self, registry_name: str) -> dict[str, Any]:
        """The DeDi lookup answer for this record, as beckn-onix's dediregistry plugin parses
        it (pkg/plugin/implementation/dediregistry/dediregistry.go): `data.details` with the
        subscriber's url, type, domain, id and keys (a record without signing_public_key is
        refused there), `data.network_memberships` (its allowedNetworkIDs check),
        `data.created_at`/`updated_at` (RFC 3339) and `data.ttl` (seconds to cache). DeDi
        keeps UBC's own type names: a CDS is a CDS here."""
        return {
            "message": "Record found",
            "data": {
                "record_id": self.record_id,
                "registry_name": registry_name,
                "details": {
                    "url": self.url,
                    "type": self.type,
                    "domain": self.domain,
                    "subscriber_id": self.subscriber_id,
                    "signing_public_key": self.signing_public_key,
                    "encr_public_key": self.encr_public_key,
                },
                "network_memberships": list(self.network_memberships),
                # The endpoint serves live records only; "inactive" is for callers of as_dedi.
                "state": "live" if self.is_trusted() else "inactive",
                "created_at": self.created,
                "updated_at": self.updated,
                "ttl": DEDI_TTL_S,
            },
        }


# --- field rules --------------------------------------------------------------------------------


def valid_unicode(value: object, field: str) -> None:
    """InvalidField when a text in `value` holds a lone surrogate: JSON can escape one, UTF-8
    (and so SQLite) cannot store it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidField(field, "is not valid Unicode (lone surrogate)") from None
    elif isinstance(value, list):
        for index, item in enumerate(value):
            valid_unicode(item, f"{field}[{index}]")


def _signing_key(value: str, field: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField(field, "is not valid base64") from None
    if len(raw) != 32:
        raise InvalidField(field, f"decodes to {len(raw)} bytes; an ed25519 public key is 32")
    return value


def _utc_time(value: str, field: str) -> str:
    try:
        return time.format(time.parse(value))
    except ValueError as exc:
        raise InvalidField(field, str(exc)) from None


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fields that passed their schema, put through the rules a schema cannot say."""
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        valid_unicode(value, name)
        if name == "signing_public_key":
            value = _signing_key(value, name)
        elif name in _TIMES:
            value = _utc_time(value, name)
        elif name == "network_memberships":
            value = tuple(value)
        checked[name] = value
    return checked


def new_subscriber(record: Mapping[str, object], bodies: RequestBodies) -> Subscriber:
    """A record to add, from its JSON fields: validated, defaults filled in, times in UTC.

    The echoes of a lookup answer (IGNORED_ON_ADD) are ignored; an optional field sent as null
    takes its default (valid now for a year, SUBSCRIBED, the EV-charging domain).
    """
    bodies.check(ADD_OPERATION, record)
    checked = _checked({
        name: value for name, value in record.items()
        if name not in IGNORED_ON_ADD and (value is not None or name == "encr_public_key")
    })
    now = datetime.now(UTC)
    stamp = time.format(now)
    checked.setdefault("valid_from", stamp)
    checked.setdefault("valid_until", time.format(now + DEFAULT_VALIDITY))
    return Subscriber(created=stamp, updated=stamp, **checked)


def checked_changes(changes: Mapping[str, object], bodies: RequestBodies) -> dict[str, Any]:
    """Validated fields of a change of a record; `encr_public_key=None` clears it."""
    bodies.check(CHANGE_OPERATION, changes)
    return _checked(changes)


def changed_subscriber(current: Subscriber, checked: Mapping[str, object]) -> Subscriber:
    """`current` with checked changes applied and `updated` set to now."""
    merged = {**current.as_dict(), **checked, "updated": time.format(datetime.now(UTC))}
    merged["network_memberships"] = tuple(merged["network_memberships"])
    return Subscriber(**merged)
