"""Locust's users of a load run: walk-in drivers, and the pair of BAPs racing for one slot.

Imported only in Locust's processes (gevent). Each user signs and sends its requests to the
candidate itself (flows.py) and asks the listener's arrivals API when the callback arrived; it
fires one Locust request event per thing measured, named by it:

| request type | name | response time |
|---|---|---|
| `ACK` | `select`, ... | request sent -> synchronous answer |
| `callback` | `on_select`, ... | request sent -> callback arrived (the listener's clock) |
| `session` | `walk-in` | the session's first request -> its last callback |
| `race ACK`, `race callback` | as above | the same, for a slot race's requests |
| `harness` | what failed | a fault of the harness itself: the run could not be judged |

A lost callback or an unanswered request is fired without a response time, so percentiles
are those of what arrived; the failure's text says what it was (flows.py, "kinds").
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import gevent
import orjson
from gevent.event import Event
from locust import User, constant, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.exception import StopUser

from harness.beckn import time as wire_time
from harness.load import flows
from harness.load.plan import Plan, Signatory

PLAN_WAIT_S = 30.0  # how long a user waits for the plan from the master before giving up
HARNESS_TIMEOUT_S = 10.0  # the arrivals API answers at once, but for its bounded waits


class HarnessError(Exception):
    """The harness itself failed (the arrivals API is gone or refused us): nothing to judge."""


class Board:
    """Where a Locust process keeps the plan, once the master's message brought it."""

    def __init__(self) -> None:
        self.plan: Plan | None = None
        self.ready = Event()

    def post(self, plan: Plan) -> None:
        self.plan = plan
        self.ready.set()

    def wait(self) -> Plan:
        if not self.ready.wait(PLAN_WAIT_S) or self.plan is None:
            raise HarnessError(f"no plan from the master within {PLAN_WAIT_S:g} s")
        return self.plan


class _Unrecorded:
    """FastHttpSession's own request events, dropped: each step fires its own, named after
    what it measures."""

    def fire(self, **kwargs: Any) -> None:
        return None


class Wire:
    """One user's HTTP: requests to the candidate, calls to the arrivals API, and the
    measurements fired as Locust request events."""

    def __init__(self, environment: Environment, plan: Plan) -> None:
        self.plan = plan
        self.events = environment.events.request
        self.signers = flows.Signers(plan)
        # An answer later than twice the ACK bound counts as none, as in `ubc-cert run`.
        self.answer_within_s = 2 * plan.ack_bound_s
        self.candidate = FastHttpSession(None, _Unrecorded(), None,
                                         connection_timeout=self.answer_within_s,
                                         network_timeout=self.answer_within_s)
        self.harness = FastHttpSession(None, _Unrecorded(), None,
                                       connection_timeout=HARNESS_TIMEOUT_S,
                                       network_timeout=plan.ttl_s + HARNESS_TIMEOUT_S)
        self.auth = {"Authorization": f"Bearer {plan.token}"}

    def fire(self, request_type: str, name: str, seconds: float | None, length: int,
             problem: str | None) -> None:
        self.events.fire(request_type=request_type, name=name, response_length=length,
                         response_time=None if seconds is None else seconds * 1000,
                         exception=problem, context={})

    def ask(self, method: str, path: str, body: dict[str, Any] | None = None,
            **query: Any) -> Any:
        url = f"{self.plan.arrivals_url}{path}" + (f"?{urlencode(query)}" if query else "")
        payload: Any = orjson.dumps(body) if body is not None else None  # bytes are sent as is
        response = self.harness.request(method, url, headers=self.auth, data=payload)
        if response.status_code != 200:
            error = getattr(response, "error", None) or response.text
            self.fire("harness", path, None, 0, f"harness: {path} answered "
                      f"{response.status_code}: {error}")
            raise HarnessError(f"the arrivals API answered {path} with {response.status_code}: "
                               f"{error}")
        return orjson.loads(response.content or b"null")

    def exchange(self, out: flows.Outgoing, *, race: bool = False) -> dict[str, Any] | None:
        """Send one request and wait for its callback, measuring both; the callback when the
        flow may go on (in a race, a refusal may: it is judged at the end), else None."""
        prefix = "race " if race else ""
        sent_mono, sent_wall = time.monotonic(), time.time()
        signed: Any = out.body  # the very bytes signed: never re-encoded on the way
        response = self.candidate.request("POST", out.url, data=signed, headers=out.headers)
        answered_s = time.monotonic() - sent_mono
        error = getattr(response, "error", None)  # set on transport failures only
        transport = f"{type(error).__name__}: {error}" if error is not None else None
        content = (response.content or b"") if response.status_code else b""
        problem = flows.ack_problem(response.status_code, content, transport,
                                    self.answer_within_s)
        self.fire(f"{prefix}ACK", out.action, answered_s if response.status_code else None,
                  len(content), problem)
        if problem is not None:
            return None
        remaining = self.plan.ttl_s - (time.monotonic() - sent_mono)
        arrival = self.ask("GET", "/load/arrival", message_id=out.message_id,
                           action=out.callback, wait=f"{max(0.0, remaining):.3f}")
        if not arrival.get("arrived"):
            self.fire(f"{prefix}callback", out.callback, None, 0,
                      f"lost: no {out.callback} within the ttl {self.plan.ttl}")
            return None
        latency = arrival["mono"] - sent_mono if self.plan.same_host else \
            arrival["wall"] - sent_wall
        problem = flows.callback_problem(out.callback, arrival, latency, self.plan,
                                         refusal_expected=race)
        self.fire(f"{prefix}callback", out.callback, latency, 0, problem)
        doc = arrival.get("doc")
        return doc if problem is None and isinstance(doc, dict) else None

    def harness_fault(self, doing: str, exc: BaseException) -> None:
        """A fault of the harness's own (a bug, the arrivals API gone): reported as such, so
        it can never pass for the candidate's failure."""
        if not isinstance(exc, HarnessError):  # those were reported where they happened
            self.fire("harness", doing, None, 0,
                      f"harness: {type(exc).__name__} in {doing}: {exc}")

    def at_once(self, walks: list[tuple[flows.Walk, Signatory, tuple[str, ...]]]
                ) -> list[str | None]:
        """Several walks at the same moment, each in its own greenlet: where each stopped."""
        running = [gevent.spawn(self.walk, walk, who, actions, race=True)
                   for walk, who, actions in walks]
        gevent.joinall(running)
        for greenlet in running:
            if not greenlet.successful():
                self.harness_fault("a slot race", greenlet.exception)
                raise HarnessError(f"a slot race failed: {greenlet.exception!r}")
        return [greenlet.value for greenlet in running]

    def walk(self, walk: flows.Walk, who: Signatory, actions: tuple[str, ...], *,
             race: bool = False) -> str | None:
        """Each step in turn; the action the walk stopped at, None when it went through."""
        for action in actions:
            out = self.signers.request(who, action, walk.message(action), walk.transaction_id)
            callback = self.exchange(out, race=race)
            if callback is None:
                return action
            walk.take(callback)
            if race and callback.get("error"):
                return action  # refused: this rival lost the slot
        return None


