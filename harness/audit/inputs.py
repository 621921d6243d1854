"""Where an audit's input comes from: local files and folders, or any fsspec URL (memory://,
s3:// with s3fs installed, ...), each named as the report names it, read as a stream of lines.

A folder is read recursively, *.json and *.ndjson/*.jsonl in name order; of a run folder (one
holding transcript.ndjson) only the transcript is read, never its report.json or Allure files,
the report being read beside the transcript for what it says of the run. A file named twice is
read once. Lines are split as bytes.splitlines() splits them, so a capture's line numbers are
the same whether it is read whole or streamed.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from harness.audit.model import RUN_REPORT, RUN_TRANSCRIPT
from harness.validation import NDJSON_SUFFIXES, InputError

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
LOCAL_URL = "file://"
CHUNK = 1 << 20  # bytes read at a time: memory holds a chunk and the longest line, no more


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        raise InputError("reading a URL needs fsspec: pip install 'ubc-conformance[scale]'"
                         ) from None
    return fsspec


@dataclass(frozen=True)
class Source:
    """One file of the input."""

    index: int  # its place in the input: the order of the report
    location: str  # a local path, or an fsspec URL
    display: str  # how findings name it ("display:line")
    size: int

    @property
    def remote(self) -> bool:
        return bool(URL.match(self.location))

    @property
    def ndjson(self) -> bool:
        return PurePosixPath(self.location).suffix in NDJSON_SUFFIXES

    @property
    def run_name(self) -> str:
        """The name of the run a transcript recorded (flow.AppRun.run)."""
        return self.location if self.remote else str(Path(self.location))

    @property
    def report_name(self) -> str:
        """Where the report.json beside it would be."""
        if self.remote:
            return posixpath.join(posixpath.dirname(self.location), RUN_REPORT)
        return str(Path(self.location).parent / RUN_REPORT)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        try:
            if self.remote:
                with _fsspec().open(self.location, "rb") as handle:
                    yield handle
            else:
                with open(self.location, "rb") as handle:
                    yield handle
        except OSError as exc:
            raise InputError(f"{self.display}: cannot read: {exc.strerror or exc}") from None

    def lines(self) -> Iterator[bytes]:
        """Every line, without its line break, as bytes.splitlines() would give them."""
        with self.open() as handle:
            yield from split_lines(handle)

    def whole(self) -> Piece:
        return Piece(self, 0, self.size)

    def read(self) -> bytes:
        if not self.remote and not os.access(self.location, os.R_OK):
            raise InputError(f"{self.display}: cannot read: permission denied")
        with self.open() as handle:
            return handle.read()

    def report_beside(self) -> Any:
        """The report.json of the run that wrote this transcript, parsed; None without one."""
        try:
            if self.remote:
                with _fsspec().open(self.report_name, "rb") as handle:
                    return json.loads(handle.read().decode("utf-8"))
            return json.loads(Path(self.report_name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


@dataclass(frozen=True)
class Piece:
    """The lines of a file that begin in [start, end): the whole file, or a part of a large
    NDJSON file that another process can read at the same time (`cut`)."""

    source: Source
    start: int
    end: int

    def lines(self) -> Iterator[bytes]:
        if self.start == 0 and self.end >= self.source.size:
            yield from self.source.lines()
            return
        with self.source.open() as handle:
            begin, end = _line_start(handle, self.start), _line_start(handle, self.end)
            handle.seek(begin)
            yield from split_lines(_Window(handle, end - begin))


def cut(source: Source, size: int) -> list[Piece]:
    """A file in pieces of about `size` bytes, each starting at a line."""
    if not source.ndjson or source.size <= size:
        return [source.whole()]
    with source.open() as handle:
        starts = sorted({0, *(_line_start(handle, at) for at in range(size, source.size, size))})
    ends = [*starts[1:], source.size]
    return [Piece(source, a, b) for a, b in zip(starts, ends, strict=True) if a < b]


def _line_start(handle: IO[bytes], at: int) -> int:
    """The first offset at or after `at` where a line begins (a line break ends at \n, \r\n
    or \r), or the end of the file."""
    if at <= 0:
        return 0
    handle.seek(at - 1)
    previous = handle.read(1)
    if not previous:  # past the end: the end
        return handle.seek(0, os.SEEK_END)
    following = handle.read(1)
    if previous == b"\n" or (previous == b"\r" and following != b"\n"):
        return at
    handle.seek(at)
    offset = at
    while chunk := handle.read(1 << 16):
        breaks = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
        if breaks:
            first = min(breaks)
            if chunk[first:first + 1] == b"\r":
                if first + 1 == len(chunk):  # the \n that may follow is in the next read
                    return offset + first + (2 if handle.read(1) == b"\n" else 1)
                return offset + first + (2 if chunk[first + 1:first + 2] == b"\n" else 1)
            return offset + first + 1
        offset += len(chunk)
    return offset


class _Window:
    """The next `size` bytes of a file, as a file."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle, self.left = handle, size

    def read(self, size: int = -1) -> bytes:
        wanted = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(wanted) if wanted > 0 else b""
        self.left -= len(data)
        return data


