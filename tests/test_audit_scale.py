"""`ubc-cert audit` at scale: a capture streamed, judged in partitions on a process pool or a Dask
cluster, writes byte for byte the report of the audit that reads it whole in one process.

Each input is audited whole (`audit.audit`, rendered as the command renders it) and partitioned
(`scale.run`), with partition counts chosen so that transactions that must be judged together
(a callback under another transaction's id, an unsolicited callback reusing a request's
message_id, a catalog published in a transaction of its own, a BAP run's orders) hash to
different partitions. Memory is held flat while the capture grows; bench/audit_scale_bench.py
measures throughput and peak memory at size.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import os
import tempfile
import tracemalloc
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import audit, schemas
from harness.audit import cluster, inputs, plan, reading, scale, spill
from harness.beckn import envelope, signing
from harness.cli import main
from harness.selftest import certify_reference
from harness.transcript import INBOUND, OUTBOUND
from tests.test_audit import (
    BAP,
    CANDIDATE,
    CDS,
    WALL,
    discovery,
    load,
    record,
    transcript,
    walk_in,
)
from tests.test_audit_bap import BAP_ID, BAP_URI, BPP_ID, BPP_URI, HARNESS, as_app_sees_it


def fresh(docs: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The flow again as transaction n: its own transaction id and message ids."""
    again = copy.deepcopy(docs)
    ids: dict[str, str] = {}
    for doc in again:
        ctx = doc["context"]
        ctx["transaction_id"] = str(uuid.UUID(int=n + 1))
        ctx["message_id"] = ids.setdefault(ctx["message_id"], str(uuid.uuid5(
            uuid.NAMESPACE_URL, f"{n}/{ctx['message_id']}")))
    return again


def capture_line(doc: dict[str, Any], when: float | None = None) -> str:
    line: dict[str, Any] = {"headers": {}, "body": json.dumps(doc)}
    if when is not None:
        line["received_at"] = when
    return json.dumps(line)


def whole(paths: list[str], form: str = scale.JSON, options: audit.Options | None = None
          ) -> str:
    """The report as the single-pass audit renders it."""
    report = audit.audit(paths, schemas.load(), options)
    if form == scale.JSON:
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=1) + "\n"
    return audit.render_text(report, form == scale.TEXT_VERBOSE) + "\n"


def scaled(paths: list[str], form: str = scale.JSON, options: audit.Options | None = None,
           **how: Any) -> str:
    out = io.StringIO()
    scale.run(paths, schemas.DEFAULT_PROFILE, options or audit.Options(), scale.Scale(**how),
              out, form)
    return out.getvalue()


def apart(*transaction_ids: str | None) -> int:
    """A partition count that puts these transactions in different partitions by hash."""
    for count in range(2, 64):
        if len({reading.transaction_key(t) % count for t in transaction_ids}) == \
                len(transaction_ids):
            return count
    raise AssertionError("no such count")


def assert_same(paths: list[str], counts: tuple[int, ...], **options: Any) -> str:
    """Every form, partitioned `counts` ways, in process and on two workers, files read whole
    and in pieces of a few lines: the same bytes."""
    opts = audit.Options(**options)
    expected = whole(paths, scale.JSON, opts)
    for count in counts:
        for workers in (1, 2):
            assert scaled(paths, options=opts, workers=workers, partitions=count) == expected
    with mock.patch.object(plan, "PIECE_BYTES", 3000):
        assert scaled(paths, options=opts, workers=2, partitions=counts[0]) == expected
    for form in (scale.TEXT, scale.TEXT_VERBOSE):
        assert scaled(paths, form, opts, workers=1, partitions=counts[-1]) == \
            whole(paths, form, opts)
    return expected


# -- the same report ------------------------------------------------------------------------------


