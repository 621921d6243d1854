"""The reference BAP's `/v1` client API (client-api-contract.md) on the served mock network: a
driver's whole walk-in through it against the reference BPP, with the Beckn requests behind
every call; cancellation; the contract's errors (400, 401, 404, 409, 422); and for every fault
switch of the BAP the one misbehaviour it shows on the wire.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness import candidate, rules, schemas
from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.beckn.order import dig
from harness.network import MockNetwork
from harness.transcript import INBOUND, OUTBOUND, Exchange
from mocks.bap import FAULTS, PROPOSED_RULES, DriverApp
from mocks.stack import Inbound

pytestmark = pytest.mark.network

WAIT_S = 5.0
OPENAPI = Path(__file__).resolve().parent.parent / "schemas" / "openapi" / "client-api.yaml"
CAR = {"make": "Tata", "model": "Nexon EV", "type": "4-wheeler"}
NEAR_THE_SITE = {"geo_coordinates": [12.9352, 77.6245], "distance_meters": 2000}


# --- the driver's client ----------------------------------------------------------------------


@dataclass
class Driver:
    """A driver's client of the BAP's /v1 API, and the network behind it."""

    network: MockNetwork
    http: httpx.Client
    token: str

    @property
    def app(self) -> DriverApp:
        app = self.network.group.served["bap"].app.state.driver_app
        assert isinstance(app, DriverApp)
        return app

    def call(self, method: str, path: str, *, txn: str | None = None, bpp: str | None = None,
             token: str | None = "", **options: Any) -> httpx.Response:
        headers = dict(options.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token or self.token}"
        if txn is not None:
            headers["X-Transaction-Id"] = txn
        if bpp is not None:
            headers["X-Bpp-Id"] = bpp
        return self.http.request(method, f"/v1{path}", headers=headers, **options)

    def search(self, body: dict[str, Any] | None = None, **options: Any) -> httpx.Response:
        return self.call("POST", "/search", json=NEAR_THE_SITE if body is None else body,
                         **options)

    def ccs2(self) -> tuple[str, str, dict[str, Any]]:
        """Search near the site: the transaction, the BPP and its CCS2 connector."""
        found = self.search()
        assert found.status_code == 200, found.text
        catalog = found.json()["catalogs"][0]
        connector = next(c for c in catalog["connectors"]
                         if c["connectorAttributes"]["connectorType"] == "CCS2")
        return found.headers["x-transaction-id"], catalog["bpp_id"], connector

    def quote(self, **body: Any) -> Quote:
        txn, bpp, connector = self.ccs2()
        answer = self.call("POST", "/estimate", txn=txn, bpp=bpp, json={
            "evse_id": connector["evse_id"], "connector_id": connector["id"], "vehicle": CAR,
            "energy": {"value": 20, "unit": "kWh"}, **body})
        return Quote(self, txn, bpp, connector, answer)

    def paid(self) -> Quote:
        """An order estimated, paid for and confirmed (the app confirms on the BPP's notice)."""
        quote = self.quote()
        assert quote.answer.status_code == 200, quote.answer.text
        paid = quote.order("POST", "/payment", json={"payment_method": "UPI"})
        assert paid.status_code == 200, paid.text
        assert self.beckn(quote.txn, "on_confirm") is not None
        shown = quote.order("GET")  # waits for the app to have taken the confirmation in
        assert shown.json()["payment"] == {"status": "PAID"}, shown.text
        return quote

    def beckn(self, txn: str, action: str, timeout: float = WAIT_S) -> Exchange | None:
        """The first accepted callback of this action in the transaction."""
        return self.network.transcript.wait_for(
            lambda e: e.direction == INBOUND and e.party == "bap" and e.action == action
            and e.transaction_id == txn and e.status == 200, timeout)

    def sent(self, txn: str) -> list[Exchange]:
        """The Beckn requests the BAP sent in this transaction, in order."""
        return self.network.transcript.query(party="bap", direction=OUTBOUND,
                                             transaction_id=txn)

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return fn()
        return self.network.group.run(call(), timeout=WAIT_S)

    def plug_in(self, connector_id: str) -> None:
        charger = self.network.charger
        assert charger is not None
        self.on_loop(lambda: charger.plug_in(connector_id.rsplit("*", 1)[-1]))


@dataclass
class Quote:
    driver: Driver
    txn: str
    bpp: str
    connector: dict[str, Any]
    answer: httpx.Response

    @property
    def id(self) -> str:
        return str(self.answer.json()["order"]["id"])

    def order(self, method: str, path: str = "", **options: Any) -> httpx.Response:
        return self.driver.call(method, f"/orders/{self.id}{path}", txn=self.txn, bpp=self.bpp,
                                **options)


@pytest.fixture(scope="module")
def driver(network: MockNetwork) -> Iterator[Driver]:
    assert network.bap is not None
    with httpx.Client(base_url=network.participants["bap"].url, timeout=30) as http:
        yield Driver(network, http, network.bap.config.client_api_token)


@pytest.fixture
def clean(driver: Driver) -> Iterator[Driver]:
    """No fault switched on and no car left plugged in after the test."""
    yield driver
    charger = driver.network.charger
    assert charger is not None
    assert driver.http.put("/_control/faults", json={"faults": []}).status_code == 200
    for connector in driver.on_loop(charger.connectors):
        if connector.plugged:
            driver.on_loop(lambda c=connector: charger.unplug(c.id))


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    doc = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def documented(openapi: dict[str, Any], schema: str, answer: httpx.Response) -> dict[str, Any]:
    """The answer's body, which matches its schema in client-api.yaml."""
    registry = Registry().with_resource(
        "urn:client-api", Resource.from_contents(openapi, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": f"urn:client-api#/components/schemas/{schema}"},
                                     registry=registry)
    body = answer.json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, (schema, errors, body)
    assert isinstance(body, dict)
    return body


def error_of(openapi: dict[str, Any], answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error = documented(openapi, "Error", answer)["error"]
    assert isinstance(error, dict)
    return error


# --- the walk-in ------------------------------------------------------------------------------


def test_a_driver_walks_in_through_the_client_api(clean: Driver,
                                                  openapi: dict[str, Any]) -> None:
    driver = clean
    found = driver.search()
    result = documented(openapi, "SearchResult", found)
    assert (result["total"], result["page"], result["per_page"]) == (1, 1, 20)
    catalog = result["catalogs"][0]
    assert catalog["bpp_id"] == driver.network.participants["bpp"].subscriber_id
    connector = next(c for c in catalog["connectors"]
                     if c["connectorAttributes"]["connectorType"] == "CCS2")
    assert connector["geo_coordinates"] == [12.9352, 77.6245]
    offer = next(o for o in catalog["offers"] if connector["id"] in o["items"])
    assert offer["price"]["value"] == 18.0 and "UPI" in offer["acceptedPaymentMethod"]
    txn = found.headers["x-transaction-id"]

    estimated = driver.call("POST", "/estimate", txn=txn, bpp=catalog["bpp_id"], json={
        "evse_id": connector["evse_id"], "connector_id": connector["id"], "vehicle": CAR,
        "energy": {"value": 20, "unit": "kWh"}, "offer_id": offer["id"]})
    estimate = documented(openapi, "Estimate", estimated)
    quote = Quote(driver, txn, catalog["bpp_id"], connector, estimated)
    on_select = driver.beckn(txn, "on_select")
    assert on_select is not None
    quoted = on_select.json()["message"]["order"]["beckn:orderValue"]
    assert estimate["amount"] == {"value": quoted["value"], "currency": "INR"}
    assert estimate["priceComponents"] == quoted["components"]
    assert estimate["order"]["status"] == "quoted_price" and estimate["order"]["mode"] == "instant"
    assert estimate["energy"] == {"value": 20.0, "unit": "kWh"}
    assert estimate["durationInMinutes"] == "20"  # 20 kWh at 60 kW

    paid = documented(openapi, "PaymentTerms", quote.order("POST", "/payment",
                                                           json={"payment_method": "UPI"}))
    on_init = driver.beckn(txn, "on_init")
    assert on_init is not None
    terms = on_init.json()["message"]["order"]["beckn:payment"]
    assert paid["amount"] == terms["beckn:amount"]["value"] == quoted["value"]
    assert paid["payment_url"] == terms["beckn:paymentURL"]
    assert paid["order"] == {"id": quote.id, "status": "ACTIVE", "mode": "INSTANT"}
    assert driver.beckn(txn, "on_confirm") is not None  # the app confirmed once paid

    before = documented(openapi, "OrderView", quote.order("GET"))
    assert (before["payment"], before["charging"]) == ({"status": "PAID"}, {"status": "IDLE"})
    assert before["connectorId"] == connector["id"] and before["vehicle"] == {
        "type": "4-wheeler", "model": "Nexon EV", "make": "Tata"}

    driver.plug_in(connector["id"])
    started = documented(openapi, "States", quote.order("PUT", "/start"))
    assert started == {"order": {"id": quote.id, "status": "ACTIVE", "mode": "INSTANT"},
                       "payment": {"status": "PAID"}, "charging": {"status": "ACTIVE"}}
    live = documented(openapi, "OrderView", quote.order("GET"))
    metrics = {m["name"]: m for m in live["chargingTelemetry"]["metrics"]}
    assert {"STATE_OF_CHARGE", "POWER", "ENERGY", "SESSION_DURATION"} <= set(metrics)
    assert metrics["POWER"]["unitCode"] == "KW" and metrics["POWER"]["value"] > 0
    assert live["trackingUrl"].startswith("https://track.ecopower.example/session/")

    stopped = documented(openapi, "Bill", quote.order("PUT", "/stop",
                                                      json={"reason_code": "USER_REQUESTED"}))
    assert stopped["order"]["status"] == "COMPLETED"
    assert stopped["charging"] == {"status": "COMPLETED"}
    on_update = driver.network.transcript.query(party="bap", direction=INBOUND,
                                                action="on_update", transaction_id=txn)[-1]
    bill = on_update.json()["message"]["order"]["beckn:orderValue"]
    lines = stopped["price_components"]
    assert [line["value"] for line in lines[:-1]] == [c["value"] for c in bill["components"]]
    assert lines[0]["type"] == "BASE"
    assert lines[-1] == {"type": "REFUND", "value": round(bill["value"] - paid["amount"], 2),
                         "currency": "INR", "description": "Refund of the unused pre-payment"}

    rated = documented(openapi, "RatingTaken", quote.order("POST", "/rating", json={
        "value": 5, "feedback": {"comments": "Quick", "tags": ["fast"]}}))
    assert rated["feedbackForm"]["url"].startswith("https://ecopower.example/feedback/")
    helped = documented(openapi, "Support", quote.order("GET", "/support"))
    assert helped["phone"] == "18001080" and helped["channels"] == ["phone", "email", "web"]
    assert helped["order"]["status"] == "COMPLETED"

    # Behind it: one transaction, a fresh message id per request, each signed by this BAP,
    # schema-valid, acknowledged, and answered by an accepted callback.
    requests = driver.sent(txn)
    assert [r.action for r in requests] == [
        "discover", "select", "init", "confirm", "status", "update", "status", "track",
        "update", "rating", "support"]
    assert len({r.message_id for r in requests}) == len(requests)
    validator = schemas.load()
    for request in requests:
        assert request.status == 200, (request.action, request.response_body)
        assert signing.parse_header(request.header("authorization") or "").subscriber_id == \
            "bap.mock.ubc"
        assert not [f.as_dict() for f in validator.validate(request.json()) if f.is_error]
        if request.action != "discover":
            assert driver.network.transcript.query(party="bap", direction=INBOUND,
                                                   message_id=request.message_id)


def test_search_pages_and_filters(clean: Driver, openapi: dict[str, Any]) -> None:
    driver = clean
    second = documented(openapi, "SearchResult", driver.call(
        "POST", "/search", params={"page": 2, "per_page": 1}, json=NEAR_THE_SITE))
    assert (second["total"], second["page"], second["per_page"], second["catalogs"]) == (
        1, 2, 1, [])
    typed = documented(openapi, "SearchResult", driver.search(
        {**NEAR_THE_SITE, "filters": {"connector_type": "TYPE_2"}}))
    assert [c["connectorAttributes"]["connectorType"]
            for c in typed["catalogs"][0]["connectors"]] == ["TYPE2"]
    far = documented(openapi, "SearchResult", driver.search(
        {"geo_coordinates": [28.6139, 77.209], "distance_meters": 5000}))
    assert (far["total"], far["catalogs"]) == (0, [])
    txn = envelope.new_id()
    by_evse = driver.search({"evse_id": "IND*ecopower-charging*cs-01*IN*ECO*BTM*01*CCS2*A"},
                            txn=txn)
    assert by_evse.headers["x-transaction-id"] == txn
    connectors = documented(openapi, "SearchResult", by_evse)["catalogs"][0]["connectors"]
    assert [c["connectorAttributes"]["connectorType"] for c in connectors] == ["CCS2"]
    discover = driver.sent(txn)[0].json()["message"]
    assert "evseId == 'IND*ecopower-charging*cs-01*IN*ECO*BTM*01*CCS2*A'" in \
        discover["filters"]["expression"]


def test_a_reservation_is_estimated_for_its_slot(clean: Driver,
                                                 openapi: dict[str, Any]) -> None:
    window = {"start": "2031-01-01T10:00:00Z", "end": "2031-01-01T11:00:00Z"}
    quote = clean.quote(time_window=window, amount={"value": 90, "currency": "INR"})
    estimate = documented(openapi, "Estimate", quote.answer)
    assert estimate["order"]["mode"] == "reservation"
    assert estimate["validity"] == {"startDate": window["start"], "endDate": window["end"]}
    assert estimate["energy"]["value"] == 5.0  # the budget buys less than the 20 kWh asked
    select = next(r for r in clean.sent(quote.txn) if r.action == "select").json()
    preferences = select["message"]["order"]["beckn:orderAttributes"]["preferences"]
    assert preferences == {"startTime": window["start"], "endTime": window["end"]}
    shown = documented(openapi, "OrderView", quote.order("GET"))
    assert shown["order"] == {"id": quote.id, "status": "quoted_price", "mode": "RESERVATION"}
    assert [r.action for r in clean.sent(quote.txn)] == ["discover", "select"]  # nothing asked


def test_an_order_cancelled_before_charging_is_refunded_less_the_fee(
        clean: Driver, openapi: dict[str, Any]) -> None:
    quote = clean.paid()
    paid = quote.answer.json()["amount"]["value"]
    estimate = documented(openapi, "CancellationEstimate", quote.order("GET", "/cancel"))
    assert estimate["price_components"] == [
        {"type": "PAID", "value": f"{paid:.2f}", "currency": "INR", "description": "Amount paid"},
        {"type": "FEE", "value": "10.00", "currency": "INR",
         "description": "Cancellation charges (estimate)"}]
    assert "cancel" not in [r.action for r in clean.sent(quote.txn)]
    cancelled = documented(openapi, "Cancellation", quote.order(
        "POST", "/cancel", json={"cancel_reason": "Change of plans",
                                 "cancel_code": "USER_INITIATED"}))
    assert cancelled["order"]["status"] == "CANCELLED"
    assert cancelled["payment"] == {"status": "REFUNDED"}
    assert cancelled["price_components"] == [
        {"type": "FEE", "value": "10.00", "currency": "INR",
         "description": "Cancellation charges"},
        {"type": "REFUND", "value": f"{-(paid - 10):.2f}", "currency": "INR",
         "description": "Cancellation refund"}]
    assert clean.sent(quote.txn)[-1].action == "cancel"
    for again in (quote.order("POST", "/cancel"), quote.order("PUT", "/start"),
                  quote.order("GET", "/cancel")):
        error_of(openapi, again, 409)


def test_a_quote_never_paid_is_cancelled_without_asking_the_bpp(
        clean: Driver, openapi: dict[str, Any]) -> None:
    quote = clean.quote()
    cancelled = documented(openapi, "Cancellation", quote.order("POST", "/cancel"))
    assert cancelled["order"]["status"] == "CANCELLED"
    assert [r.action for r in clean.sent(quote.txn)] == ["discover", "select"]


# --- the contract's errors --------------------------------------------------------------------


def test_every_call_needs_the_token(clean: Driver, openapi: dict[str, Any]) -> None:
    for token in (None, "not-the-token"):
        answer = clean.search(token=token)
        assert error_of(openapi, answer, 401)["code"] == "UNAUTHORIZED"
        assert answer.headers["www-authenticate"].startswith("Bearer ")
    basic = clean.search(token=None, headers={"Authorization": f"Basic {clean.token}"})
    error_of(openapi, basic, 401)
    for path, item in openapi["paths"].items():  # before anything else is looked at
        for method in item:
            answer = clean.http.request(method, path.replace("{order_id}", "order-1"))
            assert error_of(openapi, answer, 401)["code"] == "UNAUTHORIZED", (method, path)


def test_the_documents_cover_every_route_and_fault(clean: Driver,
                                                   openapi: dict[str, Any]) -> None:
    routes = {(method.upper(), path) for path, item in openapi["paths"].items()
              for method in item}
    assert routes == {
        ("POST", "/v1/search"), ("POST", "/v1/estimate"), ("GET", "/v1/orders/{order_id}"),
        ("POST", "/v1/orders/{order_id}/payment"), ("PUT", "/v1/orders/{order_id}/start"),
        ("PUT", "/v1/orders/{order_id}/stop"), ("GET", "/v1/orders/{order_id}/cancel"),
        ("POST", "/v1/orders/{order_id}/cancel"), ("POST", "/v1/orders/{order_id}/rating"),
        ("GET", "/v1/orders/{order_id}/support")}
    bap_doc = yaml.safe_load(OPENAPI.with_name("bap.yaml").read_text(encoding="utf-8"))
    assert bap_doc["components"]["schemas"]["FaultName"]["enum"] == list(FAULTS)
    listed = clean.http.get("/_control/faults")
    registry = Registry().with_resource(
        "urn:bap", Resource.from_contents(bap_doc, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": "urn:bap#/components/schemas/Faults"},
                                     registry=registry)
    assert not list(validator.iter_errors(listed.json()))


def test_bad_requests_are_400(clean: Driver, openapi: dict[str, Any]) -> None:
    driver = clean
    txn, bpp, connector = driver.ccs2()
    body = {"evse_id": connector["evse_id"], "connector_id": connector["id"], "vehicle": CAR}
    cases = {
        "no transaction": driver.call("POST", "/estimate", bpp=bpp, json=body),
        "transaction not a uuid": driver.call("POST", "/estimate", txn="txn-1", bpp=bpp,
                                              json=body),
        "no bpp": driver.call("POST", "/estimate", txn=txn, json=body),
        "not json": driver.call("POST", "/estimate", txn=txn, bpp=bpp, content=b"{"),
        "not an object": driver.call("POST", "/estimate", txn=txn, bpp=bpp, json=[body]),
        "page 0": driver.call("POST", "/search", params={"page": 0}, json=NEAR_THE_SITE),
        "per_page 101": driver.call("POST", "/search", params={"per_page": 101},
                                    json=NEAR_THE_SITE),
        "page not a number": driver.call("POST", "/search", params={"page": "two"},
                                         json=NEAR_THE_SITE),
    }
    quote = driver.quote()
    cases["another transaction"] = driver.call("GET", f"/orders/{quote.id}",
                                               txn=envelope.new_id(), bpp=quote.bpp)
    cases["another bpp"] = driver.call("GET", f"/orders/{quote.id}", txn=quote.txn,
                                       bpp="other.bpp")
    for case, answer in cases.items():
        assert error_of(openapi, answer, 400)["code"] == "BAD_REQUEST", case


def test_what_does_not_exist_is_404(clean: Driver, openapi: dict[str, Any]) -> None:
    driver = clean
    txn, bpp, connector = driver.ccs2()
    body = {"evse_id": connector["evse_id"], "connector_id": connector["id"], "vehicle": CAR}
    cases = {
        "order": driver.call("GET", "/orders/order-nope", txn=txn, bpp=bpp),
        "bpp": driver.call("POST", "/estimate", txn=txn, bpp="never.searched", json=body),
        "connector": driver.call("POST", "/estimate", txn=txn, bpp=bpp,
                                 json={**body, "connector_id": "nope"}),
        "evse": driver.call("POST", "/estimate", txn=txn, bpp=bpp,
                            json={**body, "evse_id": "IN*NOPE"}),
        "offer": driver.call("POST", "/estimate", txn=txn, bpp=bpp,
                             json={**body, "offer_id": "offer-nope"}),
    }
    for case, answer in cases.items():
        assert error_of(openapi, answer, 404)["code"] == "NOT_FOUND", case
    assert cases["order"].json()["error"]["details"]["order_id"] == "order-nope"
    unknown = driver.http.get("/v1/nowhere", headers={"Authorization": f"Bearer {driver.token}"})
    error_of(openapi, unknown, 404)
    wrong_method = driver.call("DELETE", "/search")
    assert error_of(openapi, wrong_method, 405)["code"] == "METHOD_NOT_ALLOWED"


def test_calls_the_order_state_does_not_allow_are_409(clean: Driver,
                                                      openapi: dict[str, Any]) -> None:
    quote = clean.quote()
    for answer in (quote.order("PUT", "/start"), quote.order("PUT", "/stop"),
                   quote.order("POST", "/rating", json={"value": 4}),
                   quote.order("POST", "/rating", json={"value": 4.0})):  # the integer 4
        assert error_of(openapi, answer, 409)["code"] == "CONFLICT"
    paid = clean.paid()
    refused = error_of(openapi, paid.order("PUT", "/start"), 409)  # no car plugged in
    assert refused["details"]["bpp_error"]["code"] == "40006"
    again = clean.call("POST", "/estimate", txn=paid.txn, bpp=paid.bpp, json={
        "evse_id": paid.connector["evse_id"], "connector_id": paid.connector["id"],
        "vehicle": CAR})
    error_of(openapi, again, 409)  # the transaction's order is past its estimate


@pytest.mark.parametrize("body, field", [
    ({}, ""),
    ({"geo_coordinates": [12.9, 77.6]}, "/distance_meters"),
    ({"geo_coordinates": [95, 77.6], "distance_meters": 10}, "/geo_coordinates"),
    ({"geo_coordinates": [12.9, 77.6], "distance_meters": 60000}, "/distance_meters"),
    ({"evse_id": 7}, "/evse_id"),
    ({"evse_id": " "}, "/evse_id"),
    ({**NEAR_THE_SITE, "filters": {"connector_type": "SCHUKO"}}, "/filters/connector_type"),
    ({**NEAR_THE_SITE, "time_window": {"start": "tomorrow"}}, "/time_window/start"),
])
def test_invalid_search_fields_are_422(clean: Driver, openapi: dict[str, Any],
                                       body: dict[str, Any], field: str) -> None:
    error = error_of(openapi, clean.search(body), 422)
    assert error["code"] == "UNPROCESSABLE_ENTITY" and error["details"]["field"] == field


def test_invalid_fields_of_an_order_are_422(clean: Driver, openapi: dict[str, Any]) -> None:
    driver = clean
    txn, bpp, connector = driver.ccs2()
    body = {"evse_id": connector["evse_id"], "connector_id": connector["id"], "vehicle": CAR}
    cases = {
        "/vehicle": {k: v for k, v in body.items() if k != "vehicle"},
        "/vehicle/type": {**body, "vehicle": {**CAR, "type": "truck"}},
        "/vehicle/make": {**body, "vehicle": {**CAR, "make": " "}},
        "/energy/value": {**body, "energy": {"value": -1, "unit": "kWh"}},
        "/energy/unit": {**body, "energy": {"value": 2, "unit": "MWh"}},
        "/amount/currency": {**body, "amount": {"value": 100, "currency": "USD"}},
        "/time_window": {**body, "time_window": {"start": "2031-01-01T10:00:00Z"}},
    }
    for field, wrong in cases.items():
        answer = driver.call("POST", "/estimate", txn=txn, bpp=bpp, json=wrong)
        assert error_of(openapi, answer, 422)["details"]["field"] == field, field
    quote = driver.quote()
    error_of(openapi, quote.order("POST", "/payment", json={"payment_method": "Cash"}), 422)
    error_of(openapi, quote.order("POST", "/rating", json={"value": 6}), 422)
    error_of(openapi, quote.order("POST", "/rating", json={"value": 4, "feedback": {
        "tags": "fast"}}), 422)


# --- fault switches ---------------------------------------------------------------------------


def _context(exchange: Exchange) -> dict[str, Any]:
    context = exchange.json()["context"]
    assert isinstance(context, dict)
    return context


def symptom_confirm_without_init(driver: Driver) -> None:
    quote = driver.quote()
    refused = quote.order("POST", "/payment")
    assert refused.status_code == 409, refused.text
    assert [r.action for r in driver.sent(quote.txn)] == ["discover", "select", "confirm"]


def symptom_signs_with_another_key(driver: Driver) -> None:
    txn = envelope.new_id()
    refused = driver.search(txn=txn)
    assert refused.status_code == 502, refused.text
    discover = driver.sent(txn)[0]
    header = signing.parse_header(discover.header("authorization") or "")
    assert header.subscriber_id == "other-bap.mock.ubc" != _context(discover)["bap_id"]
    assert discover.status == 401


def symptom_shows_other_price(driver: Driver) -> None:
    quote = driver.quote()
    on_select = driver.beckn(quote.txn, "on_select")
    assert on_select is not None
    total = on_select.json()["message"]["order"]["beckn:orderValue"]["value"]
    estimate = quote.answer.json()
    assert estimate["amount"]["value"] == round(total * 0.9, 2) != total
    assert round(sum(c["value"] for c in estimate["priceComponents"]), 2) == total


def symptom_reuses_message_id(driver: Driver) -> None:
    quote = driver.quote()
    assert quote.order("POST", "/payment").status_code == 200
    discover, select, init = driver.sent(quote.txn)[:3]
    assert discover.message_id == select.message_id == init.message_id


def symptom_changes_transaction_id(driver: Driver) -> None:
    quote = driver.quote()
    paid = quote.order("POST", "/payment")
    assert paid.status_code == 200, paid.text
    select = next(r for r in driver.sent(quote.txn) if r.action == "select")
    new = paid.headers["x-transaction-id"]
    assert new != quote.txn == select.transaction_id
    assert [r.action for r in driver.sent(new)][:1] == ["init"]


def symptom_nacks_every_callback(driver: Driver) -> None:
    bap, bpp = driver.network.bap, driver.network.participants["bpp"]
    assert bap is not None
    from harness.beckn.order import Order

    item = "IND*ecopower-charging*cs-01*IN*ECO*BTM*01*CCS2*A*CCS2-A"
    call = driver.network.group.run(bap.select(Order(seller="ecopower-charging", item_id=item,
                                                     quantity_kwh=2.0),
                                               bpp_uri=bpp.uri, bpp_id=bpp.subscriber_id,
                                               wait=False))
    refused = driver.network.transcript.wait_for(
        lambda e: e.direction == INBOUND and e.party == "bap" and e.action == "on_select"
        and e.message_id == call.message_id and e.status is not None, WAIT_S)
    assert refused is not None and refused.status == 400  # a valid on_select of the real BPP
    assert not [f for f in schemas.load().validate(refused.json()) if f.is_error]
    # The driver's search: the app refuses every on_discover, and says so once they stopped
    # coming, instead of waiting out its ttl for an answer it will never accept.
    started = time.monotonic()
    found = driver.search()
    assert found.status_code == 504, found.text
    assert re.search(r"this app accepted: it refused the \d+ that came",
                     found.json()["error"]["message"]), found.text
    assert time.monotonic() - started < bap.ttl_s / 2


def _notice(driver: Driver, quote: Quote, status: str) -> tuple[bytes, str]:
    """An unsolicited on_status from the BPP saying the order is `status`, and its signature."""
    confirmed = driver.beckn(quote.txn, "on_confirm")
    assert confirmed is not None
    doc = confirmed.json()
    doc["context"] = envelope.callback_context(doc["context"], unsolicited=True,
                                               action="on_status")
    doc["message"]["order"]["beckn:orderStatus"] = status
    raw = orjson.dumps(doc)
    signer = signing.Signer.from_keypair(driver.network.keys_for("bpp"))
    return raw, signer.sign(raw)


def _tampered_notice(driver: Driver, quote: Quote) -> httpx.Response:
    """Signed saying CONFIRMED, then altered to say CANCELLED."""
    raw, signature = _notice(driver, quote, "CONFIRMED")
    tampered = raw.replace(b'"CONFIRMED"', b'"CANCELLED"')
    return httpx.post(f"{driver.network.participants['bap'].uri}/on_status", content=tampered,
                      headers={"Authorization": signature, "Content-Type": "application/json"},
                      timeout=WAIT_S)


def symptom_accepts_bad_signature(driver: Driver) -> None:
    quote = driver.paid()
    order = driver.app.orders.find(quote.id)
    assert order is not None and order.status == "CONFIRMED"
    taken = threading.Event()

    async def observer(inbound: Inbound) -> None:
        if inbound.context.get("transaction_id") == quote.txn:
            taken.set()
    assert driver.network.bap is not None
    driver.network.bap.observe(observer)
    answer = _tampered_notice(driver, quote)
    assert answer.status_code == 200  # ACKed
    assert taken.wait(WAIT_S)
    assert order.status == "CANCELLED"  # and applied


def symptom_selects_unknown_item(driver: Driver) -> None:
    quote = driver.quote()
    assert quote.answer.status_code == 404, quote.answer.text
    assert quote.answer.json()["error"]["details"]["bpp_error"]["code"] == "30004"
    select = driver.sent(quote.txn)[-1].json()
    ordered = select["message"]["order"]["beckn:orderItems"][0]["beckn:orderedItem"]
    assert ordered == f"{quote.connector['id']}-NOT-IN-CATALOG"


def symptom_insane_timestamp(driver: Driver) -> None:
    txn = envelope.new_id()
    driver.search(txn=txn)
    discover = driver.sent(txn)[0]
    context = _context(discover)
    stamp = wire_time.epoch(context["timestamp"])
    assert stamp is not None and discover.wall_time - stamp > 86000
    assert context["ttl"] == "PT0S"


def symptom_ignores_unsolicited_status(driver: Driver) -> None:
    quote = driver.quote()
    assert quote.order("POST", "/payment").status_code == 200
    notice = driver.beckn(quote.txn, "on_status")
    assert notice is not None and dig(notice.json(), "message", "order",
                                      "beckn:payment", "beckn:paymentStatus") == "COMPLETED"
    assert driver.beckn(quote.txn, "on_confirm", timeout=1.5) is None  # no confirm follows
    order = driver.app.orders.find(quote.id)
    assert order is not None and order.shown_payment() == "PENDING"  # shown stale


def symptom_accepts_offer_at_other_price(driver: Driver) -> None:
    quote = driver.quote()
    select = driver.sent(quote.txn)[-1].json()
    accepted = select["message"]["order"]["beckn:orderItems"][0]["beckn:acceptedOffer"]
    shown = [e for e in driver.network.transcript.query(party="bap", direction=INBOUND,
                                                         action="on_discover",
                                                         transaction_id=quote.txn)]
    listed = next(o for e in shown for c in e.json()["message"].get("catalogs", [])
                  for o in c.get("beckn:offers", []) if o["beckn:id"] == accepted["beckn:id"])
    assert accepted["beckn:price"]["value"] == round(listed["beckn:price"]["value"] * 0.5, 2)


def symptom_names_unregistered_uri(driver: Driver) -> None:
    txn = envelope.new_id()
    driver.search(txn=txn)
    discover = driver.sent(txn)[0]
    assert _context(discover)["bap_uri"] == "http://localhost:8080/beckn"
    assert discover.status == 400  # the CDS NACKs a bap_uri the registry does not hold


def symptom_crashes_on_bad_input(driver: Driver) -> None:
    quote = driver.quote()
    # the server drops the connection after a crash: not one the fixture's client reuses
    crashed = quote.order("POST", "/rating", json={"value": "five"},
                          headers={"Connection": "close"})
    assert crashed.status_code == 500, crashed.text
    assert crashed.json()["error"]["code"] == "INTERNAL_ERROR"


def symptom_no_auth_on_reads(driver: Driver) -> None:
    quote = driver.quote()
    shown = driver.call("GET", f"/orders/{quote.id}", txn=quote.txn, bpp=quote.bpp, token=None)
    assert shown.status_code == 200 and shown.json()["order"]["id"] == quote.id
    assert quote.order("POST", "/payment", token=None).status_code == 401  # writes still ask


def _charging(driver: Driver) -> Quote:
    """A paid order, the car plugged in and charging started."""
    quote = driver.paid()
    driver.plug_in(quote.connector["id"])
    started = quote.order("PUT", "/start")
    assert started.status_code == 200 and started.json()["charging"] == {"status": "ACTIVE"}
    return quote


def symptom_shows_stale_state(driver: Driver) -> None:
    quote = _charging(driver)
    shown = quote.order("GET")
    assert shown.json()["charging"] == {"status": "IDLE"}, shown.text  # as before the start
    order = driver.app.orders.find(quote.id)
    assert order is not None and order.shown_charging() == "ACTIVE"


def symptom_shows_first_reading(driver: Driver) -> None:
    quote = _charging(driver)
    first = quote.order("GET").json()["chargingTelemetry"]["eventTime"]
    charger = driver.network.charger
    assert charger is not None
    driver.on_loop(lambda: charger.advance(180))  # three minutes of charging: new readings
    shown = quote.order("GET").json()["chargingTelemetry"]
    order = driver.app.orders.find(quote.id)
    assert order is not None and order.telemetry is not None
    assert shown["eventTime"] == first != order.telemetry["eventTime"]


def symptom_keeps_cancellation_fee_off(driver: Driver) -> None:
    quote = driver.paid()
    paid = quote.answer.json()["amount"]["value"]
    cancelled = quote.order("POST", "/cancel").json()
    assert [c["value"] for c in cancelled["price_components"]] == ["0.00", f"{-paid:.2f}"]
    on_cancel = driver.beckn(quote.txn, "on_cancel")
    assert on_cancel is not None
    refunded = on_cancel.json()["message"]["order"]["beckn:payment"]["beckn:amount"]["value"]
    assert refunded == round(paid - 10, 2)  # the BPP kept its fee


def symptom_ignores_slot(driver: Driver) -> None:
    window = {"start": "2031-01-01T10:00:00Z", "end": "2031-01-01T11:00:00Z"}
    quote = driver.quote(time_window=window)
    assert quote.answer.json()["order"]["mode"] == "reservation"
    assert quote.order("POST", "/payment").status_code == 200
    sent = {r.action: r.json()["message"]["order"] for r in driver.sent(quote.txn)
            if r.action in ("select", "init")}
    assert "preferences" not in sent["select"].get("beckn:orderAttributes", {})
    assert sent["init"]["beckn:orderAttributes"]["preferences"] == {
        "startTime": window["start"], "endTime": window["end"]}


def _stale_update(driver: Driver, quote: Quote) -> httpx.Response:
    """An on_update out of order (harness/certify/bap/hostile.py): the order as on_init
    reported it, stamped then, under a new message id, correctly signed by the BPP."""
    on_init = driver.beckn(quote.txn, "on_init")
    assert on_init is not None
    doc = on_init.json()
    doc["context"] = envelope.callback_context(doc["context"], unsolicited=True,
                                               action="on_update",
                                               timestamp=doc["context"]["timestamp"])
    raw = orjson.dumps(doc)
    signature = signing.Signer.from_keypair(driver.network.keys_for("bpp")).sign(raw)
    return httpx.post(f"{driver.network.participants['bap'].uri}/on_update", content=raw,
                      headers={"Authorization": signature, "Content-Type": "application/json"},
                      timeout=WAIT_S)


def _from_other_bpp(driver: Driver, quote: Quote) -> httpx.Response:
    """An on_status restating the order, from the network's second BPP, signed as itself
    (harness/certify/bap/hostile.py): the order is with the first."""
    on_confirm = driver.beckn(quote.txn, "on_confirm")
    assert on_confirm is not None
    doc = on_confirm.json()
    other = driver.network.participants["other-bpp"]
    doc["context"] = {**envelope.callback_context(doc["context"], unsolicited=True,
                                                  action="on_status"),
                      "bpp_id": other.subscriber_id, "bpp_uri": other.uri}
    doc["message"]["order"]["beckn:orderStatus"] = "CANCELLED"
    raw = orjson.dumps(doc)
    signature = signing.Signer.from_keypair(driver.network.keys_for("other-bpp")).sign(raw)
    return httpx.post(f"{driver.network.participants['bap'].uri}/on_status", content=raw,
                      headers={"Authorization": signature, "Content-Type": "application/json"},
                      timeout=WAIT_S)


def symptom_accepts_any_bpp(driver: Driver) -> None:
    quote = driver.paid()
    assert _from_other_bpp(driver, quote).status_code == 200  # ACKed


def symptom_acks_stale_callback(driver: Driver) -> None:
    quote = driver.paid()
    assert _stale_update(driver, quote).status_code == 200  # ACKed
    order = driver.app.orders.find(quote.id)
    assert order is not None and order.status == "CONFIRMED"  # the newer state kept


@contextlib.contextmanager
def slot_held(driver: Driver, start: str, end: str) -> Iterator[None]:
    """Another driver holds the site's CCS2 connector from `start` to `end`."""
    charger = driver.network.charger
    assert charger is not None
    held = driver.on_loop(lambda: charger.reserve(
        "CCS2-A", wire_time.epoch(start) or 0.0, wire_time.epoch(end) or 0.0))
    try:
        yield
    finally:
        driver.on_loop(lambda: charger.cancel_reservation(held.id))


OVERLAPPING = {"start": "2032-03-01T10:30:00Z", "end": "2032-03-01T11:30:00Z"}


def overlapping_quote(driver: Driver) -> Quote:
    with slot_held(driver, "2032-03-01T10:00:00Z", "2032-03-01T11:00:00Z"):
        quote = driver.quote(time_window=OVERLAPPING)
    on_select = driver.beckn(quote.txn, "on_select")
    assert on_select is not None and on_select.json()["error"]["code"] == "40000"
    return quote


def symptom_quotes_a_rejected_select(driver: Driver) -> None:
    quote = overlapping_quote(driver)
    assert quote.answer.status_code == 200, quote.answer.text
    assert quote.answer.json()["order"]["status"] == "quoted_price"


SYMPTOMS: dict[str, Callable[[Driver], None]] = {
    name: globals()[f"symptom_{name.replace('-', '_')}"] for name in FAULTS}


def test_fault_table_names_catalogued_or_proposed_rules() -> None:
    assert len(FAULTS) >= 8
    for name, fault in FAULTS.items():
        assert fault.rule in rules.BY_ID or fault.rule in PROPOSED_RULES, name
        assert fault.proposed == (fault.rule in PROPOSED_RULES) and fault.description
    for rule, (title, spec) in PROPOSED_RULES.items():
        assert rule not in rules.BY_ID, f"{rule} is catalogued now: drop it from PROPOSED_RULES"
        assert title and spec


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_shows_its_misbehaviour_on_the_wire(clean: Driver, fault: str) -> None:
    answer = clean.http.put("/_control/faults", json={"faults": [fault]})
    assert answer.status_code == 200 and answer.json()["faults"] == [fault]
    SYMPTOMS[fault](clean)


def test_without_faults_the_same_probes_conform(clean: Driver) -> None:
    """The symptoms come from the switches, not from the BAP's normal behaviour."""
    quote = clean.paid()
    assert quote.answer.json()["amount"]["value"] == clean.beckn(
        quote.txn, "on_select").json()["message"]["order"]["beckn:orderValue"]["value"]
    sent = clean.sent(quote.txn)
    assert [r.action for r in sent] == ["discover", "select", "init", "confirm", "status"]
    assert len({r.message_id for r in sent}) == 5 and all(r.status == 200 for r in sent)
    for request in sent:
        context = _context(request)
        assert context["ttl"] == "PT5S" and context["bap_id"] == "bap.mock.ubc"
        assert abs(request.wall_time - (wire_time.epoch(context["timestamp"]) or 0)) < 5
    assert _tampered_notice(clean, quote).status_code == 401
    order = clean.app.orders.find(quote.id)
    assert order is not None and order.status == "CONFIRMED"


def test_a_callback_out_of_order_is_refused_and_changes_nothing(clean: Driver) -> None:
    quote = clean.paid()
    refused = _stale_update(clean, quote)
    assert refused.status_code == 400 and "CONFIRMED to CREATED" in refused.text
    shown = quote.order("GET").json()
    assert (shown["order"]["status"], shown["payment"]) == ("ACTIVE", {"status": "PAID"})


def test_a_callback_about_the_order_from_another_bpp_is_refused(clean: Driver) -> None:
    quote = clean.paid()
    refused = _from_other_bpp(clean, quote)
    assert refused.status_code == 400, refused.text
    assert "from 'other-bpp.mock.ubc'" in refused.text and "'bpp.mock.ubc'" in refused.text
    assert quote.order("GET").json()["order"]["status"] == "ACTIVE"  # not the CANCELLED sent


def test_a_refused_select_reaches_the_driver_as_a_409(clean: Driver,
                                                      openapi: dict[str, Any]) -> None:
    """TSD §12.4: an overlapping slot is REJECTED with 40000; the driver gets 409 CONFLICT."""
    refused = error_of(openapi, overlapping_quote(clean).answer, 409)
    assert refused["code"] == "CONFLICT" and refused["details"]["bpp_error"]["code"] == "40000"


def test_the_refund_the_bpp_reports_after_the_bill_shows(clean: Driver) -> None:
    """TSD §12.5.1: the bill (on_update), then the refund (an unsolicited on_status); an
    ended order is not asked about again, so the refund shows because the app took it in."""
    quote = clean.paid()
    refunded = threading.Event()

    async def observer(inbound: Inbound) -> None:  # after the app's own observer took it in
        if inbound.context.get("transaction_id") == quote.txn and dig(
                inbound.message, "order", "beckn:payment", "beckn:paymentStatus") == "REFUNDED":
            refunded.set()
    assert clean.network.bap is not None
    clean.network.bap.observe(observer)
    clean.plug_in(quote.connector["id"])
    assert quote.order("PUT", "/start").status_code == 200
    assert quote.order("PUT", "/stop").status_code == 200
    assert refunded.wait(WAIT_S)
    asked = len(clean.sent(quote.txn))
    shown = quote.order("GET").json()
    assert (shown["order"]["status"], shown["payment"], shown["charging"]) == (
        "COMPLETED", {"status": "REFUNDED"}, {"status": "COMPLETED"})
    assert len(clean.sent(quote.txn)) == asked  # nothing asked of the BPP


def test_faults_are_listed_and_switched_through_the_control_api(clean: Driver) -> None:
    listed = clean.http.get("/_control/faults").json()
    assert listed["faults"] == [] and [f["name"] for f in listed["available"]] == list(FAULTS)
    assert all(f["rule"].startswith("UBC-") for f in listed["available"])
    bad = clean.http.put("/_control/faults", json={"faults": ["no-such-fault"]})
    assert bad.status_code == 400 and "no-such-fault" in bad.json()["error"]["message"]
    assert clean.http.put("/_control/faults", content=b"[").status_code == 400


# --- the reference BAP standalone ---------------------------------------------------------------


def test_reference_bap_prints_its_client_api_and_writes_it_to_the_candidate(
        tmp_path: Path) -> None:
    from harness.selftest import free_port_base

    port = free_port_base()
    path = tmp_path / "bap.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "reference", "bap", "--port", str(port),
         "--registry-url", "http://127.0.0.1:9", "--write-candidate", str(path),
         "--fault", "shows-other-price"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        printed = "".join(lines)
        cand = candidate.load(path)
        assert path.stat().st_mode & 0o077 == 0  # the token is for its owner's eyes
        assert cand.client_api_url == f"http://127.0.0.1:{port}/v1"
        assert f"client API {cand.client_api_url}, Bearer token {cand.client_api_token}" in \
            printed
        assert "with faults shows-other-price" in printed
        token = {"Authorization": f"Bearer {cand.client_api_token}"}
        assert httpx.post(f"{cand.client_api_url}/search", json=NEAR_THE_SITE,
                          timeout=WAIT_S).status_code == 401
        no_cds = httpx.post(f"{cand.client_api_url}/search", json=NEAR_THE_SITE,
                            headers=token, timeout=WAIT_S)
        assert no_cds.status_code == 502 and no_cds.json()["error"]["code"] == "UPSTREAM_ERROR"
    finally:
        process.terminate()
        process.communicate(timeout=30)
    listed = subprocess.run([sys.executable, "-m", "harness.cli", "reference", "bap",
                             "--list-faults"], capture_output=True, text=True, timeout=60,
                            check=False)
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert listed.returncode == 0 and [r[0] for r in rows] == list(FAULTS)
