"""The reference BPP as an ASGI app: its Beckn endpoints (at the path of its URI) and the
control API, with the BPP's tasks and charger ticker run for the app's lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette

from harness.schemas import SchemaSet
from harness.transcript import Transcript
from mocks.bpp.config import BppConfig
from mocks.bpp.control import control_routes
from mocks.bpp.service import ReferenceBpp
from mocks.charger import Charger
from mocks.stack import Directory, Safeguards, Wire
from mocks.stack.http import error_handlers


def create_app(config: BppConfig, charger: Charger, transcript: Transcript, *,
               directory: Directory, schemas: SchemaSet,
               http: Wire | httpx.AsyncClient | None = None,
               safeguards: Safeguards | None = None) -> Starlette:
    """The reference BPP as an ASGI app; the `ReferenceBpp` behind it is `app.state.bpp`.
    `safeguards`: the network's replay memory, signature window and outbound hosts."""
    bpp = ReferenceBpp(config, charger, transcript, directory=directory, schemas=schemas,
                       http=http, safeguards=safeguards)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bpp.start()
        try:
            yield
        finally:
            await bpp.aclose()

    app = Starlette(routes=[*bpp.inbox.routes(), *control_routes(bpp)], lifespan=lifespan,
                    exception_handlers=error_handlers(), middleware=[bpp.inbox.front()])
    app.state.bpp = bpp
    return app
