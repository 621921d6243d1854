"""The signed outcome of a run (harness/report/certificate.py), on a run folder made here: a
certified run gets certificate.json, .sig and .html, any other a signed result.json; both verify
offline, and every changed byte of the statement, its signature or the evidence it hashes is
named by `ubc-cert verify-certificate`. No server: the network runs are sealed in
tests/test_fault_matrix.py and tests/test_bap_certification.py."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.beckn.keys import write_key_file
from harness.beckn.signing import InvalidKey, KeyPair
from harness.candidate import Candidate
from harness.certify import verdict as verdicts
from harness.report import certificate

CANDIDATE_KEY = KeyPair.generate("cpo.example.com", "cpo.example.com-k1")


def _candidate(subscriber_id: str = "cpo.example.com") -> Candidate:
    return Candidate(role="bpp", subscriber_id=subscriber_id, key_id="cpo.example.com-k1",
                     signing_public_key=CANDIDATE_KEY.signing_public_key,
                     uri="http://127.0.0.1:9000/beckn")


def _report(verdict: str) -> dict[str, Any]:
    return {
        "run_id": "run", "verdict": verdict, "reason": "", "profile": "ubc-2.0.0-rc",
        "summary": {"scenarios": 3, "passed": 3, "failed": 0, "not_evaluated": 0},
        "findings": [
            {"rule": "UBC-API-001", "severity": "error", "status": "waived",
             "waiver": {"rule": "UBC-API-001"}},
            {"rule": "UBC-API-001", "severity": "error", "status": "waived"},
            {"rule": "UBC-TIME-001", "severity": "warning"},
            {"rule": "UBC-TIME-006", "severity": "error", "status": "not-evaluated"},
        ],
    }


WAIVER = {"rule": "UBC-API-001", "subscriber_id": "cpo.example.com", "reason": "known",
          "approved_by": "A. Operator", "expires": "2099-12-31", "findings": 2}


def _sealed(tmp_path: Path, verdict: str = verdicts.CERTIFIED,
            candidate: Candidate | None = None) -> tuple[Path, certificate.OperatorKey]:
    run_dir = tmp_path / "20250101T000000Z-abcdef"
    run_dir.mkdir()
    report = _report(verdict)
    (run_dir / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (run_dir / "transcript.ndjson").write_text(
        '{"id":"x000001","party":"bpp"}\n{"id":"x000002","party":"bpp"}\n', encoding="utf-8")
    operator = certificate.operator_key(None, tmp_path / "state")
    certificate.seal(run_dir, report, candidate or _candidate(), operator,
                     plan=certificate.plan_hash("bpp", None), started=time.time() - 5,
                     waivers_used=[WAIVER])
    return run_dir, operator


def _verify(run_dir: Path, *options: str, capsys: pytest.CaptureFixture[str]
            ) -> tuple[int, str]:
    code = cli.main(["verify-certificate", str(run_dir), *options])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_utf8() -> None:
    assert certificate.canonical({"b": 1, "a": {"d": "é", "c": [1, 2]}}) == \
        '{"a":{"c":[1,2],"d":"é"},"b":1}'.encode()
    with pytest.raises(ValueError):
        certificate.canonical({"a": float("nan")})


def test_a_certified_run_gets_a_certificate_that_verifies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, operator = _sealed(tmp_path)
    names = {p.name for p in run_dir.iterdir()}
    assert {"certificate.json", "certificate.sig", "certificate.html"} <= names
    assert not names & {"result.json", "result.sig"}
    raw = (run_dir / "certificate.json").read_bytes()
    body = json.loads(raw)
    assert certificate.canonical(body) == raw
    assert body["kind"] == "certificate" and body["verdict"] == "certified"
    assert body["candidate"] == {
        "subscriber_id": "cpo.example.com", "role": "bpp", "key_id": "cpo.example.com-k1",
        "signing_public_key": CANDIDATE_KEY.signing_public_key,
        "key_fingerprint": "sha256:" + hashlib.sha256(
            base64.b64decode(CANDIDATE_KEY.signing_public_key)).hexdigest()}
    assert body["profile"] == "ubc-2.0.0-rc" and body["harness_version"]
    assert body["plan_hash"] == certificate.plan_hash("bpp", None) != \
        certificate.plan_hash("bpp", "walk_in")
    assert body["started"] < body["ended"] and body["started"].endswith("Z")
    assert body["sha256"] == {
        name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
        for name in ("report.json", "transcript.ndjson")}
    assert body["counts"] == {
        "by_rule": {"UBC-API-001": {"waived": 2}, "UBC-TIME-001": {"warning": 1},
                    "UBC-TIME-006": {"not_evaluated": 1}},
        "by_severity": {"waived": 2, "warning": 1, "not_evaluated": 1}}
    assert body["waivers"] == [WAIVER]
    assert body["operator"]["public_key"] == operator.pair.signing_public_key
    assert body["operator"]["fingerprint"] == operator.fingerprint
    code, out = _verify(run_dir, "--operator-public-key", operator.pair.signing_public_key,
                        capsys=capsys)
    assert code == 0 and out.splitlines()[-1] == "VALID certificate", out
    assert "report.json sha256" in out and "transcript.ndjson sha256" in out


def test_certificate_html_is_self_contained_and_escapes_what_it_shows(tmp_path: Path) -> None:
    run_dir, operator = _sealed(tmp_path, candidate=_candidate("cpo<script>x()</script>.com"))
    html = (run_dir / "certificate.html").read_text(encoding="utf-8")
    assert "CERTIFIED" in html and "UBC-API-001" in html and "A. Operator" in html
    assert operator.fingerprint in html and "cpo&lt;script&gt;x()&lt;/script&gt;.com" in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from anywhere


@pytest.mark.parametrize("name", ["report.json", "transcript.ndjson"])
def test_any_changed_byte_of_the_evidence_is_named_with_both_hashes(tmp_path: Path,
                                                                    name: str) -> None:
    run_dir, _ = _sealed(tmp_path)
    original = (run_dir / name).read_bytes()
    expected = hashlib.sha256(original).hexdigest()
    for offset in range(len(original)):
        changed = bytearray(original)
        changed[offset] ^= 0x20
        (run_dir / name).write_bytes(bytes(changed))
        problems = certificate.verify(run_dir).problems
        actual = hashlib.sha256(bytes(changed)).hexdigest()
        assert problems == [f"{name}: sha256 expected {expected}, actual {actual}"], offset
    (run_dir / name).unlink()
    assert certificate.verify(run_dir).problems == [f"{name}: missing (expected sha256 "
                                                    f"{expected})"]


@pytest.mark.parametrize("name", ["certificate.json", "certificate.sig"])
def test_any_changed_byte_of_the_certificate_or_its_signature_fails(tmp_path: Path,
                                                                    name: str) -> None:
    run_dir, operator = _sealed(tmp_path)
    original = (run_dir / name).read_bytes()
    for offset in range(len(original)):
        for flip in (0x01, 0x20):
            changed = bytearray(original)
            changed[offset] ^= flip
            (run_dir / name).write_bytes(bytes(changed))
            for key in (None, operator.pair.signing_public_key):
                problems = certificate.verify(run_dir, key).problems
                assert problems and any(name in p for p in problems), (offset, flip, problems)
    (run_dir / name).write_bytes(original)
    assert certificate.verify(run_dir).valid


def test_the_signature_file_is_named_when_missing(tmp_path: Path) -> None:
    run_dir, _ = _sealed(tmp_path)
    (run_dir / "certificate.sig").unlink()
    assert certificate.verify(run_dir).problems == [
        "certificate.sig: missing: the statement is unsigned"]


def test_a_certificate_signed_by_another_key_is_refused_against_the_expected_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Re-signed by a forger's key, the certificate holds together (it names the forger's key)
    but not against the operator key the verifier expects."""
    run_dir, operator = _sealed(tmp_path)
    forger = certificate.operator_key(None, tmp_path / "forger")
    body = json.loads((run_dir / "certificate.json").read_bytes())
    body["operator"] = forger.as_dict()
    data = certificate.canonical(body)
    (run_dir / "certificate.json").write_bytes(data)
    (run_dir / "certificate.sig").write_text(forger.sign(data))
    assert certificate.verify(run_dir).valid
    code, out = _verify(run_dir, "--operator-public-key", operator.pair.signing_public_key,
                        capsys=capsys)
    assert code == 1, out
    assert f"names key {forger.fingerprint}, not the expected {operator.fingerprint}" in out
    assert f"not signed by operator key {operator.fingerprint}" in out


