"""The driver's client of a candidate BAP: calls its `/v1` client API (client-api-contract.md,
schemas/openapi/client-api.yaml) with the candidate file's Bearer token, and records every call
and its answer in the run's transcript (party "client-api", OUTBOUND) as evidence.

The token never reaches the transcript: the recorded Authorization header is redacted.
`Driver` is what the story needs of any way of working the app: this client, or the operator
of a run driven by hand (operator.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import orjson

from harness.checks.client_api import CLIENT_API
from harness.transcript import OUTBOUND, Exchange, Transcript

PARTY = CLIENT_API


class Driver(Protocol):
    """How the harness, as the driver, works the app: one /v1 operation at a time."""

    def call(self, method: str, path: str, *, transaction_id: str | None = None,
             bpp_id: str | None = None, body: dict[str, Any] | None = None) -> Exchange:
        """Perform the operation (`path` below /v1); the exchange it was, its answer the
        app's, with `error` set and no status when none came."""
        ...


class ClientApi:
    """A bounded HTTP client of one app's /v1 API."""

    def __init__(self, base_url: str, token: str, transcript: Transcript, *,
                 timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.transcript = transcript
        self.timeout = timeout

    def call(self, method: str, path: str, *, transaction_id: str | None = None,
             bpp_id: str | None = None, body: dict[str, Any] | None = None) -> Exchange:
        """One call; the exchange, with `error` set when no HTTP answer came."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if transaction_id:
            headers["X-Transaction-Id"] = transaction_id
        if bpp_id:
            headers["X-Bpp-Id"] = bpp_id
        raw = orjson.dumps(body) if body is not None else b""
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        exchange = self.transcript.begin(OUTBOUND, PARTY, method, url,
                                         {**headers, "Authorization": "Bearer <redacted>"}, raw)
        exchange.transaction_id = transaction_id
        try:
            with httpx.Client(timeout=self.timeout) as http:
                answer = http.request(method, url, headers=headers, content=raw or None)
        except httpx.HTTPError as exc:
            self.transcript.finish(exchange, None, {}, b"", "the app's client API did not "
                                   f"answer: {type(exc).__name__}: {exc}")
            return exchange
        self.transcript.finish(exchange, answer.status_code, dict(answer.headers),
                               answer.content)
        return exchange
