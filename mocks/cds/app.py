"""The CDS as an ASGI app: Beckn endpoints at the path of its URI, the control API and health.

`/_control/catalogs`: GET lists the cache with each catalog's expiry, DELETE empties it (or,
with `?bpp_id=`, one BPP's part). Errors outside the Beckn endpoints (an unknown path, a wrong
method) answer in mocks/stack/http.py's one shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.beckn import time
from harness.schemas import SchemaSet
from harness.transcript import Transcript
from mocks.cds.service import CatalogDiscoveryService, CdsConfig
from mocks.stack import Directory, Safeguards, Wire
from mocks.stack.http import error_handlers, json_response
from mocks.stack.inbox import Step


def create_app(config: CdsConfig, transcript: Transcript, *, directory: Directory,
               schemas: SchemaSet, http: Wire | httpx.AsyncClient | None = None,
               steps: Mapping[str, Step] | None = None,
               safeguards: Safeguards | None = None) -> Starlette:
    """The CDS app; the service is `app.state.cds`. `directory` answers keys for signature
    checks and the BPPs to fan a discover out to; `steps` replaces named inbox steps;
    `safeguards`: the network's replay memory, signature window and outbound hosts."""
    cds = CatalogDiscoveryService(config, transcript, directory=directory, schemas=schemas,
                                  http=http, steps=steps, safeguards=safeguards)

    async def catalogs(request: Request) -> Response:
        if request.method == "DELETE":
            bpp_id = request.query_params.get("bpp_id")
            return json_response({"removed": cds.cache.clear(bpp_id or None)})
        now = cds.now()
        return json_response({"now": time.format(now, timespec="seconds", clamp=True),
                              "catalogs": [e.as_record(now) for e in cds.cache.entries()]})

    async def health(request: Request) -> Response:
        return json_response({"role": "cds", "subscriber_id": cds.identity.subscriber_id})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await cds.aclose()

    routes = [*cds.inbox.routes(),
              Route("/_control/catalogs", catalogs, methods=["GET", "DELETE"]),
              Route("/_health", health, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=error_handlers(),
                    middleware=[cds.inbox.front()])
    app.state.cds = cds
    return app
