"""The parties' wire (mocks/stack/wire.py): what an outbox records of an answer or a failure,
over real sockets, and the proxies it takes from the environment."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.servers import ServerGroup, bind
from mocks.stack.wire import AiohttpWire, Answer, WireError, proxy_for

pytestmark = pytest.mark.network


async def echo(request: Request) -> Response:
    body = await request.body()
    size = int(request.query_params.get("size", "0"))
    headers = [(b"x-twice", b"a"), (b"x-twice", b"b"), (b"x-got", str(len(body)).encode())]
    answer = Response(b"x" * size if size else body, media_type="application/json")
    answer.raw_headers.extend(headers)
    return answer


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    group = ServerGroup()
    group.add("echo", Starlette(routes=[Route("/echo", echo, methods=["POST"])]))
    group.start()
    try:
        yield f"{group.url('echo')}/echo"
    finally:
        group.stop()


def post(url: str, body: bytes = b"{}", limit: int = 1024) -> Answer:
    async def send() -> Answer:
        wire = AiohttpWire()
        try:
            return await wire.post(url, body, {"Content-Type": "application/json"}, 5.0, limit)
        finally:
            await wire.aclose()
    return asyncio.run(send())


def test_an_answer_keeps_its_status_body_and_headers_lower_cased_and_joined(url: str) -> None:
    answer = post(url, b'{"a":1}')
    assert answer.status == 200
    assert answer.content == b'{"a":1}'
    assert answer.headers["x-twice"] == "a, b"
    assert answer.headers["x-got"] == "7"
    assert not answer.too_large


def test_an_answer_over_the_limit_is_cut_at_it_and_said_to_be(url: str) -> None:
    answer = post(f"{url}?size=300000", limit=1000)
    assert answer.too_large and answer.content == b"x" * 1000


def test_a_refused_connection_is_a_connect_error_as_the_retries_read_it() -> None:
    sock = bind()  # bound, never accepting: then closed, so the port refuses
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(WireError, match=r"^ConnectError: "):
        post(f"http://127.0.0.1:{port}/echo")


def test_a_peer_that_hangs_up_without_answering_is_a_protocol_error() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    async def hang_up() -> None:
        loop = asyncio.get_running_loop()
        server.setblocking(False)
        connection, _ = await loop.sock_accept(server)
        await loop.sock_recv(connection, 65536)
        connection.close()

    async def both() -> None:
        wire = AiohttpWire()
        try:
            task = asyncio.create_task(hang_up())
            with pytest.raises(WireError, match=r"^(RemoteProtocolError|ReadError)"):
                await wire.post(f"http://127.0.0.1:{port}/x", b"{}", {}, 5.0, 1024)
            await asyncio.wait_for(task, 5)
        finally:
            await wire.aclose()
            server.close()
    asyncio.run(both())


def test_proxies_come_from_the_environment_and_no_proxy_exempts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy_for.cache_clear()
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "https_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.internal.example")
    try:
        assert proxy_for("https://bpp.example.com") == "http://proxy.example:3128"
        assert proxy_for("https://cpo.internal.example") is None
        assert proxy_for("https://127.0.0.1:8443") is None
        assert proxy_for("http://bpp.example.com") is None  # no HTTP_PROXY
    finally:
        proxy_for.cache_clear()
