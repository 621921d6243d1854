"""The options of `ubc-cert load` (harness/cli.py builds the parser): argparse only, so that
building the parser, which every `ubc-cert` command does, imports nothing of the load run
(harness/load/command.py, imported when `load` runs)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.cli_options import placement_options, positive_seconds, safeguard_options

LOAD_EPILOG = """\
Each session is a walk-in driver's order through the candidate: select for 100 INR, init,
confirm (payment collected by the BAP), status, on an item discovered once through the CDS.
Each slot race has the harness's two BAPs select, init and confirm one slot of one item at
the same moment: exactly one may be CONFIRMED, the other refused with 40000.
ACK latency is measured by the Locust user that sent the request; callback latency from the
request's send to the callback's arrival at the harness's BAP, as the BAP's inbox recorded it.

examples:
  ubc-cert load --role bpp --candidate cand.toml --port-base 7400 --sessions 500 \\
      --concurrency 50 --slo p99_callback=2s,p99_ack=500ms
  ubc-cert load --role bpp --candidate cand.toml --port-base 7400 --duration 60 \\
      --concurrency 16 --slo throughput=20,errors=1%
  ubc-cert load --role bpp --candidate cand.toml --port-base 7400 --workers 2
  ubc-cert load --role bpp --candidate cand.toml --port-base 7400 --workers 2 \\
      --expect-workers 4 --master-bind 0.0.0.0 --master-port 5557 --host 0.0.0.0 \\
      --public-url http://192.0.2.10          # and on two other machines:
  ubc-cert load --master 192.0.2.10:5557

--slo objectives (on top of errors=0,timeouts=0,lost=0,late=0, which a key given replaces):
  pNN_ack, pNN_callback, pNN_session (NN 50, 90, 95, 99) <= a duration (2s, 500ms);
  errors (a count or N%), timeouts, lost, late <= a count; throughput >= sessions/s.

exit codes: 0 every objective met and no finding, 1 an objective missed or a finding,
2 could not run, 130 SIGINT, 143 SIGTERM (see README)."""


def _run(args: argparse.Namespace) -> int:
    from harness.load import command

    return command.run(args)


def add_parser(sub: Any) -> None:
    """Register `ubc-cert load` on the command line's subparsers."""
    load = sub.add_parser(
        "load", help="load certification: concurrent walk-in sessions against a candidate BPP",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=LOAD_EPILOG,
        description="Run complete walk-in orders against a candidate BPP with Locust, measure "
        "throughput and the latency of ACKs and of callbacks on arrival, count errors, "
        "timeouts, late and lost callbacks, race two BAPs for one slot, and hold the result "
        "to an SLO.")
    load.add_argument("--role", choices=("bpp",), help="the candidate's role (a BPP)")
    load.add_argument("--candidate", metavar="FILE", help="candidate TOML")
    load.add_argument("--sessions", type=int, metavar="N",
                      help="walk-in sessions in all (default 100; with --duration, no limit)")
    load.add_argument("--concurrency", type=int, default=10, metavar="C",
                      help="sessions in flight at once: Locust users (default 10)")
    load.add_argument("--duration", type=positive_seconds, metavar="SECONDS",
                      help="start no session after SECONDS; those under way finish")
    load.add_argument("--slo", metavar="SPEC", help="objectives, e.g. "
                      "p99_callback=2s,p95_ack=300ms,errors=1%%,throughput=20 (below)")
    load.add_argument("--races", type=int, default=1, metavar="N",
                      help="slot races between the harness's two BAPs during the load "
                      "(default 1; 0: none)")
    load.add_argument("--report-dir", default="reports", metavar="DIR",
                      help="write DIR/<run-id>/load.json (default: reports)")
    load.add_argument("--port-base", type=int, default=None,
                      help="the harness's network on these ports, as `ubc-cert run` "
                      "(default: free ports)")
    load.add_argument("--ttl", default="PT30S",
                      help="ttl of every request: how long its callback may take")
    load.add_argument("--ack-bound", type=positive_seconds, default=5.0, metavar="SECONDS",
                      help="bound on the synchronous ACK; no answer within twice it is a "
                      "timeout (default: 5)")
    load.add_argument("--wait", type=positive_seconds, default=30.0, metavar="SECONDS",
                      help="how long to wait for the candidate to be reachable, and for "
                      "workers to join")
    load.add_argument("--state-dir", metavar="DIR",
                      help="the harness's keys and registry, as `ubc-cert run --state-dir`")
    load.add_argument("--fresh-keys", action="store_true",
                      help="replace the harness's keys by new ones under new key ids")
    placement_options(load)
    safeguard_options(load)
    distributed = load.add_argument_group("distributed (Locust master and workers)")
    distributed.add_argument("--workers", type=int, default=0, metavar="N",
                             help="run Locust as a master with N local worker processes")
    distributed.add_argument("--expect-workers", type=int, default=0, metavar="N",
                             help="wait for N workers in all before starting (local ones "
                             "included; the others join with --master)")
    distributed.add_argument("--master-bind", default="127.0.0.1", metavar="ADDR",
                             help="where the master listens for workers (default 127.0.0.1)")
    distributed.add_argument("--master-port", type=int, default=None, metavar="PORT",
                             help="the master's port (default: 5557 when workers from other "
                             "machines are expected, else a free one)")
    distributed.add_argument("--master", metavar="HOST[:PORT]",
                             help="be a worker of the master there (nothing else is needed)")
    output = load.add_mutually_exclusive_group()
    output.add_argument("-q", "--quiet", action="store_true", help="print the verdict only")
    output.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: load.json on stdout, the text on stderr")
    load.set_defaults(func=_run)
