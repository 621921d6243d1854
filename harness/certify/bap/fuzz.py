"""Fuzzing the app's client API (features/bap/client_api.feature): the harness plays a careless
or hostile client of the candidate's `/v1` API with calls schemathesis generated from the
contract (schemas/openapi/client-api.yaml), and judges every answer with
harness/checks/client_robustness.py and client_api.py.

The plan: per operation a few calls with data valid by the contract and a few with data that
breaks it (schemathesis's positive and negative modes), from a seeded generator, in the
contract's order with the cancellation last (so the other operations meet a live order);
besides, every operation once without a token and once with a wrong one, otherwise valid.
The plan is generated once, when the contract changes (`python -m harness.certify.bap.fuzz`),
and kept beside it (`PLAN_FILE`, with the contract's hash and its own digest), not generated
at run time: Hypothesis mixes constants it finds in whatever local code is loaded into what it
draws, within a time limit, and caches to `.hypothesis/` in the working directory, so a plan
drawn at run time would change with the harness's code, its imports and the machine's load,
and cost each run two seconds. Kept, every run sends the same calls, and an implementer can
read them.

What a call carries: the candidate's Bearer token, and, where the contract requires them,
`X-Transaction-Id` and `X-Bpp-Id` naming the order of the scenario (an estimate the driver
holds from the harness BPP); a path with `{order_id}` names that order. So the calls reach
the app's handling of the data instead of stopping at its first check, and none waits on a BPP
that does not exist. Where the generator broke the headers or the path on purpose (a negative
call), they are sent as generated.

Every call goes through the run's one client of the app (harness/certify/bap/client.py), so
each call and answer is in the transcript (party "client-api", the token redacted, the note
naming the plan's digest and the call). A call gets `ttl + 5` s to be answered; after two calls
in a row went unanswered, or `BUDGET_S` in all, the rest are not sent, and what could not be
judged leaves the step not evaluated, never passed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from harness.candidate import Candidate
from harness.certify.bap.client import OWN_TOKEN, ClientApi
from harness.certify.bap.story import BapStory
from harness.certify.journey import NotEvaluated
from harness.checks import client_api, client_robustness
from harness.fuzz import cases as seeded
from harness.transcript import Exchange

PLAN_FILE = client_api.CONTRACT.with_name("client-api.fuzz.json")
EXAMPLES = (("positive", 2), ("negative", 3))  # calls per operation, by kind of data
SEED = 2026  # any fixed number: the same seed, the same plan
LAST = frozenset({"cancelOrder"})  # ends the order: sent after every other operation
ORDER = "{order_id}"  # in a planned path: the order the scenario holds
ORDER_HEADERS = ("X-Transaction-Id", "X-Bpp-Id")  # set to the order's where required
WRONG_TOKEN = "ubc-conformance-not-the-app-token"
CREDENTIALS = {"own": "the app's token", "none": "no token", "wrong": "another token"}
TOKENS: dict[str, str | None] = {"own": OWN_TOKEN, "none": None, "wrong": WRONG_TOKEN}
BUDGET_S = 60.0  # for all the calls of one step
GIVE_UP_AFTER = 2  # calls in a row unanswered: the app stopped answering
_BASE = "http://plan.invalid"  # generated URLs are made against it, then cut to their path
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_SENDABLE = re.compile(r"[\t\x20-\x7e]*")  # a header value HTTP/1.1 carries as it is


class PlanError(Exception):
    """The kept plan is missing, malformed or not the current contract's: a harness bug."""


@dataclass(frozen=True)
class PlannedCall:
    """One call of the plan, before the run's order and token are put in."""

    operation: str  # operationId
    data: str  # "positive" or "negative": valid by the contract, or broken on purpose
    method: str
    path: str  # below /v1, query string included; ORDER stands for the scenario's order
    headers: tuple[tuple[str, str], ...]  # as generated, without Authorization
    order_headers: tuple[str, ...]  # headers that name the scenario's order
    body: bytes
    token: str = "own"  # a key of CREDENTIALS

    def with_token(self, token: str) -> PlannedCall:
        return PlannedCall(self.operation, self.data, self.method, self.path, self.headers,
                           self.order_headers, self.body, token)

    def sent_as(self) -> tuple[Any, ...]:
        """What goes on the wire: two calls sent alike are one call of the plan."""
        return self.method, self.path, self.headers, self.order_headers, self.body, self.token

    def as_record(self) -> dict[str, Any]:
        """The call as JSON: the body as text when it is UTF-8, else in base64."""
        record: dict[str, Any] = {
            "operation": self.operation, "data": self.data, "method": self.method,
            "path": self.path, "headers": [list(h) for h in self.headers],
            "order_headers": list(self.order_headers), "token": self.token}
        try:
            record["body"] = self.body.decode("utf-8")
        except UnicodeDecodeError:
            record["body_base64"] = base64.b64encode(self.body).decode()
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PlannedCall:
        body = record["body"].encode() if "body" in record else \
            base64.b64decode(record["body_base64"], validate=True)
        token = str(record["token"])
        if token not in CREDENTIALS:
            raise ValueError(f"token {token!r} is none of {', '.join(CREDENTIALS)}")
        return cls(str(record["operation"]), str(record["data"]), str(record["method"]),
                   str(record["path"]), tuple((str(n), str(v)) for n, v in record["headers"]),
                   tuple(str(h) for h in record["order_headers"]), body, token)


