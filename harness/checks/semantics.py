"""What the amounts of one order must mean (UBC-CONS-001/007/009, UBC-MSG-001..007, 014,
015): a total that is the sum of its components, quantities above zero, energy lines that are
price times quantity, a payment of the quoted total, signs that follow the component type,
ISO 4217 currencies, no negative prices, one currency, a refund of what was paid beyond the
bill, an invoice of the bill, and a finder fee that is a share of the order.

These are facts one message states about itself, so `validate` and every callback of a run
judge them alike. `validate` runs them on every message of a capture, so the registry calls
one check, `amounts_mean_what_they_say`, which reads the order once (fixed places, no walk)
and hands that reading to one small function per rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
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

# Where an amount is, the amount object, and what it is: path parts and a label, turned into a
# JSON pointer and words only for a finding (most messages have none).
Place = tuple[tuple[Any, ...], dict[str, Any], str]


def number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    kind = type(value)  # not isinstance: a bool is no number here
    return float(value) if kind is float or kind is int else None


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one: lenient reading of a candidate's
    message, whose shape the schema judges."""
    return value if isinstance(value, dict) else {}


def seq(value: Any) -> list[Any]:
    """`value` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def action_of(message: Message) -> str:
    action = message.context.get("action") if message.context else None
    return action if isinstance(action, str) else "message"


def published_prices(doc: Any) -> Iterator[Place]:
    """The prices of the offers a catalog publishes (on_discover, catalog_publish)."""
    for i, catalog in enumerate(seq(obj(obj(doc).get("message")).get("catalogs"))):
        for j, offer in enumerate(seq(obj(catalog).get("beckn:offers"))):
            price = obj(offer).get("beckn:price")
            if isinstance(price, dict):
                yield ("catalogs", i, "beckn:offers", j, "beckn:price"), price, \
                    f"price of offer {j} in catalog"


def _pointer(base: str, parts: tuple[Any, ...]) -> str:
    return base + "".join(f"/{part}" for part in parts)


def _label(label: str, parts: tuple[Any, ...]) -> str:
    """'price of item' at ('beckn:orderItems', 0, ...) -> 'price of item 0'."""
    index = next((p for p in parts if isinstance(p, int)), None)
    return label if index is None else f"{label} {index}"


@dataclass(slots=True)
class Reading:
    """One order as the amount rules read it, in one pass over its items and components."""

    action: str
    order: dict[str, Any]
    status: Any
    value: dict[str, Any]  # beckn:orderValue
    payment: dict[str, Any]
    quantities: list[tuple[int, float]]  # (item index, ordered quantity)
    priced: float | None  # sum of unit price x quantity, None unless every item states both
    units: float | None  # sum of the UNIT components, None when there is none or one is no number
    refunds: list[float | None]  # refund adjustments: DISCOUNT components saying "refund"
    off_sign: list[tuple[int, Any, float]]  # components whose sign their type rules out
    off_code: list[tuple[int, Any]]  # components whose currency is no ISO 4217 code
    places: list[Place]  # every other amount: quote total first, prices, payment, invoice
    counted: int  # how many components there are
    summed: float | None  # their sum, None unless every one is a number
    other_currency: list[tuple[int, Any]]  # components in another currency than the quote

    @classmethod
    def of(cls, action: str, order: dict[str, Any]) -> Reading:
        # Hot: `validate` reads every order of a capture here, so plain type tests stand in
        # for the obj/seq/number helpers.
        value = order.get("beckn:orderValue")
        value = value if type(value) is dict else {}
        places: list[Place] = [(("beckn:orderValue",), value, "quote total")] if value else []
        quantities: list[tuple[int, float]] = []
        priced: float | None = 0.0
        items = order.get("beckn:orderItems")
        for i, item in enumerate(items if type(items) is list else ()):
            if type(item) is not dict:
                priced = None
                continue
            price = item.get("beckn:price")
            if type(price) is dict:
                places.append((("beckn:orderItems", i, "beckn:price"), price, "price of item"))
            else:
                price = None
            offer = item.get("beckn:acceptedOffer")
            offer_price = offer.get("beckn:price") if type(offer) is dict else None
            if type(offer_price) is dict:
                places.append((("beckn:orderItems", i, "beckn:acceptedOffer", "beckn:price"),
                               offer_price, "accepted offer price of item"))
            else:
                offer_price = None
            quantity_object = item.get("beckn:quantity")
            quantity = number(quantity_object.get("unitQuantity")) \
                if type(quantity_object) is dict else None
            if quantity is None:
                priced = None
                continue
            quantities.append((i, quantity))
            unit_price = number((price or offer_price or {}).get("value"))
            priced = priced + quantity * unit_price \
                if priced is not None and unit_price is not None else None
        for i, offer in enumerate(seq(order.get("beckn:acceptedOffers"))):
            offer_price = obj(offer).get("beckn:price")
            if isinstance(offer_price, dict):
                places.append((("beckn:acceptedOffers", i, "beckn:price"), offer_price,
                               "price of accepted offer"))
        payment = order.get("beckn:payment")
        payment = payment if type(payment) is dict else {}
        if type(payment.get("beckn:amount")) is dict:
            places.append((("beckn:payment", "beckn:amount"), payment["beckn:amount"],
                           "payment amount"))
        invoice = order.get("beckn:invoice")
        totals = invoice.get("beckn:totals") if type(invoice) is dict else None
        if type(totals) is dict:
            places.append((("beckn:invoice", "beckn:totals"), totals, "invoice total"))
        unit_values: list[float | None] = []
        refunds: list[float | None] = []
        off_sign: list[tuple[int, Any, float]] = []
        off_code: list[tuple[int, Any]] = []
        other_currency: list[tuple[int, Any]] = []
        currency = value.get("currency")
        counted, summed = 0, 0.0
        all_numbers = True
        components = value.get("components")
        for i, component in enumerate(components if type(components) is list else ()):
            if type(component) is not dict:
                continue
            counted += 1
            kind, code = component.get("type"), component.get("currency", currency)
            amount = number(component.get("value"))
            if amount is None:
                all_numbers = False
            else:
                summed += amount
            if code != currency:
                other_currency.append((i, code))
            if code is not None and code != "INR" and not is_iso_4217(code):  # INR: UBC's own
                off_code.append((i, code))
            if kind == "UNIT":
                unit_values.append(amount)
            elif kind == "DISCOUNT" and "refund" in str(component.get("description", "")).lower():
                refunds.append(amount)
            if amount is not None and ((kind == "DISCOUNT" and amount > 0) or (
                    amount < 0 and kind in NEVER_NEGATIVE)):
                off_sign.append((i, kind, amount))
        units = None if not unit_values or None in unit_values else \
            sum(v for v in unit_values if v is not None)
        return cls(action, order, order.get("beckn:orderStatus"), value, payment, quantities,
                   priced if quantities else None, units, refunds, off_sign, off_code, places,
                   counted, summed if all_numbers and type(components) is list else None,
                   other_currency)


def amounts_mean_what_they_say(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-CONS-001/007/009 and UBC-MSG-001..007, 014, 015 on the order (or published prices)
    of one message."""
    order = message.order
    if order is None:
        places = list(published_prices(message.doc))
        return places_are_sound(action_of(message), "/message", places, None) if places else []
    return judge_order(Reading.of(action_of(message), order))


