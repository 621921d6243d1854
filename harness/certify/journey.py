"""One certification run and its journeys: drive the candidate, judge what comes back.

A `Certification` is the run: the network, the candidate, the run's bounds and every journey.
A `Journey` is one scenario's transaction with the candidate. Every request it sends is judged
as one exchange: the synchronous answer (reachable, JSON, a UBC ACK, in time) and the callback
(within the ttl, and the whole per-message pipeline of harness/checks/message.py: signed by the
candidate's registered key, schema-valid, quote adding up), ids echoed, sender the candidate.
What a step promises on top is checked by the role's story with harness/checks/story.py.
Findings accumulate on the journey; a step fails when it added an error. At the end of the
scenario `finish()` sweeps the transaction: duplicates, transitions, order id stability.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from harness import schemas
from harness.beckn import envelope
from harness.beckn import time as wire_time
from harness.beckn.order import Buyer, Order
from harness.beckn.time import duration_seconds
from harness.candidate import Candidate
from harness.certify.hooks import Hooks, HookUnavailable
from harness.certify.waits import Waits
from harness.checks import consistency, context, ownership, refusal, state, timing
from harness.checks.message import Message, Pipeline
from harness.checks.registry import judge_message
from harness.findings import NOT_EVALUATED, Finding
from harness.network import MockNetwork
from harness.transcript import INBOUND, Exchange
from harness.waivers import Waivers
from mocks.bap import Call, ReferenceBap

T = TypeVar("T")
CERTIFICATION = pytest.StashKey["Certification"]()  # how `ubc-cert run` hands the run to steps
GIVE_UP_AFTER = 2
STOPPING_BOUND_S = 1.0  # how long anything may still wait once the run is stopping


class NotEvaluated(Exception):
    """A step could not be evaluated (no hook, no callback to look at): never a pass."""


class CheckFailed(AssertionError):
    """A step found an error-severity finding."""


@dataclass
class Refusal:
    """A request the candidate must refuse; `callbacks` is how many callbacks may answer it."""

    scenario: str
    exchange: Exchange
    callbacks: int = 0


@dataclass
class OrderWatch:
    """An order of the harness's BAP another BAP asked about: from `since` (monotonic) to the
    end of the run, no callback naming it may reach that BAP but the answers to its own
    requests (`answers`: message_id, action); `reported` holds the ids already found."""

    scenario: str
    transaction_id: str
    order_id: str | None
    since: float
    answers: set[tuple[str, str]] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)

    def findings(self, received: list[Exchange]) -> list[Finding]:
        """UBC-CTX-029 for what the other BAP received about the order since the watch
        began, once each."""
        fresh = [e for e in received if e.mono_time >= self.since and e.id not in self.reported
                 and e.status is not None]
        found = ownership.callbacks_stay_with_owner(fresh, self.transaction_id, self.order_id,
                                                    self.answers)
        for finding in found:
            self.reported.update(finding.evidence)
        return found


@dataclass
class Certification:
    """One run: the network, the candidate, and every journey's findings."""

    network: MockNetwork
    candidate: Candidate
    ttl: str = envelope.DEFAULT_TTL
    ack_bound_s: float = timing.DEFAULT_ACK_BOUND_S
    journeys: list[Journey] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    # e-certificate: `run --waivers`; a waived finding fails no step, so the scenario goes on
    # and its later steps are judged as in any run.
    waivers: Waivers | None = None
    watches: list[OrderWatch] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hooks = Hooks(self.candidate.control_url)
        self.gone = False  # a liveness probe failed too: the run stops sending
        self.liveness_transactions: list[str] = []
        # action -> why later requests of it are not sent: it already failed the same way
        self.blocked: dict[str, str] = {}
        self.judged: set[str] = set()  # ids of the candidate's messages judged by a journey
        self.schemas = schemas.load()
        self.pipeline = Pipeline(self.schemas, self._candidate_key)
        self.catalog_item_ids: set[str] = set()
        self.catalog: dict[str, Any] | None = None  # the candidate's, once discovered
        self.catalog_failed = ""  # the scenario whose discovery found no catalog, if any
        self.scenario_names: dict[str, str] = {}  # pytest node id -> "Feature: Scenario"
        self.transport_failures = 0  # consecutive requests the candidate did not answer
        self.waits = Waits()  # what the run waits for now, shown live by `ubc-cert run`
        self.stopping = False  # a stop signal came: the cleanup that follows waits briefly
        # Future slots of this run start on a random day, so repeated runs against one
        # long-running candidate do not collide with the bookings of earlier runs.
        today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.slot_base = today + timedelta(days=secrets.randbelow(90) + 1)

    def unavailable(self, tags: set[str]) -> str:
        """Why a scenario with these tags (its feature's too) cannot be evaluated in this run
        at all; "" when it can."""
        return ""

    def pipeline_at(self, exchange: Exchange) -> Pipeline:
        """The per-message pipeline as of the exchange's arrival: a callback judged later (at
        the end of the run, on a loaded machine) is not found expired for the wait."""
        return replace(self.pipeline, now=exchange.wall_time)

    def _candidate_key(self, subscriber_id: str, key_id: str) -> str | None:
        candidate = self.candidate
        if (subscriber_id, key_id) == (candidate.subscriber_id, candidate.key_id):
            return candidate.signing_public_key
        return None

    @property
    def candidate_gone(self) -> bool:
        """After two requests in a row went unanswered, a liveness probe (a cheap, valid
        status request) decides: answered, the candidate is alive and merely hung on those
        requests' content; unanswered too, the rest of the run stops sending, so a silent
        candidate does not make every remaining step wait out its timeout."""
        if self.gone or self.transport_failures < GIVE_UP_AFTER:
            return self.gone
        transaction_id = envelope.new_id()
        self.liveness_transactions.append(transaction_id)
        probe = Order(seller="liveness-probe", item_id="liveness-probe-item",
                      buyer=Buyer(id="liveness-probe"), quantity_kwh=1.0)
        probe.id = "liveness-probe-order"
        call = self.run(self.bap.send(
            "status", {"order": probe.to_beckn(full=False)}, transaction_id=transaction_id,
            bpp_id=self.candidate.subscriber_id, bpp_uri=self.candidate.uri, wait=False))
        if call.sent.exchange.to_candidate_failed:
            self.gone = True
        else:
            self.transport_failures = 0
        return self.gone

    @property
    def bap(self) -> ReferenceBap:
        assert self.network.bap is not None
        return self.network.bap

    @property
    def other_bap(self) -> ReferenceBap:
        """The second registered BAP, which asks about the harness BAP's orders."""
        assert self.network.other_bap is not None
        return self.network.other_bap

    @property
    def ttl_s(self) -> float:
        return duration_seconds(self.ttl)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the network's event loop, bounded (briefly, once stopping)."""
        bound = timeout or self.ttl_s * 3 + 30
        return self.network.group.run(coro, min(bound, STOPPING_BOUND_S) if self.stopping
                                      else bound)

    def stop_waiting(self) -> None:
        """The run is stopping (a signal, --max-time): the cleanup of the scenario it cut
        short gets moments, not a ttl, for what it still sends."""
        self.stopping = True

    def record_transport(self, exchange: Exchange) -> None:
        if exchange.to_candidate_failed:
            self.transport_failures += 1
        else:
            self.transport_failures = 0

    def journey(self, scenario: str) -> Journey:
        journey = Journey(self, scenario)
        self.journeys.append(journey)
        return journey

    def findings(self) -> list[Finding]:
        return [f for j in self.journeys for f in j.findings]


