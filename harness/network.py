"""Starts and stops the mock network: registry, CDS, reference BPP and BAP, charger.

Everything runs in one process on 127.0.0.1, one uvicorn server per party on its own port
(`port_base` + 0..4, or ports chosen free at run time), all from one background event loop.
Keys are generated once per state directory and reused, so a candidate configured against the
harness's BAP key keeps working across restarts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import schemas
from harness.beckn import signing
from harness.beckn.keys import read_key_file, write_key_file
from harness.candidate import Candidate
from harness.servers import ServerGroup
from harness.transcript import Transcript
from mocks import bap as bap_module
from mocks import bpp as bpp_module
from mocks import cds as cds_module
from mocks import charger as charger_module
from mocks import registry as registry_module
from mocks.stack import DEFAULT_SEND_TIMEOUT_S, Identity, RegistryClient

ROLES = ("registry", "cds", "bpp", "bap", "charger")
SUBSCRIBERS = {"cds": "cds.mock.ubc", "bpp": "bpp.mock.ubc", "bap": "bap.mock.ubc",
               "other-bap": "other-bap.mock.ubc"}
REGISTRY_TYPES = {"cds": "CDS", "bpp": "BPP", "bap": "BAP"}
BECKN_PATH = "/beckn"
REGISTRY_NAME = "subscribers.beckn.one"


@dataclass
class NetworkConfig:
    port_base: int | None = None  # None: free ports chosen at run time
    state_dir: Path | None = None  # None: a temporary folder, removed on stop
    ttl: str = "PT30S"
    bpp_faults: frozenset[str] = frozenset()
    roles: tuple[str, ...] = ROLES
    charger_speed: float = 60.0  # simulated seconds per real second
    registry_cache_s: float = 0.5
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S  # how long a party waits for an answer


@dataclass
class Participant:
    role: str
    subscriber_id: str
    url: str  # where its server listens
    uri: str  # its Beckn subscriber URI (url + path), or the registry's base URL
    public_key: str = ""


@dataclass
class MockNetwork:
    """The parties of a UBC network around one candidate, as real loopback servers."""

    config: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        self.transcript = Transcript()
        self.group = ServerGroup()
        self.participants: dict[str, Participant] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.store: registry_module.RegistryStore | None = None
        self.bap: bap_module.ReferenceBap | None = None
        self.bpp: Any = None
        self.cds: Any = None
        self.charger: charger_module.Charger | None = None
        self._clients: list[Any] = []

    # -- state ---------------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        if self.config.state_dir is not None:
            self.config.state_dir.mkdir(parents=True, exist_ok=True)
            return self.config.state_dir
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ubc-network-")
        return Path(self._tmp.name)

    def keys_for(self, role: str) -> signing.KeyPair:
        """The role's key pair from the state folder, created (mode 0600) on first use."""
        path = self.state_dir / f"{role}-keys.json"
        if path.exists():
            return read_key_file(path)
        pair = signing.KeyPair.generate(SUBSCRIBERS[role], f"{SUBSCRIBERS[role]}-k1")
        write_key_file(pair, path, overwrite=True)
        return pair

    # -- building ------------------------------------------------------------------------------

    def build(self) -> MockNetwork:
        """Bind every port, build every app and register every party; nothing serves yet."""
        roles = self.config.roles
        for offset, role in enumerate(ROLES):
            if role in roles:
                port = 0 if self.config.port_base is None else self.config.port_base + offset
                self.group.reserve(role, port)
        schema_set = schemas.load()
        self.store = registry_module.RegistryStore(self.state_dir / "registry.sqlite3")
        if "registry" in roles:
            # The DeDi registry name recent beckn-onix builds look keys up under.
            self.group.attach("registry", registry_module.create_app(
                self.store, registry_name=REGISTRY_NAME))
            self.participants["registry"] = Participant(
                "registry", "registry.mock.ubc", self.group.url("registry"),
                self.group.url("registry"))
        registry_url = self.participants["registry"].url if "registry" in roles else ""
        identities: dict[str, Identity] = {}
        for role in ("cds", "bpp", "bap"):
            if role not in roles:
                continue
            uri = self.group.url(role) + BECKN_PATH
            identities[role] = Identity.create(SUBSCRIBERS[role], role, uri, self.keys_for(role))
            self.participants[role] = Participant(role, SUBSCRIBERS[role],
                                                  self.group.url(role), uri,
                                                  identities[role].public_key)
            self._register(identities[role], REGISTRY_TYPES[role])
        if "bap" in roles:
            # A second BAP, registered and trusted, whose key signs the wrong-signer probe: a
            # candidate must refuse it because it is not the context's bap_id, not because it
            # cannot look the key up.
            other = Identity.create(SUBSCRIBERS["other-bap"], "bap",
                                    identities["bap"].uri + "/other", self.keys_for("other-bap"))
            self.participants["other-bap"] = Participant(
                "other-bap", other.subscriber_id, self.group.url("bap"), other.uri,
                other.public_key)
            self._register(other, "BAP")

        def directory() -> RegistryClient:
            client = RegistryClient(registry_url, cache_s=self.config.registry_cache_s)
            self._clients.append(client)
            return client

        if "charger" in roles or "bpp" in roles:
            clock = charger_module.Clock(speed=self.config.charger_speed)
            self.charger = charger_module.Charger(clock=clock)
        if "charger" in roles:
            assert self.charger is not None
            self.group.attach("charger", charger_module.create_app(self.charger))
            self.participants["charger"] = Participant("charger", "charger.mock.ubc",
                                                       self.group.url("charger"),
                                                       self.group.url("charger"))
        cds_uri = self.participants["cds"].uri if "cds" in roles else None
        if "cds" in roles:
            self.group.attach("cds", cds_module.create_app(
                cds_module.CdsConfig(identity=identities["cds"]), self.transcript,
                directory=directory(), schemas=schema_set))
        if "bpp" in roles:
            assert self.charger is not None
            bpp_config = bpp_module.BppConfig(identity=identities["bpp"], cds_uri=cds_uri,
                                              ttl=self.config.ttl,
                                              faults=set(self.config.bpp_faults))
            self.group.attach("bpp", bpp_module.create_app(
                bpp_config, self.charger, self.transcript, directory=directory(),
                schemas=schema_set))
        if "bap" in roles:
            self.bap = bap_module.ReferenceBap(
                bap_module.BapConfig(identity=identities["bap"], cds_uri=cds_uri,
                                     ttl=self.config.ttl,
                                     send_timeout_s=self.config.send_timeout_s,
                                     foreign_signer=other.signer),
                self.transcript, directory=directory(), schemas=schema_set,
                http=httpx.AsyncClient())
            self.group.attach("bap", bap_module.create_app(self.bap))
        return self

    def _register(self, identity: Identity, kind: str, url: str | None = None) -> None:
        assert self.store is not None
        self.store.add({"subscriber_id": identity.subscriber_id, "key_id": identity.key_id,
                        "type": kind, "url": url or identity.uri,
                        "signing_public_key": identity.public_key, "status": "SUBSCRIBED"},
                       replace=True)

    def register_candidate(self, candidate: Candidate) -> None:
        assert self.store is not None
        self.store.add({"subscriber_id": candidate.subscriber_id, "key_id": candidate.key_id,
                        "type": candidate.role.upper(), "url": candidate.uri,
                        "signing_public_key": candidate.signing_public_key,
                        "status": "SUBSCRIBED"}, replace=True)
        self.participants[f"candidate-{candidate.role}"] = Participant(
            f"candidate {candidate.role}", candidate.subscriber_id, candidate.uri, candidate.uri,
            candidate.signing_public_key)

    # -- running -------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> MockNetwork:
        if not self.group.served:
            self.build()
        self.group.on_shutdown(self._close_clients)
        self.group.start(timeout)
        return self

    async def _close_clients(self) -> None:
        for client in self._clients:
            await client.aclose()
        if self.bap is not None:
            await self.bap.aclose()

    def stop(self) -> None:
        self.group.stop()
        if self.store is not None:
            self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> MockNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def table(self) -> list[Participant]:
        return list(self.participants.values())
