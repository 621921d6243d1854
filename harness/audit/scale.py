"""`ubc-cert audit` on inputs of any size: streamed in bounded memory, judged on every core, or
on a Dask cluster (harness/audit/cluster.py), with the same report a single pass would write.

1. Scan: each file is streamed once for what the whole audit needs to know of it (reading.scan)
   and the keys that tie transactions; ties are joined by key, a bucket at a time.
2. Plan (harness/audit/plan.py): clocks, unique ids, keys, catalogs, and which partition judges
   each transaction: a hash of its id, a tied group together.
3. Split: each file is streamed again, each line spilled to its transaction's partition.
4. Judge: each partition alone (harness/audit/judge.py), in a process pool (`workers`) or as
   Dask tasks; each gives back its transactions in report order, rendered.
5. Merge: the partitions' transactions merged by place, written as they come: the totals from
   the partitions' sums, so nothing but one transaction per partition is held.

Between stages the lines and links wait in a scratch folder (or a URL every worker of a cluster
reaches; spill.Scratch), one object per piece of input. An input smaller than
MIN_PARALLEL_BYTES is judged whole in this process. Memory is bounded by a piece
(plan.PIECE_BYTES) when splitting and a partition (plan.TARGET_PARTITION_BYTES of input) when
judging, and by the largest group of tied transactions; this process holds a few facts per file
and per piece, a transcript's ids, and the catalogs published.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TextIO

from harness import schemas
from harness.audit import plan as plan_module
from harness.audit import render
from harness.audit.inputs import Source, cut, expand
from harness.audit.judge import judge
from harness.audit.model import Options
from harness.audit.plan import Plan, group_routes, make_plan, partition_count
from harness.audit.reading import combine, reads, scan
from harness.audit.spill import Scratch, merge_results
from harness.audit.stages import (
    JSON,
    TEXT,
    TEXT_VERBOSE,
    Summary,
    checked,
    exchange_lines,
    files_of,
    judge_task,
    scan_task,
    split_task,
    tie_task,
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
    scratch: str | None = None  # a folder, or a URL the workers reach; None: a temp folder


class Runner(Protocol):
    """Where the tasks run: a local process pool, or a Dask cluster (cluster.Cluster)."""

    def map(self, task: Callable[..., Any], items: list[Any], *fixed: Any) -> list[Any]:
        """task(*fixed, item) for each item, the results in order."""
        ...

    def each(self, task: Callable[..., Any], items: list[Any], *fixed: Any
             ) -> Iterator[tuple[int, Any]]:
        """(index, result) of each item as it is done."""
        ...


def run(paths: list[str], profile: str, options: Options, scale: Scale, out: TextIO,
        form: str = TEXT) -> Summary:
    """Audit `paths` and write the report to `out` as `form`; the totals. InputError for
    unusable input."""
    sources = expand(paths)
    workers = scale.workers or cores()
    count = scale.partitions or partition_count(sum(s.size for s in sources), workers)
    remote = scale.scratch is not None and "://" in scale.scratch
    with tempfile.TemporaryDirectory(prefix="ubc-audit-",
                                     dir=None if remote else scale.scratch) as here:
        folder = Path(here)
        scratch = Scratch(f"{scale.scratch.rstrip('/')}/ubc-audit-{uuid.uuid4().hex}"
                          if remote and scale.scratch else here)
        try:
            if count == 1 and scale.scheduler is None:
                plan, results = _judge_whole(sources, options, profile, form, folder)
            elif scale.scheduler is not None:
                from harness.audit import cluster
                with cluster.Cluster(scale.scheduler) as runner:
                    plan, results = _partitioned(runner, sources, options, profile, count,
                                                 form, scratch, folder)
            else:
                with _Pool(workers) as pool:
                    plan, results = _partitioned(pool, sources, options, profile, count,
                                                 form, scratch, folder)
        finally:
            scratch.remove()
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


def _partitioned(runner: Runner, sources: list[Source], options: Options, profile: str,
                 count: int, form: str, scratch: Scratch, folder: Path
                 ) -> tuple[Plan, list[tuple[Summary, Path]]]:
    pieces = [p for source in sources for p in cut(source, plan_module.PIECE_BYTES)]
    found = checked(sources, lambda: runner.map(scan_task, list(enumerate(pieces)), scratch,
                                                count))
    scans, placed = files_of(pieces, found)
    ties = runner.map(tie_task, list(range(count)), scratch, len(pieces)) if count > 1 else []
    plan = make_plan(scans, options, group_routes(t for pairs in ties for t in pairs), count,
                     profile, partial(exchange_lines, sources))
    runner.map(split_task, list(enumerate(placed)), plan, scratch)
    results: list[tuple[Summary, Path]] = []
    for partition, (summary, data) in runner.each(judge_task, list(range(count)), plan,
                                                  scratch, len(pieces), form):
        target = folder / f"results-{partition:05d}.pickle"
        target.write_bytes(data)  # here until the merge: the workers hold nothing more
        results.append((summary, target))
    return plan, results


class _Pool:
    """A process pool of `workers`, or this process for one."""

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

    def __enter__(self) -> _Pool:
        return self

    def map(self, task: Callable[..., Any], items: list[Any], *fixed: Any) -> list[Any]:
        if self.executor is None:
            return [task(*fixed, item) for item in items]
        return list(self.executor.map(partial(task, *fixed), items))

    def each(self, task: Callable[..., Any], items: list[Any], *fixed: Any
             ) -> Iterator[tuple[int, Any]]:
        if self.executor is None:
            for index, item in enumerate(items):
                yield index, task(*fixed, item)
            return
        pending: dict[Future[Any], int] = {
            self.executor.submit(task, *fixed, item): index for index, item in enumerate(items)}
        for future in as_completed(pending):
            yield pending.pop(future), future.result()  # dropped once used: memory stays flat

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
