"""The BPP role: the harness plays registry, CDS and BAP; features/bpp/ drive the candidate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.candidate import Candidate
from harness.certify.catalog_flow import CatalogFlow
from harness.certify.journey import Certification
from harness.certify.sweep import run_sweep
from harness.certify.terminal import Terminal
from harness.findings import Finding
from harness.network import MockNetwork
from harness.paths import STEPS_DIR


@dataclass(frozen=True)
class BppRole:
    name: str = "bpp"
    plays: tuple[str, ...] = ("registry", "cds", "bap")
    steps: Path = STEPS_DIR / "bpp.py"
    unavailable: str = ""
    by_hand: bool = False  # the harness's own requests drive a BPP: there is nothing to do

    def announce(self, network: MockNetwork, catalog: CatalogFlow | None = None,
                 operator: Terminal | None = None) -> list[str]:
        parties = network.participants
        cds = parties["cds"].uri
        lines = [f"point it at the registry  {parties['registry'].url}"]
        for role, title in (("bap", "harness BAP"), ("other-bap", "second BAP")):
            p = parties[role]
            # The public keys are in the identity (--show-identity, --emit-config).
            lines.append(f"{title:25} {p.subscriber_id} at {p.uri}, key id {p.key_id}")
        lines.append(f"CDS                       {cds}")
        candidate = parties.get("candidate-bpp")
        if candidate is not None:
            lines += (catalog or CatalogFlow()).instructions(cds, candidate.subscriber_id,
                                                             candidate.uri)
        return lines

    def begin(self, network: MockNetwork, candidate: Candidate, *, ttl: str,
              ack_bound_s: float, operator: Terminal | None = None) -> Certification:
        if operator is not None:
            raise ValueError("harness bug: a BPP is never driven by hand")
        return Certification(network, candidate, ttl=ttl, ack_bound_s=ack_bound_s)

    def sweep(self, certification: Certification) -> list[tuple[str, Finding]]:
        return run_sweep(certification)


BPP = BppRole()
