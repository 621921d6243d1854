"""What happens at the site: sessions with their meter values, reservations, and the events
that announce them; their statuses, and the refusal (`ChargerError`) every action may raise.

Plain records the simulator creates and updates; each shows itself as the API answers it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from harness.beckn import time as wire_time
from mocks.charger.site import Tariff

T = TypeVar("T")
MAX_ID_LENGTH = 64


class SessionStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    STOP = "STOP"  # a remote stop was accepted; the charge point has not confirmed it yet
    COMPLETED = "COMPLETED"
    INTERRUPTED = "INTERRUPTED"


class StopReason(StrEnum):
    ENERGY_LIMIT = "ENERGY_LIMIT"
    MONEY_LIMIT = "MONEY_LIMIT"
    BATTERY_FULL = "BATTERY_FULL"
    REMOTE_STOP = "REMOTE_STOP"
    CONNECTOR_FAULT = "CONNECTOR_FAULT"
    CABLE_PULLED = "CABLE_PULLED"


class ReservationStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    USED = "USED"


class EventType(StrEnum):
    SESSION_STARTED = "session_started"
    SESSION_UPDATED = "session_updated"
    SESSION_STOPPED = "session_stopped"
    METER_VALUES = "meter_values"
    CONNECTOR_STATUS = "connector_status"
    RESERVATION_STATUS = "reservation_status"


ENDED = frozenset({SessionStatus.COMPLETED, SessionStatus.INTERRUPTED})
ONGOING = frozenset({SessionStatus.PENDING, SessionStatus.ACTIVE, SessionStatus.STOP})
HOLDING = frozenset({ReservationStatus.PENDING, ReservationStatus.ACTIVE})


class ChargerError(Exception):
    """An action the charger refuses; `code` is stable (e.g. "NOT_PLUGGED"), `message` is prose,
    `field` names the argument at fault when one is."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


def known(table: Mapping[str, T], key: str, kind: str) -> T:
    """`table[key]`, or the charger's 404 refusal for an unknown `kind` (UNKNOWN_CONNECTOR...)."""
    try:
        return table[key]
    except KeyError:
        raise ChargerError(f"UNKNOWN_{kind.upper()}", f"no {kind} {key!r}") from None


def require_id(name: str, value: str) -> None:
    """Refuse a caller-chosen id we could not serve: ids end up in URL paths."""
    if not 0 < len(value) <= MAX_ID_LENGTH or "/" in value:
        raise ChargerError(
            "INVALID_REQUEST", f"{name} must be 1-{MAX_ID_LENGTH} characters without '/'", name
        )


