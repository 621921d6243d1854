"""`ubc-cert load` against the reference BPP, run as its own process as an implementer's server
would be (harness.selftest.ReferenceProcess): walk-in sessions with many in flight, a slot race,
every callback waited for on arrival.

    python bench/load_bench.py [--sessions 1000] [--concurrency 50] [--ttl PT30S] [--json FILE]

Prints the command's own report (the latency table, the callbacks, the objectives: at least
errors=0, timeouts=0, lost=0, late=0) and exits with its exit code; `--json FILE` writes the
headline numbers there (bench/all.py reads them): sessions completed, sessions per second, p99
of the ACKs and of the callbacks, errors, timeouts, lost and late callbacks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.selftest import ReferenceProcess


def headline(document: dict[str, Any]) -> dict[str, Any]:
    """What bench/all.py shows of a load.json."""
    together = {r["type"]: r for r in document.get("measurements", {}).get("rows", [])
                if r["name"] == "*"}
    measured = {o["key"]: o["measured"] for o in document.get("slo", [])}
    callbacks = document.get("callbacks", {})
    return {"verdict": document.get("verdict"), "reason": document.get("reason"),
            "sessions": document.get("sessions"),
            "concurrency": document.get("options", {}).get("concurrency"),
            "elapsed_s": document.get("elapsed_s"),
            "sessions_per_s": document.get("throughput", {}).get("sessions_per_s"),
            "p99_ack_ms": together.get("ACK", {}).get("p99_ms"),
            "p99_callback_ms": together.get("callback", {}).get("p99_ms"),
            "errors": measured.get("errors"), "timeouts": measured.get("timeouts"),
            "lost": callbacks.get("lost"), "late": measured.get("late"),
            "exit_code": document.get("exit_code")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--ttl", default="PT30S", help="ttl of every request")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the headline numbers to FILE as JSON")
    args = parser.parse_args()
    # The load's own bound is its stall detection; this one is for a run that never ends.
    bound_s = 120.0 + args.sessions * 0.5
    with tempfile.TemporaryDirectory() as tmp, ReferenceProcess(Path(tmp)) as reference:
        done = reference.load(Path(tmp) / "reports", "--sessions", str(args.sessions),
                              "--concurrency", str(args.concurrency), "--ttl", args.ttl,
                              timeout=bound_s)
    print(done.stderr, end="")
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    if args.json:
        args.json.write_text(json.dumps(headline(document), indent=1) + "\n", encoding="utf-8")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
