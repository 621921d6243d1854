"""The answers of the `/v1` client API, in the shapes of client-api-contract.md §2-§10, built
from an `AppOrder` and the callbacks behind it.

Readings of the contract taken here:
- Amounts are numbers, except where the contract writes them as strings: the estimate's
  `durationInMinutes` and `percentageOfBatteryCharged`, the cancellation fee's `percentage`,
  and the `price_components[].value` of both cancel answers (two decimals).
- Price component types are the BPP's (UNIT, SURCHARGE, DISCOUNT, FEE), except in the stop
  answer, whose contract lists BASE where Beckn says UNIT; a refund due is a REFUND line with
  a negative value there and in the cancel answer.
- `validity` is the estimate's time window, else from the moment of the quote for
  `BapConfig.quote_validity_s`.
- The battery share an estimate gains, and its duration, are the app's own arithmetic: the
  energy over a typical battery of the vehicle type, and over the connector's power.
"""

from __future__ import annotations

import math
from typing import Any

from harness.beckn import time as wire_time
from harness.beckn.order import PriceComponent, money
from mocks.bap.catalogs import payment_methods
from mocks.bap.orders import AppOrder

BATTERY_KWH = {"2-wheeler": 3.0, "3-wheeler": 8.0, "4-wheeler": 40.0}


def _component(c: PriceComponent, *, as_text: bool = False, unit: str = "UNIT") -> dict[str, Any]:
    return {"type": unit if c.type == "UNIT" else c.type,
            "value": f"{money(c.value):.2f}" if as_text else money(c.value),
            "currency": c.currency, "description": c.description}


def _line(kind: str, value: float, currency: str, description: str, *,
          as_text: bool) -> dict[str, Any]:
    return {"type": kind, "value": f"{money(value):.2f}" if as_text else money(value),
            "currency": currency, "description": description}


def validity(order: AppOrder, quote_validity_s: float) -> dict[str, str]:
    if order.window is not None:
        return {"startDate": order.window[0], "endDate": order.window[1]}
    return {"startDate": wire_time.format(order.quoted_at, timespec="seconds"),
            "endDate": wire_time.format(order.quoted_at + quote_validity_s, timespec="seconds")}


def estimated_energy(order: AppOrder) -> float:
    """The energy the quote buys: what the driver asked for, else the UNIT lines at the
    quoted tariff."""
    if order.energy_kwh is not None:
        return order.energy_kwh
    price = order.beckn.unit_price
    unit = sum(c.value for c in order.quote if c.type == "UNIT")
    return round(unit / price, 3) if price else 0.0


def estimate(order: AppOrder, *, shown_amount: float, quote_validity_s: float,
             cancellation_fee: float) -> dict[str, Any]:
    """§2: the quote of on_select, for the driver to accept."""
    energy = estimated_energy(order)
    power = order.listing.max_power_kw
    minutes = math.ceil(energy / power * 60) if power else 0
    battery = BATTERY_KWH.get(order.vehicle.type or "4-wheeler", BATTERY_KWH["4-wheeler"])
    total = money(sum(c.value for c in order.quote))
    fee_pct = round(min(cancellation_fee, total) / total * 100) if total > 0 else 0
    return {
        "order": {"id": order.id, "mode": order.mode(lower=True), "status": "quoted_price"},
        "amount": {"value": shown_amount, "currency": order.currency},
        "durationInMinutes": str(minutes),
        "percentageOfBatteryCharged": str(min(100, round(energy / battery * 100))),
        "energy": {"value": energy, "unit": "kWh"},
        "validity": validity(order, quote_validity_s),
        "priceComponents": [_component(c) for c in order.quote],
        "cancellation": {"fee": {"percentage": str(fee_pct)}},
    }


def payment(order: AppOrder, quote_validity_s: float) -> dict[str, Any]:
    """§3: what to pay, and where, as on_init asked for it."""
    amount = order.payment_amount if order.payment_amount is not None else order.total
    return {
        "order": order.summary(),
        "currency": order.currency,
        "amount": money(amount),
        "benificiary_id": order.bpp_id,  # the contract's spelling; Beckn's beneficiary: BPP
        "acceptedPaymentMethod": payment_methods(order.beckn.offer),
        "payment_url": order.payment_url or "",
        "validity": validity(order, quote_validity_s),
    }


