"""A hostile or broken candidate makes findings and a complete report, exit 1; the harness
never crashes and never hangs past its bounds.

Each test serves a misbehaving "BPP" on a real socket and runs `ubc-cert run` against it in a
separate process: a child of one that imported the harness once (harness/forked_cli.py), which
runs the command as `python -m harness.cli` does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness import forked_cli
from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.report import schema as report_schema
from harness.servers import ServerGroup

pytestmark = [pytest.mark.network, pytest.mark.slow]

ACK = json.dumps(envelope.ack()).encode()
KEYS = signing.KeyPair.generate("hostile-bpp.example", "k1")
RUN_BOUND_S = 120  # any run must end well within this, whatever the candidate does


class Hostile:
    """A candidate that misbehaves in one way; `group` lets it stop serving mid-run."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self.group: ServerGroup | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def endpoint(self, request: Request) -> Response:
        self.requests += 1
        body = await request.body()
        if self.mode == "html":
            return Response(b"<html><body>502 Bad Gateway</body></html>", 502,
                            media_type="text/html")
        if self.mode == "huge":
            return Response(b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}',
                            media_type="application/json")
        if self.mode == "nack-all":
            return Response(json.dumps(envelope.nack("30000", "refused")).encode(), 400,
                            media_type="application/json")
        if self.mode == "401-without-challenge":
            return Response(json.dumps(envelope.nack("10001", "no")).encode(), 401,
                            media_type="application/json")
        if self.mode == "refuses-every-signature":  # cannot look our key up, say
            return Response(json.dumps(envelope.nack("10001", "unknown key")).encode(), 401,
                            headers={"WWW-Authenticate": 'Signature realm="x"'},
                            media_type="application/json")
        if self.mode == "silent":
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:  # the test is over: leave without a traceback
                return Response(b"", 204)
        if self.mode == "goes-down" and self.requests >= 3 and self.group is not None:
            for served in self.group.served.values():
                if served.server is not None:
                    served.server.should_exit = True
        if self.mode in ("storm", "twice", "bad-retries"):
            task = asyncio.create_task(self.storm(body) if self.mode == "storm"
                                       else self.repeat(body))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        # protocol-server and other queue-backed stacks acknowledge with 202 Accepted
        return Response(ACK, status_code=202 if self.mode == "ack-all-202" else 200,
                        media_type="application/json")

    async def repeat(self, raw: bytes) -> None:
        """Each callback sent more than once with identical bytes, as a stack that retries
        does: twice and well signed ("twice"), or three times with a signature that does not
        verify ("bad-retries")."""
        try:
            context = json.loads(raw)["context"]
        except (ValueError, KeyError, TypeError):
            return
        doc = {"context": {**context, "action": envelope.CALLBACK_OF.get(context.get("action"),
                                                                         "on_status"),
                           "bpp_id": KEYS.subscriber_id}, "message": {}}
        body = json.dumps(doc).encode()
        header = signing.Signer.from_keypair(KEYS).sign(body)
        if self.mode == "bad-retries":  # well formed, right digest, wrong signature bytes
            parsed = signing.parse_header(header)
            altered = bytearray(base64.b64decode(parsed.signature))
            altered[0] ^= 0xFF
            header = signing.build_header(parsed.key_id, parsed.created, parsed.expires,
                                          base64.b64encode(bytes(altered)).decode())
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(2 if self.mode == "twice" else 3):
                try:
                    await client.post(f"{context['bap_uri']}/{doc['context']['action']}",
                                      content=body, headers={"Authorization": header})
                except httpx.HTTPError:
                    return

    async def storm(self, raw: bytes) -> None:
        """300 signed callbacks answering one request, as fast as the loop allows."""
        try:
            context = json.loads(raw)["context"]
        except (ValueError, KeyError, TypeError):
            return
        signer = signing.Signer.from_keypair(KEYS)
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(300):
                doc = {"context": {**context, "action": "on_select",
                                   "bpp_id": KEYS.subscriber_id}, "message": {}}
                body = json.dumps(doc).encode()
                try:
                    await client.post(f"{context['bap_uri']}/on_select", content=body,
                                      headers={"Authorization": signer.sign(body)})
                except httpx.HTTPError:
                    return


def certify(tmp_path: Path, uri: str, tags: str, *, wait: float = 5.0, ack_bound: float = 2.0
            ) -> tuple[int, dict[str, Any], float]:
    cand = Candidate("bpp", KEYS.subscriber_id, KEYS.key_id, KEYS.signing_public_key, uri)
    (tmp_path / "cand.toml").write_text(cand.to_toml())
    started = time.monotonic()
    done = forked_cli.run(
        ["run", "--role", "bpp", "--candidate",
         str(tmp_path / "cand.toml"), "--report-dir", str(tmp_path / "reports"), "--ttl",
         "PT1S", "--wait", str(wait), "--tags", tags,
         # The harness gives up on an answer after twice the ACK bound.
         "--ack-bound", str(ack_bound)],
        os.environ, timeout=RUN_BOUND_S)
    elapsed = time.monotonic() - started
    assert "Traceback" not in done.stderr, done.stderr
    reports = list((tmp_path / "reports").glob("*/report.json"))
    assert len(reports) == 1, done.stdout + done.stderr
    run_dir = reports[0].parent
    expected = ("junit.xml", "transcript.ndjson", "report.html") if done.returncode == 2 else (
        "junit.xml", "transcript.ndjson", "allure-results", "report.html")
    for name in expected:
        assert (run_dir / name).exists(), name
    # However much the candidate sent (10 MB answers, a storm of callbacks), the page is small.
    assert (run_dir / "report.html").stat().st_size < 3_000_000
    return done.returncode, report_schema.load_checked(reports[0]), elapsed


