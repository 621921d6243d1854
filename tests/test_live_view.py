"""The live view at /ui: exchanges, scenarios and findings of a run as they happen (server-sent
events), and the past runs of the report folder with links to their reports."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.live.app import LiveView, in_front_of
from harness.live.feed import QUEUE, LiveFeed
from harness.live.runs import PastRuns
from harness.network import MockNetwork, NetworkConfig
from harness.selftest import ReferenceProcess

pytestmark = pytest.mark.network

BOUND_S = 60.0


def read_events(url: str, until: Any, bound_s: float, headers: dict[str, str] | None = None
                ) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, kind, data) of the stream at `url` until `until(events)` holds, bounded; retried
    while the server is not up yet."""
    events: list[tuple[str, str, dict[str, Any]]] = []
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        try:
            with httpx.stream("GET", url, headers=headers,
                              timeout=httpx.Timeout(5.0, read=20.0)) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                fields: dict[str, str] = {}
                for line in stream.iter_lines():
                    if line:
                        name, _, value = line.partition(": ")
                        fields[name] = value
                        continue
                    if "data" in fields:
                        events.append((fields.get("id", ""), fields.get("event", ""),
                                       json.loads(fields["data"])))
                        if until(events):
                            return events
                    fields = {}
                    if time.monotonic() > deadline:
                        break
        except (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError):
            time.sleep(0.1)  # the run's network is not up yet, or went down
    raise AssertionError(f"the stream did not show what was awaited within {bound_s} s; "
                         f"{len(events)} events: {[k for _, k, _ in events][-20:]}")


@pytest.fixture
def network(tmp_path: Path) -> Iterator[MockNetwork]:
    # The registry alone (the live view's server): every exchange a test sees is its own.
    net = MockNetwork(NetworkConfig(ttl="PT5S", report_dir=tmp_path / "reports",
                                    roles=("registry",)))
    net.start()
    try:
        yield net
    finally:
        net.stop()


