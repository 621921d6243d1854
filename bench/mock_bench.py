"""Signed-request rate of the reference BPP (ACK + callback) against a bare Starlette endpoint
answering a fixed ACK, measured in the same run on the same loop and client.

Both sides get the same signed `select` requests from the reference BAP's outbox over real
loopback sockets with the same concurrency. The BPP's rate counts a request only once its
on_select callback has arrived at the BAP (verified, schema-checked, recorded); the bare
endpoint's rate counts the ACK alone.

    python bench/mock_bench.py [--requests 2000] [--concurrency 4]

Prints both rates and their ratio (goal: >= 30 %).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.beckn.order import Order
from harness.network import MockNetwork, NetworkConfig
from mocks.bap import ReferenceBap

ACK = b'{"message":{"ack":{"status":"ACK"}}}'


def bare_app() -> Starlette:
    async def ack(request: Request) -> Response:
        await request.body()
        return Response(ACK, media_type="application/json")
    return Starlette(routes=[Route("/beckn/{action}", ack, methods=["POST"])])


async def drive(bap: ReferenceBap, uri: str, bpp_id: str, order: Order, count: int,
                concurrency: int, wait_callbacks: bool) -> float:
    """Send `count` selects, `concurrency` at a time; seconds until all are answered."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            call = await bap.select(order, bpp_uri=uri, bpp_id=bpp_id, wait=wait_callbacks,
                                    timeout=10)
            if not call.sent.acked or (wait_callbacks and call.callback is None):
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{failures} of {count} requests failed; the measurement is void")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    network = MockNetwork(NetworkConfig(ttl="PT30S", roles=("registry", "bpp", "bap"),
                                        registry_cache_s=60.0))
    network.build()
    network.group.add("bare", bare_app())
    network.start()
    try:
        bap = network.bap
        assert bap is not None
        bpp = network.participants["bpp"]
        app = network.group.served["bpp"].app
        item = app.state.bpp.catalog()["beckn:items"][0]
        order = Order(seller=item["beckn:provider"]["beckn:id"], item_id=item["beckn:id"],
                      quantity_kwh=2.0)
        bare_uri = network.group.url("bare") + "/beckn"
        run = network.group.run
        run(drive(bap, bpp.uri, bpp.subscriber_id, order, 50, 4, True), 120)  # warm-up
        run(drive(bap, bare_uri, bpp.subscriber_id, order, 50, 4, False), 120)
        # Bare first: the BPP side then runs with the larger transcript it built up itself.
        bare_s = run(drive(bap, bare_uri, bpp.subscriber_id, order, args.requests,
                           args.concurrency, False), 600)
        bpp_s = run(drive(bap, bpp.uri, bpp.subscriber_id, order, args.requests,
                          args.concurrency, True), 600)
    finally:
        network.stop()
    bpp_rate, bare_rate = args.requests / bpp_s, args.requests / bare_s
    print(f"{args.requests} signed select requests, concurrency {args.concurrency}, "
          "one process, one event loop, real loopback sockets")
    print(f"bare Starlette fixed ACK:              {bare_rate:8,.0f} req/s")
    print(f"reference BPP (ACK + signed on_select): {bpp_rate:8,.0f} req/s")
    print(f"ratio: {bpp_rate / bare_rate:.0%} of the bare endpoint (goal >= 30 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
