"""Charger simulator: the charge point operator (CPO) platform behind the mock BPP.

A CPO platform on a simulated clock: resources (locations down to connectors, tariffs,
sessions, reservations), actions (plug in, remote start and stop, reserve, inject faults) and
notifications (events to subscribers, and through the app to webhook URLs).

    site.py          what is simulated: locations, charge points, EVSEs, connectors, tariffs
    model.py         what happens there: sessions, meter values, reservations, events, refusals
    clock.py         simulated time, and the ticker that keeps a charger up to its clock
    simulator.py     the Charger state machine
    physics.py       how a vehicle charges: power, energy against limits, meter readings
    reservations.py  the reservation book: holds, overlaps, expiry
    webhooks.py      delivery of events to webhook URLs
    api.py           the JSON control API (schemas/openapi/charger.yaml): `create_app`
"""

from mocks.charger.api import create_app
from mocks.charger.clock import DEMO_EPOCH, Clock, ManualClock, SimulatedClock, run_ticker
from mocks.charger.model import (
    ENDED,
    HOLDING,
    ONGOING,
    ChargerError,
    Event,
    EventType,
    MeterValue,
    Reservation,
    ReservationStatus,
    Session,
    SessionStatus,
    StopReason,
    Subscriber,
)
from mocks.charger.simulator import Charger
from mocks.charger.site import (
    EVSE,
    Address,
    ChargePoint,
    Connector,
    ConnectorStatus,
    ConnectorType,
    FaultKind,
    Location,
    PowerType,
    Site,
    Tariff,
    demo_site,
)
from mocks.charger.webhooks import Webhooks

__all__ = [
    "DEMO_EPOCH",
    "ENDED",
    "EVSE",
    "HOLDING",
    "ONGOING",
    "Address",
    "ChargePoint",
    "Charger",
    "ChargerError",
    "Clock",
    "Connector",
    "ConnectorStatus",
    "ConnectorType",
    "Event",
    "EventType",
    "FaultKind",
    "Location",
    "ManualClock",
    "MeterValue",
    "PowerType",
    "Reservation",
    "ReservationStatus",
    "Session",
    "SessionStatus",
    "SimulatedClock",
    "Site",
    "StopReason",
    "Subscriber",
    "Tariff",
    "Webhooks",
    "create_app",
    "demo_site",
    "run_ticker",
]
