"""The charger simulator: charging physics and limits, faults, reservations, notifications,
its control API (checked against schemas/openapi/charger.yaml) and webhook delivery."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from harness.beckn import time as wire_time
from mocks.charger import (
    DEMO_EPOCH,
    Charger,
    ChargerError,
    Clock,
    ConnectorStatus,
    Event,
    ManualClock,
    ReservationStatus,
    SessionStatus,
    Site,
    StopReason,
    create_app,
    demo_site,
    run_ticker,
)
from mocks.charger.clock import TURN_STEPS
from mocks.stack.http import MAX_CONTROL_BODY_BYTES

DC = "CCS2-A"  # 60 kW CCS2, 18 INR/kWh
AC = "TYPE2-A"  # 22 kW TYPE2, 12 INR/kWh
OPENAPI = Path(__file__).resolve().parent.parent / "schemas" / "openapi" / "charger.yaml"
WAIT_S = 5.0  # the bound on every wait for another thread


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def charger(clock: ManualClock) -> Charger:
    return Charger(clock=clock)


@pytest.fixture
def events(charger: Charger) -> list[Event]:
    recorded: list[Event] = []
    charger.subscribe(recorded.append)
    return recorded


def of_type(events: list[Event], type_: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == type_]


def refused(code: str) -> Any:
    return pytest.raises(ChargerError, match=f"^{code}:")


def start_charging(charger: Charger, connector_id: str = DC, **kwargs: Any) -> Any:
    charger.plug_in(connector_id)
    return charger.remote_start(connector_id, **kwargs)


# --- limits -----------------------------------------------------------------------------------


def test_charging_to_an_energy_limit_stops_with_energy_limit(
    charger: Charger, events: list[Event]
) -> None:
    session = start_charging(charger, energy_limit_kwh=10, vehicle_battery_kwh=60, soc_start=20)

    charger.advance(3600)

    assert session.status is SessionStatus.COMPLETED
    assert session.stop_reason is StopReason.ENERGY_LIMIT
    assert session.energy_kwh == pytest.approx(10.0, abs=1e-6)
    assert session.stopped_at == pytest.approx(DEMO_EPOCH + 600, abs=1e-3)  # 10 kWh at 60 kW
    assert session.cost == pytest.approx(180.0)
    assert charger.connector(DC).status is ConnectorStatus.FINISHING
    stopped = of_type(events, "session_stopped")
    assert [s["stop_reason"] for s in stopped] == ["ENERGY_LIMIT"]
    assert stopped[0]["energy_kwh"] == pytest.approx(10.0)


def count_steps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The length of every integration step the simulator takes from now on."""
    from mocks.charger import physics

    steps: list[float] = []
    charge = physics.charge

    def counted(session: Any, power: float, dt: float) -> Any:
        steps.append(dt)
        return charge(session, power, dt)
    monkeypatch.setattr(physics, "charge", counted)
    return steps


