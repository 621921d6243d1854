"""What each Then-step of a UBC story promises, checked on the callback it is about.

One function a promise; each takes the exchange (or what the step has gathered) and returns
findings, so every promise can be tested without a server. The steps that call them are in
harness/certify/bpp/story.py; the states each step must report are data in state.py.
"""

from __future__ import annotations

from typing import Any

from harness.beckn import envelope
from harness.beckn.order import Order, dig, order_status, session_status
from harness.checks import consistency, state
from harness.findings import NOT_EVALUATED, Finding
from harness.transcript import Exchange

_ORDER = "/message/order"
_DELIVERY = f"{_ORDER}/beckn:fulfillment/beckn:deliveryAttributes"


def _order(exchange: Exchange) -> Any:
    return dig(exchange.json(), "message", "order")


# -- discovery -----------------------------------------------------------------------------------

def catalog_reached(items: list[dict[str, Any]], connector: str | None = None
                    ) -> list[Finding]:
    """UBC-TIME-003: discovery through the CDS brought the candidate's catalog (with an item
    of `connector` when asked). Later scenarios that need it are blocked, not failed again
    (harness/certify/bpp/discovery.py)."""
    if items:
        return []
    return [Finding("UBC-TIME-003", "the candidate's catalog did not reach the BAP through the "
                    "CDS" + (f" with a {connector} item" if connector else ""),
                    expected="at least one item", actual=0)]


def item_has_qr(item: dict[str, Any]) -> list[Finding]:
    """UBC-SCH-004: an item a driver can scan carries its qrIdentifier."""
    if isinstance(dig(item, "beckn:itemAttributes", "qrIdentifier"), str):
        return []
    return [Finding("UBC-SCH-004", "the candidate's item has no qrIdentifier to scan",
                    path="/beckn:itemAttributes/qrIdentifier")]


def scanned_item_listed(items: list[dict[str, Any]], wanted: Any, qr: Any,
                        offer: dict[str, Any] | None) -> list[Finding]:
    """UBC-CONS-005: discover by QR lists the scanned item, with an offer that prices it."""
    findings = []
    listed = [i.get("beckn:id") for i in items]
    if wanted not in listed:
        findings.append(Finding("UBC-CONS-005", f"discover by QR {qr!r} did not list the "
                                "scanned charger", expected=wanted, actual=listed))
    if offer is None or not isinstance(dig(offer, "beckn:price", "value"), int | float):
        findings.append(Finding("UBC-CONS-005", f"no offer with a price for item {wanted!r}",
                                expected="an offer listing the item"))
    return findings


def ccs2_item_listed(items: list[dict[str, Any]]) -> list[Finding]:
    """UBC-CONS-005: a discover for CCS2 chargers nearby lists one of the candidate's."""
    if any(dig(i, "beckn:itemAttributes", "connectorType") == "CCS2" for i in items):
        return []
    return [Finding("UBC-CONS-005", "discover for CCS2 chargers within 10 km in the time window "
                    "listed none of the candidate's", expected="a CCS2 item", actual=len(items))]


# -- ordering ------------------------------------------------------------------------------------

def quote_has_breakup(on_select: Exchange) -> list[Finding]:
    """UBC-SCH-004: on_select quotes its total with a breakup of components."""
    if Order.from_beckn(_order(on_select)).components:
        return []
    return [Finding("UBC-SCH-004", "on_select carries no quote breakup",
                    path=f"{_ORDER}/beckn:orderValue/components", evidence=[on_select.id])]


def payment_is_quoted_total(on_init: Exchange, quoted_total: float) -> list[Finding]:
    """UBC-CONS-004: on_init asks for exactly the quoted total."""
    amount = dig(on_init.json(), "message", "order", "beckn:payment", "beckn:amount", "value")
    if isinstance(amount, int | float) and abs(amount - quoted_total) <= consistency.TOLERANCE:
        return []
    return [Finding("UBC-CONS-004", "on_init asks for a payment other than the quoted total",
                    path=f"{_ORDER}/beckn:payment/beckn:amount", expected=quoted_total,
                    actual=amount, evidence=[on_init.id])]


