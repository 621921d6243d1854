"""Driving a BAP by hand (`ubc-cert run --interactive`): an app with no /v1 client API is
certified by an operator who works it, prompted step by step at the terminal.

`OperatorConsole` stands where the client API client stands (client.py, `Driver`): for each
/v1 operation the story would call, it tells the operator in one sentence what to do in the
app, with the concrete values of the call (which connector of the harness BPP's catalog, how
many kWh, which order, the rating...), waits for their Enter (bounded by the terminal's answer
bound), then waits, bounded by the run's ttl, for the Beckn request the operation implies to
arrive from the app (search: a discover at the CDS; estimate: select; payment: init; start
and stop: update; viewing the order: status or track; cancel, rating, support), and asks what
the app shows where a step checks it (the estimate's total, the amount to pay, the order's
states), re-asking once on an answer it cannot read. The answer it returns is built from the
operator's answers and what the harness knows (the transaction of the app's request, the
connectors of the catalog the app was shown); the exchange, with every line said and every
answer typed, is in the transcript as party "operator".

No answer in time, or no request after the Enter, leaves the step with no answer (the scenario
is not evaluated, naming what was awaited); once the operator stopped answering, nothing more
is asked of them in the run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import orjson
import yaml

from harness.beckn.order import dig, order_status
from harness.certify.terminal import NoAnswer, Terminal
from harness.checks import client_api
from harness.network import MockNetwork
from harness.transcript import INBOUND, OUTBOUND, Exchange

PARTY = client_api.OPERATOR
ORDER_PATH = re.compile(r"^/orders/(?P<key>[^/]+)")
# A number as an app shows an amount: a currency code or sign before or after, commas
# between thousands.
AMOUNT = re.compile(r"^\s*(?:[A-Za-z]{1,3}\.?|[^\w\s.,+-])?\s*(?P<n>\d[\d,]*(?:\.\d+)?)\s*"
                    r"(?:[A-Za-z]{1,3}|[^\w\s.,+-])?\s*$")
SKIP = "skip"
T = TypeVar("T")


class Run(Protocol):
    """What the console needs of the BAP certification run (certification.py)."""

    network: MockNetwork

    @property
    def ttl_s(self) -> float: ...

    def wait_for_request(self, actions: Iterable[str], since: float,
                         timeout: float) -> Exchange | None: ...


class Unanswered(Exception):
    """The operation got no answer: why, naming what was awaited."""


@dataclass(frozen=True)
class Step:
    """One /v1 operation as the operator performs it in the app."""

    sends: tuple[str, ...]  # the Beckn actions the app sends for it (any one of them)
    shows: str  # what the app shows once it is done, before the operator presses Enter
    once_initialised: bool = False  # sent only for an order the app initialised (init)
    while_open: bool = False  # sent only while the order runs (the BPP ended it: nothing to ask)


STEPS = {  # by the contract's operationId
    "search": Step(("discover",), "lists the chargers it found"),
    "estimate": Step(("select",), "shows the estimate"),
    "initiatePayment": Step(("init",), "shows the amount to pay"),
    "getOrder": Step(("status", "track"), "shows the order's state", once_initialised=True,
                     while_open=True),
    "startCharging": Step(("update",), "shows the charging started"),
    "stopCharging": Step(("update",), "shows the charging stopped"),
    "cancellationEstimate": Step((), "shows what cancelling would cost"),
    "cancelOrder": Step(("cancel",), "shows the order cancelled", once_initialised=True),
    "rateOrder": Step(("rating",), "has taken the rating"),
    "orderSupport": Step(("support",), "shows the support contacts"),
}


@dataclass
class OrderNote:
    """An order the console named in an estimate's answer: where it goes on, and how the
    operator recognises it in the app."""

    transaction_id: str
    what: str  # "the order of 20 kWh at connector ..."
    currency: str


@dataclass
class Dialogue:
    """Every line said to the operator in one operation and every answer, for the transcript."""

    lines: list[dict[str, Any]] = field(default_factory=list)

    def said(self, text: str) -> dict[str, Any]:
        self.lines.append({"said": text})
        return self.lines[-1]


class OperatorConsole:
    """The operator working the app, prompted at the terminal, as the story's driver."""

    def __init__(self, run: Run, terminal: Terminal) -> None:
        self.run = run
        self.terminal = terminal
        self.transcript = run.network.transcript
        self.gone = ""  # why nothing more is asked: the operator stopped answering
        self.items: dict[str, dict[str, Any]] = {}  # the harness BPP's items the app was shown
        self.orders: dict[str, OrderNote] = {}
        self.greeted = False

    def call(self, method: str, path: str, *, transaction_id: str | None = None,
             bpp_id: str | None = None, body: dict[str, Any] | None = None) -> Exchange:
        operation = client_api.operation_of(method, f"/v1{path}")
        exchange = self.transcript.begin(OUTBOUND, PARTY, method, f"operator:/v1{path}", {},
                                         b"")
        exchange.transaction_id = transaction_id
        dialogue = Dialogue()
        try:
            if self.gone:
                raise Unanswered(f"not asked: {self.gone}")
            step = STEPS.get(operation.id) if operation else None
            if operation is None or step is None:
                raise Unanswered(f"the harness has no instruction for {method} {path} to give "
                                 "the operator")
            answer, transaction = self._perform(operation.id, step, path, body or {},
                                                dialogue)
        except Unanswered as exc:
            self._record(exchange, operation.id if operation else "", body, dialogue)
            self.transcript.finish(exchange, None, {}, b"", str(exc))
            return exchange
        exchange.transaction_id = transaction or transaction_id
        self._record(exchange, operation.id, body, dialogue)
        headers = {"content-type": "application/json"}
        if transaction:
            headers["x-transaction-id"] = transaction
        self.transcript.finish(exchange, 200, headers, orjson.dumps(answer))
        return exchange

    @staticmethod
    def _record(exchange: Exchange, operation: str, body: dict[str, Any] | None,
                dialogue: Dialogue) -> None:
        """What the harness asked for (the /v1 call it stands for) and the whole dialogue."""
        exchange.request_body = orjson.dumps({
            "operation": operation, "call": {"method": exchange.method,
                                             "path": exchange.url.removeprefix("operator:"),
                                             "body": body},
            "dialogue": dialogue.lines})

    # -- one operation --------------------------------------------------------------------------

    def _perform(self, operation: str, step: Step, path: str, body: dict[str, Any],
                 dialogue: Dialogue) -> tuple[dict[str, Any], str | None]:
        """The operator does it; the answer the story reads, and the transaction it is in."""
        key, order = self._order(path)
        instruction = self._instruction(operation, body, order)
        since = time.monotonic()
        typed = self._ask(dialogue, f"{instruction} Press Enter when the app {step.shows}.",
                          f"Enter once the app {step.shows}", question=False)
        if typed.strip().lower() == SKIP:
            raise Unanswered(f"the operator could not do it in the app: {instruction}")
        request = None
        if step.sends and (order is None or (
                (not step.once_initialised or self._initialised(order))
                and not (step.while_open and self._ended(order)))):
            request = self._arrived(step, since, instruction)
        transaction = request.transaction_id if request is not None else \
            (order.transaction_id if order is not None else None)
        if operation == "search":
            assert request is not None
            return self._found(request), transaction
        if operation == "estimate":
            assert request is not None
            return self._estimate(request, body, dialogue), transaction
        assert order is not None
        summary = {"id": key}
        if operation == "initiatePayment":
            amount = self._number(dialogue, "What amount does the app ask you to pay (a "
                                  "number)?")
            return {"order": summary, "currency": order.currency, "amount": amount}, transaction
        if operation == "getOrder":
            states = {part: {"status": self._choice(
                dialogue, f"What {part} status does the app show?", choices)}
                for part, choices in shown_states().items()}
            return {**states, "order": {**summary, **states["order"]}}, transaction
        if operation == "stopCharging":
            bill = self._number(dialogue, "What does the app bill for the session, in all (a "
                                "number)?")
            return {"order": summary, "price_components": [
                {"type": "UNIT", "value": bill, "currency": order.currency,
                 "description": "the session's bill, as the operator read it"}]}, transaction
        return {"order": summary}, transaction

    def _arrived(self, step: Step, since: float, instruction: str) -> Exchange:
        """The Beckn request the operation implies, from the app, once the operator pressed
        Enter (bounded by the ttl); then the harness's callback to it, so that what the app
        shows can be held against it (bounded too, and its absence is the story's to judge)."""
        ttl = self.run.ttl_s
        request = self.run.wait_for_request(step.sends, since, ttl)
        if request is None:
            raise Unanswered(f"no {' or '.join(step.sends)} arrived from the app within "
                             f"{ttl:g} s of the operator's Enter for: {instruction}")
        self.transcript.wait_for(
            lambda e: e.direction == OUTBOUND and e.party == request.party
            and e.action == f"on_{request.action}" and e.message_id == request.message_id
            and e.status is not None, ttl)
        return request

    def _initialised(self, order: OrderNote) -> bool:
        """The app sent init for the order: until then the BPP holds only a quote, and an
        app has nothing to ask it or cancel there."""
        return bool(self.transcript.query(party="bpp", direction=INBOUND, action="init",
                                          transaction_id=order.transaction_id))

    def _ended(self, order: OrderNote) -> bool:
        """The BPP's latest callback of the order reported it COMPLETED or CANCELLED: what
        still changes (a refund) comes unasked, and an app need not ask."""
        sent = self.transcript.query(party="bpp", direction=OUTBOUND,
                                     transaction_id=order.transaction_id)
        states = [order_status(dig(e.json(), "message", "order")) for e in sent
                  if (e.action or "").startswith("on_")]
        return bool(states) and states[-1] in ("COMPLETED", "CANCELLED")

    def _order(self, path: str) -> tuple[str, OrderNote | None]:
        match = ORDER_PATH.match(urlsplit(path).path)
        if match is None:
            return "", None
        key = match["key"]
        order = self.orders.get(key)
        if order is None:
            raise Unanswered(f"the operator was never shown order {key}")
        return key, order

    # -- the answers ------------------------------------------------------------------------------

    def _found(self, discover: Exchange) -> dict[str, Any]:
        """The harness BPP's connectors as the CDS showed them to the app (its on_discover
        answers to the app's discover), else as the CDS holds them."""
        bpp_id = self.run.network.participants["bpp"].subscriber_id
        sent = self.transcript.query(party="cds", direction=OUTBOUND, action="on_discover",
                                     message_id=discover.message_id)
        catalogs = [c for e in sent for c in dig(e.json(), "message", "catalogs") or []
                    if isinstance(c, dict) and c.get("beckn:bppId") == bpp_id]
        if not catalogs:
            catalogs = [r["catalog"] for r in self.run.network.live_catalogs(bpp_id)
                        if isinstance(r.get("catalog"), dict)]
        views = []
        for catalog in catalogs:
            items = [i for i in catalog.get("beckn:items") or [] if isinstance(i, dict)]
            self.items.update({str(i.get("beckn:id")): i for i in items})
            views.append({"id": str(catalog.get("beckn:id", "")), "bpp_id": bpp_id,
                          "connectors": [connector_view(i) for i in items], "offers": []})
        return {"total": len(views), "page": 1, "per_page": max(1, len(views)),
                "catalogs": views}

    def _estimate(self, select: Exchange, body: dict[str, Any],
                  dialogue: Dialogue) -> dict[str, Any]:
        total = self._number(dialogue, "What total does the app show for the estimate (a "
                             "number)?")
        transaction = select.transaction_id or ""
        quoted = self.transcript.query(party="bpp", direction=OUTBOUND, action="on_select",
                                       message_id=select.message_id)
        currency = next((str(c) for e in quoted if (c := dig(
            e.json(), "message", "order", "beckn:orderValue", "currency"))), "")
        ordered = dig(select.json(), "message", "order", "beckn:id")
        key = ordered if isinstance(ordered, str) and ordered else transaction
        what = " ".join(["the order of", charge(body), f"at EVSE {body.get('evse_id')}",
                         *slot(body)])
        self.orders[key] = OrderNote(transaction, what, currency)
        mode = "reservation" if body.get("time_window") else "instant"
        return {"order": {"id": key, "mode": mode, "status": "quoted_price"},
                "amount": {"value": total, "currency": currency}}

    # -- what to tell the operator --------------------------------------------------------------

    def _instruction(self, operation: str, body: dict[str, Any],
                     order: OrderNote | None) -> str:
        """One sentence: what to do in the app, with the values of the call."""
        if operation == "search":
            return f"In the app, search for {searched(body)}."
        if operation == "estimate":
            return f"In the app, ask for an estimate of {self._wanted(body)}."
        assert order is not None
        what = self._named(order)
        return {
            "initiatePayment": f"In the app, pay for {what}"
                               + (f" by {body['payment_method']}."
                                  if body.get("payment_method") else "."),
            "getOrder": f"In the app, open {what} and refresh it.",
            "startCharging": f"The car is plugged in: in the app, start charging {what} now.",
            "stopCharging": f"In the app, stop charging {what} now"
                            + (f" (reason: {body['reason_code']})."
                               if body.get("reason_code") else "."),
            "cancellationEstimate": f"In the app, ask what cancelling {what} would cost, "
                                    "without cancelling it.",
            "cancelOrder": f"In the app, cancel {what}"
                           + (f" (reason: {body['cancel_reason']})."
                              if body.get("cancel_reason") else "."),
            "rateOrder": f"In the app, rate {what} {body.get('value')} out of 5"
                         + (f" with the comment {comment!r}."
                            if (comment := dig(body, "feedback", "comments")) else "."),
            "orderSupport": f"In the app, ask for support with {what}.",
        }[operation]

    def _wanted(self, body: dict[str, Any]) -> str:
        """An estimate's request in words: energy or budget, connector, slot, offer, car."""
        parts = [charge(body), f"at {self._connector(body)}", *slot(body)]
        if body.get("offer_id"):
            parts.append(f"under offer {body['offer_id']}")
        car = body.get("vehicle")
        if isinstance(car, dict) and (car.get("make") or car.get("model")):
            parts.append("for a " + " ".join(str(car[k]) for k in ("make", "model")
                                             if car.get(k)))
        return " ".join(parts)

    def _connector(self, body: dict[str, Any]) -> str:
        """A connector as the operator finds it in the app: ids, type, power, site, place."""
        connector, evse = body.get("connector_id"), body.get("evse_id")
        item = self.items.get(str(connector), {})
        attributes = item.get("beckn:itemAttributes") or {}
        kind = ", ".join(str(a) for a in (
            attributes.get("connectorType"),
            f"{attributes['maxPowerKW']:g} kW" if isinstance(attributes.get("maxPowerKW"),
                                                              int | float) else None) if a)
        site = ", ".join(str(s) for s in (
            dig(item, "beckn:provider", "beckn:descriptor", "schema:name"),
            dig(item, "beckn:descriptor", "schema:name"), place(item)) if s)
        return (f"connector {connector}" + (f" ({kind})" if kind else "")
                + f" of EVSE {evse}" + (f" ({site})" if site else ""))

    def _named(self, order: OrderNote) -> str:
        """The order as the operator finds it: what was asked, and the BPP's order id once
        its callbacks gave one (an app often shows that)."""
        ids = [i for e in self.transcript.query(party="bpp", direction=OUTBOUND,
                                                transaction_id=order.transaction_id)
               if isinstance(i := dig(e.json(), "message", "order", "beckn:id"), str) and i]
        return order.what + (f" (order {ids[-1]} of the BPP)" if ids else "")

    # -- asking ---------------------------------------------------------------------------------

    def _ask(self, dialogue: Dialogue, text: str, awaited: str, *,
             question: bool = True) -> str:
        """Say `text` and read the answer; no answer ends the asking for the run."""
        if not self.greeted:
            self.greeted = True
            self.terminal.say(
                "\n[operator] You are the driver: the harness tells you, step by step, what "
                "to do in the app, and asks what it shows. Press Enter once the app shows "
                f"what is said, or type '{SKIP}' when the app cannot do it. Each answer is "
                f"awaited {self.terminal.answer_within_s:g} s.")
        self.terminal.discard_typeahead()
        line = dialogue.said(text)
        started = time.monotonic()
        # A step's prompt after a blank line: it must not trail the run's progress output.
        lead = "" if question else "\n"
        self.terminal.say(f"{lead}[operator] {text}")
        try:
            typed = self.terminal.read_line()
        except NoAnswer as exc:
            self.gone = (f"the operator stopped answering ({exc}; awaited: {awaited}, after "
                         f"{text!r})")
            line["answered"] = None
            raise Unanswered(self.gone) from None
        line.update(answered=typed, after_s=round(time.monotonic() - started, 3))
        return typed

    def _number(self, dialogue: Dialogue, question: str) -> float:
        return self._read(dialogue, question, amount, "a number, as the app shows it "
                          "(e.g. 236.50)")

    def _choice(self, dialogue: Dialogue, question: str, choices: tuple[str, ...]) -> str:
        return self._read(dialogue, f"{question} One of: {', '.join(choices)}.",
                          lambda typed: choice(typed, choices), f"one of {', '.join(choices)}")

    def _read(self, dialogue: Dialogue, question: str, parse: Callable[[str], T | None],
              expected: str) -> T:
        """Ask, and read the answer with `parse` (None: unreadable); asked once more when
        it cannot be read."""
        typed = self._ask(dialogue, question, f"an answer to {question!r}")
        value = parse(typed)
        if value is None:
            typed = self._ask(dialogue, f"{typed!r} is not {expected}. {question}",
                              f"an answer to {question!r}")
            value = parse(typed)
        if value is None:
            raise Unanswered(f"the operator's answer {typed!r} to {question!r} is not "
                             f"{expected} (asked twice)")
        return value


