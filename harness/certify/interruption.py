"""Stopping a run early and still reporting it: SIGINT, SIGTERM and `--max-time`.

A stop signal sets the run's stop and raises `Interrupted` in the main thread, where pytest runs
the scenarios: a wait for a callback, a hook or an answer is a lock or a socket wait, which a
signal interrupts, so the run stops within moments wherever it waits. `Interrupted` is a
KeyboardInterrupt, which pytest lets through the scenario and answers by ending the session
(its JUnit report keeps what ran); the engine then writes every artifact. Once the artifacts
are being written the signals are held: a second Ctrl-C is noted, never raised into the middle
of report.json. `--max-time` is a timer that signals the main thread in the same way.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

from harness import exitcodes

SIGINT, SIGTERM, MAX_TIME, EXITFIRST = "SIGINT", "SIGTERM", "max_time", "exitfirst"
_CODES = {SIGINT: exitcodes.SIGINT, SIGTERM: exitcodes.SIGTERM, MAX_TIME: exitcodes.MAX_TIME}


@dataclass(frozen=True)
class Stop:
    """Why a run stopped before its plan was done."""

    cause: str  # SIGINT, SIGTERM, MAX_TIME
    description: str  # as the verdict's reason starts: "interrupted by SIGTERM"
    after_s: float  # seconds into the run

    @property
    def exit_code(self) -> int:
        return _CODES[self.cause]


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when a stop signal arrives (or --max-time runs out)."""

    def __init__(self, stop: Stop) -> None:
        super().__init__(stop.description)
        self.stop = stop


class StopSignals:
    """While entered (in the main thread): SIGINT, SIGTERM and the `max_time_s` deadline stop
    the run once, by raising `Interrupted`, until `hold()`; the previous handlers come back on
    exit. Outside the main thread no handler can be set, and none is."""

    def __init__(self, max_time_s: float | None = None, *, started: float | None = None) -> None:
        self.max_time_s = max_time_s
        self.started = time.monotonic() if started is None else started
        self.stop: Stop | None = None
        self._held = False
        self._deadline_passed = False
        self._previous: dict[int, Any] = {}
        self._timer: threading.Timer | None = None
        self._listeners: list[Callable[[Stop], None]] = []

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        if self.max_time_s is not None:
            left = max(0.0, self.max_time_s - (time.monotonic() - self.started))
            self._timer = threading.Timer(left, self._deadline, args=(threading.main_thread(),))
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def when_stopping(self, listener: Callable[[Stop], None]) -> None:
        """Call `listener` (in the main thread, from the signal handler) when a stop comes."""
        self._listeners.append(listener)

    def hold(self) -> None:
        """From now on a stop signal is noted, not raised: the run is writing its evidence."""
        self._held = True

    def _deadline(self, main: threading.Thread) -> None:
        # A real signal, not _thread.interrupt_main(): only a signal interrupts the lock or
        # socket wait the main thread is blocked in.
        self._deadline_passed = True
        if main.ident is not None and not self._held:
            signal.pthread_kill(main.ident, signal.SIGINT)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop is not None:
            return  # already stopping: the first signal is being answered
        after = time.monotonic() - self.started
        if self._deadline_passed:
            self.stop = Stop(MAX_TIME, f"--max-time {self.max_time_s:g} s ran out", after)
        else:
            name = signal.Signals(signum).name
            self.stop = Stop(name, f"interrupted by {name}", after)
        for listener in self._listeners:
            listener(self.stop)
        if not self._held:
            raise Interrupted(self.stop)
