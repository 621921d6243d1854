"""Replays stay refused across a restart, and no signature is taken that would have to be
remembered for ever (issue F: the replay memory lived in memory only, and a request signed for
ten years was ACKed).

The parties of a network remember the signatures they accepted in its state folder
(mocks/stack/replays.py), until they expire; a signature valid longer than the network's
maximum (one hour, UBC-SIG-015, plus the clock skew) is refused 401 naming the window, the
maximum and the rule.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.beckn import envelope, signing
from harness.cli import build_parser
from harness.cli_options import safeguard_config
from harness.network import REPLAYS_FILE, MockNetwork, NetworkConfig
from harness.selftest import free_port_base
from mocks.stack import DEFAULT_MAX_VALIDITY_S, ReplayMemory, Sent

ROLES = ("registry", "bpp", "bap")


# --- the memory itself ---------------------------------------------------------------------------


def test_a_signature_is_taken_once_per_party() -> None:
    memory = ReplayMemory()
    now = time.time()
    assert memory.first_use("bpp", "sig-1", now + 30, now)
    assert not memory.first_use("bpp", "sig-1", now + 30, now)
    # Another party of the network receiving the same signature (the CDS relays a BAP's
    # discover with its Authorization to a BPP) is no replay.
    assert memory.first_use("cds", "sig-1", now + 30, now)


def test_the_file_is_shared_and_outlives_its_connection(tmp_path: Path) -> None:
    path = tmp_path / REPLAYS_FILE
    now = time.time()
    first = ReplayMemory(path)
    assert first.first_use("bpp", "sig-1", now + 30, now)
    first.commit()  # what the background thread does within COMMIT_EVERY_S
    other = ReplayMemory(path)  # another party's process on the same state folder
    assert not other.first_use("bpp", "sig-1", now + 30, now)
    first.close()
    other.close()
    again = ReplayMemory(path)
    assert not again.first_use("bpp", "sig-1", now + 30, now)
    again.close()


def test_taken_signatures_reach_the_file_within_the_commit_interval(tmp_path: Path) -> None:
    """Taken at once in memory, written in batches: another reader of the file sees them
    within COMMIT_EVERY_S, without anyone calling commit()."""
    path = tmp_path / REPLAYS_FILE
    now = time.time()
    memory = ReplayMemory(path, commit_every_s=0.02)
    for i in range(50):
        assert memory.first_use("bap", f"sig-{i}", now + 30, now)
    assert not memory.first_use("bap", "sig-7", now + 30, now)  # a replay before any commit
    reader = sqlite3.connect(path)
    deadline = time.monotonic() + 5
    while reader.execute("SELECT count(*) FROM seen").fetchone()[0] < 50:
        assert time.monotonic() < deadline, "the batch never reached the file"
        time.sleep(0.01)  # the background thread's interval
    reader.close()
    memory.close()


def test_an_unreadable_file_is_set_aside_and_the_memory_starts_empty(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The memory skips fsync (it need not survive power loss): a file that a power loss, or
    anything else, left unreadable must not keep the network from starting."""
    path = tmp_path / "replays.sqlite3"
    path.write_bytes(b"this is not a database, " * 100)
    memory = ReplayMemory(path)
    assert memory.first_use("bpp", "sig-1", time.time() + 60)
    assert not memory.first_use("bpp", "sig-1", time.time() + 60)
    memory.close()
    aside = [p.name for p in tmp_path.iterdir() if ".unreadable-" in p.name]
    assert len(aside) == 1 and "unreadable" in caplog.text and aside[0] in caplog.text
    assert ReplayMemory(path).first_use("bpp", "sig-1", time.time() + 60) is False  # kept


def test_expired_signatures_are_purged_so_the_memory_stays_bounded() -> None:
    memory = ReplayMemory(purge_every=100)
    now = time.time()
    for n in range(250):  # each valid for 10 s from its own arrival, one second apart
        memory.first_use("bpp", f"sig-{n}", now + n + 10, now + n)
    # Purges ran at 100 and 200 arrivals: only what was still valid then (and since) is kept.
    assert len(memory) <= 61, len(memory)
    assert memory.purge(now + 1000) > 0 and len(memory) == 0


def test_an_expired_row_does_not_make_a_fresh_signature_a_replay() -> None:
    memory = ReplayMemory()
    now = time.time()
    assert memory.first_use("bap", "sig", now + 5, now)
    # The same signature after its time: the signature step refuses it as expired; here it
    # only must not count as a replay of a row that should have been purged.
    assert memory.first_use("bap", "sig", now + 100, now + 50)
    assert not memory.first_use("bap", "sig", now + 100, now + 51)


# --- on the wire --------------------------------------------------------------------------------


def _network(state_dir: Path, port_base: int, **config: Any) -> MockNetwork:
    return MockNetwork(NetworkConfig(port_base=port_base, state_dir=state_dir, roles=ROLES,
                                     **config)).start()


def _status(network: MockNetwork, *, created: int, expires: int,
            transaction_id: str = "7c1f2b4e-0000-4000-8000-000000000001",
            message_id: str = "7c1f2b4e-0000-4000-8000-000000000002") -> Sent:
    """A status from the harness BAP to the BPP, byte for byte the same for the same ids and
    window (ed25519 signatures are deterministic), so sending it twice is a replay."""
    bap, bpp = network.participants["bap"], network.participants["bpp"]
    context = envelope.context("status", transaction_id=transaction_id, message_id=message_id,
                               bap_id=bap.subscriber_id, bap_uri=bap.uri,
                               bpp_id=bpp.subscriber_id, bpp_uri=bpp.uri, ttl="PT30S",
                               timestamp="2026-01-05T10:00:00.000Z")
    body = {"context": context, "message": {"order": {"beckn:id": "order-unknown"}}}
    assert network.bap is not None
    return network.group.run(network.bap.outbox.send(bpp.uri, "status", body, created=created,
                                                      expires=expires))


