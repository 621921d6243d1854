"""The charger's JSON control API (schemas/openapi/charger.yaml): `create_app(charger)`.

Tests and scenarios drive the simulated CPO platform through it: play the driver, the platform's
commands, a tester injecting faults, and time itself. It also delivers the charger's events to
registered webhooks and, unless told otherwise, ticks the charger in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.beckn import time as wire_time
from mocks.charger.clock import run_ticker
from mocks.charger.model import ChargerError
from mocks.charger.simulator import Charger
from mocks.charger.webhooks import Webhooks
from mocks.stack.http import ApiError, error_handlers, error_response, json_object
from mocks.stack.outbound import OutboundHosts


def _status_of(code: str) -> int:
    """The HTTP status of a refusal: 400 for a malformed request, 404 for an unknown resource,
    409 for any other, a conflict with the charger's current state."""
    if code in ("INVALID_REQUEST", "HOST_NOT_ALLOWED"):
        return 400
    if code.startswith("UNKNOWN_"):
        return 404
    return 409


async def _on_charger_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChargerError)
    return error_response(_status_of(exc.code), exc.code, exc.message, exc.field)


def _invalid(key: str, message: str) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message, field=key)


def _string(body: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _invalid(key, f"{key} is required")
        return None
    if not isinstance(value, str):
        raise _invalid(key, f"{key} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape could not be answered
        raise _invalid(key, f"{key} must be valid Unicode text") from None
    return value


def _number(body: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _invalid(key, f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(key, f"{key} must be a number")
    try:
        return float(value)
    except OverflowError:
        raise _invalid(key, f"{key} is out of range") from None


def _flag(body: Mapping[str, Any], key: str, *, default: bool | None = None) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        required = "is required and " if default is None else ""
        raise _invalid(key, f"{key} {required}must be true or false")
    return value


def _timestamp(body: Mapping[str, Any], key: str) -> float:
    text = _string(body, key, required=True)
    assert text is not None
    try:
        seconds = wire_time.parse(text).timestamp()
        wire_time.format(seconds)  # we must be able to print it back: within years 1-9999 in UTC
    except (ValueError, OverflowError, OSError):
        raise _invalid(
            key, f"{key} must be an RFC 3339 date-time, e.g. 2025-01-15T10:00:00Z"
        ) from None
    return seconds


def _charger(request: Request) -> Charger:
    """The app's charger, brought up to its clock so every answer is current."""
    charger: Charger = request.app.state.charger
    charger.tick()
    return charger


def _clock_as_dict(charger: Charger) -> dict[str, Any]:
    return {"now": charger.now, "time": wire_time.format(charger.now), "speed": charger.clock.speed}


async def list_locations(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([charger.location_as_dict(loc) for loc in charger.locations()])


async def get_location(request: Request) -> Response:
    charger = _charger(request)
    location = charger.location(request.path_params["location_id"])
    return JSONResponse(charger.location_as_dict(location))


async def list_connectors(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([charger.connector_as_dict(c) for c in charger.connectors()])


async def get_connector(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.connector(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def plug_in(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.plug_in(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def unplug(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.unplug(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def inject_fault(request: Request) -> Response:
    charger = _charger(request)
    connector_id = request.path_params["connector_id"]
    charger.connector(connector_id)  # an unknown connector is a 404 whatever the body says
    body = await json_object(request)
    kind = _string(body, "kind", required=True)
    assert kind is not None
    factor = _number(body, "factor")
    if factor is not None and not 0 < factor <= 1:
        raise _invalid("factor", "factor must be in (0, 1]")
    connector = charger.inject_fault(connector_id, kind, factor=0.5 if factor is None else factor)
    return JSONResponse(charger.connector_as_dict(connector))


async def clear_fault(request: Request) -> Response:
    charger = _charger(request)
    connector = charger.clear_fault(request.path_params["connector_id"])
    return JSONResponse(charger.connector_as_dict(connector))


async def set_availability(request: Request) -> Response:
    charger = _charger(request)
    connector_id = request.path_params["connector_id"]
    charger.connector(connector_id)
    body = await json_object(request)
    connector = charger.set_availability(connector_id, _flag(body, "available"))
    return JSONResponse(charger.connector_as_dict(connector))


async def list_tariffs(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([t.as_dict() for t in charger.tariffs()])


async def list_sessions(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([s.as_dict(charger.now) for s in charger.sessions()])


async def get_session(request: Request) -> Response:
    charger = _charger(request)
    session = charger.session(request.path_params["session_id"])
    return JSONResponse(session.as_dict(charger.now, meter_values=True))


async def start_session(request: Request) -> Response:
    charger = _charger(request)
    body = await json_object(request)
    connector_id = _string(body, "connector_id", required=True)
    assert connector_id is not None
    battery = _number(body, "vehicle_battery_kwh")
    soc_start = _number(body, "soc_start")
    session = charger.remote_start(
        connector_id,
        session_id=_string(body, "session_id"),
        energy_limit_kwh=_number(body, "energy_limit_kwh"),
        money_limit=_number(body, "money_limit"),
        reservation_id=_string(body, "reservation_id"),
        vehicle_battery_kwh=40.0 if battery is None else battery,
        soc_start=20.0 if soc_start is None else soc_start,
        vehicle_max_power_kw=_number(body, "vehicle_max_power_kw"),
    )
    return JSONResponse(session.as_dict(charger.now, meter_values=True), status_code=201)


async def stop_session(request: Request) -> Response:
    charger = _charger(request)
    body = await json_object(request)
    session_id = _string(body, "session_id", required=True)
    assert session_id is not None
    session = charger.remote_stop(session_id, force=_flag(body, "force", default=False))
    return JSONResponse(session.as_dict(charger.now, meter_values=True))


async def list_reservations(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse([r.as_dict() for r in charger.reservations()])


async def get_reservation(request: Request) -> Response:
    charger = _charger(request)
    return JSONResponse(charger.reservation(request.path_params["reservation_id"]).as_dict())


async def create_reservation(request: Request) -> Response:
    charger = _charger(request)
    body = await json_object(request)
    connector_id = _string(body, "connector_id", required=True)
    assert connector_id is not None
    grace_s = _number(body, "grace_s")
    if grace_s is not None and not 0 <= grace_s <= 86400:
        raise _invalid("grace_s", "grace_s must be between 0 and 86400")
    reservation = charger.reserve(
        connector_id,
        _timestamp(body, "start"),
        _timestamp(body, "end"),
        600.0 if grace_s is None else grace_s,
        reservation_id=_string(body, "reservation_id"),
    )
    return JSONResponse(reservation.as_dict(), status_code=201)


async def cancel_reservation(request: Request) -> Response:
    charger = _charger(request)
    reservation = charger.cancel_reservation(request.path_params["reservation_id"])
    return JSONResponse(reservation.as_dict())


async def get_clock(request: Request) -> Response:
    return JSONResponse(_clock_as_dict(_charger(request)))


async def advance_clock(request: Request) -> Response:
    charger = _charger(request)
    body = await json_object(request)
    seconds = _number(body, "seconds", required=True)
    assert seconds is not None
    await charger.advance_in_turns(seconds)  # the loop serves every other party meanwhile
    return JSONResponse(_clock_as_dict(charger))


async def list_webhooks(request: Request) -> Response:
    webhooks: Webhooks = request.app.state.webhooks
    return JSONResponse([{"url": url} for url in webhooks.urls])


async def register_webhook(request: Request) -> Response:
    webhooks: Webhooks = request.app.state.webhooks
    body = await json_object(request)
    url = _string(body, "url", required=True)
    assert url is not None
    created = webhooks.add(url)
    return JSONResponse({"url": url}, status_code=201 if created else 200)


async def remove_webhook(request: Request) -> Response:
    webhooks: Webhooks = request.app.state.webhooks
    url = request.query_params.get("url")
    if not url:
        raise _invalid("url", "give the webhook to remove as ?url=<the registered URL>")
    await webhooks.remove(url)
    return JSONResponse({"url": url})


def create_app(
    charger: Charger,
    *,
    webhook_urls: list[str] | None = None,
    auto_tick: bool = True,
    tick_interval_s: float = 0.2,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    outbound: OutboundHosts | None = None,
) -> Starlette:
    """The charger's JSON control API.

    `auto_tick` runs the simulation in real time (a tick every `tick_interval_s` real seconds)
    while the app is served; without it time moves on `POST /clock/advance` and as the clock
    does, brought up to date on every request. `webhook_transport` replaces the network in tests.
    With `outbound`, webhooks are taken only on its hosts.
    """
    webhooks = Webhooks(webhook_urls, transport=webhook_transport, outbound=outbound)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await webhooks.start()
        unsubscribe = charger.subscribe(webhooks.publish)
        ticker = asyncio.create_task(run_ticker(charger, tick_interval_s)) if auto_tick else None
        try:
            yield
        finally:
            unsubscribe()
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await webhooks.stop()

    app = Starlette(
        routes=[_route(path, endpoints) for path, endpoints in ROUTES.items()],
        lifespan=lifespan,
        exception_handlers={**error_handlers(), ChargerError: _on_charger_error},
    )
    app.state.charger = charger
    app.state.webhooks = webhooks
    return app


Endpoint = Callable[[Request], Awaitable[Response]]

ROUTES: dict[str, dict[str, Endpoint]] = {
    "/locations": {"GET": list_locations},
    "/locations/{location_id}": {"GET": get_location},
    "/connectors": {"GET": list_connectors},
    "/connectors/{connector_id}": {"GET": get_connector},
    "/connectors/{connector_id}/plug-in": {"POST": plug_in},
    "/connectors/{connector_id}/unplug": {"POST": unplug},
    "/connectors/{connector_id}/fault": {"POST": inject_fault, "DELETE": clear_fault},
    "/connectors/{connector_id}/availability": {"POST": set_availability},
    "/tariffs": {"GET": list_tariffs},
    "/sessions": {"GET": list_sessions},
    "/sessions/{session_id}": {"GET": get_session},
    "/commands/start-session": {"POST": start_session},
    "/commands/stop-session": {"POST": stop_session},
    "/reservations": {"GET": list_reservations, "POST": create_reservation},
    "/reservations/{reservation_id}": {"GET": get_reservation, "DELETE": cancel_reservation},
    "/clock": {"GET": get_clock},
    "/clock/advance": {"POST": advance_clock},
    "/webhooks": {"GET": list_webhooks, "POST": register_webhook, "DELETE": remove_webhook},
}


def _route(path: str, endpoints: dict[str, Endpoint]) -> Route:
    """One route per path, dispatching on method, so a 405 names every allowed method."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await endpoints[method](request)

    return Route(path, endpoint, methods=list(endpoints))

