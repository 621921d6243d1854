"""Charger simulator: the charge point operator (CPO) platform behind the mock BPP.

It models a CPO platform's three functional components:

- resources: locations, charge points, EVSEs, connectors, tariffs, sessions, reservations;
- actions: the driver plugs in and unplugs, the platform starts and stops sessions remotely,
  reserves connectors, and a tester injects faults (connector fault, derating, cable pulled);
- notifications: events (session started/updated/stopped, meter values, connector and
  reservation status) go to subscriber callbacks and, through the app, to webhook URLs.

`Charger` is the domain core: no I/O, driven by an injected clock. `Clock` runs simulated time
`speed` times faster than real time; `ManualClock` moves only when told, which makes tests exact.
State is brought up to the clock by `tick()` (or `advance()`); readers do not tick.

`create_app(charger)` wraps one charger in the small JSON control API that tests and scenarios
drive, delivers its events to registered webhooks, and can tick it in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)

DEMO_EPOCH = 1736935200.0  # 2025-01-15T10:00:00Z: ManualClock's default, so runs are repeatable
MAX_ADVANCE_S = 7 * 24 * 3600.0  # one advance may not run longer than a week of simulated time
TAPER_START_SOC = 80.0  # constant-power phase ends here, like a typical Li-ion charge curve
MIN_TAPER = 0.1  # the taper never drops below a tenth of the available power
DC_BASE_VOLTAGE = 350.0
DC_VOLTAGE_PER_SOC = 0.6  # pack voltage rises with state of charge: 350 V empty, 410 V full
AC_PHASE_VOLTAGE = 230.0
MAX_URL_LENGTH = 2048
WEBHOOK_URL_PATTERN = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[^/?#]")
RFC3339_PATTERN = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII
)
MAX_ID_LENGTH = 64


class ConnectorType(StrEnum):
    CCS2 = "CCS2"
    TYPE2 = "TYPE2"
    CHADEMO = "CHADEMO"
    GB_T = "GB_T"
    TYPE1 = "TYPE1"


class PowerType(StrEnum):
    AC = "AC"
    DC = "DC"


class ConnectorStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    PREPARING = "PREPARING"
    CHARGING = "CHARGING"
    FINISHING = "FINISHING"
    UNAVAILABLE = "UNAVAILABLE"
    FAULTED = "FAULTED"
    RESERVED = "RESERVED"


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


class FaultKind(StrEnum):
    CONNECTOR_FAULT = "connector_fault"
    DERATING = "derating"
    CABLE_PULLED = "cable_pulled"


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
    """An action the charger refuses; `code` is stable (e.g. "NOT_PLUGGED"), `message` is prose."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def rfc3339(t: float) -> str:
    """Simulated epoch seconds as an RFC 3339 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


# --- clocks -----------------------------------------------------------------------------------


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


# --- resources --------------------------------------------------------------------------------


@dataclass
class Address:
    street: str
    locality: str
    region: str
    postal_code: str
    country: str = "IN"

    def as_dict(self) -> dict[str, Any]:
        return {
            "street": self.street,
            "locality": self.locality,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
        }


@dataclass
class Tariff:
    """A pricing rule: energy price, optional time price while charging, optional idle fee.

    The idle fee accrues per minute while a vehicle stays plugged in after its session
    completed, once `idle_grace_minutes` have passed.
    """

    id: str
    price_per_kwh: float
    currency: str = "INR"
    price_per_minute: float = 0.0
    idle_fee_per_minute: float = 0.0
    idle_grace_minutes: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "currency": self.currency,
            "price_per_kwh": self.price_per_kwh,
            "price_per_minute": self.price_per_minute,
            "idle_fee_per_minute": self.idle_fee_per_minute,
            "idle_grace_minutes": self.idle_grace_minutes,
        }


@dataclass
class Connector:
    """A plug and its live state; the charger owns and mutates the state fields."""

    id: str
    type: ConnectorType
    max_power_kw: float
    tariff_id: str
    power_type: PowerType = PowerType.DC
    phases: int = 3  # AC only: current is shared across phases
    status: ConnectorStatus = ConnectorStatus.AVAILABLE
    plugged: bool = False
    available: bool = True
    faulted: bool = False
    derating_factor: float = 1.0
    session_id: str | None = None  # the session of the vehicle plugged in now, ended or not
    evse_id: str = ""  # set when the site is assembled
    charge_point_id: str = ""
    location_id: str = ""

    @property
    def power_cap_kw(self) -> float:
        return self.max_power_kw * self.derating_factor

    @property
    def faults(self) -> list[str]:
        kinds: list[str] = []
        if self.faulted:
            kinds.append(FaultKind.CONNECTOR_FAULT.value)
        if self.derating_factor < 1.0:
            kinds.append(FaultKind.DERATING.value)
        return kinds


@dataclass
class EVSE:
    evse_id: str
    connectors: list[Connector]

    @property
    def status(self) -> ConnectorStatus:
        """The busiest of its connectors' statuses: an EVSE charges one vehicle at a time."""
        statuses = [c.status for c in self.connectors]
        for status in _EVSE_STATUS_PRECEDENCE:
            if status in statuses:
                return status
        return ConnectorStatus.UNAVAILABLE


_EVSE_STATUS_PRECEDENCE = (
    ConnectorStatus.CHARGING,
    ConnectorStatus.FINISHING,
    ConnectorStatus.PREPARING,
    ConnectorStatus.RESERVED,
    ConnectorStatus.AVAILABLE,
    ConnectorStatus.FAULTED,
    ConnectorStatus.UNAVAILABLE,
)


@dataclass
class ChargePoint:
    id: str
    name: str
    evses: list[EVSE]


@dataclass
class Location:
    id: str
    name: str
    latitude: float
    longitude: float
    address: Address
    charge_points: list[ChargePoint]

    def connectors(self) -> Iterator[Connector]:
        for charge_point in self.charge_points:
            for evse in charge_point.evses:
                yield from evse.connectors


