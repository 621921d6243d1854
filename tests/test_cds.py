"""The mock CDS on a real loopback network: registry, CDS, a BPP that publishes its catalog, a
BPP that only answers fanned-out discovers, and the reference BAP.

Proves: catalog_publish is judged per catalog (ACCEPTED / PARTIAL / REJECTED) and cached until
its validity ends; discover answers exactly the matching items for each official discover
shape (QR, CPO, connector and power, time window, circle, text); BPPs that do not publish get
the discover from the CDS and their on_discover reaches the BAP re-signed by the CDS; bad
signatures are refused with 401; every message the CDS sends is schema-valid.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from harness import schemas
from harness.beckn import envelope, signing
from harness.beckn.order import CORE_CONTEXT, OFFER_CONTEXT, SERVICE_CONTEXT
from harness.servers import ServerGroup
from harness.transcript import INBOUND, OUTBOUND, Exchange, Transcript
from mocks import bap as bap_module
from mocks import cds as cds_module
from mocks import registry
from mocks.bap import BapConfig, Call, ReferenceBap
from mocks.cds import CatalogDiscoveryService, CdsConfig
from mocks.stack import Identity, Inbound, Inbox, Outbox, RegistryClient, Sent
from mocks.stack.inbox import verify_signatures

pytestmark = pytest.mark.network

WAIT_S = 5.0  # the bound on every wait for a message
OPENAPI = Path(__file__).resolve().parent.parent / "schemas" / "openapi" / "cds.yaml"
CDS_ID, BAP_ID = "cds.ubc.test", "bap.ubc.test"
PUBLISHER_ID, RESPONDER_ID = "cpo-one.ubc.test", "cpo-two.ubc.test"
BENGALURU = [77.59, 12.94]  # the reference point of the official discover examples
DAY = "2026-01-04"


class FakeClock:
    """Real time plus an offset the expiry tests move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return datetime.now(UTC).timestamp() + self.offset


# --- catalogs ---------------------------------------------------------------------------------


def charger(key: str, *, provider: str, operator: str, connector: str, kw: float,
            at: list[float], vehicle: str = "4-WHEELER", name: str = "DC Fast Charger",
            window: tuple[str, str] = (f"{DAY}T06:00:00Z", f"{DAY}T22:00:00Z")) -> dict[str, Any]:
    """One connector as a catalog item, shaped like the items of 21_publish."""
    return {
        "@context": CORE_CONTEXT,
        "@type": "beckn:Item",
        "beckn:id": f"IND*{provider}*{key}",
        "beckn:descriptor": {"@type": "beckn:Descriptor", "schema:name": f"{name} ({kw:g}kW)",
                             "beckn:shortDesc": f"{connector} connector"},
        "beckn:category": {"@type": "schema:CategoryCode", "schema:codeValue": "ev-charging"},
        "beckn:availabilityWindow": [{"@type": "beckn:TimePeriod", "schema:startTime": window[0],
                                      "schema:endTime": window[1]}],
        "beckn:isActive": True,
        "beckn:provider": {"beckn:id": provider,
                           "beckn:descriptor": {"@type": "beckn:Descriptor",
                                                "schema:name": operator}},
        "beckn:itemAttributes": {
            "@context": SERVICE_CONTEXT,
            "@type": "ChargingService",
            "connectorType": connector,
            "maxPowerKW": kw,
            "vehicleType": vehicle,
            "qrIdentifier": f"https://qr.{provider}.in/{key.lower()}",
            "chargingStation": {
                "id": f"{provider}-station",
                "serviceLocation": {"@type": "beckn:Location",
                                    "geo": {"type": "Point", "coordinates": at}},
            },
        },
    }


ECO = charger("BTM-CCS2-A", provider="ecopower-charging", operator="EcoPower Charging Pvt Ltd",
              connector="CCS2", kw=60, at=[77.5946, 12.9716])  # 3.5 km from the reference
GREEN = charger("KOR-CCS2-B", provider="greencharge-koramangala", operator="GreenCharge",
                connector="CCS2", kw=120, at=[77.6271, 12.9352], vehicle="3-WHEELER",
                window=("2026-01-05T06:00:00Z", "2026-01-05T22:00:00Z"))  # 4.1 km, next day
GRID = charger("IND-TYPE2-A", provider="powergrid-indiranagar", operator="PowerGrid Charging",
               connector="Type2", kw=22, at=[77.6408, 12.9784], name="AC Fast Charger",
               window=(f"{DAY}T08:00:00Z", f"{DAY}T20:00:00Z"))  # 7.0 km
MYSURU = charger("MYS-CCS2-C", provider="ecopower-charging", operator="EcoPower Charging Pvt Ltd",
                 connector="CCS2", kw=50, at=[76.6394, 12.2958])  # 125 km away
REMOTE = charger("HSR-CCS2-Z", provider="far-cpo", operator="Far CPO", connector="CCS2", kw=30,
                 at=[77.6387, 12.9121])  # only the fan-out BPP has it
ALL = [ECO, GREEN, GRID, MYSURU]


