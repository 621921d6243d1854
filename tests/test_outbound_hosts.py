"""The mock network sends only to hosts it may (issue F, request forgery): the registry took a
subscriber URL on any host, link-local and private ranges included, the CDS fanned signed
discovers out to it, and the charger POSTed its events to any webhook, which no one could remove.

Allowed are loopback, the hosts the network is advertised under, each registered candidate's
host, and `--allow-outbound HOST` (mocks/stack/outbound.py). The registry refuses records
elsewhere (400 HOST_NOT_ALLOWED naming the host and the option), the charger such webhooks, and
a party asked to send elsewhere anyway (a record written before) does not, recording why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from harness import reference
from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.cli import build_parser
from harness.cli_options import safeguard_config
from harness.network import MockNetwork, NetworkConfig
from harness.transcript import OUTBOUND, Exchange, Transcript
from mocks.stack import Identity, OutboundHosts, Outbox
from tests.mock_fuzz import CHECKS, SCHEMAS

METADATA = "http://169.254.169.254/latest/meta-data"


# --- the allow-list ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9000/beckn", "http://127.8.9.10/x", "http://localhost:1/", "http://LOCALHOST./",
    "http://[::1]:7400/", "http://[::ffff:127.0.0.1]/"])
def test_loopback_is_allowed_by_default(url: str) -> None:
    assert OutboundHosts().refusal(url) is None


@pytest.mark.parametrize("url", [
    METADATA, "http://10.0.0.5/beckn", "http://192.168.1.1/", "http://[fe80::1]/",
    "https://bpp.example.com/beckn", "http://2130706433/", "http://0.0.0.0:7400/"])
def test_anything_else_is_refused_naming_the_host_and_the_option(url: str) -> None:
    refusal = OutboundHosts().refusal(url)
    assert refusal is not None and "--allow-outbound" in refusal, refusal
    host = httpx.URL(url).host
    assert repr(host) in refusal, refusal


def test_names_addresses_networks_and_any_can_be_allowed() -> None:
    hosts = OutboundHosts(["Onix-Adapter", "10.0.0.0/8", "192.168.1.7", "fd00::/8"])
    for url in ("http://onix-adapter:8080/bpp", "http://10.20.30.40/", "http://192.168.1.7/",
                "http://[fd00::5]/"):
        assert hosts.refusal(url) is None, url
    for url in ("http://192.168.1.8/", "http://onix-adapter.evil/", METADATA):
        assert hosts.refusal(url) is not None, url
    assert OutboundHosts(["*"]).refusal(METADATA) is None
    assert OutboundHosts(loopback=False).refusal("http://127.0.0.1/") is not None


@pytest.mark.parametrize("entry", ["", "example.com:8080", "a b", "example.com/path"])
def test_an_entry_that_is_no_host_is_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        OutboundHosts().allow(entry)


def test_serve_and_run_take_allowed_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["serve", "--allow-outbound", "10.0.0.0/8",
                                      "--allow-outbound", "onix-adapter"])
    assert safeguard_config(args)["allow_outbound"] == ("10.0.0.0/8", "onix-adapter")
    args = build_parser().parse_args(["run", "--role", "bpp", "--allow-outbound", "*"])
    assert safeguard_config(args)["allow_outbound"] == ("*",)
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["serve", "--allow-outbound", "example.com:80"])
    assert stop.value.code == 2 and "without a port" in capsys.readouterr().err


# --- a party asked to send elsewhere ------------------------------------------------------------


def test_the_outbox_does_not_send_to_a_host_off_the_list() -> None:
    reached: list[httpx.Request] = []

    def network(request: httpx.Request) -> httpx.Response:
        reached.append(request)
        return httpx.Response(200, json=envelope.ack())

    keys = signing.KeyPair.generate("bap.example", "bap.example-k1")
    transcript = Transcript()

    async def send(url: str) -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as http:
            outbox = Outbox(Identity.create("bap.example", "bap", "http://127.0.0.1/b", keys),
                            transcript, http, party="bap", outbound=OutboundHosts())
            return await outbox.send(url, "select", {"context": {}, "message": {}})

    refused = asyncio.run(send("http://169.254.169.254/beckn"))
    assert reached == [] and refused.status is None and not refused.acked
    assert refused.error is not None and "not sent" in refused.error \
        and "'169.254.169.254'" in refused.error
    (recorded,) = transcript.find(lambda e: e.direction == OUTBOUND)
    assert recorded.error == refused.error and recorded.status is None
    assert asyncio.run(send("http://127.0.0.1:9/beckn")).acked and len(reached) == 1


# --- the network ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockNetwork]:
    state: Path = tmp_path_factory.mktemp("state")
    net = MockNetwork(NetworkConfig(state_dir=state, allow_outbound=("10.0.0.0/8",))).start()
    try:
        yield net
    finally:
        net.stop()


def _admin(network: MockNetwork, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, network.group.url("registry") + path, json=body, timeout=5,
                         headers={"Authorization": f"Bearer {network.admin_token}"})


def _record(subscriber_id: str, url: str) -> dict[str, Any]:
    keys = signing.KeyPair.generate(subscriber_id, f"{subscriber_id}-k1")
    return {"subscriber_id": subscriber_id, "key_id": keys.key_id, "type": "BPP", "url": url,
            "signing_public_key": keys.signing_public_key}


@pytest.mark.network
def test_the_registry_refuses_a_record_on_a_host_off_the_list(network: MockNetwork) -> None:
    refused = _admin(network, "POST", "/admin/subscribers",
                     _record("ssrf.example", "http://169.254.169.254/beckn"))
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "HOST_NOT_ALLOWED" and error["field"] == "url"
    assert "'169.254.169.254'" in error["message"] and "--allow-outbound" in error["message"]
    assert network.store is not None and not network.store.lookup(subscriber_id="ssrf.example")

    for name, url in (("local.example", "http://127.0.0.1:9/beckn"),  # loopback
                      ("private.example", "http://10.1.2.3:8080/beckn")):  # allowed: 10/8
        added = _admin(network, "POST", "/admin/subscribers", _record(name, url))
        assert added.status_code == 201, added.text
    moved = _admin(network, "PATCH", "/admin/subscribers/local.example/local.example-k1",
                   {"url": "http://192.168.0.10/beckn"})
    assert moved.status_code == 400 and moved.json()["error"]["code"] == "HOST_NOT_ALLOWED"


@pytest.mark.network
def test_the_cds_fans_out_to_no_host_off_the_list(network: MockNetwork) -> None:
    assert network.store is not None and network.bap is not None
    # A record the admin API would refuse, as an older registry file could hold it.
    network.store.add({**_record("old.example", METADATA), "status": "SUBSCRIBED"},
                      replace=True)
    try:
        call = network.group.run(network.bap.discover(text="anything"), timeout=20)
    finally:
        network.store.remove("old.example")
    def to_metadata(e: Exchange) -> bool:
        return e.direction == OUTBOUND and e.party == "cds" and "169.254.169.254" in e.url \
            and e.message_id == call.message_id and (e.status is not None or e.error is not None)
    # the fan-out goes on after the BAP has its first on_discover: wait for it, bounded
    assert network.transcript.wait_for(to_metadata, 10), "the CDS did not even try"
    forwarded = network.transcript.find(to_metadata)
    assert all(e.status is None and e.error and "not sent" in e.error for e in forwarded)


@pytest.mark.network
def test_the_charger_takes_webhooks_on_allowed_hosts_and_lets_them_go(
        network: MockNetwork) -> None:
    charger = network.group.url("charger")
    refused = httpx.post(f"{charger}/webhooks", json={"url": f"{METADATA}/hook"}, timeout=5)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "HOST_NOT_ALLOWED"
    hook = "http://127.0.0.1:9/events"
    assert httpx.post(f"{charger}/webhooks", json={"url": hook}, timeout=5).status_code == 201
    assert httpx.get(f"{charger}/webhooks", timeout=5).json() == [{"url": hook}]
    removed = httpx.delete(f"{charger}/webhooks", params={"url": hook}, timeout=5)
    assert removed.status_code == 200 and removed.json() == {"url": hook}
    assert httpx.get(f"{charger}/webhooks", timeout=5).json() == []
    again = httpx.delete(f"{charger}/webhooks", params={"url": hook}, timeout=5)
    assert again.status_code == 404 and again.json()["error"]["code"] == "UNKNOWN_WEBHOOK"
    assert httpx.delete(f"{charger}/webhooks", timeout=5).status_code == 400


@pytest.mark.network
def test_the_candidates_host_and_the_advertised_ones_are_allowed(tmp_path: Path) -> None:
    net = MockNetwork(NetworkConfig(state_dir=tmp_path, roles=("registry", "bap"),
                                    host="127.0.0.1", public_url="http://host.docker.internal"))
    try:
        net.build()
        assert net.outbound.refusal("http://host.docker.internal:1234/beckn") is None
        assert net.outbound.refusal("http://10.231.7.2:9000/beckn") is not None
        keys = signing.KeyPair.generate("cpo.example.com", "cpo.example.com-k1")
        net.register_candidate(Candidate("bpp", keys.subscriber_id, keys.key_id,
                                         keys.signing_public_key,
                                         "http://10.231.7.2:9000/beckn"))
        assert net.outbound.refusal("http://10.231.7.2:9000/beckn") is None
    finally:
        net.stop()


@pytest.mark.network
def test_a_host_refused_is_an_error_code_the_registry_document_names(network: MockNetwork
                                                                      ) -> None:
    """Found by the long fuzz (tests/test_long_documents.py): PATCH of a record with
    {"url": "http://0:65531?"} was refused with HOST_NOT_ALLOWED, a code registry.yaml's
    error schema did not list, so the answer broke the document."""
    operation = SCHEMAS["registry"]["/admin/subscribers/{subscriber_id}/{key_id}"]["PATCH"]
    case = operation.Case(path_parameters={"subscriber_id": "fuzzed.example", "key_id": "k1"},
                          body={"url": "http://0:65531?"}, media_type="application/json")
    answer = case.call_and_validate(base_url=network.group.url("registry"), checks=CHECKS,
                                    headers={"Authorization": f"Bearer {network.admin_token}"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "HOST_NOT_ALLOWED"


def test_the_standalone_reference_bpps_charger_takes_webhooks_on_allowed_hosts_only() -> None:
    """`ubc-cert reference bpp` holds its charger's webhooks to the allow-list as the network
    does: loopback, its own, the registry's and the CDS's hosts, and --allow-outbound."""
    args = build_parser().parse_args(
        ["reference", "bpp", "--port", "0", "--registry-url", "http://registry.example:8000",
         "--allow-outbound", "hooks.example"])
    keys = signing.KeyPair.generate("ref-bpp.example", "ref-bpp.example-k1")
    identity = Identity.create(keys.subscriber_id, "bpp", "http://bpp.example:9000/beckn", keys)
    outbound = reference.charger_hosts(args.allow_outbound, identity.uri, args.registry_url,
                                       "http://cds.example/beckn")
    app, _ = reference.build_app("bpp", identity, args.registry_url, Transcript(), faults=[],
                                 cds_url="http://cds.example/beckn", ttl="PT30S",
                                 outbound=outbound)
    with TestClient(app) as client:
        refused = client.post("/_charger/webhooks", json={"url": f"{METADATA}/hook"})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "HOST_NOT_ALLOWED"
        assert "--allow-outbound" in refused.json()["error"]["message"]
        for url in ("http://hooks.example/events", "http://127.0.0.1:9/events",
                    "http://bpp.example:9001/events", "http://registry.example/events",
                    "http://cds.example/events"):
            taken = client.post("/_charger/webhooks", json={"url": url})
            assert taken.status_code == 201, (url, taken.text)