# -- reading answers and describing things --------------------------------------------------------

def amount(typed: str) -> float | None:
    """The number in an amount as an app shows it ("236.50", "INR 236.50", "₹1,236"), or
    None."""
    match = AMOUNT.match(typed)
    return float(match["n"].replace(",", "")) if match else None


def choice(typed: str, choices: tuple[str, ...]) -> str | None:
    """The choice typed, whatever its case, spaces or underscores; None when it is none."""
    def plain(text: str) -> str:
        return re.sub(r"[\s_-]", "", text).lower()
    return next((c for c in choices if plain(c) == plain(typed)), None) if typed.strip() \
        else None


@cache
def shown_states() -> dict[str, tuple[str, ...]]:
    """The order, payment and charging states a client API shows (the contract's `States`),
    by part."""
    with client_api.CONTRACT.open(encoding="utf-8") as text:
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    states = document["components"]["schemas"]["States"]["properties"]
    order = document["components"]["schemas"]["OrderSummary"]["properties"]["status"]["enum"]
    return {"order": tuple(order),
            **{part: tuple(states[part]["properties"]["status"]["enum"])
               for part in ("payment", "charging")}}


def place(item: dict[str, Any]) -> str:
    """An item's charging station as latitude,longitude (GeoJSON holds them the other way
    round), or ""."""
    coordinates = dig(item, "beckn:itemAttributes", "chargingStation", "serviceLocation",
                      "geo", "coordinates")
    if isinstance(coordinates, list) and len(coordinates) == 2 and all(
            isinstance(c, int | float) for c in coordinates):
        return f"{coordinates[1]:g},{coordinates[0]:g}"
    return ""


