"""The live view: `http://<registry>/ui` while `ubc-cert serve` or `ubc-cert run` is up.

- `/ui` — one page (harness/report/templates/live.html.j2, self-contained, no build step): the
  exchanges, scenarios and findings of the running network as they happen, and the past runs
  of the report folder with their verdicts, linked to their report.html.
- `/ui/events` — the same events as server-sent events (text/event-stream); each has an id, so
  a browser that reconnects is sent what it missed (harness/live/feed.py).
- `/ui/runs` — the past runs as JSON; `/ui/runs/<run id>/<artifact>` — a run's report.html,
  certificate.html, report.json, junit.xml, transcript.ndjson... and nothing else of the disk.

It is served by the registry's server (harness/network.py) ahead of the registry's own routes:
requests for /ui never reach the registry, so they are not in the transcript. Read-only; what
it shows is what a run's report shows, with credentials redacted the same way.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from harness import servers
from harness.live.feed import Event, LiveFeed
from harness.live.runs import ARTIFACTS, PastRuns
from harness.report import html
from harness.report.exchanges import redact
from harness.servers import ASGIApp
from harness.transcript import Exchange

PREFIX = "/ui"
KEEPALIVE_S = 15.0  # a comment line this often keeps proxies and the browser from giving up
BODY_CAP = 4000  # characters of a body an event carries; the run's report has them whole
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass
class LiveView:
    feed: LiveFeed
    runs: PastRuns
    title: str = "ubc-conformance"  # what the network is doing: "serve", "run ..."


def exchange_event(exchange: Exchange) -> dict[str, Any]:
    """An exchange as the page shows it: the row, and the start of each body."""
    latency = exchange.latency
    return {
        "id": exchange.id, "direction": exchange.direction, "party": exchange.party,
        "method": exchange.method, "url": exchange.url, "action": exchange.action,
        "transaction_id": exchange.transaction_id, "message_id": exchange.message_id,
        "wall_time": exchange.wall_time, "status": exchange.status, "error": exchange.error,
        "latency_ms": None if latency is None else round(latency * 1000, 1),
        "note": exchange.note,
        "request_headers": {k: redact(k, v) for k, v in exchange.request_headers.items()},
        "request_body": _cap(exchange.request_body),
        "response_body": _cap(exchange.response_body),
    }


def _cap(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    return text if len(text) <= BODY_CAP else text[:BODY_CAP] + f" … ({len(text)} characters)"


def _sse(event: Event) -> bytes:
    payload = event.payload
    data = exchange_event(payload) if isinstance(payload, Exchange) else payload
    text = json.dumps(data, ensure_ascii=False, default=str)
    # One data line: json.dumps writes no raw newline, so no line of the stream can be forged.
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {text}\n\n".encode()


def create_app(view: LiveView) -> Starlette:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(html.render("live.html.j2", title=view.title,
                                        runs=view.runs.listing(), prefix=PREFIX))

    async def events(request: Request) -> StreamingResponse:
        after = request.headers.get("last-event-id") or request.query_params.get("after", "")
        watcher, kept = view.feed.watch(int(after) if after.isdigit() else 0)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                for missed in kept:
                    yield _sse(missed)
                while True:
                    try:
                        event = await asyncio.wait_for(watcher.queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if event is None:  # the feed closed, or this watcher fell behind
                        return
                    yield _sse(event)
            finally:
                view.feed.forget(watcher)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={
            "Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def runs(request: Request) -> JSONResponse:
        return JSONResponse({"report_dir": str(view.runs.folder),
                             "runs": view.runs.listing()})

    async def artifact(request: Request) -> Response:
        run_id, name = request.path_params["run_id"], request.path_params["name"]
        if not RUN_ID.fullmatch(run_id) or name not in ARTIFACTS:
            return JSONResponse({"error": f"no such artifact: {run_id}/{name}; a run's "
                                          f"artifacts are {', '.join(sorted(ARTIFACTS))}"},
                                status_code=404)
        path = view.runs.artifact(run_id, name)
        if path is None:
            return JSONResponse({"error": f"{run_id} has no {name}"}, status_code=404)
        return FileResponse(path, media_type=ARTIFACTS[name],
                            headers={"Cache-Control": "no-store"})

    return Starlette(routes=[
        Route(PREFIX, page), Route(PREFIX + "/", page),
        Route(PREFIX + "/events", events),
        Route(PREFIX + "/runs", runs),
        Route(PREFIX + "/runs/{run_id}/{name}", artifact),
    ])


def in_front_of(app: ASGIApp, view: LiveView) -> ASGIApp:
    """`app` with the live view answering every request under /ui; everything else — and
    the lifespan — is `app`'s."""
    return servers.in_front_of(app, PREFIX, create_app(view))
