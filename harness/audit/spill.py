"""The audit's intermediate data: lines spilled to a partition, the keys that tie transactions,
and a partition's judged transactions, each as a plain byte stream that a local temp folder or a
Dask worker's memory can hold alike.

A spilled line is a fixed header (file, form, line, ordinal, length) and the line's bytes as
read; its partition reads it back (reading.respill) into the same message. Writers buffer per
partition within a budget and append to one file per (partition, input file), so that input
files can be split in parallel without sharing a file.
"""

from __future__ import annotations

import heapq
import pickle
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

LINE = struct.Struct("<IBQQI")  # file, form, line, ordinal, length of the bytes that follow
PAIR = struct.Struct("<QQ")  # a link: shared key, transaction key
BUDGET = 8 << 20  # bytes a writer buffers before it writes the largest buffers out


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
    """Bytes routed to N buckets, held in memory (`pieces`) or, given a folder, written out
    within BUDGET to `<folder>/<bucket>/<name>.bin`."""

    def __init__(self, count: int, folder: Path | None = None, name: str = "") -> None:
        self.buffers = [bytearray() for _ in range(count)]
        self.folder, self.name = folder, name
        self.held = 0

    def add(self, bucket: int, data: bytes) -> None:
        self.buffers[bucket] += data
        self.held += len(data)
        if self.folder is not None and self.held > BUDGET:
            for index in sorted(range(len(self.buffers)), key=lambda i: -len(self.buffers[i])):
                self._write(index)
                if self.held <= BUDGET // 2:
                    break

    def _write(self, index: int) -> None:
        assert self.folder is not None
        buffer = self.buffers[index]
        if buffer:
            folder = self.folder / f"{index:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{self.name}.bin").open("ab") as out:
                out.write(buffer)
            self.held -= len(buffer)
            self.buffers[index] = bytearray()

    def close(self) -> None:
        for index in range(len(self.buffers)):
            self._write(index)

    def pieces(self) -> list[bytes]:
        return [bytes(b) for b in self.buffers]


def bucket_files(folder: Path, bucket: int) -> list[Path]:
    return sorted((folder / f"{bucket:05d}").glob("*.bin"))


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
