"""The signatures a party has accepted, remembered until they expire, so that the same signed
request is refused the second time (UBC-SIG-016) — after a restart too, when kept in a file.

One SQLite file per network (`replays.sqlite3` in its state folder) is shared by its parties:
a row per (party, signature) holding the time the signature stops verifying anyway (its
`expires` plus the allowed clock skew). Rows past that time are purged in batches, and the
longest window a party accepts (`max_validity_s` of mocks/stack/safeguards.py, UBC-SIG-015)
bounds how long a row can live, so the table holds at most what arrives within that window.
Signatures are stored as a 32-byte hash: a row's size does not depend on what a sender wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import time
from os import PathLike

log = logging.getLogger("ubc.mocks")

PURGE_EVERY = 1024  # remembered signatures between two purges of the expired ones

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    party TEXT NOT NULL,
    signature BLOB NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (party, signature)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_by_until ON seen (until);
"""
# A row whose time is over is no replay: the signature it held is expired, so taking it again
# just renews the row (the signature step refuses it as expired unless a fault lets it by).
_REMEMBER = """
INSERT INTO seen (party, signature, until) VALUES (?, ?, ?)
ON CONFLICT (party, signature) DO UPDATE SET until = excluded.until WHERE seen.until < ?
"""


class ReplayMemory:
    """Accepted signatures by party, in SQLite: `path` is a file (shared by every memory opened
    on it, by other processes too, and kept across restarts) or ":memory:" (this object only).
    One connection guarded by a lock, usable from any thread."""

    def __init__(self, path: str | PathLike[str] = ":memory:", *,
                 purge_every: int = PURGE_EVERY) -> None:
        self.path = str(path)
        self.purge_every = purge_every
        self._since_purge = 0
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if self.path == ":memory:":
                raise
            # not a database, or one a power loss left broken: what it held is lost anyway
            aside = f"{self.path}.unreadable-{int(time.time())}"
            log.warning("replay memory %s is unreadable (%s): moved to %s, starting empty",
                        self.path, exc, aside)
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path + suffix)
            self._db = self._open()
        self.purge()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0,
                             isolation_level=None)  # autocommit: one statement each
        try:
            with self._lock:
                if self.path != ":memory:":
                    # WAL: another party's process can read and write the file meanwhile.
                    db.execute("PRAGMA journal_mode=WAL")
                    # A replay memory need not survive power loss (a file it leaves broken
                    # is set aside above): no fsync at all, not even at WAL checkpoints,
                    # which held the event loop 30-50 us a signature under load.
                    db.execute("PRAGMA synchronous=OFF")
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def __repr__(self) -> str:
        return f"ReplayMemory({self.path!r})"

    def first_use(self, party: str, signature: str, until: float,
                  now: float | None = None) -> bool:
        """True, and `signature` remembered for `party` until `until` (epoch seconds), when the
        party has not accepted it before (or only long enough ago for it to have expired);
        False for a replay."""
        now = time.time() if now is None else now
        key = hashlib.blake2b(signature.encode("utf-8", "surrogatepass"),
                              digest_size=32).digest()
        with self._lock:
            fresh = self._db.execute(_REMEMBER, (party, key, until, now)).rowcount > 0
            self._since_purge += 1
            due = self._since_purge >= self.purge_every
        if due:
            self.purge(now)
        return fresh

    def purge(self, now: float | None = None) -> int:
        """Forget every signature whose time is over; return how many went."""
        now = time.time() if now is None else now
        with self._lock:
            self._since_purge = 0
            return self._db.execute("DELETE FROM seen WHERE until < ?", (now,)).rowcount

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
