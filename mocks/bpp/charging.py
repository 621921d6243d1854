"""An order on the charger: the slot it holds (TSD §12.4), the session it starts with the
order's limits, and the stop that makes the session's record final.

Every function raises the charger's `ChargerError` when the charger refuses; the service turns
that into a business error in the callback.
"""

from __future__ import annotations

import contextlib

from harness.beckn import time as wire_time
from mocks.bpp.config import BppConfig
from mocks.bpp.orders import OrderRecord
from mocks.charger import (
    ENDED,
    HOLDING,
    Charger,
    ChargerError,
    Reservation,
    ReservationStatus,
    Session,
)


def slot_conflict(record: OrderRecord, charger: Charger) -> str | None:
    """Why the order's slot cannot be had (TSD §12.4), or None."""
    if record.slot is None:
        return None
    start, end = record.slot
    for reservation in charger.reservations():
        if reservation.connector_id == record.connector_id and \
                reservation.status in HOLDING and reservation.id != record.reservation_id \
                and start < reservation.end and reservation.start < end:
            held = (wire_time.format(reservation.start), wire_time.format(reservation.end))
            return f"Requested slot overlaps with an existing booking ({held[0]} to {held[1]})"
    return None


def _hold_start(record: OrderRecord, charger: Charger) -> float:
    """When the charger holds the connector: the slot's start, except that a car whose
    session has ended does not block a slot starting now (it is leaving; the charger
    refuses only a hold that starts while it is still plugged, so it starts a second
    later)."""
    assert record.slot is not None
    start, now = record.slot[0], charger.now
    connector = charger.connector(record.connector_id)
    if start <= now and connector.plugged and connector.session_id is not None and \
            charger.session(connector.session_id).status in ENDED:
        return now + 1.0
    return start


def reserve(record: OrderRecord, charger: Charger, config: BppConfig) -> None:
    """Hold the connector for the order's slot, once (an order without a slot holds none)."""
    if record.slot is None or record.reservation_id is not None:
        return
    record.reservation_id = charger.reserve(record.connector_id, _hold_start(record, charger),
                                            record.slot[1], config.reservation_grace_s).id


def release(record: OrderRecord, charger: Charger) -> None:
    """Give the order's hold back, if it still has one."""
    if record.reservation_id is not None:
        with contextlib.suppress(ChargerError):  # it may have expired already
            charger.cancel_reservation(record.reservation_id)


def _early_hold(record: OrderRecord, charger: Charger, config: BppConfig) -> Reservation | None:
    """The order's own hold when it has not begun yet but begins within
    `early_start_s`: a driver who arrives that early may charge at once."""
    if record.reservation_id is None:
        return None
    charger.tick()
    reservation = charger.reservation(record.reservation_id)
    if reservation.status is ReservationStatus.PENDING and \
            reservation.start - charger.now <= config.early_start_s:
        return reservation
    return None


def start(record: OrderRecord, charger: Charger, config: BppConfig) -> Session:
    """Start the order's session with its limit (energy, or money), plus the energy a charger
    that fails to stop delivers past it (`limit_overrun_kwh`)."""
    overrun = config.limit_overrun_kwh
    energy_limit = money_limit = None
    if record.money_limit is not None:
        money_limit = record.money_limit + overrun * record.unit_price
    else:
        energy_limit = (record.quantity_kwh or config.default_energy_kwh) + overrun
    early = _early_hold(record, charger, config)
    if early is not None:  # the driver is a little early: the hold is not needed now
        charger.cancel_reservation(early.id)
        record.reservation_id = None
    try:
        return charger.remote_start(
            record.connector_id, energy_limit_kwh=energy_limit, money_limit=money_limit,
            reservation_id=record.reservation_id,
            vehicle_battery_kwh=config.vehicle_battery_kwh, soc_start=config.vehicle_soc_start)
    except ChargerError:
        if early is not None:  # keep the booking for when the driver can start
            record.reservation_id = charger.reserve(
                early.connector_id, early.start, early.end, early.grace_s).id
        raise


def stop(record: OrderRecord, charger: Charger) -> Session:
    """The order's session, stopped: its record is final at once (the charge point's stop
    confirmation is not awaited)."""
    assert record.session_id is not None
    session = charger.session(record.session_id)
    if session.status in ENDED:
        return session
    return charger.remote_stop(record.session_id, force=True)