@dataclass
class Journey:
    certification: Certification
    scenario: str
    findings: list[Finding] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    transaction_ids: list[str] = field(default_factory=lambda: [envelope.new_id()])
    order: Order | None = None
    quoted: Exchange | None = None  # the on_select the order was agreed on
    started_mono: float = field(default_factory=time.monotonic)
    marks: dict[str, Any] = field(default_factory=dict)
    _reported: int = 0

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def transaction_id(self) -> str:
        """The transaction the next request belongs to."""
        return self.transaction_ids[-1]

    def new_transaction(self) -> str:
        self.transaction_ids.append(envelope.new_id())
        return self.transaction_ids[-1]

    def side_transaction(self) -> str:
        """A transaction of its own for a request beside the scenario's (a control), so an
        order the scenario places after it starts clean. Counted among the journey's
        transactions (the sweeps, the transcript of a failed step) but put first, so the
        current one stays current."""
        self.transaction_ids.insert(0, envelope.new_id())
        return self.transaction_ids[0]

    @property
    def title(self) -> str:
        """The scenario as an operator reads it."""
        return self.certification.scenario_names.get(self.scenario, self.scenario)

    @property
    def cert(self) -> Certification:
        return self.certification

    @property
    def candidate(self) -> Candidate:
        return self.certification.candidate

    def add(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    def new_errors(self) -> list[Finding]:
        """Error findings added since the last step ended."""
        fresh = self.findings[self._reported:]
        self._reported = len(self.findings)
        if self.cert.waivers is not None:
            self.cert.waivers.apply(fresh)
        return [f for f in fresh if f.is_error or f.status == NOT_EVALUATED]

    def assert_clean(self) -> None:
        errors = self.new_errors()
        if not errors:
            return
        if all(f.status == NOT_EVALUATED for f in errors):
            raise NotEvaluated("; ".join(f.message for f in errors))
        raise CheckFailed("\n".join(
            f"{f.rule} {f.message}" + (f" (expected {f.expected!r}, got {f.actual!r})"
                                       if f.expected is not None or f.actual is not None
                                       else "") + f" [{f.spec}]"
            for f in errors if f.status != NOT_EVALUATED))

    def not_evaluated(self, why: str) -> None:
        """Record that this scenario could not be judged: never a pass."""
        if not any(f.status == NOT_EVALUATED for f in self.findings):
            self.findings.append(timing.not_evaluated("UBC-TIME-006", why))

    def hook(self, name: str, body: dict[str, Any], *, via: Hooks | None = None) -> Any:
        """Play one event of the physical world through the candidate's test hooks (or, for
        a BAP run, `via` those of the harness's own BPP)."""
        try:
            return self.cert.run((via or self.cert.hooks).call(name, body))
        except HookUnavailable as exc:
            raise NotEvaluated(str(exc)) from None

    def stop_if_candidate_gone(self, action: str) -> None:
        """Fail the step without sending once the candidate stopped answering; block it when
        an earlier request of this action already failed the same way (no callback)."""
        if self.cert.candidate_gone:
            self.add(timing.not_sent(action, f"the candidate stopped answering ({GIVE_UP_AFTER} "
                                     "requests in a row and a liveness probe went unanswered)"))
            self.assert_clean()
        if action in self.cert.blocked:
            raise NotEvaluated(f"blocked by {self.cert.blocked[action]}")

    def slot(self, *, immediate: bool = False) -> tuple[str, str]:
        """The scenario's slot: one that starts now for a driver on the way, else one on the
        run's future day; each scenario books its own hours, so scenarios never collide."""
        if "slot" not in self.marks:
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            if immediate:
                start, end = now - timedelta(minutes=5), now + timedelta(hours=2)
            else:
                start = self.cert.slot_base + timedelta(hours=2 * self.cert.journeys.index(self))
                end = start + timedelta(hours=1)
            self.marks["slot"] = (wire_time.format(start, timespec="seconds"),
                                  wire_time.format(end, timespec="seconds"))
        start_text, end_text = self.marks["slot"]
        return str(start_text), str(end_text)

    # -- one exchange ---------------------------------------------------------------------------

    def send(self, action: str, message: dict[str, Any], *, expect_callback: bool = True,
             **options: Any) -> Call:
        """Send a request to the candidate and run the exchange checks on what comes back."""
        self.stop_if_candidate_gone(action)
        candidate = self.candidate
        wait = self.cert.ttl_s + min(self.cert.ttl_s, 5.0)  # past the ttl: late vs missing
        awaited = (f"{candidate.subscriber_id} to acknowledge {action} and send "
                   f"{envelope.CALLBACK_OF[action]}" if expect_callback
                   else f"the answer to {action}")
        with self.cert.waits.awaiting(awaited, 2 * self.cert.ack_bound_s
                                      + (wait if expect_callback else 0)):
            call = self.cert.run(self.cert.bap.send(
                action, message, transaction_id=self.transaction_id,
                bpp_id=candidate.subscriber_id, bpp_uri=candidate.uri, wait=expect_callback,
                timeout=wait, **options))
        self.calls.append(call)
        self.cert.record_transport(call.sent.exchange)
        self.add(self.answer_findings(call.sent.exchange))
        if not call.sent.acked:
            self.add(refusal.valid_request_acknowledged(call.sent.exchange))
            return call
        if expect_callback:
            findings = self.callback_findings(call)
            self.add(findings)
            if call.callback_exchange is None and any(f.rule == "UBC-TIME-003"
                                                      for f in findings):
                # Every later scenario would wait a full ttl for the same missing callback.
                self.cert.blocked.setdefault(action, f"no {envelope.CALLBACK_OF[action]} "
                                             f"arriving in \"{self.title}\"")
        return call

    def answer_findings(self, request: Exchange) -> list[Finding]:
        findings = timing.answered(request)
        if findings:
            return findings
        findings += timing.ack_within(request, self.cert.ack_bound_s)
        findings += self.cert.schemas.validate_ack(request.response_json())
        for finding in findings:
            if request.id not in finding.evidence:
                finding.evidence.append(request.id)
        return findings

    def callback_findings(self, call: Call) -> list[Finding]:
        request = call.sent.exchange
        callback = call.callback_exchange
        expected_action = envelope.CALLBACK_OF[call.action]
        if callback is None:
            return self.missing_callback(call, expected_action)
        findings = timing.callback_within_ttl(request, [callback], self.cert.ttl_s)
        findings += self.message_findings(callback, expected_action)
        findings += context.callback_echoes_request(request, callback)
        findings += context.callback_not_before_request(request, callback)
        return findings

    def message_findings(self, callback: Exchange, expected_action: str) -> list[Finding]:
        """The per-message pipeline on one callback from the candidate, and its sender."""
        self.cert.judged.add(callback.id)
        findings = judge_message(self.cert.pipeline_at(callback), Message(
            callback.request_body, callback.request_headers, expected_action,
            evidence=[callback.id]))
        findings += context.sender_is_candidate(callback, self.candidate.subscriber_id,
                                                self.candidate.uri)
        return findings

    def missing_callback(self, call: Call, expected_action: str) -> list[Finding]:
        """No matching callback within ttl + grace: say what did arrive, if anything."""
        near = [e for e in self.cert.network.transcript.query(
                    party=call.sent.exchange.party, direction=INBOUND, action=expected_action,
                    since=call.sent.exchange.mono_time)
                if e.message_id == call.message_id or e.transaction_id == call.transaction_id]
        findings = []
        for exchange in near:
            wrong_transaction = exchange.message_id == call.message_id and \
                exchange.transaction_id != call.transaction_id
            wrong_message = exchange.transaction_id == call.transaction_id and \
                exchange.message_id != call.message_id and \
                expected_action not in envelope.UNSOLICITED
            if wrong_transaction or wrong_message:
                findings += context.callback_echoes_request(call.sent.exchange, exchange)
        if not findings:
            findings = timing.callback_within_ttl(call.sent.exchange, [], self.cert.ttl_s)
        return findings

    def unsolicited(self, action: str, predicate: Callable[[Any], bool] | None = None,
                    after: float | None = None) -> Exchange | None:
        """Wait (bounded by the ttl) for an unsolicited callback of this transaction."""
        since = self.started_mono if after is None else after
        # Our requests this callback action answers; any other message_id is unsolicited,
        # including one that wrongly reuses the id of another request (UBC-CTX-014).
        answered_by_it = {c.message_id for c in self.calls
                          if envelope.CALLBACK_OF.get(c.action) == action}
        transaction_id = self.transaction_id

        def matches(e: Exchange) -> bool:
            return (e.direction == INBOUND and e.party == "bap" and e.action == action
                    and e.transaction_id == transaction_id and e.mono_time >= since
                    and e.message_id not in answered_by_it and e.status is not None
                    and (predicate is None or predicate(e.json())))
        with self.cert.waits.awaiting(f"an unsolicited {action} from "
                                      f"{self.candidate.subscriber_id}", self.cert.ttl_s):
            exchange = self.cert.run(self.cert.network.transcript.wait_for_async(
                matches, self.cert.ttl_s, transaction_id=transaction_id))
        if exchange is None:
            self.add(timing.unsolicited_missing(action, transaction_id, self.cert.ttl_s))
            return None
        self.add(self.message_findings(exchange, action))
        self.add(context.unsolicited_has_new_message_id(
            exchange, {c.message_id for c in self.calls}))
        return exchange

    # -- end of scenario ------------------------------------------------------------------------

    def finish(self) -> None:
        """Sweep the transaction: duplicates, transitions, order id."""
        transcript = self.cert.network.transcript
        inbound = [e for t in self.transaction_ids
                   for e in transcript.query(party="bap", direction=INBOUND, transaction_id=t)]
        for call in self.calls:
            if not call.sent.acked or call.action == "discover":
                continue
            self.add(timing.one_callback(call.sent.exchange, [
                e for e in inbound if e.message_id == call.message_id
                and e.action == envelope.CALLBACK_OF[call.action]]))
        for transaction_id in self.transaction_ids:
            accepted = [e for e in inbound if e.transaction_id == transaction_id
                        and e.action != "on_discover" and e.status == 200]
            self.add(state.transitions(accepted))
            self.add(consistency.order_id_stable(accepted))
