"""`ubc-cert fuzz --role bpp|bap --candidate FILE`: a candidate's Beckn endpoints fed requests
schemathesis drew from their OpenAPI document, each signed by the harness.

In order: the candidate file and the options are read (anything wrong: exit 2 before anything
starts); the requests are drawn (harness/fuzz/cases.py); the part of the network the candidate
needs comes up, with the keys `ubc-cert run` uses (the registry, holding the candidate, and
the harness's BAP for a BPP candidate or its BPP for a BAP); once the candidate accepts
connections the requests are sent and judged (harness/fuzz/session.py); last, fuzz.json and
transcript.ndjson go to `<report-dir>/<run-id>-fuzz/` (harness/fuzz/report.py) on every way
out once that folder exists, and the summary is printed.

Exit codes (harness/exitcodes.py): 0 nothing found, 1 a finding, 2 could not run (bad file or
options, the candidate unreachable or refusing the control, schemathesis missing).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from harness import candidate as candidate_module
from harness import exitcodes, identity, schemas, startup
from harness.addresses import AddressError
from harness.beckn.time import duration_seconds
from harness.fuzz import cases, document
from harness.fuzz import report as reports
from harness.fuzz.session import ControlRefused, Outcome, Session
from harness.network import MockNetwork, NetworkConfig
from harness.report.terminal import printable
from harness.state import default_state_dir

PLAYS = {"bpp": ("registry", "bap"), "bap": ("registry", "bpp")}  # the harness's parties


class CouldNotRun(Exception):
    """Nothing could be judged: the message says why."""


class Output:
    """The run's text: stdout, or stderr when stdout carries fuzz.json."""

    def __init__(self, to_stderr: bool) -> None:
        self.stream = sys.stderr if to_stderr else sys.stdout

    def say(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.stream, flush=True)


def _refuse(message: str) -> int:
    print(f"ubc-cert fuzz: {printable(message)}", file=sys.stderr)
    return exitcodes.COULD_NOT_RUN


def _actions(args: argparse.Namespace) -> tuple[str, ...]:
    every = document.RECEIVES[args.role]
    if not args.actions:
        return every
    chosen = tuple(dict.fromkeys(a.strip() for a in args.actions.split(",") if a.strip()))
    unknown = [a for a in chosen if a not in every]
    if unknown or not chosen:
        raise CouldNotRun(f"--actions {args.actions}: a {args.role} receives "
                          f"{', '.join(every)}" + (f", not {', '.join(unknown)}"
                                                   if unknown else ""))
    return tuple(a for a in every if a in chosen)  # in the document's order


def _prepare(args: argparse.Namespace) -> tuple[candidate_module.Candidate, tuple[str, ...],
                                               MockNetwork]:
    """The candidate, the endpoints to fuzz and the network, not started yet; CouldNotRun
    for anything wrong in the file or the options."""
    try:
        cand = candidate_module.load(args.candidate)
        if cand.role != args.role:
            raise CouldNotRun(f"{args.candidate} describes a {cand.role}, not a {args.role}")
        actions = _actions(args)
        duration_seconds(args.ttl)
        if args.emit_config:
            identity.config_format(args.emit_config)
        state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
        # The run's own registry, as `ubc-cert run` has: nothing registered before answers.
        network = MockNetwork(NetworkConfig(
            port_base=args.port_base, ttl=args.ttl, roles=PLAYS[args.role],
            state_dir=state_dir, fresh_keys=args.fresh_keys, keep_registry=False,
            host=args.host, public_url=args.public_url, send_timeout_s=2 * args.ack_bound,
            report_dir=Path(args.report_dir), live_title=f"ubc-cert fuzz --role {args.role}"))
    except (candidate_module.CandidateError, identity.ConfigFormatError, AddressError) as exc:
        raise CouldNotRun(str(exc)) from None
    except ValueError as exc:
        raise CouldNotRun(f"--ttl: {exc}") from None
    return cand, actions, network


