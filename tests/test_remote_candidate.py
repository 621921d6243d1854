"""A candidate on another host: the reference BPP runs in its own network namespace, joined to
this one by a veth pair on a private /30 link, and is certified through `--host` and
`--public-url`. Inside its namespace 127.0.0.1 is its own loopback, so it can only have reached
the harness at the address the harness advertised. All traffic stays on this machine.

Needs root and iproute2 (`ip netns`); skipped, saying which is missing, without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import exitcodes
from harness.selftest import Placement, ReferenceProcess

pytestmark = [pytest.mark.network, pytest.mark.slow]

TAGS = "walk_in or security"


@dataclass(frozen=True)
class Link:
    namespace: str
    host_ip: str  # this namespace's end, where the harness listens
    candidate_ip: str  # the other namespace's end, where the reference BPP listens


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10,
                          check=False)


def _missing() -> str:
    """Why this machine cannot run the test, or ""."""
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    listed = _ip("netns", "list")
    if listed.returncode != 0:
        return f"`ip netns` is unavailable: {listed.stderr.strip()}"
    return ""


@pytest.fixture
def link() -> Iterator[Link]:
    """A namespace and a veth pair with 10.231.x.y/30 on each end, removed afterwards."""
    missing = _missing()
    if missing:
        pytest.skip(missing)
    n = os.getpid() % 16384  # one /30 per test process, so parallel sessions do not collide
    network = f"10.231.{n // 64}"
    host_ip, candidate_ip = f"{network}.{(n % 64) * 4 + 1}", f"{network}.{(n % 64) * 4 + 2}"
    namespace, host_end, far_end = f"ubc-test-{n}", f"ubch{n}", f"ubcc{n}"
    steps = [("netns", "add", namespace),
             ("link", "add", host_end, "type", "veth", "peer", "name", far_end),
             ("link", "set", far_end, "netns", namespace),
             ("addr", "add", f"{host_ip}/30", "dev", host_end),
             ("link", "set", host_end, "up"),
             ("-n", namespace, "addr", "add", f"{candidate_ip}/30", "dev", far_end),
             ("-n", namespace, "link", "set", far_end, "up"),
             ("-n", namespace, "link", "set", "lo", "up")]
    try:
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                pytest.skip(f"cannot set up the link (ip {' '.join(step)}): "
                            f"{done.stderr.strip()}")
        yield Link(namespace, host_ip, candidate_ip)
    finally:
        _ip("link", "del", host_end)  # takes its peer with it
        _ip("netns", "del", namespace)
        left = [namespace] if namespace in _ip("netns", "list").stdout.split() else []
        left += [host_end] if _ip("link", "show", "dev", host_end).returncode == 0 else []
        assert not left, f"not cleaned up: {left}"


def test_a_bpp_in_another_namespace_is_certified_through_host_and_public_url(
        link: Link, tmp_path: Path) -> None:
    placement = Placement(reference_host=link.candidate_ip, harness_host=link.host_ip,
                          harness_url=f"http://{link.host_ip}",
                          launcher=("ip", "netns", "exec", link.namespace))
    emitted = tmp_path / "harness.json"
    with ReferenceProcess(tmp_path, placement=placement) as reference:
        result = reference.certify(tags=TAGS, options=("--emit-config", str(emitted)))
    assert result.exit_code == exitcodes.PARTIAL_PASSED, result.output[-3000:]
    report = result.report
    assert (report["summary"]["failed"], report["summary"]["not_evaluated"]) == (0, 0)
    assert report["summary"]["passed"] >= 2
    assert report["candidate"]["uri"].startswith(f"http://{link.candidate_ip}:")
    harness = [p for p in report["network"] if not p["role"].startswith("candidate")]
    assert {p["role"] for p in harness} == {"registry", "cds", "bap", "other-bap"}
    for party in harness:
        assert party["uri"].startswith(f"http://{link.host_ip}:"), party
        assert party["listen"].startswith(f"{link.host_ip}:"), party
    identity = json.loads(emitted.read_text())
    assert identity["registry_url"].startswith(f"http://{link.host_ip}:")
    assert identity["participants"]["bap"]["uri"].startswith(f"http://{link.host_ip}:")

