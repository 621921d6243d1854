"""What a run is waiting for, right now.

A run spends most of its time waiting on the candidate: an ACK, a callback, a request of the
app, a catalog. The steps announce each bounded wait here (`with waits.awaiting(...)`), and
whoever listens — the live progress display of `ubc-cert run` (progress.py) — shows what is
awaited and for how long, so a silent candidate is seen waited for, not mistaken for a hang.
Waits nest (an answer awaited while a scenario waits for its callback): the innermost is the
one shown.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Awaited:
    """One bounded wait: what it waits for, in words, and its bound."""

    what: str  # "on_select from cpo.example.com"
    within_s: float
    since: float = field(default_factory=time.monotonic)


Listener = Callable[[Awaited | None], None]  # the innermost wait, or None when none is left


class Waits:
    """The waits in progress, and who is told when one begins or ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stack: list[Awaited] = []
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def current(self) -> Awaited | None:
        with self._lock:
            return self._stack[-1] if self._stack else None

    @contextlib.contextmanager
    def awaiting(self, what: str, within_s: float) -> Iterator[None]:
        """Announce a wait of at most `within_s` seconds for the block's duration."""
        awaited = Awaited(what, within_s)
        with self._lock:
            self._stack.append(awaited)
        self._tell(awaited)
        try:
            yield
        finally:
            with self._lock:
                self._stack.remove(awaited)
                now = self._stack[-1] if self._stack else None
            self._tell(now)

    def _tell(self, awaited: Awaited | None) -> None:
        for listener in self._listeners:
            listener(awaited)