def test_a_week_of_trickle_charging_is_simulated_per_meter_sample_not_per_second(
        charger: Charger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the taper power is constant, so a step may last until the next meter sample:
    advancing a week with a session drawing 10 W took 600,000 one-second steps, holding the
    network's event loop for seconds; the energy, cost and samples are the same either way."""
    steps = count_steps(monkeypatch)
    session = start_charging(charger, vehicle_max_power_kw=0.01, vehicle_battery_kwh=60,
                             soc_start=20)
    charger.advance(7 * 24 * 3600)
    assert session.status is SessionStatus.ACTIVE
    assert session.energy_kwh == pytest.approx(0.01 * 7 * 24, rel=1e-9)  # 1.68 kWh, exactly
    assert session.cost == pytest.approx(0.01 * 7 * 24 * 18, rel=1e-9)
    assert len(session.meter_values) == 7 * 24 * 60 + 1  # a reading a minute, and the first
    assert len(steps) <= 7 * 24 * 60 + 2


def test_a_week_of_trickle_charging_in_the_taper_takes_steps_of_the_charge_not_seconds(
        charger: Charger, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the taper, power follows the state of charge, so the step was step_s: a week at 10 W
    above 80 % was again 600,000 steps. A step now lasts while the charge moves
    TAPER_SOC_STEP points (and never past a meter sample); the energy follows the curve."""
    steps = count_steps(monkeypatch)
    session = start_charging(charger, vehicle_max_power_kw=0.01, vehicle_battery_kwh=60,
                             soc_start=85)
    charger.advance(7 * 24 * 3600)
    assert session.status is SessionStatus.ACTIVE
    assert len(steps) <= 2 * (7 * 24 * 60 + 2)  # about one step per meter sample
    # power = 10 W x (100 - soc) / 20 points of taper: dSOC/dt = -k (100 - soc), exactly
    k = 0.01 / 60 * 100 / 20 / 3600
    expected_soc = 100 - 15 * math.exp(-k * 7 * 24 * 3600)
    assert session.soc == pytest.approx(expected_soc, abs=1e-3)


def test_an_advance_in_turns_lets_every_other_party_run_and_ends_where_advance_ends(
        clock: ManualClock) -> None:
    """The charger API's /clock/advance and the BPP's advance hook simulate in slices and
    yield the event loop between them: a week of trickle charging is ten thousand meter
    samples, and the loop serves every party of the network. The result is the same."""
    def trickling() -> tuple[Charger, Any]:
        charger = Charger(demo_site(), clock=ManualClock(DEMO_EPOCH))
        return charger, start_charging(charger, vehicle_max_power_kw=0.01,
                                       vehicle_battery_kwh=60, soc_start=79.9)
    at_once, expected = trickling()
    at_once.advance(7 * 24 * 3600)
    in_turns, session = trickling()
    turns = 0

    async def main() -> None:
        nonlocal turns
        done = asyncio.Event()

        async def another_party() -> None:
            nonlocal turns
            while not done.is_set():
                turns += 1
                await asyncio.sleep(0)
        other = asyncio.create_task(another_party())
        await in_turns.advance_in_turns(7 * 24 * 3600)
        done.set()
        await other
    asyncio.run(main())
    assert turns >= 7 * 24 * 60 // TURN_STEPS  # the loop ran between every slice
    assert in_turns.now == at_once.now
    assert session.soc == pytest.approx(expected.soc, abs=1e-9)
    assert session.energy_kwh == pytest.approx(expected.energy_kwh, abs=1e-9)
    assert len(session.meter_values) == len(expected.meter_values)


def test_a_tapering_battery_is_still_charged_a_step_at_a_time(charger: Charger) -> None:
    session = start_charging(charger, vehicle_battery_kwh=60, soc_start=79)
    charger.advance(600)
    # 0.6 kWh at 60 kW to the taper (36 s), then power falls with the state of charge
    assert 80.0 < session.soc < 100.0
    assert session.power_kw < 60.0


def test_charging_to_a_money_limit_stops_with_money_limit(charger: Charger) -> None:
    session = start_charging(charger, money_limit=90, vehicle_battery_kwh=60)

    charger.advance(3600)

    assert session.stop_reason is StopReason.MONEY_LIMIT
    assert session.cost == pytest.approx(90.0, abs=0.01)
    assert session.energy_kwh == pytest.approx(5.0, abs=1e-3)  # 90 INR at 18 INR/kWh


def test_the_money_limit_counts_the_per_minute_price(clock: ManualClock) -> None:
    site = demo_site()
    site.tariffs[0].price_per_kwh = 10.0
    site.tariffs[0].price_per_minute = 1.0
    charger = Charger(site, clock=clock)
    session = start_charging(charger, money_limit=110, vehicle_battery_kwh=100)

    charger.advance(3600)

    # a minute at 60 kW costs 10 INR of energy and 1 INR of time
    assert session.stop_reason is StopReason.MONEY_LIMIT
    assert session.charging_s == pytest.approx(600, abs=0.01)
    assert session.time_cost == pytest.approx(10.0, abs=0.01)


def test_charging_to_a_full_battery_tapers_and_stops_with_battery_full(charger: Charger) -> None:
    session = start_charging(charger, AC, vehicle_battery_kwh=10, soc_start=70)

    charger.advance(4 * 3600)

    assert session.stop_reason is StopReason.BATTERY_FULL
    assert session.soc == 100.0
    assert session.energy_kwh == pytest.approx(3.0, abs=1e-6)
    nearly_full = [mv for mv in session.meter_values if 95 < mv.soc_percent < 100]
    assert nearly_full and all(mv.power_kw < 22.0 * 0.25 for mv in nearly_full)


def test_a_remote_stop_is_confirmed_as_completed_with_remote_stop(
    charger: Charger, events: list[Event]
) -> None:
    session = start_charging(charger)
    charger.advance(300)

    charger.remote_stop(session.id)
    energy = session.energy_kwh
    assert session.status is SessionStatus.STOP
    assert charger.connector(DC).status is ConnectorStatus.FINISHING
    charger.advance(1)
    assert session.status is SessionStatus.STOP  # the charge point has not confirmed yet
    charger.advance(5)

    assert session.status is SessionStatus.COMPLETED
    assert session.stop_reason is StopReason.REMOTE_STOP
    assert session.energy_kwh == energy == pytest.approx(5.0)
    assert session.stopped_at == DEMO_EPOCH + 300  # when energy stopped flowing
    assert [e.type for e in events if e.type.startswith("session")] == [
        "session_started",
        "session_updated",
        "session_stopped",
    ]
    with refused("SESSION_ENDED"):
        charger.remote_stop(session.id)


def test_a_forced_remote_stop_completes_at_once(charger: Charger) -> None:
    session = start_charging(charger)
    charger.advance(60)

    charger.remote_stop(session.id, force=True)

    assert session.status is SessionStatus.COMPLETED
    assert session.stop_reason is StopReason.REMOTE_STOP


# --- faults -----------------------------------------------------------------------------------


def test_derating_halves_the_power_until_cleared(charger: Charger) -> None:
    session = start_charging(charger, vehicle_battery_kwh=100)
    charger.advance(60)
    assert session.meter_values[-1].power_kw == 60.0

    charger.inject_fault(DC, "derating")
    charger.advance(60)
    assert session.meter_values[-1].power_kw == 30.0
    assert charger.connector(DC).faults == ["derating"]
    assert session.status is SessionStatus.ACTIVE

    charger.clear_fault(DC)
    charger.advance(60)
    assert session.meter_values[-1].power_kw == 60.0
    assert session.energy_kwh == pytest.approx(1.0 + 0.5 + 1.0)


def test_a_connector_fault_interrupts_the_session_and_is_announced(
    charger: Charger, events: list[Event]
) -> None:
    session = start_charging(charger)
    charger.advance(120)

    charger.inject_fault(DC, "connector_fault")
    charger.advance(600)

    assert session.status is SessionStatus.INTERRUPTED
    assert session.stop_reason is StopReason.CONNECTOR_FAULT
    assert session.energy_kwh == pytest.approx(2.0)  # nothing flows after the fault
    assert of_type(events, "session_stopped")[-1]["status"] == "INTERRUPTED"
    assert of_type(events, "connector_status")[-1]["status"] == "FAULTED"
    with refused("CONNECTOR_FAULTED"):
        charger.remote_start(DC)

    charger.clear_fault(DC)
    assert charger.connector(DC).status is ConnectorStatus.FINISHING  # the vehicle is still there


def test_a_pulled_cable_interrupts_the_session_and_frees_the_connector(
    charger: Charger, events: list[Event]
) -> None:
    session = start_charging(charger)
    charger.advance(60)

    charger.inject_fault(DC, "cable_pulled")

    assert session.status is SessionStatus.INTERRUPTED
    assert session.stop_reason is StopReason.CABLE_PULLED
    connector = charger.connector(DC)
    assert (connector.status, connector.plugged) == (ConnectorStatus.AVAILABLE, False)
    assert [d["status"] for d in of_type(events, "connector_status")] == [
        "PREPARING",
        "CHARGING",
        "AVAILABLE",
    ]
    with refused("NOT_PLUGGED"):
        charger.inject_fault(DC, "cable_pulled")


def test_an_unknown_fault_kind_is_refused(charger: Charger) -> None:
    with refused("INVALID_REQUEST"):
        charger.inject_fault(DC, "lightning")


# --- reservations -----------------------------------------------------------------------------


def test_a_reservation_expires_when_nobody_plugs_in_within_the_grace(
    charger: Charger, events: list[Event]
) -> None:
    now = charger.now
    reservation = charger.reserve(DC, now + 600, now + 2400, grace_s=300)
    assert reservation.status is ReservationStatus.PENDING

    charger.advance(600)
    assert reservation.status is ReservationStatus.ACTIVE
    assert charger.connector(DC).status is ConnectorStatus.RESERVED
    charger.advance(299)
    assert reservation.status is ReservationStatus.ACTIVE
    charger.advance(1)

    assert reservation.status is ReservationStatus.EXPIRED
    assert charger.connector(DC).status is ConnectorStatus.AVAILABLE
    statuses = [(d["previous_status"], d["status"]) for d in of_type(events, "reservation_status")]
    assert statuses == [(None, "PENDING"), ("PENDING", "ACTIVE"), ("ACTIVE", "EXPIRED")]
    assert of_type(events, "reservation_status")[-1]["id"] == reservation.id


def test_a_reserved_connector_refuses_a_start_without_the_reservation(charger: Charger) -> None:
    reservation = charger.reserve(DC, charger.now, charger.now + 1800)
    charger.plug_in(DC)

    with refused("RESERVED_FOR_OTHER"):
        charger.remote_start(DC)
    session = charger.remote_start(DC, reservation_id=reservation.id)

    assert reservation.status is ReservationStatus.USED
    assert (session.reservation_id, reservation.session_id) == (reservation.id, session.id)


def test_a_plugged_in_reservation_outlives_its_grace_but_not_its_end(charger: Charger) -> None:
    reservation = charger.reserve(DC, charger.now, charger.now + 1800, grace_s=60)
    charger.plug_in(DC)

    charger.advance(600)
    assert reservation.status is ReservationStatus.ACTIVE
    charger.advance(1200)
    assert reservation.status is ReservationStatus.EXPIRED


def test_reservations_refuse_overlaps_and_can_be_cancelled_once(charger: Charger) -> None:
    now = charger.now
    first = charger.reserve(DC, now + 600, now + 1200)
    with refused("SLOT_TAKEN"):
        charger.reserve(DC, now + 900, now + 1500)
    charger.reserve(AC, now + 900, now + 1500)  # another connector is another slot

    charger.cancel_reservation(first.id)
    assert first.status is ReservationStatus.CANCELLED
    with refused("RESERVATION_ENDED"):
        charger.cancel_reservation(first.id)
    charger.reserve(DC, now + 900, now + 1500)  # the slot is free again
    with refused("WINDOW_OVER"):
        charger.reserve(DC, now - 600, now)
    with refused("INVALID_REQUEST"):
        charger.reserve(DC, now + 3000, now + 2000)


# --- starting ---------------------------------------------------------------------------------


def test_a_start_is_refused_for_what_the_connector_is_doing(charger: Charger) -> None:
    with refused("NOT_PLUGGED"):
        charger.remote_start(DC)
    session = start_charging(charger, session_id="order-42", energy_limit_kwh=1)
    with refused("BUSY"):
        charger.remote_start(DC)
    charger.advance(600)
    with refused("BUSY"):  # the last vehicle has to be unplugged first
        charger.remote_start(DC)
    charger.unplug(DC)
    charger.plug_in(DC)
    with refused("SESSION_EXISTS"):
        charger.remote_start(DC, session_id=session.id)
    with refused("INVALID_REQUEST"):
        charger.remote_start(DC, energy_limit_kwh=-1)
    with refused("INVALID_REQUEST"):
        charger.remote_start(DC, soc_start=100)
    with refused("ALREADY_PLUGGED"):
        charger.plug_in(DC)
    charger.set_availability(DC, False)
    assert charger.connector(DC).status is ConnectorStatus.UNAVAILABLE
    with refused("CONNECTOR_UNAVAILABLE"):
        charger.remote_start(DC)
    with refused("UNKNOWN_CONNECTOR"):
        charger.remote_start("nope")


def test_unplugging_mid_charge_interrupts_like_a_pulled_cable(charger: Charger) -> None:
    session = start_charging(charger)
    charger.advance(30)

    charger.unplug(DC)

    assert (session.status, session.stop_reason) == (
        SessionStatus.INTERRUPTED,
        StopReason.CABLE_PULLED,
    )


# --- meter values and events ------------------------------------------------------------------


def test_meter_values_carry_energy_power_soc_voltage_and_current(
    charger: Charger, events: list[Event]
) -> None:
    dc = start_charging(charger, DC, vehicle_battery_kwh=60, soc_start=20)
    ac = start_charging(charger, AC, vehicle_battery_kwh=60, soc_start=20)

    charger.advance(600)

    readings = of_type(events, "meter_values")
    assert {r["session_id"] for r in readings} == {dc.id, ac.id}
    for reading in readings:
        assert set(reading["meter_value"]) == {
            "timestamp",
            "energy_kwh",
            "power_kw",
            "soc_percent",
            "voltage_v",
            "current_a",
        }
    assert len(dc.meter_values) == 11  # one at the start, then one a simulated minute
    five_minutes = dc.meter_values[5]
    assert five_minutes.energy_kwh == pytest.approx(5.0)
    assert five_minutes.soc_percent == pytest.approx(20 + 5 / 60 * 100)
    assert 350 < five_minutes.voltage_v < 410
    assert five_minutes.current_a == pytest.approx(60_000 / five_minutes.voltage_v)
    ac_reading = ac.meter_values[5]
    assert (ac_reading.voltage_v, ac_reading.power_kw) == (230.0, 22.0)
    assert ac_reading.current_a == pytest.approx(22_000 / (3 * 230))  # three phases


def test_an_idle_vehicle_pays_the_idle_fee_after_the_grace(clock: ManualClock) -> None:
    site = demo_site()
    site.tariffs[0].idle_fee_per_minute = 5.0
    site.tariffs[0].idle_grace_minutes = 10.0
    charger = Charger(site, clock=clock)
    updates: list[Event] = []
    charger.subscribe(lambda e: updates.append(e) if e.type == "session_updated" else None)
    session = start_charging(charger, energy_limit_kwh=1)
    charger.advance(60 + 30 * 60)

    charger.unplug(DC)
    charger.advance(3600)

    assert session.idle_fee(charger.now) == pytest.approx(20 * 5.0)
    assert updates[-1].data["total_cost"] == pytest.approx(18.0 + 100.0)


def test_a_failing_subscriber_does_not_stop_the_simulation(charger: Charger) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    charger.subscribe(broken)
    session = start_charging(charger, energy_limit_kwh=1)
    charger.advance(600)

    assert session.status is SessionStatus.COMPLETED


def test_events_are_numbered_json_and_stop_after_unsubscribing(charger: Charger) -> None:
    seen: list[Event] = []
    unsubscribe = charger.subscribe(seen.append)
    start_charging(charger, energy_limit_kwh=1)
    charger.advance(120)
    unsubscribe()
    before = len(seen)
    charger.unplug(DC)

    assert len(seen) == before
    assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))
    assert [e.type for e in seen][-2:] == ["session_stopped", "connector_status"]
    payload = json.loads(json.dumps(seen[0].as_dict()))
    assert set(payload) == {"sequence", "type", "timestamp", "data"}
    assert payload["timestamp"] == "2025-01-15T10:00:00.000Z"


# --- clocks and sites -------------------------------------------------------------------------


def test_the_accelerated_clock_runs_speed_times_faster_and_jumps_on_advance() -> None:
    real = [100.0]
    clock = Clock(speed=60.0, start=DEMO_EPOCH, monotonic=lambda: real[0])

    real[0] += 2.0
    assert clock.now() == DEMO_EPOCH + 120.0
    clock.advance(30)
    assert clock.now() == DEMO_EPOCH + 150.0
    with pytest.raises(ValueError):
        Clock(speed=0)


def test_the_ticker_keeps_a_charger_up_to_its_clock() -> None:
    real = [0.0]
    charger = Charger(clock=Clock(speed=60.0, start=DEMO_EPOCH, monotonic=lambda: real[0]))
    start_charging(charger, energy_limit_kwh=1)  # 1 kWh at 60 kW: a simulated minute

    async def run() -> None:
        stopped = asyncio.Event()
        charger.subscribe(lambda event: stopped.set() if event.type == "session_stopped" else None)
        ticker = asyncio.create_task(run_ticker(charger, 0.001))
        real[0] = 2.0  # two real seconds: two simulated minutes
        try:
            await asyncio.wait_for(stopped.wait(), WAIT_S)
        finally:
            ticker.cancel()

    asyncio.run(run())

    assert charger.now == DEMO_EPOCH + 120.0
    assert charger.sessions()[0].stop_reason is StopReason.ENERGY_LIMIT


def test_the_ticker_stops_at_a_failed_tick_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    ticks: list[float] = []

    class Broken:
        def tick(self, max_steps: int | None = None) -> bool:
            ticks.append(time.monotonic())
            raise RuntimeError("simulator bug")

    asyncio.run(asyncio.wait_for(run_ticker(Broken(), 0.001), WAIT_S))  # returns: it stopped

    assert len(ticks) == 1
    assert "charger tick failed" in caplog.text and "simulator bug" in caplog.text


def test_the_ticker_catches_up_in_slices_letting_the_loop_run_between(
        clock: ManualClock) -> None:
    """After a long /clock/advance, the real-time ticker (the charger's and the BPP's) ticked
    the whole rest at once: a week of trickle charging held the loop 200 ms. It ticks
    TURN_STEPS steps at a time now, the loop running between."""
    charger = Charger(demo_site(), clock=clock)
    session = start_charging(charger, vehicle_max_power_kw=0.01, vehicle_battery_kwh=60,
                             soc_start=79.9)
    clock.advance(7 * 24 * 3600)  # the clock moved; the simulation has not followed yet
    turns = 0

    async def main() -> None:
        nonlocal turns
        ticker = asyncio.create_task(run_ticker(charger, 0.0))
        while charger.now < clock.now() or not session.meter_values[-1:]:
            turns += 1
            await asyncio.sleep(0)
            if turns > 100_000:
                break
        ticker.cancel()
    asyncio.run(asyncio.wait_for(main(), WAIT_S))
    assert charger.now == clock.now()
    assert turns >= 7 * 24 * 60 // TURN_STEPS


def test_advancing_by_a_negative_or_huge_amount_is_refused(charger: Charger) -> None:
    with refused("INVALID_REQUEST"):
        charger.advance(-1)
    with refused("INVALID_REQUEST"):
        charger.advance(float("inf"))


def test_a_site_can_be_described_as_plain_data(clock: ManualClock) -> None:
    site = Site.from_dict(
        {
            "tariffs": [{"id": "t", "price_per_kwh": 20}],
            "locations": [
                {
                    "id": "depot",
                    "name": "Depot",
                    "coordinates": {"latitude": 12.9, "longitude": 77.6},
                    "charge_points": [
                        {
                            "id": "cp",
                            "evses": [
                                {
                                    "evse_id": "IND*x*cp*1",
                                    "connectors": [
                                        {
                                            "id": "C1",
                                            "type": "CHADEMO",
                                            "max_power_kw": 50,
                                            "tariff_id": "t",
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )
    charger = Charger(site, clock=clock)

    session = start_charging(charger, "C1", energy_limit_kwh=5)
    charger.advance(3600)

    assert charger.connector("C1").evse_id == "IND*x*cp*1"
    assert session.cost == pytest.approx(100.0)
    with pytest.raises(ValueError, match="unknown tariff"):
        Charger(Site(locations=site.locations, tariffs=[]), clock=clock)


def test_the_demo_site_is_ecopower_btm() -> None:
    charger = Charger(clock=ManualClock())
    (location,) = charger.locations()
    assert (location.name, location.latitude, location.longitude) == (
        "EcoPower BTM",
        12.9352,
        77.6245,
    )
    assert [(c.type, c.max_power_kw, c.power_type) for c in charger.connectors()] == [
        ("CCS2", 60.0, "DC"),
        ("TYPE2", 22.0, "AC"),
    ]
    assert charger.tariff(charger.connector(DC).tariff_id).price_per_kwh == 18.0


# --- the control API --------------------------------------------------------------------------


class OpenAPIDocument:
    """The control API's OpenAPI document, checking that answers are what it promises."""

    BASE = "urn:ubc:charger-openapi"

    def __init__(self, path: Path) -> None:
        yaml = pytest.importorskip("yaml")
        self.doc = yaml.safe_load(path.read_text())
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(self.BASE, resource)

    def check(self, method: str, template: str, response: httpx.Response) -> None:
        operation = self.doc["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method} {template} answered {status}, documented: {list(operation['responses'])}"
        )
        documented = operation["responses"][status]
        if "$ref" in documented:
            documented = self.doc["components"]["responses"][documented["$ref"].split("/")[-1]]
        assert response.headers["content-type"] == "application/json"
        schema = self._absolute(documented["content"]["application/json"]["schema"])
        validator = Draft202012Validator(schema, registry=self.registry)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(
            response.json()
        )]
        assert not errors, f"{method} {template} {status} breaks the document: {errors}"

    def _absolute(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: f"{self.BASE}{v}" if k == "$ref" else self._absolute(v) for k, v in node.items()
            }
        if isinstance(node, list):
            return [self._absolute(v) for v in node]
        return node


@pytest.fixture(scope="module")
def openapi() -> OpenAPIDocument:
    return OpenAPIDocument(OPENAPI)


class ControlAPI:
    """A TestClient that checks every answer against the OpenAPI document."""

    def __init__(self, client: TestClient, openapi: OpenAPIDocument) -> None:
        self.client = client
        self.openapi = openapi

    def call(
        self, method: str, template: str, status: int, *, body: Any = None, **params: str
    ) -> Any:
        response = self.client.request(method, template.format(**params), json=body)
        assert response.status_code == status, response.text
        self.openapi.check(method, template, response)
        return response.json()

    def error(self, method: str, template: str, status: int, **kwargs: Any) -> str:
        code: str = self.call(method, template, status, **kwargs)["error"]["code"]
        return code


@pytest.fixture
def api(charger: Charger, openapi: OpenAPIDocument) -> Iterator[ControlAPI]:
    with TestClient(create_app(charger, auto_tick=False)) as client:
        yield ControlAPI(client, openapi)


def test_the_api_lists_locations_connectors_and_tariffs(api: ControlAPI) -> None:
    (location,) = api.call("GET", "/locations", 200)
    assert location["coordinates"] == {"latitude": 12.9352, "longitude": 77.6245}
    assert api.call("GET", "/locations/{location_id}", 200, location_id="ecopower-btm") == location
    evse = location["charge_points"][0]["evses"][0]
    assert evse["evse_id"] == "IND*ecopower-charging*cs-01*IN*ECO*BTM*01*CCS2*A"
    assert [c["id"] for c in api.call("GET", "/connectors", 200)] == [DC, AC]
    connector = api.call("GET", "/connectors/{connector_id}", 200, connector_id=DC)
    assert (connector["status"], connector["max_power_kw"]) == ("AVAILABLE", 60.0)
    tariffs = api.call("GET", "/tariffs", 200)
    assert {t["id"]: t["price_per_kwh"] for t in tariffs}["tariff-dc-ccs2"] == 18.0
    assert api.error("GET", "/locations/{location_id}", 404, location_id="x") == (
        "UNKNOWN_LOCATION"
    )
    assert api.error("GET", "/connectors/{connector_id}", 404, connector_id="x") == (
        "UNKNOWN_CONNECTOR"
    )


def test_the_api_drives_a_session_from_plug_in_to_completion(api: ControlAPI) -> None:
    assert api.error("POST", "/commands/start-session", 409, body={"connector_id": DC}) == (
        "NOT_PLUGGED"
    )
    plugged = api.call("POST", "/connectors/{connector_id}/plug-in", 200, connector_id=DC)
    assert plugged["status"] == "PREPARING"
    assert api.error("POST", "/connectors/{connector_id}/plug-in", 409, connector_id=DC) == (
        "ALREADY_PLUGGED"
    )

    started = api.call(
        "POST",
        "/commands/start-session",
        201,
        body={"connector_id": DC, "energy_limit_kwh": 2, "session_id": "order-1"},
    )
    assert (started["id"], started["status"], started["power_kw"]) == ("order-1", "ACTIVE", 60.0)
    clock = api.call("POST", "/clock/advance", 200, body={"seconds": 600})
    assert clock["time"] == "2025-01-15T10:10:00.000Z"

    session = api.call("GET", "/sessions/{session_id}", 200, session_id="order-1")
    assert (session["status"], session["stop_reason"]) == ("COMPLETED", "ENERGY_LIMIT")
    assert (session["energy_kwh"], session["cost"]) == (2.0, 36.0)
    assert session["meter_values"][-1]["energy_kwh"] == 2.0
    assert [s["id"] for s in api.call("GET", "/sessions", 200)] == ["order-1"]
    assert "meter_values" not in api.call("GET", "/sessions", 200)[0]
    assert api.error("POST", "/commands/stop-session", 409, body={"session_id": "order-1"}) == (
        "SESSION_ENDED"
    )
    unplugged = api.call("POST", "/connectors/{connector_id}/unplug", 200, connector_id=DC)
    assert (unplugged["status"], unplugged["session_id"]) == ("AVAILABLE", None)
    assert api.error("POST", "/connectors/{connector_id}/unplug", 409, connector_id=DC) == (
        "NOT_PLUGGED"
    )
    assert api.error("GET", "/sessions/{session_id}", 404, session_id="nope") == (
        "UNKNOWN_SESSION"
    )


def test_the_api_stops_a_session_on_request(api: ControlAPI) -> None:
    api.call("POST", "/connectors/{connector_id}/plug-in", 200, connector_id=AC)
    session = api.call("POST", "/commands/start-session", 201, body={"connector_id": AC})

    stopping = api.call("POST", "/commands/stop-session", 200, body={"session_id": session["id"]})
    assert stopping["status"] == "STOP"
    stopped = api.call(
        "POST", "/commands/stop-session", 200, body={"session_id": session["id"], "force": True}
    )
    assert (stopped["status"], stopped["stop_reason"]) == ("COMPLETED", "REMOTE_STOP")
    assert api.error("POST", "/commands/stop-session", 404, body={"session_id": "x"}) == (
        "UNKNOWN_SESSION"
    )
    assert api.error(
        "POST", "/commands/stop-session", 400, body={"session_id": session["id"], "force": 1}
    ) == "INVALID_REQUEST"


def test_the_api_injects_and_clears_faults(api: ControlAPI) -> None:
    api.call("POST", "/connectors/{connector_id}/plug-in", 200, connector_id=DC)
    session = api.call("POST", "/commands/start-session", 201, body={"connector_id": DC})

    derated = api.call(
        "POST", "/connectors/{connector_id}/fault", 200, connector_id=DC, body={"kind": "derating"}
    )
    assert (derated["power_cap_kw"], derated["faults"]) == (30.0, ["derating"])
    faulted = api.call(
        "POST",
        "/connectors/{connector_id}/fault",
        200,
        connector_id=DC,
        body={"kind": "connector_fault"},
    )
    assert faulted["status"] == "FAULTED"
    interrupted = api.call("GET", "/sessions/{session_id}", 200, session_id=session["id"])
    assert (interrupted["status"], interrupted["stop_reason"]) == (
        "INTERRUPTED",
        "CONNECTOR_FAULT",
    )
    cleared = api.call("DELETE", "/connectors/{connector_id}/fault", 200, connector_id=DC)
    assert (cleared["status"], cleared["faults"], cleared["power_cap_kw"]) == (
        "FINISHING",
        [],
        60.0,
    )
    pulled = api.call(
        "POST",
        "/connectors/{connector_id}/fault",
        200,
        connector_id=DC,
        body={"kind": "cable_pulled"},
    )
    assert (pulled["status"], pulled["plugged"]) == ("AVAILABLE", False)
    assert api.error(
        "POST",
        "/connectors/{connector_id}/fault",
        409,
        connector_id=DC,
        body={"kind": "cable_pulled"},
    ) == "NOT_PLUGGED"
    for bad in ({"kind": "lightning"}, {}, {"kind": "derating", "factor": 2}):
        assert api.error(
            "POST", "/connectors/{connector_id}/fault", 400, connector_id=DC, body=bad
        ) == "INVALID_REQUEST"
    assert api.error(
        "POST",
        "/connectors/{connector_id}/fault",
        404,
        connector_id="x",
        body={"kind": "derating"},
    ) == "UNKNOWN_CONNECTOR"
    assert api.error("DELETE", "/connectors/{connector_id}/fault", 404, connector_id="x") == (
        "UNKNOWN_CONNECTOR"
    )


def test_the_api_switches_availability(api: ControlAPI) -> None:
    template = "/connectors/{connector_id}/availability"
    off = api.call("POST", template, 200, connector_id=AC, body={"available": False})
    assert (off["status"], off["available"]) == ("UNAVAILABLE", False)
    on = api.call("POST", template, 200, connector_id=AC, body={"available": True})
    assert on["status"] == "AVAILABLE"
    assert api.error("POST", template, 400, connector_id=AC, body={"available": "no"}) == (
        "INVALID_REQUEST"
    )
    assert api.error("POST", template, 404, connector_id="x", body={"available": True}) == (
        "UNKNOWN_CONNECTOR"
    )


def test_the_api_reserves_and_cancels(api: ControlAPI, charger: Charger) -> None:
    start, end = wire_time.format(charger.now + 600), wire_time.format(charger.now + 2400)
    body = {"connector_id": DC, "start": start, "end": end, "grace_s": 300}
    reservation = api.call("POST", "/reservations", 201, body=body)
    assert (reservation["status"], reservation["start"]) == ("PENDING", start)
    assert api.error("POST", "/reservations", 409, body=body) == "SLOT_TAKEN"
    api.call("POST", "/clock/advance", 200, body={"seconds": 600})
    held = api.call("GET", "/reservations/{reservation_id}", 200, reservation_id=reservation["id"])
    assert held["status"] == "ACTIVE"
    connector = api.call("GET", "/connectors/{connector_id}", 200, connector_id=DC)
    assert (connector["status"], connector["reservation_id"]) == ("RESERVED", reservation["id"])
    api.call("POST", "/connectors/{connector_id}/plug-in", 200, connector_id=DC)
    assert api.error("POST", "/commands/start-session", 409, body={"connector_id": DC}) == (
        "RESERVED_FOR_OTHER"
    )

    cancelled = api.call(
        "DELETE", "/reservations/{reservation_id}", 200, reservation_id=reservation["id"]
    )
    assert cancelled["status"] == "CANCELLED"
    assert [r["status"] for r in api.call("GET", "/reservations", 200)] == ["CANCELLED"]
    assert api.error(
        "DELETE", "/reservations/{reservation_id}", 409, reservation_id=reservation["id"]
    ) == "RESERVATION_ENDED"
    assert api.error("DELETE", "/reservations/{reservation_id}", 404, reservation_id="x") == (
        "UNKNOWN_RESERVATION"
    )
    assert api.error("GET", "/reservations/{reservation_id}", 404, reservation_id="x") == (
        "UNKNOWN_RESERVATION"
    )
    past = {"connector_id": AC, "start": "2000-01-01T00:00:00Z", "end": "2000-01-01T01:00:00Z"}
    assert api.error("POST", "/reservations", 409, body=past) == "WINDOW_OVER"
    for bad in ({**body, "start": "tomorrow"}, {**body, "start": "2025-01-15T10:00:00"}):
        assert api.error("POST", "/reservations", 400, body=bad) == "INVALID_REQUEST"
    assert api.error("POST", "/reservations", 404, body={**body, "connector_id": "x"}) == (
        "UNKNOWN_CONNECTOR"
    )


def test_the_api_reads_and_advances_the_clock(api: ControlAPI) -> None:
    clock = api.call("GET", "/clock", 200)
    assert clock == {"now": DEMO_EPOCH, "time": "2025-01-15T10:00:00.000Z", "speed": 0.0}
    assert api.call("POST", "/clock/advance", 200, body={"seconds": 90})["now"] == DEMO_EPOCH + 90
    for bad in ({"seconds": -1}, {"seconds": "1"}, {"seconds": True}, {}, {"seconds": 1e9}):
        assert api.error("POST", "/clock/advance", 400, body=bad) == "INVALID_REQUEST"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b"{", "truncated"),
        (b"[1, 2]", "not an object"),
        (b'{"seconds": NaN}', "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 10_000, "too deep"),  # deeper than the parser recurses, within the size limit
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(
    api: ControlAPI, openapi: OpenAPIDocument, raw: bytes, why: str
) -> None:
    response = api.client.post(
        "/clock/advance", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, why
    assert response.json()["error"]["code"] == "INVALID_JSON"
    openapi.check("POST", "/clock/advance", response)


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_with_413_unread(
    api: ControlAPI, openapi: OpenAPIDocument, streamed: bool
) -> None:
    body = b'{"seconds": 1, "padding": "' + b"x" * MAX_CONTROL_BODY_BYTES + b'"}'
    content: Any = iter([body[:1000], body[1000:]]) if streamed else body
    response = api.client.post(
        "/clock/advance", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BODY_TOO_LARGE"
    openapi.check("POST", "/clock/advance", response)
    assert api.call("GET", "/clock", 200)["now"] == DEMO_EPOCH  # the clock did not move


@pytest.mark.parametrize(
    "start",
    ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2025-02-30T10:00:00Z"],
)
def test_a_date_time_out_of_range_is_a_400_naming_the_field(api: ControlAPI, start: str) -> None:
    body = {"connector_id": DC, "start": start, "end": "2026-01-01T00:00:00Z"}
    error = api.call("POST", "/reservations", 400, body=body)["error"]
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "start")
    assert "start must be an RFC 3339 date-time" in error["message"]


def test_refusals_name_the_field_at_fault(api: ControlAPI) -> None:
    api.call("POST", "/connectors/{connector_id}/plug-in", 200, connector_id=DC)
    for body, field in (
        ({}, "connector_id"),
        ({"connector_id": DC, "soc_start": 100}, "soc_start"),
        ({"connector_id": DC, "money_limit": -1}, "money_limit"),
        ({"connector_id": DC, "session_id": "a/b"}, "session_id"),
    ):
        error = api.call("POST", "/commands/start-session", 400, body=body)["error"]
        assert (error["code"], error.get("field")) == ("INVALID_REQUEST", field), body
    error = api.call("POST", "/clock/advance", 400, body={"seconds": 1e9})["error"]
    assert error["field"] == "seconds"


def test_unknown_routes_and_methods_answer_json_errors(api: ControlAPI) -> None:
    missing = api.client.get("/chargers")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    wrong = api.client.put("/reservations")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_the_api_registers_webhooks(api: ControlAPI) -> None:
    url = "http://127.0.0.1:9/events"
    assert api.call("POST", "/webhooks", 201, body={"url": url}) == {"url": url}
    assert api.call("POST", "/webhooks", 200, body={"url": url}) == {"url": url}
    assert api.call("GET", "/webhooks", 200) == [{"url": url}]
    for bad in ({"url": "ftp://example.com"}, {"url": 5}, {}, {"url": "http://"}):
        assert api.error("POST", "/webhooks", 400, body=bad) == "INVALID_REQUEST"


# --- webhook delivery -------------------------------------------------------------------------


def test_events_reach_every_webhook_even_when_one_receiver_is_down(charger: Charger) -> None:
    received: list[dict[str, Any]] = []
    stopped = threading.Event()

    def network(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.example":
            raise httpx.ConnectError("connection refused", request=request)
        event = json.loads(request.content)
        received.append(event)
        if event["type"] == "session_stopped":
            stopped.set()
        return httpx.Response(204)

    app = create_app(
        charger,
        webhook_urls=["http://down.example/events"],
        auto_tick=False,
        webhook_transport=httpx.MockTransport(network),
    )
    with TestClient(app) as client:
        client.post("/webhooks", json={"url": "http://up.example/events"})
        client.post(f"/connectors/{DC}/plug-in")
        client.post("/commands/start-session", json={"connector_id": DC, "energy_limit_kwh": 1})
        client.post("/clock/advance", json={"seconds": 120})

        assert stopped.wait(WAIT_S), f"no session_stopped among {[e['type'] for e in received]}"
        assert client.get("/clock").status_code == 200  # the dead receiver broke nothing

    assert [e["type"] for e in received][:3] == [
        "connector_status",
        "session_started",
        "connector_status",
    ]
    (stop,) = [e for e in received if e["type"] == "session_stopped"]
    assert stop["data"]["stop_reason"] == "ENERGY_LIMIT"
    assert [e["sequence"] for e in received] == sorted(e["sequence"] for e in received)


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; always stops it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port, and we keep it until uvicorn has it
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started:
            assert thread.is_alive(), "uvicorn exited while starting"
            assert time.monotonic() < deadline, f"uvicorn did not start within {WAIT_S} s"
            time.sleep(0.01)  # polling a flag uvicorn offers no event for, under a deadline
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.mark.network
def test_a_real_time_session_is_announced_to_a_webhook_over_loopback() -> None:
    received: list[dict[str, Any]] = []
    stopped = threading.Event()

    async def record(request: Request) -> Response:
        event = await request.json()
        received.append(event)
        if event["type"] == "session_stopped":
            stopped.set()
        return JSONResponse({"ok": True})

    receiver = Starlette(routes=[Route("/events", record, methods=["POST"])])
    # 600x: the 1 kWh at 60 kW the session needs take a tenth of a real second
    charger = Charger(clock=Clock(speed=600.0))
    simulator = create_app(charger, auto_tick=True, tick_interval_s=0.05)

    with (
        serving(receiver) as receiver_url,
        serving(simulator) as simulator_url,
        httpx.Client(base_url=simulator_url, timeout=WAIT_S) as client,
    ):
        registered = client.post("/webhooks", json={"url": f"{receiver_url}/events"})
        assert registered.status_code == 201
        assert client.post(f"/connectors/{DC}/plug-in").status_code == 200
        started = client.post(
            "/commands/start-session", json={"connector_id": DC, "energy_limit_kwh": 1}
        )
        assert started.status_code == 201, started.text

        assert stopped.wait(WAIT_S), f"events so far: {[e['type'] for e in received]}"
        session = client.get(f"/sessions/{started.json()['id']}").json()

    assert (session["status"], session["stop_reason"]) == ("COMPLETED", "ENERGY_LIMIT")
    types = [e["type"] for e in received]
    assert types.index("session_started") < types.index("session_stopped")
    assert "meter_values" in types
    assert received[types.index("session_stopped")]["data"]["energy_kwh"] == pytest.approx(1.0)