def split_lines(handle: IO[bytes] | _Window) -> Iterator[bytes]:
    r"""bytes.splitlines() of the whole stream, a chunk at a time: a line ends at \n, \r\n or
    \r, and a \r at the end of a chunk waits for the next in case a \n follows it."""
    pending: list[bytes] = []
    while chunk := handle.read(CHUNK):
        cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if cut == len(chunk) - 1 and chunk.endswith(b"\r"):
            cut = max(chunk.rfind(b"\n", 0, cut), chunk.rfind(b"\r", 0, cut))
        if cut < 0:
            pending.append(chunk)
            continue
        pending.append(chunk[:cut + 1])
        yield from b"".join(pending).splitlines()
        pending = [chunk[cut + 1:]]
    rest = b"".join(pending)
    if rest:
        yield from rest.splitlines()


def expand(names: list[str]) -> list[Source]:
    """The files `names` stand for, in reading order, each once."""
    found: list[Source] = []
    seen: set[str] = set()
    for name in names:
        if URL.match(name) and not name.startswith(LOCAL_URL):
            listed = _remote(name)
        else:
            listed = _local(name[len(LOCAL_URL):] if name.startswith(LOCAL_URL) else name, name)
        for location, display, identity, size in listed:
            if identity not in seen:  # named twice (a run folder and its transcript): once
                seen.add(identity)
                found.append(Source(len(found), location, display, size))
    return found


def _wanted(path: PurePosixPath | Path) -> bool:
    return path.suffix == ".json" or path.suffix in NDJSON_SUFFIXES


def _local(path_name: str, name: str) -> list[tuple[str, str, str, int]]:
    path = Path(path_name)
    if path.is_dir():
        runs = {t.parent for t in path.rglob(RUN_TRANSCRIPT) if t.is_file()}
        files = sorted(p for p in path.rglob("*") if p.is_file() and _wanted(p) and (
            p.name == RUN_TRANSCRIPT or not any(d in runs for d in p.parents)))
        if not files:
            raise InputError(f"{name}: folder holds no *.json or *.ndjson files")
        return [(str(p), str(p), str(p.resolve()), _size(p)) for p in files]
    if path.is_file():
        return [(path_name, name, str(path.resolve()), _size(path))]
    raise InputError(f"{name}: no such file or folder")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # unreadable: said so when it is read


def _remote(name: str) -> list[tuple[str, str, str, int]]:
    fs, root = _fsspec().core.url_to_fs(name)
    try:
        if fs.isdir(root):
            paths = sorted(fs.find(root))
            runs = {posixpath.dirname(p) for p in paths
                    if posixpath.basename(p) == RUN_TRANSCRIPT}
            files = [p for p in paths if _wanted(PurePosixPath(p)) and (
                posixpath.basename(p) == RUN_TRANSCRIPT
                or not any(str(d) in runs for d in PurePosixPath(p).parents))]
            if not files:
                raise InputError(f"{name}: folder holds no *.json or *.ndjson files")
            return [(url, url, url, fs.size(p))
                    for p in files for url in [fs.unstrip_protocol(p)]]
        if fs.isfile(root):
            return [(name, name, fs.unstrip_protocol(root), fs.size(root))]
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc}") from None
    raise InputError(f"{name}: no such file or folder")