@dataclass(frozen=True)
class Plan:
    unauthenticated: tuple[PlannedCall, ...]  # every operation without a token, then a wrong one
    generated: tuple[PlannedCall, ...]  # generated data, the token and the order's headers

    @property
    def digest(self) -> str:
        """Names the plan: the same calls, the same digest."""
        calls = [c.as_record() for c in (*self.unauthenticated, *self.generated)]
        text = json.dumps(calls, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def as_document(self) -> dict[str, Any]:
        return {"contract": PLAN_FILE.parent.name + "/" + client_api.CONTRACT.name,
                "contract_sha256": contract_hash(), "seed": SEED,
                "examples": dict(EXAMPLES), "digest": self.digest,
                "unauthenticated": [c.as_record() for c in self.unauthenticated],
                "generated": [c.as_record() for c in self.generated]}


def contract_hash() -> str:
    return hashlib.sha256(client_api.CONTRACT.read_bytes()).hexdigest()


@cache
def plan(path: Path = PLAN_FILE) -> Plan:
    """The kept plan, checked against the contract it was generated from."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        kept = Plan(*(tuple(PlannedCall.from_record(r) for r in document[part])
                      for part in ("unauthenticated", "generated")))
        digest, contract = document["digest"], document["contract_sha256"]
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise PlanError(f"harness bug: the client API fuzz plan {path} cannot be read: "
                        f"{type(exc).__name__}: {exc}") from None
    if contract != contract_hash():
        raise PlanError(f"harness bug: {path} was generated from another version of "
                        f"{client_api.CONTRACT}: run python -m harness.certify.bap.fuzz")
    if digest != kept.digest:
        raise PlanError(f"harness bug: {path} says digest {digest}, its calls make "
                        f"{kept.digest}: run python -m harness.certify.bap.fuzz")
    return kept


# -- generating the plan (when the contract changes) ----------------------------------------


def generate() -> Plan:
    """The plan, drawn by schemathesis from the contract, with the same seed every time."""
    import schemathesis  # only generating the plan needs it
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_path(client_api.CONTRACT)
    operations = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise PlanError(f"{client_api.CONTRACT}: {result.err()}")
        operations.append(result.ok())
    operations.sort(key=lambda op: _operation_id(op) in LAST)
    generated: list[PlannedCall] = []
    first: list[PlannedCall] = []  # per operation, its first valid call
    with seeded.no_local_constants():
        for operation in operations:
            calls = list(_unique(_calls_of(operation)))
            first.append(next(c for c in calls if c.data == "positive"))
            generated += calls
    return Plan(tuple(c.with_token(token) for token in ("none", "wrong") for c in first),
                tuple(_unique(generated)))


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId") or operation.label)


def _unique(calls: Iterable[PlannedCall]) -> Iterator[PlannedCall]:
    seen: set[tuple[Any, ...]] = set()
    for call in calls:
        if call.sent_as() not in seen:
            seen.add(call.sent_as())
            yield call


def _calls_of(operation: Any) -> Iterator[PlannedCall]:
    required = tuple(p.name for p in operation.headers
                     if p.is_required and p.name in ORDER_HEADERS)
    for data, count in EXAMPLES:
        for case in seeded.seeded_cases(operation, data, count, SEED):
            yield _planned(operation, case, data, required)


def _planned(operation: Any, case: Any, data: str, required: tuple[str, ...]) -> PlannedCall:
    """A generated case as a call: its own path and headers where they were broken on purpose,
    the scenario's order and its headers where they were valid."""
    broken = {location.value for location, info in (case.meta.components.items()
                                                    if case.meta else ())
              if info.mode.value == "negative"}
    sent = case.as_transport_kwargs(base_url=_BASE)
    path = urlsplit(sent["url"]).path.removeprefix("/v1")
    if ORDER in operation.path and "path" not in broken:
        path = operation.path.removeprefix("/v1")
    query = _query(sent.get("params") or {})
    keep_order = "header" not in broken
    headers = [(name, str(value)) for name, value in (case.headers or {}).items()
               if name.lower() != "authorization" and not (keep_order and name in required)
               and _HEADER_NAME.fullmatch(name) and _SENDABLE.fullmatch(str(value))]
    body = b""
    if "json" in sent:
        body = json.dumps(sent["json"]).encode()
    elif sent.get("data") is not None:
        raw = sent["data"]
        body = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogatepass")
    if body:
        headers.append(("Content-Type", sent["headers"].get("Content-Type")
                        or "application/json"))
    return PlannedCall(_operation_id(operation), data, operation.method.upper(),
                       path + (f"?{query}" if query else ""), tuple(headers),
                       required if keep_order else (), body)


def _query(params: dict[str, Any]) -> str:
    """Query parameters as a client would send them; values that are not text as JSON."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((str(name), item if isinstance(item, str) else json.dumps(item)))
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


def write_plan(path: Path = PLAN_FILE) -> Plan:
    generated = generate()
    path.write_text(json.dumps(generated.as_document(), indent=1, ensure_ascii=True) + "\n",
                    encoding="utf-8")
    return generated


# -- sending it, and judging the answers ----------------------------------------------------


class ClientApiFuzz:
    """The fuzzing of one scenario: the order it holds, the calls sent and their answers."""

    def __init__(self, story: BapStory) -> None:
        self.story = story
        self.j = story.j
        self.cert = story.cert
        self.sent: list[tuple[PlannedCall, Exchange]] = []
        self.unsent = 0

    @staticmethod
    def require_client_api(candidate: Candidate) -> None:
        """An app without a client API in its candidate file cannot be fuzzed through it."""
        if not candidate.client_api_url or not candidate.client_api_token:
            raise NotEvaluated("the candidate file gives no client_api_url and "
                               "client_api_token: there is no client API to call")

    def hold_an_estimate(self) -> None:
        """Search and estimate as the driver: the order the calls will name."""
        self.require_client_api(self.cert.candidate)
        self.story.catalog_listed()
        self.story.search()
        self.story.estimate(10.0)
        if not self.story.order_id:
            raise NotEvaluated("the app's estimate gave no order id for the calls to name")

    def call_without_token(self) -> None:
        self._send(plan().unauthenticated)

    def call_with_generated_data(self) -> None:
        self._send(plan().generated)

    def _send(self, calls: Sequence[PlannedCall]) -> None:
        """Send the calls in order, bounded; then judge the Beckn requests they made the app
        send, as every request of the app is judged."""
        if not self.story.order_id:
            raise NotEvaluated("no order for the calls to name")
        client = self.cert.client
        if not isinstance(client, ClientApi):
            raise NotEvaluated("a run driven by hand calls no client API")
        with client.connection():
            self._send_each(client, calls, time.monotonic() + BUDGET_S)
        self.story.judge()

    def _send_each(self, client: ClientApi, calls: Sequence[PlannedCall],
                   deadline: float) -> None:
        story, digest, unanswered = self.story, plan().digest, 0
        for number, call in enumerate(calls, 1):
            if unanswered >= GIVE_UP_AFTER or time.monotonic() > deadline:
                self.unsent = len(calls) - number + 1
                break
            headers = {"Accept": "application/json", **dict(call.headers)}
            for name in call.order_headers:
                headers[name] = story.transaction_id if name == "X-Transaction-Id" \
                    else story.bpp_id
            exchange = client.send(
                call.method, call.path.replace(ORDER, quote(story.order_id, safe="")),
                headers, call.body, token=TOKENS[call.token], timeout=self.cert.ttl_s + 5,
                transaction_id=story.transaction_id,
                note=f"client API fuzz plan {digest}, call {number} of {len(calls)}: "
                f"{call.operation}, {call.data} data, {CREDENTIALS[call.token]}")
            unanswered = unanswered + 1 if exchange.status is None else 0
            self.sent.append((call, exchange))

    def refused_without_token(self) -> None:
        for call, answer in self.sent:
            self.j.add(client_robustness.refused_without_token(answer, CREDENTIALS[call.token])
                       + client_api.answers_in_contract_shape(answer))
        self._all_judged()

    def no_server_error(self) -> None:
        for _, answer in self.sent:
            self.j.add(client_robustness.no_server_error(answer, self._upstream(answer)))
        self._all_judged()

    def answers_in_contract_shape(self) -> None:
        for _, answer in self.sent:
            self.j.add(client_api.answers_in_contract_shape(answer)
                       + client_robustness.status_documented(answer))
        self._all_judged()

    def _upstream(self, answer: Exchange) -> list[Exchange]:
        """The Beckn requests the app sent the harness's CDS and BPP while the call ran."""
        end = answer.response_mono_time or time.monotonic()
        return [r for r in self.cert.requests_from_candidate(since=answer.mono_time)
                if r.mono_time <= end]

    def _all_judged(self) -> None:
        """Findings first; then a call unanswered or unsent leaves the step not evaluated."""
        self.j.assert_clean()
        silent = [answer for _, answer in self.sent if answer.status is None]
        if self.sent and not silent and not self.unsent:
            return
        what = f" ({silent[0].method} {silent[0].url}: {silent[0].error})" if silent else ""
        raise NotEvaluated(
            f"of the {len(self.sent) + self.unsent} calls of client API fuzz plan "
            f"{plan().digest}, {len(silent)} went unanswered{what}"
            + (f" and {self.unsent} were not sent" if self.unsent else ""))


if __name__ == "__main__":
    kept = write_plan()
    print(f"{PLAN_FILE}: {len(kept.unauthenticated)} calls without the token, "
          f"{len(kept.generated)} with generated data, digest {kept.digest}", file=sys.stderr)
