"""The BAP role (issue D): the harness plays registry, CDS, BPP (the reference BPP) and its
charger, drives the candidate app through its /v1 client API, or prompts an operator to work
it by hand (operator.py), along features/bap/ (harness/steps/bap.py), and judges every Beckn
request the app sends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.candidate import Candidate
from harness.certify.bap import certification
from harness.certify.bap.certification import BapCertification
from harness.certify.catalog_flow import CatalogFlow
from harness.certify.journey import Certification
from harness.certify.terminal import Terminal
from harness.findings import Finding
from harness.network import MockNetwork
from harness.paths import STEPS_DIR


@dataclass(frozen=True)
class BapRole:
    name: str = "bap"
    plays: tuple[str, ...] = ("registry", "cds", "bpp", "charger")
    steps: Path = STEPS_DIR / "bap.py"
    unavailable: str = ""
    by_hand: bool = True

    def announce(self, network: MockNetwork, catalog: CatalogFlow | None = None,
                 operator: Terminal | None = None) -> list[str]:
        parties = network.participants
        bpp = parties["bpp"]
        return [f"point it at the registry  {parties['registry'].url}",
                f"and at the CDS            {parties['cds'].uri}  (reference BAP: --cds-url)",
                f"harness BPP               {bpp.subscriber_id} at {bpp.uri}, key id "
                f"{bpp.key_id}",
                f"second BPP                {parties['other-bpp'].subscriber_id}, key id "
                f"{parties['other-bpp'].key_id} (no order is placed with it)",
                "the harness drives the app through client_api_url with client_api_token"
                if operator is None else "you drive the app by hand: the harness prompts you "
                f"here, step by step, and awaits each answer {operator.answer_within_s:g} s"]

    def begin(self, network: MockNetwork, candidate: Candidate, *, ttl: str,
              ack_bound_s: float, operator: Terminal | None = None) -> Certification:
        return BapCertification(network, candidate, ttl=ttl, ack_bound_s=ack_bound_s,
                                operator=operator)

    def sweep(self, run: Certification) -> list[tuple[str, Finding]]:
        return certification.sweep(run)


BAP = BapRole()

