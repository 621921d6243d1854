"""Does a long `ubc-cert serve` hold its memory flat? Signed select -> on_select exchanges at a
steady concurrency for ten minutes, the served process's RSS sampled throughout (issue 12,
item 2: RSS within +-20 MB, no callback lost).

`ubc-cert serve` runs as a process of its own (a temporary state and report folder, free
ports), so the RSS read (/proc/PID/status VmRSS, summed over serve and the processes it
started: the reference BPP's, harness/party_process.py) is the network's alone. This process is the
driver: through the reference BAP's `/v1` client API it asks for an estimate in a new
transaction each time, which has the harness BAP send a signed select to the reference BPP and
wait for the BPP's signed on_select at its inbox (mocks/bap/service.py). An estimate answered
200 is a completed exchange; a 504 is a select the BPP ACKed whose on_select did not come
within the ttl (a lost callback), as is an estimate still unanswered at ttl + grace; any other
answer is a non-2xx.

    python bench/soak.py [--duration 600] [--concurrency 16] [--sample 5]

Printed: a row per sample (elapsed, exchanges done, RSS MB); then lost callbacks, non-2xx, the
RSS of the last minute against the first (median of each minute's samples) and PASS/FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from mock_bench import ROOT, percentile, wait_port  # bench/, beside this file

from harness.selftest import free_port_base
from harness.tls import KEEPALIVE_S

TTL_S = 30.0  # serve's default ttl (PT30S): how long the BAP waits for an on_select
GRACE_S = 10.0
FLAT_MB = 20.0
CAR = {"make": "Tata", "model": "Nexon EV", "type": "4-wheeler"}
NEAR_THE_SITE = {"geo_coordinates": [12.9352, 77.6245], "distance_meters": 2000}
CLIENT_API = re.compile(r"reference BAP client API: (\S+)/v1, Bearer token (\S+)")


def tree_rss_mb(pid: int) -> float:
    """The resident sets of process `pid` and of every process it started, in MB."""
    total = rss_mb(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text(encoding="ascii").split():
            total += tree_rss_mb(int(child))
    return total


def rss_mb(pid: int) -> float:
    """The resident set of process `pid` (VmRSS of /proc/PID/status), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"/proc/{pid}/status has no VmRSS: is the process gone?")


@dataclass
class Served:
    """`ubc-cert serve` as a child process, and what its banner told."""

    process: subprocess.Popen[str]
    client_api: str
    token: str
    banner: list[str] = field(default_factory=list)