def run(args: argparse.Namespace) -> int:
    started = time.time()
    out = Output(to_stderr=args.format == "json")
    try:
        cand, actions, network = _prepare(args)
    except CouldNotRun as exc:
        return _refuse(str(exc))
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    out.say(f"Fuzzing {printable(cand.subscriber_id)} ({cand.role}) at {printable(cand.uri)}",
            f"  document    {document.path_of(args.role).name}: {', '.join(actions)}",
            f"  drawing     up to {args.max_examples} requests, seed {seed} ...")
    try:
        facts, drawn = _draw(args, cand, actions, seed, network.state_dir, started)
    except cases.DrawError as exc:
        network.stop()
        return _refuse(str(exc))
    out.say(f"  drawn       {len(drawn)} requests ({facts.draw['meant_valid']} meant valid, "
            f"{len(drawn) - facts.draw['meant_valid']} meant to break the schema) in "
            f"{facts.draw['seconds']:.1f} s, digest {facts.draw['digest']}")
    run_dir = Path(args.report_dir) / _run_id()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        network.stop()
        return _refuse(f"cannot create {run_dir}: {exc.strerror or exc}")
    outcome: Outcome | None = None
    reason = ""
    try:
        _start(args, network, cand)
        facts.network = [p.__dict__ for p in network.table()]
        _announce(out, network, args.role)
        outcome = _fuzz(args, network, cand, drawn, facts.draw["digest"], out)
    except CouldNotRun as exc:
        reason = str(exc)
        _refuse(reason)
    except KeyboardInterrupt:
        reason = "interrupted (SIGINT)"
        raise
    except Exception as exc:  # a harness bug: still evidence, then exit 2 as one
        reason = f"harness error: {type(exc).__name__}: {exc}"
        raise
    finally:
        try:  # every way out leaves the transcript and fuzz.json
            network.transcript.write_ndjson(run_dir / "transcript.ndjson")
            report = reports.build(facts, outcome, reason)
            written = reports.write(run_dir, report, time.time())
        finally:
            network.stop()
    out.say("", *reports.summary_lines(report, run_dir))
    if args.format == "json":
        sys.stdout.write(written.read_text(encoding="utf-8"))
        sys.stdout.flush()
    return int(report["exit_code"])


def _draw(args: argparse.Namespace, cand: candidate_module.Candidate,
          actions: tuple[str, ...], seed: int, state_dir: Path, started: float
          ) -> tuple[reports.FuzzFacts, list[cases.Drawn]]:
    """The requests, and what the report says of the run before anything is sent."""
    drawing = time.monotonic()
    drawn = cases.draw(document.load(args.role), actions, args.max_examples, seed,
                       storage=state_dir / "hypothesis")
    facts = reports.FuzzFacts(
        role=args.role, candidate=cand, started=started, document=document.path_of(args.role),
        options={"candidate_file": args.candidate, "seed": seed,
                 "max_examples": args.max_examples, "actions": list(actions),
                 "only": bool(args.actions), "ttl": args.ttl, "ack_bound_s": args.ack_bound,
                 "state_dir": str(state_dir)},
        draw={"digest": cases.digest(drawn), "requests": len(drawn),
              "meant_valid": sum(d.mode == "positive" for d in drawn),
              "seconds": round(time.monotonic() - drawing, 3)})
    return facts, drawn


def _run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-fuzz-" + secrets.token_hex(3)


def _start(args: argparse.Namespace, network: MockNetwork,
           cand: candidate_module.Candidate) -> None:
    """The harness's parties up, the candidate registered; CouldNotRun when they cannot."""
    try:
        startup.bring_up(network, cand, args.emit_config)
    except startup.CannotStart as exc:
        raise CouldNotRun(str(exc)) from None

def _announce(out: Output, network: MockNetwork, role: str) -> None:
    parties = network.participants
    me = parties["bap" if role == "bpp" else "bpp"]
    out.say(f"  registry    {parties['registry'].url}  (point the candidate here)",
            f"  harness {me.role.upper()} {me.subscriber_id} at {me.uri}, key id {me.key_id}")


def _fuzz(args: argparse.Namespace, network: MockNetwork, cand: candidate_module.Candidate,
          drawn: list[cases.Drawn], digest: str, out: Output) -> Outcome:
    if not startup.reachable(cand.uri, args.wait):
        raise CouldNotRun(f"candidate not reachable at {cand.uri} within {args.wait:g} s")
    session = Session(network, cand, schemas.load(), ttl=args.ttl,
                      ack_bound_s=args.ack_bound)
    try:
        if args.verbose:
            return session.run(drawn, digest,
                               each=lambda r: out.say(reports.request_line(r.as_record())))
        return session.run(drawn, digest)
    except ControlRefused as exc:
        raise CouldNotRun(str(exc)) from None
