"""`ubc-cert run`: certify a candidate against the UBC user stories.

Loads the candidate file, brings up the mock network the candidate's role needs
(harness/certify/role.py) with the harness's keys from its state folder (harness/state.py) and
an empty registry of its own, prints what the candidate must be configured with
(harness/identity.py), waits until the candidate answers, runs the role's features through the
engine (harness/certify/engine.py), then writes the evidence into `<report-dir>/<run-id>/`:
report.json, report.html, junit.xml, allure-results/, transcript.ndjson, and the run's signed
certificate (or result).

Once the run folder exists every way out writes report.json, junit.xml and transcript.ndjson:
a verdict, a run that could not run (the reason as an errored JUnit case), a harness error, and
a run stopped by SIGINT, SIGTERM or `--max-time` (harness/certify/interruption.py), which keeps
the scenarios it ran and lists the rest as not run.

Exit codes (harness/exitcodes.py): 0 certified, 1 not certified (or a partial run failed),
2 could not run, 3 a partial run passed, 124 --max-time ran out, 130 SIGINT, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness import candidate as candidate_module
from harness import exitcodes, identity, startup
from harness.addresses import AddressError
from harness.beckn.time import duration_seconds
from harness.certify import allure_evidence, engine, listing
from harness.certify import verdict as verdicts
from harness.certify.catalog_flow import FAN_OUT, PUBLISH_THEN_RUN, CatalogFlow, CatalogFlowError
from harness.certify.interruption import Interrupted, StopSignals
from harness.certify.progress import NORMAL, QUIET, VERBOSE, Display, Progress
from harness.certify.role import Role, roles
from harness.certify.terminal import DEFAULT_ANSWER_WITHIN_S, Terminal
from harness.cli_options import safeguard_config
from harness.network import MockNetwork, NetworkConfig
from harness.report import document, html, junit, plan, terminal
from harness.report.seal import Sealing, SealingError
from harness.state import default_state_dir

PYTEST_TAIL_LINES = 25  # of pytest's own output, shown when pytest itself could not run


class CouldNotRun(Exception):
    """Nothing could be judged: the message says why (the verdict's reason)."""


def _run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _refuse(message: str) -> int:
    print(f"ubc-cert run: {terminal.printable(message)}", file=sys.stderr)
    return exitcodes.COULD_NOT_RUN


def _verbosity(args: argparse.Namespace) -> int:
    return QUIET if args.quiet else VERBOSE if args.verbose else NORMAL


def _list(args: argparse.Namespace) -> int:
    """--list-scenarios, --list-tags: what a run of the role would run, nothing started."""
    planned = listing.scenarios(args.role)
    try:
        selected = listing.select(planned, args.tags)
    except listing.TagExpressionError as exc:
        return _refuse(str(exc))
    if args.format == "json":
        data: object = ([s.as_dict() for s in selected] if args.list_scenarios else
                        {tag: {"scenarios": n, "description": listing.tag_descriptions()
                               .get(tag, "")} for tag, n in listing.tags(selected).items()})
        sys.stdout.write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        return exitcodes.OK
    display = Display.of_this_process(live=False)
    try:
        if args.list_scenarios:
            display.say(*terminal.scenario_list_lines(args.role, selected, planned), at=QUIET)
        if args.list_tags:
            display.say(*terminal.tag_list_lines(args.role, listing.tags(selected),
                                                 listing.tag_descriptions()), at=QUIET)
    finally:
        display.close()
    return exitcodes.OK


def run(args: argparse.Namespace) -> int:
    started, started_mono = time.time(), time.monotonic()
    if args.list_scenarios or args.list_tags:
        return _list(args)
    if not args.candidate:
        return _refuse("--candidate FILE is required (but not by --list-scenarios or "
                       "--list-tags)")
    if args.format == "json" and args.interactive:
        return _refuse("--format json writes report.json to stdout, where an --interactive "
                       "run prompts its operator: choose one")
    try:
        planned = listing.scenarios(args.role)
        selected = listing.select(planned, args.tags)
    except listing.TagExpressionError as exc:
        return _refuse(str(exc))
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
            public_url=args.public_url, send_timeout_s=2 * args.ack_bound,
            report_dir=Path(args.report_dir), live_title=f"ubc-cert run --role {args.role}",
            **safeguard_config(args)))
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
                 "exitfirst": args.exitfirst, "max_time_s": args.max_time,
                 "max_signature_validity_s": network.config.max_signature_validity_s,
                 "allow_outbound": list(network.config.allow_outbound)},
        plan=plan.of_role(args.role).as_dict())
    # The run's human text goes to its own display (stderr when stdout carries report.json),
    # live on a terminal, plain lines in a pipe; never redrawn under an operator's prompts.
    display = Display.of_this_process(to_stderr=args.format == "json",
                                      verbosity=_verbosity(args),
                                      live=False if operator is not None else None)
    with StopSignals(args.max_time, started=started_mono) as signals:
        try:
            try:
                _start(args, network, cand)
                facts.network = [p.__dict__ for p in network.table()]
                network.live.publish("run", {
                    "state": "started", "run_id": run_dir.name, "role": cand.role,
                    "subscriber_id": cand.subscriber_id, "total": len(selected)})
                display.say(*terminal.plan_lines(
                    subscriber_id=cand.subscriber_id, role=cand.role, uri=cand.uri,
                    planned=planned, selected=selected, tags=args.tags, ttl=args.ttl,
                    ack_bound_s=args.ack_bound,
                    announce=[f"plan {facts.plan['sha256'][:16]}: "
                              f"{len(facts.plan['features'])} features, "
                              f"{facts.plan['rules']} rules; harness {harness.version()}",
                              *role.announce(network, catalog, operator),
                              f"{'live view':25} {network.live_url}",
                              *sealing.announce()],
                    state_dir=network.state_dir,
                    identity_shown=args.show_identity or display.verbosity >= VERBOSE))
                if args.show_identity or display.verbosity >= VERBOSE:
                    display.say(*terminal.identity_lines(
                        identity.as_toml(identity.describe(network)), network.state_dir))
                outcome = _certify(args, role, cand, network, run_dir, facts, catalog,
                                   operator, signals, display, sealing)
            except CouldNotRun as exc:
                _refuse(str(exc))
                outcome = engine.Outcome(verdicts.could_not_run(str(exc)))
            except Interrupted as exc:  # before the scenarios began
                outcome = engine.interrupted_before_start(exc.stop)
            except Exception as exc:  # a harness bug: still evidence, then exit 2 as one
                _write(run_dir, facts, network, engine.Outcome(verdicts.could_not_run(
                    f"harness error: {type(exc).__name__}: {exc}")), sealing)
                raise
            signals.hold()
            report, path, sealed = _write(run_dir, facts, network, outcome, sealing)
            network.live.publish("run", {
                "state": "finished", "run_id": run_dir.name, "verdict": report["verdict"],
                "reason": report["reason"], "report": f"{network.live_url}/runs/{run_dir.name}/"
                                                      "report.html"})
            _show(args, display, report, path)
            display.say(*sealed)
            if outcome.verdict.stop is not None:
                _refuse(f"{outcome.verdict.reason}; the report is complete for what ran: "
                        f"{run_dir}")
        finally:
            signals.hold()
            display.close()
            network.stop()
    return outcome.exit_code


