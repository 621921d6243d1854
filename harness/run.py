"""`ubc-cert run`: certify a candidate against the UBC user stories.

Loads the candidate file, brings up the mock network the candidate's role needs
(harness/certify/role.py) with the harness's keys from its state folder (harness/state.py) and
an empty registry of its own, prints what the candidate must be configured with
(harness/identity.py), waits until the candidate answers, runs the role's features through the
engine (harness/certify/engine.py), then writes the evidence into `<report-dir>/<run-id>/`:
report.json, junit.xml, allure-results/, transcript.ndjson.

Exit codes (harness/exitcodes.py): 0 certified, 1 not certified, 2 could not run (bad candidate
file, candidate not reachable, harness error).
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from harness import candidate as candidate_module
from harness import exitcodes, identity
from harness.addresses import AddressError
from harness.beckn.signing import InvalidKey
from harness.beckn.time import duration_seconds
from harness.certify import engine
from harness.certify.catalog_flow import FAN_OUT, CatalogFlow, CatalogFlowError
from harness.certify.role import Role, roles
from harness.certify.terminal import DEFAULT_ANSWER_WITHIN_S, Terminal
from harness.network import MockNetwork, NetworkConfig
from harness.report import document, terminal
from harness.report.seal import Sealing, SealingError
from harness.state import default_state_dir


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
    started = time.time()
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
    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    try:  # e-certificate: the waivers and the operator key, refused before anything runs
        sealing = Sealing.prepare(cand, state_dir=state_dir, started=started, tags=args.tags,
                                  operator_key=args.operator_key, waiver_file=args.waivers)
    except SealingError as exc:
        return _refuse(str(exc))
    try:
        if args.emit_config:
            identity.config_format(args.emit_config)
        # A slow answer is measured up to twice the ACK bound (UBC-TIME-001), then given up on.
        # The registry is the run's own: nothing an earlier run registered can answer a lookup.
        network = MockNetwork(NetworkConfig(
            port_base=args.port_base, ttl=args.ttl, roles=role.plays,
            state_dir=state_dir, fresh_keys=args.fresh_keys, keep_registry=False, host=args.host,
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
    try:
        network.build()
        network.register_candidate(cand)
        network.start()
    except InvalidKey as exc:
        network.stop()
        return _refuse(f"{exc} (--fresh-keys replaces the harness's keys)")
    except OSError as exc:
        network.stop()
        where = f"{exc.filename}: " if exc.filename else ""
        return _refuse(f"cannot start the mock network: {where}{exc.strerror or exc}")
    try:
        if args.emit_config:
            identity.emit(network, args.emit_config)
    except OSError as exc:
        network.stop()
        return _refuse(f"--emit-config {args.emit_config}: cannot write: {exc.strerror or exc}")
    try:
        return _certify(args, role, cand, network, run_dir, started, catalog, operator,
                        sealing)
    finally:
        network.stop()


def _certify(args: argparse.Namespace, role: Role, cand: candidate_module.Candidate,
             network: MockNetwork, run_dir: Path, started: float, catalog: CatalogFlow,
             operator: Terminal | None, sealing: Sealing) -> int:
    print(f"Certifying {cand.subscriber_id} ({cand.role}) at {cand.uri}")
    for line in role.announce(network, catalog, operator) + sealing.announce():
        print(f"  {line}")
    print(f"\nThe harness's identity (keys kept in {network.state_dir}; --fresh-keys makes new "
          "ones under new key ids), ready to paste:\n")
    print(identity.as_toml(identity.describe(network)), flush=True)
    facts = document.RunFacts(
        role=args.role, candidate=cand, started=started,
        options={"tags": args.tags, "ttl": args.ttl, "ack_bound_s": args.ack_bound,
                 "state_dir": str(network.state_dir), "host": args.host,
                 "public_url": args.public_url, "catalog": catalog.as_option(),
                 "interactive": operator is not None,
                 "operator_timeout_s": operator.answer_within_s if operator else None},
        network=[p.__dict__ for p in network.table()])

    def could_not_run(message: str) -> int:
        print(f"ubc-cert run: {message}", file=sys.stderr)
        report = document.build(facts, engine.COULD_NOT_RUN, message, [], [])
        document.write(run_dir, report)
        network.transcript.write_ndjson(run_dir / "transcript.ndjson")
        for line in sealing.finish(run_dir, report):  # e-certificate: redacted, then signed
            print(line)
        return exitcodes.COULD_NOT_RUN
    if not _reachable(cand.uri, args.wait):
        return could_not_run(f"candidate not reachable at {cand.uri} within {args.wait:g} s")
    try:
        settled = catalog.settle(network, cand)
    except CatalogFlowError as exc:
        return could_not_run(str(exc))
    for line in settled:
        print(f"  {line}")
    facts.options["catalog"]["outcome"] = settled
    certification = role.begin(network, cand, ttl=args.ttl, ack_bound_s=args.ack_bound,
                               operator=operator)
    certification.waivers = sealing.waivers  # e-certificate
    outcome = engine.certify(role, certification, run_dir, args.tags)
    network.transcript.write_ndjson(run_dir / "transcript.ndjson")
    report = document.build(facts, outcome.verdict, outcome.reason, outcome.results,
                            outcome.findings)
    if sealing.waivers is not None:  # e-certificate
        report["waivers"] = sealing.report_section()
    document.write(run_dir, report)
    terminal.print_summary(report, run_dir)
    for line in sealing.finish(run_dir, report):  # e-certificate: last, after every artifact
        print(line)
    return outcome.exit_code
