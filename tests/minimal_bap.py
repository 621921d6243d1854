"""A deliberately minimal BAP (a driver's app) written from the specs alone: the /v1 client API
of client-api-contract.md, the Beckn 2.0 / UBC messages as the TSD's examples show them, and
BECKN-006 signatures. It shares no code with the reference BAP (mocks/bap/) or the harness, so
certifying it (tests/test_minimal_bap.py) shows the BAP features judge an app they were not
written beside.

One Starlette app on one port: the Beckn callbacks at /beckn/on_* (signatures verified against
the registry's /lookup; ACK, or NACK 401/4xx) and the driver's /v1 API, each call answered from
the callbacks of the Beckn requests behind it, waited for within the ttl.

    python tests/minimal_bap.py --port 9100 --registry-url URL --cds-url URL/beckn \\
        --write-candidate bap.toml [--reuse-message-id] [--own-transaction-ids]

--reuse-message-id breaks it on purpose: every request of a transaction carries the message_id
of the first one (UBC-CTX-023). --own-transaction-ids makes a choice the contract leaves open
the other way: each order gets a Beckn transaction_id of the app's own, apart from the driver's
X-Transaction-Id, which keeps tracking it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import hashlib
import json
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DOMAIN, VERSION, SKEW_S, MAX_BODY = "beckn.one:deg:ev-charging", "2.0.0", 5, 1 << 20
CORE = ("https://raw.githubusercontent.com/beckn/protocol-specifications-v2/refs/heads/"
        "core-v2.0.0-rc/schema/core/v2/context.jsonld")
BUYER = {"@context": CORE, "@type": "beckn:Buyer", "beckn:id": "driver-1", "beckn:role": "BUYER",
         "beckn:displayName": "A. Driver", "beckn:telephone": "+91-9000000000"}
PAY_METHODS = {"CREDIT_CARD": "Card", "DEBIT_CARD": "Card", "WALLET": "Wallet",
               "BANK_TRANSFER": "BankTransfer", "NET_BANKING": "NetBanking"}
# Beckn states -> the contract's (client-api-contract.md, appendix)
ORDER = {"COMPLETED": "COMPLETED", "REFUNDED": "COMPLETED", "CANCELLED": "CANCELLED",
         "REJECTED": "CANCELLED", "FAILED": "CANCELLED", "RETURNED": "CANCELLED"}  # else ACTIVE
PAYMENT = {"COMPLETED": "PAID", "REFUNDED": "REFUNDED", "FAILED": "FAILED"}  # else PENDING
CHARGING = {"ACTIVE": "ACTIVE", "COMPLETED": "COMPLETED", "STOP": "STOPPED"}  # else IDLE
Json = dict[str, Any]


def now_iso(later_s: float = 0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=later_s)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dig(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


# -- BECKN-006: ed25519 over "(created) (expires) digest", digest BLAKE2b-512 of the raw body --

def signing_string(created: str, expires: str, body: bytes) -> bytes:
    digest = base64.b64encode(hashlib.blake2b(body, digest_size=64).digest()).decode()
    return f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={digest}".encode()


def sign(key: SigningKey, key_id: str, body: bytes, valid_s: int) -> str:
    created, expires = str(int(time.time())), str(int(time.time()) + valid_s)
    signature = base64.b64encode(key.sign(signing_string(created, expires, body)).signature)
    return (f'Signature keyId="{key_id}|ed25519",algorithm="ed25519",created="{created}",'
            f'expires="{expires}",headers="(created) (expires) digest",'
            f'signature="{signature.decode()}"')


def signature_params(header: str) -> dict[str, str]:
    if not header.startswith("Signature "):
        raise ValueError("no Signature authorization")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def verify(params: dict[str, str], body: bytes, public_key: str) -> str | None:
    """Why the signature is not valid now, or None."""
    try:
        if params.get("algorithm", "ed25519") != "ed25519":
            return "algorithm is not ed25519"
        if int(params["created"]) > time.time() + SKEW_S or time.time() > int(params["expires"]):
            return "signature not valid now (created, expires)"
        VerifyKey(base64.b64decode(public_key)).verify(
            signing_string(params["created"], params["expires"], body),
            base64.b64decode(params["signature"]))
    except (KeyError, ValueError, BadSignatureError) as exc:
        return f"bad signature ({type(exc).__name__})"
    return None


# -- the app -----------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


@dataclass
class Order:
    id: str
    transaction_id: str
    bpp_id: str
    bpp_uri: str
    item: Json
    vehicle: Json
    mode: str
    beckn: Json = field(default_factory=dict)  # the order as the BPP last described it
    telemetry: Json | None = None
    tracking_url: str | None = None
    confirming: bool = False

    def status(self, *path: str) -> str:
        return str(dig(self.beckn, *path) or "")

    def view(self) -> Json:
        """The order, payment and charging states as the contract names them."""
        session = self.status("beckn:fulfillment", "beckn:deliveryAttributes", "sessionStatus")
        return {"order": {"id": self.id, "mode": self.mode.upper(),
                          "status": ORDER.get(self.status("beckn:orderStatus"), "ACTIVE")},
                "payment": {"status": PAYMENT.get(self.status(
                    "beckn:payment", "beckn:paymentStatus"), "PENDING")},
                "charging": {"status": CHARGING.get(session, "IDLE")}}


class MinimalBap:
    def __init__(self, *, subscriber_id: str, base_url: str, registry_url: str, cds_url: str,
                 ttl_s: int = 30, reuse_message_id: bool = False,
                 own_transactions: bool = False) -> None:
        self.subscriber_id, self.key = subscriber_id, SigningKey.generate()
        self.key_id = f"{subscriber_id}-{int(time.time())}"
        self.uri, self.api_url = f"{base_url}/beckn", f"{base_url}/v1"
        self.registry_url, self.cds_url = registry_url.rstrip("/"), cds_url.rstrip("/")
        self.ttl_s, self.reuse, self.token = ttl_s, reuse_message_id, secrets.token_urlsafe(24)
        self.own_transactions = own_transactions
        self.orders: dict[str, Order] = {}
        self.transactions: dict[str, Order | None] = {}  # None: a search's
        self.first_message: dict[str, str] = {}
        self.answers: dict[tuple[str, str], list[Json]] = {}  # (message_id, action) -> bodies
        self.catalogs: dict[str, Json] = {}  # bpp_id -> its latest catalog
        self.seen: set[bytes] = set()
        self.changed = asyncio.Condition()
        self.tasks: set[asyncio.Task[None]] = set()
        self.http = httpx.AsyncClient(timeout=10)

    def candidate_toml(self) -> str:
        """The candidate file of `ubc-cert run` (README, "The candidate file")."""
        fields = {"role": "bap", "subscriber_id": self.subscriber_id, "key_id": self.key_id,
                  "signing_public_key": base64.b64encode(bytes(self.key.verify_key)).decode(),
                  "uri": self.uri, "client_api_url": self.api_url,
                  "client_api_token": self.token}
        return "".join(f"{name} = {json.dumps(value)}\n" for name, value in fields.items())

    async def wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        async with self.changed:
            try:
                async with asyncio.timeout(timeout):
                    await self.changed.wait_for(ready)
            except TimeoutError:
                return False
        return True

    # -- Beckn requests and their callbacks ----------------------------------------------------

    async def send(self, action: str, transaction_id: str, message: Json, to: str,
                   order: Order | None = None) -> str:
        """Sign and send one request; its message_id, once ACKed."""
        message_id = str(uuid.uuid4())
        if self.reuse:
            message_id = self.first_message.setdefault(transaction_id, message_id)
        context = {"version": VERSION, "action": action, "domain": DOMAIN,
                   "bap_id": self.subscriber_id, "bap_uri": self.uri,
                   "transaction_id": transaction_id, "message_id": message_id,
                   "timestamp": now_iso(), "ttl": f"PT{self.ttl_s}S"}
        if order is not None:
            context |= {"bpp_id": order.bpp_id, "bpp_uri": order.bpp_uri}
        body = json.dumps({"context": context, "message": message}).encode()
        signature = sign(self.key, f"{self.subscriber_id}|{self.key_id}", body, self.ttl_s)
        try:
            answer = await self.http.post(f"{to}/{action}", content=body, headers={
                "Content-Type": "application/json", "Authorization": signature})
            acked = answer.status_code < 300 and dig(answer.json(), "message", "ack",
                                                     "status") == "ACK"
        except (httpx.HTTPError, ValueError) as exc:
            raise ApiError(502, "UPSTREAM_ERROR", f"{action} to {to} failed: {exc}") from None
        if not acked:
            raise ApiError(502, "UPSTREAM_ERROR", f"{action} was not acknowledged",
                           answer=answer.text[:500])
        return message_id

    async def ask(self, action: str, order: Order, message: Json) -> Json:
        """One request to the order's BPP; its callback's message, within the ttl."""
        key = (await self.send(action, order.transaction_id, message, order.bpp_uri, order),
               f"on_{action}")
        if not await self.wait(lambda: key in self.answers, self.ttl_s):
            raise ApiError(504, "UPSTREAM_TIMEOUT", f"no on_{action} within {self.ttl_s} s")
        body = self.answers[key][-1]
        if body.get("error"):
            raise ApiError(409, "CONFLICT", f"the BPP refused the {action}",
                           bpp_error=body["error"])
        return body.get("message") or {}

    async def public_key(self, subscriber_id: str, key_id: str) -> str | None:
        """The registry's key for the signer, if it is SUBSCRIBED and valid now."""
        try:
            records = (await self.http.post(f"{self.registry_url}/lookup", json={
                "subscriber_id": subscriber_id, "key_id": key_id})).json()
        except (httpx.HTTPError, ValueError):
            return None
        now = now_iso()
        return next((r["signing_public_key"] for r in records if isinstance(r, dict)
                     and r.get("status") == "SUBSCRIBED" and r.get("subscriber_id") ==
                     subscriber_id and r.get("valid_from", "") <= now <= r.get(
                         "valid_until", "9") and "signing_public_key" in r), None)

    async def callback(self, request: Request) -> JSONResponse:
        action, body = request.path_params["action"], await request.body()
        if len(body) > MAX_BODY:
            return nack(413, "10002", "the body is over 1 MB")
        try:
            message = json.loads(body)
            transaction_id = message["context"]["transaction_id"]
            message_id, bpp_id = message["context"]["message_id"], message["context"].get("bpp_id")
        except (ValueError, KeyError, TypeError) as exc:
            return nack(400, "30000", f"not a Beckn callback: {exc!r}")
        try:
            params = signature_params(request.headers.get("authorization", ""))
            signer, key_id, _ = params["keyId"].split("|")
        except (ValueError, KeyError) as exc:
            return nack(401, "10001", f"no readable BECKN-006 signature: {exc!r}")
        if action != "on_discover" and signer != bpp_id:  # the CDS signs what it relays
            return nack(401, "10001", f"signed by {signer}, not by the bpp_id {bpp_id}")
        public_key = await self.public_key(signer, key_id)
        why = verify(params, body, public_key) if public_key else "key not in the registry"
        if why:
            return nack(401, "10001", why)
        if transaction_id not in self.transactions:
            return nack(400, "30000", f"unknown transaction {transaction_id}")
        if hashlib.sha256(body).digest() in self.seen:
            return nack(400, "30000", "this callback was received already")
        self.seen.add(hashlib.sha256(body).digest())
        async with self.changed:
            self.answers.setdefault((message_id, action), []).append(message)
            order = self.transactions[transaction_id]
            if order is not None and not message.get("error"):
                self.absorb(order, action, dig(message, "message", "order"))
            self.changed.notify_all()
        return JSONResponse({"message": {"ack": {"status": "ACK"}}})

    def absorb(self, order: Order, action: str, beckn: Any) -> None:
        """What a callback says about the order; a paid order not yet confirmed is confirmed."""
        if not isinstance(beckn, dict):
            return
        # any callback may carry readings (on_track, the final bill's on_update): the newest
        telemetry = dig(beckn, "beckn:fulfillment", "beckn:deliveryAttributes",
                        "chargingTelemetry")
        if isinstance(telemetry, list) and telemetry:
            newest = max(telemetry, key=lambda t: str(dig(t, "eventTime")))
            if not order.telemetry or str(dig(newest, "eventTime")) >= str(
                    dig(order.telemetry, "eventTime")):
                order.telemetry = newest
        if action == "on_track":
            order.tracking_url = dig(beckn, "beckn:fulfillment", "trackingAction", "target",
                                     "url") or order.tracking_url
            return
        order.beckn = beckn
        if order.status("beckn:payment", "beckn:paymentStatus") == "COMPLETED" and \
                order.status("beckn:orderStatus") in ("CREATED", "PENDING") and \
                not order.confirming:
            order.confirming = True
            task = asyncio.get_running_loop().create_task(self.confirm(order))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def confirm(self, order: Order) -> None:
        try:
            await self.ask("confirm", order, {"order": order.beckn})
        except ApiError:
            order.confirming = False  # a later payment notice may try again

    # -- the driver's /v1 API ------------------------------------------------------------------

    async def search(self, request: Request, _: None, body: Json) -> Json:
        asked = [request.query_params.get(name, default)
                 for name, default in (("page", "1"), ("per_page", "20"))]
        if not all(n.isdigit() for n in asked) or int(asked[0]) < 1 or \
                not 1 <= int(asked[1]) <= 100:
            raise ApiError(400, "BAD_REQUEST", "page is 1 or more, per_page 1 to 100",
                           parameter="page")
        page, per_page = int(asked[0]), int(asked[1])
        where, radius = body.get("geo_coordinates"), body.get("distance_meters")
        if isinstance(body.get("evse_id"), str):
            message: Json = {"filters": {"type": "jsonpath", "expression": (
                f"$[?(@['beckn:itemAttributes'].evseId == {json.dumps(body['evse_id'])})]")}}
        elif isinstance(where, list) and len(where) == 2 and isinstance(radius, int | float):
            message = {"spatial": [{
                "op": "s_dwithin", "distanceMeters": radius,
                "targets": "$['beckn:itemAttributes.chargingStation.serviceLocation.geo']",
                "geometry": {"type": "Point", "coordinates": [where[1], where[0]]}}]}
        else:
            raise ApiError(422, "UNPROCESSABLE_ENTITY", "give evse_id, or geo_coordinates "
                           "[lat, lon] and distance_meters", field="/geo_coordinates")
        transaction_id = request.headers.get("x-transaction-id") or str(uuid.uuid4())
        self.transactions.setdefault(transaction_id, None)
        key = (await self.send("discover", transaction_id, message, self.cds_url), "on_discover")
        if await self.wait(lambda: key in self.answers, self.ttl_s):
            answers = self.answers[key]  # more BPPs may answer: until none did for 0.5 s
            while await self.wait(grows(answers), 0.5):
                pass
        catalogs = [c for answer in self.answers.get(key, [])
                    for c in dig(answer, "message", "catalogs") or [] if isinstance(c, dict)]
        self.catalogs |= {str(c.get("beckn:bppId")): c for c in catalogs}
        return {"total": len(catalogs), "page": page, "per_page": per_page, "catalogs": [
            catalog_view(c) for c in catalogs[(page - 1) * per_page:page * per_page]]}

    async def estimate(self, request: Request, _: None, body: Json) -> Json:
        for name in ("evse_id", "connector_id"):
            if not isinstance(body.get(name), str):
                raise ApiError(422, "UNPROCESSABLE_ENTITY", f"{name} is required",
                               field=f"/{name}")
        bpp_id, catalog = request.headers["x-bpp-id"], self.catalogs.get(
            request.headers["x-bpp-id"], {})
        item = next((i for i in catalog.get("beckn:items") or []
                     if i.get("beckn:id") == body["connector_id"] and dig(
                         i, "beckn:itemAttributes", "evseId") in (None, body["evse_id"])), None)
        offer = next((o for o in catalog.get("beckn:offers") or [] if item and item[
            "beckn:id"] in o.get("beckn:items", []) and body.get("offer_id") in (
                None, o.get("beckn:id"))), None)
        if item is None or offer is None:
            raise ApiError(404, "NOT_FOUND", "the BPP's catalog has no such EVSE, "
                           "connector or offer (search first)", field="/connector_id")
        kwh = dig(body, "energy", "value") or \
            (dig(body, "amount", "value") or 0) / offer["beckn:price"]["value"]
        # the driver's X-Transaction-Id tracks the order; the Beckn transaction is its own
        transaction_id = str(uuid.uuid4()) if self.own_transactions else \
            request.headers["x-transaction-id"]
        order = Order(str(uuid.uuid4()), transaction_id, bpp_id,
                      catalog["beckn:bppUri"], item, body.get("vehicle") or {},
                      "reservation" if body.get("time_window") else "instant")
        self.transactions[order.transaction_id] = order
        quote = (await self.ask("select", order, {"order": {
            "@context": CORE, "@type": "beckn:Order", "beckn:orderStatus": "CREATED",
            "beckn:seller": dig(item, "beckn:provider", "beckn:id") or offer["beckn:provider"],
            "beckn:buyer": BUYER, "beckn:orderItems": [{
                "beckn:orderedItem": item["beckn:id"], "beckn:acceptedOffer": offer,
                "beckn:quantity": {"unitText": "Kilowatt Hour", "unitCode": "KWH",
                                   "unitQuantity": kwh}}]}}))["order"]["beckn:orderValue"]
        self.orders[order.id] = order
        power = dig(item, "beckn:itemAttributes", "maxPowerKW") or 1
        return {"order": {"id": order.id, "mode": order.mode, "status": "quoted_price"},
                "amount": {"value": quote["value"], "currency": quote["currency"]},
                "durationInMinutes": str(round(kwh / power * 60)),
                "percentageOfBatteryCharged": str(min(100, round(kwh / 40 * 100))),  # 40 kWh
                "energy": {"value": kwh, "unit": "kWh"},
                "validity": {"startDate": now_iso(), "endDate": now_iso(3600)},
                "priceComponents": quote.get("components") or [],
                "cancellation": {"fee": {"percentage": "0"}}}

    async def payment(self, _: Request, order: Order, body: Json) -> Json:
        payment = (await self.ask("init", order, {"order": order.beckn}))["order"][
            "beckn:payment"]
        return {"order": order.view()["order"], "currency": payment["beckn:amount"]["currency"],
                "amount": payment["beckn:amount"]["value"],
                "acceptedPaymentMethod": sorted({PAY_METHODS.get(m, m) for m in payment.get(
                    "beckn:acceptedPaymentMethod") or ["UPI"]}),
                "payment_url": payment.get("beckn:paymentURL", ""),
                "validity": {"startDate": now_iso(), "endDate": now_iso(3600)}}

    async def get_order(self, _: Request, order: Order, body: Json) -> Json:
        await self.ask("status", order, {"order": order.beckn})
        if order.view()["charging"]["status"] == "ACTIVE":
            await self.ask("track", order, {"order": order.beckn})
        shown = order.view() | {"connectorId": order.item["beckn:id"], "vehicle": order.vehicle,
                                "connectorType": connector_type(order.item)}
        if order.tracking_url:
            shown["trackingUrl"] = order.tracking_url
        if order.telemetry:
            shown["chargingTelemetry"] = {"eventTime": order.telemetry.get("eventTime"),
                                          "metrics": order.telemetry.get("metrics") or []}
        return shown

    async def start(self, _: Request, order: Order, body: Json) -> Json:
        if not await self.wait(lambda: order.status("beckn:orderStatus") not in (
                "", "CREATED", "PENDING"), self.ttl_s):  # the confirm may be under way
            raise ApiError(409, "CONFLICT", "the order is not confirmed: no payment reported")
        await self.ask("update", order, {"order": order.beckn})  # as 09_update: start
        return order.view()

    async def stop(self, _: Request, order: Order, body: Json) -> Json:
        stopping = copy.deepcopy(order.beckn)
        fulfillment = stopping.setdefault("beckn:fulfillment", {
            "@context": CORE, "@type": "beckn:Fulfillment"})
        fulfillment.setdefault("beckn:deliveryAttributes", {})["sessionStatus"] = "STOP"
        await self.ask("update", order, {"order": stopping})  # the bill is its on_update
        components = dig(order.beckn, "beckn:orderValue", "components") or []
        return order.view() | {
            "validity": {"startDate": now_iso(), "endDate": now_iso(3600)},
            "price_components": [c | {"type": "BASE" if c.get("type") == "UNIT" else c["type"]}
                                 for c in components]}

    async def rating(self, _: Request, order: Order, body: Json) -> Json:
        value = body.get("value")
        if type(value) is not int or not 1 <= value <= 5:
            raise ApiError(422, "UNPROCESSABLE_ENTITY", "value is 1 to 5", field="/value")
        form = (await self.ask("rating", order, {"ratings": [{
            "@context": CORE, "@type": "beckn:RatingInput", "id": order.beckn["beckn:id"],
            "ratingValue": value, "bestRating": 5, "worstRating": 1, "category": "ORDER",
            "feedback": body.get("feedback") or {}}]})).get("feedbackForm") or {}
        return {"order": order.view()["order"], "feedbackForm": {
            name: form[name] for name in ("url", "mime_type", "submission_id") if name in form}}

    async def support(self, _: Request, order: Order, body: Json) -> Json:
        info = (await self.ask("support", order, {
            "refId": order.beckn["beckn:id"], "refType": "ORDER",
            "support": {"@context": CORE, "@type": "beckn:SupportInfo",
                        "name": BUYER["beckn:displayName"], "phone": BUYER["beckn:telephone"]}
        })).get("support") or {}
        return {"order": order.view()["order"],
                **{name: info.get(name, "") for name in ("name", "phone", "email", "url",
                                                         "hours")},
                "channels": [str(c).lower() for c in info.get("channels") or []]}

    async def api(self, request: Request, handler: Callable[..., Any]) -> JSONResponse:
        """Bearer token, headers, order and body checked in the contract's error format."""
        try:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                raise ApiError(401, "UNAUTHORIZED", "no Bearer token, or not this app's")
            for header in ("x-transaction-id", "x-bpp-id") if handler != self.search else ():
                if not request.headers.get(header):
                    raise ApiError(400, "BAD_REQUEST", f"{header} is required", header=header)
            order = None
            if "order_id" in request.path_params:
                order = self.orders.get(request.path_params["order_id"])
                if order is None:
                    raise ApiError(404, "NOT_FOUND", "no such order",
                                   order_id=request.path_params["order_id"])
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise ApiError(400, "BAD_REQUEST", "the body is not a JSON object")
            try:
                return JSONResponse(await handler(request, order, body))
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
                raise ApiError(502, "UPSTREAM_ERROR", f"a callback lacked what the app "
                               f"needs: {exc!r}") from None
        except ApiError as exc:
            return JSONResponse(
                {"error": {"code": exc.code, "message": str(exc),
                           "details": exc.details | {"timestamp": now_iso()}}}, exc.status,
                headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)

    def app(self) -> Starlette:
        def route(path: str, method: str, handler: Callable[..., Any]) -> Route:
            async def endpoint(request: Request) -> JSONResponse:
                return await self.api(request, handler)
            return Route(path, endpoint, methods=[method])

        order = "/v1/orders/{order_id}"
        return Starlette(routes=[
            Route("/beckn/{action:str}", self.callback, methods=["POST"]),
            route("/v1/search", "POST", self.search), route("/v1/estimate", "POST", self.estimate),
            route(f"{order}/payment", "POST", self.payment), route(order, "GET", self.get_order),
            route(f"{order}/start", "PUT", self.start), route(f"{order}/stop", "PUT", self.stop),
            route(f"{order}/rating", "POST", self.rating),
            route(f"{order}/support", "GET", self.support)])


