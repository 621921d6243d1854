"""What a party keeps per request, within bounds: the oldest let go first (a party up for days,
`ubc-cert serve`, is sent requests nobody follows up).

A store is pruned every `PRUNE_EVERY` additions, not at each: the scan of everything it held,
at every addition, was 12 % of the network's CPU in a select burst (the BPP's order book), so
a store holds at most its bounds plus that many."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

PRUNE_EVERY = 64  # additions between two prunings


class Cadence:
    """True once every `every` calls: when a store is due for pruning."""

    def __init__(self, every: int = PRUNE_EVERY) -> None:
        self.every = every
        self._since = 0

    def due(self) -> bool:
        self._since += 1
        if self._since < self.every:
            return False
        self._since = 0
        return True


def oldest_past(items: Mapping[K, V], tentative: Callable[[V], bool], tentative_bound: int,
                bound: int) -> list[K]:
    """The keys to let go of, oldest first (`items` in the order they were added): the oldest
    tentative ones (a quote nobody took up) past `tentative_bound`, then the oldest of those
    left past `bound`."""
    tentatives = [key for key, value in items.items() if tentative(value)]
    gone = tentatives[:max(0, len(tentatives) - tentative_bound)]
    left = len(items) - len(gone)
    if left > bound:
        going = set(gone)
        gone += [key for key in items if key not in going][:left - bound]
    return gone
