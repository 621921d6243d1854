"""Judging an audit on a Dask cluster (`ubc-cert audit --scheduler tcp://host:8786`): the stages
of harness/audit/scale.py, each piece's scan and split and each partition's judgement a task of
the cluster instead of a local process.

The workers read the inputs themselves: paths they can reach (a shared folder) or URLs (s3://
with s3fs installed on them, ...), and leave the spilled lines where the others find them: the
scratch (a local folder for a cluster on this machine, else `--scratch` storage every worker
reaches). This process holds the plan and writes the report; each partition's judged
transactions come back to it as they are done. Needs `dask` and `distributed`
(pip install 'ubc-conformance[scale]').
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from harness.validation import InputError

CONNECT_TIMEOUT = "20s"


class Cluster:
    """scale.Runner on the cluster of a Dask scheduler."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise InputError("--scheduler needs dask and distributed: "
                             "pip install 'ubc-conformance[scale]'") from None
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its chatter is no finding
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {address}: cannot connect: {exc}") from None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _submit(self, task: Callable[..., Any], items: list[Any], fixed: tuple[Any, ...]
                ) -> list[Any]:
        # the plan is sent to each worker once, not with each task
        shared = [self.client.scatter(value, broadcast=True, hash=False) for value in fixed]
        return list(self.client.map(task, *([value] * len(items) for value in shared), items,
                                    pure=False))

    def map(self, task: Callable[..., Any], items: list[Any], *fixed: Any) -> list[Any]:
        futures = self._submit(task, items, fixed)
        try:
            return list(self.client.gather(futures))
        finally:
            self.client.cancel(futures)

    def each(self, task: Callable[..., Any], items: list[Any], *fixed: Any
             ) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed
        futures = self._submit(task, items, fixed)
        where = {future.key: index for index, future in enumerate(futures)}
        for future, result in as_completed(futures, loop=self.client.loop, with_results=True):
            yield where[future.key], result
            future.release()  # handed on: the cluster may forget it


def local_cluster(workers: int = 2, processes: bool = False) -> Any:
    """A cluster on this machine (for tests and trying it out): `workers` single-threaded
    workers, in this process unless `processes`, on 127.0.0.1."""
    from distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                        protocol="tcp://", host="127.0.0.1", scheduler_port=0,
                        dashboard_address=None)
