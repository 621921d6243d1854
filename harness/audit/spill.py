"""The audit's intermediate data: lines spilled to a partition, the keys that tie transactions,
and a partition's judged transactions, each a plain byte stream.

A spilled line is a fixed header (file, form, line, ordinal, length) and the line's bytes as
read; its partition reads it back (reading.respill) into the same message. A piece of input is
split by one process into one object of as many buckets as partitions, with an index of where
each lies (`Scratch`), so pieces are split in parallel and the objects are as few as the
pieces. A partition's judged transactions are pickled one after the other, in report order,
and merged with every other partition's by their place.
"""

from __future__ import annotations

import heapq
import pickle
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LINE = struct.Struct("<IBQQI")  # file, form, line, ordinal, length of the bytes that follow
PAIR = struct.Struct("<QQ")  # a link: shared key, transaction key


def pack_line(file: int, form: int, line: int, ordinal: int, raw: bytes) -> bytes:
    return LINE.pack(file, form, line, ordinal, len(raw)) + raw


def unpack_lines(data: bytes) -> Iterator[tuple[int, int, int, int, bytes]]:
    view, at = memoryview(data), 0
    while at < len(data):
        file, form, line, ordinal, length = LINE.unpack_from(view, at)
        at += LINE.size
        yield file, form, line, ordinal, bytes(view[at:at + length])
        at += length


def unpack_pairs(data: bytes) -> Iterator[tuple[int, int]]:
    yield from PAIR.iter_unpack(data)


class Buckets:
    """Bytes routed to N buckets, in memory: a piece of input's worth at most."""

    def __init__(self, count: int) -> None:
        self.buffers = [bytearray() for _ in range(count)]

    def add(self, bucket: int, data: bytes) -> None:
        self.buffers[bucket] += data


INDEX = struct.Struct("<QQ")  # where a bucket lies in its object: offset, length


@dataclass(frozen=True)
class Scratch:
    """Where the stages leave their buckets for the next: a local folder, or a URL fsspec
    writes (s3://bucket/prefix) that every worker of a cluster reaches. Each piece of input
    leaves one object of all its buckets and an index of where each lies, so the objects are
    as few as the pieces and the driver holds none of their indexes."""

    root: str

    @property
    def remote(self) -> bool:
        return "://" in self.root

    def _fs(self) -> Any:
        import fsspec
        return fsspec.core.url_to_fs(self.root)[0]

    def write(self, name: str, buckets: Buckets) -> None:
        index = bytearray()
        offset = 0
        with self._open(f"{name}.bin", "wb") as out:
            for buffer in buckets.buffers:
                out.write(buffer)
                index += INDEX.pack(offset, len(buffer))
                offset += len(buffer)
        with self._open(f"{name}.idx", "wb") as out:
            out.write(bytes(index))

    def read(self, name: str, bucket: int) -> bytes:
        offset, length = INDEX.unpack(self._range(f"{name}.idx", bucket * INDEX.size,
                                                  INDEX.size))
        return self._range(f"{name}.bin", offset, length) if length else b""

    def _open(self, name: str, mode: str) -> IO[bytes]:
        path = f"{self.root.rstrip('/')}/{name}"
        if self.remote:
            handle: IO[bytes] = self._fs().open(path, mode)
            return handle
        return open(path, mode)

    def _range(self, name: str, offset: int, length: int) -> bytes:
        with self._open(name, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def remove(self) -> None:
        """Remove what the stages left (a local folder is its owner's to remove)."""
        if self.remote:
            fs = self._fs()
            if fs.exists(self.root):
                fs.rm(self.root, recursive=True)


# -- judged transactions --------------------------------------------------------------------------


def write_results(out: IO[bytes], results: Iterable[Any]) -> None:
    for result in results:
        pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)


def read_results(path: Path) -> Iterator[Any]:
    with path.open("rb") as handle:
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


FAN_IN = 128  # result files merged at once: open files stay few whatever the partitions


def merge_results(paths: list[Path], scratch: Path) -> Iterator[Any]:
    """Every partition's results, in order of their first field, from files each in that
    order; in rounds of FAN_IN files when there are more."""
    round_ = 0
    while len(paths) > FAN_IN:
        merged: list[Path] = []
        for start in range(0, len(paths), FAN_IN):
            target = scratch / f"merge-{round_}-{start}.pickle"
            with target.open("wb") as out:
                write_results(out, _merge(paths[start:start + FAN_IN]))
            merged.append(target)
        paths, round_ = merged, round_ + 1
    yield from _merge(paths)


def _merge(paths: list[Path]) -> Iterator[Any]:
    return heapq.merge(*(read_results(p) for p in paths), key=lambda result: result[0])