def states(order: AppOrder) -> dict[str, Any]:
    """§5: order, payment and charging as they stand."""
    return {"order": order.summary(), "payment": {"status": order.shown_payment()},
            "charging": {"status": order.shown_charging()}}


def order_view(order: AppOrder, *, charging: str | None = None,
               telemetry: dict[str, Any] | None = None) -> dict[str, Any]:
    """§4: the order with its connector, vehicle and live telemetry (the charging state and
    the reading shown are the order's own unless a fault says otherwise)."""
    view = states(order)
    if charging is not None:
        view["charging"] = {"status": charging}
    view["connectorId"] = order.listing.id
    if order.listing.connector_type:
        view["connectorType"] = order.listing.connector_type
    view["vehicle"] = order.vehicle.as_dict()
    if order.tracking_url:
        view["trackingUrl"] = order.tracking_url
    telemetry = telemetry or order.telemetry_view()
    if telemetry is not None:
        view["chargingTelemetry"] = telemetry
    return view


def refund_due(order: AppOrder) -> float:
    return money(max(0.0, order.paid - order.total)) if order.paid else 0.0


def bill(order: AppOrder, quote_validity_s: float) -> dict[str, Any]:
    """§6: the final bill of on_update, and the refund it leaves."""
    lines = [_component(c, unit="BASE") for c in order.value]
    refund = refund_due(order)
    if refund > 0:
        lines.append(_line("REFUND", -refund, order.currency,
                           "Refund of the unused pre-payment", as_text=False))
    return {**states(order), "validity": validity(order, quote_validity_s),
            "price_components": lines}


def cancellation_estimate(order: AppOrder, fee: float, quote_validity_s: float
                          ) -> dict[str, Any]:
    """§7: what cancelling would cost, by the app's own estimate (Beckn has no such quote)."""
    return {**states(order), "validity": validity(order, quote_validity_s),
            "price_components": [
                _line("PAID", order.paid, order.currency, "Amount paid", as_text=True),
                _line("FEE", fee, order.currency, "Cancellation charges (estimate)",
                      as_text=True)]}


def cancellation_amounts(order: AppOrder) -> tuple[float, float]:
    """The fee and refund of a cancelled order as on_cancel reported them: the refund of its
    REFUNDED payment, and as fee what was paid less that refund (the BPP's word whether its
    on_cancel bills the fee alone or keeps the order's value, as the TSD's example does)."""
    refunded = order.payment_status == "REFUNDED" and order.payment_amount is not None
    refund = money(order.payment_amount or 0.0) if refunded else 0.0
    return money(max(0.0, order.paid - refund)), refund


def cancellation(order: AppOrder, fee: float, refund: float) -> dict[str, Any]:
    """§8: the cancellation as on_cancel settled it: its fee, and the refund of the rest."""
    return {**states(order), "price_components": [
        _line("FEE", fee, order.currency, "Cancellation charges", as_text=True),
        _line("REFUND", -refund, order.currency, "Cancellation refund", as_text=True)]}


def rating(order: AppOrder, on_rating: dict[str, Any]) -> dict[str, Any]:
    """§9: the rating taken, and the BPP's form for more feedback."""
    view: dict[str, Any] = {"order": order.summary()}
    form = on_rating.get("feedbackForm")
    if isinstance(form, dict):
        view["feedbackForm"] = {k: str(form[k]) for k in ("url", "mime_type", "submission_id")
                                if isinstance(form.get(k), str | int)}
    return view


def support(order: AppOrder, info: dict[str, Any]) -> dict[str, Any]:
    """§10: the BPP's support contacts for the order, as on_support gave them."""
    view: dict[str, Any] = {"order": order.summary()}
    for name in ("name", "phone", "email", "hours"):
        view[name] = str(info.get(name) or "")
    if isinstance(info.get("url"), str):
        view["url"] = info["url"]
    view["channels"] = [str(c).lower() for c in info.get("channels") or []
                        if isinstance(c, str)]
    return view
