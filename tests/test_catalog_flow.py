"""How a candidate's catalog reaches the harness's CDS: fan-out, publish-then-run
(`--wait-catalog`) and on its behalf (`--catalog FILE`).

Proves: the flow is chosen from the options and refused when they make no sense; the wait
ends as soon as the CDS holds a live catalog of the candidate, and otherwise says why none
came (nothing arrived, a NACKed publish, a rejected catalog) and falls back to fan-out; a
catalog file is accepted as the candidate's only when the CDS's own judgement accepts it;
and a real run of the reference BPP that publishes is discovered from the CDS's cache, never
by fan-out.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import exitcodes
from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.certify.bpp.role import BPP
from harness.certify.catalog_flow import (
    FAN_OUT,
    ON_BEHALF,
    PUBLISH_THEN_RUN,
    CatalogFlow,
    CatalogFlowError,
)
from harness.network import MockNetwork, NetworkConfig
from harness.selftest import ReferenceProcess
from harness.transcript import OUTBOUND
from mocks.bpp import BppConfig
from mocks.bpp.catalog import SiteCatalog
from mocks.charger import Charger
from mocks.stack import Identity, Outbox

CANDIDATE_ID = "cpo.flow.test"


def _catalog_of(identity: Identity) -> dict[str, Any]:
    """The reference BPP's site as a catalog of `identity`."""
    return SiteCatalog(Charger(), BppConfig(identity=identity)).catalog()


# -- choosing the flow ---------------------------------------------------------------------------


def test_without_options_the_cds_fans_out(tmp_path: Path) -> None:
    flow = CatalogFlow.choose(None, None)
    assert flow.mode == FAN_OUT
    assert "fan-out" in " ".join(flow.instructions("http://cds/beckn", "x", "http://x"))


