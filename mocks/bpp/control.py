"""`/_control`: how tests and a certification drive the reference BPP from outside the
protocol — its orders, the catalog's publication, the fault switches, and the test hooks that
play the physical world (harness/beckn/hooks.py: payment, plug-in, pulled cable, time, overrun,
operator cancel, a connector fault and its repair), so the BPP can be certified like any
candidate with `control_url = <root>/_control/hooks`.

Errors answer in the one shape of mocks/stack/http.py: `{"error": {"code", "message"}}`.

The listing of every order (`GET /_control/orders`) names the orders of every BAP, so it
answers only `Authorization: Bearer <BppConfig.control_token>` (`ubc-cert reference` prints
it); the hooks and switches act on an order or item the caller already names.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from harness.beckn import hooks
from harness.beckn import time as wire_time
from mocks.bpp.faults import FAULTS
from mocks.bpp.orders import as_number
from mocks.bpp.service import ReferenceBpp
from mocks.charger import ChargerError, Connector, SessionStatus
from mocks.stack.http import ApiError, json_object, json_response

OVERRUN_STEP_S = 600.0
OVERRUN_MAX_STEPS = 144  # a day of simulated charging at most


# --- the test hooks -----------------------------------------------------------------------------


async def play(bpp: ReferenceBpp, hook: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Play one event of the physical world; ApiError when it is refused."""
    try:
        if hook == hooks.PAYMENT_COMPLETED:
            return (await bpp.complete_payment(_text(body, "transaction_id"))).summary()
        if hook == hooks.CANCEL_BY_PROVIDER:
            return (await bpp.cancel_by_provider(_text(body, "transaction_id"))).summary()
        if hook == hooks.PLUG_IN:
            return bpp.charger.connector_as_dict(_car_arrives(bpp, _text(body, "item_id")))
        if hook == hooks.CABLE_PULLED:
            connector = _connector(bpp, _text(body, "item_id"))
            bpp.charger.inject_fault(connector.id, "cable_pulled")
            return bpp.charger.connector_as_dict(connector)
        if hook == hooks.CONNECTOR_FAULT:
            connector = _connector(bpp, _text(body, "item_id"))
            return bpp.charger.connector_as_dict(
                bpp.charger.inject_fault(connector.id, "connector_fault"))
        if hook == hooks.CONNECTOR_REPAIRED:
            connector = _connector(bpp, _text(body, "item_id"))
            return bpp.charger.connector_as_dict(bpp.charger.clear_fault(connector.id))
        if hook == hooks.ADVANCE:
            seconds = as_number(body.get("seconds"))
            if seconds is None:
                raise ApiError(400, "INVALID_REQUEST", "seconds must be a number")
            await bpp.charger.advance_in_turns(seconds)
            return {"now": wire_time.format(bpp.charger.now)}
        if hook == hooks.OVERRUN:
            return _overrun(bpp, _text(body, "transaction_id"), body.get("extra_kwh"))
    except ChargerError as exc:
        status = 400 if exc.code == "INVALID_REQUEST" else \
            404 if exc.code.startswith("UNKNOWN_") else 409
        raise ApiError(status, exc.code, exc.message) from None
    raise ApiError(404, "UNKNOWN_HOOK", f"no hook {hook!r}; hooks: {', '.join(hooks.HOOKS)}")


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "INVALID_REQUEST", f"{name} must be a non-empty string")
    return value


def _connector(bpp: ReferenceBpp, item_id: str) -> Connector:
    connector = bpp.site.connector_for(item_id)
    if connector is None:
        raise ApiError(404, "UNKNOWN_ITEM", f"no item {item_id!r} in this catalog")
    return connector


def _car_arrives(bpp: ReferenceBpp, item_id: str) -> Connector:
    """A car is plugged in; one still standing there after its session ended leaves
    first, as it would before the next driver can plug in."""
    charger = bpp.charger
    connector = _connector(bpp, item_id)
    if connector.plugged:
        current = charger.session(connector.session_id) if connector.session_id else None
        if current is not None and current.status in (SessionStatus.ACTIVE,
                                                      SessionStatus.STOP):
            raise ApiError(409, "BUSY", f"{item_id} is charging session {current.id}")
        charger.unplug(connector.id)
    return charger.plug_in(connector.id)


