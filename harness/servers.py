"""Real HTTP servers: several ASGI apps served by uvicorn from one event loop, bound on
127.0.0.1 unless another host is given (harness/addresses.py).

Sockets are bound before uvicorn starts, so a port chosen free at run time cannot be taken by
someone else in between. Every wait is bounded; stop() always returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from harness.addresses import HOST, local_url

T = TypeVar("T")

log = logging.getLogger("ubc.servers")


def bind(port: int = 0, host: str = HOST) -> socket.socket:
    """A listening TCP socket on `host` (port 0: the OS picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted connections of sockets
    # that say they are TCP, and without it every reused connection stalls ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or "0.0.0.0", port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])



HEADER_TIMEOUT_S = 10.0  # a request's headers must be complete this long after it began


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete
    within HEADER_TIMEOUT_S of its first byte (or of the connection): uvicorn waits for them
    for ever, so 500 connections that never finish their headers (slowloris) held every party
    of the network; the keep-alive timeout only runs between requests."""

    header_timeout_s = HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._await_headers()

    def _await_headers(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s,
                                                      self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        previous = self.cycle
        super().data_received(data)
        if self.cycle is not previous and self.cycle is not None:  # headers complete
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
        elif self.cycle is None or self.cycle.response_complete:
            self._await_headers()  # bytes of a next request: its headers are timed too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

@dataclass
class Served:
    name: str
    app: Any
    sock: socket.socket
    server: uvicorn.Server | None = None
    host: str = HOST
    elsewhere: bool = False  # served by another process, which was handed the socket

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        """Where this process reaches the server (loopback when bound on every address)."""
        return local_url(self.host, self.port)


class ServerGroup:
    """Serves named apps on their own sockets from one background thread and event loop."""

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self.served: dict[str, Served] = {}
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._shutdown: list[Callable[[], Awaitable[Any]]] = []

    def add(self, name: str, app: Any, port: int = 0) -> Served:
        """Bind now (so the URL is known before the app is built), serve on start()."""
        served = Served(name, app, bind(port, self.host), host=self.host)
        self.served[name] = served
        return served

    def on_shutdown(self, close: Callable[[], Awaitable[Any]]) -> None:
        """Run `close()` on the loop after every server has drained, before the loop ends."""
        self._shutdown.append(close)

    def reserve(self, name: str, port: int = 0) -> Served:
        """Bind a socket for an app that will be attached with attach() before start()."""
        return self.add(name, None, port)

    def attach(self, name: str, app: Any) -> None:
        self.served[name].app = app

    def hand_over(self, name: str) -> socket.socket:
        """The reserved socket of `name`, for another process to serve on (pass its fileno):
        this group keeps its address for URLs but serves nothing there."""
        served = self.served[name]
        served.elsewhere = True
        return served.sock

    def adopt(self, name: str, sock: socket.socket, app: Any) -> Served:
        """Serve `app` on a socket bound elsewhere (a parent process's hand_over)."""
        served = Served(name, app, sock, host=self.host)
        self.served[name] = served
        return served

    def url(self, name: str) -> str:
        return self.served[name].url

    def start(self, timeout: float = 10.0) -> None:
        for served in self.served.values():
            if served.elsewhere:
                continue
            if served.app is None:
                raise RuntimeError(f"no app attached to {served.name!r}")
            config = uvicorn.Config(served.app, log_level="warning", lifespan="on",
                                    access_log=False, timeout_graceful_shutdown=2,
                                    http=HeaderTimeoutH11)
            served.server = uvicorn.Server(config)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="ubc-servers")
        self._thread.start()
        if not ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"servers did not start within {timeout} s")
        failed = [s.name for s in self.served.values() if s.server and not s.server.started]
        if failed:
            self.stop()
            raise RuntimeError(f"servers failed to start: {', '.join(failed)}")

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            here = [s for s in self.served.values() if not s.elsewhere]
            tasks = [asyncio.create_task(s.server.serve(sockets=[s.sock]))  # type: ignore[union-attr]
                     for s in here]
            deadline = self.loop.time() + 10
            while not all(s.server.started or t.done()  # type: ignore[union-attr]
                          for s, t in zip(here, tasks, strict=True)):
                if self.loop.time() > deadline:
                    break
                await asyncio.sleep(0.01)
            ready.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for close in self._shutdown:
                try:
                    await asyncio.wait_for(close(), 5)
                except Exception:  # closing is best effort; the loop ends either way
                    log.exception("shutdown step failed")

        try:
            self.loop.run_until_complete(main())
        finally:
            ready.set()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the servers' loop from another thread and wait for it."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # timed out or interrupted: the work must not outlive its wait
            raise

    def stop(self, timeout: float = 10.0) -> None:
        for served in self.served.values():
            if served.server is not None:
                served.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                for served in self.served.values():
                    if served.server is not None:
                        served.server.force_exit = True
                self._thread.join(timeout)
        elif not self.loop.is_closed():  # never started: no thread will close the loop
            self.loop.close()
        for served in self.served.values():
            with contextlib.suppress(OSError):
                served.sock.close()

    def __enter__(self) -> ServerGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tune_collector() -> None:
    """For a process that serves for long: what it has built so far (schemas, apps, modules)
    leaves the collector's care, and young objects are collected less often. Under load the
    default thresholds spent 15-20 % of the network's CPU in the cyclic collector, mostly
    walking those long-lived objects again and again (bench/mock_bench.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def wait_for_stop_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


def in_front_of(app: ASGIApp, prefix: str, front: ASGIApp) -> ASGIApp:
    """`app`, with `front` answering every HTTP request at `prefix` or under it (with the
    path unchanged); everything else — and the lifespan — is `app`'s. Two parties share a
    server this way (the live view and the registry, a second BPP and the first)."""
    async def dispatch(scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == prefix or path.startswith(prefix + "/"):
            await front(scope, receive, send)
        else:
            await app(scope, receive, send)
    return dispatch

