"""Throughput of `ubc-cert validate` against the raw limit of the same machine, in one run.

The corpus is the 44 official UBC examples repeated to N messages, each a signed capture record
(`{"headers": {"Authorization": ...}, "body": "<raw JSON>"}`) in one NDJSON file, signed as
BECKN-006 asks (valid for the message's ttl) and judged at the time of capture, as
`validate --now` judges a log. The raw limit is the unavoidable work per message: json.loads of
the body, its BLAKE2b-512 digest and one ed25519 verification. `validate` does that plus header
parsing, envelope, context and message schema validation, the profile's warnings, every
single-message semantic rule (amounts, readings, times, states), the keyId-sender check and
building the JSON report.

    python bench/validate_bench.py [--messages 20000] [--cli] [--json FILE]

Prints messages per second for both, and their ratio (goal: >= 50 %); `--json FILE` writes
the same numbers there (bench/all.py reads them).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nacl.signing import VerifyKey

from harness import schemas, validation
from harness.beckn import signing
from harness.beckn.time import duration_or

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "fixtures" / "ubc-examples"


CAPTURED_AT = int(time.time())  # when the corpus is taken to have been captured


def build_corpus(count: int, folder: Path) -> tuple[Path, Path, list[tuple[bytes, str]]]:
    """Write N signed capture records and the keys file; return them and the raw pairs."""
    examples = sorted(EXAMPLES.rglob("*.json"))
    signers: dict[str, signing.Signer] = {}
    keys: dict[str, str] = {}
    now = CAPTURED_AT
    pairs: list[tuple[bytes, str]] = []
    capture = folder / "capture.ndjson"
    with capture.open("w", encoding="utf-8") as out:
        for i in range(count):
            body = examples[i % len(examples)].read_bytes()
            context = json.loads(body)["context"]
            sender = context.get("bpp_id") if context["action"].startswith("on_") or \
                context["action"] == "catalog_publish" else context.get("bap_id")
            if sender not in signers:
                pair = signing.KeyPair.generate(sender, "bench-k1")
                signers[sender] = signing.Signer.from_keypair(pair)
                keys[f"{sender}|bench-k1"] = pair.signing_public_key
            # Signed as BECKN-006 asks (valid for the message's ttl) and judged at the time of
            # capture (`validate --now`), as an operator judges a log.
            window = int(duration_or(context.get("ttl"), 30.0))
            header = signers[sender].sign(body, now - 1, now - 1 + window)
            pairs.append((body, header))
            out.write(json.dumps({"headers": {"Authorization": header},
                                  "body": body.decode("utf-8")}) + "\n")
    keys_file = folder / "keys.json"
    keys_file.write_text(json.dumps(keys))
    return capture, keys_file, pairs


def raw_limit(pairs: list[tuple[bytes, str]], keys: dict[str, str]) -> float:
    """json.loads + BLAKE2b-512 + ed25519 verify per message; messages per second."""
    verify_keys = {name: VerifyKey(base64.b64decode(k)) for name, k in keys.items()}
    prepared = []
    for body, header in pairs:
        parsed = signing.parse_header(header)
        prepared.append((body, parsed.created, parsed.expires,
                         base64.b64decode(parsed.signature),
                         verify_keys[f"{parsed.subscriber_id}|{parsed.unique_key_id}"]))
    start = time.perf_counter()
    for body, created, expires, signature, key in prepared:
        json.loads(body)
        digest = "BLAKE-512=" + base64.b64encode(
            hashlib.blake2b(body, digest_size=64).digest()).decode()
        key.verify(f"(created): {created}\n(expires): {expires}\ndigest: {digest}".encode(),
                   signature)
    return len(prepared) / (time.perf_counter() - start)


def validate_rate(capture: Path, keys_file: Path) -> tuple[float, int, int]:
    """The validate pipeline as the CLI runs it, report serialised; messages per second."""
    schema_set = schemas.load()  # compiled once per process, as in the CLI; not timed
    start = time.perf_counter()
    validator = validation.Validator(schema_set, validation.load_keys(str(keys_file)),
                                     now=CAPTURED_AT)
    results = [validator.check(item) for item in validation.iter_items([str(capture)])]
    report = json.dumps({"messages": len(results),
                         "errors": sum(r.errors for r in results),
                         "results": [r.as_dict() for r in results]})
    elapsed = time.perf_counter() - start
    assert report
    return len(results) / elapsed, sum(r.errors for r in results), len(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds for each side")
    parser.add_argument("--cli", action="store_true",
                        help="also time the ubc-cert validate command end to end")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the headline numbers to FILE as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        capture, keys_file, pairs = build_corpus(args.messages, Path(tmp))
        keys = json.loads(keys_file.read_text())
        # Interleaved rounds, best of each: both sides see the same machine, noise and all.
        raws, runs = [], []
        for _ in range(args.rounds):
            raws.append(raw_limit(pairs, keys))
            runs.append(validate_rate(capture, keys_file))
        raw = max(raws)
        rate = max(r[0] for r in runs)
        errors, count = runs[0][1], runs[0][2]
        print(f"corpus: {count} signed messages ({len(set(p[0] for p in pairs))} distinct "
              f"official examples), {capture.stat().st_size / 1e6:.1f} MB NDJSON")
        print(f"raw limit (json.loads + BLAKE2b-512 + ed25519 verify): {raw:10,.0f} msg/s")
        print(f"ubc-cert validate pipeline (in process, best of {args.rounds}, interleaved):"
              f" {rate:10,.0f} msg/s")
        print(f"ratio: {rate / raw:.0%} of the raw limit (goal >= 50 %); "
              f"error findings in the corpus: {errors}")
        result = {"messages": count, "rounds": args.rounds, "raw_msg_s": raw,
                  "validate_msg_s": rate, "ratio": rate / raw, "goal_ratio": 0.5,
                  "error_findings": errors}
        if args.cli:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "harness.cli", "validate", "--format", "json",
                 "--keys", str(keys_file), "--now", str(CAPTURED_AT), str(capture)],
                stdout=subprocess.DEVNULL, check=False)
            elapsed = time.perf_counter() - start
            print(f"ubc-cert validate command end to end (with start-up and JSON output): "
                  f"{count / elapsed:,.0f} msg/s, exit {done.returncode}")
            result["cli_msg_s"] = count / elapsed
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
