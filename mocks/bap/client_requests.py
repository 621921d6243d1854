"""What a driver's client sends the `/v1` API, read and checked: headers, query parameters and
bodies of client-api-contract.md, as typed requests.

Where the line between the contract's 400 and 422 runs (the contract names both without
drawing it): the request as a whole — a body that is not a JSON object, a header or query
parameter missing or malformed — is a 400; a field of a well-formed body that is missing,
of the wrong type, out of range or not one of the contract's values is a 422 naming the field
as a JSON pointer. Fields the contract does not name are ignored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from harness.beckn import time as wire_time
from mocks.bap.errors import ClientError, invalid
from mocks.stack.http import ApiError, json_body

VEHICLE_TYPES = ("2-wheeler", "3-wheeler", "4-wheeler")
CONNECTOR_TYPES = ("TYPE_1", "TYPE_2", "CCS2")
PAYMENT_METHODS = ("UPI", "Card", "Wallet", "BankTransfer", "NetBanking")
MAX_DISTANCE_M = 50000.0
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
CURRENCY = re.compile(r"[A-Z]{3}")
MAX_TEXT = 1000  # characters of any free text field


# --- the typed requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: str | None
    end: str | None


@dataclass(frozen=True)
class Vehicle:
    make: str | None
    model: str | None
    type: str | None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("type", self.type), ("model", self.model),
                                  ("make", self.make)) if v is not None}


@dataclass(frozen=True)
class SearchQuery:
    evse_id: str | None
    point: tuple[float, float] | None  # latitude, longitude
    distance_m: float | None
    window: Window | None
    cpo: str | None
    station: str | None
    connector_type: str | None
    vehicle: Vehicle | None


@dataclass(frozen=True)
class EstimateRequest:
    evse_id: str
    connector_id: str
    vehicle: Vehicle
    window: Window | None
    energy_kwh: float | None
    amount: float | None  # a money limit; 0 is none
    currency: str | None
    offer_id: str | None


@dataclass(frozen=True)
class Page:
    number: int
    size: int


@dataclass(frozen=True)
class Rating:
    value: int
    comments: str | None
    tags: tuple[str, ...]


# --- headers and query --------------------------------------------------------------------------


def transaction_id(request: Request, *, required: bool) -> str | None:
    """X-Transaction-Id: a UUID, as a Beckn transaction_id must be (400 otherwise)."""
    value = request.headers.get("x-transaction-id")
    if value is None or not value.strip():
        if required:
            raise ClientError(400, "the X-Transaction-Id header is required",
                              header="X-Transaction-Id")
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ClientError(400, f"X-Transaction-Id {value[:80]!r} is not a UUID (it becomes the "
                          "Beckn transaction_id)", header="X-Transaction-Id") from None


def bpp_id(request: Request) -> str:
    value = request.headers.get("x-bpp-id", "").strip()
    if not value:
        raise ClientError(400, "the X-Bpp-Id header is required", header="X-Bpp-Id")
    return value


def page(request: Request) -> Page:
    """`page` (from 1) and `per_page` (1 to 100) of a search; 400 when out of range."""
    def number(name: str, default: int, low: int, high: int | None) -> int:
        text = request.query_params.get(name)
        if text is None:
            return default
        if not re.fullmatch(r"[0-9]{1,9}", text.strip()):
            raise ClientError(400, f"query parameter {name} must be an integer",
                              parameter=name)
        value = int(text)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high else f"at least {low}"
            raise ClientError(400, f"query parameter {name} must be {bound}", parameter=name)
        return value
    return Page(number("page", 1, 1, None), number("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE))


async def body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object a request carries; with `optional`, no body is an empty object."""
    try:
        document = await json_body(request, empty={} if optional else ...)
    except ApiError as exc:
        raise ClientError(exc.status, exc.message) from None
    if not isinstance(document, dict):
        raise ClientError(400, f"the body must be a JSON object, not {type(document).__name__}")
    return document


# --- fields -------------------------------------------------------------------------------------


def _text(doc: Mapping[str, Any], name: str, where: str, *, required: bool = False
          ) -> str | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise invalid(f"{where}/{name}", "is required")
        return None
    if not isinstance(value, str):
        raise invalid(f"{where}/{name}", "must be a string")
    if required and not value.strip():
        raise invalid(f"{where}/{name}", "must not be empty")
    if len(value) > MAX_TEXT:
        raise invalid(f"{where}/{name}", f"is longer than {MAX_TEXT} characters")
    return value


def _number(doc: Mapping[str, Any], name: str, where: str) -> float | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{where}/{name}", "must be a number")
    return float(value)


def _object(doc: Mapping[str, Any], name: str, where: str, *, required: bool = False
            ) -> dict[str, Any] | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise invalid(f"{where}/{name}", "is required")
        return None
    if not isinstance(value, dict):
        raise invalid(f"{where}/{name}", "must be an object")
    return value


def _choice(value: str | None, choices: tuple[str, ...], field: str) -> str | None:
    if value is not None and value not in choices:
        raise invalid(field, f"must be one of {', '.join(choices)}")
    return value


