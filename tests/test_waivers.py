"""Waivers (harness/waivers.py): the file is read strictly, naming entry and field; a waiver
holds for its candidate until its date, and the findings it covers are waived — kept, but no
longer errors, so they fail neither the verdict nor the report's error count. No server: a
certification with waivers is in tests/test_waiver_run.py."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from harness import cli, waivers
from harness.beckn.signing import KeyPair
from harness.candidate import Candidate
from harness.certify import verdict as verdicts
from harness.certify.plugin import PASSED, ScenarioResult
from harness.findings import NOT_EVALUATED, WAIVED, Finding
from harness.report import document

TODAY = date(2025, 6, 1)
VALID = """
[[waiver]]
rule = "UBC-API-001"
subscriber_id = "app.example.com"
reason = "the estimate shows the list price until release 4.2"
approved_by = "A. Operator"
expires = 2025-06-01

[[waiver]]
rule = "UBC-API-011"
subscriber_id = "app.example.com"
reason = "reads unauthenticated until the next release"
approved_by = "A. Operator"
expires = "2025-05-31"

[[waiver]]
rule = "UBC-CTX-023"
subscriber_id = "other.example.com"
reason = "another app's"
approved_by = "A. Operator"
expires = 2099-01-01
"""


def _load(tmp_path: Path, text: str) -> list[waivers.Waiver]:
    path = tmp_path / "waivers.toml"
    path.write_text(text, encoding="utf-8")
    return waivers.load(path)


def _chosen(tmp_path: Path) -> waivers.Waivers:
    return waivers.Waivers.for_candidate(_load(tmp_path, VALID), "app.example.com", TODAY,
                                         source="waivers.toml")


def test_a_waiver_file_is_read_with_toml_dates_and_iso_strings(tmp_path: Path) -> None:
    read = _load(tmp_path, VALID)
    assert [(w.entry, w.rule, w.expires) for w in read] == [
        (1, "UBC-API-001", date(2025, 6, 1)), (2, "UBC-API-011", date(2025, 5, 31)),
        (3, "UBC-CTX-023", date(2099, 1, 1))]
    assert read[0].as_dict() == {
        "rule": "UBC-API-001", "subscriber_id": "app.example.com",
        "reason": "the estimate shows the list price until release 4.2",
        "approved_by": "A. Operator", "expires": "2025-06-01"}


FIELDS = {"rule": '"UBC-API-001"', "subscriber_id": '"a"', "reason": '"r"',
          "approved_by": '"b"', "expires": "2025-01-01"}


def _entry(table: str = "[[waiver]]", **values: str | None) -> str:
    """One waiver entry in TOML: FIELDS with `values` replacing (None: leaving out) some."""
    fields = {**FIELDS, **values}
    return table + "\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize(("text", "problem"), [
    (_entry() + _entry(reason=None), "waiver 2: missing field 'reason'"),
    (_entry(aproved_by="'x'"),
     "waiver 1: unknown field 'aproved_by' (did you mean 'approved_by'?)"),
    (_entry(reason='"  "'), "waiver 1: field 'reason' must be a non-empty string"),
    (_entry(rule='"UBC-API-01"'),
     "waiver 1: field 'rule' = 'UBC-API-01' is no rule of the catalogue (did you mean"),
    (_entry(expires='"2025-13-01"'),
     "waiver 1: field 'expires' = '2025-13-01' is not a date (YYYY-MM-DD)"),
    (_entry(expires="2025-01-01T10:00:00Z"),
     "waiver 1: field 'expires' = '2025-01-01T10:00:00+00:00' is a date-time"),
    (_entry(expires="20250101"), "waiver 1: field 'expires' = 20250101 is not a date"),
    (_entry("[[waivers]]"), "unknown key 'waivers' (did you mean 'waiver'?)"),
    ('waiver = "UBC-API-001"\n', "'waiver' must be an array of tables"),
    ("[[waiver]\n", "not valid TOML"),
])
def test_a_malformed_waiver_file_is_refused_naming_entry_and_field(
        tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(waivers.WaiverError) as caught:
        _load(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / "waivers.toml"))
    assert problem in str(caught.value)


def test_expired_and_other_candidates_waivers_are_ignored_with_a_warning(tmp_path: Path) -> None:
    """A waiver holds through its `expires` day; the day after, it is ignored."""
    chosen = _chosen(tmp_path)
    assert [w.rule for w in chosen.active] == ["UBC-API-001"]
    assert chosen.warnings() == [
        "waiver 2 (UBC-API-011 for app.example.com) ignored: expired on 2025-05-31",
        "waiver 3 (UBC-CTX-023 for other.example.com) ignored: granted to "
        "other.example.com, not to the candidate app.example.com"]


def test_a_waiver_waives_failed_findings_of_its_rule_only(tmp_path: Path) -> None:
    chosen = _chosen(tmp_path)
    covered = Finding("UBC-API-001", "the estimate shows 120.00, on_select said 100.00")
    expired = Finding("UBC-API-011", "GET /v1/orders answered 200 without a token")
    unjudged = Finding("UBC-API-001", "no estimate to look at", status=NOT_EVALUATED)
    chosen.apply([covered, expired, unjudged])
    chosen.apply([covered])  # idempotent: the steps and the verdict both apply it
    assert covered.status == WAIVED and not covered.is_error
    assert covered.as_dict()["status"] == "waived"
    assert covered.as_dict()["waiver"]["approved_by"] == "A. Operator"
    assert expired.is_error and expired.status == "failed"  # the expired waiver does not apply
    assert unjudged.status == NOT_EVALUATED  # not evaluated is never waived into a pass
    assert chosen.used() == [{**chosen.active[0].as_dict(), "findings": 1}]
    section = chosen.as_report()
    assert section["used"] == chosen.used() and section["unused"] == []
    assert [i["why"] for i in section["ignored"]] == [
        "expired on 2025-05-31",
        "granted to other.example.com, not to the candidate app.example.com"]


def _result() -> ScenarioResult:
    return ScenarioResult("features/x.feature::s", "Walk-in", "s", status=PASSED)


def test_a_waived_finding_fails_neither_the_verdict_nor_the_error_count(tmp_path: Path) -> None:
    chosen = _chosen(tmp_path)
    waived = Finding("UBC-API-001", "the estimate shows 120.00")
    chosen.apply([waived])
    findings = [("features/x.feature::s", waived)]
    assert verdicts.judge(0, [_result()], findings, None).name == verdicts.CERTIFIED
    other = Finding("UBC-API-011", "unauthenticated read")
    chosen.apply([other])
    assert verdicts.judge(1, [_result()], [*findings, ("s", other)], None).name == \
        verdicts.NOT_CERTIFIED
    candidate = Candidate(role="bap", subscriber_id="app.example.com", key_id="k",
                          signing_public_key=KeyPair.generate("a", "k").signing_public_key,
                          uri="http://127.0.0.1:1/beckn")
    report = document.build(document.RunFacts("bap", candidate, time.time(), {}),
                            verdicts.Verdict(verdicts.CERTIFIED, "every scenario passed"),
                            [_result()], findings)
    assert (report["summary"]["errors"], report["summary"]["warnings"],
            report["summary"]["waived"]) == (0, 0, 1)
    assert report["findings"][0]["status"] == "waived" and report["summary"]["rules"] == []


def test_a_run_with_a_malformed_waiver_file_exits_2_before_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pair = KeyPair.generate("cpo.example.com", "cpo.example.com-k1")
    candidate = Candidate(role="bpp", subscriber_id=pair.subscriber_id, key_id=pair.key_id,
                          signing_public_key=pair.signing_public_key,
                          uri="http://127.0.0.1:9/beckn")
    (tmp_path / "cand.toml").write_text(candidate.to_toml())
    (tmp_path / "waivers.toml").write_text(_entry(reason=None, reasons='"r"'))
    code = cli.main(["run", "--role", "bpp", "--candidate", str(tmp_path / "cand.toml"),
                     "--state-dir", str(tmp_path / "state"), "--report-dir",
                     str(tmp_path / "reports"), "--waivers", str(tmp_path / "waivers.toml")])
    err = capsys.readouterr().err
    assert code == 2 and "--waivers" in err and "waiver 1: unknown field 'reasons'" in err, err
    assert not (tmp_path / "reports").exists()
    (tmp_path / "key.json").write_text("{}")
    code = cli.main(["run", "--role", "bpp", "--candidate", str(tmp_path / "cand.toml"),
                     "--state-dir", str(tmp_path / "state"), "--report-dir",
                     str(tmp_path / "reports"), "--operator-key", str(tmp_path / "key.json")])
    err = capsys.readouterr().err
    assert code == 2 and "--operator-key" in err and "key.json" in err, err
