"""What the amounts of one order must mean (UBC-MSG-001..007, UBC-CONS-007): quantities above
zero, energy lines that are price times quantity, a payment of the quoted total, signs that
follow the component type, ISO 4217 currencies, no negative prices, one currency, and a
refund of what was paid beyond the bill.

These are facts one message states about itself, so `validate` and every callback of a run
judge them alike. They read fixed places of `message.order` (and of published offers), never
walk the message: `validate` runs them on every message of a capture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.beckn.currency import is_iso_4217
from harness.checks.message import Message, Pipeline
from harness.findings import Finding

TOLERANCE = 0.01  # one paisa: amounts travel rounded to two decimals
ORDER = "/message/order"
# Before the final bill the payment is for the quoted total; COMPLETED orders carry the bill,
# which may differ from what was paid (TSD §12.5), and a REFUNDED payment the refunded amount.
QUOTED_ORDER_STATES = frozenset({"CREATED", "PENDING", "CONFIRMED", "INPROGRESS"})
QUOTED_PAYMENT_STATES = frozenset({"INITIATED", "COMPLETED"})
# TSD §12.5.4: only a DISCOUNT lowers the price; UNIT, FEE and SURCHARGE never do.
NEVER_NEGATIVE = frozenset({"UNIT", "FEE", "SURCHARGE", "TAX", "DELIVERY"})


def order_of(doc: Any) -> dict[str, Any] | None:
    message = doc.get("message") if isinstance(doc, dict) else None
    order = message.get("order") if isinstance(message, dict) else None
    return order if isinstance(order, dict) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _action(message: Message) -> str:
    action = message.context.get("action") if message.context else None
    return action if isinstance(action, str) else "message"


def amounts(order: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every amount an order states, as (JSON pointer, amount object, what it is)."""
    value = _dict(order.get("beckn:orderValue"))
    if value:
        yield f"{ORDER}/beckn:orderValue", value, "quote total"
    for i, component in enumerate(_list(value.get("components"))):
        if isinstance(component, dict):
            yield f"{ORDER}/beckn:orderValue/components/{i}", component, f"component {i}"
    for i, item in enumerate(_list(order.get("beckn:orderItems"))):
        item = _dict(item)
        if isinstance(item.get("beckn:price"), dict):
            yield f"{ORDER}/beckn:orderItems/{i}/beckn:price", item["beckn:price"], \
                f"price of item {i}"
        offer_price = _dict(item.get("beckn:acceptedOffer")).get("beckn:price")
        if isinstance(offer_price, dict):
            yield f"{ORDER}/beckn:orderItems/{i}/beckn:acceptedOffer/beckn:price", \
                offer_price, f"accepted offer price of item {i}"
    for i, offer in enumerate(_list(order.get("beckn:acceptedOffers"))):
        price = _dict(offer).get("beckn:price")
        if isinstance(price, dict):
            yield f"{ORDER}/beckn:acceptedOffers/{i}/beckn:price", price, f"offer {i} price"
    paid = _dict(order.get("beckn:payment")).get("beckn:amount")
    if isinstance(paid, dict):
        yield f"{ORDER}/beckn:payment/beckn:amount", paid, "payment amount"
    totals = _dict(order.get("beckn:invoice")).get("beckn:totals")
    if isinstance(totals, dict):
        yield f"{ORDER}/beckn:invoice/beckn:totals", totals, "invoice total"


