"""`ubc-cert run --role bap` certifies the reference BAP (`ubc-cert reference bap`, its own
process) through its /v1 client API: certified as it is, and not certified, naming the rule,
with a fault switched on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import exitcodes
from harness.selftest import ReferenceProcess

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def reference_bap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceProcess]:
    with ReferenceProcess(tmp_path_factory.mktemp("reference-bap"), role="bap") as reference:
        yield reference


def test_the_reference_bap_is_certified(reference_bap: ReferenceProcess) -> None:
    reference_bap.switch_faults(())
    result = reference_bap.certify(ttl="PT2S")
    assert result.exit_code == exitcodes.OK, result.output
    assert result.report["verdict"] == "certified"
    exchanges = (result.report_path or Path()).parent / "transcript.ndjson"
    text = exchanges.read_text()
    assert '"party":"client-api"' in text.replace(" ", "")  # the /v1 calls are evidence
    assert reference_bap.candidate.read_text().split("client_api_token = ")[1].split('"')[1] \
        not in text  # the Bearer token is not


@pytest.mark.parametrize(("fault", "rule"), [("shows-other-price", "UBC-API-001"),
                                             ("signs-with-another-key", "UBC-SIG-011"),
                                             ("confirm-without-init", "UBC-STATE-012")])
def test_a_faulty_bap_is_not_certified_with_its_rule(reference_bap: ReferenceProcess,
                                                     fault: str, rule: str) -> None:
    reference_bap.switch_faults((fault,))
    try:
        result = reference_bap.certify(ttl="PT2S")
    finally:
        reference_bap.switch_faults(())
    assert result.exit_code == exitcodes.FAILED, result.output
    assert rule in result.error_rules, (result.error_rules, result.output)