def test_a_run_is_watched_as_it_happens_and_listed_after(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with ReferenceProcess(tmp_path, ("quote-total-mismatch",)) as reference:
        url = f"http://127.0.0.1:{reference.base}/ui/events"
        runs: list[Any] = []
        watcher = threading.Thread(target=lambda: runs.append(read_events(
            url, lambda ev: any(k == "run" and d["state"] == "finished" for _, k, d in ev),
            BOUND_S)), daemon=True)
        watcher.start()
        result = reference.certify(tags="walk_in", report_dir=reports)
        watcher.join(BOUND_S)
    assert result.exit_code == 1, result.output[-2000:]
    assert re.search(r"live view +http://127\.0\.0\.1:\d+/ui", result.output)
    assert runs, "the watcher saw no finished run"
    events = runs[0]
    kinds = [k for _, k, _ in events]
    ids = [int(i) for i, _, _ in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # in order, none twice
    started = next(d for _, k, d in events if k == "run" and d["state"] == "started")
    assert started["role"] == "bpp" and started["subscriber_id"]
    # Exchanges as they begin and as they are answered, bodies included, the candidate's too.
    exchanges = [d for _, k, d in events if k == "exchange"]
    answered = {d["action"] for d in exchanges if d["status"] is not None}
    assert {"discover", "select", "on_select"} <= answered
    assert any(d["status"] is None for d in exchanges)  # seen before its answer too
    # Scenarios as they start and end; the finding of the fault, with its rule, as it is made.
    scenarios = [d for _, k, d in events if k == "scenario"]
    assert scenarios[0]["status"] == "running"
    assert {d["status"] for d in scenarios} >= {"running", "failed"}
    findings = [d for _, k, d in events if k == "finding"]
    assert any(d["rule"] == "UBC-CONS-001" and d["scenario"] for d in findings), findings
    first_finding = kinds.index("finding")
    assert first_finding < kinds.index("run", kinds.index("run") + 1)  # before the verdict
    finished = next(d for _, k, d in events if k == "run" and d["state"] == "finished")
    assert finished["verdict"] == result.report["verdict"] == "partial_failed"
    assert finished["report"].endswith(f"/ui/runs/{result.report['run_id']}/report.html")


def test_the_page_lists_past_runs_and_serves_their_reports_only(
        network: MockNetwork, tmp_path: Path) -> None:
    run = tmp_path / "reports" / "20261129T101010Z-abc123"
    run.mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({
        "run_id": run.name, "verdict": "not_certified", "reason": "UBC-CONS-001 found",
        "role": "bpp", "candidate": {"subscriber_id": "cpo.example"},
        "started": "2026-11-29T10:10:10Z", "summary": {"scenarios": 3, "failed": 1}}))
    (run / "report.html").write_text("<html><body>the report</body></html>")
    (tmp_path / "secret.txt").write_text("not for the web")
    broken = tmp_path / "reports" / "20261128T000000Z-000000"
    broken.mkdir()
    (broken / "report.json").write_text("{half a report")
    ui = network.live_url
    assert ui is not None
    page = httpx.get(ui, timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "cpo.example" in page.text and "not certified" in page.text
    assert f"/ui/runs/{run.name}/report.html" in page.text
    listing = httpx.get(ui + "/runs", timeout=5).json()["runs"]
    assert [r["run_id"] for r in listing] == [run.name, broken.name]  # newest first
    assert listing[0]["verdict"] == "not_certified" and listing[0]["artifacts"] == [
        "report.html", "report.json"]
    assert listing[1]["verdict"] == "unreadable"
    assert httpx.get(f"{ui}/runs/{run.name}/report.html", timeout=5).text.endswith(
        "the report</body></html>")
    for path in (f"{run.name}/transcript.ndjson", f"{run.name}/../secret.txt",
                 "..%2Fsecret.txt/report.html", f"{run.name}/..%2F..%2Fsecret.txt",
                 f"{run.name}/allure-results"):
        answer = httpx.get(f"{ui}/runs/{path}", timeout=5)
        assert answer.status_code == 404, path
        assert "not for the web" not in answer.text


def test_ui_requests_are_not_the_registrys_and_not_in_the_transcript(
        network: MockNetwork) -> None:
    assert network.live_url is not None
    before = len(network.transcript)
    assert httpx.get(network.live_url + "/runs", timeout=5).status_code == 200
    assert len(network.transcript) == before
    registry = network.participants["registry"].url
    assert httpx.post(registry + "/lookup", json={"subscriber_id": "nobody"},
                      timeout=5).status_code == 200
    assert len(network.transcript) == before + 1


def test_a_late_watcher_is_sent_what_it_missed_and_a_reconnect_resumes(
        network: MockNetwork) -> None:
    registry = network.participants["registry"].url
    for n in range(3):
        httpx.post(registry + "/lookup", json={"subscriber_id": f"late-{n}"}, timeout=5)
    assert network.live_url is not None
    url = network.live_url + "/events"
    first = read_events(url, lambda ev: len(ev) >= 6, 10)  # begun and answered, three times
    assert [d["id"] for _, _, d in first[:2]] == ["x000001", "x000001"]
    assert "late-0" in first[0][2]["request_body"]
    last_id = first[3][0]
    resumed = read_events(url, lambda ev: len(ev) >= 2, 10, headers={"Last-Event-ID": last_id})
    assert [i for i, _, _ in resumed[:2]] == [first[4][0], first[5][0]]


def test_stopping_the_network_ends_open_streams_at_once(tmp_path: Path) -> None:
    net = MockNetwork(NetworkConfig(ttl="PT5S")).start()
    assert net.live_url is not None
    opened = threading.Event()
    ended: list[float] = []

    def watch() -> None:
        with httpx.stream("GET", net.live_url + "/events", timeout=10) as stream:  # type: ignore[operator]
            for _ in stream.iter_lines():
                opened.set()
        ended.append(time.monotonic())
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert opened.wait(5)
    begun = time.monotonic()
    net.stop()
    thread.join(5)
    assert ended and ended[0] - begun < 1.5  # not the server's 2 s graceful-shutdown bound


def test_a_watcher_that_falls_behind_is_dropped_not_buffered_forever() -> None:
    feed = LiveFeed(history=10)

    async def scenario() -> tuple[int, bool, int]:
        watcher, kept = feed.watch()
        for n in range(QUEUE + 50):
            feed.publish("run", {"n": n})
        await asyncio.sleep(0)  # the offers run on this loop
        await asyncio.sleep(0)
        return watcher.queue.qsize(), watcher.lagging, len(kept)
    size, lagging, kept = asyncio.run(scenario())
    assert lagging and size <= QUEUE and kept == 0
    assert len(feed._history) == 10  # only the newest are kept for late watchers


def test_candidate_text_in_an_event_cannot_forge_a_line_of_the_stream() -> None:
    from harness.live.app import _sse
    from harness.live.feed import Event

    frame = _sse(Event(7, "finding", {"message": "x\n\nevent: run\ndata: {}\n\n"}))
    assert frame.count(b"\n\n") == 1 and frame.endswith(b"\n\n")
    assert frame.startswith(b"id: 7\nevent: finding\ndata: ")


def test_the_view_can_sit_in_front_of_any_app(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    inner = Starlette(routes=[Route("/ui-not", lambda r: PlainTextResponse("inner")),
                              Route("/lookup", lambda r: PlainTextResponse("inner"))])
    app = in_front_of(inner, LiveView(LiveFeed(), PastRuns(None)))
    with TestClient(app) as client:  # type: ignore[arg-type]
        assert client.get("/lookup").text == "inner"
        assert client.get("/ui-not").text == "inner"  # only /ui and below are the view's
        assert client.get("/ui/runs").json() == {"report_dir": "None", "runs": []}


# -- in a browser ---------------------------------------------------------------------------

def test_the_page_shows_a_network_at_work_as_it_happens(
        network: MockNetwork, tmp_path: Path, browser_page: Any) -> None:
    """Headless Chromium on /ui: the past runs, then exchanges, a scenario, a finding and the
    verdict as they are published, candidate text shown as text, nothing loaded from
    elsewhere."""
    run = tmp_path / "reports" / "20261129T101010Z-abc123"
    run.mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({
        "run_id": run.name, "verdict": "certified", "role": "bpp",
        "candidate": {"subscriber_id": "cpo.example"}, "started": "2026-11-29T10:10:10Z"}))
    (run / "report.html").write_text("<!DOCTYPE html><title>r</title><h1>The old report</h1>")
    assert network.live_url is not None
    browser_page.open(network.live_url)
    browser_page.page.wait_for_selector("#status.connected", timeout=10_000)  # stream open
    assert "cpo.example" in browser_page.text()
    registry = network.participants["registry"].url
    httpx.post(registry + "/lookup", json={"subscriber_id": "seen-live"}, timeout=5)
    browser_page.wait_for_text("POST /lookup")
    feed = network.live
    feed.publish("run", {"state": "started", "run_id": "R1", "role": "bpp",
                         "subscriber_id": "cpo.example", "total": 1})
    feed.publish("scenario", {"nodeid": "n1", "title": "Walk-in: the driver charges",
                              "status": "running", "total": 1})
    browser_page.wait_for_text("Certifying cpo.example as BPP")
    hostile = '<img src="/ui/x" onerror="window.pwned=1">'
    feed.publish("finding", {"rule": "UBC-CONS-001", "severity": "error", "status": "failed",
                             "message": f"quote total differs {hostile}",
                             "scenario": "Walk-in: the driver charges", "expected": 10,
                             "actual": 11, "spec": "TSD §8"})
    feed.publish("scenario", {"nodeid": "n1", "title": "Walk-in: the driver charges",
                              "status": "failed", "duration_s": 1.5, "message": "UBC-CONS-001",
                              "total": 1})
    feed.publish("run", {"state": "finished", "run_id": "R1", "verdict": "not_certified",
                         "reason": "1 scenario failed: UBC-CONS-001",
                         "report": f"{network.live_url}/runs/{run.name}/report.html"})
    browser_page.wait_for_text("NOT CERTIFIED — run R1")
    shown = browser_page.text()
    assert "UBC-CONS-001" in shown and hostile in shown  # as text, never as markup
    assert browser_page.page.evaluate("window.pwned") is None
    assert "1 done of 1" in shown and "1.5 s" in shown
    browser_page.screenshot(tmp_path / "live.png")
    # a row opens on a click: the exchange's headers and bodies
    browser_page.page.get_by_text("POST /lookup").first.click()
    browser_page.wait_for_text('"subscriber_id":"seen-live"')
    with browser_page.page.expect_navigation():
        browser_page.page.get_by_role("link", name="report.html").first.click()
    browser_page.wait_for_text("The old report")
    browser_page.assert_offline_and_quiet()