def _start(args: argparse.Namespace, network: MockNetwork,
           cand: candidate_module.Candidate) -> None:
    """Bring the mock network up, the candidate registered; CouldNotRun when it cannot."""
    try:
        startup.bring_up(network, cand, args.emit_config)
    except startup.CannotStart as exc:
        raise CouldNotRun(str(exc)) from None

def _write(run_dir: Path, facts: document.RunFacts, network: MockNetwork,
           outcome: engine.Outcome, sealing: Sealing
           ) -> tuple[dict[str, Any], Path, list[str]]:
    """Every artifact of the run, whatever its outcome: transcript, report.json, junit.xml,
    report.html; then, last, the folder swept for secrets and sealed (signed). The report,
    its path and what the sealing said."""
    verdict = outcome.verdict
    network.transcript.write_ndjson(run_dir / "transcript.ndjson", ended=None if (
        verdict.stop is None) else {"verdict": verdict.name, "stopped_by": verdict.stopped_by,
                                    "reason": verdict.reason})
    report = document.build(facts, outcome.verdict, outcome.results, outcome.findings)
    allure_evidence.write_environment(run_dir / "allure-results", {
        "harness.version": report.get("harness_version", harness.version()),
        "plan.sha256": facts.plan.get("sha256", ""), "role": facts.role,
        "candidate.subscriber_id": facts.candidate.subscriber_id,
        "candidate.uri": facts.candidate.uri, "ttl": facts.options.get("ttl", ""),
        "verdict": outcome.verdict.name})
    if sealing.waivers is not None:
        report["waivers"] = sealing.report_section()
    path = document.write(run_dir, report)
    junit.complete(run_dir / "junit.xml", outcome.verdict, outcome.results)
    junit.name_scenarios(run_dir / "junit.xml", outcome.results)
    html.write(run_dir, report)
    return report, path, list(sealing.finish(run_dir, report))


