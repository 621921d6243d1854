"""The command line's shared options, and those of `ubc-cert run` and `audit` (harness/cli.py
builds the parser): apart, so that neither module grows past what one can read."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from harness.addresses import HOST
from harness.state import default_state_dir


def positive_seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def outbound_host(text: str) -> str:
    """An argparse type: a host name, an IP address, a CIDR network or '*'."""
    from harness.network import check_outbound_host

    try:
        check_outbound_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (up to `high`, when given)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: give a number from {low} to {high}")
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r}: give at least {low}")
        return value
    return parse


at_least_one = whole_number(1)


def scale_options(parser: argparse.ArgumentParser) -> None:
    """Where `ubc-cert audit` judges its partitions (harness/audit/scale.py)."""
    parser.add_argument("--workers", type=at_least_one, metavar="N",
                        help="processes judging partitions (default: every core)")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="judge on the Dask cluster of this scheduler (tcp://host:8786; "
                        "needs ubc-conformance[scale]); PATHs must be readable by its workers")
    parser.add_argument("--scratch", metavar="DIR_OR_URL",
                        help="where lines wait between the passes, about the input's size "
                        "(default: a temporary folder under $TMPDIR); on a cluster of several "
                        "machines, storage every worker reaches (s3://bucket/tmp)")


def safeguard_options(parser: argparse.ArgumentParser) -> None:
    """What the mock network refuses to accept and where it refuses to send (serve, run)."""
    parser.add_argument("--max-signature-validity", type=positive_seconds, default=None,
                        metavar="SECONDS",
                        help="refuse (401) requests whose signature is valid longer than this "
                        "(default: 3605, one hour per UBC-SIG-015 plus the 5 s clock skew)")
    parser.add_argument("--allow-outbound", action="append", default=[], type=outbound_host,
                        metavar="HOST",
                        help="a host the harness may send to besides loopback, its own "
                        "addresses and the candidate's host: a name, an IP address, a CIDR "
                        "network or '*' for any (repeatable)")


def safeguard_config(args: argparse.Namespace) -> dict[str, Any]:
    """The NetworkConfig fields of `safeguard_options`, as given."""
    fields: dict[str, Any] = {"allow_outbound": tuple(args.allow_outbound)}
    if args.max_signature_validity is not None:
        fields["max_signature_validity_s"] = args.max_signature_validity
    return fields


def identity_options(parser: argparse.ArgumentParser, state_help: str) -> None:
    parser.add_argument("--state-dir", metavar="DIR",
                        help=f"{state_help} (default: {default_state_dir()})".replace("%", "%%"))
    parser.add_argument("--fresh-keys", action="store_true",
                        help="replace the harness's keys by new ones under new key ids")
    parser.add_argument("--emit-config", metavar="FILE",
                        help="write the harness's identity (registry, CDS, subscriber ids, key "
                        "ids, public keys, URIs) to FILE: .json, .toml or .env")


def placement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=HOST,
                        help="address every party binds (default 127.0.0.1; 0.0.0.0: every "
                        "address, with --public-url)")
    parser.add_argument("--public-url", metavar="URL",
                        help="the base URL the candidate must use to reach the harness: "
                        "http://HOST (each party on its own port), or a template with {port} "
                        "and {party} (default: http://<--host>:<port>)")


RUN_EPILOG = """\
what you see: the plan (the candidate, the scenarios, where the harness's parties listen), one
line per scenario as it ends (✓ passed, ✗ failed with its rules, – not evaluated) and, on a
terminal, what is being waited for; then the verdict, the findings by rule with their clause
and first evidence, the root findings to fix first, and where the reports are. No colours nor
redraws when stdout is not a terminal (FORCE_COLOR=1 forces colours, NO_COLOR=1 drops them).

examples:
  ubc-cert run --role bpp --candidate cand.toml
  ubc-cert run --role bpp --candidate cand.toml --port-base 7400 --show-identity
  ubc-cert run --role bpp --candidate cand.toml --tags "walk_in or security"
  ubc-cert run --role bpp --candidate cand.toml --quiet        # one line: the verdict
  ubc-cert run --role bpp --candidate cand.toml --format json > report.json
  ubc-cert run --role bap --candidate bap.toml -v              # with pytest's own output
  ubc-cert run --role bpp --list-scenarios --tags security     # nothing is started
  ubc-cert run --role bap --list-tags

exit codes: 0 certified, 1 not certified (or a partial run that failed), 2 could not run,
3 a partial run that passed, 124 --max-time, 130 SIGINT, 143 SIGTERM (see README)."""


def output_options(parser: argparse.ArgumentParser) -> None:
    """What `ubc-cert run` prints, and what it lists instead of running."""
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true",
                          help="print the verdict line only")
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="also print the harness's identity and pytest's own output "
                          "(tracebacks included)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: report.json on stdout and nothing else; the text goes to "
                        "stderr (default: text)")
    parser.add_argument("--show-identity", action="store_true",
                        help="print the harness's identity as TOML to paste (-v does too; "
                        "--emit-config FILE writes it)")
    parser.add_argument("--list-scenarios", action="store_true",
                        help="list feature, scenario and tags of the role (as --tags selects "
                        "them), start nothing, exit")
    parser.add_argument("--list-tags", action="store_true",
                        help="list the role's tags with their scenario counts, start nothing, "
                        "exit")


def run_options(parser: argparse.ArgumentParser) -> None:
    """Every option of `ubc-cert run`."""
    parser.add_argument("--role", choices=("bpp", "bap"), required=True)
    parser.add_argument("--candidate", metavar="FILE",
                         help="candidate TOML (required but to list scenarios or tags)")
    parser.add_argument("--report-dir", default="reports", metavar="DIR",
                         help="write DIR/<run-id>/ (default: reports)")
    parser.add_argument("--tags", metavar="EXPR",
                         help="only scenarios whose tags match, e.g. 'walk_in or security'")
    parser.add_argument("--port-base", type=int, default=None,
                         help="mock network ports from here (default: free ports)")
    parser.add_argument("--ttl", default="PT30S",
                         help="ttl the harness puts in its requests and holds the candidate to")
    parser.add_argument("--ack-bound", type=float, default=5.0, metavar="SECONDS",
                         help="bound on the synchronous ACK (default: 5)")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                         help="how long to wait for the candidate to be reachable")
    identity_options(parser, "keep the harness's keys here across runs, so a candidate "
                      "that caches registry lookups meets the same keys")
    placement_options(parser)
    safeguard_options(parser)
    parser.add_argument("--wait-catalog", type=float, default=None, metavar="SECONDS",
                         help="a BPP that publishes its catalog: wait up to SECONDS for its "
                         "catalog_publish at the CDS before discovery (default: fan-out)")
    parser.add_argument("--catalog", default=None, metavar="FILE",
                         help="publish this catalog JSON to the CDS on the candidate's behalf "
                         "(unsigned; see README)")
    parser.add_argument("--interactive", action="store_true",
                         help="a BAP without client_api_url: you work the app by hand, "
                         "prompted here step by step (see README)")
    parser.add_argument("--operator-timeout", type=positive_seconds, default=None,
                         metavar="SECONDS", help="with --interactive: how long each answer of "
                         "yours is awaited (default: 300)")
    parser.add_argument("-x", "--exitfirst", action="store_true",
                        help="stop at the first failed scenario (the rest not run; never a "
                        "certification)")
    parser.add_argument("--max-time", type=positive_seconds, default=None, metavar="SECONDS",
                        help="stop the run after SECONDS, keeping the report of what ran "
                        "(verdict interrupted, exit 124)")
    parser.add_argument("--operator-key", metavar="FILE",
                         help="sign the run's certificate or result with this key file (ubc-cert"
                         " keys new --out FILE; default: the operator key in the state folder)")
    parser.add_argument("--waivers", metavar="FILE",
                         help="TOML of accepted findings: rule, subscriber_id, reason, "
                         "approved_by, expires (see README)")
    output_options(parser)


def doctor_options(parser: argparse.ArgumentParser) -> None:
    """`ubc-cert doctor`'s options."""
    parser.add_argument("--candidate", required=True, metavar="FILE", help="candidate TOML")
    parser.add_argument("--registry-url", metavar="URL",
                        help="the registry URL the candidate is configured with; the doctor "
                        "serves its registry there (http://127.0.0.1:PORT)")
    parser.add_argument("--port-base", type=int, default=None,
                        help="ports as `ubc-cert run --port-base N`: registry N, BAP N+3 "
                        "(default: free ports)")
    parser.add_argument("--state-dir", default=None, metavar="DIR",
                        help="the harness keys of `ubc-cert run --state-dir DIR`")
    parser.add_argument("--ttl", default="PT30S",
                        help="ttl of the test request: how long its callback may take")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="bound on the TCP connection and on the synchronous answer")