@dataclass
class Site:
    """What the simulator simulates: locations down to connectors, and their tariffs."""

    locations: list[Location]
    tariffs: list[Tariff]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Site:
        """Build a site from plain data, e.g. a TOML table; the shape `GET /locations` answers."""
        tariffs = [
            Tariff(
                id=t["id"],
                price_per_kwh=float(t["price_per_kwh"]),
                currency=t.get("currency", "INR"),
                price_per_minute=float(t.get("price_per_minute", 0.0)),
                idle_fee_per_minute=float(t.get("idle_fee_per_minute", 0.0)),
                idle_grace_minutes=float(t.get("idle_grace_minutes", 0.0)),
            )
            for t in data["tariffs"]
        ]
        locations = []
        for loc in data["locations"]:
            coordinates = loc.get("coordinates", loc)
            address = loc.get("address", {})
            charge_points = [
                ChargePoint(
                    id=cp["id"],
                    name=cp.get("name", cp["id"]),
                    evses=[
                        EVSE(
                            evse_id=evse["evse_id"],
                            connectors=[
                                Connector(
                                    id=c["id"],
                                    type=ConnectorType(c["type"]),
                                    max_power_kw=float(c["max_power_kw"]),
                                    tariff_id=c["tariff_id"],
                                    power_type=PowerType(c.get("power_type", "DC")),
                                    phases=int(c.get("phases", 3)),
                                )
                                for c in evse["connectors"]
                            ],
                        )
                        for evse in cp["evses"]
                    ],
                )
                for cp in loc["charge_points"]
            ]
            locations.append(
                Location(
                    id=loc["id"],
                    name=loc["name"],
                    latitude=float(coordinates["latitude"]),
                    longitude=float(coordinates["longitude"]),
                    address=Address(
                        street=address.get("street", ""),
                        locality=address.get("locality", ""),
                        region=address.get("region", ""),
                        postal_code=address.get("postal_code", ""),
                        country=address.get("country", "IN"),
                    ),
                    charge_points=charge_points,
                )
            )
        return cls(locations=locations, tariffs=tariffs)


def demo_site() -> Site:
    """EcoPower BTM: a 60 kW CCS2 DC charge point at 18 INR/kWh and a 22 kW TYPE2 AC one."""
    return Site(
        locations=[
            Location(
                id="ecopower-btm",
                name="EcoPower BTM",
                latitude=12.9352,
                longitude=77.6245,
                address=Address(
                    street="EcoPower BTM Hub, 100 Ft Rd",
                    locality="Bengaluru",
                    region="Karnataka",
                    postal_code="560076",
                ),
                charge_points=[
                    ChargePoint(
                        id="cs-01",
                        name="DC Fast Charger - CCS2 (60kW)",
                        evses=[
                            EVSE(
                                evse_id="IND*ecopower-charging*cs-01*IN*ECO*BTM*01*CCS2*A",
                                connectors=[
                                    Connector(
                                        id="CCS2-A",
                                        type=ConnectorType.CCS2,
                                        max_power_kw=60.0,
                                        tariff_id="tariff-dc-ccs2",
                                        power_type=PowerType.DC,
                                    )
                                ],
                            )
                        ],
                    ),
                    ChargePoint(
                        id="cs-02",
                        name="AC Charger - Type 2 (22kW)",
                        evses=[
                            EVSE(
                                evse_id="IND*ecopower-charging*cs-02*IN*ECO*BTM*02*TYPE2*A",
                                connectors=[
                                    Connector(
                                        id="TYPE2-A",
                                        type=ConnectorType.TYPE2,
                                        max_power_kw=22.0,
                                        tariff_id="tariff-ac-type2",
                                        power_type=PowerType.AC,
                                        phases=3,
                                    )
                                ],
                            )
                        ],
                    ),
                ],
            )
        ],
        tariffs=[
            Tariff(id="tariff-dc-ccs2", price_per_kwh=18.0),
            Tariff(id="tariff-ac-type2", price_per_kwh=12.0),
        ],
    )


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
            "timestamp": rfc3339(self.timestamp),
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
            "started_at": rfc3339(self.started_at),
            "stopped_at": None if self.stopped_at is None else rfc3339(self.stopped_at),
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
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "grace_s": self.grace_s,
            "created_at": rfc3339(self.created_at),
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
            "timestamp": rfc3339(self.timestamp),
            "data": self.data,
        }


Subscriber = Callable[[Event], None]


# --- the simulator ----------------------------------------------------------------------------


