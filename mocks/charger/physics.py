"""How a vehicle charges: the power it draws (the charging curve), the energy and money a step
delivers against the session's limits, and what the meter reads.

Pure functions over a connector and a session; the simulator decides when they run.
"""

from __future__ import annotations

import math

from mocks.charger.model import MeterValue, Session, StopReason
from mocks.charger.site import Connector, PowerType

TAPER_START_SOC = 80.0  # constant-power phase ends here, like a typical Li-ion charge curve
MIN_TAPER = 0.1  # the taper never drops below a tenth of the available power
# In the taper, power is taken as constant while the charge moves this many points: finer than
# one step_s at any power above ~2 kW (60 kWh), so only a trickle takes longer steps.
TAPER_SOC_STEP = 0.001
DC_BASE_VOLTAGE = 350.0
DC_VOLTAGE_PER_SOC = 0.6  # pack voltage rises with state of charge: 350 V empty, 410 V full
AC_PHASE_VOLTAGE = 230.0


def power_kw(connector: Connector, session: Session) -> float:
    """The power the vehicle draws now: the connector's cap, the vehicle's own limit, and a
    taper once the battery is past TAPER_START_SOC."""
    power = connector.power_cap_kw
    if session.vehicle_max_power_kw is not None:
        power = min(power, session.vehicle_max_power_kw)
    if session.soc > TAPER_START_SOC:
        taper = (100.0 - session.soc) / (100.0 - TAPER_START_SOC)
        power *= max(MIN_TAPER, taper)
    return power


def charge(session: Session, power: float, dt: float) -> tuple[float, StopReason] | None:
    """Deliver `power` kW to the session for `dt` seconds, stopping exactly at the first limit
    reached; that limit and how many seconds into the step it was reached, or None."""
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
    if reason is None or fraction > 1.0:
        return None
    if reason is StopReason.ENERGY_LIMIT and session.energy_limit_kwh is not None:
        session.energy_kwh = session.energy_limit_kwh  # no float dust past the limit
    elif reason is StopReason.BATTERY_FULL:
        session.soc = 100.0
    return dt * used, reason


def meter_value(connector: Connector, session: Session, at: float) -> MeterValue:
    """The meter's reading now: energy so far, power, state of charge, voltage and current."""
    power = session.power_kw
    if connector.power_type is PowerType.DC:
        voltage = DC_BASE_VOLTAGE + DC_VOLTAGE_PER_SOC * session.soc
        current = power * 1000.0 / voltage
    else:
        voltage = AC_PHASE_VOLTAGE
        current = power * 1000.0 / (AC_PHASE_VOLTAGE * max(1, connector.phases))
    return MeterValue(
        timestamp=at,
        energy_kwh=session.energy_kwh,
        power_kw=power,
        soc_percent=session.soc,
        voltage_v=voltage,
        current_a=current,
    )
