"""The registry against the stacks participants deploy, and its traffic in the transcript.

Contract tests pin the shapes of both lookups as real stacks read them (tests/strict_stack.py
holds readers written from beckn/protocol-server's and beckn-onix's public behaviour); the
network tests run a stub BPP that reads the registry that strictly against the harness, and
check that every request the registry received, and its answer, is in the run's evidence.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from starlette.testclient import TestClient

from harness import exitcodes, schemas
from harness.beckn import envelope, signing
from harness.beckn.subscriber import encryption_public_key
from harness.candidate import Candidate
from harness.network import REGISTRY_NAME, MockNetwork, NetworkConfig
from harness.selftest import free_port_base
from harness.servers import ServerGroup
from harness.transcript import INBOUND, OUTBOUND, Exchange, Transcript
from mocks import bpp, charger
from mocks.registry import RegistryStore, create_app
from mocks.stack import Identity, RegistryClient
from tests.strict_stack import (
    V1_TYPES,
    StrictLookups,
    dedi_answer_faults,
    go_decode_faults,
    v1_record_faults,
)

V1_FIELDS = {"subscriber_id", "subscriber_url", "url", "type", "domain", "signing_public_key",
             "encr_public_key", "valid_from", "valid_until", "status", "created", "updated",
             "key_id", "ukId", "unique_key_id", "network_memberships"}
RFC3339_UTC_MS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
STRICT_AGENT = "strict-v1-stack"


def new_public_key() -> str:
    return base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()


def record(subscriber_id: str, kind: str, **extra: object) -> dict[str, Any]:
    return {"subscriber_id": subscriber_id, "key_id": f"{subscriber_id}-k1", "type": kind,
            "url": f"https://{subscriber_id}/beckn", "signing_public_key": new_public_key(),
            **extra}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RegistryStore]:
    with RegistryStore(tmp_path / "registry.sqlite3") as opened:
        yield opened


@pytest.fixture
def client(store: RegistryStore) -> TestClient:
    return TestClient(create_app(store))


def lookup(client: TestClient, **query: str) -> list[dict[str, Any]]:
    answer = client.post("/lookup", json=query)
    assert answer.status_code == 200
    return answer.json()


# --- v1 records as the stacks read them ---------------------------------------------------------


@pytest.mark.parametrize(("kind", "shown"), [("BAP", "BAP"), ("BPP", "BPP"), ("BG", "BG"),
                                             ("CDS", "BG"), ("REGISTRY", "BREG")])
def test_every_v1_record_is_kept_by_a_strict_stack(
        client: TestClient, store: RegistryStore, kind: str, shown: str) -> None:
    added = store.add(record("party.example", kind))
    [found] = lookup(client, subscriber_id="party.example", ukId=added.key_id)
    assert v1_record_faults(found) == []
    assert found["type"] == shown and shown in V1_TYPES


def test_a_v1_record_carries_every_field_of_the_subscriber(
        client: TestClient, store: RegistryStore) -> None:
    added = store.add(record("cpo.example.com", "BPP", encr_public_key="MCowBQYDK2VuAyEA",
                             network_memberships=["nbsl/ubc"]))
    [found] = lookup(client, subscriber_id="cpo.example.com")
    assert set(found) == V1_FIELDS
    assert found["subscriber_url"] == found["url"] == "https://cpo.example.com/beckn"
    assert found["key_id"] == found["ukId"] == found["unique_key_id"] == "cpo.example.com-k1"
    assert found["signing_public_key"] == added.signing_public_key
    assert found["encr_public_key"] == "MCowBQYDK2VuAyEA"
    assert found["status"] == "SUBSCRIBED"
    assert found["network_memberships"] == ["nbsl/ubc"]
    for name in ("valid_from", "valid_until", "created", "updated"):
        assert re.fullmatch(RFC3339_UTC_MS, found[name]), name
    assert go_decode_faults(found) == []


def test_city_and_country_appear_where_given(client: TestClient, store: RegistryStore) -> None:
    store.add(record("cpo.example.com", "BPP", city="std:080", country="IND"))
    store.add(record("app.example.com", "BAP"))
    by_id = {r["subscriber_id"]: r for r in lookup(client)}
    assert (by_id["cpo.example.com"]["city"], by_id["cpo.example.com"]["country"]) == (
        "std:080", "IND")
    assert "city" not in by_id["app.example.com"] and "country" not in by_id["app.example.com"]
    changed = client.patch("/admin/subscribers/cpo.example.com/cpo.example.com-k1",
                           json={"city": None})
    assert changed.status_code == 200 and changed.json()["city"] is None
    [again] = lookup(client, subscriber_id="cpo.example.com")
    assert "city" not in again and again["country"] == "IND"
    refused = client.post("/admin/subscribers", json=record("x.example", "BPP", city=""))
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "city"


def test_a_type_filter_speaks_v1(client: TestClient, store: RegistryStore) -> None:
    store.add(record("cds.example", "CDS"))
    store.add(record("gateway.example", "BG"))
    store.add(record("registry.example", "REGISTRY"))
    store.add(record("cpo.example", "BPP"))

    def found(kind: str) -> list[str]:
        return [r["subscriber_id"] for r in lookup(client, type=kind)]
    # protocol-server's BAP sends a search with no bpp_id to {type: BG, domain}: the CDS.
    assert found("BG") == ["cds.example", "gateway.example"]
    assert found("CDS") == ["cds.example"]
    assert found("BREG") == ["registry.example"]
    assert found("BPP") == ["cpo.example"]


def test_the_record_of_the_old_shape_is_what_a_strict_stack_dropped() -> None:
    """The stub's rules have teeth: the records this registry used to answer are dropped."""
    old = {"subscriber_id": "cds.mock.ubc", "url": "http://127.0.0.1:1/beckn", "type": "CDS",
           "domain": "beckn.one:deg:ev-charging", "key_id": "k", "unique_key_id": "k",
           "signing_public_key": new_public_key(), "encr_public_key": None,
           "valid_from": "2025-01-01T00:00:00.000Z", "valid_until": "2030-01-01T00:00:00.000Z",
           "status": "SUBSCRIBED", "created": "2025-01-01T00:00:00.000Z",
           "updated": "2025-01-01T00:00:00.000Z"}
    faults = v1_record_faults(old)
    assert "subscriber_url is missing or not a string" in faults
    assert any(f.startswith("type 'CDS'") for f in faults)
    assert go_decode_faults({**old, "valid_until": "2030-01-01 00:00"}) != []


