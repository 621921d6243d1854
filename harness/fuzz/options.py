"""The options of `ubc-cert fuzz` (harness/cli.py builds the parser): argparse only, so that
building the parser imports nothing of the run."""

from __future__ import annotations

import argparse

from harness.cli_options import (
    at_least_one,
    identity_options,
    placement_options,
    positive_seconds,
    whole_number,
)

DEFAULT_MAX_EXAMPLES = 50

FUZZ_EPILOG = """\
what it does: draws requests from the OpenAPI document of the candidate's Beckn endpoints
(schemas/openapi/beckn-bpp.json or beckn-bap.json, built from the profile's JSON Schemas),
half valid and half breaking the schema, signs each with the harness BAP's key (the BPP's for
a BAP candidate) and sends it. A finding: a schema-invalid request acknowledged (UBC-SCH-011),
a 5xx (UBC-SCH-014), an answer later than --ack-bound (UBC-TIME-001) or none (UBC-TIME-006).
The same --seed draws the same requests; the run prints its seed.

examples:
  ubc-cert fuzz --role bpp --candidate cand.toml
  ubc-cert fuzz --role bpp --candidate cand.toml --max-examples 200 --seed 7
  ubc-cert fuzz --role bpp --candidate cand.toml --actions select,confirm
  ubc-cert fuzz --role bap --candidate bap.toml --port-base 7400
  ubc-cert fuzz --role bpp --candidate cand.toml --format json > fuzz.json

exit codes: 0 nothing found, 1 a finding, 2 could not run (see README)."""


def fuzz_options(parser: argparse.ArgumentParser) -> None:
    """Every option of `ubc-cert fuzz`."""
    parser.add_argument("--role", choices=("bpp", "bap"), required=True)
    parser.add_argument("--candidate", metavar="FILE", required=True, help="candidate TOML")
    parser.add_argument("--max-examples", type=at_least_one, default=DEFAULT_MAX_EXAMPLES,
                        metavar="N", help="generated requests in all, spread over the "
                        f"endpoints, half valid (default: {DEFAULT_MAX_EXAMPLES})")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=None, metavar="N",
                        help="draw with this seed (default: a new one, printed)")
    parser.add_argument("--actions", metavar="LIST",
                        help="only these endpoints, comma-separated, e.g. select,confirm "
                        "(default: every one the role receives)")
    parser.add_argument("--report-dir", default="reports", metavar="DIR",
                        help="write DIR/<run-id>-fuzz/: fuzz.json, transcript.ndjson "
                        "(default: reports)")
    parser.add_argument("--port-base", type=int, default=None,
                        help="mock network ports from here, as `ubc-cert run` (default: free "
                        "ports)")
    parser.add_argument("--ttl", default="PT30S",
                        help="ttl of the valid requests, and how long each signature holds")
    parser.add_argument("--ack-bound", type=positive_seconds, default=5.0, metavar="SECONDS",
                        help="bound on the synchronous answer (default: 5; none after twice "
                        "that)")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for the candidate to be reachable")
    identity_options(parser, "the harness's keys, as `ubc-cert run` keeps them")
    placement_options(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: fuzz.json on stdout and nothing else; the text goes to "
                        "stderr (default: text)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="a line for every request as it is answered")
