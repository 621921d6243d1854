"""Self-test: certify the reference BPP, run as a separate process exactly as an implementer's
server would run, with and without fault switches. Used by the test suite, by
`bench/fault_matrix.py` and by `make demo`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.servers import HOST

RUN_PORT_OFFSETS = (0, 1, 3)  # registry, CDS, BAP of a certification network
START_BOUND_S = 20.0


@dataclass
class SelfTestResult:
    faults: tuple[str, ...]
    exit_code: int
    report: dict[str, Any]
    wall_s: float
    output: str
    report_path: Path | None = None

    @property
    def error_rules(self) -> set[str]:
        return {f["rule"] for f in self.report.get("findings", [])
                if f.get("severity") == "error"}


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port_base(rng: random.Random | None = None) -> int:
    """A base port whose certification-network offsets are all free right now."""
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        if all(_free(base + offset) for offset in RUN_PORT_OFFSETS):
            return base
    raise RuntimeError("no free port range for a certification network")


def _wait_ready(candidate: Path, process: subprocess.Popen[str], bound: float) -> None:
    """The reference writes its candidate file once it serves: wait for that, bounded."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"reference BPP exited with {process.returncode}")
        if candidate.exists() and candidate.stat().st_size:
            return
        time.sleep(0.05)  # another process writes the file: there is nothing to wait on
    raise TimeoutError(f"reference BPP not ready within {bound} s")


def certify_reference(workdir: Path, faults: tuple[str, ...] = (), *, ttl: str = "PT2S",
                      tags: str | None = None, timeout: float = 180.0,
                      report_dir: Path | None = None, hooks: bool = True) -> SelfTestResult:
    """Start `ubc-cert reference bpp` (with `faults`), certify it with `ubc-cert run`, stop it.
    Reports go to `report_dir` (default: `workdir/reports`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    report_dir = report_dir or workdir / "reports"
    already = set(report_dir.glob("*/report.json"))
    base = free_port_base()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        reference_port = int(sock.getsockname()[1])
    candidate = workdir / "candidate.toml"
    command = [sys.executable, "-m", "harness.cli", "reference", "bpp", "--port",
               str(reference_port), "--registry-url", f"http://{HOST}:{base}",
               "--write-candidate", str(candidate), "--cds-url",
               f"http://{HOST}:{base + 1}/beckn"]
    for fault in faults:
        command += ["--fault", fault]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    reference = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=env)
    try:
        _wait_ready(candidate, reference, START_BOUND_S)
        if not hooks:  # certify it as a BPP that offers no test hooks
            lines = candidate.read_text().splitlines(keepends=True)
            candidate.write_text("".join(x for x in lines if not x.startswith("control_url")))
        run = [sys.executable, "-m", "harness.cli", "run", "--role", "bpp", "--candidate",
               str(candidate), "--report-dir", str(report_dir), "--ttl", ttl,
               "--port-base", str(base), "--wait", "10"]
        if tags:
            run += ["--tags", tags]
        done = subprocess.run(run, capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    finally:
        reference.send_signal(signal.SIGTERM)
        try:
            reference.wait(10)
        except subprocess.TimeoutExpired:
            reference.kill()
            reference.wait(5)
    wall = time.monotonic() - started
    reports = sorted(set(report_dir.glob("*/report.json")) - already)
    report = json.loads(reports[-1].read_text()) if reports else {}
    result = SelfTestResult(tuple(faults), done.returncode, report, wall,
                            done.stdout + done.stderr)
    result.report_path = reports[-1] if reports else None
    return result
