"""`ubc-cert audit` at scale: messages per second per core against the raw limit, and peak
memory as the capture grows.

The capture is the official walk-in flow (TSD §11.1, the 19 examples of one transaction, mended
as tests/test_audit.py mends them) repeated with fresh transaction and message ids, each message
a signed capture record with its arrival time, in one NDJSON file. The raw limit is the
unavoidable work per message, as bench/validate_bench.py measures it: json.loads of the body,
its BLAKE2b-512 digest and one ed25519 verification, on one core. The audit does that plus
everything `validate` does per message and the flow checks across each transaction, spills and
merges.

    python bench/audit_scale_bench.py [--transactions 200,800,3200] [--workers 1,2] [--json FILE]

Each audit is the command end to end (`python -m harness.cli audit --format json`), its report
thrown away; peak memory is that of the command and its workers together (sampled with psutil,
part of the `scale` extra). `--json FILE` writes the table's rows there (bench/all.py reads
them).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.beckn import signing
from harness.beckn.time import duration_or

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' fixtures, as a checkout has them

from tests.test_audit import EXAMPLES, WALK_IN  # noqa: E402  (the flow the tests audit)

START = 1_800_000_000.0  # arrival of the first message (2027: after every example's dates)
STEP_S = 0.05  # between two messages of a transaction
KEY_ID = "bench-k1"


def walk_in() -> list[dict[str, Any]]:
    """The walk-in flow with the examples' two defects mended (see tests/test_audit.py)."""
    docs = [json.loads((EXAMPLES / name).read_text(encoding="utf-8")) for name in WALK_IN]
    for doc in docs:
        doc["context"]["bap_uri"] = docs[1]["context"]["bap_uri"]
    docs[13]["context"]["message_id"] = docs[14]["context"]["message_id"]
    return docs


def build_capture(transactions: int, folder: Path, seed: int = 7) -> tuple[Path, Path, int]:
    """Write `transactions` walk-ins as signed, timed capture records, and the keys file."""
    rng = random.Random(seed)
    docs = walk_in()
    signers: dict[str, signing.Signer] = {}
    keys: dict[str, str] = {}
    capture = folder / f"walk-in-{transactions}.ndjson"
    count = 0
    with capture.open("w", encoding="utf-8") as out:
        for n in range(transactions):
            transaction = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            fresh: dict[str, str] = {}
            for i, template in enumerate(docs):
                doc = copy.deepcopy(template)
                context = doc["context"]
                context["transaction_id"] = transaction
                context["message_id"] = fresh.setdefault(
                    context["message_id"], str(uuid.UUID(int=rng.getrandbits(128), version=4)))
                arrival = START + n * STEP_S * len(docs) + i * STEP_S
                context["timestamp"] = datetime.fromtimestamp(arrival, UTC).isoformat(
                    timespec="milliseconds").replace("+00:00", "Z")
                sender = context["bpp_id"] if context["action"].startswith("on_") \
                    else context["bap_id"]
                if sender not in signers:
                    pair = signing.KeyPair.generate(sender, KEY_ID)
                    signers[sender] = signing.Signer.from_keypair(pair)
                    keys[f"{sender}|{KEY_ID}"] = pair.signing_public_key
                body = json.dumps(doc, separators=(",", ":"))
                created = int(arrival) - 1
                header = signers[sender].sign(
                    body.encode(), created, created + int(duration_or(context.get("ttl"), 30.0)))
                out.write(json.dumps({"headers": {"Authorization": header}, "body": body,
                                      "received_at": arrival}) + "\n")
                count += 1
    keys_file = folder / "keys.json"
    keys_file.write_text(json.dumps(keys), encoding="utf-8")
    return capture, keys_file, count


def raw_limit(capture: Path, keys_file: Path, sample: int = 20_000) -> float:
    """json.loads + BLAKE2b-512 + ed25519 verify of the capture's first messages; msg/s."""
    sys.path.insert(0, str(Path(__file__).parent))
    from validate_bench import raw_limit as measure
    pairs = []
    with capture.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            pairs.append((record["body"].encode(), record["headers"]["Authorization"]))
            if len(pairs) == sample:
                break
    return float(measure(pairs, json.loads(keys_file.read_text(encoding="utf-8"))))


def audit(capture: Path, keys_file: Path, workers: int) -> tuple[float, float, int]:
    """Wall seconds, peak MB of the command and its workers together, exit code."""
    try:
        import psutil
    except ImportError:
        psutil = None
    command = [sys.executable, "-m", "harness.cli", "audit", "--format", "json", "--keys",
               str(keys_file), "--workers", str(workers), str(capture)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        if psutil is not None:
            try:
                root = psutil.Process(process.pid)
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    return elapsed, peak / 1e6, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", default="200,800,3200",
                        help="sizes of the capture, in walk-in transactions (19 messages each)")
    parser.add_argument("--workers", default="1,2", help="worker counts to run each size with")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the rows to FILE as JSON")
    args = parser.parse_args()
    sizes = [int(n) for n in args.transactions.split(",")]
    workers = [int(n) for n in args.workers.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"{'transactions':>12} {'messages':>9} {'MB':>7} {'workers':>7} {'wall s':>7} "
              f"{'msg/s':>7} {'msg/s/core':>10} {'limit':>7} {'of limit':>8} {'peak MB':>8} "
              "exit")
        for size in sizes:
            capture, keys_file, count = build_capture(size, folder)
            for n in workers:
                # the limit measured right before, on the same messages: the same machine
                # load for both, on a machine others share
                limit = raw_limit(capture, keys_file)
                elapsed, peak, code = audit(capture, keys_file, n)
                rate = count / elapsed
                print(f"{size:>12} {count:>9} {capture.stat().st_size / 1e6:>7.1f} {n:>7} "
                      f"{elapsed:>7.1f} {rate:>7,.0f} {rate / n:>10,.0f} {limit:>7,.0f} "
                      f"{rate / n / limit:>8.1%} {peak:>8.0f} {code}", flush=True)
                rows.append({"transactions": size, "messages": count, "workers": n,
                             "wall_s": elapsed, "msg_s": rate, "msg_s_core": rate / n,
                             "limit_msg_s": limit, "of_limit": rate / n / limit,
                             "peak_mb": peak if peak else None, "exit": code})
            capture.unlink()
        print("limit: json.loads + BLAKE2b-512 + ed25519 verify of the same messages, one core, "
              "msg/s; peak: the command and its workers together")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
