"""The charger: a charge point operator (CPO) platform simulated over a clock.

It models a CPO platform's three functional components:

- resources: locations, charge points, EVSEs, connectors, tariffs, sessions, reservations;
- actions: the driver plugs in and unplugs, the platform starts and stops sessions remotely,
  reserves connectors, and a tester injects faults (connector fault, derating, cable pulled);
- notifications: events (session started/updated/stopped, meter values, connector and
  reservation status) go to subscriber callbacks (and, through the app, to webhook URLs).

`Charger` is a state machine with no I/O, driven by an injected clock. State is brought up to
the clock by `tick()` (or `advance()`); readers do not tick. How energy flows within a step is
physics.py's business.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mocks.charger import physics
from mocks.charger.clock import Clock, SimulatedClock, catch_up
from mocks.charger.model import (
    ENDED,
    HOLDING,
    ONGOING,
    ChargerError,
    Event,
    EventType,
    IdSequence,
    Reservation,
    ReservationStatus,
    Session,
    SessionStatus,
    StopReason,
    Subscriber,
    known,
    require_id,
)
from mocks.charger.reservations import ReservationBook
from mocks.charger.site import (
    Connector,
    ConnectorStatus,
    FaultKind,
    Location,
    Site,
    Tariff,
    demo_site,
)

logger = logging.getLogger(__name__)

MAX_ADVANCE_S = 7 * 24 * 3600.0  # one advance may not run longer than a week of simulated time


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
        self._connectors = self.site.assemble()
        self._sessions: dict[str, Session] = {}
        self._session_ids = IdSequence("SESS")
        self._reservations = ReservationBook()
        self._subscribers: list[Subscriber] = []
        self._sequence = 0
        self._time = self.clock.now()

    # --- resources ----------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The simulated time the state has been brought up to."""
        return self._time

    def locations(self) -> list[Location]:
        return list(self._locations.values())

    def location(self, location_id: str) -> Location:
        return known(self._locations, location_id, "location")

    def connectors(self) -> list[Connector]:
        return list(self._connectors.values())

    def connector(self, connector_id: str) -> Connector:
        return known(self._connectors, connector_id, "connector")

    def tariffs(self) -> list[Tariff]:
        return list(self._tariffs.values())

    def tariff(self, tariff_id: str) -> Tariff:
        return known(self._tariffs, tariff_id, "tariff")

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def session(self, session_id: str) -> Session:
        return known(self._sessions, session_id, "session")

    def reservations(self) -> list[Reservation]:
        return self._reservations.all()

    def reservation(self, reservation_id: str) -> Reservation:
        return self._reservations.get(reservation_id)

    def active_reservation(self, connector_id: str) -> Reservation | None:
        """The reservation holding the connector right now, if any."""
        return self._reservations.holding(connector_id)

    def connector_as_dict(self, connector: Connector) -> dict[str, Any]:
        reservation = self.active_reservation(connector.id)
        return connector.as_dict(None if reservation is None else reservation.id)

    def location_as_dict(self, location: Location) -> dict[str, Any]:
        return location.as_dict(self.connector_as_dict)

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
            raise ChargerError(
                "INVALID_REQUEST", "soc_start must be at least 0 and below 100", "soc_start"
            )
        if session_id is not None:
            require_id("session_id", session_id)
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
            id=session_id or self._session_ids.next(self._sessions),
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
        session.power_kw = physics.power_kw(connector, session)
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
        self._reservations.check_request(start, end, grace_s, reservation_id, now)
        if connector.faulted:
            raise ChargerError("CONNECTOR_FAULTED", f"connector {connector_id} is faulted")
        if not connector.available:
            raise ChargerError("CONNECTOR_UNAVAILABLE", f"connector {connector_id} is unavailable")
        self._reservations.check_free(connector_id, start, end)
        current = self._sessions.get(connector.session_id or "")
        if start <= now and (connector.plugged or current is not None):
            held = f"session {current.id} is {current.status.value}" if current is not None \
                else "a car is plugged in"
            raise ChargerError("BUSY", f"connector {connector_id} is occupied now ({held})")
        reservation = self._reservations.open(connector, start, end, grace_s, now, reservation_id)
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
                "INVALID_REQUEST", f"unknown fault kind {kind!r}; expected one of {kinds}", "kind"
            ) from None
        session = self._sessions.get(connector.session_id or "")
        if fault is FaultKind.CONNECTOR_FAULT:
            connector.faulted = True
            if session is not None and session.status in ONGOING:
                self._finish(session, now, SessionStatus.INTERRUPTED, StopReason.CONNECTOR_FAULT)
            self._refresh(connector, now)
        elif fault is FaultKind.DERATING:
            if not (math.isfinite(factor) and 0.0 < factor <= 1.0):
                raise ChargerError(
                    "INVALID_REQUEST", "a derating factor must be in (0, 1]", "factor"
                )
            connector.derating_factor = factor
            if session is not None and session.status is SessionStatus.ACTIVE:
                session.power_kw = physics.power_kw(connector, session)
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
            session.power_kw = physics.power_kw(connector, session)
        self._refresh(connector, self._time)
        return connector

    # --- time ---------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` of simulated time ahead and simulate them."""
        self.jump(seconds)
        self.tick()

    def jump(self, seconds: float) -> None:
        """Move the clock `seconds` of simulated time ahead; what they hold is simulated by the
        ticks that follow (`advance` ticks at once; `advance_in_turns` a slice at a time)."""
        if not (math.isfinite(seconds) and 0 <= seconds <= MAX_ADVANCE_S):
            raise ChargerError(
                "INVALID_REQUEST", f"seconds must be between 0 and {MAX_ADVANCE_S:.0f}", "seconds"
            )
        self.tick()  # what happened before the jump happened at its own time
        self.clock.advance(seconds)

    async def advance_in_turns(self, seconds: float) -> None:
        """`advance` that lets the event loop run between slices of TURN_STEPS steps: a week
        of a trickling session is ten thousand meter samples (a few hundred ms), and every
        party of the network shares the loop that serves the charger."""
        self.jump(seconds)
        await catch_up(self)

    def tick(self, max_steps: int | None = None) -> bool:
        """Simulate from where the state is up to the clock's now, event by event; with
        `max_steps`, at most that many steps: False when now is not reached yet (the state
        then stands at an earlier time, and the next tick goes on from there)."""
        now = self.clock.now()
        t = self._time
        steps = 0
        while True:
            self._settle(t)
            if t >= now:
                break
            if max_steps is not None and steps >= max_steps:
                self._time = t
                return False
            steps += 1
            dt = min(now, self._next_deadline(t)) - t
            charging = [s for s in self._sessions.values() if s.status is SessionStatus.ACTIVE]
            if charging:
                # One step as long as every session's power stays what it is (physics.charge is
                # exact over such a step, limits included), or, while a battery tapers, as long
                # as its charge moves TAPER_SOC_STEP; at least step_s. A week's advance with a
                # trickle of power was 600,000 steps that held the whole network's event loop
                # for seconds; below the taper it is now one per meter sample, in it a few
                # thousand (any power above ~2 kW still steps step_s at a time).
                dt = min(dt, max(self.step_s, min(self._steady_power_s(s) for s in charging)))
                for session in charging:
                    self._charge(session, t, dt)
            t += dt
        self._time = max(self._time, now)
        return True

    def _steady_power_s(self, session: Session) -> float:
        """Seconds the session's power stays (nearly) what it is now: until its battery reaches
        the taper (physics.TAPER_START_SOC), where power starts to follow the state of charge;
        in the taper, the time its charge takes to move TAPER_SOC_STEP points."""
        power = physics.power_kw(self.connector(session.connector_id), session)
        if power <= 0:
            return math.inf
        to_kwh = (physics.TAPER_SOC_STEP if session.soc >= physics.TAPER_START_SOC
                  else physics.TAPER_START_SOC - session.soc) / 100.0 * \
            session.vehicle_battery_kwh
        return to_kwh / power * 3600.0

    def _next_deadline(self, t: float) -> float:
        """The earliest time after `t` at which something changes without power flowing."""
        candidates = list(self._reservations.deadlines())
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
        for reservation, status, at in self._reservations.changes_due(t, self._connectors):
            self._set_reservation_status(reservation, status, at)

    def _charge(self, session: Session, t: float, dt: float) -> None:
        """Deliver energy for `dt` seconds from `t`; the session completes at the first limit."""
        connector = self.connector(session.connector_id)
        stop = physics.charge(session, physics.power_kw(connector, session), dt)
        if stop is not None:
            elapsed, reason = stop
            self._finish(session, t + elapsed, SessionStatus.COMPLETED, reason)

    def _sample(self, connector: Connector, session: Session, at: float) -> None:
        meter_value = physics.meter_value(connector, session, at)
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


def _require_positive(name: str, value: float | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or not (math.isfinite(value) and value > 0):
        raise ChargerError("INVALID_REQUEST", f"{name} must be a positive number", name)
