"""Fault switches: which named faults of a reference party are on, in the order of its
registry, and how they loosen the party's inbox (a named step replaced or let through).

The reference BPP and BAP each keep their own registry of faults and their own hook points;
what switching means is the same for both and lives here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from mocks.stack.inbox import Inbox, Step

F = TypeVar("F")
T = TypeVar("T")
A = TypeVar("A")


def refuse_unknown(registry: Mapping[str, object], names: Iterable[str]) -> None:
    """ValueError naming every fault that is not in `registry`."""
    unknown = set(names) - set(registry)
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")


class Switches(Generic[F]):
    """The faults of `registry` switched on in one party, in the registry's order."""

    def __init__(self, registry: Mapping[str, F], inbox: Inbox, names: Iterable[str] = ()
                 ) -> None:
        self._registry = registry
        self._inbox = inbox
        self._on: tuple[tuple[str, F], ...] = ()
        self.switch(names)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self._on)

    def switch(self, names: Iterable[str]) -> None:
        """Switch exactly these faults on (ValueError for an unknown name)."""
        wanted = set(names)
        refuse_unknown(self._registry, wanted)
        self._on = tuple((name, fault) for name, fault in self._registry.items()
                         if name in wanted)
        ignored, replaced = self.inbox_changes()
        self._inbox.loosen(ignored, replaced)

    def inbox_changes(self) -> tuple[frozenset[str], Mapping[str, Step]]:
        """The signature failures let through and the inbox steps replaced by the faults on."""
        return frozenset(), {}

    def _through(self, hook: Callable[[F], Callable[[T], T] | None], value: T) -> T:
        for _, fault in self._on:
            transform = hook(fault)
            if transform is not None:
                value = transform(value)
        return value

    def _through_given(self, hook: Callable[[F], Callable[[T, A], T] | None], value: T,
                       given: A) -> T:
        """`_through` for transforms that also read `given` (what they act on does not
        change it)."""
        for _, fault in self._on:
            transform = hook(fault)
            if transform is not None:
                value = transform(value, given)
        return value
