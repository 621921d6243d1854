"""The reference BPP on real sockets: every UBC user story and corner case it serves, the states
it reports at each step, its refusals of bad requests, its control API, and for every fault
switch the one misbehaviour it shows on the wire.

Each test builds a tiny network on free loopback ports: the registry, the BPP on a charger
simulator with a manual clock (charging happens when a test advances it), and a minimal BAP
that signs requests and records every callback it accepts.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette

from harness import rules, schemas
from harness.beckn import envelope, signing
from harness.beckn.order import (
    Buyer,
    Order,
    order_status,
    payment_status,
    session_status,
)
from harness.beckn.time import format as rfc3339
from harness.servers import ServerGroup
from harness.transcript import INBOUND, OUTBOUND, Exchange, Transcript
from mocks import bpp as bpp_module
from mocks.bpp import FAULTS, BppConfig, ReferenceBpp, create_app
from mocks.charger import DEMO_EPOCH, Charger, ManualClock
from mocks.registry import RegistryStore, Subscriber
from mocks.registry import create_app as registry_app
from mocks.stack import Identity, Inbound, Inbox, Outbox, RegistryClient, Sent

pytestmark = pytest.mark.network

BPP_ID = "bpp.ecopower.example"
BAP_ID = "bap.test.example"
OTHER_BAP_ID = "other-bap.test.example"  # a second registered BAP, for ownership
CDS_ID = "cds.test.example"
DC = "CCS2-A"  # 60 kW CCS2 at 18 INR/kWh
WAIT_S = 5.0  # the bound on every wait for a callback
OPENAPI = Path(__file__).resolve().parent.parent / "schemas" / "openapi" / "bpp.yaml"
T = TypeVar("T")
# Built once: loading the CA store for every client would cost 40 ms a test.
TLS = ssl.create_default_context()


# --- the network ------------------------------------------------------------------------------


@dataclass
class Network:
    group: ServerGroup
    transcript: Transcript
    registry: RegistryStore
    directory: RegistryClient
    charger: Charger
    bpp: ReferenceBpp
    bap_outbox: Outbox
    bap_uri: str
    bpp_uri: str
    other_bap_outbox: Outbox
    other_bap_uri: str
    bpp_url: str
    cds: Identity | None = None
    sent_ids: set[str] = field(default_factory=set)
    validator: schemas.SchemaSet = field(default_factory=schemas.load)

    # -- driving -------------------------------------------------------------------------------

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the servers' loop: the charger and the BPP are driven from there only."""
        async def call() -> T:
            return fn()
        return self.group.run(call(), timeout=WAIT_S)

    def request(self, action: str, message: dict[str, Any], *, txn: str | None = None,
                ttl: str = "PT5S", by_other_bap: bool = False,
                **send: Any) -> tuple[dict[str, Any], Sent]:
        """Send as the BAP, or `by_other_bap` as the second one (signed as itself)."""
        bap_id, bap_uri, outbox = (OTHER_BAP_ID, self.other_bap_uri, self.other_bap_outbox) \
            if by_other_bap else (BAP_ID, self.bap_uri, self.bap_outbox)
        ctx = envelope.context(
            action, transaction_id=txn or envelope.new_id(), bap_id=bap_id,
            bap_uri=bap_uri, bpp_id=None if action == "discover" else BPP_ID,
            bpp_uri=None if action == "discover" else self.bpp_uri, ttl=ttl)
        doc = {"context": ctx, "message": message}
        self.sent_ids.add(ctx["message_id"])
        sent = self.group.run(outbox.send(self.bpp_uri, action, doc, **send), timeout=WAIT_S)
        return doc, sent

    def callback_exchange(self, request: dict[str, Any], timeout: float = WAIT_S
                          ) -> Exchange | None:
        ctx = request["context"]
        expected = envelope.CALLBACK_OF[ctx["action"]]
        party = "other-bap" if ctx["bap_id"] == OTHER_BAP_ID else "bap"
        return self.transcript.wait_for(
            lambda e: e.direction == INBOUND and e.party == party and e.action == expected
            and e.transaction_id == ctx["transaction_id"]
            and e.message_id == ctx["message_id"] and e.status is not None, timeout)

    def callback(self, request: dict[str, Any]) -> dict[str, Any]:
        exchange = self.callback_exchange(request)
        assert exchange is not None, f"no callback to {request['context']['action']}"
        assert exchange.status == 200, exchange.response_body
        doc = exchange.json()
        assert isinstance(doc, dict)
        return doc

    def ask(self, action: str, message: dict[str, Any], *, txn: str | None = None,
            **send: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Send a request, expect an ACK, return it and its callback."""
        request, sent = self.request(action, message, txn=txn, **send)
        assert sent.status == 200 and sent.acked, sent.exchange.response_body
        return request, self.callback(request)

    def unsolicited(self, txn: str, action: str,
                    predicate: Callable[[dict[str, Any]], bool] = lambda doc: True
                    ) -> dict[str, Any]:
        """An accepted callback of `txn` answering none of our requests."""
        def matches(e: Exchange) -> bool:
            if not (e.direction == INBOUND and e.party == "bap" and e.action == action
                    and e.transaction_id == txn and e.message_id not in self.sent_ids
                    and e.status == 200):
                return False
            doc = e.json()
            return isinstance(doc, dict) and predicate(doc)
        exchange = self.transcript.wait_for(matches, WAIT_S)
        assert exchange is not None, f"no unsolicited {action} for {txn}"
        doc = exchange.json()
        assert isinstance(doc, dict)
        return doc

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.bpp_url, timeout=WAIT_S) as client:
            return client.request(method, path, **kwargs)

    def orders_listed(self) -> list[dict[str, Any]]:
        """GET /_control/orders with the BPP's control token."""
        token = self.bpp.config.control_token
        response = self.control("GET", "/_control/orders",
                                headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        listed = response.json()
        assert isinstance(listed, list)
        return listed

    def set_faults(self, *names: str) -> None:
        response = self.control("PUT", "/_control/faults", json={"faults": list(names)})
        assert response.status_code == 200, response.text

    # -- checking ------------------------------------------------------------------------------

    def bpp_callbacks(self) -> list[Exchange]:
        return [e for e in self.transcript.entries()
                if e.direction == OUTBOUND and e.party == "bpp"
                and (e.action or "").startswith("on_")]

    def assert_conforms(self, exchange: Exchange) -> None:
        """Signed by the BPP's registered key, schema-valid, addressed from the BPP, accepted."""
        header = exchange.header(signing.AUTHORIZATION)
        assert header is not None
        key = self.registry.trusted_key(BPP_ID, self.bpp.identity.key_id)
        verification = signing.verify(exchange.request_body, header, key)
        assert verification.valid, (exchange.action, str(verification))
        doc = exchange.json()
        errors = [f for f in self.validator.validate(doc) if f.is_error]
        assert not errors, (exchange.action, [f.message for f in errors])
        assert doc["context"]["bpp_id"] == BPP_ID
        assert doc["context"]["bpp_uri"] == self.bpp_uri
        answered = self.transcript.wait_for(
            lambda e: e is exchange and (e.status is not None or e.error is not None), WAIT_S)
        assert answered is not None and exchange.status == 200, (exchange.action,
                                                                  exchange.response_body)

    def assert_all_conform(self) -> None:
        callbacks = self.bpp_callbacks()
        assert callbacks
        for exchange in callbacks:
            self.assert_conforms(exchange)


class TestBap:
    """The smallest BAP: its inbox verifies and records callbacks; it sends through the
    network's `bap_outbox`."""

    __test__ = False  # not a pytest class

    def __init__(self, identity: Identity, network_parts: dict[str, Any],
                 party: str = "bap") -> None:
        self.identity = identity
        callbacks = {a: self._record for a in envelope.REQUEST_OF if a != "on_catalog_publish"}
        self.inbox = Inbox(identity, network_parts["directory"], network_parts["transcript"],
                           network_parts["schemas"], callbacks, party=party)

    async def _record(self, inbound: Inbound) -> None:
        pass  # the transcript holds it already

    def app(self, *others: TestBap) -> Starlette:
        """Its inbox, and those of `others` served by the same server at their own paths."""
        return Starlette(routes=[r for bap in (self, *others) for r in bap.inbox.routes()])


class TestCds:
    """A CDS that answers catalog_publish with on_catalog_publish, accepting every catalog."""

    __test__ = False

    def __init__(self, identity: Identity, network_parts: dict[str, Any]) -> None:
        self.identity = identity
        self.outbox = Outbox(identity, network_parts["transcript"], network_parts["http"],
                             party="cds")
        self.inbox = Inbox(identity, network_parts["directory"], network_parts["transcript"],
                           network_parts["schemas"], {"catalog_publish": self._publish},
                           party="cds")

    async def _publish(self, inbound: Inbound) -> None:
        ctx = inbound.context
        reply = envelope.callback_context(ctx, bpp_id=self.identity.subscriber_id,
                                          bpp_uri=self.identity.uri)
        results = [{"catalog_id": c.get("beckn:id"), "status": "ACCEPTED",
                    "item_count": len(c.get("beckn:items", []))}
                   for c in inbound.message["catalogs"]]
        await self.outbox.send(ctx["bpp_uri"], "on_catalog_publish",
                               {"context": reply, "message": {"results": results}})

    def app(self) -> Starlette:
        return Starlette(routes=self.inbox.routes())


def _register(store: RegistryStore, identity: Identity, kind: str) -> None:
    store.add(Subscriber(subscriber_id=identity.subscriber_id, key_id=identity.key_id,
                         type=kind, url=identity.uri, signing_public_key=identity.public_key))


def build_network(*, with_cds: bool = False, **overrides: Any
                  ) -> tuple[Network, Callable[[], None]]:
    """A started network (BppConfig overrides applied) and the function that stops it."""
    group = ServerGroup()
    transcript = Transcript()
    store = RegistryStore(":memory:")
    for name in ("registry", "bpp", "bap", *(("cds",) if with_cds else ())):
        group.reserve(name)
    bpp_identity = Identity.create(BPP_ID, "bpp", f"{group.url('bpp')}/bpp")
    bap_identity = Identity.create(BAP_ID, "bap", f"{group.url('bap')}/bap")
    other_identity = Identity.create(OTHER_BAP_ID, "bap", f"{group.url('bap')}/other")
    _register(store, bpp_identity, "BPP")
    _register(store, bap_identity, "BAP")
    _register(store, other_identity, "BAP")
    directory = RegistryClient(group.url("registry"))
    http = httpx.AsyncClient(verify=TLS)  # one client for every party of the network
    parts = {"transcript": transcript, "directory": directory, "schemas": schemas.load(),
             "http": http}
    charger = Charger(clock=ManualClock())
    settings: dict[str, Any] = {"payment_delay_s": 0.0, **overrides}
    cds = None
    if with_cds:
        cds = Identity.create(CDS_ID, "cds", f"{group.url('cds')}/cds")
        _register(store, cds, "CDS")
        settings["cds_uri"] = cds.uri
        group.attach("cds", TestCds(cds, parts).app())
    config = BppConfig(identity=bpp_identity, **settings)
    app = create_app(config, charger, transcript, directory=directory,
                     schemas=parts["schemas"], http=http)
    group.attach("registry", registry_app(store))
    group.attach("bpp", app)
    group.attach("bap", TestBap(bap_identity, parts).app(
        TestBap(other_identity, parts, party="other-bap")))
    # the BPP's tasks end before the clients they use close
    closers = [app.state.bpp.aclose, directory.aclose, http.aclose]

    def stop() -> None:
        for close in closers:
            with contextlib.suppress(Exception):  # a group that never started has no loop
                group.run(close(), timeout=WAIT_S)
        group.stop()
        store.close()

    try:
        group.start()
    except Exception:
        stop()
        raise
    bap_outbox = Outbox(bap_identity, transcript, http, party="bap")
    net = Network(group=group, transcript=transcript, registry=store, directory=directory,
                  charger=charger, bpp=app.state.bpp, bap_outbox=bap_outbox,
                  bap_uri=bap_identity.uri, bpp_uri=bpp_identity.uri,
                  other_bap_outbox=Outbox(other_identity, transcript, http, party="other-bap"),
                  other_bap_uri=other_identity.uri, bpp_url=group.url("bpp"), cds=cds)
    return net, stop


@pytest.fixture
def network_factory() -> Iterator[Callable[..., Network]]:
    """Builds fresh networks (with BppConfig overrides); every one is stopped afterwards."""
    stops: list[Callable[[], None]] = []

    def build(**options: Any) -> Network:
        net, stop = build_network(**options)
        stops.append(stop)
        return net

    yield build
    for stop in stops:
        stop()


@pytest.fixture
def net(network_factory: Callable[..., Network]) -> Network:
    """A fresh network: for journeys, whose charger and orders must start clean."""
    return network_factory()


@pytest.fixture(scope="module")
def shared_network() -> Iterator[Network]:
    net, stop = build_network()
    yield net
    stop()


@pytest.fixture
def probe_net(shared_network: Network) -> Iterator[Network]:
    """The module's network, for tests that probe single exchanges: every fault off after."""
    yield shared_network
    shared_network.set_faults()


# --- steps ------------------------------------------------------------------------------------


def _item_and_offer(net: Network, connector: str = DC) -> tuple[str, dict[str, Any]]:
    catalog = net.on_loop(net.bpp.catalog)
    item = next(i for i in catalog["beckn:items"] if i["beckn:id"].endswith(f"*{connector}"))
    offer = next(o for o in catalog["beckn:offers"] if item["beckn:id"] in o["beckn:items"])
    return item["beckn:id"], offer


def order_for(net: Network, *, kwh: float = 2.5, slot: tuple[float, float] | None = None,
              buyer: Buyer | None = None) -> dict[str, Any]:
    item_id, offer = _item_and_offer(net)
    order = Order(seller="ecopower-charging", item_id=item_id, quantity_kwh=kwh, offer=offer,
                  buyer=buyer or Buyer(), buyer_finder_fee_pct=2.5,
                  start_time=rfc3339(slot[0]) if slot else None,
                  end_time=rfc3339(slot[1]) if slot else None)
    return order.to_beckn()


def _order(doc: dict[str, Any]) -> dict[str, Any]:
    order = doc["message"]["order"]
    assert isinstance(order, dict)
    return order


def _states(doc: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    order = _order(doc)
    return order_status(order), session_status(order), payment_status(order)


def _value(order: dict[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    value = order["beckn:orderValue"]
    return value["value"], value["components"]


def _sums(order: dict[str, Any]) -> bool:
    total, components = _value(order)
    return round(sum(c["value"] for c in components), 2) == total


def _metered_energy(order: dict[str, Any]) -> float:
    """The ENERGY of the closing meter reading a final bill carries."""
    readings = order["beckn:fulfillment"]["beckn:deliveryAttributes"]["chargingTelemetry"]
    energy = {m["name"]: m for m in readings[-1]["metrics"]}["ENERGY"]
    assert energy["unitCode"] == "KWH"
    return float(energy["value"])


def _with_session(order: dict[str, Any], status: str) -> dict[str, Any]:
    changed = orjson.loads(orjson.dumps(order))
    changed["beckn:fulfillment"]["beckn:deliveryAttributes"]["sessionStatus"] = status
    return changed


@dataclass
class Booking:
    txn: str
    order: dict[str, Any]  # as on_confirm carried it
    order_id: str


def select(net: Network, txn: str | None = None, **order: Any
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    return net.ask("select", {"order": order_for(net, **order)}, txn=txn)


def book(net: Network, **order: Any) -> Booking:
    """select, init, payment (on_status PENDING), confirm: a CONFIRMED order."""
    request, on_select = select(net, **order)
    txn = request["context"]["transaction_id"]
    _, on_init = net.ask("init", {"order": _order(on_select)}, txn=txn)
    if net.bpp.config.payment_delay_s is None:  # the BPP waits to be told the buyer paid
        paying = net.control("POST", f"/_control/orders/{txn}/payment-completed")
        assert paying.status_code == 200, paying.text
    paid = net.unsolicited(txn, "on_status", lambda d: order_status(_order(d)) == "PENDING")
    assert _order(paid)["beckn:id"] == _order(on_init)["beckn:id"]
    _, on_confirm = net.ask("confirm", {"order": _order(paid)}, txn=txn)
    assert _states(on_confirm) == ("CONFIRMED", "PENDING", "COMPLETED")
    return Booking(txn, _order(on_confirm), _order(on_confirm)["beckn:id"])


def start(net: Network, booking: Booking) -> dict[str, Any]:
    net.on_loop(lambda: net.charger.plug_in(DC))
    _, on_update = net.ask("update", {"order": _with_session(booking.order, "PENDING")},
                           txn=booking.txn)
    assert _states(on_update) == ("INPROGRESS", "ACTIVE", "COMPLETED")
    return on_update


def stop(net: Network, booking: Booking) -> dict[str, Any]:
    _, on_update = net.ask("update", {"order": _with_session(booking.order, "STOP")},
                           txn=booking.txn)
    return on_update


def reference(booking: Booking) -> dict[str, Any]:
    return {"order": {"beckn:id": booking.order_id}}


def other_bap_asks_about_a_booking(net: Network) -> tuple[Booking, dict[str, Any]]:
    """A booking of the first BAP; the second BAP asks for its status: the answer it got."""
    booking = book(net)
    request, sent = net.request("status", reference(booking), txn=booking.txn,
                                by_other_bap=True)
    assert sent.acked
    return booking, net.callback(request)


def cancel_by_provider(net: Network, booking: Booking) -> None:
    cancelled = net.control("POST", f"/_control/orders/{booking.order_id}/cancel-by-provider")
    assert cancelled.status_code == 200, cancelled.text


# --- the user stories -------------------------------------------------------------------------


def test_walk_in_flow_reports_the_states_of_every_step(net: Network) -> None:
    _, on_discover = net.ask("discover", {"text_search": "CCS2"})
    catalog = on_discover["message"]["catalogs"][0]
    assert catalog["beckn:bppId"] == BPP_ID
    assert {i["beckn:itemAttributes"]["connectorType"] for i in catalog["beckn:items"]} == \
        {"CCS2", "TYPE2"}

    request, on_select = select(net)
    txn = request["context"]["transaction_id"]
    assert _states(on_select) == ("CREATED", None, None)
    quote = _order(on_select)
    total, components = _value(quote)
    assert _sums(quote)
    assert components[0] == {"type": "UNIT", "value": 45.0, "currency": "INR",
                             "description": "Base charging session cost (18 INR/kWh × 2.5 kWh)"}
    assert [c["description"] for c in components[1:]] == ["Service fee",
                                                          "Buyer finder fee (2.5%)"]

    init_request, on_init = net.ask("init", {"order": quote}, txn=txn)
    assert _states(on_init) == ("CREATED", None, "INITIATED")
    payment = _order(on_init)["beckn:payment"]
    assert payment["beckn:amount"]["value"] == total
    assert payment["beckn:paymentURL"].startswith("https://pay.ecopower.example/pay?")
    order_id = _order(on_init)["beckn:id"]

    paid = net.unsolicited(txn, "on_status")
    assert paid["context"]["message_id"] != init_request["context"]["message_id"]
    assert _states(paid) == ("PENDING", None, "COMPLETED")

    _, on_confirm = net.ask("confirm", {"order": _order(paid)}, txn=txn)
    assert _states(on_confirm) == ("CONFIRMED", "PENDING", "COMPLETED")
    assert _order(on_confirm)["beckn:id"] == order_id
    booking = Booking(txn, _order(on_confirm), order_id)

    net.on_loop(lambda: net.charger.plug_in(DC))
    _, on_status = net.ask("status", reference(booking), txn=txn)
    assert _states(on_status) == ("CONFIRMED", "PENDING", "COMPLETED")
    attributes = _order(on_status)["beckn:fulfillment"]["beckn:deliveryAttributes"]
    assert attributes["connectorStatus"] == "PREPARING"

    _, on_update = net.ask("update", {"order": booking.order}, txn=txn)
    assert _states(on_update) == ("INPROGRESS", "ACTIVE", "COMPLETED")

    net.on_loop(lambda: net.charger.advance(90))
    _, on_track = net.ask("track", reference(booking), txn=txn)
    assert _states(on_track) == ("INPROGRESS", "ACTIVE", None)
    fulfillment = _order(on_track)["beckn:fulfillment"]
    assert fulfillment["trackingAction"]["target"]["url"].startswith(
        "https://track.ecopower.example/session/")
    readings = fulfillment["beckn:deliveryAttributes"]["chargingTelemetry"]
    latest = {m["name"]: m for m in readings[-1]["metrics"]}
    assert latest["POWER"]["unitCode"] == "KW" and latest["POWER"]["value"] == 60.0
    assert latest["ENERGY"]["unitCode"] == "KWH" and latest["ENERGY"]["value"] == 1.0

    on_stop = stop(net, booking)
    assert _states(on_stop) == ("COMPLETED", "COMPLETED", "COMPLETED")
    assert _sums(_order(on_stop))
    net.unsolicited(txn, "on_status", lambda d: payment_status(_order(d)) == "REFUNDED")

    _, on_rating = net.ask("rating", {"ratings": [{
        "@context": bpp_module.CORE_CONTEXT, "@type": "beckn:RatingInput",
        "id": booking.order["beckn:orderItems"][0]["beckn:orderedItem"], "ratingValue": 4,
        "bestRating": 5, "worstRating": 1, "category": "ITEM"}]}, txn=txn)
    assert on_rating["message"]["received"] is True
    assert on_rating["message"]["feedbackForm"]["url"].startswith("https://")

    _, on_support = net.ask("support", {
        "refId": order_id, "refType": "ORDER",
        "support": {"@context": bpp_module.CORE_CONTEXT, "@type": "beckn:SupportInfo",
                    "name": "Ravi Kumar", "channels": ["PHONE"]}}, txn=txn)
    assert on_support["message"]["feedback"]["supportStatus"] == "ACKNOWLEDGED"
    assert on_support["message"]["support"]["phone"]

    net.assert_all_conform()


def test_reservation_holds_the_slot_and_an_overlapping_select_is_rejected(
        net: Network) -> None:
    slot = (DEMO_EPOCH + 9900, DEMO_EPOCH + 11700)  # 12:45 to 13:15 on the charger's day
    booking = book(net, slot=slot)
    reservations = net.on_loop(net.charger.reservations)
    assert [(r.start, r.end, r.status.value) for r in reservations] == [
        (slot[0], slot[1], "PENDING")]

    _, rejected = select(net, slot=(slot[0] + 900, slot[1] + 900), buyer=Buyer(id="user-456"))
    assert order_status(_order(rejected)) == "REJECTED"
    assert rejected["error"]["code"] == "40000"
    assert "overlaps" in rejected["error"]["details"]["description"]

    _, adjacent = select(net, slot=(slot[1], slot[1] + 1800), buyer=Buyer(id="user-456"))
    assert order_status(_order(adjacent)) == "CREATED" and "error" not in adjacent

    net.on_loop(lambda: net.charger.advance(9900))
    start(net, booking)
    net.assert_all_conform()


def test_an_init_that_does_not_restate_the_slot_keeps_the_selected_one(net: Network) -> None:
    """05_init carries no preferences: the slot of the select holds through confirm."""
    slot = (DEMO_EPOCH + 14400, DEMO_EPOCH + 16200)
    _, on_select = select(net, slot=slot)
    txn = on_select["context"]["transaction_id"]
    order = {k: v for k, v in _order(on_select).items() if k != "beckn:orderAttributes"}
    _, on_init = net.ask("init", {"order": order}, txn=txn)
    preferences = _order(on_init)["beckn:orderAttributes"]["preferences"]
    assert preferences == {"startTime": rfc3339(slot[0]), "endTime": rfc3339(slot[1])}


def test_a_slot_starting_now_is_held_though_the_last_car_is_still_plugged_in(
        net: Network) -> None:
    walk_in = book(net)
    start(net, walk_in)
    net.on_loop(lambda: net.charger.advance(600))  # its session completes; the car stays
    net.unsolicited(walk_in.txn, "on_update")
    now = net.on_loop(lambda: net.charger.now)
    booking = book(net, slot=(now, now + 3600), buyer=Buyer(id="user-456"))
    _, refused = net.ask("update", {"order": booking.order}, txn=booking.txn)
    assert refused["error"]["code"] == "40006"  # the last car is still in the way
    holds = net.on_loop(lambda: [r for r in net.charger.reservations()
                                 if r.status.value in ("PENDING", "ACTIVE")])
    assert [(r.start, r.end) for r in holds] == [(now + 1, now + 3600)]  # kept for later
    net.on_loop(lambda: net.charger.unplug(DC))  # the last car leaves
    start(net, booking)  # a second before the hold begins: the driver may start
    net.assert_all_conform()


def test_start_is_rejected_with_40006_while_no_vehicle_is_plugged_in(net: Network) -> None:
    booking = book(net)
    _, refused = net.ask("update", {"order": booking.order}, txn=booking.txn)
    assert order_status(_order(refused)) == "REJECTED"
    assert refused["error"]["code"] == "40006"
    assert "plugged" in refused["error"]["details"]["description"]
    start(net, booking)  # plugged in now, the same order starts
    net.assert_all_conform()


def test_an_interrupted_session_is_reported_unsolicited_then_billed(net: Network) -> None:
    booking = book(net)
    start(net, booking)
    net.on_loop(lambda: net.charger.advance(60))
    net.on_loop(lambda: net.charger.inject_fault(DC, "connector_fault"))
    interrupted = net.unsolicited(
        booking.txn, "on_status", lambda d: session_status(_order(d)) == "INTERRUPTED")
    assert interrupted["context"]["message_id"] not in net.sent_ids
    assert _states(interrupted) == ("INPROGRESS", "INTERRUPTED", "COMPLETED")
    billed = net.unsolicited(booking.txn, "on_update")
    assert _states(billed) == ("COMPLETED", "COMPLETED", "COMPLETED")
    net.assert_all_conform()


def test_undercharge_is_billed_on_the_meter_and_refunded(net: Network) -> None:
    booking = book(net)  # 2.5 kWh prepaid
    paid = booking.order["beckn:payment"]["beckn:amount"]["value"]
    start(net, booking)
    net.on_loop(lambda: net.charger.advance(60))  # 1 kWh at 60 kW
    on_stop = stop(net, booking)
    bill = _order(on_stop)
    total, components = _value(bill)
    assert components[0]["type"] == "UNIT" and components[0]["value"] == 18.0
    assert _sums(bill) and total < paid
    assert bill["beckn:fulfillment"]["beckn:deliveryAttributes"]["meteredEnergyKWh"] == 1.0
    assert _metered_energy(bill) == 1.0
    refund = net.unsolicited(booking.txn, "on_status",
                             lambda d: payment_status(_order(d)) == "REFUNDED")
    assert _states(refund) == ("COMPLETED", "COMPLETED", "REFUNDED")
    assert _order(refund)["beckn:payment"]["beckn:amount"]["value"] == round(paid - total, 2)
    net.assert_all_conform()


def test_a_session_reaching_its_limit_completes_unsolicited_without_refund(
        net: Network) -> None:
    booking = book(net)
    start(net, booking)
    net.on_loop(lambda: net.charger.advance(600))  # 2.5 kWh take 150 s at 60 kW
    done = net.unsolicited(booking.txn, "on_update")
    assert _states(done) == ("COMPLETED", "COMPLETED", "COMPLETED")
    total, _ = _value(_order(done))
    assert total == booking.order["beckn:payment"]["beckn:amount"]["value"]
    summary = net.orders_listed()[0]
    assert summary["refund"] == 0 and summary["billed"] == summary["paid"]
    net.assert_all_conform()


def test_overcharge_is_carried_into_the_buyers_next_on_select(
        network_factory: Callable[..., Network]) -> None:
    net = network_factory(limit_overrun_kwh=2.5)  # the charger fails to stop in time
    booking = book(net)
    paid = booking.order["beckn:payment"]["beckn:amount"]["value"]
    start(net, booking)
    net.on_loop(lambda: net.charger.advance(600))
    done = net.unsolicited(booking.txn, "on_update")
    bill = _order(done)
    total, components = _value(bill)
    assert _sums(bill) and total > paid
    assert components[0]["type"] == "UNIT" and components[0]["value"] == 18.0 * 5.0
    assert _metered_energy(bill) == 5.0
    owed = round(total - paid, 2)
    assert net.on_loop(lambda: net.bpp.balance("user-123")) == owed

    _, next_quote = select(net)
    quote = _order(next_quote)
    assert _sums(quote)
    carried = [c for c in _value(quote)[1] if c["description"].startswith("Outstanding balance")]
    assert [(c["type"], c["value"]) for c in carried] == [("FEE", owed)]
    assert booking.order_id in carried[0]["description"]
    net.assert_all_conform()


def test_cancel_while_pending_refunds_less_the_cancellation_fee(net: Network) -> None:
    booking = book(net)
    paid = booking.order["beckn:payment"]["beckn:amount"]["value"]
    _, on_cancel = net.ask("cancel", reference(booking), txn=booking.txn)
    assert "error" not in on_cancel
    order = _order(on_cancel)
    assert (order_status(order), payment_status(order)) == ("CANCELLED", "REFUNDED")
    assert _value(order) == (10.0, [{"type": "FEE", "value": 10.0, "currency": "INR",
                                     "description": "Cancellation fee"}])
    assert order["beckn:payment"]["beckn:amount"]["value"] == round(paid - 10.0, 2)
    net.assert_all_conform()


def test_a_slot_cancelled_early_enough_is_free_and_released(net: Network) -> None:
    slot = (DEMO_EPOCH + 7200, DEMO_EPOCH + 9000)  # two hours ahead: inside the free window
    booking = book(net, slot=slot)
    paid = booking.order["beckn:payment"]["beckn:amount"]["value"]
    _, on_cancel = net.ask("cancel", reference(booking), txn=booking.txn)
    order = _order(on_cancel)
    assert _value(order)[0] == 0.0
    assert order["beckn:payment"]["beckn:amount"]["value"] == paid
    assert [r.status.value for r in net.on_loop(net.charger.reservations)] == ["CANCELLED"]
    _, again = select(net, slot=slot, buyer=Buyer(id="user-456"))
    assert order_status(_order(again)) == "CREATED"
    net.assert_all_conform()


def test_cancel_after_the_session_started_is_refused_with_50001(net: Network) -> None:
    booking = book(net)
    start(net, booking)
    _, on_cancel = net.ask("cancel", reference(booking), txn=booking.txn)
    assert on_cancel["error"]["code"] == "50001"
    assert _states(on_cancel) == ("INPROGRESS", "ACTIVE", "COMPLETED")
    net.assert_all_conform()


def test_provider_cancel_sends_an_unsolicited_on_cancel_with_a_full_refund(
        net: Network) -> None:
    booking = book(net)
    paid = booking.order["beckn:payment"]["beckn:amount"]["value"]
    response = net.control("POST", f"/_control/orders/{booking.order_id}/cancel-by-provider")
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    cancelled = net.unsolicited(booking.txn, "on_cancel")
    order = _order(cancelled)
    assert (order_status(order), payment_status(order)) == ("CANCELLED", "REFUNDED")
    assert order["beckn:payment"]["beckn:amount"]["value"] == paid
    again = net.control("POST", f"/_control/orders/{booking.order_id}/cancel-by-provider")
    assert again.status_code == 409
    net.assert_all_conform()


# --- an order is its BAP's --------------------------------------------------------------------


def _about_the_order(booking: Booking) -> list[tuple[str, dict[str, Any]]]:
    """Status, track, start and cancel naming the order, as another BAP would send them."""
    return [("status", reference(booking)), ("track", reference(booking)),
            ("update", {"order": _with_session(booking.order, "PENDING")}),
            ("cancel", reference(booking))]


def _callbacks_to_other_bap(net: Network, txn: str) -> list[Exchange]:
    return [e for e in net.transcript.entries() if e.direction == INBOUND
            and e.party == "other-bap" and e.transaction_id == txn]


def test_another_bap_can_neither_see_nor_change_an_order_nor_get_its_callbacks(
        net: Network) -> None:
    booking = book(net)
    net.on_loop(lambda: net.charger.plug_in(DC))  # a start would find a car
    answers = []
    for action, message in _about_the_order(booking):
        request, sent = net.request(action, message, txn=booking.txn, by_other_bap=True)
        assert sent.acked, sent.exchange.response_body
        answers.append(request["message"])
        callback = net.callback(request)
        # the same words as for an order that does not exist: nothing of it is revealed
        assert callback["error"] == {"code": "30010", "message": "Order not found",
                                     "details": {"description": "no such order"}}, action
        assert callback["message"] == {} and booking.order_id not in str(callback), action
    _, own = net.ask("status", reference(booking), txn=booking.txn)
    assert _states(own) == ("CONFIRMED", "PENDING", "COMPLETED")
    # its later callbacks still go to its own BAP, not to the one that asked last
    cancel_by_provider(net, booking)
    assert order_status(_order(net.unsolicited(booking.txn, "on_cancel"))) == "CANCELLED"
    assert len(_callbacks_to_other_bap(net, booking.txn)) == len(answers)
    net.assert_all_conform()


def test_another_bap_naming_the_same_transaction_places_an_order_of_its_own(
        net: Network) -> None:
    booking = book(net)
    _, on_select = net.ask("select", {"order": order_for(net, buyer=Buyer(id="other-driver"))},
                           txn=booking.txn, by_other_bap=True)
    assert order_status(_order(on_select)) == "CREATED"
    assert _order(on_select)["beckn:buyer"]["beckn:id"] == "other-driver"
    _, own = net.ask("status", reference(booking), txn=booking.txn)
    assert _states(own) == ("CONFIRMED", "PENDING", "COMPLETED")
    rating = {"@context": bpp_module.CORE_CONTEXT, "@type": "beckn:RatingInput",
              "id": booking.order_id, "ratingValue": 1, "bestRating": 5, "worstRating": 1,
              "category": "ORDER"}
    support = {"refId": booking.order_id, "refType": "ORDER",
               "support": {"@context": bpp_module.CORE_CONTEXT, "@type": "beckn:SupportInfo",
                           "name": "Mallory", "channels": ["PHONE"]}}
    # neither rated nor supported: to that BAP, the order does not exist
    for action, message, code in (("rating", {"ratings": [rating]}, "30014"),
                                  ("support", support, "30010")):
        request, sent = net.request(action, message, txn=booking.txn, by_other_bap=True)
        assert sent.acked, (action, sent.exchange.response_body)
        assert net.callback(request)["error"]["code"] == code, action
    net.assert_all_conform()


def test_the_orders_listing_needs_the_control_token(probe_net: Network,
                                                    openapi: dict[str, Any]) -> None:
    net = probe_net
    for headers in ({}, {"Authorization": "Bearer not-the-token"},
                    {"Authorization": f"Basic {net.bpp.config.control_token}"}):
        refused = net.control("GET", "/_control/orders", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert_documented(openapi, "Error", refused.json())
    assert isinstance(net.orders_listed(), list)


def test_unknown_item_is_answered_with_30004_in_the_callback(probe_net: Network) -> None:
    net = probe_net
    order = order_for(net)
    order["beckn:orderItems"][0]["beckn:orderedItem"] = "no-such-connector"
    order["beckn:orderItems"][0].pop("beckn:acceptedOffer")
    request, on_select = net.ask("select", {"order": order})
    assert on_select["error"]["code"] == "30004"
    assert order_status(_order(on_select)) == "REJECTED"
    callback = net.callback_exchange(request)
    assert callback is not None
    net.assert_conforms(callback)


# --- refusing bad requests --------------------------------------------------------------------


def _rogue_signer() -> signing.Signer:
    return signing.Signer.from_keypair(signing.KeyPair.generate(BAP_ID, f"{BAP_ID}-k1"))


@pytest.mark.parametrize(("case", "send"), [
    ("unsigned", {"sign": False}),
    ("tampered", {"tamper": lambda raw: raw.replace(b'"CREATED"', b'"CONFIRMED"')}),
    ("expired", {"created": int(time.time()) - 900, "expires": int(time.time()) - 600}),
    ("wrong key", {"signer": _rogue_signer()}),
])
def test_badly_signed_requests_get_401_nack_with_a_challenge(
        probe_net: Network, case: str, send: dict[str, Any]) -> None:
    net = probe_net
    request, sent = net.request("select", {"order": order_for(net)}, **send)
    assert sent.status == 401, case
    assert envelope.ack_status(sent.ack) == "NACK"
    assert sent.ack["error"]["code"] == envelope.SIGNATURE_INVALID
    assert sent.exchange.response_headers.get("www-authenticate", "").startswith("Signature ")
    assert not [e for e in net.bpp_callbacks()
                if e.message_id == request["context"]["message_id"]]


def test_schema_invalid_request_gets_400_nack_with_the_error(probe_net: Network) -> None:
    net = probe_net
    order = order_for(net)
    del order["beckn:orderItems"]
    _, sent = net.request("select", {"order": order})
    assert sent.status == 400
    assert envelope.ack_status(sent.ack) == "NACK"
    assert sent.ack["error"]["code"] == envelope.INVALID_REQUEST
    assert "UBC-SCH-004" in sent.ack["error"]["message"]
    assert "orderItems" in sent.ack["error"]["paths"]


# --- control API and catalog publishing -------------------------------------------------------


def test_hooks_play_the_physical_world_for_a_certification(
        network_factory: Callable[..., Network], openapi: dict[str, Any]) -> None:
    net = network_factory(payment_delay_s=None)

    def hook(name: str, body: Any) -> httpx.Response:
        return net.control("POST", f"/_control/hooks/{name}", json=body)

    request, on_select = select(net)
    txn = request["context"]["transaction_id"]
    item_id = _order(on_select)["beckn:orderItems"][0]["beckn:orderedItem"]
    net.ask("init", {"order": _order(on_select)}, txn=txn)
    assert hook("payment-completed", {"transaction_id": txn}).status_code == 200
    paid = net.unsolicited(txn, "on_status")
    _, on_confirm = net.ask("confirm", {"order": _order(paid)}, txn=txn)
    booking = Booking(txn, _order(on_confirm), _order(on_confirm)["beckn:id"])
    assert hook("plug-in", {"item_id": item_id}).json()["plugged"] is True
    net.ask("update", {"order": booking.order}, txn=txn)
    assert hook("advance", {"seconds": 30}).status_code == 200

    overran = hook("overrun", {"transaction_id": txn, "extra_kwh": 1.0})
    assert overran.status_code == 200 and overran.json()["energy_kwh"] == 3.5
    done = net.unsolicited(txn, "on_update")
    assert _metered_energy(_order(done)) == 3.5
    assert _value(_order(done))[0] > booking.order["beckn:payment"]["beckn:amount"]["value"]
    assert stop(net, booking)["message"] == done["message"]  # the stop gets the same bill
    assert hook("overrun", {"transaction_id": txn, "extra_kwh": 1.0}).status_code == 409

    second = book(net)
    assert hook("plug-in", {"item_id": item_id}).status_code == 200  # the last car left
    net.ask("update", {"order": second.order}, txn=second.txn)
    assert hook("plug-in", {"item_id": item_id}).status_code == 409  # it is charging
    assert hook("cable-pulled", {"item_id": item_id}).status_code == 200
    net.unsolicited(second.txn, "on_status",
                    lambda d: session_status(_order(d)) == "INTERRUPTED")

    third = book(net)
    cancelled = hook("cancel-by-provider", {"transaction_id": third.txn})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert_documented(openapi, "OrderSummary", cancelled.json())
    net.unsolicited(third.txn, "on_cancel")

    assert hook("no-such-hook", {}).status_code == 404
    assert hook("plug-in", {}).status_code == 400
    assert hook("plug-in", {"item_id": "nowhere"}).status_code == 404
    assert hook("advance", {"seconds": -5}).status_code == 400
    assert net.control("POST", "/_control/hooks/advance", content=b"[").status_code == 400
    net.assert_all_conform()


def test_payment_can_wait_for_the_control_api(
        network_factory: Callable[..., Network], openapi: dict[str, Any]) -> None:
    net = network_factory(payment_delay_s=None)
    request, on_select = select(net)
    txn = request["context"]["transaction_id"]
    _, on_init = net.ask("init", {"order": _order(on_select)}, txn=txn)
    order_id = _order(on_init)["beckn:id"]
    assert net.control("POST", "/_control/orders/nope/payment-completed").status_code == 404
    response = net.control("POST", f"/_control/orders/{order_id}/payment-completed")
    assert response.status_code == 200 and response.json()["payment_status"] == "COMPLETED"
    assert_documented(openapi, "OrderSummary", response.json())
    paid = net.unsolicited(txn, "on_status")
    assert _states(paid) == ("PENDING", None, "COMPLETED")
    again = net.control("POST", f"/_control/orders/{order_id}/payment-completed")
    assert again.status_code == 409 and again.json()["error"]["code"] == "NOT_AWAITING_PAYMENT"
    assert_documented(openapi, "Error", again.json())
    orders = net.orders_listed()
    for order in orders:
        assert_documented(openapi, "OrderSummary", order)
    assert [(o["order_id"], o["status"]) for o in orders] == [(order_id, "PENDING")]


def test_faults_are_listed_and_switched_through_the_control_api(
        probe_net: Network, openapi: dict[str, Any]) -> None:
    net = probe_net
    listed = net.control("GET", "/_control/faults").json()
    assert_documented(openapi, "Faults", listed)
    assert listed["faults"] == []
    assert [f["name"] for f in listed["available"]] == list(FAULTS)
    bad = net.control("PUT", "/_control/faults", json={"faults": ["no-such-fault"]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "UNKNOWN_FAULT"
    assert net.control("PUT", "/_control/faults", content=b"[").status_code == 400
    net.set_faults("late-callback", "unsigned-callback")
    assert net.control("GET", "/_control/faults").json()["faults"] == [
        "late-callback", "unsigned-callback"]


def test_catalog_is_published_to_the_cds(network_factory: Callable[..., Network],
                                        openapi: dict[str, Any]) -> None:
    net = network_factory(with_cds=True)
    response = net.control("POST", "/_control/catalog/publish")
    assert response.status_code == 200 and response.json()["acked"] is True
    assert_documented(openapi, "PublishOutcome", response.json())
    publish = net.transcript.wait_for(
        lambda e: e.direction == INBOUND and e.party == "cds" and e.status is not None, WAIT_S)
    assert publish is not None and publish.status == 200
    doc = publish.json()
    assert "bap_id" not in doc["context"] and doc["context"]["bpp_id"] == BPP_ID
    assert not [f for f in net.validator.validate(doc) if f.is_error]
    items = doc["message"]["catalogs"][0]["beckn:items"]
    assert {i["beckn:itemAttributes"]["evseId"] for i in items} == {
        c.evse_id for c in net.charger.connectors()}
    answered = net.transcript.wait_for(
        lambda e: e.direction == INBOUND and e.party == "bpp"
        and e.action == "on_catalog_publish" and e.status is not None, WAIT_S)
    assert answered is not None and answered.status == 200
    results = net.on_loop(lambda: list(net.bpp.publish_results))
    assert results and results[0]["status"] == "ACCEPTED"


def test_publish_without_a_cds_is_a_conflict(probe_net: Network) -> None:
    net = probe_net
    response = net.control("POST", "/_control/catalog/publish")
    assert response.status_code == 409 and response.json()["error"]["code"] == "NO_CDS"


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(OPENAPI.read_text())
    assert isinstance(doc, dict)
    return doc


def assert_documented(openapi: dict[str, Any], schema: str, instance: Any) -> None:
    """The control API's answer matches its schema in bpp.yaml."""
    resource = Resource.from_contents(openapi, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:bpp", resource)
    validator = Draft202012Validator({"$ref": f"urn:bpp#/components/schemas/{schema}"},
                                     registry=registry)
    errors = [e.message for e in validator.iter_errors(instance)]
    assert not errors, (schema, errors)


def test_openapi_documents_every_route_and_status(openapi: dict[str, Any]) -> None:
    doc = openapi
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    action = paths["/{action}"]["post"]
    enum = next(p for p in action["parameters"] if p["name"] == "action")["schema"]["enum"]
    assert set(enum) == {*bpp_module.ACTIONS, "on_catalog_publish"}
    assert {"200", "400", "401", "413"} <= set(action["responses"])
    assert "WWW-Authenticate" in str(action["responses"]["401"]) or \
        "WWW-Authenticate" in str(doc["components"])
    hook = next(p for p in paths["/_control/hooks/{hook}"]["post"]["parameters"]
                if p.get("name") == "hook")
    assert tuple(hook["schema"]["enum"]) == bpp_module.HOOKS
    for path in ("/_control/orders", "/_control/orders/{order_id}/payment-completed",
                 "/_control/orders/{order_id}/cancel-by-provider", "/_control/catalog/publish",
                 "/_control/faults"):
        assert path in paths, path
    assert set(paths["/_control/faults"]) == {"get", "put"}
    assert doc["components"]["schemas"]["FaultName"]["enum"] == list(FAULTS)


# --- fault switches ---------------------------------------------------------------------------


def _on_select_exchanges(net: Network, request: dict[str, Any], count: int = 1,
                         timeout: float = WAIT_S) -> list[Exchange]:
    """The on_select exchanges the BAP saw for this select's transaction or message."""
    ctx = request["context"]

    def ours(e: Exchange) -> bool:
        return e.direction == INBOUND and e.party == "bap" and e.action == "on_select" \
            and e.status is not None and (e.transaction_id == ctx["transaction_id"]
                                          or e.message_id == ctx["message_id"])
    deadline = time.monotonic() + timeout
    while True:
        found = net.transcript.find(ours)
        remaining = deadline - time.monotonic()
        if len(found) >= count or remaining <= 0:
            return found
        seen = {e.id for e in found}
        net.transcript.wait_for(lambda e, seen=seen: ours(e) and e.id not in seen, remaining)


def _registered_key(net: Network) -> str:
    key = net.registry.trusted_key(BPP_ID, net.bpp.identity.key_id)
    assert key is not None
    return key


def _one_on_select(net: Network, ttl: str = "PT5S") -> tuple[dict[str, Any], Exchange]:
    request, sent = net.request("select", {"order": order_for(net)}, ttl=ttl)
    assert sent.acked
    found = _on_select_exchanges(net, request)
    assert found, "no on_select"
    return request, found[0]


def symptom_bad_callback_signature(net: Network) -> None:
    _, callback = _one_on_select(net)
    header = callback.header(signing.AUTHORIZATION)
    result = signing.verify(callback.request_body, header, _registered_key(net))
    assert result.reason == signing.BAD_SIGNATURE
    assert callback.status == 401


def symptom_unsigned_callback(net: Network) -> None:
    _, callback = _one_on_select(net)
    assert callback.header(signing.AUTHORIZATION) is None
    assert callback.status == 401


def symptom_expired_callback_signature(net: Network) -> None:
    _, callback = _one_on_select(net)
    header = callback.header(signing.AUTHORIZATION)
    assert header is not None
    assert signing.parse_header(header).expires < time.time() - 60
    assert signing.verify(callback.request_body, header, _registered_key(net)).reason == \
        signing.EXPIRED
    assert callback.status == 401


def symptom_wrong_key_callback(net: Network) -> None:
    _, callback = _one_on_select(net)
    header = callback.header(signing.AUTHORIZATION)
    assert header is not None
    parsed = signing.parse_header(header)
    assert (parsed.subscriber_id, parsed.unique_key_id) == (BPP_ID, net.bpp.identity.key_id)
    assert signing.verify(callback.request_body, header, _registered_key(net)).reason == \
        signing.BAD_SIGNATURE
    # not altered bytes: the signature is a sound one, made by another key
    assert signing.verify(callback.request_body, header,
                          net.bpp.switches.impostor.public_key).valid
    assert callback.status == 401


def symptom_late_callback(net: Network) -> None:
    request, sent = net.request("select", {"order": order_for(net)}, ttl="PT1S")
    found = _on_select_exchanges(net, request, timeout=WAIT_S)
    assert found
    assert found[0].mono_time - sent.exchange.mono_time > 1.0


def symptom_missing_callback(net: Network) -> None:
    request, sent = net.request("select", {"order": order_for(net)}, ttl="PT1S")
    assert sent.acked
    assert _on_select_exchanges(net, request, timeout=1.5) == []
    status_request, _ = net.request("status", {"order": {"beckn:id": "order-unknown"}})
    assert net.callback_exchange(status_request) is not None  # other callbacks still come


def symptom_duplicate_callback(net: Network) -> None:
    request, _ = net.request("select", {"order": order_for(net)})
    found = _on_select_exchanges(net, request, count=2)
    assert len(found) == 2
    assert found[0].request_body == found[1].request_body
    assert all(e.message_id == request["context"]["message_id"] for e in found)


def symptom_wrong_transaction_id(net: Network) -> None:
    request, callback = _one_on_select(net)
    assert callback.message_id == request["context"]["message_id"]
    assert callback.transaction_id != request["context"]["transaction_id"]


def symptom_wrong_message_id(net: Network) -> None:
    request, callback = _one_on_select(net)
    assert callback.transaction_id == request["context"]["transaction_id"]
    assert callback.message_id != request["context"]["message_id"]


def symptom_schema_invalid_callback(net: Network) -> None:
    _, callback = _one_on_select(net)
    findings = net.validator.validate(callback.json())
    assert any(f.rule == "UBC-SCH-004" and "orderItems" in f.path for f in findings)
    assert callback.status == 400


def symptom_illegal_state_transition(net: Network) -> None:
    request, on_select = select(net)
    txn = request["context"]["transaction_id"]
    net.ask("init", {"order": _order(on_select)}, txn=txn)
    paid = net.unsolicited(txn, "on_status")
    _, on_confirm = net.ask("confirm", {"order": _order(paid)}, txn=txn)
    assert order_status(_order(on_confirm)) == "COMPLETED"


def symptom_quote_total_mismatch(net: Network) -> None:
    _, on_select = select(net)
    total, components = _value(_order(on_select))
    assert total == round(sum(c["value"] for c in components) + 10, 2)


def symptom_accepts_tampered_request(net: Network) -> None:
    request, sent = net.request("select", {"order": order_for(net)},
                                tamper=lambda raw: raw.replace(b'"CREATED"', b'"CONFIRMED"'))
    assert sent.status == 200 and sent.acked
    assert _on_select_exchanges(net, request)  # and it was acted upon


def symptom_accepts_expired_signature(net: Network) -> None:
    now = int(time.time())
    request, sent = net.request("select", {"order": order_for(net)}, created=now - 900,
                                expires=now - 600)
    assert sent.status == 200 and sent.acked
    assert _on_select_exchanges(net, request)


def symptom_acks_schema_invalid_request(net: Network) -> None:
    order = order_for(net)
    del order["beckn:orderItems"]
    request, sent = net.request("select", {"order": order})
    assert sent.status == 200 and sent.acked
    assert _on_select_exchanges(net, request)  # an error callback: the item is unknown


def symptom_unsolicited_reuses_message_id(net: Network) -> None:
    request, on_select = select(net)
    txn = request["context"]["transaction_id"]
    init_request, _ = net.ask("init", {"order": _order(on_select)}, txn=txn)
    paid = net.transcript.wait_for(
        lambda e: e.direction == INBOUND and e.party == "bap" and e.action == "on_status"
        and e.transaction_id == txn, WAIT_S)
    assert paid is not None
    assert paid.message_id == init_request["context"]["message_id"]


def symptom_changes_price_after_select(net: Network) -> None:
    request, on_select = select(net)
    txn = request["context"]["transaction_id"]
    _, on_init = net.ask("init", {"order": _order(on_select)}, txn=txn)

    def price(doc: dict[str, Any]) -> float:
        return float(_order(doc)["beckn:orderItems"][0]["beckn:price"]["value"])
    assert price(on_init) == round(price(on_select) * 1.1, 2) != price(on_select)


def symptom_refuses_with_generic_code(net: Network) -> None:
    order = order_for(net)
    order["beckn:orderItems"][0]["beckn:orderedItem"] = "no-such-connector"
    order["beckn:orderItems"][0].pop("beckn:acceptedOffer")
    _, on_select = net.ask("select", {"order": order})
    assert on_select["error"]["code"] == "50000"  # not 30004, item not found
    assert order_status(_order(on_select)) == "REJECTED"


def symptom_serves_any_bap(net: Network) -> None:
    booking, shown = other_bap_asks_about_a_booking(net)
    assert "error" not in shown and _order(shown)["beckn:id"] == booking.order_id
    # and the order's next callback goes to the BAP that asked last
    cancel_by_provider(net, booking)
    assert net.transcript.wait_for(
        lambda e: e.direction == INBOUND and e.party == "other-bap" and e.action == "on_cancel"
        and e.transaction_id == booking.txn, WAIT_S) is not None


def symptom_callbacks_to_any_bap(net: Network) -> None:
    booking, refused = other_bap_asks_about_a_booking(net)
    assert refused["error"]["code"] == "30010" and "order" not in refused["message"]
    # refused, yet the order's next callback goes to that BAP too, beside its own
    cancel_by_provider(net, booking)
    for party in ("bap", "other-bap"):
        assert net.transcript.wait_for(
            lambda e, p=party: e.direction == INBOUND and e.party == p
            and e.action == "on_cancel" and e.transaction_id == booking.txn, WAIT_S), party


SYMPTOMS: dict[str, Callable[[Network], None]] = {
    name: globals()[f"symptom_{name.replace('-', '_')}"] for name in FAULTS
}


def test_fault_table_names_catalogued_rules() -> None:
    assert list(FAULTS)[:2] == ["bad-callback-signature", "unsigned-callback"]
    for name, fault in FAULTS.items():
        assert rules.get(fault.rule), name
        assert fault.description


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_shows_its_misbehaviour_on_the_wire(probe_net: Network, fault: str) -> None:
    probe_net.set_faults(fault)
    SYMPTOMS[fault](probe_net)


def test_without_faults_the_same_probes_conform(probe_net: Network) -> None:
    """The symptoms above come from the switches, not from the BPP's normal behaviour."""
    net = probe_net
    _, callback = _one_on_select(net)
    net.assert_conforms(callback)
    _, sent = net.request("select", {"order": order_for(net)},
                          tamper=lambda raw: raw.replace(b'"CREATED"', b'"CONFIRMED"'))
    assert sent.status == 401



def test_each_offer_is_built_anew_so_an_order_may_change_its_own() -> None:
    """OrderDocuments.order sets its own price in the offer it is given, uncopied: nothing of
    one offer may be shared with the next or with the catalog."""
    from mocks.bpp.catalog import SiteCatalog

    keys = signing.KeyPair.generate("bpp.example", "bpp.example-k1")
    charger = Charger(clock=ManualClock())
    site = SiteCatalog(charger, BppConfig(identity=Identity.create(
        "bpp.example", "bpp", "http://127.0.0.1/b", keys)))
    connector = charger.connectors()[0]
    first = site.offer(connector)
    first["beckn:price"]["value"] = -1
    first["beckn:offerAttributes"]["tariffModel"] = "changed"
    first["beckn:items"].append("changed")
    again = site.offer(connector)
    assert again["beckn:price"]["value"] != -1
    assert again["beckn:offerAttributes"]["tariffModel"] == "PER_KWH"
    assert "changed" not in again["beckn:items"]
    assert "changed" not in orjson.dumps(site.catalog()).decode()
