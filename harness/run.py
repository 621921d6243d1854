"""`ubc-cert run`: certify a candidate against the UBC user stories.

Loads the candidate file, brings up the mock network the candidate's role needs
(harness/certify/role.py) with the harness's keys from its state folder (harness/state.py) and
an empty registry of its own, prints what the candidate must be configured with
(harness/identity.py), waits until the candidate answers, runs the role's features through the
engine (harness/certify/engine.py), then writes the evidence into `<report-dir>/<run-id>/`:
report.json, junit.xml, allure-results/, transcript.ndjson.

Once the run folder exists every way out writes report.json, junit.xml and transcript.ndjson:
a verdict, a run that could not run (the reason as an errored JUnit case), a harness error, and
a run stopped by SIGINT, SIGTERM or `--max-time` (harness/certify/interruption.py), which keeps
the scenarios it ran and lists the rest as not run.

Exit codes (harness/exitcodes.py): 0 certified, 1 not certified (or a partial run failed),
2 could not run, 3 a partial run passed, 124 --max-time ran out, 130 SIGINT, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import harness
from harness import candidate as candidate_module
from harness import exitcodes, identity
from harness.addresses import AddressError
from harness.beckn.signing import InvalidKey
from harness.beckn.time import duration_seconds
from harness.certify import engine
from harness.certify import verdict as verdicts
from harness.certify.catalog_flow import FAN_OUT, CatalogFlow, CatalogFlowError
from harness.certify.interruption import Interrupted, StopSignals
from harness.certify.role import Role, roles
from harness.certify.terminal import DEFAULT_ANSWER_WITHIN_S, Terminal
from harness.network import MockNetwork, NetworkConfig
from harness.report import document, junit, plan, terminal
from harness.state import default_state_dir


class CouldNotRun(Exception):
    """Nothing could be judged: the message says why (the verdict's reason)."""


def _reachable(uri: str, timeout: float) -> bool:
    parts = urlsplit(uri)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)  # polling a port that is not yet open: nothing to wait on


def _run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _refuse(message: str) -> int:
    print(f"ubc-cert run: {message}", file=sys.stderr)
    return exitcodes.COULD_NOT_RUN


def run(args: argparse.Namespace) -> int:
    started, started_mono = time.time(), time.monotonic()
    try:
        cand = candidate_module.load(args.candidate)
    except candidate_module.CandidateError as exc:
        return _refuse(str(exc))
    if cand.role != args.role:
        return _refuse(f"{args.candidate} describes a {cand.role}, not a {args.role}")
    role = roles()[args.role]
    if role.unavailable:
        return _refuse(role.unavailable)
    operator = None
    if args.operator_timeout is not None and not args.interactive:
        return _refuse("--operator-timeout bounds the operator's answers of an --interactive "
                       "run: give --interactive too, or leave it out")
    if args.interactive:
        if not role.by_hand:
            return _refuse(f"--interactive is for a BAP (a driver's app worked by hand); a "
                           f"{args.role} is driven by the harness's own requests")
        try:  # now, before the run's capture takes the process's standard streams
            operator = Terminal.of_this_process(
                answer_within_s=args.operator_timeout or DEFAULT_ANSWER_WITHIN_S)
        except ValueError as exc:
            return _refuse(f"--interactive: {exc}")
    elif cand.role == "bap" and not (cand.client_api_url and cand.client_api_token):
        missing = [n for n in ("client_api_url", "client_api_token") if not getattr(cand, n)]
        return _refuse(f"{args.candidate}: a BAP is driven through its client API, and the "
                       f"file gives no {' and no '.join(missing)}: add them, or run with "
                       "--interactive to work the app by hand, prompted step by step")
    try:
        duration_seconds(args.ttl)
    except ValueError as exc:
        return _refuse(f"--ttl: {exc}")
    try:
        if args.emit_config:
            identity.config_format(args.emit_config)
        # A slow answer is measured up to twice the ACK bound (UBC-TIME-001), then given up on.
        # The registry is the run's own: nothing an earlier run registered can answer a lookup.
        network = MockNetwork(NetworkConfig(
            port_base=args.port_base, ttl=args.ttl, roles=role.plays,
            state_dir=Path(args.state_dir) if args.state_dir else default_state_dir(),
            fresh_keys=args.fresh_keys, keep_registry=False, host=args.host,
            public_url=args.public_url, send_timeout_s=2 * args.ack_bound))
    except (identity.ConfigFormatError, AddressError) as exc:
        return _refuse(str(exc))
    try:
        catalog = CatalogFlow.choose(args.wait_catalog, args.catalog)
    except CatalogFlowError as exc:
        return _refuse(str(exc))
    if catalog.mode != FAN_OUT and cand.role != "bpp":
        return _refuse("--wait-catalog and --catalog are for a BPP: a BAP publishes no catalog")
    run_dir = Path(args.report_dir) / _run_id()
    run_dir.mkdir(parents=True, exist_ok=True)
    facts = document.RunFacts(
        role=args.role, candidate=cand, started=started,
        options={"tags": args.tags, "ttl": args.ttl, "ack_bound_s": args.ack_bound,
                 "state_dir": str(network.state_dir), "host": args.host,
                 "public_url": args.public_url, "catalog": catalog.as_option(),
                 "interactive": operator is not None,
                 "operator_timeout_s": operator.answer_within_s if operator else None,
                 "exitfirst": args.exitfirst, "max_time_s": args.max_time},
        plan=plan.of_role(args.role).as_dict())
    with StopSignals(args.max_time, started=started_mono) as signals:
        try:
            try:
                _start(args, network, cand)
                facts.network = [p.__dict__ for p in network.table()]
                outcome = _certify(args, role, cand, network, run_dir, facts, catalog,
                                   operator, signals)
            except CouldNotRun as exc:
                print(f"ubc-cert run: {exc}", file=sys.stderr)
                outcome = engine.Outcome(verdicts.could_not_run(str(exc)))
            except Interrupted as exc:  # before the scenarios began
                outcome = engine.interrupted_before_start(exc.stop)
            except Exception as exc:  # a harness bug: still evidence, then exit 2 as one
                _write(run_dir, facts, network, engine.Outcome(verdicts.could_not_run(
                    f"harness error: {type(exc).__name__}: {exc}")))
                raise
            signals.hold()
            report = _write(run_dir, facts, network, outcome)
            terminal.print_summary(report, run_dir)
            if outcome.verdict.stop is not None:
                print(f"ubc-cert run: {outcome.verdict.reason}; the report is complete for "
                      f"what ran: {run_dir}", file=sys.stderr)
        finally:
            signals.hold()
            network.stop()
    return outcome.exit_code