def reference_options(parser: argparse.ArgumentParser) -> None:
    """`ubc-cert reference`'s options."""
    parser.add_argument("role", choices=("bpp", "bap"), nargs="?")
    parser.add_argument("--port", type=int, help="port to listen on")
    parser.add_argument("--host", default=HOST,
                        help="address to bind (default 127.0.0.1; 0.0.0.0: every address)")
    parser.add_argument("--public-url", metavar="URL",
                        help="the base URL others must use to reach it "
                        "(default http://HOST:PORT)")
    parser.add_argument("--registry-cache", type=float, default=1.0, metavar="SECONDS",
                        help="how long registry lookups are cached (default: 1)")
    parser.add_argument("--registry-url", help="the registry to look keys up in")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME",
                        help="misbehave on purpose (repeatable); see --list-faults")
    parser.add_argument("--list-faults", action="store_true",
                        help="print name, rule id and description of every fault, then exit")
    parser.add_argument("--write-candidate", metavar="FILE",
                        help="write this participant's candidate file")
    parser.add_argument("--key", metavar="FILE", help="key file to sign with (default: a new key)")
    parser.add_argument("--subscriber-id", help="subscriber id (default: reference-<role>.ubc)")
    parser.add_argument("--cds-url", help="the CDS's Beckn URI, for catalog publishing")
    parser.add_argument("--ttl", default="PT30S", help="ttl of the requests it sends")
    parser.add_argument("--allow-outbound", action="append", default=[], type=outbound_host,
                        metavar="HOST",
                        help="a host the BPP's charger may send webhooks to besides loopback, "
                        "its own address, the registry's and the CDS's: a name, an IP address, "
                        "a CIDR network or '*' for any (repeatable)")