def rules(report: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in report["findings"] if f["severity"] == "error"}


# case id -> (how the candidate misbehaves, the scenarios run, error rules that must be found)
CASES: dict[str, tuple[str, str, set[str]]] = {
    "html": ("html", "security", {"UBC-TIME-007"}),
    "10MB": ("huge", "security", {"UBC-SCH-012"}),
    "silent": ("silent", "security", {"UBC-TIME-006"}),
    "goes-down": ("goes-down", "security", {"UBC-TIME-006", "UBC-SIG-013"}),
    "storm": ("storm", "security", {"UBC-SIG-013"}),
    "html-fanout": ("html", "walk_in", {"UBC-TIME-007"}),
    "acks-everything": ("ack-all", "security", {"UBC-SIG-013", "UBC-SIG-016", "UBC-SCH-011"}),
    "acks-everything-with-202": ("ack-all-202", "security",
                                 {"UBC-SIG-013", "UBC-SIG-016", "UBC-SCH-011"}),
    "refuses-valid": ("nack-all", "walk_in", {"UBC-SCH-013"}),
    "no-challenge": ("401-without-challenge", "security", {"UBC-SIG-014"}),
    "callbacks-twice": ("twice", "security", {"UBC-TIME-004"}),
    "retries-bad-signatures": ("bad-retries", "security", {"UBC-SIG-009", "UBC-TIME-004"}),
    "refuses-every-signature": ("refuses-every-signature", "security", set()),
}
Run = tuple[int, dict[str, Any], float]


def _certify_one(workdir: Path, mode: str, tags: str) -> Run:
    candidate = Hostile(mode)
    app = Starlette(routes=[Route("/beckn/{action}", candidate.endpoint, methods=["POST"])])
    group = ServerGroup()
    served = group.add("hostile", app)
    candidate.group = group
    group.start()
    try:
        # A silent candidate is given up on after twice the ACK bound, per request.
        return certify(workdir, f"{served.url}/beckn", tags,
                       ack_bound=1.0 if mode == "silent" else 2.0)
    finally:
        group.stop()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run | BaseException]:
    """Every hostile candidate served and certified, a few at a time: each run mostly waits on
    sockets, so side by side they cost what the slowest costs."""
    results: dict[str, Run | BaseException] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case: pool.submit(_certify_one, tmp_path_factory.mktemp(case), mode, tags)
                   for case, (mode, tags, _) in CASES.items()}
        for case, future in futures.items():
            try:
                results[case] = future.result()
            except BaseException as exc:  # reported by the case's own test
                results[case] = exc
    return results


def _run(runs: dict[str, Run | BaseException], case: str) -> Run:
    result = runs[case]
    if isinstance(result, BaseException):
        raise result
    return result


@pytest.mark.parametrize("case", [c for c in CASES if c != "refuses-every-signature"])
def test_hostile_candidate_is_not_certified_with_findings(
        runs: dict[str, Run | BaseException], case: str) -> None:
    code, report, elapsed = _run(runs, case)
    expected = CASES[case][2]
    assert code == 1, report
    assert report["verdict"] == "partial_failed"  # every case runs a part of the plan
    assert expected <= rules(report), rules(report)
    assert report["summary"]["passed"] < report["summary"]["scenarios"]
    assert elapsed < RUN_BOUND_S


def test_probes_of_a_bpp_that_refuses_even_valid_requests_are_not_evaluated(
        runs: dict[str, Run | BaseException]) -> None:
    """Refusing everything is no proof of refusing what is bad: without an accepted control
    the security scenarios are not evaluated, with a diagnosis, and never passed."""
    code, report, _ = _run(runs, "refuses-every-signature")
    assert code == 1
    statuses = {s["status"] for s in report["scenarios"]}
    assert statuses == {"not evaluated"}, statuses
    assert "UBC-SCH-013" in rules(report)
    # The diagnosis says what the registry saw: this stub never looked the key up.
    assert all("never asked the registry" in s["message"] for s in report["scenarios"])
    roots = [f for f in report["root_findings"] if f["rule"] == "UBC-SCH-013"]
    assert len(roots) == 1 and roots[0]["occurrences"] == len(report["scenarios"])


def test_unreachable_candidate_is_could_not_run(tmp_path: Path) -> None:
    from harness.servers import free_port

    code, report, _ = certify(tmp_path, f"http://127.0.0.1:{free_port()}/beckn", "security",
                              wait=1.0)
    assert code == 2
    assert report["verdict"] == "could_not_run"
    assert "not reachable" in report["reason"]
    page = next((tmp_path / "reports").glob("*/report.html")).read_text(encoding="utf-8")
    assert "COULD NOT RUN" in page and "not reachable" in page


def test_a_202_ack_is_an_ack(runs: dict[str, Run | BaseException]) -> None:
    """Stacks that queue requests answer 202 Accepted with the ACK body: the control counts as
    accepted (no UBC-SCH-013), so the probes are judged, and found accepted too."""
    _, report, _ = _run(runs, "acks-everything-with-202")
    assert "UBC-SCH-013" not in rules(report)
    assert {s["status"] for s in report["scenarios"]} == {"failed"}
