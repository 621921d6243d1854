"""The UBC order as both sides hold it, and its Beckn JSON-LD form.

The reference BAP puts it in its requests and the reference BPP in its callbacks; both read
the other side's order back with `Order.from_beckn`, which is lenient (it is used on a
candidate's messages, whose faults the checks report, not this parser).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CORE_CONTEXT = ("https://raw.githubusercontent.com/beckn/protocol-specifications-v2/refs/heads/"
                "core-v2.0.0-rc/schema/core/v2/context.jsonld")
PACKS = ("https://raw.githubusercontent.com/beckn/protocol-specifications-v2/refs/heads/"
         "core-v2.0.0-rc/schema")
SESSION_CONTEXT = f"{PACKS}/EvChargingSession/v1/context.jsonld"
SERVICE_CONTEXT = f"{PACKS}/EvChargingService/v1/context.jsonld"
OFFER_CONTEXT = f"{PACKS}/EvChargingOffer/v1/context.jsonld"
UBC_CONTEXT = ("https://raw.githubusercontent.com/bhim/ubc-tsd/main/beckn-schemas/"
               "UBCExtensions/v1/context.jsonld")
KWH = {"unitText": "Kilowatt Hour", "unitCode": "KWH"}


def money(value: float) -> float:
    """Amounts travel rounded to paise."""
    return round(value + 0.0, 2)


@dataclass
class PriceComponent:
    type: str  # UNIT, SURCHARGE, DISCOUNT, FEE (TSD); core also has TAX, DELIVERY
    value: float
    description: str
    currency: str = "INR"

    def to_beckn(self) -> dict[str, Any]:
        return {"type": self.type, "value": money(self.value), "currency": self.currency,
                "description": self.description}


@dataclass
class Buyer:
    id: str = "user-123"
    name: str = "Ravi Kumar"
    phone: str = "+91-9876543210"
    email: str = "ravi.kumar@example.com"
    vpa: str | None = "ravikumar@upi"

    def to_beckn(self) -> dict[str, Any]:
        buyer: dict[str, Any] = {
            "@context": CORE_CONTEXT, "@type": "beckn:Buyer", "beckn:id": self.id,
            "beckn:role": "BUYER", "beckn:displayName": self.name,
            "beckn:telephone": self.phone, "beckn:email": self.email,
        }
        if self.vpa:
            buyer["beckn:buyerAttributes"] = {"@context": UBC_CONTEXT, "@type": "BuyerUPI",
                                              "vpa": self.vpa}
        return buyer


@dataclass
class Telemetry:
    event_time: str
    state_of_charge: float
    power_kw: float
    energy_kwh: float
    voltage_v: float
    current_a: float

    def to_beckn(self) -> dict[str, Any]:
        return {"eventTime": self.event_time, "metrics": [
            {"name": "STATE_OF_CHARGE", "value": round(self.state_of_charge, 1),
             "unitCode": "PERCENTAGE"},
            {"name": "POWER", "value": round(self.power_kw, 2), "unitCode": "KW"},
            {"name": "ENERGY", "value": round(self.energy_kwh, 3), "unitCode": "KWH"},
            {"name": "VOLTAGE", "value": round(self.voltage_v, 1), "unitCode": "VLT"},
            {"name": "CURRENT", "value": round(self.current_a, 1), "unitCode": "AMP"},
        ]}


@dataclass
class Fulfillment:
    id: str = "fulfillment-001"
    mode: str = "RESERVATION"
    session_status: str | None = None
    connector_type: str | None = None
    max_power_kw: float | None = None
    connector_status: str | None = None
    telemetry: list[Telemetry] = field(default_factory=list)
    tracking_url: str | None = None

    def to_beckn(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {"@context": SESSION_CONTEXT, "@type": "ChargingSession"}
        if self.connector_type:
            attributes["connectorType"] = self.connector_type
        if self.max_power_kw is not None:
            attributes["maxPowerKW"] = self.max_power_kw
        if self.session_status:
            attributes["sessionStatus"] = self.session_status
        if self.connector_status:
            attributes["connectorStatus"] = self.connector_status
        if self.telemetry:
            attributes["chargingTelemetry"] = [t.to_beckn() for t in self.telemetry]
        fulfillment: dict[str, Any] = {"@context": CORE_CONTEXT, "@type": "beckn:Fulfillment",
                                       "beckn:id": self.id, "beckn:mode": self.mode}
        if self.tracking_url:
            fulfillment["trackingAction"] = {
                "@type": "beckn:TrackAction",
                "target": {"@type": "schema:EntryPoint", "url": self.tracking_url}}
        fulfillment["beckn:deliveryAttributes"] = attributes
        return fulfillment


@dataclass
class Payment:
    status: str = "INITIATED"
    amount: float = 0.0
    id: str | None = None
    url: str | None = None
    txn_ref: str | None = None
    paid_at: str | None = None
    upi_transaction_id: str | None = None
    currency: str = "INR"

    def to_beckn(self) -> dict[str, Any]:
        payment: dict[str, Any] = {"@context": CORE_CONTEXT, "@type": "beckn:Payment"}
        if self.id:
            payment["beckn:id"] = self.id
        payment["beckn:amount"] = {"currency": self.currency, "value": money(self.amount)}
        if self.url:
            payment["beckn:paymentURL"] = self.url
        if self.txn_ref:
            payment["beckn:txnRef"] = self.txn_ref
        if self.paid_at:
            payment["beckn:paidAt"] = self.paid_at
        payment["beckn:beneficiary"] = "BPP"
        payment["beckn:paymentStatus"] = self.status
        if self.upi_transaction_id:
            payment["beckn:paymentAttributes"] = {
                "@context": UBC_CONTEXT, "@type": "UBCPaymentAttributes",
                "upiTransactionId": self.upi_transaction_id}
        return payment


@dataclass
class Order:
    """What one charging order looks like at a given step of the flow."""

    seller: str
    item_id: str
    status: str = "CREATED"
    id: str | None = None
    buyer: Buyer = field(default_factory=Buyer)
    quantity_kwh: float | None = None
    offer: dict[str, Any] | None = None  # the accepted offer as the catalog carried it
    unit_price: float | None = None
    currency: str = "INR"
    components: list[PriceComponent] = field(default_factory=list)
    fulfillment: Fulfillment | None = None
    payment: Payment | None = None
    start_time: str | None = None  # preferred slot (reservation)
    end_time: str | None = None
    buyer_finder_fee_pct: float | None = None

    @property
    def total(self) -> float:
        return money(sum(c.value for c in self.components))

    def price_spec(self) -> dict[str, Any]:
        return {"currency": self.currency, "value": self.unit_price,
                "applicableQuantity": {**KWH, "unitQuantity": 1}}

    def to_beckn(self, *, full: bool = True) -> dict[str, Any]:
        """The `message.order` object. `full=False` gives the short form track and cancel
        use: id, status, parties and items only."""
        order: dict[str, Any] = {"@context": CORE_CONTEXT, "@type": "beckn:Order"}
        if self.id:
            order["beckn:id"] = self.id
        order["beckn:orderStatus"] = self.status
        order["beckn:seller"] = self.seller
        order["beckn:buyer"] = self.buyer.to_beckn()
        item: dict[str, Any] = {"beckn:orderedItem": self.item_id}
        if self.quantity_kwh is not None:
            item["beckn:quantity"] = {**KWH, "unitQuantity": self.quantity_kwh}
        if full and self.offer is not None:
            item["beckn:acceptedOffer"] = self.offer
        if full and self.unit_price is not None:
            item["beckn:price"] = self.price_spec()
        order["beckn:orderItems"] = [item]
        if not full:
            return order
        if self.components:
            order["beckn:orderValue"] = {"currency": self.currency, "value": self.total,
                                         "components": [c.to_beckn() for c in self.components]}
        if self.fulfillment is not None:
            order["beckn:fulfillment"] = self.fulfillment.to_beckn()
        if self.payment is not None:
            order["beckn:payment"] = self.payment.to_beckn()
        if self.start_time or self.buyer_finder_fee_pct is not None:
            attributes: dict[str, Any] = {"@context": SESSION_CONTEXT, "@type": "ChargingSession"}
            if self.buyer_finder_fee_pct is not None:
                attributes["buyerFinderFee"] = {"feeType": "PERCENTAGE",
                                                "feeValue": self.buyer_finder_fee_pct}
            if self.start_time and self.end_time:
                attributes["preferences"] = {"startTime": self.start_time,
                                             "endTime": self.end_time}
            order["beckn:orderAttributes"] = attributes
        return order

    @classmethod
    def from_beckn(cls, order: Any) -> Order:
        """Read an order a counterparty sent; missing parts stay empty."""
        order = order if isinstance(order, dict) else {}
        items = order.get("beckn:orderItems")
        first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) \
            else {}
        quantity = dig(first, "beckn:quantity", "unitQuantity")
        price = first.get("beckn:price") or dig(first, "beckn:acceptedOffer", "beckn:price")
        value = order.get("beckn:orderValue") if isinstance(order.get("beckn:orderValue"),
                                                             dict) else {}
        components = [
            PriceComponent(str(c.get("type")), float(c.get("value", 0)),
                           str(c.get("description", "")), str(c.get("currency", "INR")))
            for c in value.get("components", []) if isinstance(c, dict)
            and isinstance(c.get("value"), int | float)
        ]
        buyer_json = order.get("beckn:buyer") if isinstance(order.get("beckn:buyer"), dict) \
            else {}
        attributes = order.get("beckn:orderAttributes") or {}
        preferences = attributes.get("preferences", {}) if isinstance(attributes, dict) else {}
        fee = dig(attributes, "buyerFinderFee", "feeValue")
        return cls(
            seller=str(order.get("beckn:seller", "")),
            item_id=str(first.get("beckn:orderedItem", "")),
            status=str(order.get("beckn:orderStatus", "")),
            id=order.get("beckn:id") if isinstance(order.get("beckn:id"), str) else None,
            buyer=Buyer(id=str(buyer_json.get("beckn:id", "")),
                        name=str(buyer_json.get("beckn:displayName", "")),
                        phone=str(buyer_json.get("beckn:telephone", "")),
                        email=str(buyer_json.get("beckn:email", "")),
                        vpa=dig(buyer_json, "beckn:buyerAttributes", "vpa")),
            quantity_kwh=float(quantity) if isinstance(quantity, int | float) else None,
            offer=first.get("beckn:acceptedOffer") if isinstance(
                first.get("beckn:acceptedOffer"), dict) else None,
            unit_price=float(price["value"]) if isinstance(price, dict) and isinstance(
                price.get("value"), int | float) else None,
            currency=str(value.get("currency", "INR")),
            components=components,
            start_time=preferences.get("startTime") if isinstance(preferences, dict) else None,
            end_time=preferences.get("endTime") if isinstance(preferences, dict) else None,
            buyer_finder_fee_pct=float(fee) if isinstance(fee, int | float) else None,
        )


def dig(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]..., or None as soon as a step is not an object."""
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def session_status(order: Any) -> str | None:
    value = dig(order, "beckn:fulfillment", "beckn:deliveryAttributes", "sessionStatus")
    return value if isinstance(value, str) else None


def payment_status(order: Any) -> str | None:
    value = dig(order, "beckn:payment", "beckn:paymentStatus")
    return value if isinstance(value, str) else None


def order_status(order: Any) -> str | None:
    value = dig(order, "beckn:orderStatus")
    return value if isinstance(value, str) else None
