"""The arrivals API of a load run, served by the listener process beside the harness's BAPs.

Locust users send their requests to the candidate themselves; the callbacks come back to the
harness's BAPs, whose inboxes verify and record them (the transcript takes the arrival time
when the bytes arrived). Through this API a user learns when its callback arrived, measured
here, not by itself:

- `GET /load/arrival?message_id=&action=&wait=S` waits (bounded) for the callback answering
  one request and tells its arrival times (monotonic and wall clock), how the BAP's inbox
  answered it, and the callback itself; a wait that runs out is the callback given up, and if
  it comes afterwards it is counted late, else lost;
- `POST /load/claim?kind=session|race` hands out the run's sessions and races, so that users
  spread over processes and machines run exactly as many as asked; `POST /load/finished`
  counts one done, `POST /load/close` stops handing out (the duration is over), and
  `GET /load/progress` says where the run is;
- `POST /load/race` names the two transactions of a slot race, judged at the end;
- `POST /load/summary?drain=S` ends the load: after a drain for late callbacks, the counts
  and the findings of harness/checks' "load" scope.

Every request needs `Authorization: Bearer <token>`; none is recorded in the transcript.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.beckn import envelope
from harness.beckn.order import dig, order_status
from harness.checks import concurrency
from harness.checks.registry import for_scope
from harness.transcript import INBOUND, Exchange, Transcript

PARTIES = ("bap", "other-bap")


@dataclass
class Quota:
    """How many of one kind of work the run asked for, and how many were handed out and done."""

    limit: int | None  # None: as many as the duration allows
    claimed: int = 0
    finished: int = 0
    completed: int = 0  # finished without a failure

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "claimed": self.claimed, "finished": self.finished,
                "completed": self.completed}


@dataclass
class Ledger:
    sessions: Quota
    races: Quota
    closed: bool = False

    def claim(self, kind: str) -> int | None:
        quota = self.races if kind == "race" else self.sessions
        if self.closed or (quota.limit is not None and quota.claimed >= quota.limit):
            return None
        quota.claimed += 1
        return quota.claimed

    def as_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions.as_dict(), "races": self.races.as_dict(),
                "closed": self.closed}


@dataclass
class Arrivals:
    """The callbacks the harness's BAPs received, by message_id, and the waits for them."""

    loop: asyncio.AbstractEventLoop
    max_wait_s: float = 120.0  # no wait is held longer, whatever a client asks (the ttl's)
    received: dict[str, list[Exchange]] = field(default_factory=lambda: defaultdict(list))
    every: list[Exchange] = field(default_factory=list)
    waiters: dict[tuple[str, str], list[asyncio.Future[Exchange]]] = field(
        default_factory=lambda: defaultdict(list))
    polled: set[tuple[str, str]] = field(default_factory=set)
    given_up: dict[tuple[str, str], float] = field(default_factory=dict)  # -> when (mono)

    def follow(self, transcript: Transcript) -> None:
        transcript.subscribe(self._recorded)

    def _recorded(self, exchange: Exchange) -> None:
        # The transcript calls this when an exchange begins and when it is answered: a
        # callback counts once the BAP's inbox has answered it (accepted or refused).
        if exchange.direction == INBOUND and exchange.party in PARTIES and \
                exchange.status is not None and (exchange.action or "").startswith("on_"):
            self.loop.call_soon_threadsafe(self._arrived, exchange)

    def _arrived(self, exchange: Exchange) -> None:
        self.every.append(exchange)
        key = (exchange.message_id or "", exchange.action or "")
        self.received[key[0]].append(exchange)
        for waiter in self.waiters.pop(key, []):
            if not waiter.done():
                waiter.set_result(exchange)

    def first(self, message_id: str, action: str) -> Exchange | None:
        return next((e for e in self.received.get(message_id, []) if e.action == action), None)

    async def wait(self, message_id: str, action: str, wait_s: float) -> Exchange | None:
        """The first callback `action` with this message_id, waiting at most `wait_s`; when
        none came by then, the callback is given up (late if it comes after all)."""
        key = (message_id, action)
        self.polled.add(key)
        found = self.first(message_id, action)
        if found is not None:
            return found
        waiter: asyncio.Future[Exchange] = self.loop.create_future()
        self.waiters[key].append(waiter)
        try:
            return await asyncio.wait_for(waiter, max(0.0, min(wait_s, self.max_wait_s)))
        except TimeoutError:
            self.given_up.setdefault(key, self.loop.time())
            return None

    def late(self) -> list[tuple[str, str]]:
        return [key for key in self.given_up if self.first(*key) is not None]

    def lost(self) -> list[tuple[str, str]]:
        return [key for key in self.given_up if self.first(*key) is None]

    async def drain(self, bound_s: float, settle_s: float) -> None:
        """Wait `settle_s` for stragglers (a duplicate right behind its first copy), then up to
        `bound_s` in all while a given-up callback may still come."""
        deadline = self.loop.time() + bound_s
        await asyncio.sleep(min(settle_s, bound_s))  # pacing: what may still come has no event
        while self.lost() and self.loop.time() < deadline:
            await asyncio.sleep(0.05)

    def counts(self) -> dict[str, int]:
        accepted = [e for e in self.every if e.status == 200]
        unmatched = [e for e in accepted if (e.message_id or "", e.action or "") not in
                     self.polled and e.action not in envelope.UNSOLICITED
                     and e.action != "on_discover"]
        return {"received": len(self.every), "accepted": len(accepted),
                "refused": len(self.every) - len(accepted), "late": len(self.late()),
                "lost": len(self.lost()), "unmatched": len(unmatched)}


