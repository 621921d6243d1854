"""Fixtures shared by the network tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.network import MockNetwork, NetworkConfig


@pytest.fixture(scope="module")
def network() -> Iterator[MockNetwork]:
    """The whole mock network as `ubc-cert serve` runs it, on free loopback ports."""
    net = MockNetwork(NetworkConfig(ttl="PT5S"))
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="session", autouse=True)
def harness_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`ubc-cert run` keeps the harness's keys under $XDG_CACHE_HOME by default: in the tests
    that is the session's own folder (inherited by every process a test starts), never the
    user's ~/.cache."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = previous
