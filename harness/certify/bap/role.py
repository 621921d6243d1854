"""The BAP role's seat (issue D): the harness will play registry, CDS, BPP and charger, drive
the candidate app through its /v1 client API (features/bap/, harness/steps/bap.py) and judge
every Beckn request it sends with the same checks as the BPP role. Not built yet: a run says so
and exits 2 before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.candidate import Candidate
from harness.certify.catalog_flow import CatalogFlow
from harness.certify.journey import Certification
from harness.network import MockNetwork
from harness.paths import STEPS_DIR


class NotBuilt(RuntimeError):
    pass


@dataclass(frozen=True)
class BapRole:
    name: str = "bap"
    plays: tuple[str, ...] = ("registry", "cds", "bpp", "charger")
    steps: Path = STEPS_DIR / "bap.py"
    unavailable: str = "BAP certification is not built yet; only --role bpp runs"

    def announce(self, network: MockNetwork, catalog: CatalogFlow | None = None) -> list[str]:
        raise NotBuilt(self.unavailable)

    def begin(self, network: MockNetwork, candidate: Candidate, *, ttl: str,
              ack_bound_s: float) -> Certification:
        raise NotBuilt(self.unavailable)


BAP = BapRole()