def order_has_id(on_confirm: Exchange) -> list[Finding]:
    """UBC-SCH-004: on_confirm gives the order its id."""
    order_id = dig(_order(on_confirm), "beckn:id")
    if isinstance(order_id, str) and order_id:
        return []
    return [Finding("UBC-SCH-004", "on_confirm gives the order no id", path=f"{_ORDER}/beckn:id",
                    evidence=[on_confirm.id])]


# -- charging ------------------------------------------------------------------------------------

def connector_preparing(on_status: Exchange) -> list[Finding]:
    """UBC-STATE-004: after plug-in, on_status shows the connector PREPARING."""
    status = dig(_order(on_status), "beckn:fulfillment", "beckn:deliveryAttributes",
                 "connectorStatus")
    if status == "PREPARING":
        return []
    return [Finding("UBC-STATE-004", "on_status after plug-in does not show the connector "
                    "PREPARING", path=f"{_DELIVERY}/connectorStatus", expected="PREPARING",
                    actual=status, evidence=[on_status.id])]


def tracking_live(on_track: Exchange) -> list[Finding]:
    """UBC-STATE-004: on_track carries live telemetry and a tracking URL."""
    fulfillment = dig(_order(on_track), "beckn:fulfillment")
    findings = []
    telemetry = dig(fulfillment, "beckn:deliveryAttributes", "chargingTelemetry")
    if not isinstance(telemetry, list) or not telemetry:
        findings.append(Finding("UBC-STATE-004", "on_track carries no chargingTelemetry",
                                path=f"{_DELIVERY}/chargingTelemetry", evidence=[on_track.id]))
    if not isinstance(dig(fulfillment, "trackingAction", "target", "url"), str):
        findings.append(Finding("UBC-STATE-004", "on_track carries no tracking URL",
                                path=f"{_ORDER}/beckn:fulfillment/trackingAction",
                                evidence=[on_track.id]))
    return findings


def metered_energy(bill: Exchange) -> float | None:
    """The energy a final bill states: its last ENERGY telemetry, else its item quantity."""
    order = _order(bill)
    energy: Any = None
    telemetry = dig(order, "beckn:fulfillment", "beckn:deliveryAttributes", "chargingTelemetry")
    for sample in telemetry if isinstance(telemetry, list) else []:
        for metric in dig(sample, "metrics") or []:
            if dig(metric, "name") == "ENERGY":
                energy = dig(metric, "value")
    if not isinstance(energy, int | float):
        energy = Order.from_beckn(order).quantity_kwh
    return float(energy) if isinstance(energy, int | float) else None


def bill_matches_meter(bill: Exchange, unit_price: float | None) -> list[Finding]:
    """UBC-CONS-006: the energy lines of a final bill equal the metered energy it states times
    the quoted tariff; not evaluated when the bill states no energy (or no tariff was quoted)."""
    energy = metered_energy(bill)
    if energy is None or not unit_price:
        return [Finding("UBC-CONS-006", "the final bill states no metered energy (ENERGY "
                        "telemetry or item quantity) to check it against",
                        status=NOT_EVALUATED, evidence=[bill.id])]
    return consistency.bill_matches_energy(bill, energy, unit_price)


def completion_reported(callback: Exchange | None) -> list[Finding]:
    """UBC-TIME-003: reaching the energy limit is reported by an unsolicited callback."""
    if callback is not None:
        return []
    return [Finding("UBC-TIME-003", "no unsolicited on_update or on_status reported the session "
                    "COMPLETED after the energy limit was delivered")]


# -- after the session ---------------------------------------------------------------------------

def rating_acknowledged(on_rating: Exchange) -> list[Finding]:
    """UBC-SCH-004: on_rating acknowledges the rating (received, aggregate or a form)."""
    message = dig(on_rating.json(), "message")
    if isinstance(message, dict) and any(k in message
                                         for k in ("received", "aggregate", "feedbackForm")):
        return []
    return [Finding("UBC-SCH-004", "on_rating acknowledges nothing", path="/message",
                    evidence=[on_rating.id])]


