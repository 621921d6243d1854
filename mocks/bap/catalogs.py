"""What the driver's app learned from on_discover: every BPP's catalogs, the connectors they
list (`Listing`), how a search is asked of the CDS and matched against what came back, and
the connectors and offers a search shows in the shape of client-api-contract.md §1.

Readings of the contract taken here: a connector of the contract is a Beckn item (its `id` is
the item id, which `POST /v1/estimate` takes as `connector_id`); each catalog and connector
also carries what a client needs for the next call and the contract leaves out (`bpp_id` for
X-Bpp-Id, the connector's `evse_id`). Connector types compare without case and underscores
(the contract's TYPE_2 is UBC's TYPE2). A search filters what came back itself, since a BPP
answering a fanned-out discover may send its whole catalog.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.beckn import time as wire_time
from harness.beckn.order import dig
from mocks.bap.client_requests import SearchQuery

EARTH_RADIUS_M = 6371008.8
GEO_TARGET = "$['beckn:itemAttributes.chargingStation.serviceLocation.geo']"
# An EVSE id goes into the CDS's JSONPath filter only when it is made of these characters;
# any other is asked as text (and matched here) rather than quoted into an expression.
PLAIN_ID = re.compile(r"[A-Za-z0-9*_.:#/ +-]{1,200}")
PAYMENT_METHODS = {"UPI": "UPI", "CREDIT_CARD": "Card", "DEBIT_CARD": "Card", "CARD": "Card",
                   "WALLET": "Wallet", "BANK_TRANSFER": "BankTransfer",
                   "NET_BANKING": "NetBanking", "NETBANKING": "NetBanking"}
CONNECTOR_STATUS = {"AVAILABLE": "Available", "PREPARING": "Occupied", "CHARGING": "Occupied",
                    "OCCUPIED": "Occupied", "RESERVED": "Reserved", "UNAVAILABLE": "OutOfOrder",
                    "FAULTED": "OutOfOrder", "OUTOFORDER": "OutOfOrder"}


def _plain(text: Any) -> str:
    return re.sub(r"[\s_-]", "", str(text)).upper()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


@dataclass(frozen=True)
class Listing:
    """One charging connector (a Beckn item) as a BPP's catalog lists it, with its offers."""

    bpp_id: str
    bpp_uri: str
    catalog_id: str
    item: dict[str, Any]
    offers: tuple[dict[str, Any], ...]

    @property
    def id(self) -> str:
        return str(self.item.get("beckn:id", ""))

    def attribute(self, *path: str) -> Any:
        return dig(self.item, "beckn:itemAttributes", *path)

    @property
    def evse_id(self) -> str:
        value = self.attribute("evseId")
        return value if isinstance(value, str) else self.id

    @property
    def connector_type(self) -> str | None:
        value = self.attribute("connectorType")
        return value if isinstance(value, str) else None

    @property
    def max_power_kw(self) -> float | None:
        return _number(self.attribute("maxPowerKW"))

    @property
    def provider_id(self) -> str:
        value = dig(self.item, "beckn:provider", "beckn:id")
        return value if isinstance(value, str) else ""

    @property
    def point(self) -> tuple[float, float] | None:
        """Latitude and longitude (GeoJSON holds them the other way round)."""
        coordinates = self.attribute("chargingStation", "serviceLocation", "geo", "coordinates")
        if isinstance(coordinates, list) and len(coordinates) == 2:
            lon, lat = (_number(c) for c in coordinates)
            if lat is not None and lon is not None:
                return lat, lon
        return None

    def offer(self, offer_id: str | None = None) -> dict[str, Any] | None:
        """The offer of this item with that id, or its first offer."""
        for offer in self.offers:
            if offer_id is None or offer.get("beckn:id") == offer_id:
                return offer
        return None


