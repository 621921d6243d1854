"""One BAP certification run: the run state of certify/journey.py plus the driver's way of
working the candidate app — its /v1 client API (client.py), or, in a run driven by hand, the
operator at the terminal (operator.py) — and where the Beckn requests the app sent are found
and judged.

The harness plays registry, CDS, BPP and charger; every request the candidate sends reaches
the harness's CDS or BPP and is recorded there as INBOUND. Each goes through the per-message
pipeline (signed by the candidate's registered key, keyId subscriber = bap_id, schema-valid)
once: in the step that caused it, or in the end-of-run sweep when no step did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.beckn import signing
from harness.certify.bap.client import ClientApi, Driver
from harness.certify.bap.operator import OperatorConsole
from harness.certify.hooks import Hooks
from harness.certify.journey import Certification
from harness.certify.terminal import Terminal
from harness.checks.message import Message
from harness.checks.registry import judge_message
from harness.findings import Finding
from harness.transcript import INBOUND, Exchange


@dataclass(frozen=True)
class HeldOrder:
    """An order a scenario drove the app to, for a later scenario to go on with."""

    order_id: str
    transaction_ids: tuple[str, ...]
    connector: dict[str, Any]
    tracking_id: str | None


RECEIVERS = ("cds", "bpp")  # the harness parties a BAP sends requests to
CLIENT_API_TAG = "client_api"  # scenarios that work the app's /v1 API itself (fuzzing it)


@dataclass
class BapCertification(Certification):
    # Why the security scenarios' control failed, once it did: the app refused a correctly
    # signed callback of the harness (harness/certify/bap/hostile.py).
    control_refused: str = ""
    # The operator at the terminal, in a run driven by hand (`ubc-cert run --interactive`):
    # then the harness asks them to work the app instead of calling its /v1 API.
    operator: Terminal | None = None
    # The connector an earlier scenario's search listed: a given (a confirmed order) orders
    # it without searching again, as a BPP run's givens reuse its discovery.
    found_connector: dict[str, Any] = field(default_factory=dict)
    # The order the security scenarios probe around, while none of them moved it (hostile.py).
    held_order: HeldOrder | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        # The harness plays the BPP: the physical world (the driver paying, the charger's
        # clock, the operator cancelling) is played through its test hooks
        # (harness/beckn/hooks.py), and the payment comes when the story pays, not on a timer.
        self.bpp_hooks = Hooks(f"{self.network.group.url('bpp')}/_control/hooks"
                               if "bpp" in self.network.group.served else None)
        if self.network.bpp is not None:
            self.network.bpp.config.payment_delay_s = None
        self.client: Driver
        if self.operator is not None:
            self.client = OperatorConsole(self, self.operator)
            return
        url, token = self.candidate.client_api_url, self.candidate.client_api_token
        if not url or not token:
            raise ValueError("harness bug: a BAP run begins only with client_api_url and "
                             "client_api_token, or with an operator")
        # A /v1 call waits for the Beckn round trips behind it: a few ttls, bounded.
        self.client = ClientApi(url, token, self.network.transcript,
                                timeout=self.ttl_s * 4 + 10, waits=self.waits)

    @property
    def by_hand(self) -> bool:
        """The operator works the app: nothing calls its /v1 API."""
        return self.operator is not None

    def unavailable(self, tags: set[str]) -> str:
        if self.by_hand and CLIENT_API_TAG in tags:
            return ("it calls the app's /v1 client API itself, and a run driven by hand "
                    "(--interactive) has none")
        return ""

    def requests_from_candidate(self, since: float | None = None) -> list[Exchange]:
        """The Beckn requests the candidate sent the harness's CDS and BPP, in arrival order:
        every request there but those signed by a harness party (the CDS fanning a discover
        out to the BPP, the BPP publishing its catalog), whose keys only the harness holds."""
        transcript = self.network.transcript
        ours = self._harness_subscribers()
        found = [e for party in RECEIVERS
                 for e in transcript.query(party=party, direction=INBOUND, since=since)
                 if _from(e, ours)]
        return sorted(found, key=lambda e: e.mono_time)

    def wait_for_request(self, actions: Iterable[str], since: float,
                         timeout: float) -> Exchange | None:
        """The first request of one of these actions the candidate sent since `since`
        (monotonic), waiting at most `timeout` seconds for it."""
        wanted, ours = set(actions), self._harness_subscribers()
        with self.waits.awaiting(f"the app to send {' or '.join(sorted(wanted))}", timeout):
            return self.network.transcript.wait_for(
                lambda e: e.direction == INBOUND and e.party in RECEIVERS
                and e.action in wanted and e.mono_time >= since and _from(e, ours), timeout)

    def _harness_subscribers(self) -> set[str]:
        return {p.subscriber_id for role, p in self.network.participants.items()
                if not role.startswith("candidate")}

    def judge_request(self, request: Exchange) -> list[Finding]:
        """The per-message pipeline on one request the candidate sent, once."""
        if request.id in self.judged:
            return []
        self.judged.add(request.id)
        return judge_message(self.pipeline, Message(
            request.request_body, request.request_headers, request.action,
            evidence=[request.id]))


def _from(request: Exchange, harness: set[str]) -> bool:
    """A request (no callback) not signed by one of the harness's parties."""
    return not (request.action or "").startswith("on_") and _signer(request) not in harness


def _signer(request: Exchange) -> str | None:
    """The subscriber the request's signature names, None when it names none."""
    try:
        return signing.parse_header(request.header("authorization") or "").subscriber_id
    except signing.HeaderError:
        return None


def sweep(certification: Certification) -> list[tuple[str, Finding]]:
    """Every request of the candidate no step judged (sent between steps, after the last, or
    in a transaction no scenario knew) goes through the same pipeline."""
    if not isinstance(certification, BapCertification):
        raise TypeError("harness bug: the BAP sweep needs a BAP run")
    findings: list[tuple[str, Finding]] = []
    for request in certification.requests_from_candidate():
        scenario = next((j.scenario for j in certification.journeys
                         if request.transaction_id in j.transaction_ids), "")
        findings += [(scenario, f) for f in certification.judge_request(request)]
    return findings
