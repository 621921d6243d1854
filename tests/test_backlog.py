"""A party's outbox paces its inbox (mocks/stack/outbox.py `room`, Inbox.pace): with as many
callbacks waiting for a connection as it has connections, a new request waits for its ACK,
bounded, instead of queueing its callback behind the others for seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from harness.beckn import signing
from harness.transcript import Transcript
from mocks.stack import Identity, Outbox, Sent
from mocks.stack.wire import MAX_IN_FLIGHT, Answer


class HeldWire:
    """A peer that answers nothing until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def post(self, url: str, content: bytes, headers: Mapping[str, str],
                   timeout_s: float, limit: int) -> Answer:
        await self.release.wait()
        return Answer(200, {}, b'{"message":{"ack":{"status":"ACK"}}}')

    async def aclose(self) -> None:
        pass


def outbox(wire: HeldWire) -> Outbox:
    keys = signing.KeyPair.generate("bpp.example", "bpp.example-k1")
    return Outbox(Identity.create("bpp.example", "bpp", "http://127.0.0.1/b", keys),
                  Transcript(), wire, party="bpp")


def backlog(box: Outbox, action: str) -> list[asyncio.Task[Sent]]:
    """Twice as many sends as the outbox has connections: half on the wire, half queued."""
    return [asyncio.create_task(box.send("http://127.0.0.1:9/beckn", action,
                                         {"context": {}, "message": {}}))
            for _ in range(2 * MAX_IN_FLIGHT)]


def test_room_waits_while_callbacks_queue_for_a_connection_and_opens_as_they_go() -> None:
    async def main() -> bool:
        wire = HeldWire()
        box = outbox(wire)
        sends = backlog(box, "on_select")
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(box.room(bound_s=5))
        await asyncio.sleep(0.05)
        held = not waiting.done()
        wire.release.set()
        await asyncio.wait_for(waiting, 2)
        await asyncio.gather(*sends)
        return held
    assert asyncio.run(main())


def test_room_is_at_once_without_a_queue_and_bounded_with_one() -> None:
    async def main() -> tuple[float, float]:
        wire = HeldWire()
        box = outbox(wire)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await box.room(bound_s=5)
        free = loop.time() - started
        sends = backlog(box, "on_status")
        await asyncio.sleep(0.05)
        started = loop.time()
        await box.room(bound_s=0.2)  # never refused: ACKed after the bound all the same
        full = loop.time() - started
        wire.release.set()
        await asyncio.gather(*sends)
        return free, full
    free, full = asyncio.run(main())
    assert free < 0.05 and 0.15 <= full < 2.0


class OneAtATimeWire(HeldWire):
    """A peer that answers one request each time it is told to."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: asyncio.Queue[None] = asyncio.Queue()

    async def post(self, url: str, content: bytes, headers: Mapping[str, str],
                   timeout_s: float, limit: int) -> Answer:
        await self.turns.get()
        return Answer(200, {}, b'{"message":{"ack":{"status":"ACK"}}}')


def test_each_freed_place_lets_one_waiting_request_on_oldest_first() -> None:
    """Not the whole herd: at 64 senders, waking every waiter at each freed place spent a fifth
    of the BPP's CPU re-checking the queue."""
    async def main() -> tuple[list[int], list[int]]:
        wire = OneAtATimeWire()
        box = outbox(wire)
        sends = backlog(box, "on_select")
        await asyncio.sleep(0.05)
        order: list[int] = []

        async def wait(i: int) -> None:
            await box.room(bound_s=5)
            order.append(i)
        waiters = [asyncio.create_task(wait(i)) for i in range(3)]
        await asyncio.sleep(0.05)
        wire.turns.put_nowait(None)  # one answer: one queued send takes its slot
        await asyncio.sleep(0.05)
        after_one = list(order)
        for _ in range(2 * MAX_IN_FLIGHT):
            wire.turns.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*waiters), 2)
        await asyncio.gather(*sends)
        return after_one, order
    after_one, order = asyncio.run(main())
    assert after_one == [0] and order == [0, 1, 2]
