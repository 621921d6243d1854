"""HTTP plumbing every party shares: bounded body reading and one JSON error shape.

A body is read up to a size limit (413 past it) and within BODY_TIMEOUT_S of the first read
(408 past it): a client that sends its headers and then trickles, or stalls, its body must not
hold a handler for ever. A 408 closes the connection (`Connection: close`); the rest of a body
answered before it was all read is discarded for a bounded time only (harness/servers.py
times whatever comes after an answer as the next request's headers).

Beckn endpoints answer ACK/NACK envelopes (see inbox.py); every other endpoint a mock serves
(control APIs, the registry's admin API, the charger's CPO API) answers errors as
`{"error": {"code": "UPPER_SNAKE", "message": "...", "field": "..."?}}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

MAX_BECKN_BODY_BYTES = 1024 * 1024  # TSD §13: larger Beckn bodies are refused with 413
MAX_CONTROL_BODY_BYTES = 64 * 1024  # control and admin bodies are a few hundred bytes
BODY_TIMEOUT_S = 10.0  # a whole body (1 MB at most) arrives well within this on any link
CLOSE = {"Connection": "close"}  # a 408 ends its connection: its sender is too slow to keep


class ApiError(Exception):
    """An error answer raised from inside an endpoint; `error_handlers()` renders it."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = dict(headers or {})


class BodyTimeout(ApiError):
    """408: the body was not whole within the time allowed. `received` holds what came."""

    def __init__(self, timeout_s: float, received: bytes, declared: str | None) -> None:
        of = f" of the {declared} declared" if declared and declared.isdigit() else ""
        super().__init__(408, "BODY_TIMEOUT", f"the request body did not arrive within "
                         f"{timeout_s:g} s ({len(received)} bytes{of} came)", headers=CLOSE)
        self.received = received


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    """The one error shape; ASCII-escaped, since a message may quote bytes that are not text."""
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return Response(json.dumps({"error": error}, separators=(",", ":")).encode("ascii"),
                    status_code=status, headers=dict(headers or {}),
                    media_type="application/json")


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    # Starlette's own 404/405 answers, in the same shape as ours.
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code,
                                                             f"HTTP_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def error_handlers() -> dict[Any, Any]:
    """Starlette `exception_handlers` that answer ApiError and HTTP errors in the one shape."""
    return {ApiError: _on_api_error, HTTPException: _on_http_exception}


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None,
                  background: BackgroundTask | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=dict(headers or {}),
                    media_type="application/json", background=background)


async def read_body(request: Request, limit: int,
                    timeout_s: float | None = None) -> tuple[bytes, bool]:
    """The body, or its first `limit` bytes and True when it is larger (we stop reading).
    BodyTimeout when it is not whole within `timeout_s` (default BODY_TIMEOUT_S)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    timeout_s = BODY_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    chunks.append(chunk[: max(0, limit - (size - len(chunk)))])
                    return b"".join(chunks), True
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(timeout_s, b"".join(chunks), declared) from None
    return b"".join(chunks), False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


async def json_body(request: Request, *, limit: int = MAX_CONTROL_BODY_BYTES,
                    empty: Any = ...) -> Any:
    """The parsed JSON body of a control or admin request. ApiError 413 BODY_TOO_LARGE past
    `limit`, 400 INVALID_JSON when it is not JSON (NaN and Infinity included); an empty body
    is `empty` when one is given, else invalid."""
    raw, too_large = await read_body(request, limit)
    if too_large:
        raise ApiError(413, "BODY_TOO_LARGE", f"the body is over {limit} bytes")
    if not raw.strip() and empty is not ...:
        return empty
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "INVALID_JSON", f"the body is not JSON: {exc}") from None


async def json_object(request: Request, *, limit: int = MAX_CONTROL_BODY_BYTES,
                      empty: Any = ...) -> dict[str, Any]:
    """`json_body` that must be a JSON object (400 INVALID_JSON otherwise)."""
    document = await json_body(request, limit=limit, empty=empty)
    if not isinstance(document, dict):
        raise ApiError(400, "INVALID_JSON",
                       f"the body must be a JSON object, not {type(document).__name__}")
    return document