class Catalogs:
    """Every catalog the app has seen, by BPP and catalog id; the latest copy wins."""

    def __init__(self) -> None:
        self._catalogs: dict[tuple[str, str], dict[str, Any]] = {}

    def learn(self, on_discover: dict[str, Any]) -> list[Listing]:
        """Keep the catalogs of one on_discover; the connectors they list."""
        listings: list[Listing] = []
        for catalog in dig(on_discover, "message", "catalogs") or []:
            if not isinstance(catalog, dict):
                continue
            bpp_id, bpp_uri = catalog.get("beckn:bppId"), catalog.get("beckn:bppUri")
            if not isinstance(bpp_id, str) or not isinstance(bpp_uri, str):
                continue  # a catalog that does not say whose it is cannot be ordered from
            key = (bpp_id, str(catalog.get("beckn:id", "")))
            self._catalogs[key] = catalog
            listings.extend(_listings(key, catalog))
        return listings

    def knows(self, bpp_id: str) -> bool:
        return any(key[0] == bpp_id for key in self._catalogs)

    def listing(self, bpp_id: str, connector_id: str) -> Listing | None:
        for key, catalog in self._catalogs.items():
            if key[0] == bpp_id:
                for listing in _listings(key, catalog):
                    if listing.id == connector_id:
                        return listing
        return None


def _listings(key: tuple[str, str], catalog: dict[str, Any]) -> list[Listing]:
    offers = [o for o in catalog.get("beckn:offers") or [] if isinstance(o, dict)]
    return [Listing(key[0], str(catalog.get("beckn:bppUri")), key[1], item,
                    tuple(o for o in offers if item.get("beckn:id") in (o.get("beckn:items")
                                                                        or [])))
            for item in catalog.get("beckn:items") or [] if isinstance(item, dict)]


# --- asking and matching ------------------------------------------------------------------------


def discover_message(query: SearchQuery) -> dict[str, Any]:
    """The discover a search sends the CDS: the place as an `s_dwithin`, an EVSE id as a
    JSONPath filter (or as text when it is not a plain id)."""
    message: dict[str, Any] = {}
    if query.point is not None and query.distance_m is not None:
        lat, lon = query.point
        message["spatial"] = [{"op": "s_dwithin", "targets": GEO_TARGET,
                               "geometry": {"type": "Point", "coordinates": [lon, lat]},
                               "distanceMeters": query.distance_m}]
    if query.evse_id is not None:
        if PLAIN_ID.fullmatch(query.evse_id) and "'" not in query.evse_id:
            message["filters"] = {"type": "jsonpath", "expression":
                                  f"$[?(@.beckn:itemAttributes.evseId == '{query.evse_id}')]"}
        elif "spatial" not in message:
            message["text_search"] = query.evse_id
    return message


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + \
        math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _available_in(listing: Listing, start: str | None, end: str | None) -> bool:
    """Whether a window the item declares overlaps the asked one; an item without dated
    windows is taken as available."""
    windows = listing.item.get("beckn:availabilityWindow")
    dated = [(wire_time.epoch(w.get("schema:startTime")), wire_time.epoch(w.get("schema:endTime")))
             for w in windows or [] if isinstance(w, dict)]
    dated = [(s, e) for s, e in dated if s is not None and e is not None]
    if not dated:
        return True
    lo, hi = wire_time.epoch(start) or -math.inf, wire_time.epoch(end) or math.inf
    return any(s < hi and lo < e for s, e in dated if s is not None and e is not None)


def matches(listing: Listing, query: SearchQuery) -> bool:
    """Whether a connector is one the search asks for."""
    if query.evse_id is not None and query.evse_id not in (listing.evse_id, listing.id):
        return False
    if query.point is not None and query.distance_m is not None:
        point = listing.point
        if point is None or distance_m(query.point, point) > query.distance_m:
            return False
    if query.connector_type is not None and \
            _plain(query.connector_type) != _plain(listing.connector_type):
        return False
    if query.cpo is not None and _plain(query.cpo) not in (
            _plain(listing.provider_id), _plain(dig(listing.item, "beckn:provider",
                                                    "beckn:descriptor", "schema:name"))):
        return False
    if query.station is not None and query.station != listing.attribute("chargingStation", "id"):
        return False
    kind = listing.attribute("vehicleType")
    if query.vehicle is not None and query.vehicle.type is not None and \
            isinstance(kind, str) and _plain(kind) != _plain(query.vehicle.type):
        return False
    window = query.window
    return window is None or _available_in(listing, window.start, window.end)


# --- what a search shows ------------------------------------------------------------------------


