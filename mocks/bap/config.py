"""Who the reference BAP is and how its app behaves: identity, ttl, the client API's token,
the driver it orders for, how long it gathers search answers, and the faults it starts with."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from harness.beckn import envelope, signing
from harness.beckn.order import Buyer
from mocks.bap.faults import check_known
from mocks.stack import DEFAULT_SEND_TIMEOUT_S, Identity


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class BapConfig:
    """Who the BAP is and how its driver-facing app behaves."""

    identity: Identity
    cds_uri: str | None = None
    ttl: str = envelope.DEFAULT_TTL
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S
    client_api_token: str = field(default_factory=new_token)  # `Authorization: Bearer <it>`
    faults: set[str] = field(default_factory=set)  # switched on at start (see faults.py)
    # Another subscriber's registered key, for the fault that signs with it; None: a key of
    # an unregistered subscriber is made up.
    foreign_signer: signing.Signer | None = None
    driver: Buyer = field(default_factory=lambda: Buyer(id="driver-001"))
    # A search gathers on_discover answers until this long after the last one (bounded by
    # the ttl): a CDS answers from its cache first and relays fanned-out BPPs after.
    search_settle_s: float = 0.2
    quote_validity_s: float = 900.0  # how long an estimate holds when no time window is asked
    # Beckn 2.0 carries no cancellation terms: the app's estimate of a BPP's fee (the
    # reference BPP's flat fee, never more than what was paid).
    cancellation_fee: float = 10.0

    def __post_init__(self) -> None:
        check_known(self.faults)