def test_a_failed_run_gets_a_signed_result_and_no_certificate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, _ = _sealed(tmp_path, verdict=verdicts.NOT_CERTIFIED)
    names = {p.name for p in run_dir.iterdir()}
    assert {"result.json", "result.sig"} <= names
    assert not names & {"certificate.json", "certificate.sig", "certificate.html"}
    body = json.loads((run_dir / "result.json").read_bytes())
    assert body["kind"] == "result" and body["verdict"] == verdicts.NOT_CERTIFIED
    code, out = _verify(run_dir, capsys=capsys)
    assert code == 0 and "VALID signed result, not a certificate" in out, out
    # Renamed, a result does not pass for a certificate.
    (run_dir / "result.json").rename(run_dir / "certificate.json")
    (run_dir / "result.sig").rename(run_dir / "certificate.sig")
    code, out = _verify(run_dir, capsys=capsys)
    assert code == 1 and "says it is a 'result', not a 'certificate'" in out, out
    assert "only a certified run has a certificate" in out


def test_verify_certificate_cannot_read_exits_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _verify(tmp_path / "absent", capsys=capsys)
    assert code == 2 and "not a folder" in out
    code, out = _verify(tmp_path, capsys=capsys)
    assert code == 2 and "holds neither certificate.json nor result.json" in out
    run_dir, _ = _sealed(tmp_path)
    code, out = _verify(run_dir, "--operator-public-key", "not-base64!", capsys=capsys)
    assert code == 2 and "--operator-public-key" in out


def test_the_operator_key_is_kept_in_the_state_folder_from_its_first_use(tmp_path: Path) -> None:
    first = certificate.operator_key(None, tmp_path / "state")
    assert first.created and first.path == tmp_path / "state" / "operator-keys.json"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert first.fingerprint in first.describe() and "created now" in first.describe()
    again = certificate.operator_key(None, tmp_path / "state")
    assert not again.created and again.pair == first.pair


def test_an_operator_key_file_of_keys_new_signs_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    pair = KeyPair.generate("operator.example.com", "operator.example.com-k1")
    write_key_file(pair, tmp_path / "operator.json")
    key = certificate.operator_key(tmp_path / "operator.json", tmp_path / "state")
    assert key.pair == pair and not (tmp_path / "state").exists()
    (tmp_path / "bad.json").write_text('{"subscriber_id": "x"}')
    with pytest.raises(InvalidKey, match=r"bad\.json"):
        certificate.operator_key(tmp_path / "bad.json", tmp_path / "state")


def test_the_certificate_is_earned_by_the_engine_s_certified_verdict() -> None:
    assert certificate.CERTIFIED == verdicts.CERTIFIED
