"""The reservation book of one charger: which connector is held for whom and when.

It holds the rules that depend only on time and on the other reservations: what a new
reservation may ask for, that two holds on a connector never overlap, and when a reservation
changes status by itself (starts holding at `start`; expires at `end`, or at `start + grace_s`
when nobody has plugged in). The simulator checks the connector, applies the changes and
announces them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from mocks.charger.model import (
    HOLDING,
    ChargerError,
    IdSequence,
    Reservation,
    ReservationStatus,
    known,
    require_id,
)
from mocks.charger.site import Connector


class ReservationBook:
    """Every reservation of one charger, oldest first."""

    def __init__(self) -> None:
        self._by_id: dict[str, Reservation] = {}
        self._ids = IdSequence("RESV")

    def all(self) -> list[Reservation]:
        return list(self._by_id.values())

    def get(self, reservation_id: str) -> Reservation:
        return known(self._by_id, reservation_id, "reservation")

    def holding(self, connector_id: str) -> Reservation | None:
        """The reservation holding the connector right now, if any."""
        for reservation in self._by_id.values():
            if (
                reservation.connector_id == connector_id
                and reservation.status is ReservationStatus.ACTIVE
            ):
                return reservation
        return None

    def check_request(
        self, start: float, end: float, grace_s: float, reservation_id: str | None, now: float
    ) -> None:
        """Refuse a window or id no reservation could have, whatever the connector's state."""
        for name, value in (("start", start), ("end", end), ("grace_s", grace_s)):
            if not math.isfinite(value):
                raise ChargerError("INVALID_REQUEST", f"{name} must be a finite number", name)
        if grace_s < 0:
            raise ChargerError("INVALID_REQUEST", "grace_s must not be negative", "grace_s")
        if end <= now:  # a conflict with the clock, not a malformed request
            raise ChargerError("WINDOW_OVER", "the reservation window is already over")
        if not start < end:
            raise ChargerError("INVALID_REQUEST", "a reservation must start before it ends")
        if reservation_id is not None:
            require_id("reservation_id", reservation_id)
            if reservation_id in self._by_id:
                raise ChargerError(
                    "RESERVATION_EXISTS", f"reservation {reservation_id!r} already exists"
                )

    def check_free(self, connector_id: str, start: float, end: float) -> None:
        """Refuse a window that overlaps another hold on the connector."""
        for other in self._by_id.values():
            if (
                other.connector_id == connector_id
                and other.status in HOLDING
                and start < other.end
                and other.start < end
            ):
                raise ChargerError(
                    "SLOT_TAKEN", f"connector {connector_id} is reserved by {other.id} then"
                )

    def open(
        self,
        connector: Connector,
        start: float,
        end: float,
        grace_s: float,
        now: float,
        reservation_id: str | None = None,
    ) -> Reservation:
        """Enter a checked reservation (PENDING until the simulator says otherwise)."""
        reservation = Reservation(
            id=reservation_id or self._ids.next(self._by_id),
            connector_id=connector.id,
            evse_id=connector.evse_id,
            start=start,
            end=end,
            grace_s=grace_s,
            created_at=now,
        )
        self._by_id[reservation.id] = reservation
        return reservation

    def deadlines(self) -> Iterator[float]:
        """The times at which a reservation may change status by itself."""
        for r in self._by_id.values():
            if r.status is ReservationStatus.PENDING:
                yield r.start
            elif r.status is ReservationStatus.ACTIVE:
                yield r.start + r.grace_s
                yield r.end

    def changes_due(
        self, t: float, connectors: Mapping[str, Connector]
    ) -> Iterator[tuple[Reservation, ReservationStatus, float]]:
        """The status changes due at or before `t`: (reservation, new status, when); an active
        reservation expires early when nobody is plugged into its connector (`connectors`).

        Lazy on purpose: apply each change before asking for the next, since a reservation
        can start holding and expire at the same instant, and the second change reads the
        first.
        """
        for r in list(self._by_id.values()):
            if r.status is ReservationStatus.PENDING and r.start <= t:
                yield r, ReservationStatus.ACTIVE, r.start
            if r.status is ReservationStatus.ACTIVE and (
                r.end <= t or (not connectors[r.connector_id].plugged and r.start + r.grace_s <= t)
            ):
                yield r, ReservationStatus.EXPIRED, t