def connector_view(item: dict[str, Any]) -> dict[str, Any]:
    """What the story reads of a connector a search listed: its ids and type."""
    attributes = item.get("beckn:itemAttributes") or {}
    return {"id": str(item.get("beckn:id", "")),
            "evse_id": str(attributes.get("evseId") or item.get("beckn:id", "")),
            "connectorAttributes": {"connectorType": attributes.get("connectorType"),
                                    "maxPowerKW": attributes.get("maxPowerKW")}}


def charge(body: dict[str, Any]) -> str:
    """How much an estimate asks for: energy, budget or both."""
    energy, budget = dig(body, "energy", "value"), dig(body, "amount", "value")
    amounts = []
    if isinstance(energy, int | float):
        amounts.append(f"{energy:g} kWh")
    if isinstance(budget, int | float) and budget:
        amounts.append(f"at most {budget:g} {dig(body, 'amount', 'currency') or ''}".strip())
    return " and ".join(amounts) or "a charge"


def slot(body: dict[str, Any]) -> list[str]:
    """A reservation's time window in words, when the request has one."""
    window = body.get("time_window")
    if not isinstance(window, dict):
        return []
    return [f"for the slot {window.get('start')} to {window.get('end')}"]


def searched(body: dict[str, Any]) -> str:
    """A search's request in words."""
    where = body.get("geo_coordinates")
    found = (f"the charger with EVSE id {body['evse_id']}" if body.get("evse_id") else
             f"chargers within {body.get('distance_meters', 0):g} m of "
             f"{','.join(f'{c:g}' for c in where)}" if isinstance(where, list) else "chargers")
    window = body.get("time_window")
    if isinstance(window, dict):
        found += f", free from {window.get('start')} to {window.get('end')}"
    kind = dig(body, "filters", "connector_type")
    return found + (f", with a {kind} connector" if kind else "")
