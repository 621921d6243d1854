"""Bringing the mock network up around one candidate, for every command that does
(`run`, `fuzz`, `load`): the network started with the candidate registered, the harness's
identity written where `--emit-config` asks, and the wait for the candidate to accept
connections. What goes wrong is said in words for the operator (`CannotStart`); each command
turns that into its own "could not run"."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from harness import identity
from harness.beckn.signing import InvalidKey
from harness.candidate import Candidate
from harness.network import MockNetwork


class CannotStart(Exception):
    """Why the network could not be brought up around the candidate."""


def bring_up(network: MockNetwork, candidate: Candidate, emit_config: str | None) -> None:
    """Build and start the network with `candidate` registered, then write the harness's
    identity to `emit_config` (if given); CannotStart saying why not."""
    try:
        network.build()
        network.register_candidate(candidate)
        network.start()
    except InvalidKey as exc:
        raise CannotStart(f"{exc} (--fresh-keys replaces the harness's keys)") from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise CannotStart(f"cannot start the mock network: {where}{exc.strerror or exc}"
                          ) from None
    if emit_config:
        try:
            identity.emit(network, emit_config)
        except OSError as exc:
            raise CannotStart(f"--emit-config {emit_config}: cannot write: "
                              f"{exc.strerror or exc}") from None


def reachable(uri: str, timeout: float) -> bool:
    """Whether something accepts TCP connections at the URI's host and port, trying for up
    to `timeout` seconds."""
    parts = urlsplit(uri)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)  # polling a port that is not yet open: nothing to wait on
