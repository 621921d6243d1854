"""The Beckn documents the reference BPP's callbacks carry: an order as it stands (with its
fulfillment, telemetry and bill as the journey has them), on_track's short order, and the
feedback form and support details of on_rating and on_support."""

from __future__ import annotations

from typing import Any

from harness.beckn import time as wire_time
from harness.beckn.order import (
    CORE_CONTEXT,
    SESSION_CONTEXT,
    UBC_CONTEXT,
    Fulfillment,
    Order,
    Telemetry,
)
from mocks.bpp.catalog import SiteCatalog
from mocks.bpp.config import BppConfig
from mocks.bpp.orders import OrderRecord


class OrderDocuments:
    """Beckn order documents of the BPP's orders, as the charger and catalog see them now."""

    def __init__(self, site: SiteCatalog, config: BppConfig) -> None:
        self.site = site
        self.charger = site.charger
        self.config = config

    def order(self, record: OrderRecord, *, status: str | None = None, value: bool = True,
              fulfillment: Fulfillment | None = None, full: bool = True) -> dict[str, Any]:
        """The order: its item at the order's price, its value (quote or bill) and payment;
        `full=False` is the short form of on_track, without value or payment."""
        # built anew at each call (SiteCatalog.offer shares nothing): ours to change
        offer = self.site.offer(self.charger.connector(record.connector_id))
        offer["beckn:price"]["value"] = record.unit_price
        fee = record.finder_fee
        order = Order(
            seller=self.config.provider_id, item_id=record.item_id,
            status=status or record.status, id=record.order_id, offer=offer,
            unit_price=record.unit_price, currency=record.currency,
            components=list(record.value) if value and full else [],
            fulfillment=fulfillment, payment=record.payment if full else None,
            start_time=record.start_time, end_time=record.end_time,
            buyer_finder_fee_pct=fee[1] if fee is not None and fee[0] == "PERCENTAGE" else None)
        doc = order.to_beckn(full=full)
        if record.buyer:
            doc["beckn:buyer"] = record.buyer
        if record.quantity is not None:
            line = doc["beckn:orderItems"][0]
            doc["beckn:orderItems"][0] = {"beckn:orderedItem": line["beckn:orderedItem"],
                                          "beckn:quantity": record.quantity,
                                          **{k: v for k, v in line.items()
                                             if k != "beckn:orderedItem"}}
        if full and fee is not None and fee[0] == "AMOUNT":
            attributes = doc.setdefault("beckn:orderAttributes",
                                        {"@context": SESSION_CONTEXT, "@type": "ChargingSession"})
            attributes["buyerFinderFee"] = {"feeType": "AMOUNT", "feeValue": fee[1]}
        return doc

    def fulfillment(self, record: OrderRecord, *, readings: int = 0,
                    tracking: bool = False) -> Fulfillment:
        """The charging session: its state, the connector's, the last `readings` meter values
        and, with `tracking`, the URL to follow it live."""
        connector = self.charger.connector(record.connector_id)
        connector_status = None
        if record.session_status == "PENDING":
            if connector.faulted or not connector.available:
                connector_status = "UNAVAILABLE"
            elif connector.plugged:
                connector_status = "PREPARING"
        telemetry: list[Telemetry] = []
        tracking_url = None
        if record.session_id is not None:
            session = self.charger.session(record.session_id)
            if readings:
                telemetry = [Telemetry(wire_time.format(mv.timestamp), mv.soc_percent, mv.power_kw,
                                       mv.energy_kwh, mv.voltage_v, mv.current_a)
                             for mv in session.meter_values[-readings:]]
            if tracking:
                tracking_url = f"{self.config.tracking_url_base}/{record.session_id}"
        return Fulfillment(id=record.fulfillment_id, mode="RESERVATION",
                           session_status=record.session_status,
                           connector_type=connector.type.value,
                           max_power_kw=connector.max_power_kw,
                           connector_status=connector_status, telemetry=telemetry,
                           tracking_url=tracking_url)

    def confirmed(self, record: OrderRecord) -> dict[str, Any]:
        """on_confirm's order: with its session, not started yet."""
        return self.order(record, fulfillment=self.fulfillment(record))

    def current(self, record: OrderRecord, *, status: str | None = None) -> dict[str, Any]:
        """The order as it stands, with its session once confirmed; a billed session carries
        its closing meter reading, the energy the bill is computed from."""
        fulfillment = None
        if record.session_status is not None:
            fulfillment = self.fulfillment(record, readings=1 if record.bill else 0)
        doc = self.order(record, status=status, fulfillment=fulfillment)
        if record.metered_kwh is not None and "beckn:fulfillment" in doc:
            doc["beckn:fulfillment"]["beckn:deliveryAttributes"]["meteredEnergyKWh"] = \
                record.metered_kwh
        return doc

    def tracked(self, record: OrderRecord) -> dict[str, Any]:
        """on_track's short order (as 12_on_track): the session, telemetry, tracking URL."""
        doc = self.order(record, full=False)
        if record.session_status is not None:
            doc["beckn:fulfillment"] = self.fulfillment(record, readings=5,
                                                        tracking=True).to_beckn()
        return doc

    def feedback_form(self, submission: str) -> dict[str, Any]:
        """on_rating's form for more feedback on a rating received."""
        return {"@context": CORE_CONTEXT, "@type": "beckn:Form",
                "url": f"{self.config.feedback_url_base}/{submission}",
                "mime_type": "text/html", "submission_id": submission}

    def support(self, ticket: str) -> dict[str, Any]:
        """on_support's contact details for a support ticket."""
        config = self.config
        return {"@context": CORE_CONTEXT, "@type": "beckn:SupportInfo",
                "name": f"{config.provider_name} support",
                "phone": config.support_phone, "email": config.support_email,
                "url": f"{config.support_url_base}/{ticket}",
                "hours": "Mon-Sun 24/7 IST", "channels": ["PHONE", "EMAIL", "WEB"]}

    @staticmethod
    def support_acknowledged() -> dict[str, Any]:
        """on_support's feedback: the request is taken."""
        return {"@context": UBC_CONTEXT, "@type": "SupportFeedback",
                "supportStatus": "ACKNOWLEDGED"}
