"""The client API's one error shape (client-api-contract.md, "Error Responses"):
`{"error": {"code", "message", "details"}}`, the code naming the HTTP status. Beyond the
contract's codes: 405 for a method a path does not take, 408 for a body that does not arrive
within 10 s (the connection is closed), 413 for a body over 64 KiB, and 502
UPSTREAM_ERROR / 504 UPSTREAM_TIMEOUT when the CDS or BPP behind a call refused it or did
not call back within the ttl (the contract names only 500 for a server's failure).

`details` always carries the `timestamp` of the answer and, where there is one, what the error
is about (`field` as a JSON pointer into the body, `header`, `parameter`, `order_id`, the
BPP's own `bpp_error`).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from harness.beckn import time as wire_time
from mocks.stack.http import CLOSE

CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    422: "UNPROCESSABLE_ENTITY",
    500: "INTERNAL_ERROR", 502: "UPSTREAM_ERROR", 504: "UPSTREAM_TIMEOUT",
}  # fmt: skip
BEARER_CHALLENGE = 'Bearer realm="ubc-reference-bap"'
log = logging.getLogger("ubc.mocks.bap")


class ClientError(Exception):
    """An error answer of the client API, raised from anywhere below an endpoint."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.details = {k: v for k, v in details.items() if v is not None}

    @property
    def code(self) -> str:
        return CODES.get(self.status, f"HTTP_{self.status}")


def error_response(error: ClientError, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": error.code, "message": error.message,
                      "details": {**error.details, "timestamp": wire_time.now()}}}
    headers = dict(headers or {})
    if error.status == 401:
        headers["WWW-Authenticate"] = BEARER_CHALLENGE
    return Response(orjson.dumps(body), status_code=error.status, headers=headers,
                    media_type="application/json")


def invalid(field: str, reason: str) -> ClientError:
    """422: a field of the body holds something the contract does not allow."""
    return ClientError(422, f"{field or 'body'}: {reason}", field=field or "")


async def _on_client_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    return error_response(exc, CLOSE if exc.status == 408 else None)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    # Starlette's own 404 and 405, in the contract's shape
    assert isinstance(exc, HTTPException)
    return error_response(ClientError(exc.status_code, str(exc.detail),
                                      path=request.url.path, method=request.method),
                          dict(exc.headers or {}))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("the client API failed on %s %s", request.method, request.url.path,
              exc_info=exc)
    return error_response(ClientError(500, f"the BAP failed: {type(exc).__name__}"))


def error_handlers() -> dict[Any, Any]:
    """Starlette `exception_handlers` answering every error in the contract's shape (a bug of
    the BAP too: 500, logged)."""
    return {ClientError: _on_client_error, HTTPException: _on_http_exception,
            Exception: _on_unexpected}
