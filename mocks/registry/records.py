"""A registry record: one signing key of one network participant, and the rules its fields obey.

`Subscriber` is the record as the store keeps it; `as_v1` and `as_dedi` are the two shapes the
lookups answer. `new_subscriber` and `checked_changes` turn JSON fields into a record or a change
of one, refusing a bad field with InvalidField; times are kept in UTC with milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.beckn import time
from harness.beckn.subscriber import TRUSTED_STATUS, trusted
from mocks.registry.errors import InvalidField

DEFAULT_DOMAIN = "beckn.one:deg:ev-charging"
DEFAULT_REGISTRY_NAME = "ubc-mock-registry"
SUBSCRIBER_TYPES = ("BAP", "BPP", "BG", "CDS", "REGISTRY")
# The v1 registry's lifecycle; EXPIRED is in the v1 OpenAPI enum, the others in its on_subscribe.
STATUSES = (
    "INITIATED",
    "UNDER_SUBSCRIPTION",
    "SUBSCRIBED",
    "INVALID_SSL",
    "EXPIRED",
    "UNSUBSCRIBED",
)
DEFAULT_VALIDITY = timedelta(days=365)
MAX_ID_LENGTH = 255

REQUIRED_FIELDS = ("subscriber_id", "key_id", "type", "url", "signing_public_key")
MUTABLE_FIELDS = (
    "type",
    "domain",
    "url",
    "signing_public_key",
    "encr_public_key",
    "status",
    "valid_from",
    "valid_until",
    "network_memberships",
)
# Echoed or server-managed fields: accepted on add, then ignored, so that a record read back from
# a lookup or the admin API can be added again as it is.
IGNORED_ON_ADD = ("unique_key_id", "created", "updated")
# Spellings of key_id seen on the wire: v1 records say unique_key_id, beckn/protocol-server ukId.
KEY_ID_ALIASES = ("unique_key_id", "ukId")

# Control characters and whitespace, spelled out because regex engines disagree on `\s`.
_BLANK = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# The patterns schemas/openapi/registry.yaml declares, so that the document and the store agree.
# Ids end up in `keyId="{subscriber_id}|{key_id}|ed25519"` and in DeDi URL paths.
ID_PATTERN = rf"[^{_BLANK}/|]+"
# An http(s) URL whose host is a name or IPv4 address (no IPv6 literals), port in range.
URL_PATTERN = (
    r"https?://[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
    rf"([/?#][^{_BLANK}]*)?"
)
_ID = re.compile(ID_PATTERN)
_URL = re.compile(URL_PATTERN)
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
        """One item of a Beckn v1 `/lookup` answer."""
        return {
            "subscriber_id": self.subscriber_id,
            "url": self.url,
            "type": self.type,
            "domain": self.domain,
            "key_id": self.key_id,
            "unique_key_id": self.key_id,
            "signing_public_key": self.signing_public_key,
            "encr_public_key": self.encr_public_key,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
        }

    def as_dedi(self, registry_name: str) -> dict[str, Any]:
        """The DeDi lookup answer for this record, as ONIX's dediregistry plugin reads it."""
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
            },
        }


# --- field rules --------------------------------------------------------------------------------


