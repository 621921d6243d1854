"""The signatures a party has accepted, remembered until they expire, so that the same signed
request is refused the second time (UBC-SIG-016) — after a restart too, when kept in a file.

One SQLite file per network (`replays.sqlite3` in its state folder) is shared by its parties:
a row per (party, signature) holding the time the signature stops verifying anyway (its
`expires` plus the allowed clock skew). Rows past that time are purged in batches, and the
longest window a party accepts (`max_validity_s` of mocks/stack/safeguards.py, UBC-SIG-015)
bounds how long a row can live, so the table holds at most what arrives within that window.
Signatures are stored as a 32-byte hash: a row's size does not depend on what a sender wrote.

Rows are written in batches: the signatures taken within COMMIT_EVERY_S wait in memory and
go to the file in one short transaction, written by a background thread (a transaction each
was ~6 % of a busy party's CPU). Within a process a signature counts from the moment it is
taken; what a kill -9 loses is at most the last COMMIT_EVERY_S of them, and another process
sharing the file (each party has rows of its own) sees them that much later.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from os import PathLike

log = logging.getLogger("ubc.mocks")

PURGE_EVERY = 1024  # remembered signatures between two purges of the expired ones
COMMIT_EVERY_S = 0.05  # the longest a taken signature waits to be committed to the file

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
_HELD = "SELECT until FROM seen WHERE party = ? AND signature = ?"
_REMEMBER = """
INSERT INTO seen (party, signature, until) VALUES (?, ?, ?)
ON CONFLICT (party, signature) DO UPDATE SET until = excluded.until
"""


class ReplayMemory:
    """Accepted signatures by party, in SQLite: `path` is a file (shared by every memory opened
    on it, by other processes too, and kept across restarts) or ":memory:" (this object only).
    One connection guarded by a lock, usable from any thread."""

    def __init__(self, path: str | PathLike[str] = ":memory:", *,
                 purge_every: int = PURGE_EVERY, commit_every_s: float = COMMIT_EVERY_S
                 ) -> None:
        self.path = str(path)
        self.purge_every = purge_every
        self._since_purge = 0
        self._lock = threading.Lock()
        # taken, not yet in the file: (party, signature hash) -> until
        self._pending: dict[tuple[str, bytes], float] = {}
        self._closed = threading.Event()
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
        if self.path != ":memory:":
            threading.Thread(target=_commit_batches, args=(weakref.ref(self), self._closed,
                                                           commit_every_s),
                             daemon=True, name="ubc-replays").start()

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
            held = self._pending.get((party, key))
            if held is None:
                row = self._db.execute(_HELD, (party, key)).fetchone()
                held = None if row is None else row[0]
            if held is not None and held >= now:
                return False
            if self.path == ":memory:":  # nobody else reads it: no batch to wait for
                self._db.execute(_REMEMBER, (party, key, until))
            else:
                self._pending[(party, key)] = until
            self._since_purge += 1
            due = self._since_purge >= self.purge_every
        if due:
            self.purge(now)
        return True

    def purge(self, now: float | None = None) -> int:
        """Forget every signature whose time is over; return how many went."""
        now = time.time() if now is None else now
        with self._lock:
            self._since_purge = 0
            return self._db.execute("DELETE FROM seen WHERE until < ?", (now,)).rowcount

    def __len__(self) -> int:
        self.commit()
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def commit(self) -> None:
        """Write the signatures taken so far to the file (the background thread does so every
        COMMIT_EVERY_S)."""
        with self._lock:  # held while writing: a signature is always in memory or the file
            if not self._pending:
                return
            rows = [(party, key, until) for (party, key), until in self._pending.items()]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_REMEMBER, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._pending.clear()

    def close(self) -> None:
        self._closed.set()
        self.commit()
        with self._lock:
            self._db.close()


def _commit_batches(memory: weakref.ref[ReplayMemory], closed: threading.Event,
                    every_s: float) -> None:
    """Commit the waiting signatures every `every_s` until the memory is closed or gone; a
    failure (a full disk) is logged once, and retried with the next batch."""
    failing = False
    while not closed.wait(every_s):
        alive = memory()
        if alive is None:
            return
        try:
            alive.commit()
            failing = False
        except sqlite3.Error as exc:
            if not failing and not closed.is_set():
                log.warning("replay memory %s: signatures cannot be written (%s); they are "
                            "kept in memory meanwhile", alive.path, exc)
            failing = True
        del alive