def test_a_partitioned_capture_in_many_files_gives_the_report_read_whole(tmp_path: Path) -> None:
    docs = walk_in()
    del docs[3]  # the first transaction's on_init never came
    folder = tmp_path / "capture"
    folder.mkdir()
    for part in range(3):
        lines = [capture_line(doc, WALL + 100 * n + i)
                 for n in range(part * 4, part * 4 + 4)
                 for i, doc in enumerate(fresh(docs if n == 0 else walk_in(), n))]
        (folder / f"part-{part}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = assert_same([str(folder)], (2, 7, 40))
    report = json.loads(expected)
    assert (report["transactions"], report["messages"], report["errors"]) == (12, 227, 1)


def test_untimed_lines_whole_json_files_garbage_and_every_line_break_come_out_the_same(
        tmp_path: Path) -> None:
    docs = walk_in()
    bare = tmp_path / "bare.ndjson"  # no arrival times, CRLF and CR line breaks, blank lines
    bare.write_bytes(b"\r\n".join(json.dumps(d).encode() for d in fresh(docs, 1)[:10]) +
                     b"\r\n\r\nnot json\r" + b"\r".join(
                         json.dumps(d).encode() for d in fresh(docs, 1)[10:]) + b"\n\n")
    single = tmp_path / "one.json"
    single.write_text(json.dumps(fresh(docs, 2)[0]), encoding="utf-8")
    timed = tmp_path / "timed.ndjson"
    timed.write_text("\n".join(capture_line(d, WALL + i) for i, d in enumerate(fresh(docs, 3)))
                     + "\n" + json.dumps({"body": 7}) + "\n", encoding="utf-8")
    paths = [str(bare), str(single), str(timed)]
    expected = json.loads(assert_same(paths, (3, 11)))
    assert expected["messages"] == 41 and expected["results"][-1]["transaction_id"] is None


def test_transactions_judged_together_stay_together_whatever_their_partition(
        tmp_path: Path) -> None:
    """A callback under another transaction's id answers its request there (UBC-CTX-012); an
    unsolicited callback reusing a message_id of another transaction is reported (UBC-CTX-014);
    an item outside the catalog published in a transaction of its own (UBC-CONS-005)."""
    first, second, third = fresh(walk_in(), 1), fresh(walk_in(), 2), fresh(walk_in(), 3)
    stray = copy.deepcopy(first[3])  # on_init under a transaction of its own
    stray["context"]["transaction_id"] = "0f0f0f0f-0000-4000-8000-00000000cafe"
    first[3] = stray
    reuse = copy.deepcopy(second[8])  # an unsolicited on_status with third's select's id
    reuse["context"] = envelope.callback_context(reuse["context"], unsolicited=True,
                                                 action="on_status")
    reuse["context"]["message_id"] = third[0]["context"]["message_id"]
    second.append(reuse)
    catalog = load("21_publish/ev-charging-catalog-publish.json")
    catalog["context"]["transaction_id"] = "0f0f0f0f-0000-4000-8000-0000000ca7a1"
    for listed in catalog["message"]["catalogs"]:
        listed["beckn:bppId"] = first[1]["context"]["bpp_id"]
        listed["beckn:items"] = [{"beckn:id": "not-the-item-ordered"}]
    docs = [catalog, *first, *second, *third]
    capture = tmp_path / "capture.ndjson"
    capture.write_text("\n".join(capture_line(d, WALL + i) for i, d in enumerate(docs)) + "\n",
                       encoding="utf-8")
    count = apart(first[0]["context"]["transaction_id"], stray["context"]["transaction_id"],
                  second[0]["context"]["transaction_id"], third[0]["context"]["transaction_id"],
                  catalog["context"]["transaction_id"])
    report = json.loads(assert_same([str(capture)], (count,)))
    rules = {f["rule"] for t in report["results"] for f in t["findings"]
             if f["severity"] == "error" and "status" not in f}
    assert {"UBC-CTX-012", "UBC-CTX-014", "UBC-CONS-005"} <= rules
    home = next(t for t in report["results"]
                if t["transaction_id"] == first[0]["context"]["transaction_id"])
    assert any(f["rule"] == "UBC-CTX-012" for f in home["findings"])


def test_transcripts_their_reports_and_a_bap_run_come_out_the_same(tmp_path: Path) -> None:
    keys = signing.KeyPair.generate("cpo.example", "cpo.example-k1")
    signer = signing.Signer.from_keypair(keys)
    runs = []
    for n in range(2):  # two runs: both transcripts count from x1
        folder = tmp_path / f"run-{n}"
        folder.mkdir()
        docs = fresh(walk_in(), 10 + n)[:4]
        discover, _ = discovery()
        for doc in docs:
            doc["context"].update(bpp_id="cpo.example", bpp_uri=CANDIDATE)
        transcript(folder, [
            record("x1", OUTBOUND, "bap", f"{CDS}/discover", discover, 1.0),
            record("x2", INBOUND, "cds", f"{CDS}/discover", discover, 1.001),
            record("x3", OUTBOUND, "bap", f"{CANDIDATE}/select", docs[0], 2.0),
            record("x4", INBOUND, "bap", f"{BAP}/on_select", docs[1], 2.5, signer=signer),
            record("x5", OUTBOUND, "bap", f"{CANDIDATE}/init", docs[2], 3.0),
            record("x6", INBOUND, "bap", f"{BAP}/on_init", docs[3], 43.0, signer=signer),
        ])
        (folder / "report.json").write_text(json.dumps({
            "role": "bpp", "candidate": {
                "role": "bpp", "subscriber_id": "cpo.example", "key_id": keys.key_id,
                "signing_public_key": keys.signing_public_key, "uri": CANDIDATE},
            "options": {"ack_bound_s": 10.0}, "started": "2027-01-15T08:00:00Z",
            "duration_s": 60.0}), encoding="utf-8")
        runs.append(str(folder))
    runs.append(_bap_run(tmp_path / "bap-run"))
    expected = json.loads(assert_same(runs, (3, 9)))
    ids = [e["id"] for t in expected["results"] for e in t["results"]]
    assert len(ids) == len(set(ids)) and any("@" in i for i in ids)
    assert expected["client_api_calls"] == 1


def _bap_run(folder: Path) -> str:
    """A BAP run whose app began an order in one transaction and went on in another."""
    folder.mkdir()
    docs = as_app_sees_it()
    moved = copy.deepcopy(docs[4])  # init, in a transaction the app never began
    moved["context"]["transaction_id"] = "0f0f0f0f-0000-4000-8000-00000000b0b0"
    lines = [record("x1", OUTBOUND, "client-api", "http://127.0.0.1:7410/v1/estimate",
                    {"rating": 5}, 0.5)]
    for i, doc in enumerate([*docs[:4], moved, docs[5]], start=2):
        action = doc["context"]["action"]
        if action in envelope.CALLBACK_OF:
            lines.append(record(f"x{i}", INBOUND, "bpp", f"{HARNESS}/{action}", doc, float(i)))
        else:
            lines.append(record(f"x{i}", OUTBOUND, "bpp", f"{BAP_URI}/{action}", doc, float(i)))
    transcript(folder, lines)
    app = signing.KeyPair.generate(BAP_ID, f"{BAP_ID}-k1")
    (folder / "report.json").write_text(json.dumps({"role": "bap", "candidate": {
        "role": "bap", "subscriber_id": BAP_ID, "key_id": app.key_id,
        "signing_public_key": app.signing_public_key, "uri": BAP_URI},
        "network": [{"role": "bpp", "subscriber_id": BPP_ID, "uri": BPP_URI}]}),
        encoding="utf-8")
    return str(folder)


def test_an_unusable_input_is_refused_as_the_single_pass_refuses_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text(capture_line(walk_in()[0], WALL) + "\n" +
                   json.dumps({"body": "{}", "received_at": "noon"}) + "\n", encoding="utf-8")
    with pytest.raises(audit.InputError, match=r"bad.ndjson:2: received_at"):
        scaled([str(bad)], workers=2, partitions=3)
    lines = [capture_line(d, WALL + i) for i, d in enumerate(walk_in())]
    bad.write_text("\n".join([*lines, json.dumps({"body": "{}", "received_at": "noon"}),
                              *lines]) + "\n", encoding="utf-8")
    with mock.patch.object(plan, "PIECE_BYTES", 2000), \
            pytest.raises(audit.InputError, match=r"bad.ndjson:20: received_at"):
        scaled([str(bad)], workers=2, partitions=3)  # in pieces, its line counted from the top
    with pytest.raises(audit.InputError, match="no such file"):
        scaled([str(tmp_path / "missing.ndjson")], partitions=3)


# -- reading --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b" ", b"{}"]),
                max_size=40), st.integers(min_value=1, max_value=5))