def test_a_record_read_back_from_a_v1_lookup_can_be_added_again(
        client: TestClient, store: RegistryStore) -> None:
    store.add(record("cpo.example.com", "BPP", city="std:080"))
    [found] = lookup(client)
    store.remove("cpo.example.com")
    again = store.add(found)
    assert (again.url, again.city, again.valid_until) == (
        found["url"], "std:080", found["valid_until"])


# --- DeDi as beckn-onix reads it ----------------------------------------------------------------


def test_the_dedi_answer_is_what_onix_parses(store: RegistryStore) -> None:
    dedi = TestClient(create_app(store, registry_name=REGISTRY_NAME))
    added = store.add(record("cds.example", "CDS", network_memberships=["nbsl/ubc"]))
    answer = dedi.get(f"/lookup/cds.example/{REGISTRY_NAME}/{added.key_id}")
    assert answer.status_code == 200
    body = answer.json()
    assert dedi_answer_faults(body) == []
    details = body["data"]["details"]
    assert (details["signing_public_key"], details["type"], details["url"]) == (
        added.signing_public_key, "CDS", added.url)
    assert body["data"]["network_memberships"] == ["nbsl/ubc"]
    assert isinstance(body["data"]["ttl"], int) and body["data"]["ttl"] > 0


# --- the store and the harness's own records ----------------------------------------------------


def test_a_registry_file_from_before_city_and_country_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("""CREATE TABLE subscribers (
            subscriber_id TEXT NOT NULL, key_id TEXT NOT NULL, type TEXT NOT NULL,
            url TEXT NOT NULL, signing_public_key TEXT NOT NULL, domain TEXT NOT NULL,
            encr_public_key TEXT, status TEXT NOT NULL, valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
            network_memberships TEXT NOT NULL, valid_from_s REAL NOT NULL,
            valid_until_s REAL NOT NULL, PRIMARY KEY (subscriber_id, key_id))""")
        db.execute("INSERT INTO subscribers VALUES ('old.example', 'k1', 'BPP', "
                   "'https://old.example/beckn', ?, 'd', NULL, 'SUBSCRIBED', "
                   "'2025-01-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z', "
                   "'2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', '[]', 0, 1e10)",
                   (new_public_key(),))
    with RegistryStore(path) as store:
        [old] = store.lookup()
        assert (old.subscriber_id, old.city) == ("old.example", None)
        assert store.add(record("new.example", "BAP", country="IND")).country == "IND"