def judge_order(reading: Reading) -> list[Finding]:
    """Every amount rule on one read order, in catalogue order."""
    findings = places_are_sound(reading.action, ORDER, reading.places, reading)
    for applies, judge in JUDGES:
        if applies(reading):
            findings += judge(reading)
    return findings


def quote_adds_up(reading: Reading) -> list[Finding]:
    """UBC-CONS-001: orderValue.value equals the sum of its components. UBC-CONS-009 (a
    warning) instead when only a refund adjustment listed on a final bill (order COMPLETED) is
    left out of the total, as the official undercharge bill does; on a quote a total that
    leaves anything out is UBC-CONS-001."""
    total = number(reading.value.get("value"))
    if reading.summed is None or total is None:
        return []
    added = round(reading.summed, 2)
    if abs(added - total) <= TOLERANCE:
        return []
    shown = reading.value["value"]
    refunded = [r for r in reading.refunds if r is not None]
    if reading.status == "COMPLETED" and refunded and \
            abs(round(added - sum(refunded), 2) - total) <= TOLERANCE:
        return [Finding("UBC-CONS-009", f"{reading.action}: the total {shown} leaves out the "
                        f"refund adjustment of {-sum(refunded):.2f}",
                        path=f"{ORDER}/beckn:orderValue/components", expected=added,
                        actual=shown)]
    return [Finding("UBC-CONS-001", f"{reading.action}: quote total {shown} but its "
                    f"{reading.counted} components add up to {added}",
                    path=f"{ORDER}/beckn:orderValue/value", expected=added, actual=shown)]


