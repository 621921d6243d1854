"""Consistency checks across the messages of one order (UBC-CONS-*)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.beckn.order import Order, dig
from harness.checks import semantics
from harness.findings import Finding
from harness.transcript import Exchange

TOLERANCE = 0.01  # one paisa: amounts travel rounded to two decimals


def _order(exchange: Exchange) -> Any:
    doc = exchange.json()
    message = doc.get("message") if isinstance(doc, dict) else None
    return message.get("order") if isinstance(message, dict) else None


def quote_adds_up(callback: Exchange) -> list[Finding]:
    """UBC-CONS-001 and UBC-CONS-007 for one callback in a transcript."""
    doc = callback.json()
    return order_value_adds_up(doc, callback.action or "message", [callback.id]) \
        if isinstance(doc, dict) else []


def order_value_adds_up(doc: dict[str, Any], action: str, evidence: list[str]
                        ) -> list[Finding]:
    """UBC-CONS-001/007/009 on the order value of one message: the quote arithmetic of
    harness/checks/semantics.py, the one place it is written."""
    order = semantics.obj(semantics.obj(doc).get("message")).get("order")
    if not isinstance(order, dict):
        return []
    reading = semantics.Reading.of(action, order)
    findings = [*semantics.quote_adds_up(reading), *semantics.components_in_quote_currency(reading)]
    for finding in findings:
        finding.evidence.extend(evidence)
    return findings


def order_id_stable(callbacks: Iterable[Exchange]) -> list[Finding]:
    """UBC-CONS-002: once on_confirm gives the order an id, every later callback keeps it."""
    confirmed: tuple[str, str] | None = None
    findings = []
    for callback in sorted(callbacks, key=lambda e: e.mono_time):
        order = _order(callback)
        order_id = order.get("beckn:id") if isinstance(order, dict) else None
        if callback.action == "on_confirm" and isinstance(order_id, str) and confirmed is None:
            confirmed = (order_id, callback.id)
        elif confirmed is not None and order_id is not None and order_id != confirmed[0]:
            findings.append(Finding(
                "UBC-CONS-002", f"{callback.action} carries order id {order_id!r}",
                path="/message/order/beckn:id", expected=confirmed[0], actual=order_id,
                evidence=[confirmed[1], callback.id]))
    return findings


def terms_unchanged(quoted: Exchange, later: Exchange) -> list[Finding]:
    """UBC-CONS-003/004: items, accepted offer and unit price from on_select stay the same."""
    first, then = Order.from_beckn(_order(quoted)), Order.from_beckn(_order(later))
    evidence = [quoted.id, later.id]
    findings = []
    if then.item_id and then.item_id != first.item_id:
        findings.append(Finding("UBC-CONS-003", f"{later.action} orders {then.item_id!r}, "
                                f"{quoted.action} quoted {first.item_id!r}",
                                path="/message/order/beckn:orderItems/0/beckn:orderedItem",
                                expected=first.item_id, actual=then.item_id, evidence=evidence))
    first_offer = (first.offer or {}).get("beckn:id")
    then_offer = (then.offer or {}).get("beckn:id")
    if then_offer is not None and then_offer != first_offer:
        findings.append(Finding("UBC-CONS-004", f"{later.action} accepted offer {then_offer!r}",
                                path="/message/order/beckn:orderItems/0/beckn:acceptedOffer",
                                expected=first_offer, actual=then_offer, evidence=evidence))
    if then.unit_price is not None and first.unit_price is not None and \
            abs(then.unit_price - first.unit_price) > TOLERANCE:
        findings.append(Finding("UBC-CONS-004", f"{later.action} prices the item at "
                                f"{then.unit_price}, {quoted.action} quoted {first.unit_price}",
                                path="/message/order/beckn:orderItems/0/beckn:price/value",
                                expected=first.unit_price, actual=then.unit_price,
                                evidence=evidence))
    return findings


def items_in_catalog(callback: Exchange, catalog_item_ids: set[str]) -> list[Finding]:
    """UBC-CONS-005: the ordered item is one the BPP published."""
    item = Order.from_beckn(_order(callback)).item_id
    if item and item not in catalog_item_ids:
        return [Finding("UBC-CONS-005", f"{callback.action} orders {item!r}, which is not in "
                        "the published catalog",
                        path="/message/order/beckn:orderItems/0/beckn:orderedItem",
                        actual=item, expected=sorted(catalog_item_ids)[:5],
                        evidence=[callback.id])]
    return []


def offers_in_catalog(request: Exchange, offers: Mapping[str, tuple[set[str], Any]]
                      ) -> list[Finding]:
    """UBC-CONS-005, for the offer a select accepts: one the catalog lists, for the ordered
    item, at the catalog's price. `offers`: offer id -> (the item ids it is for, its
    `beckn:price` value as the catalog gave it). An order that accepts no offer is left to
    the schemas and the BPP."""
    order = Order.from_beckn(_order(request))
    offer = order.offer
    if offer is None:
        return []
    offer_id = offer.get("beckn:id")
    path = "/message/order/beckn:orderItems/0/beckn:acceptedOffer"
    known = offers.get(offer_id) if isinstance(offer_id, str) else None
    if known is None:
        return [Finding("UBC-CONS-005", f"{request.action} accepts offer {offer_id!r}, which "
                        "the published catalog does not list", path=f"{path}/beckn:id",
                        actual=offer_id, expected=sorted(offers)[:5], evidence=[request.id])]
    items, price = known
    if order.item_id and order.item_id not in items:
        return [Finding("UBC-CONS-005", f"{request.action} accepts offer {offer_id!r} for item "
                        f"{order.item_id!r}; the catalog offers it for {sorted(items)}",
                        path=f"{path}/beckn:items", actual=order.item_id,
                        expected=sorted(items), evidence=[request.id])]
    asked = dig(offer, "beckn:price", "value")
    if isinstance(price, int | float) and isinstance(asked, int | float) and \
            abs(asked - price) > TOLERANCE:
        return [Finding("UBC-CONS-005", f"{request.action} accepts offer {offer_id!r} at "
                        f"{asked}; the catalog prices it at {price}",
                        path=f"{path}/beckn:price/value", actual=asked, expected=price,
                        evidence=[request.id])]
    return []



def selected_from_catalog(select: Exchange, catalogs: Iterable[Any]) -> list[Finding]:
    """UBC-CONS-005 for a select against the catalogs its sender was shown: the item it orders
    is one of theirs (items_in_catalog), and the offer it accepts one of theirs for that item,
    at their price (offers_in_catalog). No item in them: nothing to hold the select against."""
    shown = [c for c in catalogs if isinstance(c, dict)]
    items = {str(item.get("beckn:id")) for catalog in shown
             for item in catalog.get("beckn:items") or [] if isinstance(item, dict)}
    if not items:
        return []
    offers = {str(o.get("beckn:id")): ({str(i) for i in o.get("beckn:items") or []},
                                       dig(o, "beckn:price", "value"))
              for catalog in shown for o in catalog.get("beckn:offers") or []
              if isinstance(o, dict)}
    return items_in_catalog(select, items) + offers_in_catalog(select, offers)

ENERGY_FEE_WORDS = ("unit", "kwh", "energy")  # a FEE line that bills energy beyond the estimate


def bill_matches_energy(final: Exchange, energy_kwh: float, unit_price: float) -> list[Finding]:
    """UBC-CONS-006: the energy lines of the final bill equal metered energy x tariff. Energy
    lines are the UNIT components, plus FEE components for units beyond the estimate, as the
    TSD's overcharge bill (14_02_on_update) splits them."""
    order = Order.from_beckn(_order(final))
    units = [c for c in order.components if c.type == "UNIT"]
    if not units:
        return [Finding("UBC-CONS-006", f"{final.action}: final bill has no UNIT component",
                        path="/message/order/beckn:orderValue/components",
                        expected=round(energy_kwh * unit_price, 2), evidence=[final.id])]
    expected = round(energy_kwh * unit_price, 2)
    # Meters and tariffs round independently; allow a paisa per kWh-step of rounding.
    allowed = max(TOLERANCE, 0.005 * expected)
    billed = round(sum(c.value for c in units), 2)
    extra = [c for c in order.components if c.type == "FEE"
             and any(word in c.description.lower() for word in ENERGY_FEE_WORDS)]
    with_extra = round(billed + sum(c.value for c in extra), 2)
    if abs(billed - expected) > allowed and abs(with_extra - expected) <= allowed:
        return []
    if abs(billed - expected) > allowed:
        return [Finding("UBC-CONS-006", f"{final.action}: energy billed at {billed}, "
                        f"{energy_kwh:.3f} kWh x {unit_price} = {expected}",
                        path="/message/order/beckn:orderValue/components", expected=expected,
                        actual=billed, evidence=[final.id])]
    return []


def overcharge_carried(next_quote: Exchange, outstanding: float) -> list[Finding]:
    """UBC-CONS-008: the next quote for the same buyer carries the outstanding balance."""
    order = Order.from_beckn(_order(next_quote))
    carried = round(sum(c.value for c in order.components
                        if c.type == "FEE" and "outstanding" in c.description.lower()), 2)
    if abs(carried - round(outstanding, 2)) > TOLERANCE:
        return [Finding("UBC-CONS-008", f"{next_quote.action} carries {carried} of an "
                        f"outstanding {outstanding:.2f}",
                        path="/message/order/beckn:orderValue/components",
                        expected=round(outstanding, 2), actual=carried,
                        evidence=[next_quote.id])]
    return []
