"""A transcript's file on disk: one NDJSON line per finished exchange, appended as it finishes
and read back by its place; rotated into two segments past a size when asked to."""

from __future__ import annotations

import os
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024


@dataclass(frozen=True)
class Place:
    """Where one exchange's line is in a spool."""

    segment: int
    offset: int
    length: int


class Spool:
    """A transcript's file: one NDJSON line (`Exchange.as_record`, unredacted) per finished
    exchange, appended as it finishes and read back by its place. `path` None: an unnamed
    temporary file, gone with the process; else that file, mode 0600, begun empty."""

    def __init__(self, path: Path | None = None, segment_bytes: int | None = None) -> None:
        self.path = path
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}  # segment -> descriptor: the current one, the one before
        self._segment = 0
        self._size = 0
        self.closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._fds)
        if path is not None:  # named: there from the start, for whoever follows it
            self._fds[0] = self._open()

    def _open(self) -> int:
        if self.path is None:
            fd, name = tempfile.mkstemp(prefix="ubc-transcript-", suffix=".ndjson")
            os.unlink(name)
            return fd
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def append(self, line: bytes) -> Place | None:
        """Write one line; its place, or None once closed."""
        with self._lock:
            if self.closed:
                return None
            if not self._fds:
                self._fds[0] = self._open()
            elif self.segment_bytes is not None and self._size and \
                    self._size + len(line) > self.segment_bytes:
                self._rotate()
            fd, offset = self._fds[self._segment], self._size
            written = 0
            while written < len(line):
                written += os.pwrite(fd, line[written:], offset + written)
            self._size += len(line)
            return Place(self._segment, offset, len(line))

    def _rotate(self) -> None:
        """The current file becomes the one before; the one before that is gone (lock held)."""
        gone = self._fds.pop(self._segment - 1, None)
        if gone is not None:
            os.close(gone)
        if self.path is not None:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._segment += 1
        self._fds[self._segment] = self._open()
        self._size = 0

    def read(self, place: Place) -> bytes | None:
        """The line at `place`, or None when its file is no longer kept."""
        with self._lock:
            fd = self._fds.get(place.segment)
            return None if fd is None else os.pread(fd, place.length, place.offset)

    def lines(self) -> Iterator[bytes]:
        """Every line kept, oldest first."""
        with self._lock:
            segments = sorted(self._fds)
        for segment in segments:
            offset, rest = 0, b""
            while True:
                with self._lock:
                    fd = self._fds.get(segment)
                    chunk = b"" if fd is None else os.pread(fd, MB, offset)
                if not chunk:
                    break
                offset += len(chunk)
                *whole, rest = (rest + chunk).split(b"\n")
                yield from whole

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._finalizer()


def _close_all(fds: dict[int, int]) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()