def text(value: object, field: str) -> str:
    """`value` as a string that can be stored (valid Unicode); InvalidField otherwise."""
    if not isinstance(value, str):
        raise InvalidField(field, f"must be a string, got {json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "is not valid Unicode (lone surrogate)") from None
    return value


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check_id(value: object, field: str) -> str:
    checked = text(value, field)
    if not checked:
        raise InvalidField(field, "must not be empty")
    if len(checked) > MAX_ID_LENGTH:
        raise InvalidField(field, f"is longer than {MAX_ID_LENGTH} characters")
    if not _ID.fullmatch(checked):
        raise InvalidField(field, "must not contain whitespace, control characters, '/' or '|'")
    return checked


def _check_non_empty(value: object, field: str) -> str:
    checked = text(value, field)
    if not checked:
        raise InvalidField(field, "must not be empty")
    return checked


def _check_choice(choices: tuple[str, ...]) -> Callable[[object, str], str]:
    def check(value: object, field: str) -> str:
        checked = text(value, field)
        if checked not in choices:
            raise InvalidField(field, f"is {checked!r}; expected one of {', '.join(choices)}")
        return checked

    return check


def _check_url(value: object, field: str) -> str:
    checked = text(value, field)
    if not _URL.fullmatch(checked):
        raise InvalidField(
            field,
            f"must be an http(s) URL with a host and at most a port in range, got {checked!r}",
        )
    return checked


def _check_signing_key(value: object, field: str) -> str:
    checked = text(value, field)
    try:
        raw = base64.b64decode(checked, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField(field, "is not valid base64") from None
    if len(raw) != 32:
        raise InvalidField(field, f"decodes to {len(raw)} bytes; an ed25519 public key is 32")
    return checked


def _check_encr_key(value: object, field: str) -> str | None:
    # Left free-form: X25519 raw keys and DER (SPKI) encodings are both in use.
    return None if value is None else text(value, field)


def _check_time(value: object, field: str) -> str:
    checked = text(value, field)
    try:
        return time.format(time.parse(checked))
    except ValueError as exc:
        raise InvalidField(field, str(exc)) from None


def _check_memberships(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidField(field, f"must be an array of strings, got {json_type(value)}")
    return tuple(_check_non_empty(item, f"{field}[{i}]") for i, item in enumerate(value))


_CHECKS: dict[str, Callable[[object, str], object]] = {
    "subscriber_id": _check_id,
    "key_id": _check_id,
    "type": _check_choice(SUBSCRIBER_TYPES),
    "domain": _check_non_empty,
    "url": _check_url,
    "signing_public_key": _check_signing_key,
    "encr_public_key": _check_encr_key,
    "status": _check_choice(STATUSES),
    "valid_from": _check_time,
    "valid_until": _check_time,
    "network_memberships": _check_memberships,
}


def new_subscriber(record: Mapping[str, object]) -> Subscriber:
    """A record to add, from its JSON fields: validated, defaults filled in, times in UTC.

    unique_key_id, created and updated are ignored; an optional field sent as null takes its
    default (valid now for a year, SUBSCRIBED, the EV-charging domain).
    """
    fields = {name: value for name, value in record.items() if name not in IGNORED_ON_ADD}
    for name in fields:
        if name not in _CHECKS:
            raise InvalidField(name, "unknown field")
    for name in REQUIRED_FIELDS:
        if fields.get(name) is None:
            raise InvalidField(name, "is required")
    checked: dict[str, Any] = {
        name: _CHECKS[name](value, name)
        for name, value in fields.items()
        if value is not None or name == "encr_public_key"
    }
    now = datetime.now(UTC)
    stamp = time.format(now)
    checked.setdefault("valid_from", stamp)
    checked.setdefault("valid_until", time.format(now + DEFAULT_VALIDITY))
    return Subscriber(created=stamp, updated=stamp, **checked)


def checked_changes(changes: Mapping[str, object]) -> dict[str, object]:
    """Validated fields of a change (see MUTABLE_FIELDS); `encr_public_key=None` clears it."""
    checked: dict[str, object] = {}
    for name, value in changes.items():
        if name in ("subscriber_id", "key_id", *KEY_ID_ALIASES):
            raise InvalidField(name, "cannot be changed; remove the record and add a new one")
        if name not in MUTABLE_FIELDS:
            raise InvalidField(name, f"unknown field; changeable: {', '.join(MUTABLE_FIELDS)}")
        if value is None and name != "encr_public_key":
            raise InvalidField(name, "must not be null")
        checked[name] = _CHECKS[name](value, name)
    return checked


def changed_subscriber(current: Subscriber, checked: Mapping[str, object]) -> Subscriber:
    """`current` with checked changes applied and `updated` set to now."""
    merged = {**current.as_dict(), **checked, "updated": time.format(datetime.now(UTC))}
    merged["network_memberships"] = tuple(merged["network_memberships"])
    return Subscriber(**merged)
