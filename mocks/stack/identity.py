"""Who a party is on the network: registry identity, signing key, where it listens."""

from __future__ import annotations

from dataclasses import dataclass

from harness.beckn import signing


@dataclass(frozen=True)
class Identity:
    subscriber_id: str
    key_id: str
    role: str  # "bap", "bpp", "cds"
    uri: str  # base URI of its Beckn endpoints; the action is appended
    signer: signing.Signer

    @classmethod
    def create(cls, subscriber_id: str, role: str, uri: str,
               keys: signing.KeyPair | None = None) -> Identity:
        keys = keys or signing.KeyPair.generate(subscriber_id, f"{subscriber_id}-k1")
        return cls(subscriber_id, keys.key_id, role, uri.rstrip("/"),
                   signing.Signer.from_keypair(keys))

    @property
    def public_key(self) -> str:
        return self.signer.public_key
