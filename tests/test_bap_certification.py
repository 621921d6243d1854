"""`ubc-cert run --role bap` certifies the reference BAP (`ubc-cert reference bap`, its own
process) through its /v1 client API: certified as it is, and not certified, naming its rule,
with each of its fault switches on (the BAP fault matrix, harness/fault_matrix.py, run once
for the module with two reference processes switching faults at run time). The same runs'
transcripts, audited offline (`ubc-cert audit`), show the same rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import audit, exitcodes, schemas
from harness.certify.bap.fuzz import WRONG_TOKEN, plan
from harness.fault_matrix import CLEAN, Row, run_matrix
from harness.findings import NOT_EVALUATED
from harness.report import certificate
from harness.selftest import SelfTestResult
from mocks.bap import FAULTS
from tests import secret_scan
from tests.test_fault_matrix import assert_the_scenarios_are_named_and_tagged

pytestmark = pytest.mark.network

@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Row]:
    rows = run_matrix({name: fault.rule for name, fault in FAULTS.items()}, role="bap",
                      workdir=tmp_path_factory.mktemp("bap-fault-matrix"), workers=3)
    return {row.fault: row for row in rows}


def test_the_reference_bap_is_certified(matrix: dict[str, Row]) -> None:
    result = matrix[CLEAN].result
    assert result.exit_code == exitcodes.OK, result.output
    assert result.report["verdict"] == "certified"
    assert_the_scenarios_are_named_and_tagged(result.report, "bap")
    transcript = (result.report_path or Path()).parent / "transcript.ndjson"
    text = transcript.read_text()
    assert '"party":"client-api"' in text.replace(" ", "")  # the /v1 calls are evidence
    root = (result.report_path or Path()).parents[3]  # <root>/reports/none/<run>/report.json
    tokens = [c.read_text().split("client_api_token = ")[1].split('"')[1]
              for c in root.glob("worker-*/candidate.toml")]
    assert tokens and not any(token in text for token in tokens)  # the Bearer token is not


def test_the_bap_runs_report_html_shows_the_drivers_calls(matrix: dict[str, Row]) -> None:
    """report.html of the BAP runs: each scenario's timeline holds the driver's /v1 calls
    beside the Beckn messages they caused, the fuzzing's server errors are findings with their
    exchanges in full, and ~70 fuzzing calls still make a small page."""
    for fault in (CLEAN, "crashes-on-bad-input"):
        run_dir = (matrix[fault].result.report_path or Path()).parent
        page = (run_dir / "report.html").read_text(encoding="utf-8")
        assert "client-api → candidate" in page and "POST /v1/estimate" in page
        assert "candidate → bpp" in page and "bpp → candidate" in page
        assert len(page.encode()) < 1_000_000
    assert "PARTIAL FAILED" in page and "UBC-API-010" in page
    assert '<div class="exchange" id="x' in page


# accepts-bad-signature shows only in the security probes, crashes-on-bad-input and
# no-auth-on-reads only in the fuzzing of the client API (harness.fault_matrix.shows_in).
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_bap_is_not_certified_with_its_rule(matrix: dict[str, Row], fault: str) -> None:
    row = matrix[fault]
    assert row.result.exit_code == exitcodes.FAILED, row.result.output
    assert row.rule in row.result.error_rules, (row.result.error_rules, row.result.output)


def test_the_bap_has_at_least_eight_fault_switches() -> None:
    assert len(FAULTS) >= 8


def test_the_reference_bap_passes_every_story(matrix: dict[str, Row]) -> None:
    """The stories of features/bpp/, told from the app's side, each certified on the clean
    run, each in about a second."""
    scenarios = matrix[CLEAN].result.report["scenarios"]
    for story in ("Walk-in", "Reserving", "Cancelling", "Rating", "Asking for support"):
        told = [s for s in scenarios if s["feature"].startswith(story)]
        assert told and {s["status"] for s in told} == {"passed"}, (story, scenarios)
    assert len([s for s in scenarios if s["feature"].startswith("Cancelling")]) == 3


# -- the security scenarios, read from the same runs --------------------------------------------

def _security(result: SelfTestResult) -> list[dict[str, Any]]:
    return [s for s in result.report["scenarios"] if "refuses callbacks" in s["feature"]]


def test_the_reference_bap_passes_the_security_scenarios(matrix: dict[str, Row]) -> None:
    """The clean run is the whole BAP run (walk-in and security): a certification."""
    security = _security(matrix[CLEAN].result)
    assert len(security) == 8, matrix[CLEAN].result.report["scenarios"]
    assert {s["status"] for s in security} == {"passed"}, security


def test_a_bap_that_accepts_bad_signatures_is_not_certified(matrix: dict[str, Row]) -> None:
    result = matrix["accepts-bad-signature"].result
    assert result.exit_code == exitcodes.FAILED, result.output
    assert "UBC-SIG-013" in result.error_rules, (result.error_rules, result.output)
    # The tampered on_status it applied cancels the order, and an ended order is not asked
    # about again (mocks/bap/service.py refresh): the driver is shown it CANCELLED.
    assert "UBC-API-004" in result.error_rules, (result.error_rules, result.output)


def test_probes_of_a_bap_that_nacks_every_callback_are_not_evaluated(
        matrix: dict[str, Row]) -> None:
    """Refusing every callback is no proof of refusing bad ones: without an accepted control
    the security scenarios are not evaluated, with a diagnosis, and never passed."""
    result = matrix["nacks-every-callback"].result
    assert result.exit_code == exitcodes.FAILED, result.output
    security = _security(result)
    assert security and {s["status"] for s in security} == {"not evaluated"}, security
    assert all("your app refused a correctly signed" in s["message"]
               and "/lookup" in s["message"] for s in security), security
    assert "UBC-SCH-013" in result.error_rules


# -- the fuzzing of the client API, read from the same runs -------------------------------------

def test_the_reference_bap_withstands_the_fuzzing_of_its_client_api(
        matrix: dict[str, Row]) -> None:
    """features/bap/client_api.feature in the clean run: passed, every call of the kept plan
    in the transcript (the wrong token is evidence, the app's token is not: see above)."""
    result = matrix[CLEAN].result
    fuzzing = [s for s in result.report["scenarios"]
               if "withstands malformed calls" in s["feature"]]
    assert len(fuzzing) == 2 and {s["status"] for s in fuzzing} == {"passed"}, fuzzing
    text = ((result.report_path or Path()).parent / "transcript.ndjson").read_text()
    kept = plan()
    assert text.count(f"client API fuzz plan {kept.digest}, call ") == \
        len(kept.unauthenticated) + len(kept.generated)
    assert f"Bearer {WRONG_TOKEN}" in text


# -- the same runs, audited offline from their transcripts (ubc-cert audit) ----------------------

def _audited(result: SelfTestResult) -> tuple[audit.Report, set[str]]:
    """The audit of a run's folder, and the rules of its error findings."""
    assert result.report_path is not None, result.output
    report = audit.audit([str(result.report_path.parent)], schemas.load())
    findings = [f for t in report.transactions for f in t.findings] + \
        [f for t in report.transactions for e in t.entries for f in e.findings]
    return report, {f.rule for f in findings if f.is_error and f.status != NOT_EVALUATED}


def test_the_clean_run_audits_clean(matrix: dict[str, Row]) -> None:
    report, rules = _audited(matrix[CLEAN].result)
    assert report.counts == {"errors": 0, "warnings": 0, "not_evaluated": 0}, rules
    assert report.keys.startswith("verified") and report.client_calls > 10
    judged = [e.exchange for t in report.transactions for e in t.entries if e.judged]
    assert judged and {e.party for e in judged if e} == {"cds", "bpp"}  # the app's requests
    assert all(e and not (e.action or "").startswith("on_") for e in judged)


# The audit judges what the transcript holds: every rule a fault run reported but those of what
# the app showed the driver (UBC-API-*, held against its /v1 answers, which are not Beckn) and
# of what the driver asked it for (UBC-CONS-010: the slot, asked in a /v1 estimate).
NOT_ON_THE_WIRE = ("UBC-API-", "UBC-CONS-010")
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_bap_run_audits_with_the_rules_the_run_reported(matrix: dict[str, Row],
                                                                 fault: str) -> None:
    result = matrix[fault].result
    reported = {f["rule"] for f in result.report["findings"] if f.get("severity") == "error"
                and f.get("status") != "not-evaluated"
                and not f["rule"].startswith(NOT_ON_THE_WIRE)}
    _, rules = _audited(result)
    assert rules == reported, (fault, rules, reported)


# -- the corner cases, read from the same runs ---------------------------------------------------

def _corners(result: SelfTestResult) -> list[dict[str, Any]]:
    return [s for s in result.report["scenarios"] if "told from the driver's app" in s["feature"]]


def test_the_reference_bap_passes_the_corner_cases(matrix: dict[str, Row]) -> None:
    corners = _corners(matrix[CLEAN].result)
    assert len(corners) == 4 and {s["status"] for s in corners} == {"passed"}, corners


def test_a_bap_that_ignores_unsolicited_callbacks_shows_no_refund(matrix: dict[str, Row]
                                                                  ) -> None:
    """Besides the missing confirm of the walk-in (UBC-API-002), the interruption and the
    early stop show the driver a payment the BPP reported REFUNDED as PAID (UBC-API-008)."""
    result = matrix["ignores-unsolicited-status"].result
    assert "UBC-API-008" in result.error_rules, (result.error_rules, result.output)
    failed = [s["name"] for s in _corners(result) if s["status"] == "failed"]
    # ... and the refused start fails in its given: the app never confirms the paid order
    assert len(failed) == 3 and not any("overlapping" in name for name in failed), failed


def test_a_bap_that_quotes_a_rejected_select_fails_only_the_overlap(matrix: dict[str, Row]
                                                                    ) -> None:
    result = matrix["quotes-a-rejected-select"].result
    failed = [s for s in _corners(result) if s["status"] != "passed"]
    assert [s["name"] for s in failed] == [
        "An overlapping slot is refused, and the app tells the driver so (§12.4)"], failed
    assert "UBC-API-009" in failed[0]["message"]


# -- the same runs, sealed: a certificate for the clean run, a signed result for each fault run,
# and no secret in any file of any of them ------------------------------------------------------

def test_the_clean_bap_run_is_certified_by_a_signed_certificate(matrix: dict[str, Row]) -> None:
    result = matrix[CLEAN].result
    run_dir = (result.report_path or Path()).parent
    assert {"certificate.json", "certificate.sig", "certificate.html"} <= \
        {p.name for p in run_dir.iterdir()}, result.output
    verified = certificate.verify(run_dir)
    assert verified.valid and verified.kind == certificate.CERTIFICATE, verified.lines()
    assert verified.statement["candidate"]["role"] == "bap"
    assert "Certificate: " in result.output and "verify-certificate" in result.output


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_bap_run_gets_a_signed_result_and_no_certificate(matrix: dict[str, Row],
                                                                  fault: str) -> None:
    run_dir = (matrix[fault].result.report_path or Path()).parent
    names = {p.name for p in run_dir.iterdir()}
    assert {"result.json", "result.sig"} <= names and not names & {
        "certificate.json", "certificate.sig", "certificate.html"}, names
    verified = certificate.verify(run_dir)
    assert verified.valid and verified.statement["verdict"] != "certified", verified.lines()


def test_no_bap_run_leaks_a_private_key_or_the_client_api_token(matrix: dict[str, Row]) -> None:
    """Every file of every run folder of the matrix (report, junit, transcript, Allure,
    certificate or result), searched for every private key the harness kept (its parties' and
    the operator's) and the app's Bearer token; and none was left for the redaction to catch."""
    root = (matrix[CLEAN].result.report_path or Path()).parents[3]
    secrets = secret_scan.secrets_under(root)
    assert any("operator-keys.json" in label for label in secrets), secrets.keys()
    assert any("client_api_token" in label for label in secrets), secrets.keys()
    folders = secret_scan.run_folders(root)
    assert len(folders) == len(matrix)
    leaked = [f"{folder.name}/{leak}" for folder in folders
              for leak in secret_scan.leaks(folder, secrets)]
    assert leaked == []
    assert not [row.fault for row in matrix.values() if "harness bug: a secret" in
                row.result.output]
