"""`ubc-cert doctor` catches what keeps a run from working: a wrong key in the candidate file,
an unreachable URI, HTML answers, a clock two minutes off; and passes the reference BPP on
every check.

Stub candidates serve on loopback in this process; the doctor runs as `ubc-cert doctor` would
(through the CLI), on the port base the stub was told its registry is at. The verdicts of the
clock check are also proven one by one on built exchanges (no network).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness import cli, exitcodes
from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.candidate import Candidate
from harness.doctor import diagnosis
from harness.doctor.diagnosis import FAIL, PASS, WARN
from harness.selftest import ReferenceProcess, free_port_base
from harness.servers import ServerGroup
from harness.transcript import INBOUND, OUTBOUND, Exchange

KEYS = signing.KeyPair.generate("stub-bpp.doctor.test", "stub-k1")
OTHER = signing.KeyPair.generate("stub-bpp.doctor.test", "stub-k1")  # same keyId, other key
ACK = json.dumps(envelope.ack()).encode()


class Stub:
    """A BPP stack in one of a few states: it looks the BAP up in the registry, ACKs, and
    sends a signed on_status to bap_uri; or it answers HTML."""

    def __init__(self, registry_url: str, *, mode: str = "good", shift_s: float = 0.0,
                 signs_with: signing.KeyPair = KEYS) -> None:
        self.registry_url = registry_url
        self.mode = mode
        self.shift_s = shift_s
        self.signer = signing.Signer.from_keypair(signs_with)
        self.tasks: set[asyncio.Task[None]] = set()

    async def endpoint(self, request: Request) -> Response:
        if self.mode == "html":
            return Response(b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1>"
                            b"</body></html>", 200, media_type="text/html")
        if self.mode == "refuses":  # looks nothing up: its registry URL points elsewhere
            return Response(json.dumps(envelope.nack("10001", "unknown signing key")).encode(),
                            401, media_type="application/json")
        body = await request.body()
        context = json.loads(body)["context"]
        async with httpx.AsyncClient(timeout=5) as client:  # as a stack checks a signature
            await client.post(f"{self.registry_url}/lookup",
                              json={"subscriber_id": context["bap_id"]})
        if self.mode == "no-callback":
            return Response(ACK, media_type="application/json")
        task = asyncio.create_task(self.call_back(context))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return Response(ACK, media_type="application/json")

    async def call_back(self, request_context: dict[str, Any]) -> None:
        """on_status for the unknown order, built and signed on a clock `shift_s` off."""
        now = time.time() + self.shift_s
        context = {**request_context, "action": "on_status",
                   "timestamp": wire_time.format(now)}
        doc = {"context": context,
               "error": {"code": "40004", "message": "no such order"}, "message": {}}
        raw = json.dumps(doc).encode()
        created = int(now)
        header = self.signer.sign(raw, created, created + 30)
        path = "/callbacks/on_status" if self.mode == "wrong-path" else "/on_status"
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(f"{context['bap_uri']}{path}", content=raw,
                              headers={"Authorization": header,
                                       "Content-Type": "application/json"})


@pytest.fixture
def port_base() -> int:
    return free_port_base()


def _serve(stub: Stub) -> tuple[ServerGroup, str]:
    group = ServerGroup()
    group.add("stub", Starlette(routes=[Route("/beckn/{action}", stub.endpoint,
                                              methods=["POST"])]))
    group.start()
    return group, group.url("stub") + "/beckn"


def _candidate_file(tmp_path: Path, uri: str, keys: signing.KeyPair = KEYS,
                    role: str = "bpp") -> Path:
    path = tmp_path / "candidate.toml"
    path.write_text(Candidate(role, keys.subscriber_id, keys.key_id, keys.signing_public_key,
                              uri).to_toml())
    return path


def _doctor(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, dict[str, str],
                                                                       str]:
    """Exit code, {check name: its line}, and the whole output of `ubc-cert doctor`."""
    code = cli.main(["doctor", "--ttl", "PT3S", "--timeout", "3", *options])
    output = capsys.readouterr().out
    lines = {}
    for line in output.splitlines():
        match = re.match(r"^(PASS|FAIL|WARN|SKIP)  (.{14}) (.*)$", line)
        if match:
            lines[match.group(2).strip()] = f"{match.group(1)} {match.group(3)}"
    return code, lines, output


@pytest.fixture
def stub_candidate(request: pytest.FixtureRequest, port_base: int, tmp_path: Path
                   ) -> Iterator[Path]:
    """A stub (configured by the test's parameters) and a candidate file for it."""
    options = getattr(request, "param", {})
    stub = Stub(f"http://127.0.0.1:{port_base}", **options)
    group, uri = _serve(stub)
    try:
        yield _candidate_file(tmp_path, uri)
    finally:
        group.stop()


@pytest.mark.network
def test_a_good_stub_passes_every_check(capsys: pytest.CaptureFixture[str], port_base: int,
                                        stub_candidate: Path) -> None:
    code, checks, output = _doctor(capsys, "--candidate", str(stub_candidate),
                                   "--port-base", str(port_base))
    assert code == exitcodes.OK, output
    assert len(checks) == 8 and all(line.startswith(PASS) for line in checks.values()), output


@pytest.mark.network
@pytest.mark.parametrize("stub_candidate", [{"signs_with": OTHER}], indirect=True)
def test_a_wrong_key_in_the_candidate_file_is_caught(capsys: pytest.CaptureFixture[str],
                                                     port_base: int,
                                                     stub_candidate: Path) -> None:
    code, checks, output = _doctor(capsys, "--candidate", str(stub_candidate),
                                   "--port-base", str(port_base))
    assert code == exitcodes.FAILED, output
    line = checks["signing key"]
    assert line.startswith(FAIL), output
    assert f"'{KEYS.subscriber_id}|{KEYS.key_id}|ed25519'" in line  # which key it used
    assert KEYS.signing_public_key in line  # and which the file declares
    assert "hint: `signing_public_key` in the candidate file" in output
    assert checks["clock"].startswith(PASS) and checks["callback"].startswith(PASS)


@pytest.mark.network
def test_an_unreachable_uri_is_caught(capsys: pytest.CaptureFixture[str], port_base: int,
                                      tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{sock.getsockname()[1]}/beckn"
    started = time.monotonic()
    code, checks, output = _doctor(capsys, "--candidate", str(_candidate_file(tmp_path, nobody)),
                                   "--port-base", str(port_base))
    assert code == exitcodes.FAILED, output
    assert checks["reachable"].startswith(FAIL) and "connection refused" in checks["reachable"]
    assert all(checks[name].startswith("SKIP") for name in
               ("HTTP", "JSON", "our signature", "callback", "signing key", "clock",
                "registry")), output
    assert time.monotonic() - started < 10


@pytest.mark.network
@pytest.mark.parametrize("stub_candidate", [{"mode": "html"}], indirect=True)
def test_html_answers_are_caught(capsys: pytest.CaptureFixture[str], port_base: int,
                                 stub_candidate: Path) -> None:
    code, checks, output = _doctor(capsys, "--candidate", str(stub_candidate),
                                   "--port-base", str(port_base))
    assert code == exitcodes.FAILED, output
    assert checks["HTTP"].startswith(PASS)
    assert checks["JSON"].startswith(FAIL) and "text/html" in checks["JSON"], output
    assert "Welcome to nginx" in checks["JSON"] and "HTML page" in output


@pytest.mark.network
@pytest.mark.parametrize(("stub_candidate", "direction"),
                         [({"shift_s": -120.0}, "behind"), ({"shift_s": 120.0}, "ahead of")],
                         indirect=["stub_candidate"])
def test_a_clock_two_minutes_off_is_caught(capsys: pytest.CaptureFixture[str],
                                           port_base: int, stub_candidate: Path,
                                           direction: str) -> None:
    code, checks, output = _doctor(capsys, "--candidate", str(stub_candidate),
                                   "--port-base", str(port_base))
    assert code == exitcodes.FAILED, output
    line = checks["clock"]
    assert line.startswith(FAIL), output
    measured = float(re.search(r"its clock is ([0-9.]+) s", line).group(1))  # type: ignore[union-attr]
    assert 118 <= measured <= 121, line
    assert direction in line
    assert checks["signing key"].startswith(PASS), "the key is right; only the clock is off"


@pytest.mark.network
@pytest.mark.parametrize("stub_candidate", [{"mode": "refuses"}], indirect=True)
def test_a_candidate_that_never_asks_our_registry_is_caught(
        capsys: pytest.CaptureFixture[str], port_base: int, stub_candidate: Path) -> None:
    code, checks, output = _doctor(capsys, "--candidate", str(stub_candidate),
                                   "--port-base", str(port_base))
    assert code == exitcodes.FAILED, output
    assert checks["our signature"].startswith(FAIL) and "401" in checks["our signature"]
    assert checks["registry"].startswith(FAIL)
    assert "never asked the registry" in checks["registry"], output
    assert checks["callback"].startswith("SKIP")


@pytest.mark.network
@pytest.mark.parametrize(("stub_candidate", "words"), [
    ({"mode": "no-callback"}, "no on_status within the ttl (3 s)"),
    ({"mode": "wrong-path"}, "/callbacks/on_status, no endpoint of the BAP"),
], indirect=["stub_candidate"])
def test_a_missing_or_misaddressed_callback_is_caught(
        capsys: pytest.CaptureFixture[str], port_base: int, stub_candidate: Path,
        words: str) -> None:
    code, checks, output = _doctor(capsys, "--candidate", str(stub_candidate),
                                   "--port-base", str(port_base))
    assert code == exitcodes.FAILED, output
    assert checks["callback"].startswith(FAIL) and words in checks["callback"], output
    assert checks["registry"].startswith(PASS)


@pytest.mark.network
def test_a_bap_gets_the_checks_that_need_no_signature(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    group, uri = _serve(Stub("http://127.0.0.1:9", mode="refuses"))
    try:
        code, checks, output = _doctor(capsys, "--candidate",
                                       str(_candidate_file(tmp_path, uri, role="bap")))
    finally:
        group.stop()
    assert code == exitcodes.OK, output
    assert [checks[n][:4] for n in ("reachable", "HTTP", "JSON")] == [PASS, PASS, PASS]
    assert checks["signing key"].startswith("SKIP") and "for a BPP" in checks["signing key"]


def test_a_registry_url_elsewhere_is_refused(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    path = _candidate_file(tmp_path, "http://127.0.0.1:9/beckn")
    code = cli.main(["doctor", "--candidate", str(path), "--registry-url",
                     "https://registry.example.com"])
    assert code == exitcodes.COULD_NOT_RUN
    assert "serves its registry on this machine" in capsys.readouterr().err
    code = cli.main(["doctor", "--candidate", str(path), "--registry-url",
                     "http://127.0.0.1:7400", "--port-base", "7500"])
    assert code == exitcodes.COULD_NOT_RUN and "disagree" in capsys.readouterr().err


@pytest.mark.network
@pytest.mark.slow
def test_the_reference_bpp_passes_every_check(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    with ReferenceProcess(tmp_path) as reference:
        code, checks, output = _doctor(capsys, "--candidate", str(reference.candidate),
                                       "--registry-url", f"http://127.0.0.1:{reference.base}")
    assert code == exitcodes.OK, output
    assert set(checks) == {"reachable", "HTTP", "JSON", "our signature", "callback",
                           "signing key", "clock", "registry"}
    assert all(line.startswith(PASS) for line in checks.values()), output


# -- the clock's verdicts, one by one ------------------------------------------------------------


def _exchanges(*, stamp_shift: float | None, created_shift: int, window: int = 30,
               signed: bool = True) -> tuple[Exchange, Exchange]:
    sent = time.time()
    request = Exchange("x1", OUTBOUND, "bap", "POST", "http://bpp/status", {}, b"{}", sent,
                       time.monotonic())
    context: dict[str, Any] = {"action": "on_status", "transaction_id": "t", "message_id": "m"}
    if stamp_shift is not None:
        context["timestamp"] = wire_time.format(sent + 0.05 + stamp_shift)
    raw = json.dumps({"context": context, "message": {}}).encode()
    created = int(sent) + created_shift
    headers = {"Authorization": signing.Signer.from_keypair(KEYS).sign(
        raw, created, created + window)} if signed else {}
    callback = Exchange("x2", INBOUND, "bap", "POST", "http://bap/on_status", headers, raw,
                        sent + 0.1, time.monotonic())
    return request, callback


@pytest.mark.parametrize(("stamp_shift", "created_shift", "window", "verdict", "words"), [
    (0.0, 0, 30, PASS, "agrees"),
    (-120.0, -120, 30, FAIL, "120.0 s behind"),
    (120.0, 120, 30, FAIL, "ahead of ours"),
    (0.0, -120, 30, FAIL, "expired"),  # only the signer is off, and its window is over
    (0.0, 30, 30, FAIL, "created-in-future"),
    (0.0, -60, 3600, WARN, "backdates"),  # protocol-server: created 60 s back, 1 h window
    (None, -120, 3600, FAIL, "behind ours"),  # no timestamp: created says it all
    (None, 0, 30, PASS, "agrees"),
])
def test_the_clock_check(stamp_shift: float | None, created_shift: int, window: int,
                         verdict: str, words: str) -> None:
    request, callback = _exchanges(stamp_shift=stamp_shift, created_shift=created_shift,
                                   window=window)
    check = diagnosis.clock_agrees(request, callback)
    assert check.status == verdict and words in check.detail, check


def test_a_callback_with_nothing_to_read_the_clock_from_is_skipped() -> None:
    request, callback = _exchanges(stamp_shift=None, created_shift=0, signed=False)
    assert diagnosis.clock_agrees(request, callback).status == "SKIP"
    assert diagnosis.signed_with_declared_key(callback, Candidate(
        "bpp", KEYS.subscriber_id, KEYS.key_id, KEYS.signing_public_key,
        "http://bpp")).status == FAIL
