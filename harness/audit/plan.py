"""What an audit decides once it has scanned every file, before judging anything: the facts each
partition needs of the whole input, so that judging the partitions apart gives what judging the
input whole gives.

- Each file's clock: a transcript's monotonic times anchored to its first wall time and the end
  of its recording; a capture's arrival times, or their absence (then nothing is timed, and a
  message's place stands in for its arrival).
- Exchange ids unique across the input: two transcripts both start at x000001, and the later
  one's become `x000001@<file>` (`_Ids`).
- The keys to verify signatures with, how the report words that, the ACK bound, and the items
  of every catalog published anywhere in the input.
- Which partition judges each transaction: by a hash of its id, except that transactions tied
  together (`reading.Link`) are judged in one (`Routes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.audit.model import Options
from harness.audit.reading import FileScan, RunFacts, transaction_key
from harness.checks.timing import DEFAULT_ACK_BOUND_S

TARGET_PARTITION_BYTES = 16 << 20  # of input per partition: bounds a worker's memory
PIECE_BYTES = 32 << 20  # of a large NDJSON file read by one process (or task) at a time
MIN_PARALLEL_BYTES = 1 << 20  # below this one process judges it all: workers cost more
MAX_PARTITIONS = 4096


@dataclass
class FilePlan:
    """What a partition needs to know of one file to rebuild its messages."""

    display: str
    offset: float = 0.0  # a transcript's wall minus monotonic time
    horizon: float = 0.0  # a transcript's end of recording (wall clock)
    run: RunFacts = field(default_factory=RunFacts)
    timed: bool = False  # its captured lines carry arrival times
    capture_horizon: float = 0.0  # the latest of them
    base: int = 0  # messages before its first captured line: a place for each untimed one


@dataclass
class Plan:
    files: list[FilePlan]
    options: Options
    partitions: int = 1
    profile: str = ""
    renamed: dict[tuple[int, int], str] = field(default_factory=dict)  # (file, line) -> id
    all_timed: bool = True  # every message's arrival is known: the report orders by it
    keys: Mapping[str, str] | None = None
    described: str = ""
    network_keys: dict[str, str] = field(default_factory=dict)
    ack_bound_s: float = DEFAULT_ACK_BOUND_S
    published: dict[Any, set[str]] = field(default_factory=dict)
    client_calls: int = 0
    routes: dict[int, int] = field(default_factory=dict)  # transaction key -> its group's

    def partition_of(self, transaction_id: str | None) -> int:
        key = transaction_key(transaction_id)
        return self.routes.get(key, key) % self.partitions


def partition_count(total_bytes: int, workers: int) -> int:
    if total_bytes < MIN_PARALLEL_BYTES and workers <= 1:
        return 1
    wanted = -(-total_bytes // TARGET_PARTITION_BYTES)
    if total_bytes >= MIN_PARALLEL_BYTES:
        wanted = max(wanted, 2 * workers)  # a slow partition does not hold up the rest
    return max(1, min(MAX_PARTITIONS, wanted))


def make_plan(scans: list[FileScan], options: Options, routes: dict[int, int],
              partitions: int, profile: str,
              exchange_lines: Callable[[int, set[int]], set[int]]) -> Plan:
    """`exchange_lines(file, lines)`: which of those lines of a file hold a captured message
    (asked only when a transcript id looks like a capture line's)."""
    plan = Plan([], options, partitions, profile, routes=routes)
    keys: dict[str, str] = {}
    key_sources: list[str] = []
    bound: float | None = None
    base = 0
    for found in scans:
        file = FilePlan(found.display)
        if found.run is not None:  # the file holds transcript records
            run = file.run = found.run
            file.offset = found.offset
            assert found.mono_end is not None
            horizon = found.mono_end + found.offset
            file.horizon = max(horizon, run.ended or horizon)
            if run.key is not None:
                keys[run.key[0]] = run.key[1]
                key_sources.append(run.key_source)
            plan.network_keys.update(run.network_keys)
            if run.ack_bound_s is not None:
                bound = run.ack_bound_s
        file.timed = found.timed
        file.capture_horizon = found.latest if found.latest is not None else 0.0
        file.base = base + len(found.kept)
        base += found.entries
        plan.all_timed = plan.all_timed and (found.exchanges == 0 or found.timed)
        plan.client_calls += found.client_calls
        for bpp_id, items in found.catalogs.items():
            plan.published.setdefault(bpp_id, set()).update(items)
        plan.files.append(file)
    plan.renamed = _Ids(scans, exchange_lines).resolve()
    if options.keys is not None:
        plan.keys, plan.described = options.keys, "verified with the keys given"
    elif keys:
        plan.keys = keys
        plan.described = "verified with the candidate's key in " + (
            key_sources[0] if len(key_sources) == 1 else f"{len(key_sources)} report.json files")
    else:
        plan.described = "not verified (no keys: give --keys FILE)"
    plan.ack_bound_s = options.ack_bound_s if options.ack_bound_s is not None else \
        bound if bound is not None else DEFAULT_ACK_BOUND_S
    return plan


_CAPTURE_SOURCE = re.compile(r"^(.*):([0-9]+)$", re.DOTALL)


class _Ids:
    """Exchange ids, unique as a single pass would make them: files in order, a transcript's
    messages before its captured lines; an id already taken gets `@<file>`, then `#n`. A
    captured message's id is its source ("file:line", or the file of a .json), which no other
    captured message can share; only a transcript id can collide with one."""

    def __init__(self, scans: list[FileScan],
                 exchange_lines: Callable[[int, set[int]], set[int]]) -> None:
        self.scans = scans
        self.exchange_lines = exchange_lines
        self.taken: set[str] = set()  # every id given but the captured sources
        self.by_file: dict[str, dict[int, str]] = {}  # display -> line -> taken id of that form
        self.captured: dict[str, int] = {}  # display -> file, of captured files read so far
        self.renamed: dict[tuple[int, int], str] = {}

    def resolve(self) -> dict[tuple[int, int], str]:
        for found in self.scans:
            for line, wanted in found.kept:
                given = self._unique(wanted, found.display)
                if given != wanted:
                    self.renamed[(found.index, line)] = given
            if found.exchanges:
                self._captured(found)
        return self.renamed

    def _captured(self, found: FileScan) -> None:
        if found.whole:
            given = self._unique(found.display, found.display)
            if given != found.display:
                self.renamed[(found.index, 1)] = given
            return
        clashing = dict(self.by_file.get(found.display, {}))
        for line in sorted(self.exchange_lines(found.index, set(clashing)) if clashing else ()):
            source = f"{found.display}:{line}"
            self.renamed[(found.index, line)] = self._unique(source, source)
        self.captured[found.display] = found.index

    def _unique(self, wanted: str, display: str) -> str:
        candidate, n = wanted, 1
        while self._is_taken(candidate):
            n += 1
            candidate = f"{wanted}@{display}" if n == 2 else f"{wanted}@{display}#{n}"
        self._take(candidate)
        return candidate

    def _is_taken(self, candidate: str) -> bool:
        if candidate in self.taken:
            return True
        match = _CAPTURE_SOURCE.match(candidate)
        if match is None or match.group(1) not in self.captured:
            return False
        line = int(match.group(2))
        return line in self.exchange_lines(self.captured[match.group(1)], {line})

    def _take(self, candidate: str) -> None:
        self.taken.add(candidate)
        match = _CAPTURE_SOURCE.match(candidate)
        if match is not None:
            self.by_file.setdefault(match.group(1), {})[int(match.group(2))] = candidate


def group_routes(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Transactions tied together, each mapped to its group's smallest key (union-find)."""
    parent: dict[int, int] = {}

    def root(key: int) -> int:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key
    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {key: root(key) for key in parent if root(key) != key}