def _published_prices(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """The prices of the offers a catalog publishes (on_discover, catalog_publish)."""
    message = _dict(_dict(doc).get("message"))
    for i, catalog in enumerate(_list(message.get("catalogs"))):
        for j, offer in enumerate(_list(_dict(catalog).get("beckn:offers"))):
            price = _dict(offer).get("beckn:price")
            if isinstance(price, dict):
                yield f"/message/catalogs/{i}/beckn:offers/{j}/beckn:price", price, \
                    f"price of offer {j} in catalog {i}"


def quantities_positive(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-001: every ordered quantity is above zero."""
    order = order_of(message.doc)
    findings = []
    for i, item in enumerate(_list(order.get("beckn:orderItems")) if order else []):
        quantity = _number(_dict(_dict(item).get("beckn:quantity")).get("unitQuantity"))
        if quantity is not None and quantity <= 0:
            findings.append(Finding(
                "UBC-MSG-001", f"{_action(message)}: item {i} is ordered in quantity {quantity:g}",
                path=f"{ORDER}/beckn:orderItems/{i}/beckn:quantity/unitQuantity",
                expected="> 0", actual=quantity))
    return findings


def _unit_price(item: dict[str, Any]) -> float | None:
    price = item.get("beckn:price")
    if not isinstance(price, dict):
        price = _dict(_dict(item.get("beckn:acceptedOffer")).get("beckn:price"))
    return _number(price.get("value"))


def energy_priced_by_quantity(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-002: the UNIT components of a quote add up to unit price x quantity of its
    items. Not on the final bill (order COMPLETED), whose UNIT line bills metered energy, which
    the run compares with the meter (UBC-CONS-006)."""
    order = order_of(message.doc)
    if order is None or order.get("beckn:orderStatus") == "COMPLETED":
        return []
    components = _list(_dict(order.get("beckn:orderValue")).get("components"))
    units = [_number(_dict(c).get("value")) for c in components
             if _dict(c).get("type") == "UNIT"]
    if not units or None in units:
        return []
    expected = 0.0
    for item in _list(order.get("beckn:orderItems")):
        item = _dict(item)
        quantity = _number(_dict(item.get("beckn:quantity")).get("unitQuantity"))
        price = _unit_price(item)
        if quantity is None or price is None:
            return []  # nothing to multiply: the quote does not state both
        expected += quantity * price
    expected, billed = round(expected, 2), round(sum(units), 2)  # type: ignore[arg-type]
    if abs(billed - expected) <= TOLERANCE:
        return []
    return [Finding("UBC-MSG-002", f"{_action(message)}: UNIT components come to {billed}, "
                    f"unit price x quantity is {expected}",
                    path=f"{ORDER}/beckn:orderValue/components", expected=expected,
                    actual=billed)]


def payment_is_quoted_total(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-003: until the final bill, the payment is for the quoted total."""
    order = order_of(message.doc)
    if order is None or order.get("beckn:orderStatus") not in QUOTED_ORDER_STATES:
        return []
    payment = _dict(order.get("beckn:payment"))
    if payment.get("beckn:paymentStatus") not in QUOTED_PAYMENT_STATES:
        return []
    value, paid = _dict(order.get("beckn:orderValue")), _dict(payment.get("beckn:amount"))
    total, amount = _number(value.get("value")), _number(paid.get("value"))
    if total is None or amount is None or paid.get("currency", value.get("currency")) != \
            value.get("currency") or abs(total - amount) <= TOLERANCE:
        return []  # another currency is UBC-CONS-007's finding
    return [Finding("UBC-MSG-003", f"{_action(message)}: payment of {amount:g} for a quote of "
                    f"{total:g} ({order.get('beckn:orderStatus')} order, "
                    f"{payment.get('beckn:paymentStatus')} payment)",
                    path=f"{ORDER}/beckn:payment/beckn:amount/value", expected=total,
                    actual=amount)]


def component_signs_follow_type(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-004: a DISCOUNT is zero or negative; UNIT, FEE and SURCHARGE are not negative."""
    order = order_of(message.doc)
    components = _list(_dict(order.get("beckn:orderValue")).get("components")) if order else []
    findings = []
    for i, component in enumerate(components):
        component = _dict(component)
        kind, value = component.get("type"), _number(component.get("value"))
        if value is None:
            continue
        if kind == "DISCOUNT" and value > 0:
            expected = "<= 0 (a discount lowers the price)"
        elif kind in NEVER_NEGATIVE and value < 0:
            expected = f">= 0 (only a DISCOUNT lowers the price, not a {kind})"
        else:
            continue
        findings.append(Finding("UBC-MSG-004", f"{_action(message)}: {kind} component {i} of "
                                f"{value:g}", path=f"{ORDER}/beckn:orderValue/components/{i}/value",
                                expected=expected, actual=value))
    return findings


def currencies_are_iso_4217(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-005: every currency in an order or a published price is an ISO 4217 code."""
    doc = message.doc
    order = order_of(doc)
    places = list(amounts(order)) if order is not None else []
    if order is None and isinstance(_dict(_dict(doc).get("message")).get("catalogs"), list):
        places = list(_published_prices(doc))
    findings = []
    for path, amount, what in places:
        code = amount.get("currency")
        if code is not None and not is_iso_4217(code):
            findings.append(Finding("UBC-MSG-005", f"{_action(message)}: {what} in {code!r}, "
                                    "which is no ISO 4217 currency code",
                                    path=f"{path}/currency", expected="ISO 4217 code, e.g. INR",
                                    actual=code))
    return findings


def one_currency(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-CONS-007: prices, offers, payment and invoice are in the quote's currency (the
    components are judged with the quote arithmetic, `order_value_adds_up`)."""
    order = order_of(message.doc)
    if order is None:
        return []
    places = [p for p in amounts(order) if "/components/" not in p[0]]
    quote = next((p for p in places if p[2] == "quote total"), places[0] if places else None)
    if quote is None or not isinstance(quote[1].get("currency"), str):
        return []
    currency = quote[1]["currency"]
    return [Finding("UBC-CONS-007", f"{_action(message)}: {what} in {amount.get('currency')!r}, "
                    f"{quote[2]} in {currency!r}", path=f"{path}/currency", expected=currency,
                    actual=amount.get("currency"))
            for path, amount, what in places
            if isinstance(amount.get("currency"), str) and amount["currency"] != currency]


def refund_is_overpayment(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-007: on a final bill (order and payment COMPLETED) that lists a refund
    adjustment, the adjustment is what was paid beyond the bill (TSD §12.5.5: paid > actual is
    an undercharge, refunded as a negative DISCOUNT). A bill may also leave the refund to the
    on_status that reports it, so an absent adjustment is no finding."""
    order = order_of(message.doc)
    if order is None or order.get("beckn:orderStatus") != "COMPLETED":
        return []
    payment = _dict(order.get("beckn:payment"))
    value = _dict(order.get("beckn:orderValue"))
    paid = _number(_dict(payment.get("beckn:amount")).get("value"))
    billed = _number(value.get("value"))
    if payment.get("beckn:paymentStatus") != "COMPLETED" or paid is None or billed is None:
        return []
    refunds = [_number(c.get("value")) for c in map(_dict, _list(value.get("components")))
               if c.get("type") == "DISCOUNT" and "refund" in str(c.get("description", "")).lower()]
    if not refunds or None in refunds:
        return []
    refunded = -round(sum(refunds), 2)  # type: ignore[arg-type]
    owed = max(round(paid - billed, 2), 0.0)
    if abs(refunded - owed) <= TOLERANCE:
        return []
    return [Finding("UBC-MSG-007", f"{_action(message)}: {paid:g} was paid for a bill of "
                    f"{billed:g}, and the bill refunds {refunded:g}",
                    path=f"{ORDER}/beckn:orderValue/components", expected=owed,
                    actual=refunded)]


def prices_not_negative(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-MSG-006: unit prices, the quote total, the payment and the invoice total are not
    negative (a refund is a DISCOUNT component or a REFUNDED payment, never a negative price)."""
    doc = message.doc
    order = order_of(doc)
    places = list(amounts(order)) if order is not None else list(_published_prices(doc))
    findings = []
    for path, amount, what in places:
        value = _number(amount.get("value"))
        if value is not None and value < 0 and "/components/" not in path:
            findings.append(Finding("UBC-MSG-006", f"{_action(message)}: {what} is {value:g}",
                                    path=f"{path}/value", expected=">= 0", actual=value))
    return findings
