"""The mock network's registry: who is on the network, where they live, which keys they sign with.

Two read APIs over one SQLite store, plus an admin API the harness uses to set up and revoke
participants during a run:

- Beckn v1 `POST /lookup` (what beckn/protocol-server and the v1 registry plugin of ONIX call):
  a filter of `subscriber_id`, `type`, `domain`, `key_id` (also spelled `ukId` or
  `unique_key_id`) answers a list of v1 records. It lists matching records in every status,
  each carrying its `status`: as in the v1 registry, the consumer decides whom to trust.
- DeDi `GET /lookup/{subscriber_id}/{registry_name}/{key_id}` (what UBC mandates, TSD §9.1-9.2,
  and what ONIX's dediregistry plugin calls): one record in the DeDi wrapper shape. DeDi records
  carry no status, so a record that is not trusted right now (not SUBSCRIBED, or outside
  valid_from..valid_until) is answered 404, exactly as a revoked DeDi record would be.
- Admin `/admin/subscribers[...]`: add, change, remove and list records; guarded by a bearer
  token when the app is built with one.

`RegistryStore.trusted_key` is what the signature middleware calls for every request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from os import PathLike
from types import TracebackType
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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
TRUSTED_STATUS = "SUBSCRIBED"
DEFAULT_VALIDITY = timedelta(days=365)
MAX_ID_LENGTH = 255
MAX_BODY_BYTES = 64 * 1024  # a registry record is well under 2 KiB; larger bodies are refused

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
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_RECORD_NAMESPACE = uuid.UUID("0b7a4f0e-6a52-5bb4-9a55-8f2f1d1e8c11")


# --- errors -------------------------------------------------------------------------------------


class RegistryError(Exception):
    """A change or query the registry refuses; `code` is the machine-readable error code."""

    code = "registry-error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidField(RegistryError, ValueError):
    """A record field is missing, unknown or has a value the registry does not accept."""

    code = "invalid-field"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field)


class DuplicateSubscriber(RegistryError):
    code = "already-exists"


class UnknownSubscriber(RegistryError, LookupError):
    code = "not-found"


# --- times --------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, the way Beckn registries and DeDi write times."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 date-time with an offset; raise ValueError otherwise."""
    if not _RFC3339.fullmatch(text):
        raise ValueError("not an RFC 3339 date-time with a time zone, e.g. 2025-01-31T10:00:00Z")
    # fromisoformat takes at most 6 fractional digits; RFC 3339 allows any number.
    normalised = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", text.upper().replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(normalised).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid date-time: {exc}") from None


def _epoch(text: str) -> float:
    return parse_time(text).timestamp()


def _as_epoch(now: float | datetime | None) -> float:
    if now is None:
        return _utcnow().timestamp()
    return now.timestamp() if isinstance(now, datetime) else float(now)


