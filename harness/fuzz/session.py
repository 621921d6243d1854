"""One fuzz run's traffic: each drawn request addressed, signed, sent to the candidate and its
answer judged.

Addressed: a generated context names parties nobody registered, and a candidate that checks
the signer, or the sender's URI against the registry, before the schema would refuse the
request before ever reading it. So where the body has a context, its `bap_id`, `bap_uri`,
`bpp_id` and `bpp_uri` are set to the harness's party (the sender) and the candidate, and its
`action` to the route's; a body meant valid also gets a fresh `timestamp` and the run's
`ttl`. A field the generator left out, or broke on purpose, stays as it is, and so does every
other byte.

Signed: the harness BAP (for a BPP candidate) or BPP (for a BAP) signs the exact bytes sent,
valid from now for the run's ttl; the digest is over those bytes. Sent one at a time through
that party's outbox, so each request and its answer is in the transcript. An answer is awaited
up to twice the ACK bound (as `ubc-cert run` does); after two requests in a row went
unanswered the rest are not sent.

Judged: first a control, a valid request correctly signed, which a BPP must acknowledge and a
BAP must at least not refuse for its signature; if it is refused the candidate cannot look the
harness's key up, the requests would all be refused for that alone, and the run cannot go on.
Then each request by harness/checks/malformed.py and timing.py, its schema-validity judged on
the bytes sent.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.beckn import envelope
from harness.beckn import time as wire_time
from harness.beckn.order import Buyer, Order
from harness.candidate import Candidate
from harness.checks import malformed, timing
from harness.findings import Finding
from harness.fuzz.cases import Drawn
from harness.network import MockNetwork
from harness.schemas import ACTIONS, SchemaSet
from harness.transcript import Exchange

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a scheme: what the uri format asks first
GIVE_UP_AFTER = 2  # requests in a row unanswered: the candidate stopped answering
CONTROL_ORDER = "fuzz-control-order"  # no candidate holds it: the answer is the callback's error
SIGNATURE_REFUSALS = (401, 503)  # the key could not be trusted, or not looked up


class ControlRefused(Exception):
    """The candidate refused the valid, correctly signed control request: nothing it does
    with the generated requests would say anything about their contents."""


@dataclass(frozen=True)
class Parties:
    """Who sends the requests and who receives them, as their contexts name them."""

    candidate: Candidate
    sender_id: str  # the harness's BAP (a BPP candidate) or BPP (a BAP candidate)
    sender_uri: str

    def context_fields(self) -> dict[str, str]:
        mine = (self.sender_id, self.sender_uri)
        theirs = (self.candidate.subscriber_id, self.candidate.uri)
        bap, bpp = (mine, theirs) if self.candidate.role == "bpp" else (theirs, mine)
        return {"bap_id": bap[0], "bap_uri": bap[1], "bpp_id": bpp[0], "bpp_uri": bpp[1]}


@dataclass
class Request:
    """One request of the run and what became of it."""

    number: int  # 0: the control
    action: str
    drawn: Drawn | None  # None for the control
    raw: bytes
    problems: list[Finding]  # why the bytes sent are schema-invalid; empty: valid
    exchange: Exchange
    findings: list[Finding] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        answer = self.exchange.response_json()
        return {
            "number": self.number, "action": self.action,
            "drawn": self.drawn.mode if self.drawn else "control",
            "how": self.drawn.how if self.drawn else "a valid request",
            "schema_valid": not self.problems,
            "problem": f"{self.problems[0].rule} {self.problems[0].message}"
                       if self.problems else None,
            "bytes": len(self.raw), "evidence": self.exchange.id,
            "status": self.exchange.status, "ack": envelope.ack_status(answer),
            "latency_s": round(self.exchange.latency, 4)
            if self.exchange.latency is not None else None,
            "error": self.exchange.error,
            "rules": sorted({f.rule for f in self.findings}),
        }


@dataclass
class Outcome:
    control: Request
    requests: list[Request] = field(default_factory=list)
    unsent: int = 0
    findings: list[Finding] = field(default_factory=list)


def serialised(body: Any) -> bytes:
    """The bytes of a drawn body: bytes as drawn, anything else as compact JSON (lone
    surrogates and NaN included, as the generator made them)."""
    if isinstance(body, bytes):
        return body
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass")


def _well_formed(name: str, value: Any) -> bool:
    """Whether a generated context field has the shape its schema gives it: one broken on
    purpose stays broken."""
    if not isinstance(value, str):
        return False
    if name == "action":
        return value in ACTIONS
    if name.endswith("_uri"):
        return _URI.match(value) is not None
    return value != ""


def addressed(body: Any, action: str, parties: Parties, meant_valid: bool, ttl: str) -> Any:
    """The body with the run's parties and the route's action in its context (see the module
    docstring); a body without a context object is left as it is, and so is a field the
    generator broke (an empty bap_id, an action out of the enum)."""
    if not isinstance(body, dict) or not isinstance(body.get("context"), dict):
        return body
    context = dict(body["context"])
    for name, value in {**parties.context_fields(), "action": action}.items():
        if name in context and _well_formed(name, context[name]):
            context[name] = value
    if meant_valid:
        context.update(timestamp=wire_time.now(), ttl=ttl)
    return {**body, "context": context}


class Session:
    """The harness's sending party, the candidate, and the run's bounds."""

    def __init__(self, network: MockNetwork, candidate: Candidate, schemas: SchemaSet, *,
                 ttl: str, ack_bound_s: float) -> None:
        self.network = network
        self.candidate = candidate
        self.schemas = schemas
        self.ttl = ttl
        self.ttl_s = wire_time.duration_seconds(ttl)
        self.ack_bound_s = ack_bound_s
        role = "bap" if candidate.role == "bpp" else "bpp"
        sender = network.bap if role == "bap" else network.bpp
        if sender is None:
            raise RuntimeError(f"harness bug: the network plays no {role} to send from")
        # Its own outbox, waiting as long as the run does: twice the ACK bound.
        self.outbox = dataclasses.replace(sender.outbox, timeout_s=2 * ack_bound_s)
        me = network.participants[role]
        self.parties = Parties(candidate, me.subscriber_id, me.uri)
        self.who = f"the {candidate.role.upper()}"

    # -- sending ---------------------------------------------------------------------------------

    def send(self, action: str, raw: bytes, note: str) -> Exchange:
        created = int(time.time())
        expires = created + max(1, int(self.ttl_s))
        sent = self.network.group.run(self.outbox.send(
            self.candidate.uri, action, raw, created=created, expires=expires, note=note))
        return sent.exchange

    def control(self) -> Request:
        """The valid, correctly signed request the candidate must take (module docstring);
        ControlRefused when it does not."""
        action = "status" if self.candidate.role == "bpp" else "on_status"
        order = Order(seller=self.candidate.subscriber_id if action == "status"
                      else self.parties.sender_id, item_id="fuzz-control-item",
                      buyer=Buyer(id="fuzz-control"), quantity_kwh=1.0, id=CONTROL_ORDER,
                      status="CONFIRMED")
        doc = {"context": envelope.context(action, transaction_id=envelope.new_id(),
                                           ttl=self.ttl, **self.parties.context_fields()),
               "message": {"order": order.to_beckn(full=action == "on_status")}}
        raw = serialised(doc)
        problems = malformed.schema_problems(raw, action, self.schemas)
        if problems:
            raise RuntimeError(f"harness bug: the fuzz control {action} is schema-invalid: "
                               f"{problems[0].message}")
        exchange = self.send(action, raw, f"fuzz control: a valid {action}, correctly signed")
        control = Request(0, action, None, raw, [], exchange)
        refused = self._refusal(exchange)
        if refused:
            raise ControlRefused(
                f"{self.who} refused the control, a valid {action} signed by "
                f"{self.parties.sender_id} ({refused}): it cannot trust the harness's key, so "
                "every generated request would be refused for that alone. Is it pointed at the "
                f"registry {self.network.participants['registry'].url}, without an old key of "
                f"{self.parties.sender_id} cached?")
        return control

    def _refusal(self, exchange: Exchange) -> str:
        """Why the control counts as refused; "" when it was taken."""
        answer = exchange.response_json()
        if exchange.status is None:
            return f"no answer: {exchange.error}"
        status = f"HTTP {exchange.status} {envelope.ack_status(answer) or ''}".rstrip()
        if self.candidate.role == "bpp":  # a BPP ACKs it and answers with an error later
            acked = exchange.status < 300 and envelope.ack_status(answer) == "ACK"
            return "" if acked else status
        # A BAP refuses a callback for a transaction it never started: but not for its signature.
        return status if exchange.status in SIGNATURE_REFUSALS or exchange.status >= 500 else ""

    def run(self, drawn: Sequence[Drawn], draw_digest: str,
            each: Callable[[Request], None] = lambda request: None) -> Outcome:
        """The control, then every drawn request in order, judged as it is answered."""
        outcome = Outcome(self.control())
        unanswered = 0
        for number, case in enumerate(drawn, 1):
            if unanswered >= GIVE_UP_AFTER:
                outcome.unsent = len(drawn) - number + 1
                outcome.findings += timing.not_sent(
                    f"the last {outcome.unsent} of {len(drawn)} generated requests",
                    f"{self.who} left {GIVE_UP_AFTER} in a row unanswered")
                break
            request = self.one(number, len(drawn), case, draw_digest)
            unanswered = unanswered + 1 if request.exchange.status is None else 0
            outcome.requests.append(request)
            outcome.findings += request.findings
            each(request)
        return outcome

    def one(self, number: int, total: int, case: Drawn, draw_digest: str) -> Request:
        body = addressed(case.body, case.action, self.parties, case.mode == "positive",
                         self.ttl)
        raw = serialised(body)
        problems = malformed.schema_problems(raw, case.action, self.schemas)
        verdict = f"schema-invalid: {problems[0].rule} {problems[0].message}" if problems \
            else "schema-valid"
        exchange = self.send(case.action, raw, f"fuzz draw {draw_digest}, request {number} of "
                             f"{total}: {case.action}, drawn {case.mode} ({case.how}); "
                             f"{verdict}"[:300])
        request = Request(number, case.action, case, raw, problems, exchange)
        request.findings = self.judge(request)
        return request

    def judge(self, request: Request) -> list[Finding]:
        exchange = request.exchange
        findings = malformed.no_server_error(exchange, request.problems, self.who)
        if not findings:  # a server error says it all; its body is no answer to judge
            findings += timing.answered(exchange)
        findings += timing.ack_within(exchange, self.ack_bound_s)
        findings += malformed.malformed_refused(exchange, request.problems, self.who)
        return findings