def components_in_quote_currency(reading: Reading) -> list[Finding]:
    """UBC-CONS-007: every component is in the quote's currency."""
    currency = reading.value.get("currency")
    return [Finding("UBC-CONS-007", f"{reading.action}: component {i} in {code!r}, order in "
                    f"{currency!r}", path=f"{ORDER}/beckn:orderValue/components/{i}/currency",
                    expected=currency, actual=code)
            for i, code in reading.other_currency]


def quantities_positive(reading: Reading) -> list[Finding]:
    """UBC-MSG-001: every ordered quantity is above zero."""
    return [Finding("UBC-MSG-001", f"{reading.action}: item {i} is ordered in quantity "
                    f"{quantity:g}", path=f"{ORDER}/beckn:orderItems/{i}/beckn:quantity/"
                    "unitQuantity", expected="> 0", actual=quantity)
            for i, quantity in reading.quantities if quantity <= 0]


def energy_priced_by_quantity(reading: Reading) -> list[Finding]:
    """UBC-MSG-002: the UNIT components of a quote add up to unit price x quantity of its
    items. Not on the final bill (order COMPLETED), whose UNIT line bills metered energy, which
    the run compares with the meter (UBC-CONS-006)."""
    if reading.status == "COMPLETED" or reading.priced is None or reading.units is None:
        return []
    expected, billed = round(reading.priced, 2), round(reading.units, 2)
    if abs(billed - expected) <= TOLERANCE:
        return []
    return [Finding("UBC-MSG-002", f"{reading.action}: UNIT components come to {billed}, "
                    f"unit price x quantity is {expected}",
                    path=f"{ORDER}/beckn:orderValue/components", expected=expected,
                    actual=billed)]


def payment_is_quoted_total(reading: Reading) -> list[Finding]:
    """UBC-MSG-003: until the final bill, the payment is for the quoted total."""
    payment = reading.payment
    if reading.status not in QUOTED_ORDER_STATES or \
            payment.get("beckn:paymentStatus") not in QUOTED_PAYMENT_STATES:
        return []
    value, paid = reading.value, obj(payment.get("beckn:amount"))
    total, amount = number(value.get("value")), number(paid.get("value"))
    if total is None or amount is None or paid.get("currency", value.get("currency")) != \
            value.get("currency") or abs(total - amount) <= TOLERANCE:
        return []  # another currency is UBC-CONS-007's finding
    return [Finding("UBC-MSG-003", f"{reading.action}: payment of {amount:g} for a quote of "
                    f"{total:g} ({reading.status} order, "
                    f"{payment.get('beckn:paymentStatus')} payment)",
                    path=f"{ORDER}/beckn:payment/beckn:amount/value", expected=total,
                    actual=amount)]


def component_signs_follow_type(reading: Reading) -> list[Finding]:
    """UBC-MSG-004: a DISCOUNT is zero or negative; UNIT, FEE and SURCHARGE are not negative.
    UBC-MSG-005 on a component's currency."""
    findings = [_not_iso(reading.action, code, f"component {i}",
                         f"{ORDER}/beckn:orderValue/components/{i}")
                for i, code in reading.off_code]
    for i, kind, value in reading.off_sign:
        expected = "<= 0 (a discount lowers the price)" if kind == "DISCOUNT" else \
            f">= 0 (only a DISCOUNT lowers the price, not a {kind})"
        findings.append(Finding("UBC-MSG-004", f"{reading.action}: {kind} component {i} of "
                                f"{value:g}", path=f"{ORDER}/beckn:orderValue/components/{i}/value",
                                expected=expected, actual=value))
    return findings


def _not_iso(action: str, code: Any, what: str, path: str) -> Finding:
    return Finding("UBC-MSG-005", f"{action}: {what} in {code!r}, which is no ISO 4217 "
                   "currency code", path=f"{path}/currency", expected="ISO 4217 code, e.g. INR",
                   actual=code)


