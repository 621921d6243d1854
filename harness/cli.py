"""`ubc-cert`: the command line of the UBC conformance harness.

Exit codes are part of the interface (harness/exitcodes.py): 0 success (valid, certified), 1 a
finding or invalid signature, 2 a usage or I/O error (the harness could not do what was asked);
`run` also 3 (a partial run passed), 124 (--max-time), 130 (SIGINT), 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import harness
from harness import exitcodes, rules, schemas
from harness.addresses import AddressError
from harness.beckn import signing
from harness.beckn.keys import write_key_file
from harness.cli_options import (
    RUN_EPILOG,
    doctor_options,
    identity_options,
    placement_options,
    reference_options,
    run_options,
    safeguard_config,
    safeguard_options,
    scale_options,
)
from harness.fuzz.options import FUZZ_EPILOG, fuzz_options
from harness.load.options import add_parser as add_load_parser
from harness.logs import log_to_stderr
from harness.servers import wait_for_stop_signal
from harness.state import default_state_dir

EXIT_OK, EXIT_FAIL, EXIT_USAGE = exitcodes.OK, exitcodes.FAILED, exitcodes.COULD_NOT_RUN


class UsageError(Exception):
    """A one-line error about the harness's own input; printed and exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _Version(argparse.Action):
    """--version, read from the package metadata only when asked for (the lookup costs ms)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"{parser.prog} {harness.version()}")
        parser.exit(EXIT_OK)


def _read_bytes(path: str, what: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None


# -- keys ---------------------------------------------------------------------------------------


def cmd_keys_new(args: argparse.Namespace) -> int:
    key_id = args.key_id or f"{args.subscriber_id}-k1"
    pair = signing.KeyPair.generate(args.subscriber_id, key_id)
    if args.out is None:
        sys.stdout.write(json.dumps(pair.as_dict(), indent=2) + "\n")
        return EXIT_OK
    try:
        write_key_file(pair, args.out)
    except FileExistsError:
        raise UsageError(f"{args.out}: already exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise UsageError(f"{args.out}: cannot create: {exc.strerror or exc}") from None
    print(f"wrote {args.out} (mode 0600): subscriber {pair.subscriber_id}, key {pair.key_id}, "
          f"public key {pair.signing_public_key}", file=sys.stderr)
    return EXIT_OK


def _load_key_file(path: str) -> dict[str, str]:
    raw = _read_bytes(path, "key file")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: key file is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: key file must be a JSON object")
    for name in ("subscriber_id", "key_id", "signing_private_key"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise UsageError(f"{path}: key file has no {name!r}")
    return data


def cmd_sign(args: argparse.Namespace) -> int:
    if args.key:
        data = _load_key_file(args.key)
        subscriber, key_id, private = data["subscriber_id"], data["key_id"], data[
            "signing_private_key"]
    else:
        missing = [f"--{n}" for n, v in (("private-key", args.private_key),
                   ("subscriber-id", args.subscriber_id), ("key-id", args.key_id)) if not v]
        if missing:
            raise UsageError(f"give --key FILE, or all of --private-key, --subscriber-id, "
                             f"--key-id (missing {', '.join(missing)})")
        subscriber, key_id, private = args.subscriber_id, args.key_id, args.private_key
    try:
        signer = signing.Signer(subscriber, key_id, private)
    except signing.InvalidKey as exc:
        raise UsageError(str(exc)) from None
    body = _read_bytes(args.body_file, "body")
    created = args.created if args.created is not None else int(time.time())
    expires = args.expires if args.expires is not None else created + signing.DEFAULT_VALIDITY_S
    if expires < created:
        raise UsageError(f"--expires {expires} is before created {created}")
    print(signer.sign(body, created, expires))
    return EXIT_OK


def cmd_verify_signature(args: argparse.Namespace) -> int:
    try:
        key = signing.load_public_key(args.public_key)
    except signing.InvalidKey as exc:
        raise UsageError(str(exc)) from None
    body = _read_bytes(args.body_file, "body")
    result = signing.verify(body, args.header, key, now=args.now, skew=args.skew,
                            claimed_digest=args.digest)
    print(result)
    if result.valid and args.verbose and result.header is not None:
        print(f"keyId {result.header.key_id}; created {result.header.created}; "
              f"expires {result.header.expires}; digest {signing.digest(body)}")
    elif not result.valid and args.verbose:
        print(f"computed digest of the {len(body)} body bytes: {signing.digest(body)}")
    return EXIT_OK if result.valid else EXIT_FAIL


def cmd_verify_certificate(args: argparse.Namespace) -> int:
    from harness.report import certificate

    try:
        result = certificate.verify(Path(args.run_dir), args.operator_public_key)
    except certificate.Unreadable as exc:
        raise UsageError(str(exc)) from None
    except signing.InvalidKey as exc:
        raise UsageError(f"--operator-public-key: {exc}") from None
    print("\n".join(result.lines()))
    return EXIT_OK if result.valid else EXIT_FAIL


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import allure_html

    if not args.allure:
        raise UsageError("report: say which report to build (--allure)")
    try:
        page = allure_html.build(Path(args.run_dir), Path(args.output) if args.output else None)
    except allure_html.AllureError as exc:
        raise UsageError(str(exc)) from None
    print(f"Allure report: {page} (one file: open it in a browser)")
    return EXIT_OK


# -- validate -----------------------------------------------------------------------------------


def _load_keys(path: str | None) -> dict[str, str] | None:
    """--keys FILE of `validate` and `audit`, if given; a file it cannot use is a usage error."""
    from harness import validation

    try:
        return validation.load_keys(path) if path else None
    except validation.InputError as exc:
        raise UsageError(str(exc)) from None


def cmd_validate(args: argparse.Namespace) -> int:
    from harness import validation

    try:
        schema_set = schemas.load(args.profile)
    except schemas.SchemaSetError as exc:
        raise UsageError(str(exc)) from None
    keys = _load_keys(args.keys)
    validator = validation.Validator(schema_set, keys, now=args.now, skew=args.skew)
    results: list[validation.Result] = []
    input_errors: list[str] = []
    for path in args.paths:
        try:
            for item in validation.iter_items([path]):
                result = validator.check(item)
                results.append(result)
                if args.format == "text":
                    _print_text_result(result, args.verbose)
        except validation.InputError as exc:
            input_errors.append(str(exc))
            print(f"ubc-cert validate: {exc}", file=sys.stderr)
    errors = sum(r.errors for r in results)
    warnings = sum(r.warnings for r in results)
    if args.format == "json":
        json.dump({"messages": len(results), "errors": errors, "warnings": warnings,
                   "results": [r.as_dict() for r in results]}, sys.stdout, ensure_ascii=False,
                  indent=1)
        sys.stdout.write("\n")
    else:
        print(f"{len(results)} message(s): {errors} error(s), {warnings} warning(s)")
    if input_errors:
        return EXIT_USAGE
    return EXIT_FAIL if errors else EXIT_OK


def _print_text_result(result: Any, verbose: bool) -> None:
    if not result.findings:
        if verbose:
            print(f"ok    {result.source} ({result.action})")
        return
    label = "FAIL" if result.errors else "warn"
    print(f"{label}  {result.source} ({result.action or 'no action'}, "
          f"message_id {result.message_id or '-'})")
    for finding in result.findings:
        where = f" at {finding.path}" if finding.path else ""
        print(f"  {finding.severity:7} {finding.rule}{where}: {finding.message} "
              f"[{finding.spec}]")


# -- audit --------------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    from harness.audit import InputError, Options, scale
    from harness.beckn.time import duration_seconds

    try:  # compiled here once: the processes judging partitions are forked with them
        schemas.load(args.profile)
    except schemas.SchemaSetError as exc:
        raise UsageError(str(exc)) from None
    try:
        ttl_s = duration_seconds(args.ttl) if args.ttl is not None else None
    except ValueError as exc:
        raise UsageError(f"--ttl {args.ttl!r}: {exc}") from None
    options = Options(
        participants=frozenset(args.participant or ()),
        keys=_load_keys(args.keys), now=args.now, skew=args.skew, ttl_s=ttl_s,
        ack_bound_s=args.ack_bound)
    form = scale.JSON if args.format == "json" else scale.TEXT_VERBOSE if args.verbose \
        else scale.TEXT
    how = scale.Scale(args.workers or 0, args.scheduler, scratch=args.scratch)
    try:
        totals = scale.run(args.paths, args.profile, options, how, sys.stdout, form)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_FAIL if totals["errors"] else EXIT_OK


# -- rules --------------------------------------------------------------------------------------


def cmd_rules(args: argparse.Namespace) -> int:
    if args.format == "json":
        json.dump([rule.as_dict() for rule in rules.RULES], sys.stdout, indent=1,
                  ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    for rule in rules.RULES:
        print(f"{rule.id:14} {rule.severity:7} {rule.title}  [{rule.spec}]")
    return EXIT_OK


# -- serve and reference ----------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from harness import candidate as candidate_module
    from harness import identity, network
    from harness.party_process import PartyProcessError
    from harness.servers import tune_collector
    from harness.transcript import SERVE

    candidates = []
    for path in args.candidate or []:
        try:
            candidates.append(candidate_module.load(path))
        except candidate_module.CandidateError as exc:
            raise UsageError(str(exc)) from None
    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    try:
        if args.emit_config:
            identity.config_format(args.emit_config)
        # Up for days: the transcript streams to the state folder within SERVE's bounds.
        net = network.MockNetwork(network.NetworkConfig(
            port_base=args.port_base, fresh_keys=args.fresh_keys, host=args.host,
            public_url=args.public_url, report_dir=Path(args.report_dir), state_dir=state_dir,
            transcript_bounds=SERVE, transcript_file=state_dir / "serve-transcript.ndjson",
            bpp_process=not args.bpp_in_process, **safeguard_config(args)))
    except (identity.ConfigFormatError, AddressError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the transcript in {state_dir}: "
                         f"{exc.strerror or exc}") from None
    try:
        net.build()
        for cand in candidates:
            net.register_candidate(cand)
        net.start()
    except signing.InvalidKey as exc:
        net.stop()
        raise UsageError(f"{exc} (--fresh-keys replaces the harness's keys)") from None
    except PartyProcessError as exc:
        raise UsageError(f"{exc} (--bpp-in-process serves it from this process)") from None
    except OSError as exc:
        net.stop()
        where = f"{exc.filename}: " if exc.filename else ""
        raise UsageError(f"cannot start the mock network on {args.host} (port base "
                         f"{args.port_base}): {where}{exc.strerror or exc}") from None
    try:
        if args.emit_config:
            identity.emit(net, args.emit_config)
    except OSError as exc:
        net.stop()
        raise UsageError(f"--emit-config {args.emit_config}: cannot write: "
                         f"{exc.strerror or exc}") from None
    print(f"{'role':18} {'subscriber id':24} {'URL':40} public key")
    for p in net.table():
        print(f"{p.role:18} {p.subscriber_id:24} {p.uri:40} {p.public_key or '-'}")
    print(f"\nregistry: {net.participants['registry'].url}/lookup; parties bound on "
          f"{args.host}; state in {net.state_dir}")
    print(f"transcript: {net.transcript.spool.path} (each exchange as it finishes)")
    if net.bpp_process is not None:
        print(f"reference BPP and charger: a process of their own (pid {net.bpp_process.pid}); "
              f"their exchanges join the transcript as they finish")
    print(f"registry admin API: {net.participants['registry'].url}/admin/subscribers, "
          f"Bearer token {net.admin_token}")
    print(f"live view: {net.live_url} (exchanges as they happen; past runs of "
          f"{args.report_dir})")
    if net.bap is not None:
        print(f"reference BAP client API: {net.participants['bap'].url}/v1, Bearer token "
              f"{net.bap.config.client_api_token}")
    print("\nThe harness's identity, ready to paste:\n")
    print(identity.as_toml(identity.describe(net)))
    tune_collector()  # up for long, under load: see harness/servers.py
    print("Ctrl-C or SIGTERM stops the network.", flush=True)
    try:
        wait_for_stop_signal()
    finally:
        net.stop()
        print("mock network stopped.", flush=True)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from harness import run

    return run.run(args)


def cmd_fuzz(args: argparse.Namespace) -> int:
    from harness.fuzz import command

    return command.run(args)


def cmd_doctor(args: argparse.Namespace) -> int:
    from harness.doctor import command

    return command.run(args)


def cmd_reference(args: argparse.Namespace) -> int:
    from harness import reference

    return reference.run(args)


# -- demo ---------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from harness import demo

    return demo.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ubc-cert", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the harness's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    new = keys_sub.add_parser("new", help="generate an ed25519 signing key pair")
    new.add_argument("--subscriber-id", required=True)
    new.add_argument("--key-id", help="unique key id (default: <subscriber-id>-k1)")
    new.add_argument("--out", help="write to this file (mode 0600) instead of stdout")
    new.set_defaults(func=cmd_keys_new)

    sign = sub.add_parser("sign", help="print the Authorization header for a body file")
    sign.add_argument("--key", help="key file written by 'ubc-cert keys new'")
    sign.add_argument("--private-key",
                      help="base64 private key: 32-byte seed or 64-byte seed+public")
    sign.add_argument("--subscriber-id")
    sign.add_argument("--key-id")
    sign.add_argument("--created", type=int, help="unix seconds (default: now)")
    sign.add_argument("--expires", type=int, help="unix seconds (default: created + 300)")
    sign.add_argument("body_file", metavar="BODY_FILE", help="exact bytes to sign ('-' = stdin)")
    sign.set_defaults(func=cmd_sign)

    verify = sub.add_parser("verify-signature", help="verify an Authorization header over a body")
    verify.add_argument("--public-key", required=True, help="base64 ed25519 public key")
    verify.add_argument("--header", required=True, help="the Authorization header value")
    verify.add_argument("--now", type=float, help="unix seconds to verify at (default: now)")
    verify.add_argument("--skew", type=float, default=signing.DEFAULT_SKEW_S,
                        help="allowed clock skew in seconds (default: 5)")
    verify.add_argument("--digest", help="a Digest header the sender sent, to compare too")
    verify.add_argument("-v", "--verbose", action="store_true",
                        help="also print the parsed header and the computed digest")
    verify.add_argument("body_file", metavar="BODY_FILE", help="exact bytes received ('-' = stdin)")
    verify.set_defaults(func=cmd_verify_signature)

    verify_cert = sub.add_parser(
        "verify-certificate", help="check a run's signed certificate (or result) offline",
        description="Check RUN_DIR's certificate.json (or result.json): canonical, signed by "
        "the operator key it names (or the expected one), and report.json and "
        "transcript.ndjson unchanged. Exit 0 valid, 1 invalid (each mismatch is named), 2 "
        "nothing to check.")
    verify_cert.add_argument("run_dir", metavar="RUN_DIR", help="a run's report folder")
    verify_cert.add_argument("--operator-public-key", metavar="B64",
                             help="the operator key it must be signed with (base64 ed25519 "
                             "public key; default: the key the certificate names)")
    verify_cert.set_defaults(func=cmd_verify_certificate)

    report_cmd = sub.add_parser(
        "report", help="build a report from a run's folder (--allure: Allure 3's HTML)",
        description="--allure: RUN_DIR's allure-results as Allure 3's single-file HTML, "
        "written beside RUN_DIR (not in it: a sealed folder stays as signed). Allure 3 is "
        "installed with npm on first use into $UBC_CERT_ALLURE_CACHE, else the harness's cache.")
    report_cmd.add_argument("run_dir", metavar="RUN_DIR", help="a run's report folder")
    report_cmd.add_argument("--allure", action="store_true", help="Allure 3's HTML report")
    report_cmd.add_argument("--output", metavar="FILE",
                            help="where to write it (default: RUN_DIR-allure.html)")
    report_cmd.set_defaults(func=cmd_report)

    validate = sub.add_parser("validate", help="validate messages, folders or NDJSON captures")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.add_argument("--profile", default="ubc-2.0.0-rc")
    validate.add_argument("--keys", help='JSON map "subscriber_id|key_id": "public key"; '
                          "verifies the signatures of NDJSON capture records")
    validate.add_argument("--now", type=float,
                          help="unix seconds the messages are judged at: signature expiry, "
                          "timestamps and paidAt in the future (default: now; set it for old "
                          "captures)")
    validate.add_argument("--skew", type=float, default=signing.DEFAULT_SKEW_S)
    validate.add_argument("-v", "--verbose", action="store_true", help="list valid messages too")
    validate.set_defaults(func=cmd_validate)

    audit_cmd = sub.add_parser(
        "audit", help="judge whole transactions: a run's transcript or captured traffic",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Judge every message of the audited participants as 'validate' does, then\n"
        "each transaction as 'run' does: a callback per request, in time, ids echoed, no\n"
        "duplicates; order, session and payment transitions; a stable order id; item and\n"
        "price from on_select on. Findings are grouped by transaction.",
        epilog="PATH is a run's report folder or its transcript.ndjson (the candidate's\n"
        "messages are judged, the harness's own traffic is context; of a BAP run, the app's\n"
        "requests and its answers to the harness's callbacks, its /v1 calls counted, not\n"
        'judged), an NDJSON capture (per line a bare message or {"headers": {...}, "body":\n'
        '"<raw JSON>", "received_at": <unix seconds or RFC 3339>}; every message is judged),\n'
        "a .json file, or a folder of them; local, or a URL (fsspec: memory://, s3://, ...).\n"
        "Without arrival times, timing is reported not evaluated, never passed. Any size is\n"
        "streamed, judged on every core or a Dask cluster: the report is the same.\n\n"
        "examples:\n"
        "  ubc-cert audit reports/20250101T120000Z-ab12cd/\n"
        "  ubc-cert audit --participant cpo.example.com --keys keys.json --ttl PT30S \\\n"
        "      prod-2025-01-01.ndjson\n"
        "  ubc-cert audit --scheduler tcp://10.0.0.5:8786 s3://captures/2025-01-01/")
    audit_cmd.add_argument("paths", nargs="+", metavar="PATH")
    audit_cmd.add_argument("--format", choices=("text", "json"), default="text")
    audit_cmd.add_argument("--participant", action="append", metavar="SUBSCRIBER_ID",
                           help="judge only what this subscriber sent and what it owed "
                           "(repeatable; default: see PATH below)")
    audit_cmd.add_argument("--profile", default="ubc-2.0.0-rc")
    audit_cmd.add_argument("--keys", metavar="FILE",
                           help='JSON map "subscriber_id|key_id": "public key" (default for a '
                           "run's transcript: the candidate's key in its report.json)")
    audit_cmd.add_argument("--now", type=float, metavar="UNIX_S",
                           help="unix seconds the messages are judged at: signature expiry, "
                           "timestamps in the future (default: each message's arrival time, "
                           "else now)")
    audit_cmd.add_argument("--skew", type=float, default=signing.DEFAULT_SKEW_S)
    audit_cmd.add_argument("--ttl", metavar="DURATION", help="hold every callback to this ISO "
                           "8601 ttl (default: its request's own context.ttl, PT30S without)")
    audit_cmd.add_argument("--ack-bound", type=float, metavar="SECONDS",
                           help="bound on synchronous answers (default: the run's, from its "
                           "report.json, else 5)")
    audit_cmd.add_argument("-v", "--verbose", action="store_true",
                           help="list clean transactions and messages too")
    scale_options(audit_cmd)
    audit_cmd.set_defaults(func=cmd_audit)

    rules_cmd = sub.add_parser("rules", help="list the rule catalogue")
    rules_cmd.add_argument("--format", choices=("text", "json"), default="text")
    rules_cmd.set_defaults(func=cmd_rules)

    serve = sub.add_parser("serve", help="run the mock network until stopped")
    serve.add_argument("--port-base", type=int, default=7400,
                       help="registry on this port, then CDS +1, BPP +2, BAP +3, charger +4")
    serve.add_argument("--candidate", action="append", metavar="FILE",
                       help="register this candidate file (repeatable)")
    identity_options(serve, "keep the harness's keys and the registry database here")
    serve.add_argument("--report-dir", default="reports", metavar="DIR",
                       help="the live view (/ui) lists the runs in this folder "
                            "(default: reports)")
    serve.add_argument("--bpp-in-process", action="store_true",
                       help="serve the reference BPP and the charger from this process rather "
                            "than a process of their own (slower under load, one process to "
                            "debug)")
    placement_options(serve)
    safeguard_options(serve)
    serve.set_defaults(func=cmd_serve)

    run_cmd = sub.add_parser("run", help="certify a candidate against the UBC user stories",
                             formatter_class=argparse.RawDescriptionHelpFormatter,
                             epilog=RUN_EPILOG)
    run_options(run_cmd)
    run_cmd.set_defaults(func=cmd_run)

    fuzz = sub.add_parser("fuzz", help="feed a candidate's Beckn endpoints generated "
                          "requests, valid and schema-invalid, each signed",
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog=FUZZ_EPILOG)
    fuzz_options(fuzz)
    fuzz.set_defaults(func=cmd_fuzz)

    add_load_parser(sub)

    doctor = sub.add_parser("doctor", help="check the obvious about a candidate before a run")
    doctor_options(doctor)
    doctor.set_defaults(func=cmd_doctor)

    ref = sub.add_parser("reference", help="run one reference participant standalone")
    reference_options(ref)
    ref.set_defaults(func=cmd_reference)

    demo = sub.add_parser("demo", help="run the end-to-end demonstration")
    demo.add_argument("--report-dir", default="reports")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_to_stderr()
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"ubc-cert {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return exitcodes.SIGINT
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exitcodes.BROKEN_PIPE
    except Exception as exc:  # a harness bug: exit 2, never disguised as a verdict
        if os.environ.get("UBC_CERT_DEBUG"):
            raise
        print(f"ubc-cert {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(set UBC_CERT_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
