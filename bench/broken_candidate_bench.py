"""How long an honest "not certified" takes for a BPP that ACKs everything and never calls back.

Such a candidate used to cost every scenario a full ttl of waiting for the same missing
callback (6.5 minutes at the default PT30S). Now the first scenario that meets the failure
reports it, and every later scenario that needs the same step is blocked by it.

    python bench/broken_candidate_bench.py [--ttl PT30S] [--tags EXPR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.servers import ServerGroup

GOAL_S = 120.0


async def acknowledge(request: Request) -> Response:
    await request.body()
    return Response(json.dumps(envelope.ack()).encode(), media_type="application/json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttl", default="PT30S")
    parser.add_argument("--tags", default=None)
    args = parser.parse_args()
    keys = signing.KeyPair.generate("acks-only-bpp.example", "k1")
    group = ServerGroup()
    served = group.add("bpp", Starlette(routes=[Route("/beckn/{action}", acknowledge,
                                                      methods=["POST"])]))
    group.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            candidate = Path(tmp) / "cand.toml"
            candidate.write_text(Candidate("bpp", keys.subscriber_id, keys.key_id,
                                           keys.signing_public_key,
                                           f"{served.url}/beckn").to_toml())
            command = [sys.executable, "-m", "harness.cli", "run", "--role", "bpp",
                       "--candidate", str(candidate), "--report-dir", tmp, "--ttl", args.ttl]
            if args.tags:
                command += ["--tags", args.tags]
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            wall = time.monotonic() - started
            report = json.loads(next(Path(tmp).glob("*/report.json")).read_text())
    finally:
        group.stop()
    summary = report["summary"]
    print(f"ACK-only BPP, ttl {args.ttl}: verdict {report['verdict']!r} (exit {done.returncode})"
          f" in {wall:.1f} s; {summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['not_evaluated']} not evaluated; root errors {summary['errors']} of "
          f"{summary['findings_seen']} findings seen ({', '.join(summary['rules'])})")
    print(f"goal: a complete report within {GOAL_S:.0f} s: "
          f"{'met' if wall <= GOAL_S else 'NOT met'}")
    return 0 if wall <= GOAL_S and done.returncode == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
