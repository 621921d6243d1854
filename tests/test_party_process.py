"""The reference BPP in a process of its own (harness/party_process.py): the network it joins
sees the same BPP it would have built in-process — identity, faults, replay memory, charger —
and every exchange the BPP records comes back into the network's transcript."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from harness.beckn.order import Order
from harness.beckn.signing import KeyPair
from harness.candidate import Candidate
from harness.network import MockNetwork, NetworkConfig
from harness.party_process import BppProcess, PartyProcessError, TranscriptFollower
from harness.selftest import free_port_base
from harness.spool import Spool
from harness.transcript import INBOUND, OUTBOUND, Exchange, Transcript
from tests.serving import serving

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockNetwork]:
    net = MockNetwork(NetworkConfig(bpp_process=True, bpp_faults=frozenset({"serves-any-bap"}),
                                    state_dir=tmp_path_factory.mktemp("split")))
    net.start()
    try:
        yield net
    finally:
        net.stop()


def an_order(net: MockNetwork) -> Order:
    [catalog] = net.live_catalogs(net.participants["bpp"].subscriber_id)
    item = catalog["catalog"]["beckn:items"][0]
    return Order(seller=item["beckn:provider"]["beckn:id"], item_id=item["beckn:id"],
                 quantity_kwh=2.0)


def test_the_bpp_runs_elsewhere_and_its_exchanges_join_the_transcript(
        split: MockNetwork) -> None:
    assert split.bpp is None and split.charger is None  # nothing of it in this process
    assert split.bpp_process is not None and split.bpp_process.pid != os.getpid()
    # it published its catalog to the CDS before it said it was ready
    order = an_order(split)
    at = split.participants["bpp"]
    call = split.group.run(split.bap.select(order, bpp_uri=at.uri, bpp_id=at.subscriber_id,
                                            wait=True, timeout=15), 30)
    assert call.sent.acked and call.callback is not None
    message_id = call.sent.exchange.message_id
    seen = split.transcript.wait_for(
        lambda e: e.party == "bpp" and e.direction == OUTBOUND and e.action == "on_select"
        and e.message_id == message_id, 10)
    assert seen is not None, "the BPP's on_select never reached the network's transcript"
    [received] = split.transcript.query(party="bpp", direction=INBOUND, action="select",
                                        message_id=message_id)
    assert received.status == 200 and received.request_body == call.sent.exchange.request_body
    # ids are the network's own, unique, however many processes recorded them
    ids = [e.id for e in split.transcript]
    assert len(ids) == len(set(ids))
    # and the network's file holds them too
    lines = [orjson.loads(x) for x in split.transcript.spool.lines()]
    assert any(r["party"] == "bpp" and r["action"] == "on_select" for r in lines)


def test_the_bpp_process_is_configured_as_the_network_asked(split: MockNetwork) -> None:
    bpp = split.participants["bpp"]
    headers = {"Authorization": f"Bearer {split.bpp_control_token}"}
    faults = httpx.get(f"{bpp.url}/_control/faults", headers=headers, timeout=5)
    assert faults.status_code == 200 and faults.json()["faults"] == ["serves-any-bap"]
    # the orders listing answers the token the network holds, and no other
    assert httpx.get(f"{bpp.url}/_control/orders", timeout=5).status_code == 401
    assert httpx.get(f"{bpp.url}/_control/orders", headers=headers,
                     timeout=5).status_code == 200
    # the charger is served by the child on the charger's own port
    charger = split.participants["charger"]
    answer = httpx.get(f"{charger.url}/connectors", timeout=5)
    assert answer.status_code == 200, answer.text


def test_a_replayed_select_is_refused_by_the_bpp_process(split: MockNetwork) -> None:
    at = split.participants["bpp"]
    doc = split.bap.build("select", {"order": an_order(split).to_beckn()},
                          bpp_id=at.subscriber_id, bpp_uri=at.uri)
    raw = orjson.dumps(doc)
    created = int(time.time())
    header = split.bap.identity.signer.sign(raw, created=created, expires=created + 60)
    send = {"content": raw, "timeout": 5,
            "headers": {"Authorization": header, "Content-Type": "application/json"}}
    assert httpx.post(f"{at.uri}/select", **send).status_code == 200  # type: ignore[arg-type]
    again = httpx.post(f"{at.uri}/select", **send)  # type: ignore[arg-type]
    assert again.status_code == 401 and "replay" in again.text.lower()


def test_a_process_that_cannot_start_says_why(tmp_path: Path) -> None:
    process = BppProcess({"host": "127.0.0.1"}, {}, Transcript(), tmp_path / "t.ndjson")
    with pytest.raises(PartyProcessError) as caught:
        process.start(bound_s=20)
    assert "did not start" in str(caught.value) and "KeyError" in str(caught.value)
    assert process.process is not None and process.process.poll() is not None


def record(i: int) -> bytes:
    exchange = Exchange(id=f"c{i}", direction=INBOUND, party="bpp", method="POST",
                        url="http://x/beckn/select", request_headers={},
                        request_body=b'{"n": %d}' % i, wall_time=time.time(),
                        mono_time=time.monotonic(), action="select")
    exchange.status = 200
    return orjson.dumps(exchange.as_record(redact=False)) + b"\n"


def test_the_follower_reads_across_a_rotation_and_skips_what_is_no_exchange(
        tmp_path: Path) -> None:
    path = tmp_path / "child.ndjson"
    spool = Spool(path, segment_bytes=2000)  # rotates every few exchanges
    target = Transcript()
    follower = TranscriptFollower(path, target)
    for i in range(5):
        spool.append(record(i))
    while follower.poll():
        pass
    spool.append(b"not json\n")
    for i in range(5, 40):
        spool.append(record(i))
        if i % 3 == 0:
            while follower.poll():
                pass
    assert (tmp_path / "child.ndjson.1").exists()  # it did rotate, more than once
    while follower.poll():
        pass
    bodies = [orjson.loads(e.request_body)["n"] for e in target]
    assert bodies == list(range(40))
    assert follower.unreadable == 1 and follower.ingested == 40
    assert [e.id for e in target] == [f"x{i:06d}" for i in range(1, 41)]
    spool.close()


def test_the_follower_thread_reads_what_was_written_before_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "child.ndjson"
    target = Transcript()
    follower = TranscriptFollower(path, target).start()
    spool = Spool(path)
    for i in range(10):
        spool.append(record(i))
    follower.stop()
    assert len(list(target)) == 10
    spool.close()


@pytest.fixture
def own(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A network of its own, for a test that ends its BPP's process: that process."""
    net = MockNetwork(NetworkConfig(bpp_process=True, roles=("registry", "bpp", "bap"),
                                    state_dir=tmp_path / "state"))
    net.start()
    try:
        assert net.bpp_process is not None and net.bpp_process.process is not None
        yield net.bpp_process.process
    finally:
        net.stop()