def offer(key: str, items: list[dict[str, Any]], *, validity: tuple[str, str] | None = None,
          price: float = 18.0) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@context": CORE_CONTEXT,
        "@type": "beckn:Offer",
        "beckn:id": key,
        "beckn:descriptor": {"@type": "beckn:Descriptor", "schema:name": f"Tariff {key}"},
        "beckn:items": [item["beckn:id"] for item in items],
        "beckn:provider": items[0]["beckn:provider"]["beckn:id"],
        "beckn:price": {"currency": "INR", "value": price,
                        "applicableQuantity": {"unitCode": "KWH", "unitQuantity": 1}},
        "beckn:offerAttributes": {"@context": OFFER_CONTEXT, "@type": "ChargingOffer",
                                  "tariffModel": "PER_KWH"},
    }
    if validity:
        body["beckn:validity"] = {"@type": "beckn:TimePeriod", "schema:startDate": validity[0],
                                  "schema:endDate": validity[1]}
    return body


def catalog(catalog_id: str, items: list[dict[str, Any]], *, bpp_id: str = PUBLISHER_ID,
            bpp_uri: str | None = None, offers: list[dict[str, Any]] | None = None,
            validity: tuple[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@context": CORE_CONTEXT,
        "@type": "beckn:Catalog",
        "beckn:id": catalog_id,
        "beckn:descriptor": {"@type": "beckn:Descriptor", "schema:name": f"Catalog {catalog_id}"},
        "beckn:bppId": bpp_id,
        "beckn:bppUri": bpp_uri or "",  # filled in with the BPP's URI by the network fixture
        "beckn:items": copy.deepcopy(items),
    }
    if offers is not None:
        body["beckn:offers"] = copy.deepcopy(offers)
    if validity:
        body["beckn:validity"] = {"@type": "beckn:TimePeriod", "schema:startDate": validity[0],
                                  "schema:endDate": validity[1]}
    return body


def standard_catalog() -> dict[str, Any]:
    offers = [offer("eco-kwh", [ECO]), offer("green-kwh", [GREEN], price=22.0),
              offer("grid-kwh", [GRID], price=15.0), offer("mysuru-kwh", [MYSURU]),
              offer("eco-weekend", [ECO, GREEN], price=12.0)]
    return catalog("cpo-one-catalog", ALL, offers=offers)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


# --- the network ------------------------------------------------------------------------------


@dataclass
class Network:
    servers: ServerGroup
    transcript: Transcript
    store: registry.RegistryStore
    registry_url: str
    cds: CatalogDiscoveryService
    cds_identity: Identity
    cds_url: str
    bap: ReferenceBap
    publisher: Identity
    publisher_outbox: Outbox
    responder: Identity
    clock: FakeClock

    def run(self, coro: Any) -> Any:
        return self.servers.run(coro, timeout=WAIT_S * 2)

    def wait(self, predicate: Callable[[Exchange], bool]) -> Exchange:
        """The first exchange matching `predicate` that has been answered."""
        found = self.transcript.wait_for(lambda e: e.status is not None and predicate(e),
                                         WAIT_S)
        if found is None:
            history = "\n".join(f"  {e.id} {e.direction} {e.party} {e.action} {e.url} "
                                f"{e.status}" for e in self.transcript.entries()[-20:])
            pytest.fail(f"no matching exchange within {WAIT_S} s; last exchanges:\n{history}")
        return found

    # publishing

    def publish(self, *catalogs: dict[str, Any],
                valid: bool = True) -> tuple[Sent, dict[str, Any]]:
        """catalog_publish from the publishing BPP (`valid`: the sender checks its schema
        first); the on_catalog_publish it got back."""
        for body in catalogs:
            if body["beckn:bppUri"] == "":
                body["beckn:bppUri"] = self.publisher.uri
        ctx = envelope.context("catalog_publish", transaction_id=envelope.new_id(),
                               bpp_id=self.publisher.subscriber_id, bpp_uri=self.publisher.uri)
        doc = {"context": ctx, "message": {"catalogs": list(catalogs)}}
        if valid:
            assert_schema_valid(doc)
        sent = self.run(self.publisher_outbox.send(self.cds_identity.uri, "catalog_publish", doc))
        assert sent.acked, sent.ack
        answer = self.wait(lambda e: e.direction == INBOUND and e.party == "cpo-one"
                           and e.action == "on_catalog_publish"
                           and e.message_id == ctx["message_id"])
        assert answer.status == 200, answer.response_body
        return sent, answer.json()

    def reset(self, *catalogs: dict[str, Any]) -> None:
        """An empty cache, then the given catalogs published and accepted."""
        response = httpx.delete(f"{self.cds_url}/_control/catalogs", timeout=WAIT_S)
        assert response.status_code == 200
        if catalogs:
            _, answer = self.publish(*catalogs)
            statuses = [r["status"] for r in answer["message"]["results"]]
            assert statuses == ["ACCEPTED"] * len(catalogs), answer

    # discovering

    def discover(self, **options: Any) -> Call:
        call: Call = self.run(self.bap.discover(**options))
        assert call.sent.acked, call.sent.ack
        assert call.callback is not None, "no on_discover within the ttl"
        return call


def assert_schema_valid(doc: Any) -> None:
    errors = [f.as_dict() for f in schemas.load().validate(doc) if f.is_error]
    assert errors == []


def found_items(call: Call) -> list[str]:
    assert call.callback is not None
    return sorted(item["beckn:id"] for c in call.callback["message"]["catalogs"]
                  for item in c["beckn:items"])


def item_ids(*items: dict[str, Any]) -> list[str]:
    return sorted(item["beckn:id"] for item in items)


def circle(metres: float, centre: list[float] = BENGALURU,
           targets: str = "$['beckn:itemAttributes.chargingStation.serviceLocation.geo']",
           ) -> list[dict[str, Any]]:
    return [{"op": "s_dwithin", "targets": targets,
             "geometry": {"type": "Point", "coordinates": centre}, "distanceMeters": metres}]


def responder_catalog(responder: Identity) -> dict[str, Any]:
    body = catalog("cpo-two-catalog", [REMOTE], bpp_id=responder.subscriber_id,
                   bpp_uri=responder.uri, offers=[offer("far-kwh", [REMOTE])])
    return body


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    servers = ServerGroup()
    transcript = Transcript()
    store = registry.RegistryStore(tmp_path_factory.mktemp("registry") / "registry.sqlite")
    schema_set = schemas.load()
    for name in ("registry", "cds", "bap", "cpo-one", "cpo-two"):
        servers.reserve(name)
    registry_url = servers.url("registry")
    cds_identity = Identity.create(CDS_ID, "cds", f"{servers.url('cds')}/pilot/cds/energy/v2")
    bap_identity = Identity.create(BAP_ID, "bap", f"{servers.url('bap')}/bap")
    publisher = Identity.create(PUBLISHER_ID, "bpp", f"{servers.url('cpo-one')}/bpp")
    responder = Identity.create(RESPONDER_ID, "bpp", f"{servers.url('cpo-two')}/bpp")
    for identity, kind in ((cds_identity, "CDS"), (bap_identity, "BAP"), (publisher, "BPP"),
                           (responder, "BPP")):
        store.add({"subscriber_id": identity.subscriber_id, "key_id": identity.key_id,
                   "type": kind, "url": identity.uri,
                   "signing_public_key": identity.public_key})
    directory = RegistryClient(registry_url, cache_s=0.2)
    http = httpx.AsyncClient()
    clock = FakeClock()

    cds_app = cds_module.create_app(CdsConfig(cds_identity, clock=clock), transcript,
                                    directory=directory, schemas=schema_set)
    cds: CatalogDiscoveryService = cds_app.state.cds
    bap = ReferenceBap(BapConfig(bap_identity, cds_uri=cds_identity.uri), transcript,
                       directory=directory, schemas=schema_set)

    async def results_noted(inbound: Inbound) -> None:
        """The publisher reads on_catalog_publish from the transcript."""

    async def publisher_ignores(inbound: Inbound) -> None:
        """A BPP whose catalog expired may be asked; this one stays silent."""

    publisher_inbox = Inbox(publisher, directory, transcript, schema_set,
                            {"on_catalog_publish": results_noted, "discover": publisher_ignores},
                            party="cpo-one")
    publisher_outbox = Outbox(publisher, transcript, http, party="cpo-one")
    responder_outbox = Outbox(responder, transcript, http, party="cpo-two")

    async def answer_discover(inbound: Inbound) -> None:
        """The non-publishing BPP answers whatever it is asked with its one-item catalog."""
        ctx = envelope.callback_context(inbound.context, bpp_id=responder.subscriber_id,
                                        bpp_uri=responder.uri)
        doc = {"context": ctx, "message": {"catalogs": [responder_catalog(responder)]}}
        await responder_outbox.send(inbound.context["bap_uri"], "on_discover", doc)

    responder_inbox = Inbox(responder, directory, transcript, schema_set,
                            {"discover": answer_discover}, party="cpo-two")

    servers.attach("registry", registry.create_app(store))
    servers.attach("cds", cds_app)
    servers.attach("bap", bap_module.create_app(bap))
    servers.attach("cpo-one", Starlette(routes=publisher_inbox.routes()))
    servers.attach("cpo-two", Starlette(routes=responder_inbox.routes()))
    servers.start()
    try:
        yield Network(servers, transcript, store, registry_url, cds, cds_identity,
                      servers.url("cds"), bap, publisher, publisher_outbox, responder, clock)
    finally:
        try:
            servers.run(http.aclose(), timeout=WAIT_S)
            servers.run(bap.aclose(), timeout=WAIT_S)
            servers.run(directory.aclose(), timeout=WAIT_S)
        finally:
            servers.stop()
            store.close()


@pytest.fixture
def net(network: Network) -> Iterator[Network]:
    """The network with the standard catalog published and the clock at real time."""
    network.clock.offset = 0.0
    network.reset(standard_catalog())
    yield network
    network.clock.offset = 0.0


# --- publishing -------------------------------------------------------------------------------


def test_a_valid_catalog_is_accepted_counted_and_cached(network: Network) -> None:
    network.reset()
    sent, answer = network.publish(standard_catalog())
    assert_schema_valid(answer)
    context = answer["context"]
    assert context["action"] == "on_catalog_publish"
    assert (context["bpp_id"], context["bpp_uri"]) == (CDS_ID, network.cds_identity.uri)
    assert "bap_id" not in context and "bap_uri" not in context
    request = sent.exchange.json()["context"]
    assert (context["transaction_id"], context["message_id"]) == (
        request["transaction_id"], request["message_id"])
    assert answer["message"]["results"] == [
        {"catalog_id": "cpo-one-catalog", "status": "ACCEPTED", "item_count": 4}]
    listing = httpx.get(f"{network.cds_url}/_control/catalogs", timeout=WAIT_S).json()
    (cached,) = listing["catalogs"]
    assert (cached["bpp_id"], cached["catalog_id"], cached["item_count"], cached["live"]) == (
        PUBLISHER_ID, "cpo-one-catalog", 4, True)


def test_each_catalog_of_a_publish_gets_its_own_result(network: Network) -> None:
    network.reset()
    nameless = copy.deepcopy(ECO)
    del nameless["beckn:id"]
    bare = copy.deepcopy(GRID)
    del bare["beckn:itemAttributes"]
    mixed = catalog("mixed", [nameless, GREEN, bare],
                    offers=[offer("green-kwh", [GREEN]), offer("eco-kwh", [ECO])])
    empty = catalog("empty", [])
    foreign = catalog("foreign", [ECO], bpp_id="someone-else.ubc.test")
    _, answer = network.publish(mixed, empty, foreign, catalog("fine", [MYSURU]),
                                valid=False)
    assert_schema_valid(answer)
    partial, rejected_empty, rejected_foreign, accepted = answer["message"]["results"]

    assert (partial["catalog_id"], partial["status"], partial["item_count"]) == (
        "mixed", "PARTIAL", 1)
    refused = {w["details"]["path"]: w for w in partial["warnings"] if w["code"] == "INVALID_ITEM"}
    assert sorted(refused) == ["catalogs[0].beckn:items[0]", "catalogs[0].beckn:items[2]"]
    assert "beckn:id" in refused["catalogs[0].beckn:items[0]"]["message"]
    assert "beckn:itemAttributes" in refused["catalogs[0].beckn:items[2]"]["message"]
    dropped = [w for w in partial["warnings"] if w["code"] == "UNKNOWN_ITEM_REFERENCE"]
    assert [w["details"]["path"] for w in dropped] == ["catalogs[0].beckn:offers[1].beckn:items"]

    assert rejected_empty["status"] == "REJECTED"
    assert rejected_empty["error"]["code"] == "NO_ITEMS"
    assert rejected_empty["error"]["paths"] == "catalogs[1].beckn:items"
    assert rejected_foreign["status"] == "REJECTED"
    assert rejected_foreign["error"]["code"] == "BPP_MISMATCH"
    assert rejected_foreign["error"]["paths"] == "catalogs[2].beckn:bppId"
    assert accepted == {"catalog_id": "fine", "status": "ACCEPTED", "item_count": 1}

    cached = {e.catalog_id: e for e in network.cds.cache.entries()}
    assert sorted(cached) == ["fine", "mixed"]
    assert [i["beckn:id"] for i in cached["mixed"].catalog["beckn:items"]] == [GREEN["beckn:id"]]
    assert [o["beckn:id"] for o in cached["mixed"].catalog["beckn:offers"]] == ["green-kwh"]


def test_dropped_offers_make_a_catalog_partial_and_unlocated_items_only_warn(
        network: Network) -> None:
    network.reset()
    nowhere = copy.deepcopy(GRID)
    del nowhere["beckn:itemAttributes"]["chargingStation"]
    priceless = offer("broken-price", [ECO])
    priceless["beckn:price"] = "free"
    stray = offer("stray", [REMOTE])
    located = catalog("located", [ECO, nowhere], offers=[offer("eco-kwh", [ECO]), priceless])
    _, answer = network.publish(located, catalog("strays", [ECO], offers=[stray]), valid=False)
    with_bad_offer, with_stray_offer = answer["message"]["results"]
    assert (with_bad_offer["status"], with_bad_offer["item_count"]) == ("PARTIAL", 2)
    codes = {w["code"]: w["details"]["path"] for w in with_bad_offer["warnings"]}
    assert codes == {"NO_LOCATION": "catalogs[0].beckn:items[1]",
                     "INVALID_OFFER": "catalogs[0].beckn:offers[1]"}
    assert with_stray_offer["status"] == "PARTIAL"
    assert [w["code"] for w in with_stray_offer["warnings"]] == ["UNKNOWN_ITEM_REFERENCE"]
    assert found_items(network.discover(text="charger")) == item_ids(ECO, ECO, GRID)
    assert found_items(network.discover(spatial=circle(200_000))) == item_ids(ECO, ECO)


def test_a_catalog_whose_items_are_all_invalid_is_rejected_with_their_paths(
        network: Network) -> None:
    network.reset()
    weak = copy.deepcopy(ECO)
    weak["beckn:itemAttributes"]["maxPowerKW"] = -5
    twin = copy.deepcopy(weak)
    _, answer = network.publish(catalog("broken", [weak, twin]), valid=False)
    (result,) = answer["message"]["results"]
    assert result["status"] == "REJECTED"
    assert result["error"]["code"] == "INVALID_ITEM"
    assert result["error"]["paths"] == ["catalogs[0].beckn:items[0]", "catalogs[0].beckn:items[1]"]
    assert network.cds.cache.entries() == []


def test_publishing_a_catalog_again_replaces_it(net: Network) -> None:
    _, answer = net.publish(catalog("cpo-one-catalog", [GRID]))
    assert answer["message"]["results"][0]["item_count"] == 1
    assert found_items(net.discover(text="charger")) == item_ids(GRID)


def test_a_publish_whose_envelope_is_invalid_is_nacked(network: Network) -> None:
    ctx = envelope.context("catalog_publish", transaction_id=envelope.new_id(),
                           bpp_id=PUBLISHER_ID, bpp_uri=network.publisher.uri)
    sent = network.run(network.publisher_outbox.send(
        network.cds_identity.uri, "catalog_publish", {"context": ctx, "message": {"catalogs": []}}))
    assert sent.status == 400
    assert envelope.ack_status(sent.ack) == "NACK"


# --- discover from the cache ------------------------------------------------------------------


def test_discover_by_qr_identifier_finds_that_connector_and_its_offers(net: Network) -> None:
    qr = ECO["beckn:itemAttributes"]["qrIdentifier"]
    call = net.discover(filters=f"$[?(@.beckn:itemAttributes.qrIdentifier == '{qr}')]")
    answer = call.callback
    assert answer is not None
    assert_schema_valid(answer)
    context = answer["context"]
    assert (context["bpp_id"], context["bpp_uri"]) == (CDS_ID, net.cds_identity.uri)
    assert (context["bap_id"], context["transaction_id"], context["message_id"]) == (
        BAP_ID, call.transaction_id, call.message_id)
    (found,) = answer["message"]["catalogs"]
    assert (found["beckn:bppId"], found["beckn:bppUri"]) == (PUBLISHER_ID, net.publisher.uri)
    assert [i["beckn:id"] for i in found["beckn:items"]] == [ECO["beckn:id"]]
    offers = {o["beckn:id"]: o["beckn:items"] for o in found["beckn:offers"]}
    assert offers == {"eco-kwh": [ECO["beckn:id"]], "eco-weekend": [ECO["beckn:id"]]}


def test_discover_services_of_a_cpo_within_the_examples_radius(net: Network) -> None:
    by_cpo = "$[?(@.beckn:provider.beckn:id == 'ecopower-charging')]"
    assert found_items(net.discover(filters=by_cpo)) == item_ids(ECO, MYSURU)
    assert found_items(net.discover(filters=by_cpo, spatial=circle(10_000))) == item_ids(ECO)


@pytest.mark.parametrize(("expression", "expected"), [
    ("@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW >= 50",
     [ECO, GREEN, MYSURU]),
    ("@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW > 60",
     [GREEN]),
    ("@.beckn:itemAttributes.connectorType == 'Type2' && @.beckn:itemAttributes.maxPowerKW <= 22",
     [GRID]),
])
def test_discover_by_connector_type_and_power(net: Network, expression: str,
                                              expected: list[dict[str, Any]]) -> None:
    assert found_items(net.discover(filters=f"$[?({expression})]")) == item_ids(*expected)


def test_discover_within_a_time_window_as_the_official_example(net: Network) -> None:
    expression = (
        "$[?(@.beckn:itemAttributes.vehicleType == '4-WHEELER' && "
        "@.beckn:itemAttributes.connectorType == 'CCS2' && "
        f"@.beckn:availabilityWindow[?(@.schema:startTime <= '{DAY}T20:00:00Z' && "
        f"@.schema:endTime >= '{DAY}T08:00:00Z')])]")
    assert found_items(net.discover(filters=expression, spatial=circle(10_000))) == item_ids(ECO)
    assert found_items(net.discover(filters=expression)) == item_ids(ECO, MYSURU)
    late = expression.replace(f"{DAY}T20:00:00Z", f"{DAY}T23:30:00Z").replace(
        f"{DAY}T08:00:00Z", f"{DAY}T22:30:00Z")
    assert found_items(net.discover(filters=late)) == []


@pytest.mark.parametrize(("metres", "expected"), [
    (3_000, []),
    (3_700, [ECO]),  # ECO is 3.55 km from the centre
    (5_000, [ECO, GREEN]),  # GREEN 4.1 km
    (10_000, [ECO, GREEN, GRID]),  # GRID 7.0 km; MYSURU 125 km stays out
    (200_000, [ECO, GREEN, GRID, MYSURU]),
])
def test_discover_within_a_circle_keeps_inside_and_drops_outside(
        net: Network, metres: float, expected: list[dict[str, Any]]) -> None:
    assert found_items(net.discover(spatial=circle(metres))) == item_ids(*expected)


def test_discover_within_a_circle_by_available_at_targets(net: Network) -> None:
    # The official connection-spec example aims at beckn:availableAt; these items only carry a
    # serviceLocation, which the CDS falls back to.
    targets = "$['beckn:availableAt'][*]['geo']"
    assert found_items(net.discover(spatial=circle(5_000, targets=targets))) == item_ids(
        ECO, GREEN)


def test_discover_within_a_polygon(net: Network) -> None:
    square = [[77.58, 12.96], [77.60, 12.96], [77.60, 12.98], [77.58, 12.98], [77.58, 12.96]]
    spatial = [{"op": "s_within", "targets": "$['beckn:itemAttributes']['chargingStation']"
                "['serviceLocation']['geo']",
                "geometry": {"type": "Polygon", "coordinates": [square]}}]
    assert found_items(net.discover(spatial=spatial)) == item_ids(ECO)


@pytest.mark.parametrize(("text", "expected"), [
    ("powergrid", [GRID]),  # provider name, any case
    ("DC fast", [ECO, GREEN, MYSURU]),  # every word, in the item name
    ("ccs2 connector 120kw", [GREEN]),
    ("hydrogen", []),
])
def test_discover_by_text_search(net: Network, text: str, expected: list[dict[str, Any]]) -> None:
    assert found_items(net.discover(text=text)) == item_ids(*expected)


def test_a_discover_matching_nothing_still_gets_an_empty_on_discover(net: Network) -> None:
    call = net.discover(filters="$[?(@.beckn:itemAttributes.connectorType == 'CHAdeMO')]")
    assert call.callback is not None
    assert_schema_valid(call.callback)
    assert call.callback["message"]["catalogs"] == []


def test_with_no_fan_out_targets_an_unmatched_discover_gets_exactly_one_empty_answer(
        net: Network) -> None:
    key_id = net.responder.key_id
    net.store.update(RESPONDER_ID, key_id, status="UNSUBSCRIBED")
    try:
        call = net.discover(filters="$[?(@.beckn:itemAttributes.connectorType == 'GB_T')]")
    finally:
        net.store.update(RESPONDER_ID, key_id, status="SUBSCRIBED")
    assert call.callback is not None
    assert call.callback["message"]["catalogs"] == []
    forwarded = net.transcript.find(lambda e: e.direction == OUTBOUND and e.party == "cds"
                                    and e.action == "discover"
                                    and e.message_id == call.message_id)
    assert forwarded == []
    answers = net.transcript.find(lambda e: e.direction == INBOUND and e.party == "bap"
                                  and e.action == "on_discover"
                                  and e.message_id == call.message_id)
    assert len(answers) == 1


def test_a_filter_the_cds_cannot_read_gets_an_error_in_on_discover(net: Network) -> None:
    call = net.discover(filters="$[?(@.beckn:itemAttributes.maxPowerKW => 50)]")
    answer = call.callback
    assert answer is not None
    assert_schema_valid(answer)
    assert answer["message"]["catalogs"] == []
    assert answer["error"]["code"] == "30000"
    assert answer["error"]["paths"] == "message.filters.expression"
    assert "position" in answer["error"]["message"]
    assert "maxPowerKW => 50" in answer["error"]["message"]  # the filter is named


# --- expiry -----------------------------------------------------------------------------------


def test_a_catalog_is_not_served_after_its_validity_ends(network: Network) -> None:
    network.clock.offset = 0.0
    now = network.clock()
    network.reset(catalog("short-lived", [ECO], validity=(iso(now - 60), iso(now + 3600))))
    try:
        assert found_items(network.discover(text="ecopower")) == item_ids(ECO)
        network.clock.offset = 2 * 3600
        assert found_items(network.discover(text="ecopower")) == []
        (listed,) = httpx.get(f"{network.cds_url}/_control/catalogs",
                              timeout=WAIT_S).json()["catalogs"]
        assert listed["live"] is False
        assert listed["expires_at"] == iso(now + 3600)
    finally:
        network.clock.offset = 0.0


def test_without_a_validity_the_catalog_lives_for_the_default_and_offers_expire_alone(
        network: Network) -> None:
    network.clock.offset = 0.0
    now = network.clock()
    stale = offer("stale", [ECO], validity=(iso(now - 7200), iso(now - 3600)))
    network.reset(catalog("default-life", [ECO], offers=[stale, offer("open", [ECO])]))
    try:
        call = network.discover(text="ecopower")
        (found,) = call.callback["message"]["catalogs"]  # type: ignore[index]
        assert [o["beckn:id"] for o in found["beckn:offers"]] == ["open"]
        network.clock.offset = cds_module.DEFAULT_VALIDITY_S - 60
        assert found_items(network.discover(text="ecopower")) == item_ids(ECO)
        network.clock.offset = cds_module.DEFAULT_VALIDITY_S + 60
        assert found_items(network.discover(text="ecopower")) == []
    finally:
        network.clock.offset = 0.0


def test_a_catalog_already_expired_is_rejected(network: Network) -> None:
    network.reset()
    now = network.clock()
    _, answer = network.publish(catalog("bygone", [ECO], validity=(iso(now - 7200),
                                                                   iso(now - 3600))))
    (result,) = answer["message"]["results"]
    assert (result["status"], result["error"]["code"]) == ("REJECTED", "EXPIRED")


# --- fan-out ----------------------------------------------------------------------------------


def test_a_bpp_that_does_not_publish_gets_the_discover_and_its_answer_is_relayed(
        net: Network) -> None:
    call = net.discover(text="ccs2")
    cache_answer = call.callback_exchange
    assert cache_answer is not None
    assert found_items(call) == item_ids(ECO, GREEN, MYSURU)

    forwarded = net.wait(lambda e: e.direction == INBOUND and e.party == "cpo-two"
                         and e.action == "discover" and e.message_id == call.message_id)
    assert forwarded.status == 200
    asked = forwarded.json()
    assert_schema_valid(asked)
    assert (asked["context"]["bap_id"], asked["context"]["bap_uri"]) == (
        CDS_ID, net.cds_identity.uri)
    assert asked["context"]["transaction_id"] == call.transaction_id
    assert asked["message"] == call.request["message"]
    assert (forwarded.header("Authorization") or "").startswith(f'Signature keyId="{CDS_ID}|')
    never_asked = net.transcript.find(lambda e: e.party == "cpo-one" and e.action == "discover"
                                      and e.message_id == call.message_id)
    assert never_asked == []  # the publisher is answered for from the cache

    relayed = net.wait(lambda e: e.direction == INBOUND and e.party == "bap"
                       and e.action == "on_discover" and e.message_id == call.message_id
                       and e.id != cache_answer.id)
    assert relayed.status == 200, relayed.response_body
    assert relayed.mono_time >= cache_answer.mono_time  # the cache answer goes first
    doc = relayed.json()
    assert_schema_valid(doc)
    assert (doc["context"]["bpp_id"], doc["context"]["bpp_uri"]) == (CDS_ID, net.cds_identity.uri)
    assert (doc["context"]["bap_id"], doc["context"]["transaction_id"]) == (
        BAP_ID, call.transaction_id)
    (relayed_catalog,) = doc["message"]["catalogs"]
    assert (relayed_catalog["beckn:bppId"], relayed_catalog["beckn:bppUri"]) == (
        RESPONDER_ID, net.responder.uri)
    assert [i["beckn:id"] for i in relayed_catalog["beckn:items"]] == [REMOTE["beckn:id"]]

    (record,) = httpx.post(f"{net.registry_url}/lookup", json={"subscriber_id": CDS_ID},
                           timeout=WAIT_S).json()
    verification = signing.verify(relayed.request_body, relayed.header("Authorization"),
                                  record["signing_public_key"])
    assert verification.valid, str(verification)
    assert verification.header is not None
    assert verification.header.subscriber_id == CDS_ID


def test_an_on_discover_for_no_forwarded_discover_is_refused(net: Network) -> None:
    outbox = Outbox(net.responder, net.transcript, net.cds.http, party="cpo-two")
    ctx = envelope.context("on_discover", transaction_id=envelope.new_id(), bap_id=CDS_ID,
                           bap_uri=net.cds_identity.uri, bpp_id=RESPONDER_ID,
                           bpp_uri=net.responder.uri)
    doc = {"context": ctx, "message": {"catalogs": [responder_catalog(net.responder)]}}
    sent = net.run(outbox.send(net.cds_identity.uri, "on_discover", doc))
    assert sent.status == 400
    assert "answers no discover" in sent.ack["error"]["message"]


def test_an_on_discover_after_the_discovers_ttl_is_refused_and_not_relayed(
        net: Network) -> None:
    call = net.discover(text="far")
    relayed = net.wait(lambda e: e.direction == INBOUND and e.party == "bap"
                       and e.action == "on_discover" and e.message_id == call.message_id
                       and e.id != call.callback_exchange.id)  # type: ignore[union-attr]
    assert relayed.status == 200

    async def end_ttl() -> None:
        net.cds.pending[(call.transaction_id, call.message_id)].deadline = 0.0

    net.run(end_ttl())  # as if the ttl had passed, without waiting for it
    outbox = Outbox(net.responder, net.transcript, net.cds.http, party="cpo-two")
    ctx = envelope.context("on_discover", transaction_id=call.transaction_id,
                           message_id=call.message_id, bap_id=CDS_ID,
                           bap_uri=net.cds_identity.uri, bpp_id=RESPONDER_ID,
                           bpp_uri=net.responder.uri)
    doc = {"context": ctx, "message": {"catalogs": [responder_catalog(net.responder)]}}
    late = net.run(outbox.send(net.cds_identity.uri, "on_discover", doc))
    assert late.status == 400
    assert "ttl is over" in late.ack["error"]["message"]
    answers = net.transcript.find(lambda e: e.direction == INBOUND and e.party == "bap"
                                  and e.action == "on_discover"
                                  and e.message_id == call.message_id)
    assert len(answers) == 2  # the cache answer and the one relayed in time


def test_a_bpp_subscribed_just_before_a_discover_is_fanned_out_to(net: Network) -> None:
    net.discover(text="ccs2")  # the directory has just listed the BPPs
    newcomer = Identity.create("newcomer.cpo.test", "bpp",
                               f"{net.servers.url('cpo-two')}/newcomer")
    net.store.add({"subscriber_id": newcomer.subscriber_id, "key_id": newcomer.key_id,
                   "type": "BPP", "url": newcomer.uri, "signing_public_key": newcomer.public_key})
    try:
        call = net.discover(text="ccs2")
        asked = net.wait(lambda e: e.direction == OUTBOUND and e.party == "cds"
                         and e.action == "discover" and e.message_id == call.message_id
                         and e.url.startswith(newcomer.uri))
        assert asked.json()["context"]["bap_id"] == CDS_ID
    finally:
        net.store.remove(newcomer.subscriber_id)


# --- signatures -------------------------------------------------------------------------------


def _discover_doc(net: Network) -> dict[str, Any]:
    return net.bap.build("discover", {"text_search": "ccs2"})


def test_an_unsigned_discover_gets_a_401_nack_with_a_challenge(net: Network) -> None:
    sent = net.run(net.bap.outbox.send(net.cds_identity.uri, "discover", _discover_doc(net),
                                       sign=False))
    assert sent.status == 401
    assert envelope.ack_status(sent.ack) == "NACK"
    assert sent.exchange.response_headers.get("www-authenticate", "").startswith("Signature")


def test_a_discover_signed_with_a_key_the_registry_does_not_hold_gets_a_401_nack(
        net: Network) -> None:
    impostor = signing.Signer.from_keypair(
        signing.KeyPair.generate(BAP_ID, net.bap.identity.key_id))
    doc = _discover_doc(net)
    sent = net.run(net.bap.outbox.send(net.cds_identity.uri, "discover", doc, signer=impostor))
    assert sent.status == 401
    assert envelope.ack_status(sent.ack) == "NACK"
    assert "www-authenticate" in sent.exchange.response_headers
    answered = net.transcript.find(lambda e: e.party == "bap" and e.action == "on_discover"
                                   and e.message_id == doc["context"]["message_id"])
    assert answered == []


# --- control API and the whole transcript -----------------------------------------------------


def test_the_control_api_lists_and_empties_the_cache(net: Network) -> None:
    listing = httpx.get(f"{net.cds_url}/_control/catalogs", timeout=WAIT_S).json()
    (entry,) = listing["catalogs"]
    assert entry["expires_at"] > listing["now"]
    assert entry["catalog"]["beckn:id"] == "cpo-one-catalog"
    other = httpx.delete(f"{net.cds_url}/_control/catalogs", params={"bpp_id": "nobody"},
                         timeout=WAIT_S)
    assert other.json() == {"removed": 0}
    emptied = httpx.delete(f"{net.cds_url}/_control/catalogs", timeout=WAIT_S)
    assert emptied.json() == {"removed": 1}
    assert httpx.get(f"{net.cds_url}/_control/catalogs", timeout=WAIT_S).json()["catalogs"] == []


def test_control_api_errors_answer_in_the_one_error_shape(net: Network) -> None:
    wrong_method = httpx.post(f"{net.cds_url}/_control/catalogs", timeout=WAIT_S)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    unknown = httpx.get(f"{net.cds_url}/_control/nothing", timeout=WAIT_S)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NOT_FOUND"


def test_everything_the_cds_sent_was_schema_valid_and_acked(network: Network) -> None:
    sent = network.transcript.find(lambda e: e.direction == OUTBOUND and e.party == "cds")
    assert sent, "the other tests made the CDS send nothing"
    for exchange in sent:
        assert_schema_valid(exchange.json())
        if exchange.action != "discover" or "cpo-two" in exchange.url:
            assert exchange.status == 200, (exchange.url, exchange.response_body)


# --- the OpenAPI document under arbitrary input -----------------------------------------------


class NobodyTrusted:
    """A registry that knows no one: every signature fails, no sender URI is checked, no BPP
    is there to fan a discover out to."""

    async def trusted_key(self, subscriber_id: str, key_id: str) -> str | None:
        return None

    async def subscriber_url(self, subscriber_id: str) -> str | None:
        return None

    async def subscribers(self, kind: str, domain: str | None = None) -> list[dict[str, Any]]:
        return []


def _acknowledging_network(request: httpx.Request) -> httpx.Response:
    """Stands in for every party, so fuzzed callbacks go nowhere real."""
    if not request.url.is_absolute_url:
        raise httpx.UnsupportedProtocol("no scheme in the URL", request=request)
    return httpx.Response(200, json=envelope.ack())


def test_the_openapi_document_holds_for_any_input() -> None:
    """No 5xx, and every status, header and body as documented; once as deployed (signatures
    checked, so everything is a 401) and once with signature checks off so that generated
    bodies reach schema validation and the handlers."""
    schemathesis = pytest.importorskip("schemathesis")
    hypothesis = pytest.importorskip("hypothesis")
    every_reason = frozenset(signing_check_reasons())
    servers = ServerGroup()
    for name, steps in (("strict", None),
                        ("open", {"signature": verify_signatures(ignore=every_reason)})):
        served = servers.reserve(name)
        servers.attach(name, cds_module.create_app(
            CdsConfig(Identity.create("cds.fuzz.test", "cds", f"{served.url}/beckn")),
            Transcript(), directory=NobodyTrusted(), schemas=schemas.load(),
            http=httpx.AsyncClient(transport=httpx.MockTransport(_acknowledging_network)),
            steps=steps))
    document = schemathesis.openapi.from_path(OPENAPI)
    statuses: dict[str, set[int]] = {}
    servers.start()
    try:
        for result in document.get_all_operations():
            operation = result.ok()

            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(max_examples=4, deadline=None, database=None, derandomize=True,
                                 suppress_health_check=list(hypothesis.HealthCheck),
                                 phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
            def holds(case: Any) -> None:
                for name in ("strict", "open"):
                    # The body schemas here are a summary of schemas/ubc-2.0.0-rc, which is
                    # stricter: a body valid here may rightly get a 400.
                    response = case.call_and_validate(
                        base_url=servers.url(name),
                        excluded_checks=[schemathesis.checks.positive_data_acceptance])
                    statuses.setdefault(f"{name} {case.operation.label}", set()).add(
                        response.status_code)

            holds()
    finally:
        servers.stop()
    assert statuses["strict POST /beckn/discover"] == {401}
    assert statuses["open POST /beckn/on_discover"] == {400}  # answers no forwarded discover


def signing_check_reasons() -> list[str]:
    return [signing.MISSING_HEADER, signing.MALFORMED_HEADER, signing.UNSUPPORTED_ALGORITHM,
            signing.BAD_HEADERS_LIST, signing.BAD_KEY_ID, signing.CREATED_IN_FUTURE,
            signing.EXPIRED, signing.DIGEST_MISMATCH, signing.BAD_SIGNATURE,
            signing.UNKNOWN_KEY]
