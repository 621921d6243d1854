"""The listener of a load run: the harness's side of the network, in a process of its own.

`python -m harness.load.listener` reads its settings as one JSON line on stdin, brings up the
registry (with the candidate registered), the CDS and the harness's two BAPs exactly as
`ubc-cert run` does (same ports from `port_base`, same keys from the state folder), serves the
arrivals API (arrivals.py) beside them, waits until the candidate accepts connections,
discovers its catalog through the CDS, and prints one JSON line: the plan every Locust user
works from, or the reason it could not. It then serves until SIGTERM (or SIGINT), and writes
the transcript of everything the harness's parties received into the run's folder.

It runs apart from Locust on purpose: Locust's gevent patches sockets, threads and time, and
the mock network's uvicorn servers run on an asyncio loop in a thread of their own.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import candidate as candidate_module
from harness import startup
from harness.addresses import AddressError, Addresses
from harness.beckn import time as wire_time
from harness.beckn.order import dig
from harness.beckn.signing import InvalidKey
from harness.beckn.time import duration_seconds
from harness.certify.bpp.role import BPP
from harness.load.arrivals import Arrivals, Ledger, Quota, create_app
from harness.load.plan import Item, Plan, Signatory, boot_id
from harness.network import MockNetwork, NetworkConfig
from harness.servers import wait_for_stop_signal
from harness.state import default_state_dir
from harness.transcript import INBOUND, Exchange

DISCOVER = {"text_search": "charging"}  # as a certification's discovery asks
DISCOVERY_GRACE_S = 5.0


class CouldNotRun(Exception):
    """Nothing can be loaded: the message says why."""


def _catalogs(exchange: Exchange, candidate_id: str) -> list[dict[str, Any]]:
    return [c for c in dig(exchange.json(), "message", "catalogs") or []
            if isinstance(c, dict) and c.get("beckn:bppId") == candidate_id]


def items_of(catalog: dict[str, Any], candidate_id: str) -> list[Item]:
    """Each item of the catalog with the offer that lists it, its provider and unit price."""
    offers = [o for o in catalog.get("beckn:offers") or [] if isinstance(o, dict)]
    found = []
    for item in catalog.get("beckn:items") or []:
        if not isinstance(item, dict) or not item.get("beckn:id"):
            continue
        item_id = str(item["beckn:id"])
        offer = next((o for o in offers if item_id in (o.get("beckn:items") or [])), None)
        price = dig(offer, "beckn:price", "value")
        provider = dig(item, "beckn:provider", "beckn:id") or \
            (offer or {}).get("beckn:provider") or candidate_id
        found.append(Item(item_id, str(provider), offer,
                          float(price) if isinstance(price, int | float) else None))
    return found


def discover(net: MockNetwork, candidate_id: str, ttl_s: float) -> list[Item]:
    """The candidate's items, from the first on_discover through the CDS that lists them.
    Discovery sets the load up and is not measured: a slow catalog is waited for a little
    longer than the ttl, so that a candidate whose every callback is late is still loaded
    (and its lateness measured)."""
    bap = net.bap
    assert bap is not None

    async def first_catalog() -> Exchange | None:
        call = await bap.send("discover", DISCOVER, to=net.participants["cds"].uri, wait=False)
        if not call.sent.acked:
            raise CouldNotRun(f"the CDS did not acknowledge the discover: {call.sent.status} "
                              f"{call.sent.error or ''}".strip())
        return await net.transcript.wait_for_async(
            lambda e: e.direction == INBOUND and e.party == "bap" and e.status == 200
            and e.action == "on_discover" and e.transaction_id == call.transaction_id
            and bool(_catalogs(e, candidate_id)), bound_s, transaction_id=call.transaction_id)
    bound_s = ttl_s + DISCOVERY_GRACE_S
    found = net.group.run(first_catalog(), bound_s + 10)
    if found is None:
        raise CouldNotRun(f"no catalog of {candidate_id} reached the harness's BAP through the "
                          f"CDS within {bound_s:g} s (`ubc-cert run` says why)")
    items = [i for c in _catalogs(found, candidate_id) for i in items_of(c, candidate_id)]
    if not items:
        raise CouldNotRun(f"the catalog of {candidate_id} lists no item to order")
    return items


def slot_base() -> str:
    """Races book slots on a random future day, so that repeated runs against one
    long-running candidate do not collide with the bookings of earlier runs."""
    day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + \
        timedelta(days=secrets.randbelow(90) + 1)
    return wire_time.format(day, timespec="seconds")


def _signatory(net: MockNetwork, role: str) -> Signatory:
    keys = net.keys_for(role)
    return Signatory(keys.subscriber_id, keys.key_id, keys.signing_private_key,
                     net.participants[role].uri)


def bring_up(settings: dict[str, Any]) -> tuple[MockNetwork, Plan, list[str]]:
    """The network up, the candidate reachable and its catalog known: the plan, and what the
    operator is told (where the harness's parties are)."""
    try:
        cand = candidate_module.load(settings["candidate"])
        ttl_s = duration_seconds(settings["ttl"])
    except (candidate_module.CandidateError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from None
    if cand.role != "bpp":
        raise CouldNotRun(f"{settings['candidate']} describes a {cand.role}: `load` drives a "
                          "BPP")
    state_dir = Path(settings["state_dir"]) if settings.get("state_dir") else default_state_dir()
    safeguards = dict(settings.get("safeguards") or {})  # as `run` takes them (JSON: lists)
    safeguards["allow_outbound"] = tuple(safeguards.get("allow_outbound", ()))
    try:
        net = MockNetwork(NetworkConfig(
            port_base=settings.get("port_base"), state_dir=state_dir,
            fresh_keys=bool(settings.get("fresh_keys")), host=settings["host"],
            public_url=settings.get("public_url"), ttl=settings["ttl"], roles=BPP.plays,
            report_dir=Path(settings["report_dir"]), live_title="ubc-cert load",
            **safeguards))
    except AddressError as exc:
        raise CouldNotRun(str(exc)) from None
    try:
        net.build()
        net.register_candidate(cand)
        # The load's requests are sent by Locust users, in other processes: the BAPs never
        # saw their transactions, so their inboxes take every callback that passes the shared
        # checks (signature, schema, sender); what the callbacks say is judged at the end.
        for bap in (net.bap, net.other_bap):
            assert bap is not None
            bap.inbox.admission = None
        arrivals = Arrivals(net.group.loop, max_wait_s=ttl_s + 5)
        arrivals.follow(net.transcript)
        token = secrets.token_urlsafe(24)
        ledger = Ledger(Quota(settings.get("sessions")), Quota(settings.get("races", 0)))
        served = net.group.add("load", create_app(arrivals, ledger, token),
                               settings.get("arrivals_port") or 0)
        net.start()
    except (OSError, InvalidKey, RuntimeError, TimeoutError) as exc:
        net.stop()
        raise CouldNotRun(f"cannot start the harness's network: {exc}") from None
    try:
        if not startup.reachable(cand.uri, float(settings.get("wait", 30.0))):
            raise CouldNotRun(f"the candidate is not reachable at {cand.uri}")
        items = discover(net, cand.subscriber_id, ttl_s)
        arrivals_url = Addresses(settings["host"], settings.get("public_url")).advertised(
            "load", served.port)
    except (CouldNotRun, AddressError, TimeoutError) as exc:
        net.stop()
        raise CouldNotRun(str(exc)) from None
    plan = Plan(bap=_signatory(net, "bap"), other_bap=_signatory(net, "other-bap"),
                candidate_id=cand.subscriber_id, candidate_uri=cand.uri,
                arrivals_url=arrivals_url, token=token, items=tuple(items),
                ttl=settings["ttl"], ttl_s=ttl_s, ack_bound_s=float(settings["ack_bound"]),
                slot_base=slot_base(), boot_id=boot_id(), ledger=ledger.as_dict())
    return net, plan, _where(net)


def _where(net: MockNetwork) -> list[str]:
    """What the candidate must be pointed at, and where a person watches."""
    lines = [f"registry    {net.participants['registry'].url}"]
    for role, title in (("bap", "harness BAP"), ("other-bap", "second BAP")):
        party = net.participants[role]
        lines.append(f"{title:11} {party.subscriber_id} at {party.uri}, key id {party.key_id}")
    return [*lines, f"CDS         {net.participants['cds'].uri} (it forwards discover to "
            "the candidate)", f"live view   {net.live_url}"]


def _stop_at_end_of_input() -> None:
    for _ in sys.stdin:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    settings = json.loads(sys.stdin.readline())
    try:
        net, plan, told = bring_up(settings)
    except CouldNotRun as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return 2
    print(json.dumps({"plan": plan.as_dict(), "announce": told}), flush=True)
    # `ubc-cert load` holds our stdin: when it ends, however it ends, so do we.
    threading.Thread(target=_stop_at_end_of_input, daemon=True).start()
    try:
        wait_for_stop_signal()
    finally:
        net.stop()
        # What the harness's parties received, callbacks above all: the findings' evidence.
        net.transcript.write_ndjson(Path(settings["run_dir"]) / "transcript.ndjson")
    return 0


if __name__ == "__main__":
    sys.exit(main())
