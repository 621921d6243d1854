"""Every benchmark, one after another, and one table: each measure, its value, its goal, met?

    python bench/all.py [--quick] [--only validate,audit,mock,bpp,bap,load] [--json FILE] [-v]

Each bench runs as a process of its own, alone (none measures another's load), and hands its
headline numbers back through its `--json FILE`:

- validate: bench/validate_bench.py, `ubc-cert validate` against the raw limit (json.loads +
  BLAKE2b-512 + ed25519 verify) of the same machine;
- audit: bench/audit_scale_bench.py, `ubc-cert audit` end to end, messages per second per core
  against the same limit, and peak memory;
- mock: bench/mock_bench.py, the reference BPP under wrk against a bare ACK endpoint, the
  callback p99 as concurrency grows, and the harness BAP's exchanges per second;
- bpp, bap: bench/run_bench.py, a full certification of each reference, server start included;
- load: bench/load_bench.py, `ubc-cert load` of many walk-in sessions against the reference BPP.

A piece that needs what is not installed (wrk, Locust) is skipped and says how to install it;
a bench that fails shows its output's end and the others still run. The table ends with the
machine: CPU, cores, memory, Python, date and the load average when the run began (on a shared
machine every number is a floor). `--quick` runs each bench small, to try the whole in a
minute or two. Exit 0 when every bench ran (a goal not met is a row saying so), 1 when one
failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
TAIL_LINES = 25  # of a failed bench's output


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    missing: Callable[[], str | None] = lambda: None  # what is not installed, and how to


@dataclass
class Outcome:
    bench: Bench
    command: list[str]
    result_file: Path
    result: dict[str, Any] | None = None
    skipped: str | None = None  # why, and how to install what is missing
    failed: str | None = None  # why
    wall_s: float = 0.0
    output: str = ""
    notes: list[str] = field(default_factory=list)


def _no_wrk() -> str | None:
    return None if shutil.which("wrk") else "wrk is not installed (apt-get install wrk)"


def _no_locust() -> str | None:
    return None if importlib.util.find_spec("locust") else \
        "Locust is not installed (pip install 'ubc-conformance[load]')"


BENCHES = (
    Bench("validate", "validate_bench.py", ("--messages", "20000", "--rounds", "3"),
          ("--messages", "4000", "--rounds", "1")),
    Bench("audit", "audit_scale_bench.py", ("--transactions", "400,1600", "--workers", "1,2"),
          ("--transactions", "200", "--workers", "1")),
    Bench("mock", "mock_bench.py", ("--duration", "5", "--concurrency", "4,16,64"),
          ("--duration", "2", "--concurrency", "4,16", "--client-requests", "500")),
    Bench("bpp", "run_bench.py", ("--role", "bpp", "--runs", "3"),
          ("--role", "bpp", "--runs", "1")),
    Bench("bap", "run_bench.py", ("--role", "bap", "--runs", "3"),
          ("--role", "bap", "--runs", "1")),
    Bench("stall", "stall_bench.py", (), ()),
    Bench("load", "load_bench.py", ("--sessions", "1000", "--concurrency", "50"),
          ("--sessions", "200", "--concurrency", "50"), _no_locust),
)
BOUND_S = {"validate": 300, "audit": 600, "mock": 600, "bpp": 600, "bap": 600, "stall": 300,
           "load": 900}


def run(bench: Bench, quick: bool, folder: Path, verbose: bool) -> Outcome:
    """One bench in a process of its own; its JSON result, or why there is none."""
    result_file = folder / f"{bench.name}.json"
    options = list(bench.quick if quick else bench.full)
    outcome = Outcome(bench, [sys.executable, str(BENCH / bench.script), *options,
                              "--json", str(result_file)], result_file)
    missing = bench.missing()
    if bench.name == "mock" and _no_wrk():
        # the harness BAP's rate needs no wrk: measured alone, the wrk rows say what is missing
        outcome.command.append("--client-only")
        outcome.notes.append(str(_no_wrk()))
    if missing:
        outcome.skipped = missing
        return outcome
    started = time.monotonic()
    try:
        done = subprocess.run(outcome.command, cwd=BENCH.parent, text=True, env=_env(),
                              stdout=None if verbose else subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=BOUND_S[bench.name], check=False)
    except subprocess.TimeoutExpired as exc:
        outcome.wall_s = time.monotonic() - started
        outcome.output = _text(exc.stdout)
        outcome.failed = f"no result within {BOUND_S[bench.name]} s"
        return outcome
    outcome.wall_s = time.monotonic() - started
    outcome.output = done.stdout or ""
    if result_file.exists():
        outcome.result = json.loads(result_file.read_text(encoding="utf-8"))
    # the load exits 1 when an objective is missed (its rows say which), 2 when it could not run
    missed = bench.name in ("load", "stall") and done.returncode == 1
    if outcome.result is None or (done.returncode != 0 and not missed):
        outcome.failed = f"exit {done.returncode}" + ("" if outcome.result else ", no result")
    return outcome


def _env() -> dict[str, str]:
    """The benches, and every process they start, measure this checkout, whichever checkout
    the virtual environment has installed."""
    paths = [str(BENCH.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


# -- the table ------------------------------------------------------------------------------

Row = tuple[str, str, str, str]  # measure, value, goal, met?
NO_GOAL = "-"


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def validate_rows(r: dict[str, Any]) -> list[Row]:
    return [("validate: share of the raw limit",
             f"{r['ratio']:.0%} ({_n(r['validate_msg_s'])} of {_n(r['raw_msg_s'])} msg/s)",
             f">= {r['goal_ratio']:.0%}", _met(r["ratio"] >= r["goal_ratio"]))]


def audit_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    largest = max(row["transactions"] for row in r["rows"])
    for row in r["rows"]:
        if row["transactions"] != largest:
            continue
        peak = f", peak {row['peak_mb']:,.0f} MB" if row["peak_mb"] else ""
        rows.append((f"audit: {row['messages']:,} messages, {row['workers']} worker"
                     f"{'s' if row['workers'] > 1 else ''}",
                     f"{_n(row['msg_s_core'])} msg/s/core = {row['of_limit']:.0%} of the "
                     f"limit{peak}", NO_GOAL,
                     "-" if row["exit"] == 0 else f"NO (audit exit {row['exit']})"))
    peaks = [row["peak_mb"] for row in r["rows"] if row["workers"] == 1 and row["peak_mb"]]
    sizes = [row["messages"] for row in r["rows"] if row["workers"] == 1 and row["peak_mb"]]
    if len(peaks) > 1:
        rows.append((f"audit: peak memory, {sizes[0]:,} -> {sizes[-1]:,} messages, 1 worker",
                     f"{peaks[0]:,.0f} -> {peaks[-1]:,.0f} MB", NO_GOAL, "-"))
    return rows


def mock_rows(r: dict[str, Any], notes: list[str]) -> list[Row]:
    rows: list[Row] = []
    if notes:
        rows += [("mock: reference BPP / bare endpoint (wrk)", f"skipped: {notes[0]}",
                  ">= 15%", "skipped"),
                 ("mock: callback p99 growth with concurrency", "skipped", "<= linear",
                  "skipped")]
    else:
        levels = r["levels"]
        lost = sum(level["lost"] for level in levels)
        errors = sum(level["errors"] for level in levels)
        ratios = ", ".join(f"{level['ratio']:.1%}" for level in levels)
        conns = "/".join(str(level["connections"]) for level in levels)
        rows.append(("mock: reference BPP / bare endpoint (wrk), median",
                     f"{r['ratio_median']:.1%} ({ratios} at {conns} conns; "
                     f"{lost} lost, {errors} errors)",
                     f">= {r['goals']['ratio']:.0%}",
                     _met(r["ratio_median"] >= r["goals"]["ratio"] and not lost)))
        growth = r["callback_p99_growth"]
        if growth:
            rows.append((f"mock: callback p99 growth, {growth['from']} -> {growth['to']} conns",
                         f"x{growth['p99_factor']:.1f} (" + " -> ".join(
                             _ms(x["callback_p99_ms"]) for x in levels) + ")",
                         f"<= x{growth['concurrency_factor']:g} (linear)",
                         _met(growth["p99_factor"] <= growth["concurrency_factor"])))
    goal = r["goals"]["bap_exchanges_s"]
    rows.append((f"harness BAP: exchanges/s, {r['bap_in_flight']} in flight",
                 f"{_n(r['bap_exchanges_s'])}/s ({r['bap_failed']} failed)", f">= {goal}",
                 _met(r["bap_exchanges_s"] >= goal and not r["bap_failed"])))
    return rows


def certification_rows(r: dict[str, Any]) -> list[Row]:
    walls = r["walls_s"]
    spread = f", {min(walls):.1f}-{max(walls):.1f}" if len(walls) > 1 else ""
    return [(f"{r['role'].upper()} certification wall, median",
             f"{r['median_s']:.1f} s ({len(walls)} run{'s' if len(walls) > 1 else ''}"
             f"{spread}; {r['scenarios']} scenarios)",
             f"<= {r['goal_s']:g} s", _met(r["median_s"] <= r["goal_s"]))]


def load_rows(r: dict[str, Any]) -> list[Row]:
    sessions = r["sessions"] or {}
    asked = sessions.get("asked") or 0
    if sessions.get("completed") is None:
        return [("load: walk-in sessions", f"could not run: {r['reason']}", "all completed",
                 "NO")]
    where = f"{asked:,} sessions, {r['concurrency']} in flight"
    return [
        (f"load: {where}, completed",
         f"{sessions['completed']:,} in {r['elapsed_s']:.1f} s", f"{asked:,}",
         _met(sessions["completed"] == asked)),
        ("load: throughput", f"{r['sessions_per_s']:.1f} sessions/s", NO_GOAL, "-"),
        ("load: p99 ACK", _ms(r["p99_ack_ms"]), NO_GOAL, "-"),
        ("load: p99 callback (send -> arrival)", _ms(r["p99_callback_ms"]), NO_GOAL, "-"),
        ("load: errors, timeouts", f"{r['errors']}, {r['timeouts']}", "0, 0",
         _met(r["errors"] == 0 and r["timeouts"] == 0)),
        ("load: lost, late callbacks", f"{r['lost']}, {r['late']}", "0, 0",
         _met(r["lost"] == 0 and r["late"] == 0)),
    ]


def stall_rows(r: dict[str, Any]) -> list[Row]:
    worst = max(r["phases"], key=lambda p: p["max_ms"])
    return [("stall: slowest registry answer while a party works hard",
             f"{_ms(r['worst_ms'])} ({worst['phase']})", f"<= {r['bound_ms']:g} ms",
             _met(r["worst_ms"] <= r["bound_ms"]))]


def rows_of(outcome: Outcome) -> list[Row]:
    name = outcome.bench.name
    if outcome.skipped:
        return [(name, f"skipped: {outcome.skipped}", NO_GOAL, "skipped")]
    if outcome.failed or outcome.result is None:
        return [(name, f"failed: {outcome.failed}", NO_GOAL, "FAILED")]
    r = outcome.result
    if name == "validate":
        return validate_rows(r)
    if name == "audit":
        return audit_rows(r)
    if name == "mock":
        return mock_rows(r, outcome.notes)
    if name in ("bpp", "bap"):
        return certification_rows(r)
    if name == "stall":
        return stall_rows(r)
    return load_rows(r)


def table(rows: list[Row]) -> str:
    """A Markdown table, its columns aligned: read on a terminal, pasted into the README."""
    header: Row = ("measure", "value", "goal", "met?")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]

    def line(row: Row) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) \
            + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(row) for row in rows)])


# -- the machine ----------------------------------------------------------------------------


def _proc(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def machine(load_average: float | None) -> dict[str, Any]:
    """CPU model, cores, memory, Python and the date, from /proc where there is one."""
    cpuinfo = _proc("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
              if line.startswith("model name")]
    memory_kb = next((int(line.split()[1]) for line in _proc("/proc/meminfo").splitlines()
                      if line.startswith("MemTotal:")), None)
    return {"cpu": models[0] if models else platform.processor() or platform.machine(),
            "cores": len(models) or os.cpu_count(),
            "memory_gib": round(memory_kb / 1024 ** 2, 1) if memory_kb else None,
            "python": platform.python_version(), "system": platform.system(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average_at_start": load_average}


def machine_line(m: dict[str, Any]) -> str:
    memory = f"{m['memory_gib']:g} GiB RAM" if m["memory_gib"] else "RAM unknown"
    load = m["load_average_at_start"]
    busy = "" if load is None else f"; load average {load:.2f} when the run began"
    return (f"machine: {m['cpu']}, {m['cores']} cores, {memory}, Python {m['python']} "
            f"({m['system']}), {m['date']}{busy}")


# -------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="each bench small: the whole in a minute or two, numbers rough")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated, of: " + ", ".join(b.name for b in BENCHES))
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the rows, each bench's numbers and the machine to FILE")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show each bench's own output as it runs")
    args = parser.parse_args()
    chosen = [b.name for b in BENCHES]
    if args.only:
        chosen = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(chosen) - {b.name for b in BENCHES})
        if unknown:
            parser.error(f"--only: no bench {', '.join(unknown)} (known: "
                         f"{', '.join(b.name for b in BENCHES)})")
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="ubc-bench-") as tmp:
        for n, bench in enumerate(b for b in BENCHES if b.name in chosen):
            outcome = run(bench, args.quick, Path(tmp), args.verbose)
            state = f"skipped: {outcome.skipped}" if outcome.skipped else \
                f"FAILED: {outcome.failed}" if outcome.failed else "done"
            shown = " ".join(x for x in outcome.command[2:]
                             if x not in ("--json", str(outcome.result_file)))
            command = " ".join(filter(None, (f"bench/{bench.script}", shown)))
            print(f"[{n + 1}/{len(chosen)}] {bench.name} ({command})"
                  f": {state}, {outcome.wall_s:.0f} s", file=sys.stderr, flush=True)
            if outcome.failed and outcome.output:
                print("\n".join(outcome.output.splitlines()[-TAIL_LINES:]), file=sys.stderr)
            outcomes.append(outcome)
    rows = [row for outcome in outcomes for row in rows_of(outcome)]
    about = machine(load_average)
    total = sum(o.wall_s for o in outcomes)
    print(table(rows))
    print(machine_line(about))
    print(f"{'quick run (--quick): rough numbers; ' if args.quick else ''}the benches took "
          f"{total:.0f} s in all, one after another")
    if args.json:
        args.json.write_text(json.dumps({
            "quick": args.quick, "machine": about, "rows": [list(r) for r in rows],
            "benches": {o.bench.name: {"command": o.command[1:], "result": o.result,
                                       "skipped": o.skipped, "failed": o.failed,
                                       "wall_s": o.wall_s} for o in outcomes}},
            indent=1) + "\n", encoding="utf-8")
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
