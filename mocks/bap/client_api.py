"""The `/v1` client API of client-api-contract.md: the endpoints a driver's client calls, each
behind `Authorization: Bearer <BapConfig.client_api_token>`.

Every endpoint checks, in this order: the token (401 with `WWW-Authenticate: Bearer`), the
headers and query parameters (400), the body (400 when it is not a JSON object, 422 for a
field), the order named in the path (404), that X-Transaction-Id is one the order was sent in
and X-Bpp-Id its BPP (400), then whether the order's state allows the call (409). Answers
carry the order's transaction in an `X-Transaction-Id` header; a search without one gets a new
transaction, which its answer's header gives back for the estimate.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from harness.beckn import envelope
from mocks.bap import client_requests as asked
from mocks.bap import documents
from mocks.bap.catalogs import catalog_views
from mocks.bap.errors import ClientError
from mocks.bap.orders import AppOrder
from mocks.bap.service import DriverApp

Endpoint = Callable[[Request], Awaitable[Response]]


def _answer(body: Any, transaction_id: str | None = None, status: int = 200) -> Response:
    headers = {"X-Transaction-Id": transaction_id} if transaction_id else {}
    return Response(orjson.dumps(body), status_code=status, headers=headers,
                    media_type="application/json")


def client_routes(app: DriverApp) -> list[BaseRoute]:
    """The `/v1` routes of one driver's app."""
    config = app.config

    switches = app.bap.switches

    def authorised(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if switches.authenticates(request.method) and (
                    scheme.lower() != "bearer" or not secrets.compare_digest(
                        token.strip().encode(), config.client_api_token.encode())):
                raise ClientError(401, "a valid Bearer token is required (Authorization: "
                                  "Bearer <token>)")
            try:
                return await handler(request)
            except ClientError as error:
                crash = switches.unprocessable(error) if error.status == 422 else error
                if crash is error:
                    raise
                raise crash from error  # a fault makes the app crash on the field instead
        return endpoint

    def headers_of(request: Request) -> tuple[str, str]:
        """X-Transaction-Id and X-Bpp-Id of a call about an order (400 when missing)."""
        transaction_id = asked.transaction_id(request, required=True)
        assert transaction_id is not None
        return transaction_id, asked.bpp_id(request)

    def order_of(request: Request, headers: tuple[str, str]) -> AppOrder:
        """The path's order, when the headers name its transaction and its BPP."""
        transaction_id, bpp_id = headers
        key = request.path_params["order_id"]
        order = app.orders.find(key)
        if order is None:
            raise ClientError(404, "Order not found.", order_id=key)
        if transaction_id not in order.transaction_ids:
            raise ClientError(400, f"X-Transaction-Id {transaction_id} is not the transaction "
                              f"of order {order.id} ({order.transaction_id})",
                              header="X-Transaction-Id", order_id=order.id)
        if bpp_id != order.bpp_id:
            raise ClientError(400, f"X-Bpp-Id {bpp_id!r} is not the BPP of order {order.id} "
                              f"({order.bpp_id!r})", header="X-Bpp-Id", order_id=order.id)
        return order

    async def search(request: Request) -> Response:
        transaction_id = asked.transaction_id(request, required=False) or envelope.new_id()
        page = asked.page(request)
        query = asked.search_query(await asked.body(request))
        catalogs = catalog_views(await app.search(query, transaction_id))
        first = (page.number - 1) * page.size
        return _answer({"total": len(catalogs), "page": page.number, "per_page": page.size,
                        "catalogs": catalogs[first:first + page.size]}, transaction_id)

    async def estimate(request: Request) -> Response:
        transaction_id = asked.transaction_id(request, required=True)
        assert transaction_id is not None
        bpp_id = asked.bpp_id(request)
        wanted = asked.estimate_request(await asked.body(request))
        order = await app.estimate(wanted, transaction_id, bpp_id)
        total = sum(c.value for c in order.quote)
        return _answer(documents.estimate(
            order, shown_amount=app.bap.switches.shown_amount(round(total, 2)),
            quote_validity_s=config.quote_validity_s, cancellation_fee=config.cancellation_fee),
            order.transaction_id)

    async def payment(request: Request) -> Response:
        headers = headers_of(request)
        method = asked.payment_method(await asked.body(request, optional=True))
        order = order_of(request, headers)
        app.check_payment_method(order, method)
        await app.pay(order)
        return _answer(documents.payment(order, config.quote_validity_s), order.transaction_id)

    async def show(request: Request) -> Response:
        order = await app.refresh(order_of(request, headers_of(request)))
        switches = app.bap.switches
        return _answer(documents.order_view(
            order, charging=switches.shown_charging(order.shown_charging(),
                                                    order.charging_before),
            telemetry=order.telemetry_view(switches.shown_reading(order.telemetry,
                                                                  order.first_telemetry))),
            order.transaction_id)

    async def start(request: Request) -> Response:
        order = await app.start(order_of(request, headers_of(request)))
        return _answer(documents.states(order), order.transaction_id)

    async def stop(request: Request) -> Response:
        headers = headers_of(request)
        asked.stop_reason(await asked.body(request, optional=True))
        order = await app.stop(order_of(request, headers))
        return _answer(documents.bill(order, config.quote_validity_s), order.transaction_id)

    async def cancel(request: Request) -> Response:
        headers = headers_of(request)
        if request.method == "GET":
            order = order_of(request, headers)
            fee = app.cancellation_fee(order)
            return _answer(documents.cancellation_estimate(order, fee, config.quote_validity_s),
                           order.transaction_id)
        reason = asked.cancel_reason(await asked.body(request, optional=True))
        order = await app.cancel(order_of(request, headers), reason)
        fee, refund = app.bap.switches.shown_cancellation(*documents.cancellation_amounts(order))
        return _answer(documents.cancellation(order, fee, refund), order.transaction_id)

    async def rating(request: Request) -> Response:
        headers = headers_of(request)
        given = asked.rating(await asked.body(request))
        order = order_of(request, headers)
        on_rating = await app.rate(order, given)
        return _answer(documents.rating(order, on_rating), order.transaction_id)

    async def support(request: Request) -> Response:
        order = order_of(request, headers_of(request))
        info = await app.support(order)
        return _answer(documents.support(order, info), order.transaction_id)

    routes = [("/search", search, "POST"), ("/estimate", estimate, "POST"),
              ("/orders/{order_id}", show, "GET"),
              ("/orders/{order_id}/payment", payment, "POST"),
              ("/orders/{order_id}/start", start, "PUT"),
              ("/orders/{order_id}/stop", stop, "PUT"),
              ("/orders/{order_id}/cancel", cancel, "GET POST"),
              ("/orders/{order_id}/rating", rating, "POST"),
              ("/orders/{order_id}/support", support, "GET")]
    return [Mount("/v1", routes=[Route(path, authorised(handler), methods=methods.split())
                                 for path, handler, methods in routes])]
