"""Registry records in SQLite: add, change, remove, look up, and the trust question every signed
request asks (`trusted_key`).

One row per (subscriber_id, key_id). Every change is validated on the way in (records.py, by the
schemas of schemas/openapi/registry.yaml), so records added from Python obey the same rules as
those added over the admin API.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from datetime import datetime
from os import PathLike
from types import TracebackType
from typing import Any

from harness.beckn import time
from mocks.registry.errors import DuplicateSubscriber, UnknownSubscriber
from mocks.registry.openapi import request_bodies
from mocks.registry.records import (
    Subscriber,
    changed_subscriber,
    checked_changes,
    new_subscriber,
)

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
    "city",
    "country",
)
# Columns added after the first release, with their SQL type: a file written before them gets
# them on open (NULL in old rows), so a state folder survives an upgrade.
_ADDED_COLUMNS = {"city": "TEXT", "country": "TEXT"}

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
    city TEXT,
    country TEXT,
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
    # The validity in epoch seconds too, so that trusted_key is one indexed comparison in SQL.
    return (
        *(values[column] for column in _COLUMNS),
        time.parse(record.valid_from).timestamp(),
        time.parse(record.valid_until).timestamp(),
    )


class RegistryStore:
    """Registry records in SQLite, one row per (subscriber_id, key_id).

    `path` is a file (shared by every store opened on it, and kept across runs) or, only when
    asked for, ":memory:". One connection guarded by a lock, so the store can be used from the
    event loop thread of a server and from test threads at once.
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = str(path)
        # The rules of the admin API's bodies, so a record added from Python obeys them too.
        self._bodies = request_bodies()
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        with self._lock, self._db:
            if self.path != ":memory:":
                # WAL lets another store (or process) read the file while this one writes.
                self._db.execute("PRAGMA journal_mode=WAL")
                # A mock's records need not survive power loss; commits skip the fsync wait.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(subscribers)")}
            for column, sql_type in _ADDED_COLUMNS.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE subscribers ADD COLUMN {column} {sql_type}")

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
        subscriber = new_subscriber(fields, self._bodies)
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
        """Change fields of one record (those of RecordChange in the document); raise
        UnknownSubscriber or InvalidField. `encr_public_key=None` clears the encryption key."""
        checked = checked_changes(changes, self._bodies)
        with self._lock, self._db:
            current = self._get(subscriber_id, key_id)
            if current is None:
                raise UnknownSubscriber(
                    f"no record for subscriber {subscriber_id!r} with key {key_id!r}"
                )
            if not checked:
                return current
            changed = changed_subscriber(current, checked)
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
        type: str | tuple[str, ...] | None = None,
        domain: str | None = None,
        key_id: str | None = None,
    ) -> list[Subscriber]:
        """Every record matching all the given fields exactly, in any status; `type` may be
        several types, any of which matches."""
        filters = {"subscriber_id": subscriber_id, "type": type, "domain": domain, "key_id": key_id}
        conditions: list[str] = []
        values: list[str] = []
        for name, value in filters.items():
            if value is None:
                continue
            wanted = (value,) if isinstance(value, str) else value
            conditions.append(f"{name} IN ({', '.join('?' * len(wanted))})" if wanted else "0")
            values.extend(wanted)
        where = " AND ".join(conditions) or "1"
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} WHERE {where} ORDER BY subscriber_id, key_id", tuple(values)
            ).fetchall()
        return [_row_to_subscriber(row) for row in rows]

    def trusted_key(
        self, subscriber_id: str, key_id: str, now: float | datetime | None = None
    ) -> str | None:
        """The signing key of the record, when the kernel's trust rule trusts it at `now`
        (harness.beckn.subscriber). One primary-key lookup and no cache, so a revocation is
        seen by the very next request."""
        record = self.get(subscriber_id, key_id)
        return record.signing_public_key if record is not None and record.is_trusted(now) \
            else None
