"""`ubc-cert doctor --candidate FILE`: the obvious, checked before a run.

It brings up the part of the certification network the checks need (the registry, holding the
candidate, and the harness BAP; the ports of `ubc-cert run --port-base N`, so the candidate can
keep the configuration it has for the run), then checks in order, one PASS/FAIL/WARN/SKIP line
each with a hint: the URI accepts TCP, answers HTTP, answers JSON; a status signed by the
harness BAP is accepted; the on_status comes back, signed with the key the candidate file
declares; the candidate's clock agrees with ours; it looked the harness BAP up in the registry.
A check that needs an earlier one to have passed is skipped, with the reason.

Exit codes (harness/exitcodes.py): 0 nothing wrong found, 1 a problem found, 2 the doctor could
not run (bad candidate file, ports taken, bad options).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from harness import candidate as candidate_module
from harness import exitcodes
from harness.beckn.time import duration_seconds
from harness.doctor import probe
from harness.doctor.diagnosis import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    Check,
    answers_json,
    callback_arrived,
    clock_agrees,
    http_answered,
    registry_reached,
    signature_accepted,
    signed_with_declared_key,
    skipped,
    tcp_reachable,
)
from harness.network import MockNetwork, NetworkConfig
from harness.state import default_state_dir
from harness.transcript import Exchange

LOOPBACK = ("127.0.0.1", "localhost")
AFTER_ANSWER = ("our signature", "callback", "signing key", "clock")
LATER = (*AFTER_ANSWER, "registry")


class DoctorError(Exception):
    """The doctor cannot run as asked (exit 2)."""


def _port_base(args: argparse.Namespace) -> int | None:
    """The certification network's port base: the registry is on it, the BAP on base + 3."""
    if args.registry_url is None:
        port: int | None = args.port_base
        return port
    parts = urlsplit(args.registry_url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or parts.port is None:
        raise DoctorError(f"--registry-url {args.registry_url}: the doctor serves its registry "
                          "on this machine; give http://127.0.0.1:PORT, the URL the "
                          "candidate is configured with")
    if args.port_base is not None and args.port_base != parts.port:
        raise DoctorError(f"--port-base {args.port_base} and --registry-url port {parts.port} "
                          "disagree: the registry is on the port base")
    return parts.port


class Report:
    """The checks as they are made: printed at once, counted at the end."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.checks: list[Check] = []

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        self.out(f"{check.status:4}  {check.name:14} {check.detail}")
        if check.hint and check.status in (FAIL, WARN):
            self.out(f"{'':20}hint: {check.hint}")
        return check

    def skip_rest(self, names: tuple[str, ...], why: str) -> None:
        for name in names:
            if name not in {c.name for c in self.checks}:
                self.add(skipped(name, why))

    def exit_code(self) -> int:
        counts = {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, WARN, SKIP)}
        self.out(f"{len(self.checks)} checks: {counts[PASS]} passed, {counts[FAIL]} failed, "
                 f"{counts[WARN]} warnings, {counts[SKIP]} skipped")
        return exitcodes.FAILED if counts[FAIL] else exitcodes.OK


def run(args: argparse.Namespace) -> int:
    try:
        cand = candidate_module.load(args.candidate)
        ttl_s = duration_seconds(args.ttl)
        port_base = _port_base(args)
        if args.timeout <= 0:
            raise DoctorError(f"--timeout {args.timeout:g}: give a positive number of seconds")
    except (candidate_module.CandidateError, DoctorError) as exc:
        print(f"ubc-cert doctor: {exc}", file=sys.stderr)
        return exitcodes.COULD_NOT_RUN
    except ValueError as exc:
        print(f"ubc-cert doctor: --ttl: {exc}", file=sys.stderr)
        return exitcodes.COULD_NOT_RUN
    report = Report(lambda line: print(line, flush=True))
    print(f"ubc-cert doctor: {cand.subscriber_id} ({cand.role}) at {cand.uri}")
    if cand.role == "bap":
        if _reached(cand.uri, args.timeout, report):
            _examine_bap(cand.uri, args.timeout, report)
        return report.exit_code()
    network = MockNetwork(NetworkConfig(
        port_base=port_base, ttl=args.ttl, roles=("registry", "bap"),
        # The run's own keys, so a stack that caches lookups meets what the run will use.
        state_dir=Path(args.state_dir) if args.state_dir else default_state_dir(),
        keep_registry=False, send_timeout_s=args.timeout))
    try:
        network.build()
        network.register_candidate(cand)
        network.start()
    except OSError as exc:
        network.stop()
        print(f"ubc-cert doctor: cannot start the registry and the harness BAP: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return exitcodes.COULD_NOT_RUN
    try:
        bap = network.participants["bap"]
        print(f"  registry     {network.participants['registry'].url}  (its registry URL "
              "must point here)")
        print(f"  harness BAP  {bap.subscriber_id} at {bap.uri}  key {bap.public_key}",
              flush=True)
        if _reached(cand.uri, args.timeout, report):
            _examine_bpp(network, cand, ttl_s, report)
        return report.exit_code()
    finally:
        network.stop()


def _reached(uri: str, timeout: float, report: Report) -> bool:
    if report.add(tcp_reachable(probe.connect(uri, timeout))).failed:
        report.skip_rest(("HTTP", "JSON", *LATER), "needs the URI reachable")
        return False
    return True


def _exchange_checks(request: Exchange, report: Report) -> bool:
    """HTTP and JSON; whether both passed."""
    if report.add(http_answered(request)).failed:
        report.skip_rest(("JSON",), "needs an HTTP answer")
        return False
    return not report.add(answers_json(request)).failed


def _examine_bap(uri: str, timeout: float, report: Report) -> None:
    request = probe.post_unsigned(uri, "on_status", timeout)
    _exchange_checks(request, report)
    report.skip_rest(LATER, "for a BPP: the harness has no BPP identity to sign for, and a "
                     "BAP signs only the requests it starts")


def _examine_bpp(network: MockNetwork, cand: candidate_module.Candidate,
                 ttl_s: float, report: Report) -> None:
    bap = network.participants["bap"]
    registry_url = network.participants["registry"].url
    request, transaction_id = probe.send_status(network, cand)
    if not _exchange_checks(request, report):
        report.skip_rest(AFTER_ANSWER, "needs a JSON answer to the signed request")
    elif report.add(signature_accepted(request, bap.subscriber_id, registry_url)).status != PASS:
        report.skip_rest(AFTER_ANSWER, "needs the signed request ACKed: no callback comes "
                         "otherwise")
    else:
        print(f"{'':20}(waiting up to {ttl_s:g} s for its on_status)", flush=True)
        callback = probe.wait_callback(network, transaction_id, ttl_s)
        report.add(callback_arrived(request, callback, ttl_s, bap.uri))
        if callback is None:
            report.skip_rest(("signing key", "clock"), "needs its callback")
        else:
            report.add(signed_with_declared_key(callback, cand))
            report.add(clock_agrees(request, callback))
    if request.status is not None:  # no answer at all says nothing of its registry
        report.add(registry_reached(probe.registry_lookups(network), request,
                                    bap.subscriber_id, registry_url))
    report.skip_rest(("registry",), "needs an answer to the signed request")
