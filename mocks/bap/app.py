"""The reference BAP as an ASGI app: its Beckn callback endpoints (at the path of its URI),
the driver-facing `/v1` client API, the fault switches at `/_control/faults`, and a health
probe; any other request is recorded as a stray and answered 404."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks.bap import client_requests
from mocks.bap.beckn import ReferenceBap
from mocks.bap.client_api import client_routes
from mocks.bap.errors import ClientError, error_handlers
from mocks.bap.faults import FAULTS
from mocks.bap.service import DriverApp
from mocks.stack.inbox import STRAY_METHODS


def faults_view(bap: ReferenceBap) -> dict[str, Any]:
    """The faults switched on, and every one there is with the rule that must catch it."""
    return {"faults": sorted(bap.switches.names),
            "available": [{"name": name, "rule": fault.rule, "proposed": fault.proposed,
                           "description": fault.description} for name, fault in FAULTS.items()]}


def create_app(bap: ReferenceBap, *, others: Sequence[ReferenceBap] = ()) -> Starlette:
    """The BAP's app; the driver's app behind `/v1` is `app.state.driver_app`. `others`
    are more BAPs whose Beckn callbacks the same server receives, each at the path of its own
    URI (the harness's second BAP); only their inboxes are served."""
    driver_app = DriverApp(bap)

    async def health(request: Request) -> Response:
        return _json({"role": "bap", "subscriber_id": bap.identity.subscriber_id,
                      "client_api": "/v1"})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            names = (await client_requests.body(request)).get("faults")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ClientError(400, 'the body must be {"faults": [names...]}')
            try:
                bap.switches.switch(names)
            except ValueError as exc:
                raise ClientError(400, str(exc), available=list(FAULTS)) from None
        return _json(faults_view(bap))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await driver_app.aclose()

    # theirs first: a path under this BAP's (/beckn/other) would be a stray of /beckn
    routes = [*(r for other in others for r in other.inbox.routes(record_strays=True)),
              *bap.inbox.routes(record_strays=True), *client_routes(driver_app),
              Route("/_health", health), Route("/_control/faults", faults, methods=["GET", "PUT"]),
              Route("/{rest:path}", bap.inbox.stray, methods=STRAY_METHODS)]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=error_handlers(),
                    middleware=[x.inbox.front() for x in (bap, *others)])
    app.state.bap = bap
    app.state.driver_app = driver_app
    return app


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")