def test_lines_are_split_as_splitlines_splits_them_whatever_the_chunks(
        parts: list[bytes], chunk: int) -> None:
    data = b"".join(parts)
    original = inputs.CHUNK
    inputs.CHUNK = chunk
    try:
        assert list(inputs.split_lines(io.BytesIO(data))) == data.splitlines()
    finally:
        inputs.CHUNK = original


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b" "]), max_size=60),
       st.integers(min_value=1, max_value=12))
def test_a_file_cut_in_pieces_has_the_lines_of_the_whole(parts: list[bytes], size: int) -> None:
    data = b"".join(parts)
    with tempfile.NamedTemporaryFile(suffix=".ndjson") as handle:
        handle.write(data)
        handle.flush()
        source = inputs.Source(0, handle.name, handle.name, len(data))
        pieces = inputs.cut(source, size)
        assert [line for piece in pieces for line in piece.lines()] == data.splitlines()
        assert all(a.end == b.start for a, b in itertools.pairwise(pieces))


# -- memory ---------------------------------------------------------------------------------------


def test_memory_stays_flat_while_the_capture_grows(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Small partitions, pieces and merges, so that a small capture is already many of each:
    the peak of a capture four times as large is about as high (the first audit allocates
    what any audit allocates once; a partition holds whole transactions, so its size varies
    a little)."""
    monkeypatch.setattr(plan, "TARGET_PARTITION_BYTES", 64 << 10)
    monkeypatch.setattr(plan, "PIECE_BYTES", 64 << 10)
    monkeypatch.setattr(plan, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(inputs, "CHUNK", 64 << 10)
    monkeypatch.setattr(spill, "FAN_IN", 4)
    peaks = []
    for transactions in (12, 24, 96):  # the first one warms up
        capture = tmp_path / f"capture-{transactions}.ndjson"
        capture.write_text("\n".join(capture_line(d) for n in range(transactions)
                                     for d in fresh(walk_in(), n)) + "\n", encoding="utf-8")
        with open(os.devnull, "w", encoding="utf-8") as out:
            tracemalloc.start()
            scale.run([str(capture)], schemas.DEFAULT_PROFILE, audit.Options(),
                      scale.Scale(workers=1), out, scale.JSON)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    assert peaks[2] < 1.3 * peaks[1], peaks


# -- the command line, and a Dask cluster ---------------------------------------------------------


def test_the_command_line_takes_workers(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "capture.ndjson"
    capture.write_text("\n".join(capture_line(d) for d in walk_in()) + "\n", encoding="utf-8")
    assert main(["audit", "--workers", "2", str(capture)]) == 0
    assert capsys.readouterr().out == whole([str(capture)], scale.TEXT)
    with pytest.raises(SystemExit) as stop:
        main(["audit", "--workers", "0", str(capture)])
    assert stop.value.code == 2 and "give at least 1" in capsys.readouterr().err


@pytest.mark.network
def test_a_dask_cluster_audits_a_partitioned_capture_in_object_storage(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("distributed")
    root = f"memory://audit-{uuid.uuid4().hex}"
    memory = fsspec.filesystem("memory")
    docs = walk_in()
    for part in range(3):
        with memory.open(f"{root[len('memory://'):]}/part-{part}.ndjson", "w") as out:
            out.write("\n".join(capture_line(d, WALL + 100 * n + i)
                                for n in range(part * 3, part * 3 + 3)
                                for i, d in enumerate(fresh(docs, n))) + "\n")
    expected = whole([root])
    assert json.loads(expected)["messages"] == 9 * len(docs)
    with cluster.local_cluster(2) as local:
        assert main(["audit", "--format", "json", "--scheduler", local.scheduler_address,
                     root]) == 0
        assert capsys.readouterr().out == expected
        scratch = f"memory://scratch-{uuid.uuid4().hex}"  # storage the workers share
        assert scaled([root], scheduler=local.scheduler_address, partitions=5,
                      scratch=scratch) == expected
        assert memory.find(scratch[len("memory://"):]) == []  # left nothing behind
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    assert main(["audit", "--scheduler", "tcp://127.0.0.1:9", root]) == 2
    assert "cannot connect" in capsys.readouterr().err
    memory.rm(root[len("memory://"):], recursive=True)


@pytest.mark.network
@pytest.mark.slow
def test_a_real_run_of_the_reference_bpp_audits_the_same_partitioned(tmp_path: Path) -> None:
    result = certify_reference(tmp_path, tags="walk_in or security")
    assert result.report_path is not None, result.output
    folder = [str(result.report_path.parent)]
    expected = whole(folder)
    assert json.loads(expected)["messages"] > 50
    for count in (5, 17):
        assert scaled(folder, workers=2, partitions=count) == expected
    assert scaled(folder, scale.TEXT_VERBOSE, workers=2, partitions=5) == \
        whole(folder, scale.TEXT_VERBOSE)