def test_the_harness_registers_full_records_with_an_encryption_key_it_holds() -> None:
    network = MockNetwork(NetworkConfig(roles=("registry", "cds", "bap"))).build()
    try:
        assert network.store is not None
        for role in ("cds", "bap", "other-bap"):
            pair = network.keys_for(role)
            [stored] = network.store.lookup(subscriber_id=pair.subscriber_id)
            seed = base64.b64decode(pair.signing_private_key)[:32]
            holder = SigningKey(seed).to_curve25519_private_key().public_key
            assert stored.encr_public_key == base64.b64encode(bytes(holder)).decode()
            assert stored.encr_public_key == encryption_public_key(stored.signing_public_key)
            assert v1_record_faults(stored.as_v1()) == []
    finally:
        network.stop()


def test_the_parties_directory_reads_either_name_of_the_url() -> None:
    registry_answers: list[dict[str, Any]] = []

    def registry(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=registry_answers)

    async def url_of(subscriber_id: str) -> str | None:
        directory = RegistryClient("http://registry.test", cache_s=0)
        directory._http = httpx.AsyncClient(transport=httpx.MockTransport(registry))
        try:
            return await directory.subscriber_url(subscriber_id)
        finally:
            await directory.aclose()

    base = {"subscriber_id": "bap.example", "status": "SUBSCRIBED",
            "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"}
    registry_answers[:] = [{**base, "subscriber_url": "https://bap.example/v1"}]
    assert asyncio.run(url_of("bap.example")) == "https://bap.example/v1"
    registry_answers[:] = [{**base, "url": "https://bap.example/beckn"}]
    assert asyncio.run(url_of("bap.example")) == "https://bap.example/beckn"


# --- the registry's traffic in the transcript ---------------------------------------------------


def test_every_request_to_the_registry_and_its_answer_is_recorded(store: RegistryStore) -> None:
    transcript = Transcript()
    app = TestClient(create_app(store, admin_token="t0ken", transcript=transcript))
    added = app.post("/admin/subscribers", json=record("cpo.example.com", "BPP"),
                     headers={"Authorization": "Bearer t0ken"})
    found = app.post("/lookup", json={"subscriber_id": "cpo.example.com", "ukId": "x"})
    missing = app.get("/lookup/nobody/ubc-mock-registry/k")
    wrong_path = app.post("/v1/lookup", json={})
    too_large = app.post("/lookup", content=b"{" + b" " * (70 * 1024) + b"}")
    answers = [added, found, missing, wrong_path, too_large]
    exchanges = transcript.entries()
    assert [(e.party, e.direction, e.method, e.status) for e in exchanges] == [
        ("registry", INBOUND, m, a.status_code)
        for m, a in zip(("POST", "POST", "GET", "POST", "POST"), answers, strict=True)]
    assert [a.status_code for a in answers] == [201, 200, 404, 404, 413]
    for exchange, answer in zip(exchanges, answers, strict=True):
        assert exchange.response_body == answer.content
        assert exchange.latency is not None and exchange.latency >= 0
    assert exchanges[0].header("authorization") == "Bearer <redacted>"
    assert b"t0ken" not in json.dumps([e.as_record() for e in exchanges]).encode()
    assert exchanges[1].json() == {"subscriber_id": "cpo.example.com", "ukId": "x"}
    assert exchanges[2].url.endswith("/lookup/nobody/ubc-mock-registry/k")
    assert exchanges[4].request_body == b""  # declared too large: not read, as by an inbox


def test_a_streamed_body_over_the_limit_is_refused_and_kept_up_to_the_limit(
        store: RegistryStore) -> None:
    transcript = Transcript()
    app = TestClient(create_app(store, transcript=transcript))

    def chunks() -> Iterator[bytes]:  # no content-length: the limit is found while reading
        yield b"{"
        for _ in range(80):
            yield b" " * 1024
        yield b"}"
    answer = app.post("/lookup", content=chunks())
    assert answer.status_code == 413
    [exchange] = transcript.entries()
    assert exchange.status == 413 and exchange.response_body == answer.content
    assert exchange.request_body == b"{" + b" " * (64 * 1024 - 1)
    small = app.post("/lookup", content=iter([b'{"subscriber_id":', b' "x"}']))
    assert small.status_code == 200 and transcript.entries()[1].json() == {"subscriber_id": "x"}


