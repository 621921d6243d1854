"""Every party's server closes a connection whose request headers do not complete in time
(harness/servers.py HeaderTimeoutH11): 500 connections that never finished their headers used
to hold every party of the network (slowloris, issue F); a request that comes whole, and a
second one on the same kept-alive connection, are served as before. Log lines carry candidate
text escaped, never obeyed by the terminal."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harness.servers import HeaderTimeoutH11, ServerGroup

pytestmark = pytest.mark.network


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(HeaderTimeoutH11, "header_timeout_s", 0.5)

    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")
    group = ServerGroup()
    served = group.add("app", Starlette(routes=[Route("/", hello)]))
    group.start()
    try:
        parts = urlsplit(served.url)
        yield str(parts.hostname), int(parts.port or 80)
    finally:
        group.stop()


def _closed_within(sock: socket.socket, bound_s: float) -> float | None:
    """Seconds until the server closed `sock`, None if it still holds it after `bound_s`."""
    sock.settimeout(bound_s)
    started = time.monotonic()
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return None
    return time.monotonic() - started


def test_unfinished_headers_are_cut_off(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
        took = _closed_within(sock, 5.0)
    assert took is not None and took < 3.0, took


def test_a_kept_alive_connection_times_its_next_request_too(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer, deadline = b"", time.monotonic() + 5
        while b"hello" not in answer and time.monotonic() < deadline:
            answer += sock.recv(4096)  # headers and body may come in separate reads
        assert b"hello" in answer
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the next one, never finished
        took = _closed_within(sock, 5.0)
    assert took is not None and took < 3.0, took


def test_whole_requests_are_served(server: tuple[str, int]) -> None:
    host, port = server
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=5) as client:
        assert client.get("/").text == "hello"
        time.sleep(0.8)  # longer than the header timeout: an idle kept-alive connection
        assert client.get("/").text == "hello"


def test_log_lines_show_control_characters_instead_of_obeying_them() -> None:
    import logging

    from harness.logs import PrintableLogs

    record = logging.LogRecord("mocks.charger.webhooks", logging.WARNING, __file__, 1,
                               "webhook %s failed", ("http://x/\x1b[2J\x1b]0;pwned\x07",),
                               None)
    assert PrintableLogs().filter(record)
    message = record.getMessage()
    assert "\x1b" not in message and "\x07" not in message and "\\x1b[2J" in message
