"""The reference BPP's backlog (mocks/bpp/service.py Tasks): with as much work under way as its
outbox has connections, a new request waits for its ACK, bounded, instead of queueing its
callback behind the others."""

from __future__ import annotations

import asyncio

from mocks.bpp.service import Tasks


def test_room_waits_while_the_backlog_is_full_and_opens_when_a_task_ends() -> None:
    async def main() -> list[str]:
        tasks = Tasks(backlog=2)
        done: list[str] = []
        release = asyncio.Event()

        async def work(name: str) -> None:
            await release.wait()
            done.append(name)
        tasks.spawn(work("a"))
        tasks.spawn(work("b"))
        waiting = asyncio.create_task(tasks.room(bound_s=5))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # two running: no room
        release.set()
        await asyncio.wait_for(waiting, 1)
        done.append("room")
        return done
    assert asyncio.run(main()) == ["a", "b", "room"]


def test_room_is_at_once_below_the_backlog_and_bounded_above_it() -> None:
    async def main() -> tuple[float, float]:
        tasks = Tasks(backlog=1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await tasks.room(bound_s=5)
        free = loop.time() - started
        tasks.spawn(asyncio.sleep(10))
        started = loop.time()
        await tasks.room(bound_s=0.2)  # never refused: ACKed after the bound all the same
        full = loop.time() - started
        await tasks.cancel()
        return free, full
    free, full = asyncio.run(main())
    assert free < 0.05 and 0.15 <= full < 2.0