def _overrun(bpp: ReferenceBpp, order_id: str, extra: Any) -> dict[str, Any]:
    """The charger fails to stop: the running session's limit is raised by `extra_kwh`
    and simulated time runs until the session stops there (TSD §12.5.2)."""
    extra_kwh = as_number(extra)
    if extra_kwh is None or extra_kwh <= 0:
        raise ApiError(400, "INVALID_REQUEST", "extra_kwh must be a positive number")
    record = bpp.referable(order_id)
    session = bpp.charger.session(record.session_id) if record.session_id else None
    if session is None or session.status is not SessionStatus.ACTIVE:
        raise ApiError(409, "NOT_CHARGING", f"order {order_id} has no session charging")
    if session.energy_limit_kwh is not None:
        session.energy_limit_kwh += extra_kwh
    if session.money_limit is not None:
        session.money_limit += extra_kwh * record.unit_price
    for _ in range(OVERRUN_MAX_STEPS):
        if session.status is not SessionStatus.ACTIVE:
            break
        bpp.charger.advance(OVERRUN_STEP_S)
    return {"session_id": session.id, "status": session.status.value,
            "energy_kwh": round(session.energy_kwh, 3)}


# --- the routes ---------------------------------------------------------------------------------


def faults_view(bpp: ReferenceBpp) -> dict[str, Any]:
    """The faults switched on, and every one there is with the rule that must catch it."""
    return {"faults": sorted(bpp.faults),
            "available": [{"name": name, "rule": fault.rule, "description": fault.description}
                          for name, fault in FAULTS.items()]}


def control_routes(bpp: ReferenceBpp) -> list[BaseRoute]:
    """The control API's routes; ApiError answers are rendered by the app's error handlers."""

    async def hook(request: Request) -> Response:
        body = await json_object(request, empty={})
        return json_response(await play(bpp, request.path_params["hook"], body))

    async def list_orders(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
                token.strip().encode(), bpp.config.control_token.encode()):
            raise ApiError(401, "UNAUTHORIZED", "listing the orders of every BAP needs the "
                           "control token (Authorization: Bearer <token>)",
                           headers={"WWW-Authenticate": 'Bearer realm="_control"'})
        return json_response([record.summary() for record in bpp.orders])

    async def payment_completed(request: Request) -> Response:
        record = await bpp.complete_payment(request.path_params["order_id"])
        return json_response(record.summary())

    async def cancel_by_provider(request: Request) -> Response:
        record = await bpp.cancel_by_provider(request.path_params["order_id"])
        return json_response(record.summary())

    async def publish(request: Request) -> Response:
        sent = await bpp.publish()
        published = bpp.publication.catalog
        return json_response({"status": sent.status, "acked": sent.acked, "error": sent.error,
                              "items": len(published["beckn:items"]) if published else 0})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            body = await json_object(request)
            names = body.get("faults")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ApiError(400, "INVALID_REQUEST", 'body must be {"faults": [names...]}')
            try:
                bpp.set_faults(names)
            except ValueError as exc:
                raise ApiError(400, "UNKNOWN_FAULT", str(exc)) from None
        return json_response(faults_view(bpp))

    return [
        Route("/_control/orders", list_orders, methods=["GET"]),
        Route("/_control/orders/{order_id}/payment-completed", payment_completed,
              methods=["POST"]),
        Route("/_control/orders/{order_id}/cancel-by-provider", cancel_by_provider,
              methods=["POST"]),
        Route("/_control/catalog/publish", publish, methods=["POST"]),
        Route("/_control/hooks/{hook}", hook, methods=["POST"]),
        # one route for both methods, so a 405 elsewhere lists both in Allow
        Route("/_control/faults", faults, methods=["GET", "PUT"]),
    ]