def _start(args: argparse.Namespace, network: MockNetwork,
           cand: candidate_module.Candidate) -> None:
    """Bring the mock network up, the candidate registered; CouldNotRun when it cannot."""
    try:
        network.build()
        network.register_candidate(cand)
        network.start()
    except InvalidKey as exc:
        raise CouldNotRun(f"{exc} (--fresh-keys replaces the harness's keys)") from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise CouldNotRun(f"cannot start the mock network: {where}{exc.strerror or exc}"
                          ) from None
    try:
        if args.emit_config:
            identity.emit(network, args.emit_config)
    except OSError as exc:
        raise CouldNotRun(f"--emit-config {args.emit_config}: cannot write: "
                          f"{exc.strerror or exc}") from None


def _write(run_dir: Path, facts: document.RunFacts, network: MockNetwork,
           outcome: engine.Outcome) -> dict[str, Any]:
    """Every artifact of the run, whatever its outcome: transcript, report.json, junit.xml."""
    network.transcript.write_ndjson(run_dir / "transcript.ndjson")
    report = document.build(facts, outcome.verdict, outcome.results, outcome.findings)
    document.write(run_dir, report)
    junit.complete(run_dir / "junit.xml", outcome.verdict, outcome.results)
    return report


def _certify(args: argparse.Namespace, role: Role, cand: candidate_module.Candidate,
             network: MockNetwork, run_dir: Path, facts: document.RunFacts,
             catalog: CatalogFlow, operator: Terminal | None,
             signals: StopSignals) -> engine.Outcome:
    print(f"Certifying {cand.subscriber_id} ({cand.role}) at {cand.uri}")
    print(f"  plan {facts.plan['sha256'][:16]}: {len(facts.plan['features'])} features, "
          f"{facts.plan['rules']} rules; harness {harness.version()}")
    for line in role.announce(network, catalog, operator):
        print(f"  {line}")
    print(f"\nThe harness's identity (keys kept in {network.state_dir}; --fresh-keys makes new "
          "ones under new key ids), ready to paste:\n")
    print(identity.as_toml(identity.describe(network)), flush=True)
    if not _reachable(cand.uri, args.wait):
        raise CouldNotRun(f"candidate not reachable at {cand.uri} within {args.wait:g} s")
    try:
        settled = catalog.settle(network, cand)
    except CatalogFlowError as exc:
        raise CouldNotRun(str(exc)) from None
    for line in settled:
        print(f"  {line}")
    facts.options["catalog"]["outcome"] = settled
    certification = role.begin(network, cand, ttl=args.ttl, ack_bound_s=args.ack_bound,
                               operator=operator)
    return engine.certify(role, certification, run_dir, args.tags, exitfirst=args.exitfirst,
                          signals=signals)