def nack(status: int, code: str, why: str) -> JSONResponse:
    challenge = 'Signature realm="minimal-bap",headers="(created) (expires) digest"'
    return JSONResponse({"message": {"ack": {"status": "NACK"}},
                         "error": {"code": code, "message": why}}, status,
                        headers={"WWW-Authenticate": challenge} if status == 401 else None)


def grows(items: list[Any]) -> Callable[[], bool]:
    count = len(items)
    return lambda: len(items) > count


def connector_type(item: Json) -> str:
    return str(dig(item, "beckn:itemAttributes", "connectorType") or "")


def catalog_view(catalog: Json) -> Json:
    """A Beckn catalog as the contract's search lists it."""
    connectors = [{
        "id": item["beckn:id"],
        "geo_coordinates": list(reversed(dig(item, "beckn:itemAttributes", "chargingStation",
                                             "serviceLocation", "geo", "coordinates") or [])),
        "availabilityWindow": [{"startTime": w.get("schema:startTime", ""),
                                "endTime": w.get("schema:endTime", "")}
                               for w in item.get("beckn:availabilityWindow") or []],
        "rating": {"value": dig(item, "beckn:rating", "beckn:ratingValue") or 0,
                   "count": dig(item, "beckn:rating", "beckn:ratingCount") or 0},
        "isActive": item.get("beckn:isActive", True),
        "provider": {"id": dig(item, "beckn:provider", "beckn:id") or "", "descriptor": {
            "name": dig(item, "beckn:provider", "beckn:descriptor", "schema:name") or ""}},
        "connectorAttributes": {
            "connectorType": connector_type(item),
            "maxPowerKW": dig(item, "beckn:itemAttributes", "maxPowerKW") or 0,
            "status": "Available" if item.get("beckn:isActive", True) else "OutOfOrder",
            "chargingSpeed": dig(item, "beckn:itemAttributes", "chargingSpeed") or "NORMAL"}}
        for item in catalog.get("beckn:items") or []]
    offers = [{"id": o["beckn:id"], "items": o.get("beckn:items") or [],
               "descriptor": {"name": dig(o, "beckn:descriptor", "schema:name") or ""},
               "price": o.get("beckn:price") or {}, "acceptedPaymentMethod": [
                   PAY_METHODS.get(m, m) for m in o.get("beckn:acceptedPaymentMethod") or []]}
              for o in catalog.get("beckn:offers") or []]
    return {"id": catalog.get("beckn:id", ""), "connectors": connectors, "offers": offers}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--registry-url", required=True)
    parser.add_argument("--cds-url", required=True, help="the CDS's Beckn URI (.../beckn)")
    parser.add_argument("--subscriber-id", default="minimal-bap.example")
    parser.add_argument("--ttl-seconds", type=int, default=30)
    parser.add_argument("--write-candidate", type=Path)
    parser.add_argument("--reuse-message-id", action="store_true")
    parser.add_argument("--own-transaction-ids", action="store_true",
                        help="a new Beckn transaction_id per order, apart from the driver's "
                        "X-Transaction-Id")
    args = parser.parse_args()
    bap = MinimalBap(subscriber_id=args.subscriber_id, base_url=f"http://{args.host}:{args.port}",
                     registry_url=args.registry_url, cds_url=args.cds_url,
                     ttl_s=args.ttl_seconds, reuse_message_id=args.reuse_message_id,
                     own_transactions=args.own_transaction_ids)
    listener = socket.create_server((args.host, args.port))  # listening before it is announced
    if args.write_candidate:
        args.write_candidate.write_text(bap.candidate_toml(), encoding="utf-8")
    print(f"minimal BAP: client API {bap.api_url}, Bearer token {bap.token}", flush=True)
    uvicorn.Server(uvicorn.Config(bap.app(), log_level="warning")).run(sockets=[listener])


if __name__ == "__main__":
    main()
