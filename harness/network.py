"""Starts and stops the mock network: registry, CDS, reference BPP and BAP, charger.

Everything runs in one process, one uvicorn server per party on its own port (`port_base` +
0..4, or ports chosen free at run time), all from one background event loop, bound on
127.0.0.1 or another host and advertised under a public URL (harness/addresses.py). Keys are
generated once per state directory and reused (harness/state.py), so a candidate configured
against the harness's BAP key keeps working across restarts.

The parties share their safeguards (mocks/stack/safeguards.py): the signatures they accepted,
remembered in the state directory (`replays.sqlite3`) so that a replay is refused after a
restart too; the longest signature window they accept; and the hosts they may send to —
loopback, the hosts the network is advertised under, each registered candidate's host, and
`allow_outbound`.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from harness import schemas
from harness.addresses import HOST, Addresses, netloc
from harness.beckn import signing
from harness.beckn.subscriber import encryption_public_key
from harness.candidate import Candidate
from harness.live.app import PREFIX as LIVE_PREFIX
from harness.live.app import LiveView
from harness.live.app import in_front_of as with_live_view
from harness.live.feed import LiveFeed
from harness.live.runs import PastRuns
from harness.party_process import BppProcess, PartyProcessError
from harness.servers import ServerGroup, in_front_of
from harness.state import Keyring
from harness.transcript import INBOUND, RUN, Bounds, Transcript
from mocks import bap as bap_module
from mocks import bpp as bpp_module
from mocks import cds as cds_module
from mocks import charger as charger_module
from mocks import registry as registry_module
from mocks.stack import (
    DEFAULT_MAX_VALIDITY_S,
    DEFAULT_SEND_TIMEOUT_S,
    Identity,
    Inbound,
    Inbox,
    OutboundHosts,
    RegistryClient,
    ReplayMemory,
    Safeguards,
    party_client,
)

ROLES = ("registry", "cds", "bpp", "bap", "charger")
SUBSCRIBERS = {"cds": "cds.mock.ubc", "bpp": "bpp.mock.ubc", "bap": "bap.mock.ubc",
               "other-bap": "other-bap.mock.ubc", "other-bpp": "other-bpp.mock.ubc"}
# The CDS registers as what it is; v1 lookups show it as BG, the v1 type a gateway had
# (harness.beckn.subscriber), so that v1 stacks keep its record.
REGISTRY_TYPES = {"cds": "CDS", "bpp": "BPP", "bap": "BAP"}
BECKN_PATH = "/beckn"
REGISTRY_NAME = "subscribers.beckn.one"
REPLAYS_FILE = "replays.sqlite3"  # in the state folder: the signatures the parties accepted
BPP_TRANSCRIPT_FILE = "bpp-process-transcript.ndjson"  # read into the network's as it grows


def check_outbound_host(entry: str) -> None:
    """ValueError, saying why, unless `entry` can be an `allow_outbound` entry."""
    OutboundHosts(loopback=False).allow(entry)


@dataclass
class NetworkConfig:
    port_base: int | None = None  # None: free ports chosen at run time
    state_dir: Path | None = None  # None: a temporary folder, removed on stop
    fresh_keys: bool = False  # replace the state folder's keys by new ones under new key ids
    keep_registry: bool = True  # False: an empty registry that lives as long as the network
    host: str = HOST  # where every party binds
    public_url: str | None = None  # how the candidate reaches them (harness/addresses.py)
    ttl: str = "PT30S"
    bpp_faults: frozenset[str] = frozenset()
    roles: tuple[str, ...] = ROLES
    charger_speed: float = 60.0  # simulated seconds per real second
    registry_cache_s: float = 0.5
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S  # how long a party waits for an answer
    # The registry's admin API (add, change, remove records) needs this bearer token; None: a
    # new random one per network (`MockNetwork.admin_token`), so nobody else on the host can
    # re-point a party or add a key to impersonate one while it runs.
    admin_token: str | None = None
    # The live view (harness/live/app.py) at the registry's /ui lists the runs of this folder.
    report_dir: Path | None = None
    live_title: str = "ubc-cert serve"
    # A request whose signature is valid longer than this is refused (401, UBC-SIG-015): one
    # hour, plus the allowed clock skew. It bounds how long a replay must be remembered.
    max_signature_validity_s: float = DEFAULT_MAX_VALIDITY_S
    # Hosts the parties may send to beyond loopback, the network's own and the candidates'
    # (names, IP addresses, CIDR networks, "*" for any; mocks/stack/outbound.py).
    allow_outbound: tuple[str, ...] = ()
    # How much of the transcript memory and disk hold (harness/transcript.py), and the file it
    # streams to as exchanges finish (None: an unnamed temporary file).
    transcript_bounds: Bounds = RUN
    transcript_file: Path | None = None
    # The reference BPP and its charger in a process of their own (harness/party_process.py):
    # a core of their own under load; `bpp` and `charger` are then None here, and the second
    # BPP (which shares the BPP's server) is not played.
    bpp_process: bool = False


@dataclass
class Participant:
    role: str
    subscriber_id: str
    url: str  # the base URL it is advertised at
    uri: str  # its Beckn subscriber URI (url + path), or the registry's base URL
    public_key: str = ""
    key_id: str = ""
    listen: str = ""  # host:port its server is bound on


@dataclass
class MockNetwork:
    """The parties of a UBC network around one candidate, as real loopback servers."""

    config: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        self.transcript = Transcript(self.config.transcript_bounds,
                                     self.config.transcript_file)
        self.live = LiveFeed()  # what the live view at /ui shows as it happens
        self.transcript.subscribe(self.live.exchange)
        self.admin_token = self.config.admin_token or secrets.token_urlsafe(24)
        self.addresses = Addresses(self.config.host, self.config.public_url)
        self.group = ServerGroup(self.config.host)
        self.participants: dict[str, Participant] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._keyring: Keyring | None = None
        self.store: registry_module.RegistryStore | None = None
        self.bap: bap_module.ReferenceBap | None = None
        self.other_bap: bap_module.ReferenceBap | None = None  # served by the BAP's server
        self.other_bpp: Identity | None = None  # served by the BPP's server
        self.bpp: Any = None
        self.cds: Any = None
        self.charger: charger_module.Charger | None = None
        self.bpp_process: BppProcess | None = None
        self.bpp_control_token = secrets.token_urlsafe(24)  # the BPP's /_control API
        self._clients: list[Any] = []
        self.outbound = OutboundHosts(self.config.allow_outbound)
        self.replays: ReplayMemory | None = None

    # -- state ---------------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        if self.config.state_dir is not None:
            self.config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys
            return self.config.state_dir
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ubc-network-")
        return Path(self._tmp.name)

    def keys_for(self, role: str) -> signing.KeyPair:
        """The role's key pair from the state folder, created (mode 0600) on first use and
        replaced once by a new pair under a new key id when the config asks for fresh keys."""
        if self._keyring is None:
            self._keyring = Keyring(self.state_dir, rotate=self.config.fresh_keys)
        return self._keyring.pair(role, SUBSCRIBERS[role])

    def advertised(self, role: str) -> str:
        """The base URL the candidate must use to reach the role's server."""
        return self.addresses.advertised(role, self.group.served[role].port)

    def _participant(self, role: str, subscriber_id: str, path: str = "",
                     identity: Identity | None = None, server: str | None = None
                     ) -> Participant:
        """The role's row, advertised at the URL of `server` (default: its own) + `path`."""
        server = server or role
        url = self.advertised(server)
        return Participant(role, subscriber_id, url, url + path,
                           identity.public_key if identity else "",
                           identity.key_id if identity else "",
                           netloc(self.config.host, self.group.served[server].port))

    # -- building ------------------------------------------------------------------------------

    def build(self) -> MockNetwork:
        """Bind every port, build every app and register every party; nothing serves yet."""
        roles = self.config.roles
        for offset, role in enumerate(ROLES):
            if role in roles:
                port = 0 if self.config.port_base is None else self.config.port_base + offset
                self.group.reserve(role, port)
        for role in self.group.served:  # the network sends to itself at these addresses
            self.outbound.allow_url(self.advertised(role))
        self.replays = ReplayMemory(self.state_dir / REPLAYS_FILE)
        safeguards = Safeguards(self.replays, self.config.max_signature_validity_s,
                                self.outbound)
        schema_set = schemas.load()
        self.store = registry_module.RegistryStore(
            self.state_dir / "registry.sqlite3" if self.config.keep_registry else ":memory:")
        if "registry" in roles:
            # The DeDi registry name recent beckn-onix builds look keys up under.
            # Every lookup (the candidate's above all) and its answer lands in the transcript.
            # The live view answers /ui on the registry's port, ahead of the registry.
            self.group.attach("registry", with_live_view(registry_module.create_app(
                self.store, registry_name=REGISTRY_NAME, transcript=self.transcript,
                admin_token=self.admin_token, outbound=self.outbound), LiveView(
                    self.live, PastRuns(self.config.report_dir), self.config.live_title)))
            self.participants["registry"] = self._participant("registry", "registry.mock.ubc")
        # The parties reach the registry directly; only the candidate needs its public URL.
        registry_url = self.group.url("registry") if "registry" in roles else ""
        identities: dict[str, Identity] = {}
        for role in ("cds", "bpp", "bap"):
            if role not in roles:
                continue
            uri = self.advertised(role) + BECKN_PATH
            identities[role] = Identity.create(SUBSCRIBERS[role], role, uri, self.keys_for(role))
            self.participants[role] = self._participant(role, SUBSCRIBERS[role], BECKN_PATH,
                                                        identities[role])
            self._retire_old_keys(identities[role])
            self._register(identities[role], REGISTRY_TYPES[role])
        if "bap" in roles:
            # A second BAP, registered and trusted, whose key signs the wrong-signer probe: a
            # candidate must refuse it because it is not the context's bap_id, not because it
            # cannot look the key up. Signing as itself, it asks about the first BAP's orders
            # (features/bpp/security.feature), and its callbacks are received and recorded
            # (party "other-bap") by the BAP's server at its own URI.
            other = Identity.create(SUBSCRIBERS["other-bap"], "bap",
                                    identities["bap"].uri + "/other", self.keys_for("other-bap"))
            self.participants["other-bap"] = self._participant(
                "other-bap", other.subscriber_id, BECKN_PATH + "/other", other, server="bap")
            self._retire_old_keys(other)
            self._register(other, "BAP")

        elsewhere = self.config.bpp_process and "bpp" in roles
        if "bpp" in roles and not elsewhere:
            # A second BPP, registered and trusted, that no order of this network is placed
            # with: signing as itself, it sends a BAP callbacks about the BAP's order with the
            # first BPP (features/bap/security.feature), which the BAP must refuse. Nothing is
            # ever sent to it.
            other_bpp = self.other_bpp = Identity.create(
                SUBSCRIBERS["other-bpp"], "bpp", identities["bpp"].uri + "/other",
                self.keys_for("other-bpp"))
            self.participants["other-bpp"] = self._participant(
                "other-bpp", other_bpp.subscriber_id, BECKN_PATH + "/other", other_bpp,
                server="bpp")
            self._retire_old_keys(other_bpp)
            self._register(other_bpp, "BPP")

        def directory(role: str) -> RegistryClient:
            client = RegistryClient(registry_url, cache_s=self.config.registry_cache_s,
                                    user_agent=f"ubc-conformance {SUBSCRIBERS[role]}")
            self._clients.append(client)
            return client

        if elsewhere:
            self._bpp_elsewhere(identities["bpp"], registry_url, safeguards)
            roles = tuple(r for r in roles if r not in ("bpp", "charger"))
        if "charger" in roles or "bpp" in roles:
            clock = charger_module.Clock(speed=self.config.charger_speed)
            self.charger = charger_module.Charger(clock=clock)
        if "charger" in roles:
            assert self.charger is not None
            self.group.attach("charger", charger_module.create_app(self.charger,
                                                                   outbound=self.outbound))
            self.participants["charger"] = self._participant("charger", "charger.mock.ubc")
        cds_uri = self.participants["cds"].uri if "cds" in roles else None
        if "cds" in roles:
            cds_app = cds_module.create_app(
                cds_module.CdsConfig(identity=identities["cds"]), self.transcript,
                directory=directory("cds"), schemas=schema_set, safeguards=safeguards)
            self.cds = cds_app.state.cds
            self.group.attach("cds", cds_app)
        if "bpp" in roles:
            assert self.charger is not None
            bpp_config = bpp_module.BppConfig(identity=identities["bpp"], cds_uri=cds_uri,
                                              ttl=self.config.ttl,
                                              faults=set(self.config.bpp_faults),
                                              control_token=self.bpp_control_token)
            bpp_app = bpp_module.create_app(
                bpp_config, self.charger, self.transcript, directory=directory("bpp"),
                schemas=schema_set, safeguards=safeguards)
            self.bpp = bpp_app.state.bpp
            self.group.attach("bpp", in_front_of(bpp_app, BECKN_PATH + "/other",
                                                 self._second_bpp(directory, schema_set,
                                                                 safeguards)))
        if "bap" in roles:
            self.bap = bap_module.ReferenceBap(
                bap_module.BapConfig(identity=identities["bap"], cds_uri=cds_uri,
                                     ttl=self.config.ttl,
                                     send_timeout_s=self.config.send_timeout_s,
                                     foreign_signer=other.signer),
                self.transcript, directory=directory("bap"), schemas=schema_set,
                http=party_client(), safeguards=safeguards)
            self.other_bap = bap_module.ReferenceBap(
                bap_module.BapConfig(identity=other, ttl=self.config.ttl,
                                     send_timeout_s=self.config.send_timeout_s),
                self.transcript, directory=directory("other-bap"), schemas=schema_set,
                http=party_client(), party="other-bap", safeguards=safeguards)
            self.group.attach("bap", bap_module.create_app(self.bap, others=[self.other_bap]))
        return self

    def _bpp_elsewhere(self, identity: Identity, registry_url: str,
                       safeguards: Safeguards) -> None:
        """The BPP (and the charger, when played) handed to a process of its own, which
        start() begins once the registry and the CDS serve."""
        roles = self.config.roles
        sockets: dict[str, socket.socket] = {
            role: self.group.hand_over(role) for role in ("bpp", "charger") if role in roles}
        assert self.replays is not None
        keys = self.keys_for("bpp")
        if "charger" in roles:
            self.participants["charger"] = self._participant("charger", "charger.mock.ubc")
        spec = {"host": self.config.host, "uri": identity.uri,
                "keys": {"subscriber_id": keys.subscriber_id, "key_id": keys.key_id,
                         "signing_private_key": keys.signing_private_key,
                         "signing_public_key": keys.signing_public_key},
                "registry_url": registry_url, "registry_cache_s": self.config.registry_cache_s,
                "cds_uri": self.participants["cds"].uri if "cds" in roles else None,
                "ttl": self.config.ttl, "faults": sorted(self.config.bpp_faults),
                "control_token": self.bpp_control_token, "replays": self.replays.path,
                "max_validity_s": safeguards.max_validity_s,
                "charger_speed": self.config.charger_speed}  # + "outbound", at start
        self.bpp_process = BppProcess(spec, sockets, self.transcript,
                                      self.state_dir / BPP_TRANSCRIPT_FILE)

    def _second_bpp(self, directory: Callable[[str], RegistryClient],
                    schema_set: schemas.SchemaSet, safeguards: Safeguards) -> Starlette:
        """The second BPP's Beckn endpoint: a discover the CDS fans out to it (it is a
        registered BPP) is ACKed and left unanswered — it has nothing to offer — and anything
        else it is sent is recorded like any party's traffic."""
        assert self.other_bpp is not None

        async def nothing_to_offer(inbound: Inbound) -> None:
            return None
        inbox = Inbox(self.other_bpp, directory("other-bpp"), self.transcript, schema_set,
                      {"discover": nothing_to_offer}, party="other-bpp",
                      safeguards=safeguards)
        return Starlette(routes=inbox.routes(record_strays=True), middleware=[inbox.front()])

    def _retire_old_keys(self, identity: Identity) -> None:
        """Drop the records of this party's earlier keys from a kept registry: a rotated key
        must not stay trusted."""
        assert self.store is not None
        for record in self.store.lookup(subscriber_id=identity.subscriber_id):
            if record.key_id != identity.key_id:
                self.store.remove(identity.subscriber_id, record.key_id)

    def _register(self, identity: Identity, kind: str, url: str | None = None) -> None:
        assert self.store is not None
        # A full record: stacks that want an encryption key get the X25519 twin of the
        # signing key, whose private half the party holds.
        self.store.add({"subscriber_id": identity.subscriber_id, "key_id": identity.key_id,
                        "type": kind, "url": url or identity.uri,
                        "signing_public_key": identity.public_key,
                        "encr_public_key": encryption_public_key(identity.public_key),
                        "status": "SUBSCRIBED"}, replace=True)

    def register_candidate(self, candidate: Candidate) -> None:
        """Register the candidate's key and URI, and let the parties send to its host."""
        assert self.store is not None
        self.outbound.allow_url(candidate.uri)
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
        if self.bpp_process is not None:
            # the hosts allowed so far, the candidates registered since build() among them
            self.bpp_process.spec["outbound"] = self.outbound.entries
            try:  # it publishes its catalog before it says it is ready
                self.bpp_process.start()
            except PartyProcessError:
                self.stop()
                raise
        self.publish_the_bpp_catalog()
        return self

    def publish_the_bpp_catalog(self, bound_s: float = 5.0) -> None:
        """The reference BPP sends its catalog to the CDS as the network starts, as a BPP of a
        UBC network does (TSD §8.5): the CDS's first answer to a discover, from its cache,
        then holds it. Unpublished, that first answer was empty and the catalog came a moment
        later, relayed from the CDS's fan-out — legitimate, but a BAP that takes the first
        on_discover (or settles for a fraction of a second, as the reference BAP does) found
        nothing on a busy machine: a false fail. Bounded; without the CDS's answer, discovery
        falls back to the fan-out."""
        cds = self.participants.get("cds")
        if self.bpp is None or cds is None:
            return
        since = time.monotonic()
        self.group.run(self.bpp.publish(cds.uri))
        self.transcript.wait_for(
            lambda e: e.party == "bpp" and e.direction == INBOUND
            and e.action == "on_catalog_publish" and e.mono_time >= since, bound_s)

    async def _close_clients(self) -> None:
        for client in self._clients:
            await client.aclose()
        for bap in (self.bap, self.other_bap):
            if bap is not None:
                await bap.aclose()

    @property
    def live_url(self) -> str | None:
        """Where a person on this host watches the network: the live view, if served."""
        if "registry" not in self.group.served:
            return None
        return self.group.url("registry") + LIVE_PREFIX

    def stop(self) -> None:
        if self.bpp_process is not None:
            self.bpp_process.stop()
        self.live.close()  # ends the live view's open streams, which would hold the stop up
        self.group.stop()
        if self.store is not None:
            self.store.close()
        if self.replays is not None:
            self.replays.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> MockNetwork:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def table(self) -> list[Participant]:
        return list(self.participants.values())

    # -- the CDS's catalogs --------------------------------------------------------------------

    def live_catalogs(self, bpp_id: str) -> list[dict[str, Any]]:
        """The catalogs of one BPP the CDS answers discover from right now, each as the CDS's
        control API lists it (catalog id, item count, expiry, the catalog itself)."""
        if self.cds is None:
            return []
        now = self.cds.now()
        return [entry.as_record(now) for entry in self.cds.cache.live(now)
                if entry.bpp_id == bpp_id]

    def publish_for(self, context: dict[str, Any], catalogs: list[Any]) -> list[dict[str, Any]]:
        """Judge and cache catalogs at the CDS as if the context's BPP had published them: the
        CDS's own judgement of a catalog_publish (schemas, bppId and bppUri the publisher's,
        validity) without its inbox, so no signature is checked. The on_catalog_publish
        results, one per catalog."""
        if self.cds is None:
            raise RuntimeError("this network plays no CDS")
        cds = self.cds

        async def index() -> list[dict[str, Any]]:  # on the servers' loop, like a publish
            return list(cds.index(context, catalogs))
        return self.group.run(index())