# --- field checks -------------------------------------------------------------------------------


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidField(field, f"must be a string, got {_json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "is not valid Unicode (lone surrogate)") from None
    return value


def _json_type(value: object) -> str:
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
    text = _text(value, field)
    if not text:
        raise InvalidField(field, "must not be empty")
    if len(text) > MAX_ID_LENGTH:
        raise InvalidField(field, f"is longer than {MAX_ID_LENGTH} characters")
    if not _ID.fullmatch(text):
        raise InvalidField(field, "must not contain whitespace, control characters, '/' or '|'")
    return text


def _check_non_empty(value: object, field: str) -> str:
    text = _text(value, field)
    if not text:
        raise InvalidField(field, "must not be empty")
    return text


def _check_choice(choices: tuple[str, ...]) -> Callable[[object, str], str]:
    def check(value: object, field: str) -> str:
        text = _text(value, field)
        if text not in choices:
            raise InvalidField(field, f"is {text!r}; expected one of {', '.join(choices)}")
        return text

    return check


def _check_url(value: object, field: str) -> str:
    text = _text(value, field)
    if not _URL.fullmatch(text):
        raise InvalidField(
            field, f"must be an http(s) URL with a host and at most a port in range, got {text!r}"
        )
    return text


def _check_signing_key(value: object, field: str) -> str:
    text = _text(value, field)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField(field, "is not valid base64") from None
    if len(raw) != 32:
        raise InvalidField(field, f"decodes to {len(raw)} bytes; an ed25519 public key is 32")
    return text


def _check_encr_key(value: object, field: str) -> str | None:
    # Left free-form: X25519 raw keys and DER (SPKI) encodings are both in use.
    return None if value is None else _text(value, field)


def _check_time(value: object, field: str) -> str:
    text = _text(value, field)
    try:
        return format_time(parse_time(text))
    except ValueError as exc:
        raise InvalidField(field, str(exc)) from None


def _check_memberships(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidField(field, f"must be an array of strings, got {_json_type(value)}")
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


# --- records ------------------------------------------------------------------------------------


def trusted(status: object, valid_from: object, valid_until: object,
            now: float | datetime | None = None) -> bool:
    """The registry's trust rule, for stored records and for records read from a lookup:
    SUBSCRIBED and `now` within valid_from..valid_until (bounds included)."""
    if status != TRUSTED_STATUS or not isinstance(valid_from, str) \
            or not isinstance(valid_until, str):
        return False
    try:
        return _epoch(valid_from) <= _as_epoch(now) <= _epoch(valid_until)
    except ValueError:
        return False


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
        """SUBSCRIBED and `now` within valid_from..valid_until (bounds included)."""
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


_COLUMNS = (
    "subscriber_id",
    "key_id",
    "type",
    "url",
    "signing_public_key",
    "domain",
    "encr_public_key",
    "status",
    "valid_from",
    "valid_until",
    "created",
    "updated",
    "network_memberships",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (
    subscriber_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    signing_public_key TEXT NOT NULL,
    domain TEXT NOT NULL,
    encr_public_key TEXT,
    status TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    network_memberships TEXT NOT NULL,
    valid_from_s REAL NOT NULL,
    valid_until_s REAL NOT NULL,
    PRIMARY KEY (subscriber_id, key_id)
);
CREATE INDEX IF NOT EXISTS subscribers_by_type_domain ON subscribers (type, domain);
"""

_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM subscribers"


def _row_to_subscriber(row: tuple[Any, ...]) -> Subscriber:
    fields = dict(zip(_COLUMNS, row, strict=True))
    fields["network_memberships"] = tuple(json.loads(fields["network_memberships"]))
    return Subscriber(**fields)


def _subscriber_to_row(record: Subscriber) -> tuple[Any, ...]:
    values = record.as_dict()
    values["network_memberships"] = json.dumps(values["network_memberships"])
    return (
        *(values[column] for column in _COLUMNS),
        _epoch(record.valid_from),
        _epoch(record.valid_until),
    )


class RegistryStore:
    """Registry records in SQLite, one row per (subscriber_id, key_id).

    `path` is a file (shared by every store opened on it, and kept across runs) or, only when
    asked for, ":memory:". One connection guarded by a lock, so the store can be used from the
    event loop thread of a server and from test threads at once.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        with self._lock, self._db:
            if self.path != ":memory:":
                # WAL lets another store (or process) read the file while this one writes.
                self._db.execute("PRAGMA journal_mode=WAL")
                # A mock's records need not survive power loss; commits skip the fsync wait.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RegistryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryStore({self.path!r})"

    # --- writes ---

    def add(
        self, record: Subscriber | Mapping[str, object], *, replace: bool = False
    ) -> Subscriber:
        """Insert a record; raise InvalidField, or DuplicateSubscriber unless `replace`.

        A mapping is read as JSON fields (unique_key_id, created and updated are ignored); a
        Subscriber is validated the same way.
        """
        if isinstance(record, Subscriber):
            # A Subscriber's empty strings are fields left unset, to be defaulted like absent ones.
            fields = {name: value for name, value in record.as_dict().items() if value != ""}
        else:
            fields = dict(record)
        subscriber = _new_subscriber(fields)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        placeholders = ", ".join("?" * (len(_COLUMNS) + 2))
        sql = (
            f"{verb} INTO subscribers ({', '.join(_COLUMNS)}, valid_from_s, valid_until_s) "
            f"VALUES ({placeholders})"
        )
        try:
            with self._lock, self._db:
                self._db.execute(sql, _subscriber_to_row(subscriber))
        except sqlite3.IntegrityError:
            raise DuplicateSubscriber(
                f"subscriber {subscriber.subscriber_id!r} already has a key {subscriber.key_id!r}"
            ) from None
        return subscriber

    def update(self, subscriber_id: str, key_id: str, /, **changes: object) -> Subscriber:
        """Change fields of one record (see MUTABLE_FIELDS); raise UnknownSubscriber or
        InvalidField. `encr_public_key=None` clears the encryption key."""
        checked: dict[str, object] = {}
        for name, value in changes.items():
            if name in ("subscriber_id", "key_id", *KEY_ID_ALIASES):
                raise InvalidField(name, "cannot be changed; remove the record and add a new one")
            if name not in MUTABLE_FIELDS:
                raise InvalidField(name, f"unknown field; changeable: {', '.join(MUTABLE_FIELDS)}")
            if value is None and name != "encr_public_key":
                raise InvalidField(name, "must not be null")
            checked[name] = _CHECKS[name](value, name)
        with self._lock, self._db:
            current = self._get(subscriber_id, key_id)
            if current is None:
                raise UnknownSubscriber(
                    f"no record for subscriber {subscriber_id!r} with key {key_id!r}"
                )
            if not checked:
                return current
            merged = {**current.as_dict(), **checked, "updated": format_time(_utcnow())}
            merged["network_memberships"] = tuple(merged["network_memberships"])
            changed = Subscriber(**merged)
            row = _subscriber_to_row(changed)
            columns = (*_COLUMNS, "valid_from_s", "valid_until_s")
            assignments = ", ".join(f"{column} = ?" for column in columns[2:])
            self._db.execute(
                f"UPDATE subscribers SET {assignments} WHERE subscriber_id = ? AND key_id = ?",
                (*row[2:], subscriber_id, key_id),
            )
        return changed

    def remove(self, subscriber_id: str, key_id: str | None = None) -> int:
        """Delete one key of a subscriber, or all of its keys; return how many rows went."""
        with self._lock, self._db:
            if key_id is None:
                cursor = self._db.execute(
                    "DELETE FROM subscribers WHERE subscriber_id = ?", (subscriber_id,)
                )
            else:
                cursor = self._db.execute(
                    "DELETE FROM subscribers WHERE subscriber_id = ? AND key_id = ?",
                    (subscriber_id, key_id),
                )
            return cursor.rowcount

    # --- reads ---

    def get(self, subscriber_id: str, key_id: str) -> Subscriber | None:
        with self._lock:
            return self._get(subscriber_id, key_id)

    def _get(self, subscriber_id: str, key_id: str) -> Subscriber | None:
        row = self._db.execute(
            f"{_SELECT} WHERE subscriber_id = ? AND key_id = ?", (subscriber_id, key_id)
        ).fetchone()
        return None if row is None else _row_to_subscriber(row)

    def lookup(
        self,
        subscriber_id: str | None = None,
        type: str | None = None,
        domain: str | None = None,
        key_id: str | None = None,
    ) -> list[Subscriber]:
        """Every record matching all the given fields exactly, in any status."""
        filters = {"subscriber_id": subscriber_id, "type": type, "domain": domain, "key_id": key_id}
        given = {name: value for name, value in filters.items() if value is not None}
        where = " AND ".join(f"{name} = ?" for name in given) or "1"
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} WHERE {where} ORDER BY subscriber_id, key_id", tuple(given.values())
            ).fetchall()
        return [_row_to_subscriber(row) for row in rows]

    def trusted_key(
        self, subscriber_id: str, key_id: str, now: float | datetime | None = None
    ) -> str | None:
        """The signing key of a SUBSCRIBED record valid at `now` (epoch seconds), else None.

        One primary-key lookup, no cache, so a revocation is seen by the very next request.
        """
        moment = _as_epoch(now)
        with self._lock:
            row = self._db.execute(
                "SELECT signing_public_key FROM subscribers WHERE subscriber_id = ? AND key_id = ?"
                " AND status = ? AND valid_from_s <= ? AND ? <= valid_until_s",
                (subscriber_id, key_id, TRUSTED_STATUS, moment, moment),
            ).fetchone()
        return None if row is None else str(row[0])


def _new_subscriber(fields: dict[str, object]) -> Subscriber:
    """Validate the fields of a record to add and fill in the defaults."""
    for name in IGNORED_ON_ADD:
        fields.pop(name, None)
    for name in fields:
        if name not in _CHECKS:
            raise InvalidField(name, "unknown field")
    for name in REQUIRED_FIELDS:
        if fields.get(name) is None:
            raise InvalidField(name, "is required")
    # JSON null for an optional field means "use the default".
    checked: dict[str, Any] = {
        name: _CHECKS[name](value, name)
        for name, value in fields.items()
        if value is not None or name == "encr_public_key"
    }
    now = _utcnow()
    stamp = format_time(now)
    checked.setdefault("valid_from", stamp)
    checked.setdefault("valid_until", format_time(now + DEFAULT_VALIDITY))
    return Subscriber(created=stamp, updated=stamp, **checked)


# --- HTTP ---------------------------------------------------------------------------------------


class _Refusal(Exception):
    """An HTTP error answer raised from inside a handler."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


_STATUS_OF_ERROR = {
    InvalidField: 400,
    DuplicateSubscriber: 409,
    UnknownSubscriber: 404,
}


class _ErrorResponse(JSONResponse):
    """JSON escaped to ASCII: an error may quote a field name that is not valid Unicode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return _ErrorResponse({"error": error}, status_code=status, headers=headers)


async def _on_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Refusal)
    return _error(exc.status, exc.code, exc.message, exc.field, exc.headers)


