"""`ubc-cert fuzz`: the OpenAPI documents of the Beckn endpoints, drawn from with a seed, and
their requests signed, sent and judged.

Without a server: the kept documents are what the bundled schemas build and say what the
harness validates; the same seed draws the same requests in any process; a generated context
carries the run's parties except where it was broken on purpose; the checks of
harness/checks/malformed.py. On real sockets: the reference BPP, run as its own process, gives
nothing, and with its fault `acks-schema-invalid-request` is caught under UBC-SCH-011; the
reference BAP gives nothing; a stub BPP that fails on what it cannot validate is caught under
UBC-SCH-014, and one that answers late under UBC-TIME-001. Each fuzzes a few endpoints with a
handful of requests: generating a full order costs about a second.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness import cli, schemas
from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.checks import malformed
from harness.fuzz import cases, document
from harness.fuzz.session import Parties, addressed, serialised
from harness.selftest import ReferenceProcess, free_port_base
from harness.servers import ServerGroup
from harness.transcript import Exchange

EXAMPLES = Path(__file__).parent / "fixtures" / "ubc-examples"
SUPPORT = EXAMPLES / "17_support" / "ev-charging-support.json"
CANDIDATE = Candidate("bpp", "cpo.example.com", "cpo.example.com-k1",
                      signing.KeyPair.generate("cpo.example.com", "k1").signing_public_key,
                      "http://127.0.0.1:9000/beckn")
PARTIES = Parties(CANDIDATE, "bap.mock.ubc", "http://127.0.0.1:7403/beckn")


def example(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


# -- the documents -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["bpp", "bap"])
def test_the_kept_documents_are_built_from_the_bundled_schemas(role: str) -> None:
    """When this fails after a change of schemas/ubc-2.0.0-rc/, rebuild them:
    python -m harness.fuzz.document"""
    kept = document.load(role)
    assert kept == document.build(role)
    assert [path.lstrip("/") for path in kept["paths"]] == list(document.RECEIVES[role])
    assert document.RECEIVES["bpp"][0] == "select" and document.RECEIVES["bap"][0] == "on_select"


def test_a_documented_request_is_valid_exactly_when_the_harness_says_so() -> None:
    kept = document.load("bpp")
    registry = Registry().with_resource("urn:beckn-bpp", Resource.from_contents(
        kept, default_specification=DRAFT202012))
    by_document = Draft202012Validator({"$ref": "urn:beckn-bpp#/components/schemas/"
                                                "request.support"}, registry=registry)
    official = example(SUPPORT)
    broken = copy.deepcopy(official)
    del broken["message"]["refId"]
    wrong_action = copy.deepcopy(official)
    wrong_action["context"]["action"] = "rating"
    for doc, valid in ((official, True), (broken, False), (wrong_action, False)):
        assert by_document.is_valid(doc) is valid
        assert (not malformed.schema_problems(serialised(doc), "support", schemas.load())) \
            is valid


# -- drawing -------------------------------------------------------------------------------------


def test_max_examples_are_spread_over_the_endpoints_valid_and_broken() -> None:
    assert cases.shares(("status", "cancel"), 5) == [
        ("status", "positive", 2), ("status", "negative", 1), ("cancel", "positive", 1),
        ("cancel", "negative", 1)]
    assert cases.shares(("status", "cancel", "track"), 2) == [
        ("status", "positive", 1), ("status", "negative", 1)]


@pytest.mark.network  # starts a second process: not for `make test-fast`
def test_the_same_seed_draws_the_same_requests_in_any_process(tmp_path: Path) -> None:
    kept = document.load("bpp")
    drawn = cases.draw(kept, ("status",), 2, seed=7, storage=tmp_path)
    assert {d.mode for d in drawn} == {"positive", "negative"} and len(drawn) == 2
    again = cases.draw(kept, ("status",), 2, seed=7, storage=tmp_path)
    assert again == drawn
    assert cases.digest(cases.draw(kept, ("status",), 2, seed=8, storage=tmp_path)) != \
        cases.digest(drawn)
    # Another process, which loaded none of the test suite's modules, draws the same.
    code = ("from pathlib import Path; from harness.fuzz import cases, document; "
            "print(cases.digest(cases.draw(document.load('bpp'), ('status',), 2, 7, "
            f"Path({str(tmp_path)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, cwd=tmp_path)
    assert done.stdout.strip() == cases.digest(drawn)
    assert not (tmp_path / ".hypothesis").exists()  # its caches go where it is told


def test_a_request_carries_the_run_parties_but_what_was_broken_stays_broken() -> None:
    official = example(SUPPORT)
    sent = addressed(official, "support", PARTIES, True, "PT10S")["context"]
    assert (sent["bap_id"], sent["bap_uri"]) == (PARTIES.sender_id, PARTIES.sender_uri)
    assert (sent["bpp_id"], sent["bpp_uri"]) == (CANDIDATE.subscriber_id, CANDIDATE.uri)
    assert sent["ttl"] == "PT10S" and sent["timestamp"] != official["context"]["timestamp"]
    broken = copy.deepcopy(official)
    broken["context"].update(bap_id="", action="not-an-action", ttl="soon")
    del broken["context"]["bpp_uri"]
    kept = addressed(broken, "support", PARTIES, False, "PT10S")["context"]
    assert (kept["bap_id"], kept["action"], kept["ttl"]) == ("", "not-an-action", "soon")
    assert "bpp_uri" not in kept and kept["bpp_id"] == CANDIDATE.subscriber_id
    assert addressed(b"\x00{", "support", PARTIES, False, "PT10S") == b"\x00{"
    assert addressed([1], "support", PARTIES, False, "PT10S") == [1]


# -- the checks ----------------------------------------------------------------------------------


def answered(status: int, body: dict[str, Any] | bytes, action: str = "support") -> Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Exchange(id="x000007", direction="outbound", party="bap", method="POST",
                    url=f"http://127.0.0.1:9000/beckn/{action}", request_headers={},
                    request_body=b"", wall_time=0.0, mono_time=0.0, status=status,
                    response_body=raw, response_mono_time=0.01, action=action)


def test_a_schema_invalid_request_acknowledged_is_ubc_sch_011() -> None:
    broken = example(SUPPORT)
    del broken["message"]["support"]
    problems = malformed.schema_problems(serialised(broken), "support", schemas.load())
    assert [p.rule for p in problems] == ["UBC-SCH-004"]
    findings = malformed.malformed_refused(answered(200, envelope.ack()), problems, "the BPP")
    assert [(f.rule, f.evidence) for f in findings] == [("UBC-SCH-011", ["x000007"])]
    assert "the BPP acknowledged a support the schema refuses" in findings[0].message
    for refusal in (answered(400, envelope.nack("30000", "no")),
                    answered(401, envelope.nack("10001", "no"))):
        assert malformed.malformed_refused(refusal, problems) == []
    assert malformed.malformed_refused(answered(200, envelope.ack()), []) == []
    not_json = malformed.schema_problems(b"\xff{", "support", schemas.load())
    assert [p.rule for p in not_json] == ["UBC-SCH-001"]


def test_a_server_error_is_ubc_sch_014_for_any_request() -> None:
    problems = malformed.schema_problems(b"{}", "support", schemas.load())
    crash = answered(500, b"<h1>Internal Server Error</h1>")
    assert [f.rule for f in malformed.no_server_error(crash, problems)] == ["UBC-SCH-014"]
    nacked = answered(503, envelope.nack("10003", "registry down"))
    found = malformed.no_server_error(nacked, [])
    assert [f.rule for f in found] == ["UBC-SCH-014"] and "10003: registry down" in \
        found[0].message and found[0].expected == "HTTP 200 ACK"
    assert malformed.no_server_error(answered(400, envelope.nack("30000", "no")), problems) \
        == []


# -- against candidates --------------------------------------------------------------------------


def fuzz(tmp_path: Path, candidate: Path, port_base: int, state_dir: Path | None,
         *options: str) -> tuple[int, dict[str, Any]]:
    report_dir = tmp_path / "reports"
    code = cli.main(["fuzz", "--candidate", str(candidate), "--port-base", str(port_base),
                     "--report-dir", str(report_dir), "--wait", "10",
                     *(["--state-dir", str(state_dir)] if state_dir else []), *options])
    reports = sorted(report_dir.glob("*-fuzz-*/fuzz.json"))
    assert reports, "no fuzz.json"
    assert (reports[-1].parent / "transcript.ndjson").is_file()
    return code, json.loads(reports[-1].read_text(encoding="utf-8"))


def error_rules(report: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in report["findings"] if f["severity"] == "error"}


@pytest.fixture(scope="module")
def reference_bpp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceProcess]:
    with ReferenceProcess(tmp_path_factory.mktemp("fuzzed-bpp")) as reference:
        yield reference


@pytest.mark.network
def test_the_reference_bpp_gives_nothing(reference_bpp: ReferenceProcess,
                                         tmp_path: Path) -> None:
    reference_bpp.switch_faults(())
    code, report = fuzz(tmp_path, reference_bpp.candidate, reference_bpp.base,
                        reference_bpp.state_dir, "--role", "bpp", "--seed", "1",
                        "--actions", "status,cancel,support", "--max-examples", "9")
    assert (code, report["verdict"], report["findings"]) == (0, "passed", []), report
    summary = report["summary"]
    assert summary["sent"] == 9 and summary["schema_invalid"] >= 3
    assert summary["acknowledged"] == summary["schema_valid"] >= 3  # valid: ACKed, all
    assert report["control"]["ack"] == "ACK" and report["options"]["seed"] == 1


@pytest.mark.network
def test_a_bpp_that_acks_schema_invalid_requests_is_caught(reference_bpp: ReferenceProcess,
                                                           tmp_path: Path) -> None:
    reference_bpp.switch_faults(("acks-schema-invalid-request",))
    try:
        code, report = fuzz(tmp_path, reference_bpp.candidate, reference_bpp.base,
                            reference_bpp.state_dir, "--role", "bpp", "--seed", "1",
                            "--actions", "status,support", "--max-examples", "8")
    finally:
        reference_bpp.switch_faults(())
    assert (code, report["verdict"], error_rules(report)) == (1, "failed", {"UBC-SCH-011"})
    caught = [r for r in report["requests"] if r["rules"]]
    assert caught and all(not r["schema_valid"] and r["ack"] == "ACK" for r in caught)
    evidence = {f["evidence"][0] for f in report["findings"]}
    assert evidence == {r["evidence"] for r in caught}


@pytest.mark.network
def test_the_reference_bap_gives_nothing(tmp_path: Path) -> None:
    with ReferenceProcess(tmp_path / "bap", role="bap") as reference:
        code, report = fuzz(tmp_path, reference.candidate, reference.base, reference.state_dir,
                            "--role", "bap", "--seed", "2", "--actions", "on_support",
                            "--max-examples", "4")
    assert (code, report["verdict"], report["findings"]) == (0, "passed", []), report
    # A callback of a transaction it never started is refused: the control too, but not for
    # its signature.
    assert report["summary"]["sent"] == 4 and report["summary"]["acknowledged"] == 0
    assert report["control"]["status"] == 400


class Stub:
    """A BPP that validates with the profile's schemas and fails where a careless one does:
    `crash` answers a body it cannot validate with a 500, `slow` takes `delay_s` over every
    valid support."""

    def __init__(self, mode: str, delay_s: float = 0.0) -> None:
        self.mode = mode
        self.delay_s = delay_s

    async def endpoint(self, request: Request) -> Response:
        action = request.path_params["action"]
        problems = malformed.schema_problems(await request.body(), action, schemas.load())
        if self.mode == "unauthorized":  # cannot look the harness's key up, say
            return Response(json.dumps(envelope.nack("10001", "unknown key")), 401,
                            headers={"WWW-Authenticate": 'Signature realm="stub"'},
                            media_type="application/json")
        if problems and self.mode == "crash":
            return Response(b"Internal Server Error", 500, media_type="text/plain")
        if problems:
            return Response(json.dumps(envelope.nack("30000", problems[0].message)), 400,
                            media_type="application/json")
        if self.mode == "slow" and action == "support":
            await asyncio.sleep(self.delay_s)
        return Response(json.dumps(envelope.ack()), media_type="application/json")


def fuzz_stub(tmp_path: Path, stub: Stub) -> tuple[int, dict[str, Any]]:
    group = ServerGroup()
    served = group.add("stub", Starlette(routes=[
        Route("/beckn/{action}", stub.endpoint, methods=["POST"])]))
    group.start()
    try:
        candidate = Candidate("bpp", "stub-bpp.example", "stub-bpp.example-k1",
                              CANDIDATE.signing_public_key, f"{served.url}/beckn")
        path = tmp_path / "stub.toml"
        path.write_text(candidate.to_toml(), encoding="utf-8")
        return fuzz(tmp_path, path, free_port_base(), tmp_path / "state", "--role", "bpp",
                    "--seed", "1", "--actions", "status,support", "--max-examples", "6",
                    "--ack-bound", "1")
    finally:
        group.stop()


@pytest.mark.network
def test_a_candidate_that_cannot_trust_the_harness_key_is_not_fuzzed(tmp_path: Path) -> None:
    """Refusing everything for its signature would look like refusing every broken request."""
    code, report = fuzz_stub(tmp_path, Stub("unauthorized"))
    assert (code, report["verdict"], report["requests"]) == (2, "could_not_run", [])
    assert "refused the control" in report["reason"] and "HTTP 401 NACK" in report["reason"]


@pytest.mark.network
@pytest.mark.parametrize(("mode", "expected"), [("crash", "UBC-SCH-014"),
                                                ("slow", "UBC-TIME-001")])
def test_a_bpp_that_fails_on_input_or_answers_late_is_caught(tmp_path: Path, mode: str,
                                                             expected: str) -> None:
    # slow: over the bound of 1 s, within the 2 s an answer is waited for
    code, report = fuzz_stub(tmp_path, Stub(mode, delay_s=1.2))
    assert (code, report["verdict"]) == (1, "failed")
    assert expected in error_rules(report)
    for record in report["requests"]:
        if mode == "crash":  # a server error on exactly what it could not validate
            assert (record["status"] == 500) is (not record["schema_valid"]), record
            assert ("UBC-SCH-014" in record["rules"]) is (record["status"] == 500), record
        else:  # late is as measured: the valid supports, and whatever a busy machine slowed
            if record["action"] == "support" and record["schema_valid"]:
                assert record["latency_s"] > 1.0, record
            assert ("UBC-TIME-001" in record["rules"]) is (record["latency_s"] > 1.0), record
