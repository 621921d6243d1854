"""`ubc-cert reference bpp|bap`: one reference participant, standalone, as an implementer's
own server would run: its own port, its own key, keys of others looked up in a registry.

The reference BPP carries its charger simulator in-process; the charger's control API is
mounted at `/_charger` on the same port so a harness can plug a car in. The reference BAP
serves its `/v1` client API on its port; the URL and the Bearer token are printed and
written into its candidate file.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from harness import exitcodes, schemas
from harness.addresses import AddressError, Addresses
from harness.beckn import signing
from harness.beckn.keys import read_key_file
from harness.candidate import Candidate
from harness.servers import ServerGroup, tune_collector, wait_for_stop_signal
from harness.transcript import Transcript
from mocks.stack import Identity, OutboundHosts, RegistryClient, party_client

BECKN_PATH = "/beckn"


class SetupError(Exception):
    pass


def _usage(message: str) -> int:
    print(f"ubc-cert reference: {message}", file=sys.stderr)
    return exitcodes.COULD_NOT_RUN


def list_faults(role: str = "bpp") -> int:
    from mocks import bap, bpp

    faults: dict[str, Any] = dict(bap.FAULTS if role == "bap" else bpp.FAULTS)
    for name, fault in faults.items():
        print(f"{name}\t{fault.rule}\t{fault.description}")
    return exitcodes.OK


def _keys(args: argparse.Namespace, subscriber_id: str) -> signing.KeyPair:
    if not args.key:
        return signing.KeyPair.generate(subscriber_id, f"{subscriber_id}-k1")
    try:
        return read_key_file(args.key)
    except signing.InvalidKey as exc:
        raise SetupError(str(exc)) from None


def charger_hosts(allowed: list[str], *urls: str | None) -> OutboundHosts:
    """Where the reference BPP's charger may send webhooks, as the mock network allows its
    parties (harness/network.py): loopback, the participant's own address, the registry's
    and the CDS's (`urls`), and the `--allow-outbound` hosts. Its Beckn callbacks go to
    whichever BAP the registry names, wherever that is: they are not held to the list."""
    hosts = OutboundHosts(allowed)
    for url in urls:
        if url:
            hosts.allow_url(url)
    return hosts


def build_app(role: str, identity: Identity, registry_url: str, transcript: Transcript, *,
              faults: list[str], cds_url: str | None, ttl: str, registry_cache_s: float = 1.0,
              outbound: OutboundHosts | None = None) -> tuple[Any, Any]:
    """The participant's ASGI app and the participant object; `outbound`: the hosts the
    BPP's charger takes webhooks on (default: charger_hosts with no --allow-outbound)."""
    schema_set = schemas.load()
    directory = RegistryClient(registry_url, cache_s=registry_cache_s)
    if role == "bpp":
        from mocks import bpp, charger

        unknown = [f for f in faults if f not in bpp.FAULTS]
        if unknown:
            raise SetupError(f"unknown fault {unknown[0]!r}; see --list-faults")
        # Real time: a harness moves the charger's clock with the `advance` hook.
        simulator = charger.Charger(clock=charger.Clock(speed=1.0))
        config = bpp.BppConfig(identity=identity, cds_uri=cds_url, ttl=ttl, faults=set(faults))
        app = bpp.create_app(config, simulator, transcript, directory=directory,
                             schemas=schema_set)
        charger_app = charger.create_app(simulator, outbound=outbound or charger_hosts(
            [], identity.uri, registry_url, cds_url))

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            # Mounted apps get no lifespan of their own: run theirs (ticker, clients) here.
            async with contextlib.AsyncExitStack() as stack:
                for sub in (charger_app, app):
                    await stack.enter_async_context(sub.router.lifespan_context(sub))
                yield

        outer = Starlette(routes=[Mount("/_charger", app=charger_app), Mount("/", app=app)],
                          lifespan=lifespan)
        return outer, app
    from mocks import bap

    unknown = [f for f in faults if f not in bap.FAULTS]
    if unknown:
        raise SetupError(f"unknown fault {unknown[0]!r}; see --list-faults")
    participant = bap.ReferenceBap(bap.BapConfig(identity=identity, cds_uri=cds_url, ttl=ttl,
                                                 faults=set(faults)),
                                   transcript, directory=directory, schemas=schema_set,
                                   http=party_client())
    return bap.create_app(participant), participant


def run(args: argparse.Namespace) -> int:
    if args.list_faults:
        return list_faults(args.role or "bpp")
    if args.role is None:
        return _usage("give a role: bpp or bap")
    if args.port is None or args.registry_url is None:
        return _usage("--port and --registry-url are required")
    if args.registry_cache < 0:
        return _usage("--registry-cache must be 0 or more seconds")
    subscriber_id = args.subscriber_id or f"reference-{args.role}.ubc"
    try:
        addresses = Addresses(args.host, args.public_url, one_party=True)
        keys = _keys(args, subscriber_id)
        group = ServerGroup(args.host)
        served = group.reserve(args.role, args.port)
        public = addresses.advertised(args.role, served.port)
        identity = Identity.create(keys.subscriber_id, args.role, public + BECKN_PATH, keys)
        transcript = Transcript()
        app, participant = build_app(
            args.role, identity, args.registry_url, transcript, faults=args.fault,
            cds_url=args.cds_url, ttl=args.ttl, registry_cache_s=args.registry_cache,
            outbound=charger_hosts(args.allow_outbound, public, args.registry_url,
                                   args.cds_url))
        group.attach(args.role, app)
    except (SetupError, AddressError) as exc:
        return _usage(str(exc))
    except OSError as exc:
        return _usage(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    candidate = Candidate(role=args.role, subscriber_id=identity.subscriber_id,
                          key_id=identity.key_id, signing_public_key=identity.public_key,
                          uri=identity.uri,
                          control_url=f"{public}/_control/hooks" if args.role == "bpp"
                          else None,
                          client_api_url=f"{public}/v1" if args.role == "bap" else None,
                          client_api_token=participant.config.client_api_token
                          if args.role == "bap" else None)
    group.start()
    tune_collector()  # up for long, under load: see harness/servers.py
    if args.write_candidate:  # written once the server answers, so its presence means "ready"
        written = Path(args.write_candidate)
        written.write_text(candidate.to_toml(), encoding="utf-8")
        if candidate.client_api_token:
            written.chmod(0o600)  # it holds the client API's token
    faults = f" with faults {', '.join(args.fault)}" if args.fault else ""
    print(f"reference {args.role} {identity.subscriber_id} listening at {identity.uri}{faults}")
    print(f"key id {identity.key_id}, public key {identity.public_key}")
    if candidate.client_api_url:
        print(f"client API {candidate.client_api_url}, Bearer token "
              f"{candidate.client_api_token}")
    if args.role == "bpp":  # the one control route that shows every BAP's orders
        print(f"orders listing {public}/_control/orders, Bearer token "
              f"{participant.state.bpp.config.control_token}")
    if args.write_candidate:
        print(f"candidate file: {args.write_candidate}")
    sys.stdout.flush()
    try:
        wait_for_stop_signal()
    finally:
        group.stop()
    return exitcodes.OK

