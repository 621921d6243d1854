"""Locust's side of `ubc-cert load`: one process by default, or a master with workers.

- `drive()` runs the load in this process (Locust's local runner) or, with workers, as the
  master: it starts the local worker processes (`ubc-cert load --master 127.0.0.1:PORT`),
  waits for every expected worker (local and remote) to ask for the plan, starts the users,
  follows the run's progress at the arrivals API until every session and race is done (or the
  duration is over and those under way finished), has every worker flush its last
  statistics, and returns Locust's merged statistics as plain data;
- `join()` is a worker: it connects to a master, asks it for the plan, and runs the users the
  master gives it until told to quit.

Importing this module imports Locust, which monkey-patches the process for gevent: only
`ubc-cert load` imports it, after its listener process is started.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, Runner
from locust.stats import RequestStats, StatsEntry

from harness.load import flows
from harness.load.plan import Plan
from harness.load.users import Board, Wire, user_classes

HELLO, PLAN, FLUSH, FLUSHED = ("ubc_load_hello", "ubc_load_plan", "ubc_load_flush",
                               "ubc_load_flushed")
PROGRESS_EVERY_S = 0.25
FLUSH_BOUND_S = 10.0
EXIT_BOUND_S = 10.0
PERCENTILES = (0.5, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class Options:
    concurrency: int
    races: int
    duration_s: float | None
    workers: int = 0  # local worker processes; 0 and no expected ones: one process
    expect_workers: int = 0  # workers in all, local ones included
    master_bind: str = "127.0.0.1"
    master_port: int = 0
    wait_s: float = 30.0  # for the workers to join
    run_dir: Path = Path(".")

    @property
    def distributed(self) -> bool:
        return self.workers > 0 or self.expect_workers > 0


class LoadError(Exception):
    """The load could not be run or followed: the message says why."""


class Stopped(Exception):
    """A signal came: the load stops, with this exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _quiet_locust(run_dir: Path) -> None:
    """Locust's own log lines go to the run's folder, not over the report."""
    handler = logging.FileHandler(run_dir / "locust.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("locust")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _workers(options: Options, port: int) -> list[subprocess.Popen[bytes]]:
    started = []
    for n in range(options.workers):
        log = (options.run_dir / f"worker-{n + 1}.log").open("wb")
        started.append(subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "load", "--master", f"127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()  # the child holds its own copy
    return started


def _wait(condition: Callable[[], bool], bound_s: float) -> bool:
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        gevent.sleep(0.05)  # Locust's messages arrive on greenlets: yield to them
    return True


def _done(progress: dict[str, Any]) -> bool:
    quotas = (progress["sessions"], progress["races"])
    settled = all(q["claimed"] == q["finished"] for q in quotas)
    exhausted = all(q["limit"] is not None and q["claimed"] >= q["limit"] for q in quotas)
    return settled and (exhausted or progress["closed"])


def drive(plan: Plan, options: Options,
          signalled: Callable[[], int | None] = lambda: None) -> dict[str, Any]:
    """Run the load; Locust's statistics as data, with the load's own wall time.
    `signalled()` gives the exit code of a stop signal once one came."""
    _quiet_locust(options.run_dir)
    board = Board()
    classes = user_classes(board)
    if not options.races:
        classes = [c for c in classes if c.__name__ != "SlotRacer"]
    environment = Environment(user_classes=classes, catch_exceptions=True)
    processes: list[subprocess.Popen[bytes]] = []
    runner: Runner
    if options.distributed:
        master = environment.create_master_runner(options.master_bind, options.master_port)
        runner = master
        planned: set[str] = set()
        flushed: set[str] = set()

        def hello(environment: Environment, msg: Any, **_: Any) -> None:
            planned.add(msg.node_id)
            master.send_message(PLAN, plan.as_dict(), client_id=msg.node_id)
        master.register_message(HELLO, hello)
        master.register_message(FLUSHED, lambda environment, msg, **_: flushed.add(msg.node_id))
        port = master.server.port if options.master_port == 0 else options.master_port
        processes = _workers(options, port)
        expected = max(options.expect_workers, options.workers)
        joined = _wait(lambda: len(planned) >= expected or signalled() is not None,
                       options.wait_s)
        code = signalled()
        if code is not None or not joined:
            _end(runner, processes)
            if code is not None:
                raise Stopped(code)
            raise LoadError(f"{len(planned)} of {expected} workers joined within "
                            f"{options.wait_s:g} s (their logs: {options.run_dir}/worker-*.log)")
    else:
        runner = environment.create_local_runner()
        board.post(plan)
    wire = Wire(environment, plan)
    users = options.concurrency + (1 if options.races else 0)
    started = time.monotonic()
    try:
        runner.start(users, spawn_rate=users)
        progress = _follow(wire, options, started, signalled)
        elapsed = time.monotonic() - started
        if isinstance(runner, MasterRunner):
            clients = {c.id for c in runner.clients.all}
            runner.send_message(FLUSH)
            if not _wait(lambda: clients <= flushed, FLUSH_BOUND_S):
                logging.getLogger("locust").warning("not every worker flushed its statistics")
    finally:
        _end(runner, processes)
    return {"elapsed_s": elapsed, "progress": progress, "users": users,
            "workers": len(planned) if options.distributed else 0,
            **measurements(environment.stats)}


def _follow(wire: Wire, options: Options, started: float,
            signalled: Callable[[], int | None]) -> dict[str, Any]:
    """Until the ledger says every session and race is done; after the duration, no new one
    starts and those under way finish. A run that stops moving for longer than any step can
    take is a harness fault."""
    stall_bound = 4 * (wire.plan.ttl_s + 2 * wire.plan.ack_bound_s) + 30
    last, moved = None, time.monotonic()
    while True:
        code = signalled()
        if code is not None:
            raise Stopped(code)
        progress = wire.ask("GET", "/load/progress")
        if _done(progress):
            return dict(progress)
        if options.duration_s is not None and not progress["closed"] and \
                time.monotonic() - started >= options.duration_s:
            wire.ask("POST", "/load/close")
        state = (progress["sessions"]["finished"], progress["races"]["finished"],
                 progress["sessions"]["claimed"])
        if state != last:
            last, moved = state, time.monotonic()
        elif time.monotonic() - moved > stall_bound:
            raise LoadError(f"no session moved for {stall_bound:g} s: {progress}")
        gevent.sleep(PROGRESS_EVERY_S)


def _end(runner: Runner, processes: list[subprocess.Popen[bytes]]) -> None:
    runner.quit()
    deadline = time.monotonic() + EXIT_BOUND_S
    for process in processes:
        while process.poll() is None and time.monotonic() < deadline:
            gevent.sleep(0.05)
        if process.poll() is None:
            process.kill()
            _wait(lambda p=process: p.poll() is not None, 2.0)  # type: ignore[misc]


def join(master: str) -> int:
    """Be a worker of the master at HOST[:PORT] (default port 5557) until it says quit."""
    host, _, port = master.rpartition(":") if ":" in master else (master, "", "5557")
    board = Board()
    environment = Environment(user_classes=user_classes(board), catch_exceptions=True)
    try:
        worker = environment.create_worker_runner(host, int(port))
    except (ConnectionError, OSError) as exc:
        print(f"ubc-cert load: cannot join the master at {master}: {exc}", file=sys.stderr)
        return 2

    def flush(environment: Environment, msg: Any, **_: Any) -> None:
        worker._send_stats()  # what the users measured since the last report, now
        worker.send_message(FLUSHED)
    worker.register_message(PLAN, lambda environment, msg, **_: board.post(
        Plan.from_dict(msg.data)))
    worker.register_message(FLUSH, flush)
    # Asked once the handlers are there: a plan sent on connection could come before them.
    worker.send_message(HELLO)
    worker.greenlet.join()
    return 0


# -- Locust's statistics as data -----------------------------------------------------------


def _row(entry: StatsEntry, name: str | None = None) -> dict[str, Any]:
    measured = entry.num_requests - entry.num_none_requests
    row: dict[str, Any] = {"type": entry.method, "name": name or entry.name,
                           "count": entry.num_requests, "failures": entry.num_failures,
                           "measured": measured}
    # Locust keeps times in buckets of two significant digits above 100 ms: a percentile read
    # from them may pass the exact maximum, which no percentile can.
    top = round(entry.max_response_time, 1)
    for p in PERCENTILES:
        row[f"p{round(p * 100)}_ms"] = min(entry.get_response_time_percentile(p), top) \
            if measured else None
    row["max_ms"] = top if measured else None
    row["avg_ms"] = round(entry.avg_response_time, 1) if measured else None
    return row


def measurements(stats: RequestStats) -> dict[str, Any]:
    """Each named measurement, every type's together ("*"), and the failures by text."""
    entries = sorted(stats.entries.values(), key=lambda e: (e.method, e.name))
    rows = []
    for kind in dict.fromkeys(e.method for e in entries):
        of_kind = [e for e in entries if e.method == kind]
        rows += [_row(e) for e in of_kind]
        if len(of_kind) > 1:
            together = StatsEntry(stats, "*", kind, use_response_times_cache=False)
            for entry in of_kind:
                together.extend(entry)
            rows.append(_row(together))
    failures = [{"type": e.method, "name": e.name, "kind": flows.kind_of(str(e.error)),
                 "error": str(e.error), "count": e.occurrences}
                for e in sorted(stats.errors.values(), key=lambda e: -e.occurrences)]
    return {"rows": rows, "failures": failures}