def _certify(args: argparse.Namespace, role: Role, cand: candidate_module.Candidate,
             network: MockNetwork, run_dir: Path, facts: document.RunFacts,
             catalog: CatalogFlow, operator: Terminal | None, signals: StopSignals,
             display: Display, sealing: Sealing) -> engine.Outcome:
    with display.waiting(f"{cand.subscriber_id} to accept connections at {cand.uri}",
                         args.wait):
        reachable = startup.reachable(cand.uri, args.wait)
    if not reachable:
        raise CouldNotRun(f"candidate not reachable at {cand.uri} within {args.wait:g} s")
    try:
        with contextlib.ExitStack() as waiting:
            if catalog.mode == PUBLISH_THEN_RUN:
                waiting.enter_context(display.waiting(
                    f"{cand.subscriber_id}'s catalog_publish at the CDS", catalog.wait_s))
            settled = catalog.settle(network, cand)
    except CatalogFlowError as exc:
        raise CouldNotRun(str(exc)) from None
    display.say(*(f"  {terminal.printable(line)}" for line in settled))
    facts.options["catalog"]["outcome"] = settled
    certification = role.begin(network, cand, ttl=args.ttl, ack_bound_s=args.ack_bound,
                               operator=operator)
    certification.waits.subscribe(display.awaiting)
    certification.waivers = sealing.waivers
    display.say("")
    progress = Progress(display, verbose=display.verbosity >= VERBOSE,
                        pytest_stream=sys.stderr if args.format == "json" else None)
    # Whatever this process holds by now (the harness, the mocks, their libraries, the network)
    # lives until it exits: frozen out of the collector's sight, the collections the scenarios
    # cause (and the one pytest forces at its end) stop going over it again and again, and a
    # run takes a fifth less CPU.
    gc.freeze()
    outcome = engine.certify(role, certification, run_dir, args.tags, progress,
                             exitfirst=args.exitfirst, signals=signals)
    revised = terminal.revised_line(progress.revised(), display.symbols)
    if revised is not None:
        display.say(revised)
    if outcome.exit_code == exitcodes.COULD_NOT_RUN and progress.text.strip():
        tail = progress.text.rstrip().splitlines()[-PYTEST_TAIL_LINES:]
        print("pytest's own output, its end (-v shows all of it):\n" + "\n".join(tail),
              file=sys.stderr)
    return outcome


def _show(args: argparse.Namespace, display: Display, report: dict[str, Any],
          path: Path) -> None:
    """The end of a run: the summary (the verdict line alone with --quiet), and report.json
    on stdout with --format json."""
    if display.verbosity == QUIET:
        display.say(terminal.verdict_line(report, path), at=QUIET)
    else:
        display.say(*terminal.summary_lines(report, path.parent))
    if args.format == "json":
        sys.stdout.write(path.read_text(encoding="utf-8"))
        sys.stdout.write("\n")
        sys.stdout.flush()