class IdSequence:
    """Ids like SESS-0001, in order, skipping any a caller has chosen already."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._count = 0

    def next(self, taken: Container[str]) -> str:
        while True:
            self._count += 1
            candidate = f"{self.prefix}-{self._count:04d}"
            if candidate not in taken:
                return candidate


@dataclass
class MeterValue:
    timestamp: float
    energy_kwh: float
    power_kw: float
    soc_percent: float
    voltage_v: float
    current_a: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "timestamp": wire_time.format(self.timestamp),
            "energy_kwh": round(self.energy_kwh, 4),
            "power_kw": round(self.power_kw, 2),
            "soc_percent": round(self.soc_percent, 2),
            "voltage_v": round(self.voltage_v, 1),
            "current_a": round(self.current_a, 2),
        }


@dataclass
class Session:
    """One charging session (its CDR once ended), with the order's limits and the vehicle.

    A remote start needs a vehicle plugged in, so sessions begin ACTIVE; PENDING is in the
    enum for the order states that come before (UBC: confirmed, not yet started).
    """

    id: str
    connector_id: str
    evse_id: str
    location_id: str
    tariff: Tariff
    vehicle_battery_kwh: float
    soc_start: float
    started_at: float
    energy_limit_kwh: float | None = None
    money_limit: float | None = None
    vehicle_max_power_kw: float | None = None
    reservation_id: str | None = None
    status: SessionStatus = SessionStatus.ACTIVE
    soc: float = 0.0
    energy_kwh: float = 0.0
    power_kw: float = 0.0
    charging_s: float = 0.0
    stop_requested_at: float | None = None
    stopped_at: float | None = None
    stop_reason: StopReason | None = None
    unplugged_at: float | None = None
    next_sample_at: float = 0.0
    meter_values: list[MeterValue] = field(default_factory=list)

    @property
    def energy_cost(self) -> float:
        return self.energy_kwh * self.tariff.price_per_kwh

    @property
    def time_cost(self) -> float:
        return self.charging_s / 60.0 * self.tariff.price_per_minute

    @property
    def cost(self) -> float:
        """What the money limit bounds: energy plus charging time."""
        return self.energy_cost + self.time_cost

    def idle_fee(self, now: float) -> float:
        """Fee for staying plugged in after completion; interruptions are not the driver's fault."""
        if self.status is not SessionStatus.COMPLETED or self.stopped_at is None:
            return 0.0
        until = self.unplugged_at if self.unplugged_at is not None else now
        idle_minutes = (until - self.stopped_at) / 60.0 - self.tariff.idle_grace_minutes
        return max(0.0, idle_minutes) * self.tariff.idle_fee_per_minute

    def as_dict(self, now: float, *, meter_values: bool = False) -> dict[str, Any]:
        idle_fee = self.idle_fee(now)
        end = self.stopped_at if self.stopped_at is not None else now
        data: dict[str, Any] = {
            "id": self.id,
            "connector_id": self.connector_id,
            "evse_id": self.evse_id,
            "location_id": self.location_id,
            "tariff_id": self.tariff.id,
            "currency": self.tariff.currency,
            "status": self.status.value,
            "reservation_id": self.reservation_id,
            "energy_limit_kwh": self.energy_limit_kwh,
            "money_limit": self.money_limit,
            "vehicle_battery_kwh": self.vehicle_battery_kwh,
            "vehicle_max_power_kw": self.vehicle_max_power_kw,
            "soc_start": round(self.soc_start, 2),
            "soc_percent": round(self.soc, 2),
            "energy_kwh": round(self.energy_kwh, 4),
            "power_kw": round(self.power_kw, 2),
            "energy_cost": round(self.energy_cost, 2),
            "time_cost": round(self.time_cost, 2),
            "cost": round(self.cost, 2),
            "idle_fee": round(idle_fee, 2),
            "total_cost": round(self.cost + idle_fee, 2),
            "started_at": wire_time.format(self.started_at),
            "stopped_at": None if self.stopped_at is None else wire_time.format(self.stopped_at),
            "stop_reason": None if self.stop_reason is None else self.stop_reason.value,
            "duration_s": round(max(0.0, end - self.started_at), 3),
        }
        if meter_values:
            data["meter_values"] = [mv.as_dict() for mv in self.meter_values]
        return data


@dataclass
class Reservation:
    """A connector held for one driver from `start`; released if nobody plugs in by the grace."""

    id: str
    connector_id: str
    evse_id: str
    start: float
    end: float
    grace_s: float
    created_at: float
    status: ReservationStatus = ReservationStatus.PENDING
    session_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connector_id": self.connector_id,
            "evse_id": self.evse_id,
            "status": self.status.value,
            "start": wire_time.format(self.start),
            "end": wire_time.format(self.end),
            "grace_s": self.grace_s,
            "created_at": wire_time.format(self.created_at),
            "session_id": self.session_id,
        }


@dataclass
class Event:
    """A notification; `data` is a snapshot taken when it was emitted."""

    sequence: int
    type: EventType
    timestamp: float
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "type": self.type.value,
            "timestamp": wire_time.format(self.timestamp),
            "data": self.data,
        }


Subscriber = Callable[[Event], None]