def start_serve(folder: Path, bound_s: float = 60.0) -> Served:
    base = free_port_base()
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port-base", str(base),
         "--state-dir", str(folder / "state"), "--report-dir", str(folder / "reports")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None
    banner: list[str] = []
    found: list[tuple[str, str]] = []

    def read() -> None:  # the banner, then whatever serve logs, kept for a failure
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line.rstrip())
            if not found and (match := CLIENT_API.search(line)):
                found.append((match.group(1), match.group(2)))
    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + bound_s
    while not (found and any("stops the network" in line for line in banner)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("ubc-cert serve did not come up:\n" + "\n".join(banner))
        time.sleep(0.1)  # its banner comes line by line from another process
    wait_port(base + 3)  # the BAP's server
    return Served(process, found[0][0], found[0][1], banner)


@dataclass
class Tally:
    done: int = 0
    lost: int = 0
    non_2xx: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    lost_ids: list[str] = field(default_factory=list)  # message ids, when the 504 named them

    def failed(self, what: str) -> None:
        self.non_2xx[what] = self.non_2xx.get(what, 0) + 1


async def soak(served: Served, seconds: float, concurrency: int, sample_s: float
               ) -> tuple[Tally, list[tuple[float, int, float]]]:
    """Estimates at `concurrency` in flight for `seconds`; (tally, samples of (elapsed,
    done, RSS MB))."""
    headers = {"Authorization": f"Bearer {served.token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency,
                          keepalive_expiry=KEEPALIVE_S)  # before serve's uvicorn closes one
    async with httpx.AsyncClient(base_url=served.client_api + "/v1", headers=headers,
                                 limits=limits, timeout=TTL_S + GRACE_S) as http:
        found = await http.post("/search", json=NEAR_THE_SITE)
        if found.status_code != 200:
            raise SystemExit(f"the search answered {found.status_code}: {found.text}")
        catalog = found.json()["catalogs"][0]
        connector = catalog["connectors"][0]
        wanted = {"evse_id": connector["evse_id"], "connector_id": connector["id"],
                  "vehicle": CAR, "energy": {"value": 2, "unit": "kWh"}}
        tally = Tally()
        started = time.monotonic()
        end = started + seconds

        async def worker() -> None:
            while time.monotonic() < end:
                sent = time.monotonic()
                try:
                    answer = await http.post("/estimate", json=wanted, headers={
                        "X-Transaction-Id": str(uuid.uuid4()), "X-Bpp-Id": catalog["bpp_id"]})
                except httpx.TimeoutException:
                    tally.lost += 1  # no answer within the ttl and the grace
                    continue
                except httpx.HTTPError as exc:
                    tally.failed(type(exc).__name__)
                    continue
                if answer.status_code == 200:
                    tally.done += 1
                    tally.latencies_ms.append((time.monotonic() - sent) * 1000)
                elif answer.status_code == 504:
                    tally.lost += 1  # the select was ACKed; its on_select never came
                    details = answer.json().get("error", {}).get("details", {})
                    tally.lost_ids.append(str(details.get("message_id")))
                else:
                    tally.failed(f"HTTP {answer.status_code}")

        samples: list[tuple[float, int, float]] = []

        async def sampler() -> None:
            while (now := time.monotonic()) < end:
                samples.append((now - started, tally.done, tree_rss_mb(served.process.pid)))
                print(f"{now - started:8.0f} {tally.done:10d} {samples[-1][2]:9.1f}", flush=True)
                await asyncio.sleep(min(sample_s, max(0.0, end - now)))
            samples.append((time.monotonic() - started, tally.done,
                            tree_rss_mb(served.process.pid)))
            print(f"{samples[-1][0]:8.0f} {tally.done:10d} {samples[-1][2]:9.1f}", flush=True)
        print(f"{'elapsed':>8} {'exchanges':>10} {'RSS MB':>9}", flush=True)
        await asyncio.gather(sampler(), *(worker() for _ in range(concurrency)))
    return tally, samples


def minute_median(samples: list[tuple[float, int, float]], first: bool) -> float:
    """The median RSS of the first minute's samples, or of the last minute's."""
    end = samples[-1][0]
    chosen = [rss for at, _, rss in samples if (at <= 60 if first else at >= end - 60)]
    return statistics.median(chosen)


def history(transcript: Path, message_ids: set[str]) -> list[str]:
    """What serve's transcript holds of the lost exchanges, a line per exchange."""
    lines = []
    for path in (transcript.with_name(transcript.name + ".1"), transcript):
        if not message_ids or not path.exists():
            continue
        with path.open("rb") as handle:
            for raw in handle:
                record = orjson.loads(raw)
                if record.get("message_id") in message_ids:
                    lines.append(f"{record['message_id'][:8]} {record['id']} "
                                 f"{record['direction']:8} {record['party']:4} "
                                 f"{record['action']:9} {record['status']} "
                                 f"{record.get('latency_s') or 0:.2f}s {record['error'] or ''}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--concurrency", type=int, default=16, help="estimates in flight")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()
    if args.duration < 120:
        raise SystemExit("--duration must be at least 120 s: the first minute and the last "
                         "are compared")
    with tempfile.TemporaryDirectory(prefix="ubc-soak-") as folder:
        served = start_serve(Path(folder))
        try:
            at_rest = tree_rss_mb(served.process.pid)
            print(f"ubc-cert serve, pid {served.process.pid}, RSS {at_rest:.1f} MB at rest "
                  f"(with its BPP process); {args.concurrency} estimates (select -> "
                  f"on_select) in flight for {args.duration:g} s; {os.cpu_count()} cores "
                  "shared with this driver", flush=True)
            tally, samples = asyncio.run(soak(served, args.duration, args.concurrency,
                                              args.sample))
            transcript = Path(folder) / "state" / "serve-transcript.ndjson"
            on_disk = sum(p.stat().st_size for p in transcript.parent.glob(
                "*transcript.ndjson*"))  # serve's and its BPP process's
            lost_history = history(transcript, set(tally.lost_ids))
        finally:
            served.process.terminate()
            try:
                served.process.wait(30)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.process.wait(10)
    first, last = minute_median(samples, True), minute_median(samples, False)
    elapsed = samples[-1][0]
    non_2xx = sum(tally.non_2xx.values())
    print(f"exchanges done: {tally.done} ({tally.done / elapsed:.0f}/s), latency p50 "
          f"{percentile(tally.latencies_ms, 0.5):.0f} ms, p99 "
          f"{percentile(tally.latencies_ms, 0.99):.0f} ms")
    print(f"lost callbacks: {tally.lost}")
    for line in lost_history:
        print(f"  {line}")
    print(f"non-2xx: {non_2xx} {tally.non_2xx or ''}".rstrip())
    print(f"RSS first minute {first:.1f} MB, last minute {last:.1f} MB: {last - first:+.1f} MB "
          f"(bound +-{FLAT_MB:g}); peak {max(s[2] for s in samples):.1f} MB")
    print(f"transcript on disk at the end: {on_disk / 1024 / 1024:.0f} MB")
    passed = tally.lost == 0 and non_2xx == 0 and abs(last - first) <= FLAT_MB
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