def test_a_beckn_signature_to_the_registry_is_kept_as_evidence(store: RegistryStore) -> None:
    transcript = Transcript()
    app = TestClient(create_app(store, transcript=transcript))
    signature = 'Signature keyId="a|b|ed25519",signature="c"'
    app.post("/lookup", json={}, headers={"Authorization": signature})
    assert transcript.entries()[0].header("authorization") == signature


# --- a strict stack against the running harness -------------------------------------------------


@contextlib.contextmanager
def strict_stub_bpp(registry_url: str, cds_uri: str | None
                    ) -> Iterator[tuple[Candidate, StrictLookups, ServerGroup]]:
    """The reference BPP's trading behind a registry reader as strict as a deployed v1 stack
    (StrictLookups): every key it trusts comes through that reader, or the request is 401."""
    group = ServerGroup()
    served = group.reserve("stub", 0)
    keys = signing.KeyPair.generate("strict-bpp.example", "strict-bpp.example-k1")
    identity = Identity.create(keys.subscriber_id, "bpp", f"{served.url}/beckn", keys)
    strict = StrictLookups(registry_url)
    group.attach("stub", bpp.create_app(
        bpp.BppConfig(identity=identity, cds_uri=cds_uri, ttl="PT2S"),
        charger.Charger(clock=charger.Clock(speed=1.0)), Transcript(), directory=strict,
        schemas=schemas.load()))
    group.on_shutdown(strict.aclose)
    group.start()
    candidate = Candidate(role="bpp", subscriber_id=identity.subscriber_id,
                          key_id=identity.key_id, signing_public_key=identity.public_key,
                          uri=identity.uri, control_url=f"{served.url}/_control/hooks")
    try:
        yield candidate, strict, group
    finally:
        group.stop()


def registry_lookups(exchanges: list[Exchange], agent: str) -> list[Exchange]:
    return [e for e in exchanges if e.party == "registry" and e.direction == INBOUND
            and e.header("user-agent") == agent]


@pytest.mark.network
def test_a_strict_stack_finds_every_harness_party(network: MockNetwork) -> None:
    network.register_candidate(Candidate(
        role="bpp", subscriber_id="strict-bpp.example", key_id="strict-bpp.example-k1",
        signing_public_key=new_public_key(), uri="http://127.0.0.1:9/beckn"))
    parties = [p for p in network.table() if p.public_key]
    assert {p.subscriber_id for p in parties} >= {
        "cds.mock.ubc", "bpp.mock.ubc", "bap.mock.ubc", "other-bap.mock.ubc",
        "strict-bpp.example"}
    registry_url = network.participants["registry"].url
    strict = StrictLookups(registry_url)

    store = network.store
    assert store is not None

    async def look_everyone_up() -> None:
        for party in parties:
            [stored] = store.lookup(subscriber_id=party.subscriber_id)
            key_id = stored.key_id
            assert await strict.trusted_key(party.subscriber_id, key_id) == party.public_key
            assert await strict.subscriber_url(party.subscriber_id) == party.uri
        # protocol-server's BAP: a BPP by type, domain and id; a search with no BPP: the BG.
        bpps = await strict.lookup(type="BPP", domain=envelope.DOMAIN,
                                   subscriber_id="bpp.mock.ubc")
        assert [r["subscriber_id"] for r in bpps] == ["bpp.mock.ubc"]
        gateways = await strict.lookup(type="BG", domain=envelope.DOMAIN)
        assert [r["subscriber_id"] for r in gateways] == ["cds.mock.ubc"]
        await strict.aclose()
    network.group.run(look_everyone_up())
    assert strict.dropped() == []
    for party in parties:  # and onix's DeDi plugin reads every one of them
        [stored] = store.lookup(subscriber_id=party.subscriber_id)
        answer = httpx.get(f"{registry_url}/lookup/{party.subscriber_id}/{REGISTRY_NAME}/"
                           f"{stored.key_id}", timeout=5)
        assert answer.status_code == 200 and dedi_answer_faults(answer.json()) == []
    assert len(registry_lookups(network.transcript.entries(), STRICT_AGENT)) == \
        2 * len(parties) + 2


