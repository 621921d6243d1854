"""What every party of one mock network holds against hostile peers, shared by all of them:
where accepted signatures are remembered (replays.py), the longest signature window accepted,
and the hosts they may send to (outbound.py).

A party built without one (a unit test, `ubc-cert reference`) gets its own: signatures kept in
memory, the default window, any outbound host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.beckn import signing
from mocks.stack.outbound import OutboundHosts
from mocks.stack.replays import ReplayMemory

# UBC-SIG-015 allows a window of one hour; the clock skew every verifier allows comes on top,
# as it does for `created` and `expires`.
DEFAULT_MAX_VALIDITY_S = signing.MAX_VALIDITY_S + signing.DEFAULT_SKEW_S


@dataclass
class Safeguards:
    replays: ReplayMemory = field(default_factory=ReplayMemory)
    # A signature valid longer than this is refused (401): it would have to be remembered
    # that long to refuse its replays.
    max_validity_s: float = DEFAULT_MAX_VALIDITY_S
    outbound: OutboundHosts | None = None  # None: any host

    def outbound_refusal(self, url: str) -> str | None:
        """Why a party must not send to `url`, or None."""
        return None if self.outbound is None else self.outbound.refusal(url)