def support_answered(on_support: Exchange) -> list[Finding]:
    """UBC-SCH-004: on_support gives support contact details."""
    if isinstance(dig(on_support.json(), "message", "support"), dict):
        return []
    return [Finding("UBC-SCH-004", "on_support carries no support details",
                    path="/message/support", evidence=[on_support.id])]


# -- cancellation and corner cases (TSD §12) -----------------------------------------------------

def cancel_refunds(on_cancel: Exchange) -> list[Finding]:
    """UBC-STATE-004: a cancellation refunds the payment."""
    payment = dig(_order(on_cancel), "beckn:payment", "beckn:paymentStatus")
    if payment == "REFUNDED":
        return []
    return [Finding("UBC-STATE-004", "on_cancel does not refund the payment",
                    path=f"{_ORDER}/beckn:payment/beckn:paymentStatus", expected="REFUNDED",
                    actual=payment, evidence=[on_cancel.id])]


def late_cancel_refused(on_cancel: Exchange) -> list[Finding]:
    """UBC-STATE-005: a cancel after the session started is refused with 50001 and the order
    is not cancelled."""
    findings = state.refused_with(on_cancel, envelope.CANCELLATION_NOT_POSSIBLE,
                                  "UBC-STATE-005", "cancel after the session started")
    status = order_status(_order(on_cancel))
    if status == "CANCELLED":
        findings.append(Finding("UBC-STATE-005", "a started session was cancelled",
                                expected="INPROGRESS", actual=status, evidence=[on_cancel.id]))
    return findings


def impossible_start_refused(on_update: Exchange) -> list[Finding]:
    """UBC-STATE-007: a start the charger cannot perform (its connector is faulted) is refused
    with 40006, the order REJECTED as example 10_on_update/ev-charging-start-on_update-Rejected
    shows it (or left CONFIRMED), never INPROGRESS with a session ACTIVE."""
    findings = state.refused_with(on_update, envelope.FULFILMENT_AGENT_UNAVAILABLE,
                                  "UBC-STATE-007", "start on a faulted charger")
    order = _order(on_update)
    status, session = order_status(order), session_status(order)
    if status == "INPROGRESS" or session == "ACTIVE":
        findings.append(Finding("UBC-STATE-007", "a start the charger cannot perform was "
                                f"reported as started (order {status}, session {session})",
                                path=f"{_ORDER}/beckn:orderStatus", expected="REJECTED",
                                actual=status, evidence=[on_update.id]))
    return findings


def overlap_rejected(on_select: Exchange) -> list[Finding]:
    """UBC-STATE-006: a select for an overlapping slot is REJECTED with 40000."""
    findings = state.refused_with(on_select, envelope.BUSINESS_ERROR, "UBC-STATE-006",
                                  "overlapping slot")
    status = order_status(_order(on_select))
    if status not in (None, "REJECTED"):
        findings.append(Finding("UBC-STATE-006", "an overlapping slot was not rejected",
                                path=f"{_ORDER}/beckn:orderStatus", expected="REJECTED",
                                actual=status, evidence=[on_select.id]))
    return findings


def interruption_reported(on_status: Exchange | None) -> list[Finding]:
    """UBC-STATE-008: a pulled cable is reported by an unsolicited on_status INTERRUPTED."""
    if on_status is None:
        return [Finding("UBC-STATE-008", "the interruption was not reported by an unsolicited "
                        "on_status")]
    return state.step_states("interruption", on_status)


def refund_reported(on_status: Exchange | None) -> list[Finding]:
    """UBC-STATE-009: an undercharged session is refunded by an unsolicited on_status."""
    if on_status is None:
        return [Finding("UBC-STATE-009", "no unsolicited on_status refunded the unused amount")]
    return state.step_states("refund", on_status)


def is_interrupted(doc: Any) -> bool:
    return session_status(dig(doc, "message", "order")) == "INTERRUPTED"


def is_completed(doc: Any) -> bool:
    return session_status(dig(doc, "message", "order")) == "COMPLETED"


def is_refunded(doc: Any) -> bool:
    return dig(doc, "message", "order", "beckn:payment", "beckn:paymentStatus") == "REFUNDED"