def arrival_answer(exchange: Exchange | None) -> dict[str, Any]:
    """What a user is told of one callback."""
    if exchange is None:
        return {"arrived": False}
    refusal = dig(exchange.response_json(), "error", "message")
    return {"arrived": True, "mono": exchange.mono_time, "wall": exchange.wall_time,
            "status": exchange.status, "refusal": refusal if exchange.status != 200 else None,
            "doc": exchange.json() if exchange.status == 200 else None}


def race_outcome(load: concurrency.LoadCallbacks, race: concurrency.SlotRace
                 ) -> list[dict[str, Any]]:
    """Per rival: booked (CONFIRMED), refused (with the code and where), or no answer."""
    grouped = load.of_transaction()
    rows = []
    for transaction_id in race.transactions:
        callbacks = grouped.get(transaction_id, [])
        booked, refused = concurrency.race_outcome(callbacks)
        row: dict[str, Any] = {"transaction_id": transaction_id, "bap_id": dig(
            callbacks[0].json(), "context", "bap_id") if callbacks else None}
        if booked is not None:
            row.update(outcome="confirmed", order_id=dig(booked.json(), "message", "order",
                                                         "beckn:id"))
        elif refused is not None:
            row.update(outcome="refused", at=refused.action,
                       code=dig(refused.json(), "error", "code"),
                       order_status=order_status(dig(refused.json(), "message", "order")))
        else:
            row.update(outcome="no answer")
        rows.append(row)
    return rows


def create_app(arrivals: Arrivals, ledger: Ledger, token: str) -> Starlette:
    races: list[concurrency.SlotRace] = []

    def allowed(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def answer(body: Any, status: int = 200) -> Response:
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    async def guarded(request: Request) -> Response:
        if not allowed(request):
            return answer({"error": "a Bearer token is required"}, 401)
        try:
            return await route(request)
        except (ValueError, KeyError, TypeError) as exc:
            return answer({"error": f"bad request: {exc}"}, 400)

    async def route(request: Request) -> Response:
        path, query = request.url.path, request.query_params
        if path == "/load/arrival":
            found = await arrivals.wait(query["message_id"], query["action"],
                                        float(query.get("wait", "0")))
            return answer(arrival_answer(found))
        if path == "/load/claim":
            return answer({"number": ledger.claim(query.get("kind", "session"))})
        if path == "/load/finished":
            body = orjson.loads(await request.body())
            quota = ledger.races if body.get("kind") == "race" else ledger.sessions
            quota.finished += 1
            quota.completed += 1 if body.get("completed") else 0
            return answer(ledger.as_dict())
        if path == "/load/close":
            ledger.closed = True
            return answer(ledger.as_dict())
        if path == "/load/progress":
            return answer(ledger.as_dict())
        if path == "/load/race":
            body = orjson.loads(await request.body())
            races.append(concurrency.SlotRace(tuple(str(t) for t in body["transactions"]),
                                              str(body.get("item_id", "")),
                                              tuple(body.get("slot") or ("", ""))))
            return answer({"races": len(races)})
        if path == "/load/summary":
            settle = float(query.get("settle", "0.5"))
            await arrivals.drain(float(query.get("drain", "0")), settle)
            return answer(summary(arrivals, races))
        return answer({"error": f"no endpoint {path}"}, 404)

    methods = ["GET", "POST"]
    return Starlette(routes=[Route("/load/{rest:path}", guarded, methods=methods)])


def summary(arrivals: Arrivals, races: list[concurrency.SlotRace]) -> dict[str, Any]:
    """The callbacks' counts, the races' outcomes and the findings of the "load" checks."""
    load = concurrency.LoadCallbacks(list(arrivals.every), list(races))
    findings = [f for check in for_scope("load") for f in check.run(load)]
    return {"callbacks": arrivals.counts(),
            "races": [{"item_id": r.item_id, "slot": list(r.slot),
                       "rivals": race_outcome(load, r)} for r in races],
            "findings": [f.as_dict() | {"title": f.title} for f in findings]}
