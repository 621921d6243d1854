"""A `ubc-cert` command run by harness/forked_cli.py, in a child of a process that imported the
harness once, gives what the same command gives as a fresh process: its exit code, its output
(under the environment it was given) and, past its timeout, TimeoutExpired with the child gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import exitcodes, forked_cli
from harness.beckn import signing
from harness.candidate import Candidate
from harness.selftest import free_port_base
from harness.servers import free_port

pytestmark = pytest.mark.network


def _unreachable(tmp_path: Path) -> list[str]:
    """A run whose candidate nobody serves: its network comes up, it waits, it could not run."""
    keys = signing.KeyPair.generate("nobody.example", "k1")
    candidate = Candidate("bpp", keys.subscriber_id, keys.key_id, keys.signing_public_key,
                          f"http://127.0.0.1:{free_port()}/beckn")
    (tmp_path / "candidate.toml").write_text(candidate.to_toml())
    return ["run", "--role", "bpp", "--candidate", str(tmp_path / "candidate.toml"),
            "--report-dir", str(tmp_path / "reports"), "--wait", "0.2", "--tags", "support"]


def test_a_forked_command_answers_as_the_fresh_process_does(tmp_path: Path) -> None:
    command = _unreachable(tmp_path)
    fresh_env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "fresh")}
    fresh = subprocess.run([sys.executable, "-m", "harness.cli", *command],
                           capture_output=True, text=True, timeout=60, env=fresh_env,
                           check=False)
    forked_env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "forked")}
    forked = forked_cli.run(command, forked_env, timeout=60)
    assert fresh.returncode == forked.returncode == exitcodes.COULD_NOT_RUN, forked.stderr
    assert forked.stderr == fresh.stderr  # "ubc-cert run: candidate not reachable at ..."
    assert "candidate not reachable" in forked.stderr
    assert f"keys in {tmp_path / 'forked' / 'ubc-cert'}" in forked.stdout  # its environment
    assert len(list((tmp_path / "reports").glob("*/report.json"))) == 2


def test_a_forked_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        forked_cli.run(["serve", "--port-base", str(free_port_base())], dict(os.environ),
                       timeout=2)
    assert time.monotonic() - started < 2 + forked_cli.KILL_BOUND_S
