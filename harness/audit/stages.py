"""The stages of a partitioned audit (harness/audit/scale.py), each a plain function of picklable
arguments: a task of a local process pool or of a Dask cluster (harness/audit/cluster.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from io import BytesIO
from typing import IO, Any

from harness import schemas
from harness.audit import render
from harness.audit.inputs import Piece, Source
from harness.audit.judge import Placed, judge
from harness.audit.model import counts_of
from harness.audit.plan import Plan
from harness.audit.reading import (
    CAPTURE_LINE,
    FileScan,
    captured_exchange,
    combine,
    reads,
    respill,
    scan,
)
from harness.audit.spill import (
    PAIR,
    Buckets,
    Scratch,
    pack_line,
    unpack_lines,
    unpack_pairs,
    write_results,
)
from harness.validation import InputError

TEXT, TEXT_VERBOSE, JSON = "text", "text-verbose", "json"  # what a partition renders
Summary = dict[str, int]


def exchange_lines(sources: list[Source], file: int, lines: set[int]) -> set[int]:
    """Which of these lines of a file hold a captured message (plan._Ids asks, rarely)."""
    return {r.line for r in reads(sources[file].whole()) if r.line in lines
            and r.form == CAPTURE_LINE and r.item is not None and r.item.body is not None}


def scan_into(piece: Piece, count: int, links: Buckets) -> FileScan:
    def link(key: int, transaction: int) -> None:
        links.add(key % count, PAIR.pack(key, transaction))
    return scan(piece, link if count > 1 else lambda key, transaction: None)


Placement = tuple[Piece, int, int]  # a piece, and the lines and captured lines before it


def checked(sources: list[Source], scan_pieces: Callable[[], list[Any]]) -> list[Any]:
    """The pieces' scans; an error in the input said as one pass says it (a piece numbers its
    lines from its own start, and one later piece may fail before an earlier one)."""
    try:
        return scan_pieces()
    except InputError:
        for source in sources:
            scan(source.whole(), lambda key, transaction: None)
        raise


def files_of(pieces: list[Piece], scans: list[FileScan]) -> tuple[list[FileScan],
                                                                  list[Placement]]:
    """The files' scans from their pieces' (in input order), and where each piece starts."""
    files: list[FileScan] = []
    placed: list[Placement] = []
    group: list[FileScan] = []
    lines = captured = 0
    for at, (piece, found) in enumerate(zip(pieces, scans, strict=True)):
        placed.append((piece, lines, captured))
        group.append(found)
        lines, captured = lines + found.lines, captured + found.items
        if at + 1 == len(pieces) or pieces[at + 1].source.index != piece.source.index:
            files.append(combine(group))
            group, lines, captured = [], 0, 0
    return files, placed


def tie(pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs of transactions that share a key: each key's first transaction and every other."""
    first: dict[int, int] = {}
    ties: set[tuple[int, int]] = set()
    for key, transaction in pairs:
        seen = first.setdefault(key, transaction)
        if seen != transaction:
            ties.add((seen, transaction))
    return sorted(ties)


def split_into(placed: Placement, plan: Plan, parts: Buckets) -> None:
    piece, lines, captured = placed
    for read in reads(piece, lines, captured):
        if read.exchange is not None:
            transaction = read.exchange.transaction_id
        elif read.item is not None and read.item.body is not None:
            transaction = captured_exchange(read.item, "", 0.0, False).transaction_id
        else:
            transaction = None
        parts.add(plan.partition_of(transaction),
                  pack_line(piece.source.index, read.form, read.line, read.ordinal, read.raw))


def judge_chunks(plan: Plan, chunks: Iterable[bytes], form: str, out: IO[bytes]) -> Summary:
    """Judge one partition from its spilled lines; write its results to `out`."""
    found = [(file, respill(plan.files[file].display, kind, line, ordinal, raw))
             for chunk in chunks for file, kind, line, ordinal, raw in unpack_lines(chunk)]
    return write_placed(judge(found, plan, schemas.load(plan.profile)), form, out)


# -- the tasks: what one process of a pool, or one task of a cluster, does ----------------------


def scan_task(scratch: Scratch, count: int, numbered: tuple[int, Piece]) -> FileScan:
    at, piece = numbered
    links = Buckets(count)
    found = scan_into(piece, count, links)
    scratch.write(f"links-{at:06d}", links)
    return found


def tie_task(scratch: Scratch, pieces: int, bucket: int) -> list[tuple[int, int]]:
    return tie(pair for at in range(pieces)
               for pair in unpack_pairs(scratch.read(f"links-{at:06d}", bucket)))


def split_task(plan: Plan, scratch: Scratch, numbered: tuple[int, Placement]) -> None:
    at, placed = numbered
    parts = Buckets(plan.partitions)
    split_into(placed, plan, parts)
    scratch.write(f"lines-{at:06d}", parts)


def judge_task(plan: Plan, scratch: Scratch, pieces: int, form: str, partition: int
               ) -> tuple[Summary, bytes]:
    """One partition judged: its totals, and its transactions (spill.write_results)."""
    out = BytesIO()
    chunks = (scratch.read(f"lines-{at:06d}", partition) for at in range(pieces))
    return judge_chunks(plan, chunks, form, out), out.getvalue()


def write_placed(placed: list[Placed], form: str, out: IO[bytes]) -> Summary:
    summary = dict.fromkeys(render.TOTALS, 0)
    results: list[tuple[Any, Any]] = []
    for one in placed:
        transaction = one.transaction
        counts = counts_of([f for e in transaction.entries for f in e.findings]
                           + transaction.findings)
        summary["transactions"] += 1
        summary["messages"] += len(transaction.entries)
        summary["judged"] += sum(e.judged for e in transaction.entries)
        for name, value in counts.items():
            summary[name] += value
        results.append((one.place, render.transaction_json(transaction) if form == JSON
                        else render.transaction_lines(transaction, form == TEXT_VERBOSE)))
    write_results(out, results)
    return summary