async def _on_registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    status = next((s for kind, s in _STATUS_OF_ERROR.items() if isinstance(exc, kind)), 400)
    return _error(status, exc.code, exc.message, exc.field)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    # Starlette's own 404/405 answers, in the same JSON error shape as ours.
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return _error(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _json_body(request: Request) -> object:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _Refusal(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _Refusal(400, "invalid-json", f"the body is not JSON: {exc}") from None


async def _json_object(request: Request) -> dict[str, object]:
    document = await _json_body(request)
    if not isinstance(document, dict):
        raise _Refusal(
            400, "invalid-body", f"the body must be a JSON object, got {_json_type(document)}"
        )
    return document


def _lookup_filter(document: Mapping[str, object]) -> dict[str, str] | None:
    """The v1 lookup filter out of a request body, or None when nothing can match.

    Unknown fields are ignored, and so are null ones. Every spelling of key_id given must match,
    so spellings that disagree match nothing.
    """
    given: dict[str, str] = {}
    for name, spellings in (
        ("subscriber_id", ("subscriber_id",)),
        ("type", ("type",)),
        ("domain", ("domain",)),
        ("key_id", ("key_id", *KEY_ID_ALIASES)),
    ):
        for spelling in spellings:
            value = document.get(spelling)
            if value is None:
                continue
            text = _text(value, spelling)
            if given.setdefault(name, text) != text:
                return None
    return given


def create_app(
    store: RegistryStore,
    *,
    registry_name: str = DEFAULT_REGISTRY_NAME,
    admin_token: str | None = None,
) -> Starlette:
    """The registry as an ASGI app over `store`.

    `registry_name` is the only registry the DeDi lookup answers for. With `admin_token`,
    `/admin/*` needs `Authorization: Bearer <admin_token>`.
    """

    def require_admin(request: Request) -> None:
        if admin_token is None:
            return
        presented = request.headers.get("authorization", "")
        scheme, _, token = presented.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), admin_token.encode()
        ):
            raise _Refusal(
                401,
                "unauthorized",
                "the admin API needs 'Authorization: Bearer <admin token>'",
                headers={"WWW-Authenticate": f'Bearer realm="{registry_name}"'},
            )

    async def v1_lookup(request: Request) -> Response:
        wanted = _lookup_filter(await _json_object(request))
        found = [] if wanted is None else store.lookup(**wanted)
        return JSONResponse([record.as_v1() for record in found])

    async def dedi_lookup(request: Request) -> Response:
        params = request.path_params
        if params["registry_name"] != registry_name:
            raise _Refusal(
                404, "not-found", f"no registry {params['registry_name']!r} here; "
                f"this registry is {registry_name!r}",
            )
        record = store.get(params["subscriber_id"], params["key_id"])
        if record is None or not record.is_trusted():
            raise _Refusal(
                404,
                "not-found",
                f"no live record for subscriber {params['subscriber_id']!r} "
                f"with key {params['key_id']!r}",
            )
        return JSONResponse(record.as_dedi(registry_name))

    async def subscribers(request: Request) -> Response:
        require_admin(request)
        if request.method != "POST":
            return JSONResponse([record.as_dict() for record in store.lookup()])
        added = store.add(await _json_object(request))
        location = (
            f"/admin/subscribers/{quote(added.subscriber_id, safe='')}"
            f"/{quote(added.key_id, safe='')}"
        )
        return JSONResponse(added.as_dict(), status_code=201, headers={"Location": location})

    async def one_subscriber(request: Request) -> Response:
        require_admin(request)
        subscriber_id = request.path_params["subscriber_id"]
        key_id = request.path_params["key_id"]
        if request.method == "PATCH":
            changes = await _json_object(request)
            return JSONResponse(store.update(subscriber_id, key_id, **changes).as_dict())
        if request.method == "DELETE":
            if not store.remove(subscriber_id, key_id):
                raise UnknownSubscriber(
                    f"no record for subscriber {subscriber_id!r} with key {key_id!r}"
                )
            return JSONResponse({"removed": 1})
        record = store.get(subscriber_id, key_id)
        if record is None:
            raise UnknownSubscriber(
                f"no record for subscriber {subscriber_id!r} with key {key_id!r}"
            )
        return JSONResponse(record.as_dict())

    async def remove_subscriber(request: Request) -> Response:
        require_admin(request)
        subscriber_id = request.path_params["subscriber_id"]
        # Idempotent, so "make sure this subscriber is gone" needs no look first.
        return JSONResponse({"removed": store.remove(subscriber_id)})

    routes = [
        Route("/lookup", v1_lookup, methods=["POST"]),
        Route("/lookup/{subscriber_id}/{registry_name}/{key_id}", dedi_lookup, methods=["GET"]),
        Route("/admin/subscribers", subscribers, methods=["GET", "POST"]),
        Route("/admin/subscribers/{subscriber_id}", remove_subscriber, methods=["DELETE"]),
        Route(
            "/admin/subscribers/{subscriber_id}/{key_id}",
            one_subscriber,
            methods=["GET", "PATCH", "DELETE"],
        ),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            _Refusal: _on_refusal,
            RegistryError: _on_registry_error,
            HTTPException: _on_http_exception,
        },
    )
