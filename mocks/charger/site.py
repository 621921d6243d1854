"""What the charger simulates: locations, charge points, EVSEs, connectors and their tariffs.

A site is plain data: built by hand, from a TOML-like table (`Site.from_dict`) or as the demo
site every run uses (`demo_site`). The connectors also hold their live state (plugged, faulted,
status, ...), which only the simulator changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


class FaultKind(StrEnum):
    CONNECTOR_FAULT = "connector_fault"
    DERATING = "derating"
    CABLE_PULLED = "cable_pulled"


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

    def as_dict(self, reservation_id: str | None) -> dict[str, Any]:
        """The connector as the API shows it; `reservation_id` is the one holding it now."""
        return {
            "id": self.id,
            "type": self.type.value,
            "power_type": self.power_type.value,
            "max_power_kw": self.max_power_kw,
            "power_cap_kw": round(self.power_cap_kw, 2),
            "tariff_id": self.tariff_id,
            "status": self.status.value,
            "plugged": self.plugged,
            "available": self.available,
            "faults": self.faults,
            "session_id": self.session_id,
            "reservation_id": reservation_id,
            "evse_id": self.evse_id,
            "charge_point_id": self.charge_point_id,
            "location_id": self.location_id,
        }


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

    def as_dict(self, connector_view: Callable[[Connector], dict[str, Any]]) -> dict[str, Any]:
        """The location down to its connectors, each shown by `connector_view`."""
        return {
            "id": self.id,
            "name": self.name,
            "coordinates": {"latitude": self.latitude, "longitude": self.longitude},
            "address": self.address.as_dict(),
            "charge_points": [
                {
                    "id": cp.id,
                    "name": cp.name,
                    "evses": [
                        {
                            "evse_id": evse.evse_id,
                            "status": evse.status.value,
                            "connectors": [connector_view(c) for c in evse.connectors],
                        }
                        for evse in cp.evses
                    ],
                }
                for cp in self.charge_points
            ],
        }


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
        return cls(locations=[_location(loc) for loc in data["locations"]], tariffs=tariffs)

    def assemble(self) -> dict[str, Connector]:
        """Every connector by id, told where it sits; ValueError when the site is inconsistent."""
        tariff_ids = {t.id for t in self.tariffs}
        connectors: dict[str, Connector] = {}
        for location in self.locations:
            for charge_point in location.charge_points:
                for evse in charge_point.evses:
                    for connector in evse.connectors:
                        _check(connector, connectors, tariff_ids)
                        connector.evse_id = evse.evse_id
                        connector.charge_point_id = charge_point.id
                        connector.location_id = location.id
                        connectors[connector.id] = connector
        return connectors


def _check(connector: Connector, seen: Mapping[str, Connector], tariff_ids: set[str]) -> None:
    if connector.id in seen:
        raise ValueError(f"connector id {connector.id!r} appears twice in the site")
    if connector.tariff_id not in tariff_ids:
        raise ValueError(f"connector {connector.id!r}: unknown tariff {connector.tariff_id!r}")
    if connector.max_power_kw <= 0:
        raise ValueError(f"connector {connector.id!r} needs a positive max_power_kw")


def _location(data: Mapping[str, Any]) -> Location:
    coordinates = data.get("coordinates", data)
    address = data.get("address", {})
    return Location(
        id=data["id"],
        name=data["name"],
        latitude=float(coordinates["latitude"]),
        longitude=float(coordinates["longitude"]),
        address=Address(
            street=address.get("street", ""),
            locality=address.get("locality", ""),
            region=address.get("region", ""),
            postal_code=address.get("postal_code", ""),
            country=address.get("country", "IN"),
        ),
        charge_points=[
            ChargePoint(
                id=cp["id"],
                name=cp.get("name", cp["id"]),
                evses=[
                    EVSE(
                        evse_id=evse["evse_id"],
                        connectors=[_connector(c) for c in evse["connectors"]],
                    )
                    for evse in cp["evses"]
                ],
            )
            for cp in data["charge_points"]
        ],
    )


def _connector(data: Mapping[str, Any]) -> Connector:
    return Connector(
        id=data["id"],
        type=ConnectorType(data["type"]),
        max_power_kw=float(data["max_power_kw"]),
        tariff_id=data["tariff_id"],
        power_type=PowerType(data.get("power_type", "DC")),
        phases=int(data.get("phases", 3)),
    )


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