def test_both_options_or_a_silly_wait_are_refused(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(CatalogFlowError, match="exclude each other"):
        CatalogFlow.choose(10, str(tmp_path / "c.json"))
    with pytest.raises(CatalogFlowError, match="positive"):
        CatalogFlow.choose(0, None)


@pytest.mark.parametrize(("content", "problem"), [
    (b"not json", "not JSON"),
    (b"[]", "no catalog"),
    (b"[1]", "catalog 0 is not a JSON object"),
    (b'{"context": {}, "message": {"catalogs": {}}}', "must be a list"),
])
def test_a_catalog_file_that_cannot_be_a_catalog_is_refused(tmp_path: Path, content: bytes,
                                                            problem: str) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(CatalogFlowError, match=problem):
        CatalogFlow.choose(None, str(path))
    with pytest.raises(CatalogFlowError, match="cannot read"):
        CatalogFlow.choose(None, str(tmp_path / "missing.json"))


def test_a_catalog_file_holds_a_catalog_a_list_or_a_whole_publish(tmp_path: Path) -> None:
    catalog = {"beckn:id": "c1", "beckn:items": []}
    for document in (catalog, [catalog, {**catalog, "beckn:id": "c2"}],
                     {"context": {"action": "catalog_publish"},
                      "message": {"catalogs": [catalog]}}):
        path = tmp_path / "c.json"
        path.write_text(json.dumps(document))
        flow = CatalogFlow.choose(None, str(path))
        assert flow.mode == ON_BEHALF and flow.catalogs[0]["beckn:id"] == "c1"
        assert flow.as_option()["signed"] is False


# -- against the CDS -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network() -> Iterator[MockNetwork]:
    net = MockNetwork(NetworkConfig(ttl="PT5S", roles=("registry", "cds", "bap")))
    net.start()
    try:
        yield net
    finally:
        net.stop()


def _free_uri() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/beckn"


@pytest.fixture
def candidate(network: MockNetwork, request: pytest.FixtureRequest) -> Identity:
    """A fresh candidate BPP registered at the network (nothing listens at its URI: the CDS's
    on_catalog_publish to it fails, which the flow does not need)."""
    name = request.node.name.replace("_", "-")[:30]
    identity = Identity.create(f"{name}.{CANDIDATE_ID}", "bpp", _free_uri())
    network.register_candidate(Candidate("bpp", identity.subscriber_id, identity.key_id,
                                         identity.public_key, identity.uri))
    return identity


def _as_candidate(identity: Identity) -> Candidate:
    return Candidate("bpp", identity.subscriber_id, identity.key_id, identity.public_key,
                     identity.uri)


def _publish(network: MockNetwork, identity: Identity, catalog: dict[str, Any], *,
             signer: signing.Signer | None = None) -> None:
    """The candidate's own catalog_publish, signed (by `signer` when given)."""
    async def send() -> None:
        async with httpx.AsyncClient() as http:
            outbox = Outbox(identity, network.transcript, http, party="candidate")
            context = envelope.context("catalog_publish", transaction_id=envelope.new_id(),
                                       bpp_id=identity.subscriber_id, bpp_uri=identity.uri)
            await outbox.send(network.participants["cds"].uri, "catalog_publish",
                              {"context": context, "message": {"catalogs": [catalog]}},
                              signer=signer)
    network.group.run(send())


def _later(delay: float, action: Any) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


@pytest.mark.network
def test_the_wait_ends_when_the_candidates_catalog_is_live(network: MockNetwork,
                                                           candidate: Identity) -> None:
    flow = CatalogFlow.choose(20, None)
    started = time.monotonic()
    publisher = _later(0.5, lambda: _publish(network, candidate, _catalog_of(candidate)))
    lines = flow.settle(network, _as_candidate(candidate))
    publisher.join()
    assert time.monotonic() - started < 10, "woken by the CDS's answer, not by the deadline"
    assert lines and "is live at the CDS: 2 item(s)" in lines[0], lines
    assert network.live_catalogs(candidate.subscriber_id)
    role_lines = " ".join(BPP.announce(network, flow))
    assert "publish-then-run" in role_lines


@pytest.mark.network
def test_no_publish_is_said_plainly_and_discovery_falls_back_to_fan_out(
        network: MockNetwork, candidate: Identity) -> None:
    lines = CatalogFlow(PUBLISH_THEN_RUN, wait_s=0.5).settle(network, _as_candidate(candidate))
    assert "no catalog_publish of" in lines[0] and "reached" in lines[0]
    assert "falls back to fan-out" in lines[1]


@pytest.mark.network
def test_a_nacked_publish_is_the_reason_given(network: MockNetwork,
                                              candidate: Identity) -> None:
    stranger = signing.Signer.from_keypair(signing.KeyPair.generate(candidate.subscriber_id,
                                                                    candidate.key_id))
    _later(0.2, lambda: _publish(network, candidate, _catalog_of(candidate), signer=stranger))
    lines = CatalogFlow(PUBLISH_THEN_RUN, wait_s=3).settle(network, _as_candidate(candidate))
    assert "NACKed its catalog_publish with HTTP 401" in lines[0], lines


@pytest.mark.network
def test_a_rejected_catalog_is_the_reason_given(network: MockNetwork,
                                                candidate: Identity) -> None:
    foreign = {**_catalog_of(candidate), "beckn:bppId": "someone.else"}
    _later(0.2, lambda: _publish(network, candidate, foreign))
    lines = CatalogFlow(PUBLISH_THEN_RUN, wait_s=3).settle(network, _as_candidate(candidate))
    assert "REJECTED (BPP_MISMATCH" in lines[0], lines


@pytest.mark.network
def test_a_catalog_file_is_published_as_the_candidates(network: MockNetwork,
                                                       candidate: Identity,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(_catalog_of(candidate)))
    lines = CatalogFlow.choose(None, str(path)).settle(network, _as_candidate(candidate))
    assert "ACCEPTED, 2 item(s)" in lines[0] and "unsigned" in lines[0]
    assert network.live_catalogs(candidate.subscriber_id)


@pytest.mark.network
def test_a_catalog_file_naming_another_bpp_stops_the_run(network: MockNetwork,
                                                         candidate: Identity,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    example = Path(__file__).parent / "fixtures" / "ubc-examples" / "21_publish" / \
        "ev-charging-catalog-publish.json"
    path.write_bytes(example.read_bytes())
    with pytest.raises(CatalogFlowError, match="BPP_MISMATCH"):
        CatalogFlow.choose(None, str(path)).settle(network, _as_candidate(candidate))
    assert not network.live_catalogs(candidate.subscriber_id)


# -- a whole run ---------------------------------------------------------------------------------


@pytest.mark.network
@pytest.mark.slow
def test_a_bpp_that_publishes_is_discovered_from_the_cache(tmp_path: Path) -> None:
    """The reference BPP publishes (by its control API) once the run's CDS is up; the run
    waits for it, and discovery is answered from the cache: no discover is fanned out."""
    with ReferenceProcess(tmp_path) as reference:
        command = [sys.executable, "-m", "harness.cli", "run", "--role", "bpp",
                   "--candidate", str(reference.candidate), "--report-dir",
                   str(tmp_path / "reports"), "--ttl", "PT2S", "--port-base",
                   str(reference.base), "--wait", "10", "--tags", "walk_in",
                   "--wait-catalog", "30"]
        run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=reference.env)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # another process binds the CDS: poll
                try:
                    socket.create_connection(("127.0.0.1", reference.base + 1), 0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            published = httpx.post(f"{reference.control}/catalog/publish", timeout=10)
            assert published.status_code == 200, published.text
            output, _ = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
    assert run.returncode == exitcodes.PARTIAL_PASSED, output[-3000:]  # the walk-in passed
    assert "publish-then-run" in output and "is live at the CDS" in output
    report_dir = next((tmp_path / "reports").iterdir())
    report = json.loads((report_dir / "report.json").read_text())
    assert report["options"]["catalog"]["mode"] == PUBLISH_THEN_RUN
    records = [json.loads(line) for line in
               (report_dir / "transcript.ndjson").read_text().splitlines()]
    assert any(r["action"] == "catalog_publish" for r in records)
    assert not [r for r in records if r["party"] == "cds" and r["direction"] == OUTBOUND
                and r["action"] == "discover"], "discovery fanned out despite the catalog"
