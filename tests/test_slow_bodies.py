"""A client that sends its headers and then trickles or stalls its body holds no handler and no
connection for long (issue F): every endpoint of the mock network that reads a body answers 408
in its own error shape once the whole body has not come within the bound (BODY_TIMEOUT_S,
mocks/stack/http.py; shortened here), and closes the connection; every such endpoint refuses a
body over its limit with 413 without reading it; and a client that goes on trickling a body the
server already answered is cut off too.

Raw sockets, since an HTTP client library would not send half a body.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.network import MockNetwork, NetworkConfig
from harness.servers import HeaderTimeoutH11
from harness.transcript import INBOUND
from mocks.stack import http

pytestmark = pytest.mark.network

BOUND_S = 0.5  # the body timeout while these tests run
ANSWER_WITHIN_S = 5.0  # generous: the machine is shared


@dataclass(frozen=True)
class Endpoint:
    role: str  # whose server
    method: str
    path: str
    shape: str  # "nack" (Beckn), "error" (mocks/stack/http.py), "client" (the BAP's /v1)
    token: str = ""  # which bearer token it wants: "admin", "client" or none


ENDPOINTS = [
    Endpoint("bpp", "POST", "/beckn/select", "nack"),
    Endpoint("bap", "POST", "/beckn/on_select", "nack"),
    Endpoint("bap", "POST", "/beckn/no_such_action", "nack"),  # recorded as a stray
    Endpoint("cds", "POST", "/beckn/discover", "nack"),
    Endpoint("registry", "POST", "/lookup", "error"),
    Endpoint("registry", "POST", "/admin/subscribers", "error", "admin"),
    Endpoint("charger", "POST", "/clock/advance", "error"),
    Endpoint("charger", "POST", "/webhooks", "error"),
    Endpoint("bpp", "POST", "/_control/hooks/plug-in", "error"),
    Endpoint("bpp", "PUT", "/_control/faults", "error"),
    Endpoint("bap", "PUT", "/_control/faults", "client"),
    Endpoint("bap", "POST", "/v1/search", "client", "client"),
]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockNetwork]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http, "BODY_TIMEOUT_S", BOUND_S)
        patch.setattr(HeaderTimeoutH11, "header_timeout_s", 1.0)
        state: Path = tmp_path_factory.mktemp("state")
        net = MockNetwork(NetworkConfig(state_dir=state)).start()
        try:
            yield net
        finally:
            net.stop()


def _address(network: MockNetwork, role: str) -> tuple[str, int]:
    parts = urlsplit(network.group.url(role))
    return str(parts.hostname), int(parts.port or 80)


def _head(network: MockNetwork, endpoint: Endpoint, length: int) -> bytes:
    lines = [f"{endpoint.method} {endpoint.path} HTTP/1.1", "Host: harness",
             "Content-Type: application/json", f"Content-Length: {length}"]
    if endpoint.token == "admin":
        lines.append(f"Authorization: Bearer {network.admin_token}")
    elif endpoint.token == "client":
        assert network.bap is not None
        lines.append(f"Authorization: Bearer {network.bap.config.client_api_token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket, within_s: float, trickle: bytes = b"") -> tuple[int, Any]:
    """Status and JSON body of the first answer on `sock`, sending a byte of `trickle` every
    0.1 s meanwhile. AssertionError when none comes within `within_s`."""
    received = b""
    deadline = time.monotonic() + within_s
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        head, _, body = received.partition(b"\r\n\r\n")
        if body:
            lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")]
            if lengths and len(body) >= lengths[0]:
                return int(head.split(b" ")[1]), json.loads(body[: lengths[0]])
        if trickle:
            with contextlib.suppress(OSError):  # closed under us: what came is the answer
                sock.sendall(trickle[:1])
            trickle = trickle[1:] or b" "
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        received += chunk
    raise AssertionError(f"no whole answer within {within_s} s: {received!r}")


def _closed_within(sock: socket.socket, bound_s: float) -> bool:
    sock.settimeout(bound_s)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:  # reset: closed as well
        return True
    return True


def _error_code(shape: str, document: Any) -> str:
    if shape == "nack":
        assert document["message"]["ack"]["status"] == "NACK", document
    return str(document["error"]["code"])


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.role}:{e.method}:{e.path}")
def test_a_stalled_body_is_answered_408_and_the_connection_closed(
        network: MockNetwork, endpoint: Endpoint) -> None:
    with socket.create_connection(_address(network, endpoint.role), timeout=5) as sock:
        sock.sendall(_head(network, endpoint, 100) + b'{"context": ')  # and nothing more
        started = time.monotonic()
        status, document = _answer(sock, ANSWER_WITHIN_S)
        took = time.monotonic() - started
        assert status == 408, document
        assert _error_code(endpoint.shape, document) == {
            "nack": "10004", "error": "BODY_TIMEOUT", "client": "REQUEST_TIMEOUT"}[endpoint.shape]
        message = document["error"]["message"]
        assert "within" in message and "12 bytes of the 100 declared" in message, message
        assert took >= BOUND_S * 0.9, took
        assert _closed_within(sock, 2.0), "the connection stayed open after the 408"


def test_a_trickled_body_does_not_extend_the_bound(network: MockNetwork) -> None:
    endpoint = ENDPOINTS[0]
    with socket.create_connection(_address(network, endpoint.role), timeout=5) as sock:
        sock.sendall(_head(network, endpoint, 10_000))
        started = time.monotonic()
        status, document = _answer(sock, ANSWER_WITHIN_S, trickle=b'{"context": {}}' * 100)
        assert status == 408, document
        assert time.monotonic() - started < BOUND_S + 2.0


def test_the_inbox_records_the_late_request(network: MockNetwork) -> None:
    endpoint = ENDPOINTS[0]
    with socket.create_connection(_address(network, endpoint.role), timeout=5) as sock:
        sock.sendall(_head(network, endpoint, 100) + b'{"late": 1')
        assert _answer(sock, ANSWER_WITHIN_S)[0] == 408
    late = network.transcript.find(lambda e: e.direction == INBOUND and e.party == "bpp"
                                   and e.status == 408)
    assert late and late[-1].request_body == b'{"late": 1', late


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.role}:{e.method}:{e.path}")
def test_a_body_over_the_limit_is_refused_413_unread(network: MockNetwork,
                                                    endpoint: Endpoint) -> None:
    with socket.create_connection(_address(network, endpoint.role), timeout=5) as sock:
        sock.sendall(_head(network, endpoint, 50 * 1024 * 1024))  # 50 MB, never sent
        status, document = _answer(sock, ANSWER_WITHIN_S)
    # A stray request is answered 404 whatever its size, its body read no further either.
    assert status == (404 if "no_such_action" in endpoint.path else 413), document


def test_trickling_a_body_the_server_answered_already_is_cut_off(network: MockNetwork) -> None:
    endpoint = Endpoint("charger", "POST", "/clock/advance", "error")
    with socket.create_connection(_address(network, endpoint.role), timeout=5) as sock:
        sock.sendall(_head(network, endpoint, 50 * 1024 * 1024))
        assert _answer(sock, ANSWER_WITHIN_S)[0] == 413
        sock.settimeout(0.1)
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < ANSWER_WITHIN_S:
            try:
                sock.sendall(b"x")  # the body goes on, a byte at a time
                closed = sock.recv(4096) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        assert closed, "a client trickling an answered body held the connection"