@pytest.fixture
def port_base() -> int:
    return free_port_base()


@pytest.mark.network
def test_a_replay_is_refused_after_a_restart(tmp_path: Path, port_base: int) -> None:
    created = int(time.time())
    first = _network(tmp_path, port_base)
    try:
        accepted = _status(first, created=created, expires=created + 30)
    finally:
        first.stop()
    assert accepted.acked, accepted.exchange.response_body
    assert (tmp_path / REPLAYS_FILE).exists()

    second = _network(tmp_path, port_base)  # `ubc-cert serve` started again on the same folder
    try:
        replayed = _status(second, created=created, expires=created + 30)
        fresh = _status(second, created=created + 1, expires=created + 31)
    finally:
        second.stop()
    assert replayed.status == 401, replayed.exchange.response_body
    assert "replayed request" in str(replayed.ack)
    assert fresh.acked, fresh.exchange.response_body  # the same request, signed anew


@pytest.mark.network
def test_a_window_longer_than_the_maximum_is_refused(tmp_path: Path, port_base: int) -> None:
    created = int(time.time())
    network = _network(tmp_path, port_base)
    try:
        ten_years = _status(network, created=created, expires=created + 10 * 365 * 86400,
                            message_id="7c1f2b4e-0000-4000-8000-000000000003")
        # protocol-server: created 60 s back, an hour from then; within the hour and the skew
        backdated = _status(network, created=created - 60, expires=created - 60 + 3600,
                            message_id="7c1f2b4e-0000-4000-8000-000000000004")
    finally:
        network.stop()
    assert ten_years.status == 401 and ten_years.exchange.response_headers.get(
        "www-authenticate"), ten_years.exchange.response_body
    assert envelope.ack_status(ten_years.ack) == "NACK"
    message = ten_years.ack["error"]["message"]
    assert f"valid for {10 * 365 * 86400} s" in message, message
    assert f"{DEFAULT_MAX_VALIDITY_S:g} s" in message and "UBC-SIG-015" in message, message
    assert backdated.acked, backdated.exchange.response_body


@pytest.mark.network
def test_a_gateway_signature_valid_too_long_is_refused_too(tmp_path: Path,
                                                           port_base: int) -> None:
    """X-Gateway-Authorization verifies like Authorization (BECKN-006): its window is bounded
    the same way, or a replay could ride on a gateway's ten-year signature."""
    created = int(time.time())
    network = _network(tmp_path, port_base)
    try:
        bap, bpp = network.participants["bap"], network.participants["bpp"]
        context = envelope.context("status", transaction_id=str(uuid.uuid4()),
                                   message_id=str(uuid.uuid4()), bap_id=bap.subscriber_id,
                                   bap_uri=bap.uri, bpp_id=bpp.subscriber_id,
                                   bpp_uri=bpp.uri, ttl="PT30S")
        raw = orjson.dumps({"context": context,
                            "message": {"order": {"beckn:id": "order-unknown"}}})
        # a registered party's key (this network plays no CDS): it verifies, only too long
        relay = signing.Signer.from_keypair(network.keys_for("other-bap"))
        gateway = relay.sign(raw, created, created + 10 * 365 * 86400)
        assert network.bap is not None
        sent = network.group.run(network.bap.outbox.send(
            bpp.uri, "status", raw, headers={signing.GATEWAY_AUTHORIZATION: gateway}))
    finally:
        network.stop()
    assert sent.status == 401, sent.exchange.response_body
    message = sent.ack["error"]["message"]
    assert message.startswith(f"{signing.GATEWAY_AUTHORIZATION}: the signature is valid for "
                              f"{10 * 365 * 86400} s"), message


@pytest.mark.network
def test_the_maximum_is_configurable(tmp_path: Path, port_base: int) -> None:
    created = int(time.time())
    network = _network(tmp_path, port_base, max_signature_validity_s=60)
    try:
        too_long = _status(network, created=created, expires=created + 120)
        within = _status(network, created=created, expires=created + 60,
                         message_id="7c1f2b4e-0000-4000-8000-000000000005")
    finally:
        network.stop()
    assert too_long.status == 401 and "60 s this party accepts" in str(too_long.ack)
    assert within.acked, within.exchange.response_body


@pytest.mark.parametrize("command", ["serve", "run"])
def test_serve_and_run_take_the_maximum(command: str) -> None:
    extra = ["--role", "bpp"] if command == "run" else []
    args = build_parser().parse_args([command, *extra, "--max-signature-validity", "600"])
    assert safeguard_config(args)["max_signature_validity_s"] == 600
    defaults = build_parser().parse_args([command, *extra])
    assert "max_signature_validity_s" not in safeguard_config(defaults)
    assert NetworkConfig().max_signature_validity_s == signing.MAX_VALIDITY_S + \
        signing.DEFAULT_SKEW_S


def test_a_nonsense_maximum_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["serve", "--max-signature-validity", "-5"])
    assert stop.value.code == 2 and "positive" in capsys.readouterr().err
