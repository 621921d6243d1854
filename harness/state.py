"""The harness's own identity across runs: its key pairs, kept in a state folder.

A candidate's stack caches what it looked up in the registry (often for minutes); a harness
that came back with a new key under the same key id would fail every signature until that
cache expires. So each harness party (`bap`, `other-bap`, `cds`, `bpp`, `other-bpp`) keeps one
key pair in `<state>/<role>-keys.json` (mode 0600) from run to run. Rotating (`--fresh-keys`)
makes new pairs under new key ids, so a caching stack looks the new key up instead of trusting
a stale one. Key ids carry their creation time (`bap.mock.ubc-20250612T101500Z`), so even a
deleted and recreated state folder never reuses a key id a stack may have cached.

The default folder is `$XDG_CACHE_HOME/ubc-cert`, else `~/.cache/ubc-cert`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.beckn.keys import read_key_file, write_key_file
from harness.beckn.signing import InvalidKey, KeyPair

FOLDER_NAME = "ubc-cert"


def default_state_dir() -> Path:
    """`$XDG_CACHE_HOME/ubc-cert`, or `~/.cache/ubc-cert` (a relative XDG_CACHE_HOME is
    ignored, as the XDG base directory specification says)."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return root / FOLDER_NAME


def next_key_id(subscriber_id: str, previous: str | None = None, now: float | None = None
                ) -> str:
    """A key id for a new key of `subscriber_id`: its creation time, never `previous`."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    key_id = f"{subscriber_id}-{stamp.strftime('%Y%m%dT%H%M%SZ')}"
    return key_id if key_id != previous else f"{key_id}-{secrets.token_hex(2)}"


class Keyring:
    """The harness parties' key pairs in one state folder; with `rotate`, every pair is
    replaced once (the first time it is asked for) by a new pair under a new key id."""

    def __init__(self, folder: Path, *, rotate: bool = False) -> None:
        self.folder = folder
        self.rotate = rotate
        self._pairs: dict[str, KeyPair] = {}

    def path(self, role: str) -> Path:
        return self.folder / f"{role}-keys.json"

    def pair(self, role: str, subscriber_id: str) -> KeyPair:
        """The role's pair: the same object for the life of the keyring, read from its file,
        created on first use, replaced once when rotating. InvalidKey names an unusable file."""
        if role not in self._pairs:
            self._pairs[role] = self._load(role, subscriber_id)
        return self._pairs[role]

    def _load(self, role: str, subscriber_id: str) -> KeyPair:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(role)
        if not self.rotate:
            if path.exists():
                return self._kept(path, subscriber_id)
            try:
                return self._write(path, KeyPair.generate(subscriber_id,
                                                          next_key_id(subscriber_id)))
            except FileExistsError:  # another run made it a moment ago: use theirs
                return self._kept(path, subscriber_id)
        previous: str | None = None
        with contextlib.suppress(InvalidKey):  # nothing usable to rotate from: any id will do
            previous = read_key_file(path).key_id if path.exists() else None
        return self._write(path, KeyPair.generate(subscriber_id,
                                                  next_key_id(subscriber_id, previous)),
                           replace=True)

    @staticmethod
    def _kept(path: Path, subscriber_id: str) -> KeyPair:
        pair = read_key_file(path)
        if pair.subscriber_id != subscriber_id:
            raise InvalidKey(f"{path}: holds a key of {pair.subscriber_id!r}, not of "
                             f"{subscriber_id!r}")
        return pair

    @staticmethod
    def _write(path: Path, pair: KeyPair, *, replace: bool = False) -> KeyPair:
        """Write a key file whole, so a reader sees all of it or none; without `replace`,
        not at all when one exists (FileExistsError)."""
        staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        write_key_file(pair, staged)
        try:
            if replace:
                os.replace(staged, path)
            else:
                os.link(staged, path)  # atomic, and never replaces a file
        finally:
            staged.unlink(missing_ok=True)
        return pair