class Charger:
    """The CPO platform simulator: resources, actions and notifications over simulated time.

    The charger owns `site` and keeps its connectors' live state in it. Not thread-safe: drive
    one charger from one thread (the app's event loop when served). Every action first brings
    the state up to the clock, so it happens "now".
    """

    def __init__(
        self,
        site: Site | None = None,
        *,
        clock: SimulatedClock | None = None,
        step_s: float = 1.0,
        meter_interval_s: float = 60.0,
        stop_delay_s: float = 2.0,
    ) -> None:
        if not (step_s > 0 and meter_interval_s > 0 and stop_delay_s >= 0):
            raise ValueError("step_s and meter_interval_s must be > 0, stop_delay_s >= 0")
        self.site = site if site is not None else demo_site()
        self.clock: SimulatedClock = clock if clock is not None else Clock()
        self.step_s = step_s  # integration step: power is constant within it
        self.meter_interval_s = meter_interval_s
        self.stop_delay_s = stop_delay_s  # how long a charge point takes to confirm a remote stop
        self._tariffs = {t.id: t for t in self.site.tariffs}
        self._locations = {loc.id: loc for loc in self.site.locations}
        self._connectors: dict[str, Connector] = {}
        for location in self.site.locations:
            for charge_point in location.charge_points:
                for evse in charge_point.evses:
                    for connector in evse.connectors:
                        self._adopt(connector, evse, charge_point, location)
        self._sessions: dict[str, Session] = {}
        self._reservations: dict[str, Reservation] = {}
        self._subscribers: list[Subscriber] = []
        self._sequence = 0
        self._counters = {"SESS": 0, "RESV": 0}
        self._time = self.clock.now()

    def _adopt(
        self, connector: Connector, evse: EVSE, charge_point: ChargePoint, location: Location
    ) -> None:
        if connector.id in self._connectors:
            raise ValueError(f"connector id {connector.id!r} appears twice in the site")
        if connector.tariff_id not in self._tariffs:
            raise ValueError(f"connector {connector.id!r}: unknown tariff {connector.tariff_id!r}")
        if connector.max_power_kw <= 0:
            raise ValueError(f"connector {connector.id!r} needs a positive max_power_kw")
        connector.evse_id = evse.evse_id
        connector.charge_point_id = charge_point.id
        connector.location_id = location.id
        self._connectors[connector.id] = connector

    # --- resources ----------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The simulated time the state has been brought up to."""
        return self._time

    def locations(self) -> list[Location]:
        return list(self._locations.values())

    def location(self, location_id: str) -> Location:
        try:
            return self._locations[location_id]
        except KeyError:
            raise ChargerError("UNKNOWN_LOCATION", f"no location {location_id!r}") from None

    def connectors(self) -> list[Connector]:
        return list(self._connectors.values())

    def connector(self, connector_id: str) -> Connector:
        try:
            return self._connectors[connector_id]
        except KeyError:
            raise ChargerError("UNKNOWN_CONNECTOR", f"no connector {connector_id!r}") from None

    def tariffs(self) -> list[Tariff]:
        return list(self._tariffs.values())

    def tariff(self, tariff_id: str) -> Tariff:
        try:
            return self._tariffs[tariff_id]
        except KeyError:
            raise ChargerError("UNKNOWN_TARIFF", f"no tariff {tariff_id!r}") from None

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def session(self, session_id: str) -> Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise ChargerError("UNKNOWN_SESSION", f"no session {session_id!r}") from None

    def reservations(self) -> list[Reservation]:
        return list(self._reservations.values())

    def reservation(self, reservation_id: str) -> Reservation:
        try:
            return self._reservations[reservation_id]
        except KeyError:
            raise ChargerError(
                "UNKNOWN_RESERVATION", f"no reservation {reservation_id!r}"
            ) from None

    def active_reservation(self, connector_id: str) -> Reservation | None:
        """The reservation holding the connector right now, if any."""
        for reservation in self._reservations.values():
            if (
                reservation.connector_id == connector_id
                and reservation.status is ReservationStatus.ACTIVE
            ):
                return reservation
        return None

    def connector_as_dict(self, connector: Connector) -> dict[str, Any]:
        reservation = self.active_reservation(connector.id)
        return {
            "id": connector.id,
            "type": connector.type.value,
            "power_type": connector.power_type.value,
            "max_power_kw": connector.max_power_kw,
            "power_cap_kw": round(connector.power_cap_kw, 2),
            "tariff_id": connector.tariff_id,
            "status": connector.status.value,
            "plugged": connector.plugged,
            "available": connector.available,
            "faults": connector.faults,
            "session_id": connector.session_id,
            "reservation_id": None if reservation is None else reservation.id,
            "evse_id": connector.evse_id,
            "charge_point_id": connector.charge_point_id,
            "location_id": connector.location_id,
        }

    def location_as_dict(self, location: Location) -> dict[str, Any]:
        return {
            "id": location.id,
            "name": location.name,
            "coordinates": {"latitude": location.latitude, "longitude": location.longitude},
            "address": location.address.as_dict(),
            "charge_points": [
                {
                    "id": cp.id,
                    "name": cp.name,
                    "evses": [
                        {
                            "evse_id": evse.evse_id,
                            "status": evse.status.value,
                            "connectors": [self.connector_as_dict(c) for c in evse.connectors],
                        }
                        for evse in cp.evses
                    ],
                }
                for cp in location.charge_points
            ],
        }

    # --- notifications ------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call `fn(event)` for every event from now on; returns a function that unsubscribes."""
        self._subscribers.append(fn)
        return lambda: self.unsubscribe(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(fn)

    def _emit(self, type_: EventType, at: float, data: dict[str, Any]) -> None:
        self._sequence += 1
        event = Event(sequence=self._sequence, type=type_, timestamp=at, data=data)
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:
                # a broken listener must not leave the simulation half-updated
                logger.exception("charger event subscriber %r failed on %s", fn, type_.value)

    def _refresh(self, connector: Connector, at: float) -> None:
        """Re-derive the connector's status from its state and announce a change."""
        status = self._derive_status(connector)
        if status is connector.status:
            return
        previous, connector.status = connector.status, status
        data = self.connector_as_dict(connector)
        data["previous_status"] = previous.value
        self._emit(EventType.CONNECTOR_STATUS, at, data)

    def _derive_status(self, connector: Connector) -> ConnectorStatus:
        session = self._sessions.get(connector.session_id or "")
        if connector.faulted:
            return ConnectorStatus.FAULTED
        if session is not None and session.status is SessionStatus.ACTIVE:
            return ConnectorStatus.CHARGING
        if session is not None and connector.plugged:
            return ConnectorStatus.FINISHING  # stopping, or ended with the vehicle still there
        if not connector.available:
            return ConnectorStatus.UNAVAILABLE
        if connector.plugged:
            return ConnectorStatus.PREPARING
        if self.active_reservation(connector.id) is not None:
            return ConnectorStatus.RESERVED
        return ConnectorStatus.AVAILABLE

    def _session_event(self, type_: EventType, session: Session, at: float) -> None:
        self._emit(type_, at, session.as_dict(at))

    def _set_reservation_status(
        self, reservation: Reservation, status: ReservationStatus, at: float, *, new: bool = False
    ) -> None:
        previous = None if new else reservation.status.value
        reservation.status = status
        data = reservation.as_dict()
        data["previous_status"] = previous
        self._emit(EventType.RESERVATION_STATUS, at, data)
        self._refresh(self.connector(reservation.connector_id), at)

    # --- the driver ---------------------------------------------------------------------------

    def plug_in(self, connector_id: str) -> Connector:
        """The driver plugs a vehicle in; physically possible even on a faulted connector."""
        self.tick()
        connector = self.connector(connector_id)
        if connector.plugged:
            raise ChargerError("ALREADY_PLUGGED", f"a vehicle is plugged into {connector_id}")
        connector.plugged = True
        self._refresh(connector, self._time)
        return connector

    def unplug(self, connector_id: str) -> Connector:
        """The driver unplugs; mid-charge this interrupts the session like a pulled cable."""
        self.tick()
        connector = self.connector(connector_id)
        if not connector.plugged:
            raise ChargerError("NOT_PLUGGED", f"no vehicle is plugged into {connector_id}")
        self._unplug(connector, self._time)
        return connector

    def _unplug(self, connector: Connector, at: float) -> None:
        session = self._sessions.get(connector.session_id or "")
        connector.plugged = False  # first, so the connector never shows FINISHING on the way
        if session is not None and session.status is SessionStatus.ACTIVE:
            self._finish(session, at, SessionStatus.INTERRUPTED, StopReason.CABLE_PULLED)
        elif session is not None and session.status is SessionStatus.STOP:
            self._finish(session, at, SessionStatus.COMPLETED, StopReason.REMOTE_STOP)
        connector.session_id = None
        if session is not None:
            session.unplugged_at = at
            if session.status is SessionStatus.COMPLETED:
                self._session_event(EventType.SESSION_UPDATED, session, at)  # idle fee is final
        self._refresh(connector, at)

    # --- commands -----------------------------------------------------------------------------

    def remote_start(
        self,
        connector_id: str,
        *,
        session_id: str | None = None,
        energy_limit_kwh: float | None = None,
        money_limit: float | None = None,
        reservation_id: str | None = None,
        vehicle_battery_kwh: float = 40.0,
        soc_start: float = 20.0,
        vehicle_max_power_kw: float | None = None,
    ) -> Session:
        """Start charging the plugged-in vehicle; the session stops itself at the first limit."""
        self.tick()
        now = self._time
        connector = self.connector(connector_id)
        _require_positive("energy_limit_kwh", energy_limit_kwh, optional=True)
        _require_positive("money_limit", money_limit, optional=True)
        _require_positive("vehicle_battery_kwh", vehicle_battery_kwh)
        _require_positive("vehicle_max_power_kw", vehicle_max_power_kw, optional=True)
        if not (math.isfinite(soc_start) and 0.0 <= soc_start < 100.0):
            raise ChargerError("INVALID_REQUEST", "soc_start must be at least 0 and below 100")
        if session_id is not None:
            _require_id("session_id", session_id)
            if session_id in self._sessions:
                raise ChargerError("SESSION_EXISTS", f"session {session_id!r} already exists")
        if connector.faulted:
            raise ChargerError("CONNECTOR_FAULTED", f"connector {connector_id} is faulted")
        current = self._sessions.get(connector.session_id or "")
        if current is not None and current.status in ONGOING:
            raise ChargerError(
                "BUSY", f"connector {connector_id} is in use by session {current.id}"
            )
        if not connector.available:
            raise ChargerError("CONNECTOR_UNAVAILABLE", f"connector {connector_id} is unavailable")
        if not connector.plugged:
            raise ChargerError("NOT_PLUGGED", f"no vehicle is plugged into {connector_id}")
        if current is not None:
            raise ChargerError(
                "BUSY", f"session {current.id} ended on {connector_id}: unplug and plug in again"
            )
        holding = self.active_reservation(connector_id)
        reservation = None
        if reservation_id is not None:
            reservation = self.reservation(reservation_id)
            if reservation is not holding:
                raise ChargerError(
                    "RESERVATION_NOT_ACTIVE",
                    f"reservation {reservation_id} does not hold {connector_id} now "
                    f"(it is {reservation.status.value} on {reservation.connector_id})",
                )
        elif holding is not None:
            raise ChargerError(
                "RESERVED_FOR_OTHER", f"connector {connector_id} is held by {holding.id}"
            )

        session = Session(
            id=session_id or self._next_id("SESS", self._sessions),
            connector_id=connector.id,
            evse_id=connector.evse_id,
            location_id=connector.location_id,
            tariff=replace(self.tariff(connector.tariff_id)),  # prices fixed at start
            vehicle_battery_kwh=vehicle_battery_kwh,
            soc_start=soc_start,
            started_at=now,
            energy_limit_kwh=energy_limit_kwh,
            money_limit=money_limit,
            vehicle_max_power_kw=vehicle_max_power_kw,
            reservation_id=reservation_id,
            soc=soc_start,
            next_sample_at=now + self.meter_interval_s,
        )
        self._sessions[session.id] = session
        connector.session_id = session.id
        session.power_kw = self._power_kw(connector, session)
        self._session_event(EventType.SESSION_STARTED, session, now)
        if reservation is not None:
            reservation.session_id = session.id
            self._set_reservation_status(reservation, ReservationStatus.USED, now)
        self._refresh(connector, now)
        self._sample(connector, session, now)
        return session

    def remote_stop(self, session_id: str, *, force: bool = False) -> Session:
        """Stop charging now; the session is STOP until the charge point confirms (or `force`)."""
        self.tick()
        session = self.session(session_id)
        if session.status in ENDED:
            raise ChargerError(
                "SESSION_ENDED", f"session {session_id} is already {session.status.value}"
            )
        now = self._time
        if session.status is SessionStatus.ACTIVE:
            connector = self.connector(session.connector_id)
            session.status = SessionStatus.STOP
            session.stop_requested_at = now
            session.power_kw = 0.0
            self._session_event(EventType.SESSION_UPDATED, session, now)
            self._refresh(connector, now)
        if force or self.stop_delay_s == 0:
            self._finish(session, now, SessionStatus.COMPLETED, StopReason.REMOTE_STOP)
        return session

    def reserve(
        self,
        connector_id: str,
        start: float,
        end: float,
        grace_s: float = 600.0,
        *,
        reservation_id: str | None = None,
    ) -> Reservation:
        """Hold a connector from `start` to `end` (simulated epoch seconds)."""
        self.tick()
        now = self._time
        connector = self.connector(connector_id)
        for name, value in (("start", start), ("end", end), ("grace_s", grace_s)):
            if not math.isfinite(value):
                raise ChargerError("INVALID_REQUEST", f"{name} must be a finite number")
        if grace_s < 0:
            raise ChargerError("INVALID_REQUEST", "grace_s must not be negative")
        if end <= now:  # a conflict with the clock, not a malformed request
            raise ChargerError("WINDOW_OVER", "the reservation window is already over")
        if not start < end:
            raise ChargerError("INVALID_REQUEST", "a reservation must start before it ends")
        if reservation_id is not None:
            _require_id("reservation_id", reservation_id)
            if reservation_id in self._reservations:
                raise ChargerError(
                    "RESERVATION_EXISTS", f"reservation {reservation_id!r} already exists"
                )
        if connector.faulted:
            raise ChargerError("CONNECTOR_FAULTED", f"connector {connector_id} is faulted")
        if not connector.available:
            raise ChargerError("CONNECTOR_UNAVAILABLE", f"connector {connector_id} is unavailable")
        for other in self._reservations.values():
            if (
                other.connector_id == connector_id
                and other.status in HOLDING
                and start < other.end
                and other.start < end
            ):
                raise ChargerError(
                    "SLOT_TAKEN", f"connector {connector_id} is reserved by {other.id} then"
                )
        current = self._sessions.get(connector.session_id or "")
        if start <= now and (connector.plugged or current is not None):
            raise ChargerError("BUSY", f"connector {connector_id} is occupied now")

        reservation = Reservation(
            id=reservation_id or self._next_id("RESV", self._reservations),
            connector_id=connector.id,
            evse_id=connector.evse_id,
            start=start,
            end=end,
            grace_s=grace_s,
            created_at=now,
        )
        self._reservations[reservation.id] = reservation
        status = ReservationStatus.ACTIVE if start <= now else ReservationStatus.PENDING
        self._set_reservation_status(reservation, status, now, new=True)
        return reservation

    def cancel_reservation(self, reservation_id: str) -> Reservation:
        self.tick()
        reservation = self.reservation(reservation_id)
        if reservation.status not in HOLDING:
            raise ChargerError(
                "RESERVATION_ENDED",
                f"reservation {reservation_id} is already {reservation.status.value}",
            )
        self._set_reservation_status(reservation, ReservationStatus.CANCELLED, self._time)
        return reservation

    def set_availability(self, connector_id: str, available: bool) -> Connector:
        """Operator switch; a running session finishes before the connector shows UNAVAILABLE."""
        self.tick()
        connector = self.connector(connector_id)
        connector.available = available
        self._refresh(connector, self._time)
        return connector

    # --- faults -------------------------------------------------------------------------------

    def inject_fault(
        self, connector_id: str, kind: FaultKind | str, *, factor: float = 0.5
    ) -> Connector:
        """Make something go wrong: a connector fault, derating to `factor`, or a pulled cable."""
        self.tick()
        now = self._time
        connector = self.connector(connector_id)
        try:
            fault = FaultKind(kind)
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ChargerError(
                "INVALID_REQUEST", f"unknown fault kind {kind!r}; expected one of {kinds}"
            ) from None
        session = self._sessions.get(connector.session_id or "")
        if fault is FaultKind.CONNECTOR_FAULT:
            connector.faulted = True
            if session is not None and session.status in ONGOING:
                self._finish(session, now, SessionStatus.INTERRUPTED, StopReason.CONNECTOR_FAULT)
            self._refresh(connector, now)
        elif fault is FaultKind.DERATING:
            if not (math.isfinite(factor) and 0.0 < factor <= 1.0):
                raise ChargerError("INVALID_REQUEST", "a derating factor must be in (0, 1]")
            connector.derating_factor = factor
            if session is not None and session.status is SessionStatus.ACTIVE:
                session.power_kw = self._power_kw(connector, session)
        else:
            if not connector.plugged:
                raise ChargerError("NOT_PLUGGED", f"no cable is plugged into {connector_id}")
            self._unplug(connector, now)
        return connector

    def clear_fault(self, connector_id: str) -> Connector:
        """Clear the connector fault and any derating; idempotent."""
        self.tick()
        connector = self.connector(connector_id)
        connector.faulted = False
        connector.derating_factor = 1.0
        session = self._sessions.get(connector.session_id or "")
        if session is not None and session.status is SessionStatus.ACTIVE:
            session.power_kw = self._power_kw(connector, session)
        self._refresh(connector, self._time)
        return connector

    # --- time ---------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` of simulated time ahead and simulate them."""
        if not (math.isfinite(seconds) and 0 <= seconds <= MAX_ADVANCE_S):
            raise ChargerError(
                "INVALID_REQUEST", f"seconds must be between 0 and {MAX_ADVANCE_S:.0f}"
            )
        self.tick()  # what happened before the jump happened at its own time
        self.clock.advance(seconds)
        self.tick()

    def tick(self) -> None:
        """Simulate from where the state is up to the clock's now, event by event."""
        now = self.clock.now()
        t = self._time
        while True:
            self._settle(t)
            if t >= now:
                break
            dt = min(now, self._next_deadline(t)) - t
            charging = [s for s in self._sessions.values() if s.status is SessionStatus.ACTIVE]
            if charging:
                dt = min(dt, self.step_s)
                for session in charging:
                    self._charge(session, t, dt)
            t += dt
        self._time = max(self._time, now)

    def _next_deadline(self, t: float) -> float:
        """The earliest time after `t` at which something changes without power flowing."""
        candidates = []
        for r in self._reservations.values():
            if r.status is ReservationStatus.PENDING:
                candidates.append(r.start)
            elif r.status is ReservationStatus.ACTIVE:
                candidates += [r.start + r.grace_s, r.end]
        for s in self._sessions.values():
            if s.status is SessionStatus.STOP and s.stop_requested_at is not None:
                candidates.append(s.stop_requested_at + self.stop_delay_s)
            elif s.status is SessionStatus.ACTIVE:
                candidates.append(s.next_sample_at)
        return min((c for c in candidates if c > t), default=math.inf)

    def _settle(self, t: float) -> None:
        """Apply every transition due at or before `t`."""
        for s in list(self._sessions.values()):
            if s.status is SessionStatus.ACTIVE and s.next_sample_at <= t:
                self._sample(self.connector(s.connector_id), s, t)
                while s.next_sample_at <= t:
                    s.next_sample_at += self.meter_interval_s
            elif (
                s.status is SessionStatus.STOP
                and s.stop_requested_at is not None
                and s.stop_requested_at + self.stop_delay_s <= t
            ):
                self._finish(s, t, SessionStatus.COMPLETED, StopReason.REMOTE_STOP)
        for r in list(self._reservations.values()):
            if r.status is ReservationStatus.PENDING and r.start <= t:
                self._set_reservation_status(r, ReservationStatus.ACTIVE, r.start)
            if r.status is ReservationStatus.ACTIVE:
                plugged = self.connector(r.connector_id).plugged
                if r.end <= t or (not plugged and r.start + r.grace_s <= t):
                    self._set_reservation_status(r, ReservationStatus.EXPIRED, t)

    def _power_kw(self, connector: Connector, session: Session) -> float:
        power = connector.power_cap_kw
        if session.vehicle_max_power_kw is not None:
            power = min(power, session.vehicle_max_power_kw)
        if session.soc > TAPER_START_SOC:
            taper = (100.0 - session.soc) / (100.0 - TAPER_START_SOC)
            power *= max(MIN_TAPER, taper)
        return power

    def _charge(self, session: Session, t: float, dt: float) -> None:
        """Deliver energy for `dt` seconds from `t`, stopping exactly at the first limit reached."""
        connector = self.connector(session.connector_id)
        power = self._power_kw(connector, session)
        energy = power * dt / 3600.0
        money = energy * session.tariff.price_per_kwh + dt / 60.0 * session.tariff.price_per_minute
        room_to_full = (100.0 - session.soc) / 100.0 * session.vehicle_battery_kwh
        # fraction of the step each limit allows; the first in this order wins a tie
        limits: list[tuple[float, StopReason]] = []
        if session.energy_limit_kwh is not None and energy > 0:
            room = session.energy_limit_kwh - session.energy_kwh
            limits.append((room / energy, StopReason.ENERGY_LIMIT))
        if session.money_limit is not None and money > 0:
            limits.append(((session.money_limit - session.cost) / money, StopReason.MONEY_LIMIT))
        if energy > 0:
            limits.append((room_to_full / energy, StopReason.BATTERY_FULL))
        fraction, reason = min(limits, key=lambda limit: limit[0], default=(math.inf, None))
        used = max(0.0, min(1.0, fraction))
        session.power_kw = power
        session.energy_kwh += energy * used
        session.charging_s += dt * used
        session.soc = min(100.0, session.soc + energy * used / session.vehicle_battery_kwh * 100.0)
        if reason is not None and fraction <= 1.0:
            if reason is StopReason.ENERGY_LIMIT and session.energy_limit_kwh is not None:
                session.energy_kwh = session.energy_limit_kwh  # no float dust past the limit
            elif reason is StopReason.BATTERY_FULL:
                session.soc = 100.0
            self._finish(session, t + dt * used, SessionStatus.COMPLETED, reason)

    def _sample(self, connector: Connector, session: Session, at: float) -> None:
        power = session.power_kw
        if connector.power_type is PowerType.DC:
            voltage = DC_BASE_VOLTAGE + DC_VOLTAGE_PER_SOC * session.soc
            current = power * 1000.0 / voltage
        else:
            voltage = AC_PHASE_VOLTAGE
            current = power * 1000.0 / (AC_PHASE_VOLTAGE * max(1, connector.phases))
        meter_value = MeterValue(
            timestamp=at,
            energy_kwh=session.energy_kwh,
            power_kw=power,
            soc_percent=session.soc,
            voltage_v=voltage,
            current_a=current,
        )
        session.meter_values.append(meter_value)
        self._emit(
            EventType.METER_VALUES,
            at,
            {
                "session_id": session.id,
                "connector_id": connector.id,
                "evse_id": connector.evse_id,
                "meter_value": meter_value.as_dict(),
            },
        )

    def _finish(
        self, session: Session, at: float, status: SessionStatus, reason: StopReason
    ) -> None:
        connector = self.connector(session.connector_id)
        session.power_kw = 0.0
        self._sample(connector, session, at)  # the closing meter reading
        session.status = status
        session.stop_reason = reason
        # energy stopped flowing when the stop was requested, not when it was confirmed
        requested = session.stop_requested_at
        session.stopped_at = requested if requested is not None else at
        self._session_event(EventType.SESSION_STOPPED, session, at)
        self._refresh(connector, at)

    def _next_id(self, prefix: str, taken: Mapping[str, Any]) -> str:
        while True:
            self._counters[prefix] += 1
            candidate = f"{prefix}-{self._counters[prefix]:04d}"
            if candidate not in taken:
                return candidate


def _require_positive(name: str, value: float | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or not (math.isfinite(value) and value > 0):
        raise ChargerError("INVALID_REQUEST", f"{name} must be a positive number")


def _require_id(name: str, value: str) -> None:
    # ids end up in URL paths, where a slash would make them unreachable
    if not 0 < len(value) <= MAX_ID_LENGTH or "/" in value:
        raise ChargerError(
            "INVALID_REQUEST", f"{name} must be 1-{MAX_ID_LENGTH} characters without '/'"
        )


# --- webhooks ---------------------------------------------------------------------------------


class Webhooks:
    """Delivers charger events to webhook URLs: one ordered queue and worker per URL.

    A slow or dead receiver delays only itself; delivery failures are logged and dropped.
    """

    def __init__(
        self,
        urls: list[str] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 2.0,
        max_pending: int = 1000,
    ) -> None:
        self._urls: list[str] = []
        self._transport = transport
        self._timeout_s = timeout_s
        self._max_pending = max_pending
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        for url in urls or []:
            self.add(url)

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    def add(self, url: str) -> bool:
        """Register `url`; False if it was registered already. Call from the app's loop."""
        _require_webhook_url(url)
        if url in self._urls:
            return False
        self._urls.append(url)
        if self._loop is not None:
            self._start_worker(url)
        return True

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(
            transport=self._transport, timeout=httpx.Timeout(self._timeout_s)
        )
        for url in self._urls:
            self._start_worker(url)

    async def stop(self) -> None:
        self._loop = None
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        self._queues.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def publish(self, event: Event) -> None:
        """Charger subscriber: safe to call from any thread; dropped unless the app is running."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under us: shutting down
            loop.call_soon_threadsafe(self._enqueue, event.as_dict())

    def _start_worker(self, url: str) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=self._max_pending)
        self._queues[url] = queue
        self._workers.append(asyncio.create_task(self._deliver(url, queue)))

    def _enqueue(self, payload: dict[str, Any]) -> None:
        for url, queue in self._queues.items():
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                logger.warning("webhook %s is %d events behind; dropping one", url, queue.qsize())

    async def _deliver(self, url: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        client = self._client
        assert client is not None  # workers start after the client
        while True:
            payload = await queue.get()
            try:
                response = await client.post(url, json=payload)
                if response.status_code >= 400:
                    logger.warning("webhook %s answered %d", url, response.status_code)
            except Exception as exc:
                # a receiver's failure must never stop the simulator or other receivers
                logger.warning("webhook %s failed: %s: %s", url, type(exc).__name__, exc)


def _require_webhook_url(url: str) -> None:
    # the same test the OpenAPI document states; anything subtler fails at delivery, logged
    if len(url) > MAX_URL_LENGTH or not WEBHOOK_URL_PATTERN.match(url):
        raise ChargerError(
            "INVALID_REQUEST",
            f"url must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters",
        )


# --- the control API --------------------------------------------------------------------------

_STATUS_BY_CODE = {
    "INVALID_JSON": 400,
    "INVALID_REQUEST": 400,
    "UNKNOWN_LOCATION": 404,
    "UNKNOWN_CONNECTOR": 404,
    "UNKNOWN_TARIFF": 404,
    "UNKNOWN_SESSION": 404,
    "UNKNOWN_RESERVATION": 404,
}  # every other refusal is a conflict with the charger's current state: 409

_CODE_BY_HTTP_STATUS = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def _on_charger_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChargerError)
    return _error(_STATUS_BY_CODE.get(exc.code, 409), exc.code, exc.message)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODE_BY_HTTP_STATUS.get(exc.status_code, f"HTTP_{exc.status_code}")
    return _error(exc.status_code, code, str(exc.detail), exc.headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ChargerError("INVALID_JSON", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ChargerError("INVALID_JSON", "the request body must be a JSON object")
    return data


def _string(body: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ChargerError("INVALID_REQUEST", f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ChargerError("INVALID_REQUEST", f"{key} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape could not be answered
        raise ChargerError("INVALID_REQUEST", f"{key} must be valid Unicode text") from None
    return value


def _number(body: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ChargerError("INVALID_REQUEST", f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChargerError("INVALID_REQUEST", f"{key} must be a number")
    try:
        return float(value)
    except OverflowError:
        raise ChargerError("INVALID_REQUEST", f"{key} is out of range") from None


def _timestamp(body: Mapping[str, Any], key: str) -> float:
    text = _string(body, key, required=True)
    assert text is not None
    try:
        if not RFC3339_PATTERN.fullmatch(text.upper()):
            raise ValueError(text)
        seconds = datetime.fromisoformat(text.upper()).timestamp()
        rfc3339(seconds)  # we must be able to print it back: within years 1-9999 in UTC
    except (ValueError, OverflowError, OSError):
        raise ChargerError(
            "INVALID_REQUEST", f"{key} must be an RFC 3339 date-time, e.g. 2025-01-15T10:00:00Z"
        ) from None
    return seconds


def _charger(request: Request) -> Charger:
    """The app's charger, brought up to its clock so every answer is current."""
    charger: Charger = request.app.state.charger
    charger.tick()
    return charger


def _clock_as_dict(charger: Charger) -> dict[str, Any]:
    return {"now": charger.now, "time": rfc3339(charger.now), "speed": charger.clock.speed}


async def list_locations(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([charger.location_as_dict(loc) for loc in charger.locations()])


async def get_location(request: Request) -> Response:
    charger = _charger(request)
    location = charger.location(request.path_params["location_id"])
    return JSONResponse(charger.location_as_dict(location))


async def list_connectors(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([charger.connector_as_dict(c) for c in charger.connectors()])


async def get_connector(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.connector(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def plug_in(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.plug_in(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def unplug(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.unplug(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def inject_fault(request: Request) -> Response:
    charger = _charger(request)
    connector_id = request.path_params["connector_id"]
    charger.connector(connector_id)  # an unknown connector is a 404 whatever the body says
    body = await _json_object(request)
    kind = _string(body, "kind", required=True)
    assert kind is not None
    factor = _number(body, "factor")
    if factor is not None and not 0 < factor <= 1:
        raise ChargerError("INVALID_REQUEST", "factor must be in (0, 1]")
    connector = charger.inject_fault(connector_id, kind, factor=0.5 if factor is None else factor)
    return JSONResponse(charger.connector_as_dict(connector))


async def clear_fault(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.clear_fault(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def set_availability(request: Request) -> Response:
    charger = _charger(request)
    connector_id = request.path_params["connector_id"]
    charger.connector(connector_id)
    body = await _json_object(request)
    available = body.get("available")
    if not isinstance(available, bool):
        raise ChargerError("INVALID_REQUEST", "available is required and must be true or false")
    connector = charger.set_availability(connector_id, available)
    return JSONResponse(charger.connector_as_dict(connector))


async def list_tariffs(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([t.as_dict() for t in charger.tariffs()])


async def list_sessions(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([s.as_dict(charger.now) for s in charger.sessions()])


async def get_session(request: Request) -> Response:
    charger = _charger(request)
    session = charger.session(request.path_params["session_id"])
    return JSONResponse(session.as_dict(charger.now, meter_values=True))


async def start_session(request: Request) -> Response:
    charger = _charger(request)
    body = await _json_object(request)
    connector_id = _string(body, "connector_id", required=True)
    assert connector_id is not None
    battery = _number(body, "vehicle_battery_kwh")
    soc_start = _number(body, "soc_start")
    session = charger.remote_start(
        connector_id,
        session_id=_string(body, "session_id"),
        energy_limit_kwh=_number(body, "energy_limit_kwh"),
        money_limit=_number(body, "money_limit"),
        reservation_id=_string(body, "reservation_id"),
        vehicle_battery_kwh=40.0 if battery is None else battery,
        soc_start=20.0 if soc_start is None else soc_start,
        vehicle_max_power_kw=_number(body, "vehicle_max_power_kw"),
    )
    return JSONResponse(session.as_dict(charger.now, meter_values=True), status_code=201)


async def stop_session(request: Request) -> Response:
    charger = _charger(request)
    body = await _json_object(request)
    session_id = _string(body, "session_id", required=True)
    assert session_id is not None
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise ChargerError("INVALID_REQUEST", "force must be true or false")
    session = charger.remote_stop(session_id, force=force)
    return JSONResponse(session.as_dict(charger.now, meter_values=True))


async def list_reservations(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([r.as_dict() for r in charger.reservations()])


async def get_reservation(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse(charger.reservation(request.path_params["reservation_id"]).as_dict())


async def create_reservation(request: Request) -> Response:
    charger = _charger(request)
    body = await _json_object(request)
    connector_id = _string(body, "connector_id", required=True)
    assert connector_id is not None
    grace_s = _number(body, "grace_s")
    if grace_s is not None and not 0 <= grace_s <= 86400:
        raise ChargerError("INVALID_REQUEST", "grace_s must be between 0 and 86400")
    reservation = charger.reserve(
        connector_id,
        _timestamp(body, "start"),
        _timestamp(body, "end"),
        600.0 if grace_s is None else grace_s,
        reservation_id=_string(body, "reservation_id"),
    )
    return JSONResponse(reservation.as_dict(), status_code=201)


async def cancel_reservation(request: Request) -> Response:
    charger = _charger(request)
    reservation = charger.cancel_reservation(request.path_params["reservation_id"])
    return JSONResponse(reservation.as_dict())


async def get_clock(request: Request) -> Response:
    return JSONResponse(_clock_as_dict(_charger(request)))


async def advance_clock(request: Request) -> Response:
    charger = _charger(request)
    body = await _json_object(request)
    seconds = _number(body, "seconds", required=True)
    assert seconds is not None
    charger.advance(seconds)
    return JSONResponse(_clock_as_dict(charger))


async def list_webhooks(request: Request) -> Response:
    webhooks: Webhooks = request.app.state.webhooks
    return JSONResponse([{"url": url} for url in webhooks.urls])


async def register_webhook(request: Request) -> Response:
    webhooks: Webhooks = request.app.state.webhooks
    body = await _json_object(request)
    url = _string(body, "url", required=True)
    assert url is not None
    created = webhooks.add(url)
    return JSONResponse({"url": url}, status_code=201 if created else 200)


def create_app(
    charger: Charger,
    *,
    webhook_urls: list[str] | None = None,
    auto_tick: bool = True,
    tick_interval_s: float = 0.2,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The charger's JSON control API.

    `auto_tick` runs the simulation in real time (a tick every `tick_interval_s` real seconds)
    while the app is served; without it time moves on `POST /clock/advance` and as the clock
    does, brought up to date on every request. `webhook_transport` replaces the network in tests.
    """
    webhooks = Webhooks(webhook_urls, transport=webhook_transport)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await webhooks.start()
        unsubscribe = charger.subscribe(webhooks.publish)
        ticker = asyncio.create_task(_run_clock(charger, tick_interval_s)) if auto_tick else None
        try:
            yield
        finally:
            unsubscribe()
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await webhooks.stop()

    app = Starlette(
        routes=[_route(path, endpoints) for path, endpoints in ROUTES.items()],
        lifespan=lifespan,
        exception_handlers={ChargerError: _on_charger_error, HTTPException: _on_http_error},
    )
    app.state.charger = charger
    app.state.webhooks = webhooks
    return app


Endpoint = Callable[[Request], Awaitable[Response]]

ROUTES: dict[str, dict[str, Endpoint]] = {
    "/locations": {"GET": list_locations},
    "/locations/{location_id}": {"GET": get_location},
    "/connectors": {"GET": list_connectors},
    "/connectors/{connector_id}": {"GET": get_connector},
    "/connectors/{connector_id}/plug-in": {"POST": plug_in},
    "/connectors/{connector_id}/unplug": {"POST": unplug},
    "/connectors/{connector_id}/fault": {"POST": inject_fault, "DELETE": clear_fault},
    "/connectors/{connector_id}/availability": {"POST": set_availability},
    "/tariffs": {"GET": list_tariffs},
    "/sessions": {"GET": list_sessions},
    "/sessions/{session_id}": {"GET": get_session},
    "/commands/start-session": {"POST": start_session},
    "/commands/stop-session": {"POST": stop_session},
    "/reservations": {"GET": list_reservations, "POST": create_reservation},
    "/reservations/{reservation_id}": {"GET": get_reservation, "DELETE": cancel_reservation},
    "/clock": {"GET": get_clock},
    "/clock/advance": {"POST": advance_clock},
    "/webhooks": {"GET": list_webhooks, "POST": register_webhook},
}


def _route(path: str, endpoints: dict[str, Endpoint]) -> Route:
    """One route per path, dispatching on method, so a 405 names every allowed method."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await endpoints[method](request)

    return Route(path, endpoint, methods=list(endpoints))


async def _run_clock(charger: Charger, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)  # pacing, not synchronisation: the clock says what's due
        try:
            charger.tick()
        except Exception:
            logger.exception("charger tick failed; real-time simulation stops")
            raise
