"""The transcript streams to disk as exchanges finish and keeps memory within its bounds: the
most recent exchanges whole, older ones without their bodies (read back from the file when
asked), the oldest forgotten by a long-running network; the file holds every one."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from harness.beckn.order import Order
from harness.network import MockNetwork, NetworkConfig
from harness.transcript import ENDED, INBOUND, OUTBOUND, Bounds, Exchange, Transcript, is_end

BIG = 256 * 1024


def _record(transcript: Transcript, n: int, *, body_bytes: int = 0,
            answer: bool = True) -> Exchange:
    doc = {"context": {"action": "select", "transaction_id": f"t{n % 7}",
                       "message_id": f"m{n}"}, "message": {"pad": "x" * body_bytes, "n": n}}
    exchange = transcript.begin(INBOUND, "bpp", "POST", "http://bpp/beckn/select",
                                {"Authorization": f"Signature n{n}", "Cookie": "secret"},
                                orjson.dumps(doc))
    if answer:
        transcript.finish(exchange, 200, {"content-type": "application/json"},
                          b'{"message":{"ack":{"status":"ACK"}}}')
    return exchange


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_older_exchanges_leave_their_bodies_on_disk_and_read_them_back() -> None:
    transcript = Transcript(Bounds(whole=5, whole_bytes=10 * 1024 * 1024))
    made = [_record(transcript, n) for n in range(40)]
    entries = transcript.entries()
    assert entries == made  # a run's transcript still knows every exchange, in order
    assert [e.spilled for e in entries] == [True] * 35 + [False] * 5
    oldest = entries[0]
    assert "request_body" not in oldest.__dict__
    assert oldest.json()["message"]["n"] == 0  # read back from the file
    assert oldest.request_headers["Authorization"] == "Signature n0"  # unredacted, as sent
    assert oldest.response_json() == {"message": {"ack": {"status": "ACK"}}}
    assert "request_body" not in oldest.__dict__  # reading did not pin it again
    assert [e.message_id for e in transcript.transaction("t3")] == \
        [f"m{n}" for n in range(40) if n % 7 == 3]


def test_big_bodies_do_not_stay_in_memory() -> None:
    transcript = Transcript(Bounds(whole=1000, whole_bytes=BIG))
    for n in range(30):
        _record(transcript, n, body_bytes=BIG // 3)
    whole = [e for e in transcript.entries() if not e.spilled]
    assert sum(e.size for e in whole) <= BIG
    assert len(whole) == 2
    oversize = _record(transcript, 99, body_bytes=2 * BIG)  # alone over the bound: spilled
    assert oversize.spilled and len(oversize.request_body) > 2 * BIG


def test_a_bounded_index_forgets_the_oldest_but_the_file_holds_them_all(
        tmp_path: Path) -> None:
    path = tmp_path / "serve-transcript.ndjson"
    transcript = Transcript(Bounds(whole=10, whole_bytes=1024 * 1024, index=50), path)
    for n in range(2000):
        _record(transcript, n, body_bytes=2000)
    pending = _record(transcript, 2000, answer=False)
    assert len(transcript) == 50 and transcript.forgotten == 1951
    assert sum(not e.spilled for e in transcript.entries()) == 10 + 1  # and the unanswered one
    assert sum(len(transcript.transaction(f"t{n}")) for n in range(7)) == 50
    assert len(transcript._by_transaction) <= 7
    streamed = _lines(path)  # as they finished, unredacted: the network's own file
    assert [r["message_id"] for r in streamed] == [f"m{n}" for n in range(2000)]
    assert streamed[0]["request_headers"]["Cookie"] == "secret"
    assert path.stat().st_mode & 0o777 == 0o600
    written = tmp_path / "transcript.ndjson"
    transcript.write_ndjson(written, ended={"verdict": "INTERRUPTED"})
    records = _lines(written)
    assert [r.get("message_id") for r in records[:-1]] == [f"m{n}" for n in range(2001)]
    assert records[0]["request_headers"]["Cookie"] == "<redacted>"
    assert records[-2]["id"] == pending.id and records[-2]["status"] is None
    assert is_end(records[-1]) and records[-1] == {ENDED: {"verdict": "INTERRUPTED"}}


def test_the_file_is_kept_to_two_segments(tmp_path: Path) -> None:
    path = tmp_path / "t.ndjson"
    transcript = Transcript(Bounds(whole=2, index=100, segment_bytes=64 * 1024), path)
    for n in range(300):
        _record(transcript, n, body_bytes=1000)
    older = path.with_name("t.ndjson.1")
    assert path.stat().st_size <= 64 * 1024 and older.stat().st_size <= 64 * 1024
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.ndjson", "t.ndjson.1"]
    kept = _lines(older) + _lines(path)
    numbers = [int(str(r["message_id"])[1:]) for r in kept]
    assert numbers == list(range(300 - len(kept), 300))
    assert transcript.entries()[-1].json()["message"]["n"] == 299


def test_a_run_writes_the_same_transcript_whether_bodies_were_spilled_or_not(
        tmp_path: Path) -> None:
    kept, spilled = Transcript(), Transcript(Bounds(whole=3))
    for transcript in (kept, spilled):
        for n in range(20):
            _record(transcript, n, answer=n != 4)
    for transcript, name in ((kept, "kept.ndjson"), (spilled, "spilled.ndjson")):
        transcript.write_ndjson(tmp_path / name)
    first, second = (_lines(tmp_path / n) for n in ("kept.ndjson", "spilled.ndjson"))
    for records in (first, second):
        for record in records:  # recorded apart in time: only the times differ
            for name in ("wall_time", "mono_time", "response_mono_time", "latency_s"):
                record.pop(name)
    assert first == second and [r["id"] for r in first] == [f"x{n:06d}" for n in range(1, 21)]


def test_bad_bounds_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="index must be a whole number"):
        Bounds(index=-1)


@pytest.mark.network
def test_a_network_with_a_small_bound_keeps_memory_bounded_and_the_file_complete(
        tmp_path: Path) -> None:
    """Selects through the reference BAP and BPP: each answered within the ttl, memory holding
    no more than the bound, and the network's file every exchange."""
    path = tmp_path / "serve-transcript.ndjson"
    network = MockNetwork(NetworkConfig(
        roles=("registry", "bpp", "bap"), registry_cache_s=60.0,
        transcript_bounds=Bounds(whole=8, whole_bytes=64 * 1024, index=40),
        transcript_file=path))
    with network:
        bap, bpp = network.bap, network.bpp
        assert bap is not None and bpp is not None
        item = bpp.catalog()["beckn:items"][0]
        order = Order(seller=item["beckn:provider"]["beckn:id"], item_id=item["beckn:id"],
                      quantity_kwh=2.0)
        bpp_at = network.participants["bpp"]

        async def selects() -> list[bool]:
            answered = []
            for _ in range(60):
                call = await bap.select(order, bpp_uri=bpp_at.uri, bpp_id=bpp_at.subscriber_id,
                                        wait=True, timeout=10)
                answered.append(call.sent.acked and call.callback is not None)
            return answered
        assert network.group.run(selects(), 120) == [True] * 60
        transcript = network.transcript
        assert len(transcript) <= 40
        whole = [e for e in transcript.entries() if not e.spilled]
        assert len(whole) <= 8 + 4  # and those still in flight
        finished = _lines(path)
    selects_sent = [r for r in finished if r["direction"] == OUTBOUND and r["party"] == "bap"
                    and r["action"] == "select"]
    callbacks = {r["message_id"] for r in finished if r["direction"] == INBOUND
                 and r["party"] == "bap" and r["action"] == "on_select" and r["status"] == 200}
    assert len(selects_sent) == 60
    assert {r["message_id"] for r in selects_sent} <= callbacks