def _speed(kw: float | None) -> str:
    if kw is None:
        return "NORMAL"
    return "SLOW" if kw <= 7.4 else "NORMAL" if kw <= 22 else "FAST" if kw < 120 \
        else "ULTRAFAST"


def connector_view(listing: Listing) -> dict[str, Any]:
    """One connector of a search answer (contract §1, `catalogs[].connectors[]`)."""
    item = listing.item
    active = item.get("beckn:isActive") is not False
    status = CONNECTOR_STATUS.get(_plain(listing.attribute("connectorStatus")),
                                  "Available" if active else "OutOfOrder")
    attributes: dict[str, Any] = {"connectorType": listing.connector_type or "Unknown",
                                  "maxPowerKW": listing.max_power_kw or 0}
    for name in ("minPowerKW", "socketCount", "reservationSupported", "powerType",
                 "connectorFormat"):
        value = listing.attribute(name)
        if value is not None:
            attributes[name] = value
    speed = listing.attribute("chargingSpeed")
    attributes["status"] = status
    attributes["chargingSpeed"] = speed if speed in ("SLOW", "NORMAL", "FAST", "ULTRAFAST") \
        else _speed(listing.max_power_kw)
    rating = _dict(item.get("beckn:rating"))
    point = listing.point
    return {
        "id": listing.id,
        "evse_id": listing.evse_id,
        "geo_coordinates": list(point) if point else [],
        "availabilityWindow": [
            {"startTime": str(w.get("schema:startTime", "")),
             "endTime": str(w.get("schema:endTime", ""))}
            for w in item.get("beckn:availabilityWindow") or [] if isinstance(w, dict)],
        "rating": {"value": _number(rating.get("beckn:ratingValue")) or 0,
                   "count": int(_number(rating.get("beckn:ratingCount")) or 0)},
        "isActive": active,
        "provider": {"id": listing.provider_id,
                     "descriptor": {"name": str(dig(item, "beckn:provider", "beckn:descriptor",
                                                    "schema:name") or listing.provider_id)}},
        "connectorAttributes": attributes,
    }


def payment_methods(offer: dict[str, Any] | None) -> list[str]:
    """The offer's accepted payment methods in the contract's names."""
    shown: list[str] = []
    for method in (offer or {}).get("beckn:acceptedPaymentMethod") or []:
        key = re.sub(r"[\s-]", "_", str(method)).upper()
        name = PAYMENT_METHODS.get(key, str(method))
        if name not in shown:
            shown.append(name)
    return shown


def offer_view(offer: dict[str, Any], shown: Iterable[str]) -> dict[str, Any]:
    """One offer of a search answer, naming only the connectors shown."""
    price = _dict(offer.get("beckn:price"))
    quantity = _dict(price.get("applicableQuantity"))
    listed = set(shown)
    return {
        "id": str(offer.get("beckn:id", "")),
        "descriptor": {"name": str(dig(offer, "beckn:descriptor", "schema:name") or "")},
        "items": [i for i in offer.get("beckn:items") or [] if i in listed],
        "price": {"currency": str(price.get("currency", "")),
                  "value": _number(price.get("value")) or 0,
                  "applicableQuantity": {
                      "unitText": str(quantity.get("unitText", "Kilowatt Hour")),
                      "unitCode": str(quantity.get("unitCode", "KWH")),
                      "unitQuantity": _number(quantity.get("unitQuantity")) or 1}},
        "acceptedPaymentMethod": payment_methods(offer),
    }


def catalog_views(listings: Iterable[Listing]) -> list[dict[str, Any]]:
    """The connectors found, grouped by catalog in the order they came, with their offers."""
    grouped: dict[tuple[str, str], list[Listing]] = {}
    for listing in listings:
        grouped.setdefault((listing.bpp_id, listing.catalog_id), []).append(listing)
    views = []
    for (bpp_id, catalog_id), found in grouped.items():
        ids = [listing.id for listing in found]
        offers: dict[str, dict[str, Any]] = {}
        for listing in found:
            for offer in listing.offers:
                offers.setdefault(str(offer.get("beckn:id")), offer)
        views.append({"id": catalog_id, "bpp_id": bpp_id,
                      "connectors": [connector_view(listing) for listing in found],
                      "offers": [offer_view(offer, ids) for offer in offers.values()]})
    return views
