"""`ubc-cert audit` on inputs of any size: streamed in bounded memory, judged on every core, or
on a Dask cluster (harness/audit/cluster.py), with the same report a single pass would write.

1. Scan: each file is streamed once for what the whole audit needs to know of it (reading.scan)
   and the keys that tie transactions; ties are joined by key, a bucket at a time.
2. Plan (harness/audit/plan.py): clocks, unique ids, keys, catalogs, and which partition judges
   each transaction: a hash of its id, a tied group together.
3. Split: each file is streamed again, each line spilled to its transaction's partition.
4. Judge: each partition alone (harness/audit/judge.py), in a process pool (`workers`) or as
   Dask tasks; each writes its transactions in report order, rendered.
5. Merge: the partitions' transactions merged by place, written as they come: the totals from
   the partitions' sums, so nothing but one transaction per partition is held.

An input smaller than MIN_PARALLEL_BYTES and one worker is judged whole in this process. Memory
is bounded by the partition size (plan.TARGET_PARTITION_BYTES of input each) and the largest
group of tied transactions; the driver holds per file a few facts, a transcript's ids, and the
catalogs published.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from harness import schemas
from harness.audit import plan as plan_module
from harness.audit import render
from harness.audit.inputs import Piece, Source, cut, expand
from harness.audit.judge import judge
from harness.audit.model import Options
from harness.audit.plan import Plan, group_routes, make_plan, partition_count
from harness.audit.reading import FileScan, combine, reads, scan
from harness.audit.spill import Buckets, bucket_files, merge_results, unpack_pairs
from harness.audit.stages import (
    JSON,
    TEXT,
    TEXT_VERBOSE,
    Placement,
    Summary,
    checked,
    exchange_lines,
    files_of,
    judge_chunks,
    scan_into,
    split_into,
    tie,
    write_placed,
)

__all__ = ["JSON", "TEXT", "TEXT_VERBOSE", "Scale", "run"]



def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Scale:
    workers: int = 0  # processes judging partitions; 0: every core
    scheduler: str | None = None  # a Dask scheduler's address: judge on its cluster
    partitions: int | None = None  # None: from the input's size
    scratch: str | None = None  # where spilled lines go (a local folder); None: the temp dir


def run(paths: list[str], profile: str, options: Options, scale: Scale, out: TextIO,
        form: str = TEXT) -> Summary:
    """Audit `paths` and write the report to `out` as `form`; the totals. InputError for
    unusable input."""
    sources = expand(paths)
    workers = scale.workers or cores()
    count = scale.partitions or partition_count(sum(s.size for s in sources), workers)
    with tempfile.TemporaryDirectory(prefix="ubc-audit-", dir=scale.scratch) as scratch:
        folder = Path(scratch)
        if scale.scheduler is not None:
            from harness.audit import cluster
            plan, results = cluster.judge(scale.scheduler, sources, options, profile, count,
                                          form, folder)
        elif count == 1:
            plan, results = _judge_whole(sources, options, profile, form, folder)
        else:
            plan, results = _judge_locally(sources, options, profile, count, workers, form,
                                           folder)
        totals = _sum(summary for summary, _ in results)
        ordered = (payload for _, payload in merge_results([p for _, p in results], folder))
        if form == JSON:
            render.write_json(out, totals, plan.described, plan.client_calls, ordered)
            out.write("\n")
        else:
            for line in render.text_lines(totals, plan.described, plan.client_calls, ordered):
                out.write(line + "\n")
    return totals


def _sum(summaries: Iterable[Summary]) -> Summary:
    totals = dict.fromkeys(render.TOTALS, 0)
    for summary in summaries:
        for name in totals:
            totals[name] += summary[name]
    return totals


# -- on this machine ------------------------------------------------------------------------------


def _judge_whole(sources: list[Source], options: Options, profile: str, form: str,
                 folder: Path) -> tuple[Plan, list[tuple[Summary, Path]]]:
    """Small input: one partition, judged here, read straight from the files."""
    scans = [combine([scan(s.whole(), lambda key, transaction: None)]) for s in sources]
    plan = make_plan(scans, options, {}, 1, profile, partial(exchange_lines, sources))
    placed = judge(((s.index, r) for s in sources for r in reads(s.whole())), plan,
                   schemas.load(profile))
    target = folder / "results-00000.pickle"
    with target.open("wb") as out:
        summary = write_placed(placed, form, out)
    return plan, [(summary, target)]


def _judge_locally(sources: list[Source], options: Options, profile: str, count: int,
                   workers: int, form: str, folder: Path
                   ) -> tuple[Plan, list[tuple[Summary, Path]]]:
    pieces = [p for source in sources for p in cut(source, plan_module.TARGET_PARTITION_BYTES)]
    with _pool(workers) as run_all:
        scans, placed = files_of(pieces, checked(
            sources, lambda: run_all(partial(_scan_task, count, folder), pieces)))
        ties = [t for found in run_all(partial(_tie_task, folder), range(count)) for t in found]
        plan = make_plan(scans, options, group_routes(ties), count, profile,
                         partial(exchange_lines, sources))
        run_all(partial(_split_task, plan, folder), placed)
        results = run_all(partial(_judge_task, plan, form, folder), range(count))
    return plan, results


class _pool:
    """`map` over a process pool of `workers`, or in this process for one."""

    def __init__(self, workers: int) -> None:
        self.executor: ProcessPoolExecutor | None = None
        if workers > 1:
            # fork: the workers start with the schemas this process compiled (lru_cache); but
            # never a process running other threads (a lock one holds stays held in the child)
            methods = multiprocessing.get_all_start_methods()
            method = "fork" if "fork" in methods and threading.active_count() == 1 else \
                "forkserver" if "forkserver" in methods else "spawn"
            self.executor = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context(method))

    def __enter__(self) -> Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]:
        return self.map

    def map(self, task: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        if self.executor is None:
            return [task(item) for item in items]
        return list(self.executor.map(task, items))

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)


def _scan_task(count: int, folder: Path, piece: Piece) -> FileScan:
    links = Buckets(count, folder / "links", f"{piece.source.index:06d}-{piece.start:015d}")
    found = scan_into(piece, count, links)
    links.close()
    return found


def _tie_task(folder: Path, bucket: int) -> list[tuple[int, int]]:
    return tie(_pairs(bucket_files(folder / "links", bucket)))


def _pairs(paths: list[Path]) -> Iterator[tuple[int, int]]:
    for path in paths:
        yield from unpack_pairs(path.read_bytes())


def _split_task(plan: Plan, folder: Path, placed: Placement) -> None:
    piece = placed[0]
    parts = Buckets(plan.partitions, folder / "parts",
                    f"{piece.source.index:06d}-{piece.start:015d}")
    split_into(placed, plan, parts)
    parts.close()


def _judge_task(plan: Plan, form: str, folder: Path, partition: int) -> tuple[Summary, Path]:
    target = folder / f"results-{partition:05d}.pickle"
    chunks = (path.read_bytes() for path in bucket_files(folder / "parts", partition))
    with target.open("wb") as out:
        return judge_chunks(plan, chunks, form, out), target
