"""Fixtures shared by the network tests."""

from __future__ import annotations

from collections.abc import Iterator

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
