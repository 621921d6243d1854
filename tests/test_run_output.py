"""What `ubc-cert run` prints, end to end against the reference BPP in its own process: a
failing run on one screen naming its rules and what to fix, no traceback anywhere (terminal,
junit.xml), `--quiet` one line, `--format json` the report and nothing else on stdout, `-v`
pytest's own output; all in a pipe, so plain lines without escape codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness import exitcodes
from harness.beckn import envelope, signing
from harness.candidate import Candidate
from harness.selftest import ReferenceProcess
from harness.servers import ServerGroup

pytestmark = [pytest.mark.network, pytest.mark.slow]
SCENARIO_MARKS = ("✓ ", "✗ ", "– ", "! ")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceProcess]:
    with ReferenceProcess(tmp_path_factory.mktemp("reference")) as process:
        yield process


def _run(reference: ReferenceProcess, *options: str) -> subprocess.CompletedProcess[str]:
    """`ubc-cert run` against the reference, stdout and stderr apart, as CI would run it."""
    command = [sys.executable, "-m", "harness.cli", "run", "--role", "bpp", "--candidate",
               str(reference.candidate), "--report-dir", str(reference.workdir / "reports"),
               "--ttl", "PT2S", "--port-base", str(reference.base), "--wait", "10",
               "--state-dir", str(reference.workdir / "harness-state"), *options]
    env = {k: v for k, v in reference.env.items() if k not in ("FORCE_COLOR", "TERM")}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                          check=False)


def _latest_report(reference: ReferenceProcess) -> Path:
    return sorted((reference.workdir / "reports").glob("*/report.json"))[-1]


def test_a_failing_run_fits_on_a_screen_and_names_the_rule_and_the_fix(
        reference: ReferenceProcess) -> None:
    reference.switch_faults(("bad-callback-signature",))
    try:
        done = _run(reference)
    finally:
        reference.switch_faults(())
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    lines = output.splitlines()
    print(output)  # the acceptance's screen, kept in the test log
    assert len(lines) <= 60, output
    assert sum(line.startswith(SCENARIO_MARKS) for line in lines) == 21, output
    assert "UBC-SIG-009  ed25519 signature verifies against the signing string" in output
    fixes = output[output.index("Fix these first"):]
    assert "1. UBC-SIG-009" in fixes, output
    assert "Traceback" not in output and "def " not in output and "\x1b" not in output
    junit = (_latest_report(reference).parent / "junit.xml").read_text()
    assert "UBC-SIG-009" in junit and "Traceback" not in junit and "assert_clean" not in junit
    assert "harness/steps" not in junit and "features/bpp/cancel.feature:" in junit


def test_quiet_is_the_verdict_line(reference: ReferenceProcess) -> None:
    done = _run(reference, "--quiet", "--tags", "support")
    assert done.returncode == exitcodes.PARTIAL_PASSED, done.stdout + done.stderr
    assert done.stderr == ""
    [line] = done.stdout.splitlines()
    assert line.startswith("PARTIAL PASSED") and str(_latest_report(reference)) in line


def test_format_json_puts_the_report_on_stdout_and_the_text_on_stderr(
        reference: ReferenceProcess) -> None:
    done = _run(reference, "--format", "json", "--tags", "support")
    assert done.returncode == exitcodes.PARTIAL_PASSED, done.stderr
    report = json.loads(done.stdout)
    assert report == json.loads(_latest_report(reference).read_text())
    assert "Certifying reference-bpp.ubc" in done.stderr and "PASSED" in done.stderr


def test_verbose_shows_pytest_and_the_identity(reference: ReferenceProcess) -> None:
    done = _run(reference, "-v", "--tags", "support")
    assert done.returncode == exitcodes.PARTIAL_PASSED, done.stdout + done.stderr
    assert "test session starts" in done.stdout and "PASSED" in done.stdout
    assert "[participants.bap]" in done.stdout  # the identity block, to paste


def test_a_candidates_escape_sequences_are_shown_not_obeyed(tmp_path: Path) -> None:
    """A BPP whose NACKs carry a clear-screen, a bell and rich markup: the operator reads them
    escaped, and the terminal is not cleared."""
    hostile = "\x1b[2J\x1b[H\x07[bold red]gone[/bold red]\x1b]0;owned\x07"

    async def nack(request: Request) -> Response:
        return Response(json.dumps(envelope.nack("30000", hostile)).encode(), 400,
                        media_type="application/json")

    keys = signing.KeyPair.generate("hostile-bpp.example", "k1")
    group = ServerGroup()
    served = group.add("hostile", Starlette(routes=[Route("/beckn/{action}", nack,
                                                          methods=["POST"])]))
    group.start()
    try:
        candidate = Candidate("bpp", keys.subscriber_id, keys.key_id, keys.signing_public_key,
                              f"{served.url}/beckn")
        (tmp_path / "cand.toml").write_text(candidate.to_toml())
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "--role", "bpp", "--candidate",
             str(tmp_path / "cand.toml"), "--report-dir", str(tmp_path / "reports"), "--ttl",
             "PT1S", "--wait", "5", "--tags", "support", "--ack-bound", "2"],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        group.stop()
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "\x1b" not in output and "\x07" not in output, output
    assert "\\x1b[2J\\x1b[H\\x07[bold red]gone[/bold red]" in output, output
