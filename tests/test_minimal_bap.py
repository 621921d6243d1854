"""The BAP features certify an app they were not written beside: tests/minimal_bap.py, a
deliberately minimal driver's app written from the specs alone (client-api-contract.md, the
TSD's messages, BECKN-006), sharing no code with the reference BAP or the harness.

`ubc-cert run --role bap --tags walk_in` passes it (every walk-in scenario passed, no error
finding), and fails it with UBC-CTX-023 when it reuses the first message_id of a transaction:
the features judge this implementation too. Each run starts the app as its own process, the
way `ubc-cert reference bap` runs (harness/selftest.py `ReferenceProcess`).
"""

from __future__ import annotations

import ast
import base64
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from harness import exitcodes
from harness.selftest import ReferenceProcess, SelfTestResult
from tests import minimal_bap
from tests.test_signing import (
    VECTOR_BODY,
    VECTOR_CREATED,
    VECTOR_EXPIRES,
    VECTOR_KEY_ID,
    VECTOR_PRIVATE_64,
    VECTOR_PUBLIC,
    VECTOR_SIGNATURE,
    VECTOR_SUBSCRIBER,
)

MINIMAL_BAP = Path(minimal_bap.__file__)
WALK_IN = "walk_in"
CLEAN, REUSING, OWN_IDS = "clean", "reuses-message-id", "own-transaction-ids"
OPTIONS = {CLEAN: (), REUSING: ("--reuse-message-id",), OWN_IDS: ("--own-transaction-ids",)}


def _certify(workdir: Path, options: tuple[str, ...]) -> SelfTestResult:
    with ReferenceProcess(workdir, role="bap", options=options, preloaded=True,
                          program=(sys.executable, str(MINIMAL_BAP))) as app:
        return app.certify(ttl="PT2S", tags=WALK_IN, timeout=60)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SelfTestResult]:
    """The walk-in against the minimal BAP, as it is and reusing message ids, side by side."""
    root = tmp_path_factory.mktemp("minimal-bap")
    with ThreadPoolExecutor(len(OPTIONS)) as pool:
        futures = {name: pool.submit(_certify, root / name, options)
                   for name, options in OPTIONS.items()}
        return {name: future.result() for name, future in futures.items()}


# -- the app is a second implementation --------------------------------------------------------

def test_the_minimal_bap_shares_no_code_with_the_reference_or_the_harness() -> None:
    tree = ast.parse(MINIMAL_BAP.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported
                if name.split(".")[0] in ("harness", "mocks", "tests")}, imported


def test_its_own_signer_reproduces_the_published_beckn_006_vector() -> None:
    key = SigningKey(base64.b64decode(VECTOR_PRIVATE_64)[:32])
    signed = key.sign(minimal_bap.signing_string(str(VECTOR_CREATED), str(VECTOR_EXPIRES),
                                                 VECTOR_BODY))
    assert base64.b64encode(signed.signature).decode() == VECTOR_SIGNATURE
    params = {"keyId": f"{VECTOR_SUBSCRIBER}|{VECTOR_KEY_ID}|ed25519", "algorithm": "ed25519",
              "created": str(VECTOR_CREATED), "expires": str(VECTOR_EXPIRES),
              "signature": VECTOR_SIGNATURE}
    # valid but for the time: the vector expired in 2022
    assert minimal_bap.verify(params, VECTOR_BODY, VECTOR_PUBLIC) == \
        "signature not valid now (created, expires)"


def test_its_own_verifier_takes_its_own_signatures_and_refuses_a_changed_body() -> None:
    key = SigningKey.generate()
    public = base64.b64encode(bytes(key.verify_key)).decode()
    header = minimal_bap.sign(key, "bpp.example|k1", b'{"a": 1}', 30)
    params = minimal_bap.signature_params(header)
    assert params["keyId"] == "bpp.example|k1|ed25519"
    assert minimal_bap.verify(params, b'{"a": 1}', public) is None
    assert minimal_bap.verify(params, b'{"a": 2}', public) == \
        "bad signature (BadSignatureError)"


# -- certified by the walk-in, and not when it breaks a rule -----------------------------------

@pytest.mark.network
def test_the_minimal_bap_passes_the_walk_in(runs: dict[str, SelfTestResult]) -> None:
    result = runs[CLEAN]
    assert result.exit_code == exitcodes.PARTIAL_PASSED, result.output
    report = result.report
    assert report["verdict"] == "partial_passed", report["verdict"]
    walk_in = [s for s in report["scenarios"] if s["feature"].startswith("Walk-in")]
    assert walk_in and {s["status"] for s in walk_in} == {"passed"}, report["scenarios"]
    assert report["summary"]["errors"] == 0 and not result.error_rules, report["findings"]


@pytest.mark.network
def test_an_app_with_beckn_transaction_ids_of_its_own_passes_the_walk_in(
        runs: dict[str, SelfTestResult]) -> None:
    """The contract does not say the driver's X-Transaction-Id is the Beckn transaction_id: an
    app that gives each order its own is judged in the transaction its select began."""
    result = runs[OWN_IDS]
    assert result.exit_code == exitcodes.PARTIAL_PASSED, result.output
    assert report_errors(result) == 0, result.report["findings"]


def report_errors(result: SelfTestResult) -> int:
    return int(result.report["summary"]["errors"])


@pytest.mark.network
def test_a_minimal_bap_that_reuses_message_ids_fails_the_walk_in_with_its_rule(
        runs: dict[str, SelfTestResult]) -> None:
    result = runs[REUSING]
    assert result.exit_code == exitcodes.FAILED, result.output
    assert "UBC-CTX-023" in result.error_rules, (result.error_rules, result.output)