def _window(doc: Mapping[str, Any]) -> Window | None:
    window = _object(doc, "time_window", "")
    if window is None:
        return None
    start, end = (_text(window, name, "/time_window") for name in ("start", "end"))
    moments = {}
    for name, value in (("start", start), ("end", end)):
        if value is not None:
            try:
                moments[name] = wire_time.parse(value).timestamp()
            except ValueError as exc:
                raise invalid(f"/time_window/{name}", str(exc)) from None
    if len(moments) == 2 and moments["end"] <= moments["start"]:
        raise invalid("/time_window/end", "must be after start")
    return Window(start, end)


def _vehicle(doc: Mapping[str, Any] | None, where: str, *, required: bool) -> Vehicle | None:
    if doc is None:
        return None
    make, model, kind = (_text(doc, name, where, required=required)
                         for name in ("make", "model", "type"))
    return Vehicle(make, model, _choice(kind, VEHICLE_TYPES, f"{where}/type"))


# --- bodies -------------------------------------------------------------------------------------


def search_query(doc: Mapping[str, Any]) -> SearchQuery:
    evse_id = _text(doc, "evse_id", "")
    if evse_id is not None and not evse_id.strip():
        raise invalid("/evse_id", "must not be empty")
    point = None
    geo = doc.get("geo_coordinates")
    if geo is not None:
        if not isinstance(geo, list) or len(geo) != 2 or any(
                isinstance(v, bool) or not isinstance(v, int | float) for v in geo):
            raise invalid("/geo_coordinates", "must be [latitude, longitude], two numbers")
        if not (-90 <= geo[0] <= 90 and -180 <= geo[1] <= 180):
            raise invalid("/geo_coordinates", "latitude must be within ±90 and longitude "
                          "within ±180")
        point = (float(geo[0]), float(geo[1]))
    distance = _number(doc, "distance_meters", "")
    if distance is not None and not 0 <= distance <= MAX_DISTANCE_M:
        raise invalid("/distance_meters", f"must be between 0 and {MAX_DISTANCE_M:g}")
    if evse_id is None and (point is None or distance is None):
        raise invalid("" if point is None and distance is None else
                      "/distance_meters" if point is not None else "/geo_coordinates",
                      "give evse_id, or geo_coordinates with distance_meters")
    filters = _object(doc, "filters", "") or {}
    return SearchQuery(
        evse_id=evse_id, point=point, distance_m=distance, window=_window(doc),
        cpo=_text(filters, "cpo", "/filters"), station=_text(filters, "station", "/filters"),
        connector_type=_choice(_text(filters, "connector_type", "/filters"), CONNECTOR_TYPES,
                               "/filters/connector_type"),
        vehicle=_vehicle(_object(filters, "vehicle", "/filters"), "/filters/vehicle",
                         required=False))


def estimate_request(doc: Mapping[str, Any]) -> EstimateRequest:
    evse_id = _text(doc, "evse_id", "", required=True)
    connector_id = _text(doc, "connector_id", "", required=True)
    vehicle = _vehicle(_object(doc, "vehicle", "", required=True), "/vehicle", required=True)
    energy = _object(doc, "energy", "")
    energy_kwh = None
    if energy is not None:
        energy_kwh = _number(energy, "value", "/energy")
        if energy_kwh is not None and energy_kwh <= 0:
            raise invalid("/energy/value", "must be more than 0")
        unit = _text(energy, "unit", "/energy")
        if unit is not None and unit.lower() != "kwh":
            raise invalid("/energy/unit", "must be kWh")
    amount = _object(doc, "amount", "")
    value = currency = None
    if amount is not None:
        value = _number(amount, "value", "/amount")
        if value is not None and value < 0:
            raise invalid("/amount/value", "must be at least 0")
        currency = _text(amount, "currency", "/amount")
        if currency is not None and not CURRENCY.fullmatch(currency):
            raise invalid("/amount/currency", "must be an ISO 4217 code such as INR")
    assert evse_id is not None and connector_id is not None and vehicle is not None
    return EstimateRequest(evse_id=evse_id, connector_id=connector_id, vehicle=vehicle,
                           window=_window(doc), energy_kwh=energy_kwh,
                           amount=value or None, currency=currency,
                           offer_id=_text(doc, "offer_id", ""))


def payment_method(doc: Mapping[str, Any]) -> str | None:
    return _choice(_text(doc, "payment_method", ""), PAYMENT_METHODS, "/payment_method")


def stop_reason(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return _text(doc, "reason_code", ""), _text(doc, "message", "")


def cancel_reason(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return _text(doc, "cancel_reason", ""), _text(doc, "cancel_code", "")


def rating(doc: Mapping[str, Any]) -> Rating:
    value = doc.get("value")
    if value is None:
        raise invalid("/value", "is required")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 4.0 is the integer 4 to JSON (Schema), as a client may send it
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise invalid("/value", "must be an integer from 1 to 5")
    feedback = _object(doc, "feedback", "") or {}
    tags = feedback.get("tags") or []
    if not isinstance(tags, list) or any(not isinstance(t, str) or len(t) > MAX_TEXT
                                         for t in tags):
        raise invalid("/feedback/tags", "must be a list of strings")
    return Rating(value, _text(feedback, "comments", "/feedback"), tuple(tags))
