"""The driver's client of a candidate BAP: calls its `/v1` client API (client-api-contract.md,
schemas/openapi/client-api.yaml) with the candidate file's Bearer token, and records every call
and its answer in the run's transcript (party "client-api", OUTBOUND) as evidence.

The token never reaches the transcript: the recorded Authorization header is redacted.
`Driver` is what the story needs of any way of working the app: this client, or the operator
of a run driven by hand (operator.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import httpx
import orjson

from harness import tls
from harness.certify.waits import Waits
from harness.checks.client_api import CLIENT_API
from harness.transcript import OUTBOUND, Exchange, Transcript

PARTY = CLIENT_API
OWN_TOKEN = "the candidate's"  # `send`'s default: the token of the candidate file


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
                 timeout: float, waits: Waits | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.transcript = transcript
        self.timeout = timeout
        self.waits = waits or Waits()  # each call is announced there while it waits
        self._http: httpx.Client | None = None  # shared by the calls of `connection()`

    @contextlib.contextmanager
    def connection(self) -> Iterator[None]:
        """The calls made in the block share one HTTP client: a batch of calls does not pay
        for setting a client up for each (some 20 ms). Each call has a connection of its own,
        as an app may drop one after a failure."""
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0),
                          verify=tls.context()) as http:
            self._http = http
            try:
                yield
            finally:
                self._http = None

    def call(self, method: str, path: str, *, transaction_id: str | None = None,
             bpp_id: str | None = None, body: dict[str, Any] | None = None) -> Exchange:
        """One call as the driver's app makes it; the exchange, with `error` set when no HTTP
        answer came."""
        headers = {"Accept": "application/json"}
        if transaction_id:
            headers["X-Transaction-Id"] = transaction_id
        if bpp_id:
            headers["X-Bpp-Id"] = bpp_id
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.send(method, path, headers, orjson.dumps(body) if body is not None else b"",
                         transaction_id=transaction_id)

    def send(self, method: str, path: str, headers: Mapping[str, str], content: bytes = b"",
             *, token: str | None = OWN_TOKEN, timeout: float | None = None,
             transaction_id: str | None = None, note: str | None = None) -> Exchange:
        """One call exactly as given (`path` below the base URL, query string included; the
        headers and raw body as they are), with `Authorization: Bearer` and the candidate's
        token, another `token` (recorded as it is: it is no secret), or none (`token=None`);
        bounded by `timeout` (default the client's). `transaction_id` is the order's the call
        is about, `note` what the call is for, both for the transcript."""
        sent, recorded = dict(headers), dict(headers)
        if token is not None:
            own = token == OWN_TOKEN
            sent["Authorization"] = f"Bearer {self.token if own else token}"
            recorded["Authorization"] = "Bearer <redacted>" if own else sent["Authorization"]
        url = self.base_url + path
        exchange = self.transcript.begin(OUTBOUND, PARTY, method, url, recorded, content,
                                         note=note)
        exchange.transaction_id = transaction_id
        bound = timeout or self.timeout
        try:
            with contextlib.ExitStack() as stack:
                http = self._http or stack.enter_context(httpx.Client(verify=tls.context()))
                stack.enter_context(self.waits.awaiting(
                    f"the app's answer to {method} {path.partition('?')[0]}", bound))
                answer = http.request(method, url, headers=sent, content=content or None,
                                      timeout=bound)
        except httpx.HTTPError as exc:
            self.transcript.finish(exchange, None, {}, b"", "the app's client API did not "
                                   f"answer: {type(exc).__name__}: {exc}")
            return exchange
        self.transcript.finish(exchange, answer.status_code, dict(answer.headers),
                               answer.content)
        return exchange