def test_the_bpp_process_never_outlives_its_network(own: subprocess.Popen[str]) -> None:
    """However the network's process ends (kill -9 included), its stdin pipe to the child
    closes, and the child stops: no orphan keeps the ports or a terminal's pipe."""
    assert own.stdin is not None
    own.stdin.close()  # what the kernel does when this process dies
    assert own.wait(10) == 0


def test_a_bpp_process_that_dies_is_reported_at_once(
        own: subprocess.Popen[str], caplog: pytest.LogCaptureFixture) -> None:
    own.kill()
    own.wait(10)
    deadline = time.monotonic() + 5
    while "ended with exit -9" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.01)  # the watcher's thread logs it
    assert f"pid {own.pid}" in caplog.text and "no longer answer" in caplog.text


@pytest.mark.parametrize("option", [[], ["--bpp-in-process"]])
def test_serve_says_where_its_bpp_runs(tmp_path: Path, option: list[str]) -> None:
    base = free_port_base()
    with serving("--port-base", str(base), "--state-dir", str(tmp_path / "state"),
                 *option) as served:
        assert f"127.0.0.1:{base + 2}" in served.text, served.text  # the BPP's row, either way
        assert ("a process of their own (pid" in served.text) == (not option), served.text
        # the BPP answers at its port, wherever it runs: unsigned, refused by its inbox
        refused = httpx.post(f"http://127.0.0.1:{base + 2}/beckn/select", content=b"{}",
                             timeout=5)
        assert refused.status_code == 401
    assert served.process.returncode == 0 and "mock network stopped" in served.rest


def test_the_bpp_process_takes_webhooks_on_the_hosts_allowed_when_it_starts(
        tmp_path: Path) -> None:
    """A candidate registered between build() and start() (as serve does) is on the charger's
    allow-list in the BPP's process too; other hosts are not."""
    net = MockNetwork(NetworkConfig(bpp_process=True, state_dir=tmp_path / "state",
                                    roles=("registry", "bpp", "bap", "charger")))
    net.build()
    keys = KeyPair.generate("cpo.example.com", "cpo.example.com-k1")
    net.register_candidate(Candidate("bpp", keys.subscriber_id, keys.key_id,
                                     keys.signing_public_key, "http://10.231.7.2:9000/beckn"))
    net.start()
    try:
        charger = net.participants["charger"].url
        taken = httpx.post(f"{charger}/webhooks", json={"url": "http://10.231.7.2:9000/ev"},
                           timeout=5)
        assert taken.status_code == 201, taken.text
        refused = httpx.post(f"{charger}/webhooks", json={"url": "http://10.9.9.9:80/ev"},
                             timeout=5)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "HOST_NOT_ALLOWED"
    finally:
        net.stop()


def test_a_line_appended_just_before_a_rotation_is_not_skipped(tmp_path: Path) -> None:
    """The follower finds the end of the file, the child appends one more line, rotates and
    begins the next file, and only then does the follower look for a rotation: that line is
    read from the old file before the follower moves on."""
    path = tmp_path / "child.ndjson"
    size = len(record(0))
    spool = Spool(path, segment_bytes=2 * size + size // 2)  # two lines fit, a third rotates
    target = Transcript()

    class Racing(TranscriptFollower):
        raced = False

        def _rotated(self) -> bool:
            if not self.raced:  # between our empty read and our look at the path
                self.raced = True
                spool.append(record(1))
                spool.append(record(2))
            return super()._rotated()

    follower = Racing(path, target)
    spool.append(record(0))
    while follower.poll():
        pass
    while follower.poll():
        pass
    assert [orjson.loads(e.request_body)["n"] for e in target] == [0, 1, 2]
    spool.close()
