"""Can one party of the mock network stall the others? (issue F, item 2)

Every party of a network shares one process and one event loop (harness/servers.py): a handler
that holds the loop holds all of them. This bench asks the registry for a key every few ms
from a thread of its own, as a party's lookup would, while the network is made to do the
heaviest things a peer can ask of it, and prints how long the registry took to answer during
each phase:

- idle: the baseline;
- 40 bodies of ~1 MB, signed by a registered key over other bytes, sent to the BPP at once
  (refused at the digest check, before any parse);
- 40 bodies of 2 MB (refused by size) and 40 nested 100,000 levels deep (refused unparsed);
- a week of simulated charging at a trickle of power, by the charger's /clock/advance (ten
  thousand meter samples, simulated in slices between which the loop runs);
- a catalog of ~0.9 MB published to the CDS by the BPP.

    python bench/stall_bench.py [--bound-ms 100] [--json FILE]

Goal: the registry's slowest answer in every phase stays within --bound-ms. On a machine busy
with other work the numbers are a ceiling, not a measure of the network alone.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.beckn import envelope, signing  # noqa: E402
from harness.network import MockNetwork, NetworkConfig  # noqa: E402

PROBE_EVERY_S = 0.002


# Children are spawned, not forked: this process serves the network from a thread, and a fork
# would copy its locks mid-use.
SPAWN = multiprocessing.get_context("spawn")


def _probe(url: str, answers: multiprocessing.Queue[tuple[float, float]],
           stop: Any) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.post(url, json={"subscriber_id": "bpp.mock.ubc"})
            answers.put((time.time(), (time.perf_counter() - started) * 1000))
            time.sleep(PROBE_EVERY_S)


class Probe:
    """Registry lookups, one after another, from a process of its own (a thread here would
    measure this process's GIL, not the network): their latencies, per phase."""

    def __init__(self, registry_url: str) -> None:
        self._queue: multiprocessing.Queue[tuple[float, float]] = SPAWN.Queue()
        self._stop = SPAWN.Event()
        self._process = SPAWN.Process(target=_probe, daemon=True, args=(
            f"{registry_url}/lookup", self._queue, self._stop))

    def started(self, bound_s: float = 30.0) -> None:
        """Wait for the probe's first answer (its process imports the harness first)."""
        self._queue.get(timeout=bound_s)

    def since(self, start: float) -> list[float]:
        """The latencies of the lookups answered from `start` until now (epoch seconds)."""
        now = time.time()
        found = []
        while True:
            try:
                at, latency = self._queue.get(timeout=1.0)
            except queue.Empty:
                return found
            if at > now:  # the probe goes on: what it measures next is the next phase's
                return found
            if at >= start:
                found.append(latency)

    def __enter__(self) -> Probe:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(10)


def phase(probe: Probe, name: str, work: Callable[[], None]) -> tuple[str, float, int, float,
                                                                        float, float]:
    probe.since(time.time())  # drain what came before
    begun = time.time()
    started = time.perf_counter()
    work()
    took = (time.perf_counter() - started) * 1000
    time.sleep(0.2)  # what the work left queued on the loop is measured too
    seen = sorted(probe.since(begun))
    p99 = seen[min(len(seen) - 1, int(0.99 * len(seen)))] if seen else float("nan")
    return (name, took, len(seen), statistics.median(seen) if seen else float("nan"), p99,
            seen[-1] if seen else float("nan"))


def hostile_bodies(network: MockNetwork) -> dict[str, list[tuple[bytes, dict[str, str]]]]:
    """The bodies of each hostile phase, with their headers, built before it begins."""
    assert network.bap is not None
    signer = network.bap.identity.signer
    now = int(time.time())
    header = {signing.AUTHORIZATION: signer.sign(b"{}", now, now + 300),
              "Content-Type": "application/json"}
    doc = network.bap.build("select", {"order": {"pad": "x" * (1000 * 1024 - 1200)}},
                            bpp_id="bpp.mock.ubc",
                            bpp_uri=network.participants["bpp"].uri)
    near_limit = orjson.dumps(doc)
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    return {"near": [(near_limit, header)] * 40,
            "refused": [(b"x" * (2 * 1024 * 1024), header)] * 40 + [(deep, header)] * 40}


def _post(url: str, item: tuple[bytes, dict[str, str]]) -> int:
    body, headers = item
    with httpx.Client(timeout=30) as client:
        return client.post(url, content=body, headers=headers).status_code


def post_all(pool: ProcessPoolExecutor, url: str,
             bodies: list[tuple[bytes, dict[str, str]]]) -> None:
    """Every body at once, from processes of their own (threads would hold this one's GIL),
    started and warmed before the phase: their start-up is not what is measured."""
    statuses = list(pool.map(partial(_post, url), bodies, chunksize=5))
    if any(s < 400 for s in statuses):
        raise SystemExit(f"a hostile body was accepted: {sorted(set(statuses))}")


def week_of_trickle(network: MockNetwork) -> None:
    charger = network.charger
    assert charger is not None

    async def start() -> None:
        connector = "CCS2-A"  # the demo site's 60 kW DC connector
        charger.plug_in(connector)
        charger.remote_start(connector, vehicle_max_power_kw=0.01, vehicle_battery_kwh=60,
                             soc_start=79.9)
    network.group.run(start())
    answer = httpx.post(f"{network.participants['charger'].url}/clock/advance",
                        json={"seconds": 7 * 24 * 3600}, timeout=60)
    answer.raise_for_status()


def big_publish(network: MockNetwork) -> None:
    bpp = network.bpp
    assert bpp is not None
    catalog = bpp.site.catalog()
    items = catalog["beckn:items"]
    catalog["beckn:items"] = [dict(copy.deepcopy(items[i % len(items)]), **{"beckn:id": f"i{i}"})
                              for i in range(600)]
    identity = bpp.identity
    context = envelope.context("catalog_publish", transaction_id=envelope.new_id(),
                               bpp_id=identity.subscriber_id, bpp_uri=identity.uri, ttl="PT30S")
    sent = network.group.run(bpp.outbox.send(
        network.participants["cds"].uri, "catalog_publish",
        {"context": context, "message": {"catalogs": [catalog]}}), 60)
    if not sent.acked:
        raise SystemExit(f"the CDS did not take the catalog: {sent.status} {sent.error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bound-ms", type=float, default=100.0,
                        help="the slowest registry answer allowed in any phase")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the phases and the bound here (bench/all.py reads it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        network = MockNetwork(NetworkConfig(state_dir=Path(state))).start()
        try:
            bodies = hostile_bodies(network)
            select = f"{network.participants['bpp'].uri}/select"
            with Probe(network.participants["registry"].url) as probe, \
                    ProcessPoolExecutor(max_workers=4, mp_context=SPAWN) as pool:
                list(pool.map(time.sleep, [0.1] * 8))  # every worker started and imported
                probe.started()
                rows = [
                    phase(probe, "idle", lambda: time.sleep(1.0)),
                    phase(probe, "40 x 1 MB, signature over other bytes",
                          lambda: post_all(pool, select, bodies["near"])),
                    phase(probe, "40 x 2 MB + 40 x 100k-deep nesting",
                          lambda: post_all(pool, select, bodies["refused"])),
                    phase(probe, "a week's /clock/advance at 10 W",
                          lambda: week_of_trickle(network)),
                    phase(probe, "catalog_publish of ~0.9 MB to the CDS",
                          lambda: big_publish(network)),
                ]
        finally:
            network.stop()
    print("the registry's answers to a lookup every 2 ms, while the network does each thing:")
    print(f"{'phase':<40} {'took ms':>8} {'probes':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7}")
    for name, took, count, p50, p99, worst in rows:
        print(f"{name:<40} {took:8.0f} {count:7d} {p50:7.1f} {p99:7.1f} {worst:7.1f}")
    worst_all = max(row[5] for row in rows)
    met = worst_all <= args.bound_ms
    print(f"slowest answer {worst_all:.0f} ms (goal <= {args.bound_ms:g} ms): "
          f"{'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({
            "bound_ms": args.bound_ms, "worst_ms": worst_all,
            "phases": [{"phase": name, "took_ms": took, "probes": count, "p50_ms": p50,
                        "p99_ms": p99, "max_ms": worst}
                       for name, took, count, p50, p99, worst in rows]}, indent=2),
            encoding="utf-8")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
