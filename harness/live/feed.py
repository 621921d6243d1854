"""The live view's events: what happens in a running network, kept briefly for whoever watches.

Anything may publish, from any thread: the transcript (every exchange as it begins and as it
is answered), a certification (scenarios starting and ending, findings as a step finds them),
`ubc-cert run` (the run beginning and its verdict). Each event gets the next sequence number;
the last `HISTORY` are kept, so a browser that connects late, or reconnects after a dropped
connection (EventSource sends the last id it saw), is shown what it missed first.

Publishing costs little while nobody watches: an exchange is kept as the object the transcript
already holds and only turned into JSON when a watcher is sent it, as it stands then (an
answered exchange is sent with its answer).

A watcher reads on the servers' event loop. Its queue is bounded: a watcher that falls that
far behind (a stalled tab) is dropped — told to reconnect — rather than letting the network's
memory grow for it; reconnecting replays what the history still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.transcript import Exchange

HISTORY = 2000  # events kept for watchers that connect late or reconnect
QUEUE = 2000  # events a watcher may be behind before it is told to reconnect

Payload = dict[str, Any] | Exchange


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str  # "exchange", "scenario", "finding", "run"
    payload: Payload


@dataclass(eq=False)
class Watcher:
    """One connected browser: the events for it, in order, on the servers' loop."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    lagging: bool = False  # its queue overflowed: it is told to reconnect and dropped

    def offer(self, event: Event | None) -> None:
        """On the loop: queue the event, or (None) the end of the feed."""
        if self.lagging:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagging = True
            # Make room for the end, so the watcher's reader wakes up and stops.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class LiveFeed:
    """The events of one network, for the live view (harness/live/app.py)."""

    def __init__(self, history: int = HISTORY) -> None:
        self._lock = threading.Lock()
        self._history: deque[Event] = deque(maxlen=history)
        self._watchers: list[Watcher] = []
        self._seq = 0
        self.closed = False

    def publish(self, kind: str, payload: Payload) -> None:
        """Send an event to every watcher and keep it for late ones; from any thread."""
        with self._lock:
            if self.closed:
                return
            self._seq += 1
            event = Event(self._seq, kind, payload)
            self._history.append(event)
            watchers = list(self._watchers)
        for watcher in watchers:
            _call_soon(watcher, event)

    def exchange(self, exchange: Exchange) -> None:
        """The transcript's listener: an exchange begun, or answered."""
        self.publish("exchange", exchange)

    def watch(self, after: int = 0) -> tuple[Watcher, list[Event]]:
        """A new watcher, on the running loop, and the kept events after sequence `after`
        that it must be sent first (every kept one when `after` is 0 or unknown)."""
        watcher = Watcher(asyncio.get_running_loop())
        with self._lock:
            kept = list(self._history)
            if self.closed:
                watcher.offer(None)
            else:
                self._watchers.append(watcher)
        if after and kept and kept[0].seq <= after + 1:
            kept = [e for e in kept if e.seq > after]
        return watcher, kept

    def forget(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    @property
    def watching(self) -> int:
        with self._lock:
            return len(self._watchers)

    def close(self) -> None:
        """End every watcher's stream (the network is stopping): no open connection holds
        the servers' shutdown up."""
        with self._lock:
            self.closed = True
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            _call_soon(watcher, None)


def _call_soon(watcher: Watcher, event: Event | None) -> None:
    offer: Callable[[Event | None], None] = watcher.offer
    with contextlib.suppress(RuntimeError):  # its loop has closed: nobody reads any more
        watcher.loop.call_soon_threadsafe(offer, event)
