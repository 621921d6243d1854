"""Judging an audit on a Dask cluster (`ubc-cert audit --scheduler tcp://host:8786`): the same
stages as on one machine (harness/audit/scale.py), each file's scan and split and each
partition's judgement a task, the spilled lines handed from task to task by the cluster (held in
its workers' memory, spilled to their disks when it runs short) instead of a local folder.

The workers read the inputs themselves: paths they can reach (a shared folder) or URLs (s3://
with s3fs installed on them, ...). This process holds the plan and writes the report; each
partition's judged transactions come back to it as they are done and wait in a local file for
the merge. Needs `dask` and `distributed` (pip install 'ubc-conformance[scale]').
"""

from __future__ import annotations

import logging
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

from harness.audit import plan as plan_module
from harness.audit.inputs import Piece, Source, cut
from harness.audit.model import Options
from harness.audit.plan import Plan, group_routes, make_plan
from harness.audit.reading import FileScan
from harness.audit.spill import Buckets, unpack_pairs
from harness.audit.stages import (
    Placement,
    Summary,
    checked,
    exchange_lines,
    files_of,
    judge_chunks,
    scan_into,
    split_into,
    tie,
)
from harness.validation import InputError

CONNECT_TIMEOUT = "20s"


def judge(address: str, sources: list[Source], options: Options, profile: str, count: int,
          form: str, folder: Path) -> tuple[Plan, list[tuple[Summary, Path]]]:
    try:
        from dask import delayed
        from distributed import Client, as_completed
    except ImportError:
        raise InputError("--scheduler needs dask and distributed: "
                         "pip install 'ubc-conformance[scale]'") from None
    logging.getLogger("distributed").setLevel(logging.WARNING)  # its chatter is no finding
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"--scheduler {address}: cannot connect: {exc}") from None
    pieces = [p for source in sources for p in cut(source, plan_module.TARGET_PARTITION_BYTES)]
    with client:
        scanned = [delayed(_scan_task, nout=2, pure=False)(piece, count) for piece in pieces]
        ties = [delayed(_tie_task, pure=False)(*(links[j] for _, links in scanned))
                for j in range(count)] if count > 1 else []
        done = checked(sources, lambda: client.gather(
            client.compute([found for found, _ in scanned] + ties)))
        scans, placed = files_of(pieces, done[:len(pieces)])
        plan = make_plan(scans, options, group_routes(t for found in done[len(pieces):]
                                                      for t in found),
                         count, profile, partial(exchange_lines, sources))
        shared = client.scatter(plan, broadcast=True, hash=False)
        parts = [delayed(_split_task, nout=count, pure=False)(where, shared, count)
                 for where in placed]
        judged = client.compute([
            delayed(_judge_task, pure=False)(shared, form, *(part[p] for part in parts))
            for p in range(count)])
        where = {future.key: p for p, future in enumerate(judged)}
        results: list[tuple[Summary, Path] | None] = [None] * count
        for future, (summary, data) in as_completed(judged, loop=client.loop,
                                                    with_results=True):
            target = folder / f"results-{where[future.key]:05d}.pickle"
            target.write_bytes(data)
            results[where[future.key]] = (summary, target)
            future.release()  # its transactions are on disk here: the cluster may forget them
    assert all(r is not None for r in results), "harness bug: a partition came back twice"
    return plan, [r for r in results if r is not None]


def _scan_task(piece: Piece, count: int) -> tuple[FileScan, list[bytes]]:
    links = Buckets(count)
    found = scan_into(piece, count, links)
    return found, links.pieces()


def _tie_task(*pieces: bytes) -> list[tuple[int, int]]:
    return tie(pair for piece in pieces for pair in unpack_pairs(piece))


def _split_task(placed: Placement, plan: Plan, count: int) -> list[bytes]:
    parts = Buckets(count)
    split_into(placed, plan, parts)
    return parts.pieces()


def _judge_task(plan: Plan, form: str, *chunks: bytes) -> tuple[Summary, bytes]:
    out = BytesIO()
    summary = judge_chunks(plan, chunks, form, out)
    return summary, out.getvalue()


def local_cluster(workers: int = 2, processes: bool = False) -> Any:
    """A cluster on this machine (for tests and trying it out): `workers` single-threaded
    workers, in this process unless `processes`, on 127.0.0.1."""
    from distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                        protocol="tcp://", host="127.0.0.1", scheduler_port=0,
                        dashboard_address=None)
