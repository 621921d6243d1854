"""One BAP certification run: the run state of certify/journey.py plus the driver's client of
the candidate app, and where the Beckn requests the app sent are found and judged.

The harness plays registry, CDS, BPP and charger; every request the candidate sends reaches
the harness's CDS or BPP and is recorded there as INBOUND. Each goes through the per-message
pipeline (signed by the candidate's registered key, keyId subscriber = bap_id, schema-valid)
once: in the step that caused it, or in the end-of-run sweep when no step did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.beckn import signing
from harness.certify.bap.client import ClientApi
from harness.certify.hooks import Hooks
from harness.certify.journey import Certification
from harness.checks.message import Message
from harness.checks.registry import judge_message
from harness.findings import Finding
from harness.transcript import INBOUND, Exchange

RECEIVERS = ("cds", "bpp")  # the harness parties a BAP sends requests to


@dataclass
class BapCertification(Certification):
    # Why the security scenarios' control failed, once it did: the app refused a correctly
    # signed callback of the harness (harness/certify/bap/hostile.py).
    control_refused: str = ""
    # The connector an earlier scenario's search listed: a given (a confirmed order) orders
    # it without searching again, as a BPP run's givens reuse its discovery.
    found_connector: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        # The harness plays the BPP: the physical world (the driver paying, the charger's
        # clock, the operator cancelling) is played through its test hooks
        # (harness/beckn/hooks.py), and the payment comes when the story pays, not on a timer.
        self.bpp_hooks = Hooks(f"{self.network.group.url('bpp')}/_control/hooks"
                               if "bpp" in self.network.group.served else None)
        if self.network.bpp is not None:
            self.network.bpp.config.payment_delay_s = None
        url, token = self.candidate.client_api_url, self.candidate.client_api_token
        if not url or not token:
            raise ValueError("harness bug: a BAP run begins only with client_api_url and "
                             "client_api_token")
        # A /v1 call waits for the Beckn round trips behind it: a few ttls, bounded.
        self.client = ClientApi(url, token, self.network.transcript,
                                timeout=self.ttl_s * 4 + 10)

    def requests_from_candidate(self, since: float | None = None) -> list[Exchange]:
        """The Beckn requests the candidate sent the harness's CDS and BPP, in arrival order:
        every request there but those signed by a harness party (the CDS fanning a discover
        out to the BPP, the BPP publishing its catalog), whose keys only the harness holds."""
        transcript = self.network.transcript
        ours = {p.subscriber_id for role, p in self.network.participants.items()
                if not role.startswith("candidate")}
        found = [e for party in RECEIVERS
                 for e in transcript.query(party=party, direction=INBOUND, since=since)
                 if not (e.action or "").startswith("on_") and _signer(e) not in ours]
        return sorted(found, key=lambda e: e.mono_time)

    def judge_request(self, request: Exchange) -> list[Finding]:
        """The per-message pipeline on one request the candidate sent, once."""
        if request.id in self.judged:
            return []
        self.judged.add(request.id)
        return judge_message(self.pipeline, Message(
            request.request_body, request.request_headers, request.action,
            evidence=[request.id]))


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
