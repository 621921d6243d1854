"""What every Locust user needs to know to drive the candidate: who it signs as, where the
candidate and the arrivals API are, what it orders, and the run's bounds.

The listener writes it once its network is up (it holds the harness's keys and discovered the
candidate's catalog); the Locust master hands it to each worker in a message of its own. It
carries the private keys of the harness's two BAPs: test keys of this harness, but keys all
the same, so a worker on another machine must be reached over a network you trust.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This host's boot id: two processes that share it share CLOCK_MONOTONIC, so a callback's
    arrival and its request's send can be compared on it ("" where the system has none)."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Signatory:
    """One of the harness's BAPs as a user signs and addresses requests from it."""

    subscriber_id: str
    key_id: str
    private_key: str
    uri: str


@dataclass(frozen=True)
class Item:
    """An item of the candidate's catalog, as its on_discover listed it."""

    id: str
    provider: str
    offer: dict[str, Any] | None
    unit_price: float | None


@dataclass(frozen=True)
class Plan:
    bap: Signatory
    other_bap: Signatory  # the second BAP: the rival in a slot race
    candidate_id: str
    candidate_uri: str
    arrivals_url: str
    token: str  # Bearer token of the arrivals API
    items: tuple[Item, ...]
    ttl: str = "PT30S"
    ttl_s: float = 30.0
    ack_bound_s: float = 5.0
    money: float = 100.0  # what each walk-in driver pays for (features/bpp/walk_in.feature)
    slot_base: str = ""  # RFC 3339: the first race's slot starts here, each next 2 h later
    boot_id: str = ""  # the listener's host (see boot_id())
    ledger: dict[str, Any] = field(default_factory=dict)  # sessions, races: as run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        values = dict(data)
        values["bap"] = Signatory(**values["bap"])
        values["other_bap"] = Signatory(**values["other_bap"])
        values["items"] = tuple(Item(**item) for item in values["items"])
        return cls(**values)

    @property
    def same_host(self) -> bool:
        """Whether arrival times can be read on this process's monotonic clock."""
        return bool(self.boot_id) and self.boot_id == boot_id()
