"""`ubc-cert load`: the run from start to verdict (its options: harness/load/options.py).

The run: the listener process comes up (listener.py) and hands over the plan; Locust runs
the sessions and the slot races (runner.py), in this process or with workers; the listener
drains late callbacks and judges what the callbacks show (arrivals.py); the objectives of
`--slo` are held to what was measured (slo.py); `load.json` is written into
`<report-dir>/<run-id>/` beside the transcript, and the table printed (report.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
from rich.console import Console

import harness
from harness import candidate as candidate_module
from harness import exitcodes
from harness.cli_options import safeguard_config
from harness.load import report, slo
from harness.load.plan import Plan
from harness.report.terminal import printable

LISTENER_LOG = "listener.log"
PIPE_WIDTH = 120
STOP_BOUND_S = 15.0
DRAIN_CAP_S = 10.0  # late callbacks are waited for up to the ttl, at most this long


class Interrupted(Exception):
    """SIGINT or SIGTERM: stop what runs, keep what was measured."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code




def _refuse(message: str) -> int:
    print(f"ubc-cert load: {printable(message)}", file=sys.stderr)
    return exitcodes.COULD_NOT_RUN


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, before anything starts."""
    if args.role is None or args.candidate is None:
        return "--role bpp and --candidate FILE are required (or --master HOST to be a worker)"
    if args.sessions is not None and args.sessions < 1:
        return "--sessions: give 1 or more"
    if not 1 <= args.concurrency <= 10_000:
        return "--concurrency: give 1 to 10000"
    if args.races < 0 or args.workers < 0 or args.expect_workers < 0:
        return "--races, --workers and --expect-workers cannot be negative"
    if args.expect_workers and args.expect_workers < args.workers:
        return f"--expect-workers {args.expect_workers} is fewer than --workers {args.workers}"
    return None


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("locust") is None:
        return _refuse("Locust is not installed: pip install 'ubc-conformance[load]' (or "
                       "locust>=2.47)")
    if args.master:
        from harness.load import runner  # a worker: Locust (and gevent) from here on

        return runner.join(args.master)
    problem = _problem(args)
    if problem:
        return _refuse(problem)
    try:
        objectives = slo.parse(args.slo)
        cand = candidate_module.load(args.candidate)
    except (slo.SloError, candidate_module.CandidateError) as exc:
        return _refuse(str(exc))
    if cand.role != "bpp":
        return _refuse(f"{args.candidate} describes a {cand.role}; `load` drives a BPP")
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    run_dir = Path(args.report_dir) / run_id
    try:
        run_dir.mkdir(parents=True)
    except OSError as exc:
        return _refuse(f"cannot create {run_dir}: {exc.strerror or exc}")
    sessions = args.sessions if args.sessions is not None else \
        (None if args.duration else 100)
    document = _document(args, cand.as_dict(), run_dir, sessions)
    text = sys.stderr if args.format == "json" else sys.stdout
    # A pipe gets whole lines, never wrapped (grep-able, as `ubc-cert run` prints them), and
    # room for the table's every column.
    tty = text.isatty()
    console = Console(file=text, highlight=False, markup=False, emoji=False, soft_wrap=not tty,
                      width=None if tty else PIPE_WIDTH)
    listener = _Listener(run_dir)
    try:
        _watch_signals()
        ready = listener.start(_settings(args, run_dir, sessions))
        if "error" in ready:
            document.update(verdict=report.COULD_NOT_RUN, reason=ready["error"])
        else:
            if not args.quiet:
                for line in ready["announce"]:
                    console.print(printable(line))
            _load(args, ready, run_dir, listener, objectives, document)
    except Interrupted as stop:
        document.update(verdict=report.INTERRUPTED, reason="stopped by a signal before the "
                        "end: what was measured is not judged", exit_code=stop.code)
    finally:
        listener.stop()
    document.setdefault("exit_code", report.EXIT.get(document["verdict"], 2))
    (run_dir / "load.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    if args.format == "json":
        sys.stdout.write(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    if args.quiet:
        console.print(f"{document['verdict']}: {printable(document['reason'])} "
                      f"({run_dir}/load.json)")
    else:
        report.show(console, document)
    return int(document["exit_code"])


def _document(args: argparse.Namespace, candidate: dict[str, Any], run_dir: Path,
              sessions: int | None) -> dict[str, Any]:
    return {"tool": "ubc-cert load", "harness_version": harness.version(),
            "run_id": run_dir.name, "run_dir": str(run_dir), "verdict": report.COULD_NOT_RUN,
            "reason": "the load did not start", "candidate": candidate,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "options": {"sessions": sessions, "concurrency": args.concurrency,
                        "duration_s": args.duration, "races": args.races,
                        "workers": args.workers, "expect_workers": args.expect_workers,
                        "ttl": args.ttl, "ack_bound_s": args.ack_bound, "slo": args.slo}}


def _settings(args: argparse.Namespace, run_dir: Path, sessions: int | None) -> dict[str, Any]:
    return {"candidate": args.candidate, "port_base": args.port_base,
            "state_dir": args.state_dir, "fresh_keys": args.fresh_keys, "host": args.host,
            "public_url": args.public_url, "ttl": args.ttl, "ack_bound": args.ack_bound,
            "wait": args.wait, "sessions": sessions, "races": args.races,
            "report_dir": args.report_dir, "run_dir": str(run_dir),
            "safeguards": safeguard_config(args)}


def _load(args: argparse.Namespace, ready: dict[str, Any], run_dir: Path,
          listener: _Listener, objectives: list[slo.Objective],
          document: dict[str, Any]) -> None:
    """Locust's part, the listener's summary, the objectives and the verdict."""
    from harness.load import runner  # Locust (and gevent) from here on
    from harness.load.users import HarnessError

    plan = Plan.from_dict(ready["plan"])
    remote = args.expect_workers > args.workers
    options = runner.Options(
        concurrency=args.concurrency, races=args.races, duration_s=args.duration,
        workers=args.workers, expect_workers=args.expect_workers,
        master_bind=args.master_bind,
        master_port=args.master_port if args.master_port is not None else
        (5557 if remote else 0), wait_s=args.wait, run_dir=run_dir)
    try:
        measured = runner.drive(plan, options, _signalled)
        drain = min(plan.ttl_s, DRAIN_CAP_S)
        summary = listener.ask(plan, f"/load/summary?drain={drain}", drain + 30)
    except runner.Stopped as stop:
        raise Interrupted(stop.code) from None
    except (runner.LoadError, HarnessError, httpx.HTTPError, OSError, ValueError) as exc:
        document.update(verdict=report.COULD_NOT_RUN, reason=f"the load could not be "
                        f"followed: {exc}")
        return
    progress = measured["progress"]
    sessions = {"asked": progress["sessions"]["limit"],
                "started": progress["sessions"]["claimed"],
                "completed": progress["sessions"]["completed"],
                "failed": progress["sessions"]["finished"] - progress["sessions"]["completed"]}
    requests = sum(r["count"] for r in measured["rows"]
                   if r["type"] in ("ACK", "race ACK") and r["name"] != "*")
    elapsed = measured["elapsed_s"]
    document.update(
        elapsed_s=round(elapsed, 3), workers=measured["workers"], sessions=sessions,
        throughput={"sessions_per_s": round(sessions["completed"] / elapsed, 3),
                    "requests_per_s": round(requests / elapsed, 3)},
        clock="one host: monotonic clock" if plan.same_host else
        "wall clocks of two hosts: as good as their synchronisation",
        measurements={"rows": measured["rows"], "failures": measured["failures"]},
        callbacks=summary["callbacks"], races=summary["races"], findings=summary["findings"],
        artifacts={"transcript": "transcript.ndjson", "listener_log": LISTENER_LOG,
                   "locust_log": "locust.log"})
    harness_faults = [f for f in measured["failures"] if f["kind"] == "harness"]
    if harness_faults:
        document.update(verdict=report.COULD_NOT_RUN, reason="the harness failed: "
                        f"{harness_faults[0]['error']}")
        return
    judged = slo.judge(objectives, {**measured, "callbacks": summary["callbacks"],
                                    "sessions": sessions})
    verdict, reason = report.verdict(judged, summary["findings"])
    document.update(slo=judged, verdict=verdict, reason=reason)


_SIGNALLED: list[int] = []  # the exit code of the signal that came, if one did


def _signalled() -> int | None:
    return _SIGNALLED[0] if _SIGNALLED else None


def _watch_signals() -> None:
    """SIGTERM (how CI cancels a job) ends the run as SIGINT does: children stopped, the
    report written. Once Locust runs, the signal may land in any of its greenlets: it is only
    noted then, and the loop following the load (runner.py) stops on it."""
    def stop(signum: int, frame: Any) -> None:
        code = exitcodes.SIGTERM if signum == signal.SIGTERM else exitcodes.SIGINT
        _SIGNALLED.append(code)
        if "locust" not in sys.modules:
            raise Interrupted(code)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


class _Listener:
    """The listener process: started with its settings, asked over its arrivals API,
    stopped with SIGTERM (it also stops by itself when this process's end closes its stdin)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.process: subprocess.Popen[bytes] | None = None
        self._stdin: IO[bytes] | None = None

    def start(self, settings: dict[str, Any]) -> dict[str, Any]:
        with (self.run_dir / LISTENER_LOG).open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.load.listener"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin
        self._stdin.write(json.dumps(settings).encode() + b"\n")
        self._stdin.flush()
        line = self.process.stdout.readline()  # the listener bounds its own start-up
        if not line:
            return {"error": f"the listener ended before it was ready (see "
                             f"{self.run_dir / LISTENER_LOG})"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, plan: Plan, path: str, timeout: float) -> Any:
        answer = httpx.post(f"{plan.arrivals_url}{path}", timeout=timeout,
                            headers={"Authorization": f"Bearer {plan.token}"})
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_BOUND_S
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # a child created before gevent came: poll it, do not wait
        if process.poll() is None:
            process.kill()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        self.process = None
