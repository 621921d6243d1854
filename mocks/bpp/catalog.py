"""The charger site as a UBC catalog: every connector an item, its tariff an offer, and the
`catalog_publish` request that sends the catalog to a CDS."""

from __future__ import annotations

from typing import Any

from harness.beckn import envelope
from harness.beckn.order import CORE_CONTEXT, OFFER_CONTEXT, SERVICE_CONTEXT
from mocks.bpp.config import BppConfig
from mocks.charger import Charger, ChargerError, Connector, PowerType
from mocks.stack import Inbound, Outbox, Sent
from mocks.stack.http import ApiError


def item_id(connector: Connector) -> str:
    """EVSE id and connector id, the form of the official examples."""
    return f"{connector.evse_id}*{connector.id}" if connector.evse_id else connector.id


def offer_id(connector: Connector) -> str:
    return f"offer-{connector.id}-{connector.tariff_id}".lower()


def _power_type(connector: Connector) -> str:
    if connector.power_type is PowerType.DC:
        return "DC"
    return "AC_3_PHASE" if connector.phases > 1 else "AC_SINGLE_PHASE"


def _speed(kw: float) -> str:
    return "SLOW" if kw <= 7.4 else "NORMAL" if kw <= 22 else "FAST" if kw < 150 \
        else "ULTRAFAST"


class SiteCatalog:
    """What the charger site offers, as Beckn items and offers of one provider."""

    def __init__(self, charger: Charger, config: BppConfig) -> None:
        self.charger = charger
        self.config = config
        self.identity = config.identity
        self._items = {item_id(c): c.id for c in charger.connectors()}

    def item_ids(self) -> set[str]:
        return set(self._items)

    def connector_for(self, item: str) -> Connector | None:
        """The connector an item id (or a bare connector id) names, or None."""
        try:
            return self.charger.connector(self._items.get(item, item))
        except ChargerError:
            return None

    def provider(self) -> dict[str, Any]:
        return {"beckn:id": self.config.provider_id,
                "beckn:descriptor": {"@type": "beckn:Descriptor",
                                     "schema:name": self.config.provider_name}}

    def item(self, connector: Connector) -> dict[str, Any]:
        location = self.charger.location(connector.location_id)
        point = next(cp for cp in location.charge_points if cp.id == connector.charge_point_id)
        kw = connector.max_power_kw
        address = location.address
        return {
            "@context": CORE_CONTEXT, "@type": "beckn:Item",
            "beckn:id": item_id(connector),
            "beckn:descriptor": {
                "@type": "beckn:Descriptor", "schema:name": point.name,
                "beckn:shortDesc": f"{kw:g} kW {connector.type.value} connector at "
                                   f"{location.name}"},
            "beckn:category": {"@type": "schema:CategoryCode", "schema:codeValue": "ev-charging",
                               "schema:name": "EV Charging"},
            "beckn:rateable": True,
            "beckn:isActive": connector.available and not connector.faulted,
            "beckn:provider": self.provider(),
            "beckn:itemAttributes": {
                "@context": SERVICE_CONTEXT, "@type": "ChargingService",
                "connectorType": connector.type.value, "maxPowerKW": kw,
                "reservationSupported": True,
                "chargingStation": {"id": point.id, "serviceLocation": {
                    "@type": "beckn:Location",
                    "geo": {"type": "Point",
                            "coordinates": [location.longitude, location.latitude]},
                    "address": {"streetAddress": address.street,
                                "addressLocality": address.locality,
                                "addressRegion": address.region,
                                "postalCode": address.postal_code,
                                "addressCountry": address.country}}},
                "evseId": connector.evse_id or connector.id,
                "qrIdentifier": f"{self.config.qr_base_url}/{connector.id}",
                "powerType": _power_type(connector),
                "connectorFormat": "CABLE" if connector.power_type is PowerType.DC
                else "SOCKET",
                "chargingSpeed": _speed(kw),
            },
        }

    def offer(self, connector: Connector) -> dict[str, Any]:
        tariff = self.charger.tariff(connector.tariff_id)
        attributes: dict[str, Any] = {"@context": OFFER_CONTEXT, "@type": "ChargingOffer",
                                      "tariffModel": "PER_KWH"}
        if tariff.idle_fee_per_minute > 0:
            attributes["idleFeePolicy"] = {
                "currency": tariff.currency, "value": tariff.idle_fee_per_minute,
                "applicableQuantity": {"unitCode": "MIN", "unitText": "minutes",
                                       "unitQuantity": 1}}
        return {
            "@context": CORE_CONTEXT, "@type": "beckn:Offer",
            "beckn:id": offer_id(connector),
            "beckn:descriptor": {"@type": "beckn:Descriptor",
                                 "schema:name": f"Per-kWh tariff - {connector.type.value} "
                                                f"{connector.max_power_kw:g}kW"},
            "beckn:items": [item_id(connector)],
            "beckn:provider": self.config.provider_id,
            "beckn:price": {"currency": tariff.currency, "value": tariff.price_per_kwh,
                            "applicableQuantity": {"unitText": "Kilowatt Hour",
                                                   "unitCode": "KWH", "unitQuantity": 1}},
            "beckn:acceptedPaymentMethod": ["UPI", "CREDIT_CARD", "WALLET"],
            "beckn:offerAttributes": attributes,
        }

    def catalog(self) -> dict[str, Any]:
        """The site as one catalog: every connector an item, its tariff an offer."""
        connectors = self.charger.connectors()
        return {
            "@context": CORE_CONTEXT, "@type": "beckn:Catalog",
            "beckn:id": f"catalog-{self.config.provider_id}",
            "beckn:descriptor": {"@type": "beckn:Descriptor",
                                 "schema:name": f"{self.config.provider_name} charging network"},
            "beckn:providerId": self.config.provider_id,
            "beckn:bppId": self.identity.subscriber_id,
            "beckn:bppUri": self.identity.uri,
            "beckn:isActive": True,
            "beckn:items": [self.item(c) for c in connectors],
            "beckn:offers": [self.offer(c) for c in connectors],
        }



class Publication:
    """The catalog as last sent to a CDS with `catalog_publish`, and what the CDS said of it
    in its `on_catalog_publish`."""

    def __init__(self, site: SiteCatalog, outbox: Outbox) -> None:
        self.site = site
        self.outbox = outbox
        self.catalog: dict[str, Any] | None = None
        self.results: list[dict[str, Any]] = []

    async def send(self, cds_uri: str | None) -> Sent:
        """Send the catalog as it is now; ApiError 409 NO_CDS without a CDS to send it to."""
        if not cds_uri:
            raise ApiError(409, "NO_CDS", "no CDS is configured to publish to")
        identity = self.site.identity
        ctx = envelope.context("catalog_publish", transaction_id=envelope.new_id(),
                               bpp_id=identity.subscriber_id, bpp_uri=identity.uri,
                               ttl=self.site.config.ttl)
        self.catalog = self.site.catalog()
        return await self.outbox.send(cds_uri, "catalog_publish",
                                      {"context": ctx, "message": {"catalogs": [self.catalog]}})

    async def receive(self, inbound: Inbound) -> None:
        """The CDS's on_catalog_publish: its results are kept."""
        results = inbound.message.get("results")
        if isinstance(results, list):
            self.results.extend(r for r in results if isinstance(r, dict))