def user_classes(board: Board) -> list[type[User]]:
    """The users of a load run, reading the plan from `board`. The same classes (by name) in
    the master and in every worker."""

    class WalkInDriver(User):
        """Drivers walking in one after another: a session each, while sessions are left."""

        wait_time = constant(0)

        def on_start(self) -> None:
            self.wire = Wire(self.environment, board.wait())

        @task
        def session(self) -> None:
            wire = self.wire
            number = wire.ask("POST", "/load/claim", kind="session")["number"]
            if number is None:
                raise StopUser()
            plan = wire.plan
            walk = flows.Walk(plan, plan.items[number % len(plan.items)], f"load-driver-{number}")
            started = time.monotonic()
            stopped_at: str | None = flows.WALK_IN[0]
            try:
                stopped_at = wire.walk(walk, plan.bap, flows.WALK_IN)
            except Exception as exc:
                wire.harness_fault("a walk-in session", exc)
                raise
            finally:
                wire.ask("POST", "/load/finished", {"kind": "session",
                                                    "completed": stopped_at is None})
            wire.fire("session", "walk-in",
                      time.monotonic() - started if stopped_at is None else None, 0,
                      None if stopped_at is None else f"error: stopped at {stopped_at}")

    class SlotRacer(User):
        """Two BAPs, each with a driver of its own, ask for the same slot and confirm it at
        the same moment (TSD §12.4): exactly one may get it."""

        fixed_count = 1
        wait_time = constant(0)

        def on_start(self) -> None:
            self.wire = Wire(self.environment, board.wait())

        @task
        def race(self) -> None:
            wire = self.wire
            number = wire.ask("POST", "/load/claim", kind="race")["number"]
            if number is None:
                raise StopUser()
            plan = wire.plan
            start = wire_time.parse(plan.slot_base) + timedelta(hours=2 * (number - 1))
            slot = (wire_time.format(start, timespec="seconds"),
                    wire_time.format(start + timedelta(hours=1), timespec="seconds"))
            item = plan.items[0]
            rivals = [(who, flows.Walk(plan, item, f"race-{number}-{i}", slot))
                      for i, who in enumerate((plan.bap, plan.other_bap))]
            try:
                # Both get their quote and their order first; then both confirm at once.
                held = wire.at_once([(walk, who, flows.BOOKING[:2]) for who, walk in rivals])
                wire.at_once([(walk, who, ("confirm",)) for (who, walk), stopped
                              in zip(rivals, held, strict=True) if stopped is None])
                wire.ask("POST", "/load/race", {"transactions": [w.transaction_id
                                                                 for _, w in rivals],
                                                "item_id": item.id, "slot": list(slot)})
            finally:
                wire.ask("POST", "/load/finished", {"kind": "race", "completed": True})

    return [WalkInDriver, SlotRacer]
