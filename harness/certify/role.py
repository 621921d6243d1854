"""The role interface: what the engine needs to certify a candidate of one role.

A role names the mock parties the harness plays around the candidate, the step module bound to
its Gherkin features, what the operator must point the candidate at, and how a run of it
begins. `bpp` (harness/certify/bpp/role.py) certifies a charge point operator platform; `bap`
(harness/certify/bap/role.py) a driver's app, driven through its /v1 client API or, given an
operator's terminal (terminal.py), by hand. The engine (engine.py) and `ubc-cert run` know
roles only through this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.candidate import Candidate
from harness.certify.catalog_flow import CatalogFlow
from harness.certify.journey import Certification
from harness.certify.terminal import Terminal
from harness.findings import Finding
from harness.network import MockNetwork


class Role(Protocol):
    @property
    def name(self) -> str:
        """"bpp" or "bap", as in the candidate file."""
        ...

    @property
    def plays(self) -> tuple[str, ...]:
        """The mock parties the harness runs around the candidate."""
        ...

    @property
    def steps(self) -> Path:
        """The pytest-bdd step module, bound to the role's features."""
        ...

    @property
    def unavailable(self) -> str:
        """Why this role cannot be certified yet; "" when it can."""
        ...

    @property
    def by_hand(self) -> bool:
        """Whether an operator can drive a candidate of this role (`run --interactive`)."""
        ...

    def announce(self, network: MockNetwork, catalog: CatalogFlow | None = None,
                 operator: Terminal | None = None) -> list[str]:
        """What the operator must point the candidate at, how its catalog reaches the CDS
        (`catalog`: the run's flow, fan-out when None) and how it is driven (by hand when
        `operator` is given), one line each."""
        ...

    def begin(self, network: MockNetwork, candidate: Candidate, *, ttl: str,
              ack_bound_s: float, operator: Terminal | None = None) -> Certification:
        """The run's state, handed to the steps; driven by hand at `operator`'s terminal
        when given (only when `by_hand`)."""
        ...

    def sweep(self, certification: Certification) -> list[tuple[str, Finding]]:
        """What only the whole transcript shows, once every scenario ran: (scenario, finding)."""
        ...


def roles() -> dict[str, Role]:
    from harness.certify.bap.role import BAP
    from harness.certify.bpp.role import BPP

    every: tuple[Role, ...] = (BPP, BAP)
    return {role.name: role for role in every}
