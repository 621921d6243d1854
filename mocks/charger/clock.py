"""Simulated time: the clocks a charger runs on, and the ticker that keeps it up to its clock.

`Clock` runs simulated time `speed` times faster than real time; `ManualClock` moves only when
told, which makes tests exact. A charger is brought up to its clock by `tick()`; `run_ticker`
does that in real time for whoever serves one (the charger's app, the reference BPP).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

DEMO_EPOCH = 1736935200.0  # 2025-01-15T10:00:00Z: ManualClock's default, so runs are repeatable


class SimulatedClock(Protocol):
    """What the charger needs of a clock: simulated epoch seconds, and a way to jump ahead."""

    @property
    def speed(self) -> float: ...

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class Clock:
    """Simulated time running `speed` times faster than real time, starting at `start`."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"clock speed must be a positive number, got {speed!r}")
        self._speed = speed
        self._monotonic = monotonic  # monotonic: wall-clock jumps must not move the simulation
        self._real_origin = monotonic()
        self._sim_origin = time.time() if start is None else start

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        return self._sim_origin + (self._monotonic() - self._real_origin) * self._speed

    def advance(self, seconds: float) -> None:
        self._sim_origin += seconds


class ManualClock:
    """Simulated time that moves only when `advance` is called; for tests."""

    def __init__(self, start: float = DEMO_EPOCH) -> None:
        self._now = start

    @property
    def speed(self) -> float:
        return 0.0  # real time does not move it

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class Ticking(Protocol):
    """Anything brought up to its clock by `tick()`: a charger."""

    def tick(self, max_steps: int | None = None) -> bool: ...


async def run_ticker(charger: Ticking, interval_s: float) -> None:
    """Tick `charger` every `interval_s` real seconds until cancelled.

    A failed tick is a simulator bug: it is logged and real-time ticking stops (every request
    still ticks, and fails as loudly), instead of repeating the same error several times a second.
    """
    while True:
        await asyncio.sleep(interval_s)  # pacing, not synchronisation: the clock says what's due
        try:
            await catch_up(charger)
        except Exception:
            logger.exception("charger tick failed; real-time simulation stops")
            return


TURN_STEPS = 200  # steps simulated between two turns of the event loop


async def catch_up(charger: Ticking) -> None:
    """Tick `charger` up to its clock TURN_STEPS steps at a time, letting the loop run between:
    a tick that follows a long /clock/advance finishes its slices, not the whole at once."""
    while not charger.tick(max_steps=TURN_STEPS):
        await asyncio.sleep(0)