@pytest.mark.network
def test_a_publish_to_the_cds_and_every_lookup_behind_it_are_in_the_transcript() -> None:
    with MockNetwork(NetworkConfig(roles=("registry", "cds", "bap"), ttl="PT2S")) as network:
        registry_url = network.participants["registry"].url
        with strict_stub_bpp(registry_url, network.participants["cds"].uri) as (
                candidate, strict, stub):
            network.register_candidate(candidate)
            published = httpx.post(f"{stub.url('stub')}/_control/catalog/publish", timeout=10)
            assert published.status_code == 200 and published.json()["acked"]
            answer = network.transcript.wait_for(
                lambda e: e.party == "cds" and e.direction == OUTBOUND
                and e.action == "on_catalog_publish" and e.status is not None, 5)
            assert answer is not None and answer.url == f"{candidate.uri}/on_catalog_publish"
            # Acknowledged: the stub verified the CDS's signature, with the key it found for
            # the CDS as a strict v1 stack would.
            assert answer.status == 200
            entries = network.transcript.entries()
            cds_key_id = network.participants["cds"].key_id
        assert "cds.mock.ubc" in strict.looked_up() and strict.dropped() == []
    [publish] = [e for e in entries if e.party == "cds" and e.direction == INBOUND
                 and e.action == "catalog_publish"]
    assert publish.status == 200 and publish.response_json() == envelope.ack()
    results = json.loads(answer.request_body)["message"]["results"]
    assert [r["status"] for r in results] == ["ACCEPTED"]
    # The CDS looked the stub up, and the stub looked the CDS up: both are evidence.
    cds_lookups = registry_lookups(entries, "ubc-conformance cds.mock.ubc")
    assert any(e.json().get("subscriber_id") == candidate.subscriber_id for e in cds_lookups)
    [stub_lookup, *_] = [e for e in registry_lookups(entries, STRICT_AGENT)
                         if e.json() == {"subscriber_id": "cds.mock.ubc",
                                         "ukId": cds_key_id}]
    assert stub_lookup.status == 200
    assert [r["type"] for r in stub_lookup.response_json()] == ["BG"]


def transcript_of(report_path: Path | None) -> list[dict[str, Any]]:
    assert report_path is not None
    text = (report_path.parent / "transcript.ndjson").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def lookups_of(records: list[dict[str, Any]], subscriber_id: str) -> list[dict[str, Any]]:
    """The registry's recorded lookups of `subscriber_id` that no harness party made."""
    return [r for r in records if r["party"] == "registry" and r["direction"] == INBOUND
            and not r["request_headers"].get("user-agent", "").startswith("ubc-conformance")
            and json.loads(r["request_body"] or "{}").get("subscriber_id") == subscriber_id]


@pytest.mark.network
@pytest.mark.slow
def test_a_run_against_the_strict_stub_bpp_does_real_work(tmp_path: Path) -> None:
    base = free_port_base()
    with strict_stub_bpp(f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}/beckn") as (
            candidate, strict, _):
        (tmp_path / "candidate.toml").write_text(candidate.to_toml(), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "--role", "bpp", "--candidate",
             str(tmp_path / "candidate.toml"), "--report-dir", str(tmp_path / "reports"),
             "--ttl", "PT2S", "--port-base", str(base), "--wait", "10",
             "--tags", "walk_in or security"],
            capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == exitcodes.PARTIAL_PASSED, (  # passed, of a run limited by tags
        done.stdout[-3000:] + done.stderr[-2000:])
    [report_path] = (tmp_path / "reports").glob("*/report.json")
    report = json.loads(report_path.read_text())
    assert {s["status"] for s in report["scenarios"]} == {"passed"}
    assert len(report["scenarios"]) >= 5 and report["summary"]["errors"] == 0
    # Every party the stub met it found, and it dropped no record on the way.
    assert strict.dropped() == []
    assert strict.looked_up() >= {"bap.mock.ubc", "other-bap.mock.ubc", "cds.mock.ubc"}
    # The stub's lookups, with the answers it got, are in the run's transcript.
    records = transcript_of(report_path)
    bap_key_id = next(p["key_id"] for p in report["network"]
                      if p["subscriber_id"] == "bap.mock.ubc")
    [*_, bap_lookup] = [r for r in lookups_of(records, "bap.mock.ubc")
                        if json.loads(r["request_body"]).get("ukId") == bap_key_id]
    assert bap_lookup["status"] == 200
    assert bap_lookup["request_headers"]["user-agent"] == STRICT_AGENT
    [found] = json.loads(bap_lookup["response_body"])
    assert (found["subscriber_id"], found["type"]) == ("bap.mock.ubc", "BAP")