def places_are_sound(action: str, base: str, places: list[Place], reading: Reading | None
                     ) -> list[Finding]:
    """UBC-MSG-005: every currency is an ISO 4217 code; UBC-MSG-006: no unit price, total,
    payment or invoice total is negative (a refund is a DISCOUNT component or a REFUNDED
    payment, never a negative price); UBC-CONS-007: in an order, prices, offers, payment and
    invoice are in the quote's currency (components: `components_in_quote_currency`)."""
    findings = []
    reference = places[0] if places else None  # the quote total when there is one
    currency = reference[1].get("currency") if reading is not None and reference else None
    for parts, amount, label in places:
        code = amount.get("currency")
        if code is not None and code != "INR" and not is_iso_4217(code):
            findings.append(_not_iso(action, code, _label(label, parts), _pointer(base, parts)))
        if isinstance(currency, str) and isinstance(code, str) and code != currency:
            findings.append(Finding(
                "UBC-CONS-007", f"{action}: {_label(label, parts)} in {code!r}, "
                f"{_label(reference[2], reference[0])} in {currency!r}",  # type: ignore[index]
                path=f"{_pointer(base, parts)}/currency", expected=currency, actual=code))
        value = number(amount.get("value"))
        if value is not None and value < 0:
            findings.append(Finding("UBC-MSG-006", f"{action}: {_label(label, parts)} is "
                                    f"{value:g}", path=f"{_pointer(base, parts)}/value",
                                    expected=">= 0", actual=value))
    return findings


def refund_is_overpayment(reading: Reading) -> list[Finding]:
    """UBC-MSG-007: on a final bill (order and payment COMPLETED) that lists a refund
    adjustment, the adjustment is what was paid beyond the bill (TSD §12.5.5: paid > actual is
    an undercharge, refunded as a negative DISCOUNT). A bill may also leave the refund to the
    on_status that reports it, so an absent adjustment is no finding."""
    if not reading.refunds or None in reading.refunds or reading.status != "COMPLETED" or \
            reading.payment.get("beckn:paymentStatus") != "COMPLETED":
        return []
    paid = number(obj(reading.payment.get("beckn:amount")).get("value"))
    billed = number(reading.value.get("value"))
    if paid is None or billed is None:
        return []
    refunded = -round(sum(reading.refunds), 2)  # type: ignore[arg-type]
    owed = max(round(paid - billed, 2), 0.0)
    if abs(refunded - owed) <= TOLERANCE:
        return []
    return [Finding("UBC-MSG-007", f"{reading.action}: {paid:g} was paid for a bill of "
                    f"{billed:g}, and the bill refunds {refunded:g}",
                    path=f"{ORDER}/beckn:orderValue/components", expected=owed,
                    actual=refunded)]


def invoice_is_the_bill(reading: Reading) -> list[Finding]:
    """UBC-MSG-014: an embedded invoice totals what the order's value says (the official
    final bills do: 143.95, 287.90 and 90.00)."""
    totals = obj(obj(reading.order.get("beckn:invoice")).get("beckn:totals"))
    invoiced, billed = number(totals.get("value")), number(reading.value.get("value"))
    if invoiced is None or billed is None or abs(invoiced - billed) <= TOLERANCE:
        return []
    return [Finding("UBC-MSG-014", f"{reading.action}: the invoice totals {invoiced:g}, the "
                    f"order's value is {billed:g}",
                    path=f"{ORDER}/beckn:invoice/beckn:totals/value", expected=billed,
                    actual=invoiced)]


def finder_fee_within_order(reading: Reading) -> list[Finding]:
    """UBC-MSG-015: a buyer finder fee given as a percentage is at most 100 % of the order."""
    fee = obj(obj(reading.order.get("beckn:orderAttributes")).get("buyerFinderFee"))
    value = number(fee.get("feeValue"))
    if fee.get("feeType") != "PERCENTAGE" or value is None or value <= 100:
        return []
    return [Finding("UBC-MSG-015", f"{reading.action}: buyer finder fee of {value:g} %",
                    path=f"{ORDER}/beckn:orderAttributes/buyerFinderFee/feeValue",
                    expected="0..100", actual=value)]


# The judges of one order, in catalogue order, each behind the cheap test of whether the order
# states what it judges (`validate` calls them on every order of a capture).
JUDGES: tuple[tuple[Callable[[Reading], bool], Callable[[Reading], list[Finding]]], ...] = (
    (lambda r: r.summed is not None, quote_adds_up),
    (lambda r: bool(r.other_currency), components_in_quote_currency),
    (lambda r: bool(r.quantities), quantities_positive),
    (lambda r: r.priced is not None and r.units is not None, energy_priced_by_quantity),
    (lambda r: r.status in QUOTED_ORDER_STATES and bool(r.payment), payment_is_quoted_total),
    (lambda r: bool(r.off_sign or r.off_code), component_signs_follow_type),
    (lambda r: bool(r.refunds), refund_is_overpayment),
    (lambda r: "beckn:invoice" in r.order, invoice_is_the_bill),
    (lambda r: "beckn:orderAttributes" in r.order, finder_fee_within_order),
)
