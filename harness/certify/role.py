"""The role interface: what the engine needs to know to certify a candidate of one role.

A role names the parties the harness plays around the candidate, the Gherkin features and the
step module that drive it. `bpp` certifies a charge point operator platform; `bap` (a driver's
app) has its seat here and in harness/certify/bap/, and says plainly that it is not built yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.paths import FEATURES_DIR, STEPS_DIR


@dataclass(frozen=True)
class Role:
    name: str  # "bpp" or "bap", as in the candidate file
    plays: tuple[str, ...]  # the mock parties the harness runs around the candidate
    features: Path
    steps: Path  # the pytest-bdd step module bound to `features`
    unavailable: str = ""  # why this role cannot be certified yet, "" when it can

    @property
    def available(self) -> bool:
        return not self.unavailable


BPP = Role("bpp", plays=("registry", "cds", "bap"), features=FEATURES_DIR / "bpp",
           steps=STEPS_DIR / "bpp.py")

# Issue D builds it: driving the app through its /v1 client API, the same stories from the
# app's side (features/bap/, harness/steps/bap.py, harness/certify/bap/).
BAP = Role("bap", plays=("registry", "cds", "bpp", "charger"), features=FEATURES_DIR / "bap",
           steps=STEPS_DIR / "bap.py",
           unavailable="BAP certification is not built yet; only --role bpp runs")

ROLES = {role.name: role for role in (BPP, BAP)}
