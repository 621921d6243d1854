"""What `ubc-cert doctor` does to the candidate and watches: a TCP connection to its URI, one
signed request from the harness BAP (a `status` for an order that does not exist, which a
BPP ACKs and answers with an error in its on_status), its callback, and the registry lookups
it makes meanwhile.

The registry records every request it receives in the transcript; the candidate's lookups
are read from there.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness import tls
from harness.beckn import envelope
from harness.beckn.order import Buyer, Order
from harness.candidate import Candidate
from harness.doctor.diagnosis import Lookup, Reach
from harness.network import MockNetwork
from harness.transcript import INBOUND, Exchange

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBE_ORDER_ID = "doctor-probe-order"  # no BPP has it: the answer is an on_status error


def registry_lookups(network: MockNetwork) -> list[Lookup]:
    """What the registry received from anyone but the harness's own parties (they name
    themselves in their User-Agent): the candidate's lookups, from the run's transcript."""
    return [Lookup(e.method, urlsplit(e.url).path, e.request_body, e.status)
            for e in network.transcript.query(party="registry", direction=INBOUND)
            if not (e.header("user-agent") or "").startswith("ubc-conformance")]


def connect(uri: str, timeout: float) -> Reach:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Reach(host, port, None, time.monotonic() - started)
    except TimeoutError:
        error = f"no answer to the TCP connection within {timeout:g} s"
    except ConnectionRefusedError:
        error = "connection refused: nothing listens there"
    except socket.gaierror as exc:
        error = f"cannot resolve {host!r}: {exc.strerror or exc}"
    except OSError as exc:
        error = exc.strerror or str(exc)
    return Reach(host, port, error, time.monotonic() - started)


def send_status(network: MockNetwork, candidate: Candidate) -> tuple[Exchange, str]:
    """The harness BAP's signed status for an order no BPP has: the request's exchange and its
    transaction id. Nothing is waited for here."""
    assert network.bap is not None
    order = Order(seller=candidate.subscriber_id, item_id="doctor-probe-item",
                  buyer=Buyer(id="doctor-probe"), quantity_kwh=1.0)
    order.id = PROBE_ORDER_ID
    transaction_id = envelope.new_id()
    call = network.group.run(network.bap.send(
        "status", {"order": order.to_beckn(full=False)}, transaction_id=transaction_id,
        bpp_id=candidate.subscriber_id, bpp_uri=candidate.uri, wait=False))
    return call.sent.exchange, transaction_id


def wait_callback(network: MockNetwork, transaction_id: str, timeout: float
                  ) -> Exchange | None:
    """The first request of this transaction the harness BAP received and answered, at any
    of its addresses (a callback to a wrong path is recorded as a stray)."""
    return network.transcript.wait_for(
        lambda e: e.direction == INBOUND and e.party == "bap" and e.status is not None
        and e.transaction_id == transaction_id, timeout)


def post_unsigned(uri: str, action: str, timeout: float) -> Exchange:
    """An unsigned request (for a BAP, which the harness has no BPP identity to sign for): its
    answer shows whether the URI answers HTTP and JSON."""
    body = (b'{"context": {"action": "' + action.encode() + b'", "domain": "'
            + envelope.DOMAIN.encode() + b'"}, "message": {}}')
    url = f"{uri.rstrip('/')}/{action}"
    exchange = Exchange(id="doctor", direction="outbound", party="doctor", method="POST",
                        url=url, request_headers={"Content-Type": "application/json"},
                        request_body=body, wall_time=time.time(), mono_time=time.monotonic())
    try:
        response = httpx.post(url, content=body, headers=exchange.request_headers,
                              timeout=timeout, verify=tls.context())
    except httpx.HTTPError as exc:
        exchange.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return exchange
    exchange.status = response.status_code
    exchange.response_headers = dict(response.headers)
    exchange.response_body = response.content[:1024 * 1024]
    exchange.response_mono_time = time.monotonic()
    return exchange
