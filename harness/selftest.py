"""Self-test: certify the reference BPP, run as a separate process exactly as an implementer's
server would run, with and without fault switches, or load it with `ubc-cert load`. Used by the
test suite, by `bench/fault_matrix.py`, `bench/load_bench.py` and by `make demo`.

A `ReferenceProcess` is started once and certified any number of times: its faults are
switched at run time through its control API (`PUT /_control/faults`), and every run against it
uses the same port base and harness state folder, so the harness's registry, CDS and BAP keep
their addresses and keys from one run to the next — as they would on a real network, where a
participant caches what it looked up. A `Placement` puts the reference elsewhere (another
address, another network namespace) and tells the harness which address to advertise.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx

from harness import exitcodes, forked_cli, tls
from harness.addresses import HOST, Addresses, local_url
from harness.report import schema as report_schema

RUN_PORT_OFFSETS = (0, 1, 2, 3, 4)  # registry, CDS, BPP, BAP, charger of a certification network
PORT_TAKEN = "Address already in use"
PORT_ATTEMPTS = 3  # a run whose ports another test holds for a moment is run again, this often
PORT_RETRY_S = 1.0
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
                if f.get("severity") == "error" and f.get("status") != "waived"}


@dataclass(frozen=True)
class Placement:
    """Where the reference BPP and the harness listen, and how each reaches the other."""

    reference_host: str = HOST  # the reference binds here and is reached here
    harness_host: str = HOST  # `ubc-cert run --host`
    harness_url: str | None = None  # `ubc-cert run --public-url`
    launcher: tuple[str, ...] = ()  # runs the reference, e.g. ("ip", "netns", "exec", "ns")

    def harness(self, party: str, port: int) -> str:
        """Where the reference reaches a harness party listening on `port`."""
        return Addresses(self.harness_host, self.harness_url).advertised(party, port)

    def run_options(self) -> list[str]:
        options = ["--host", self.harness_host]
        return options + (["--public-url", self.harness_url] if self.harness_url else [])


def _free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_base(rng: random.Random | None = None, host: str = HOST) -> int:
    """A base port whose certification-network offsets are all free on `host` right now."""
    rng = rng or random.Random()
    for _ in range(200):
        # Below Linux's ephemeral range (32768-60999), where outgoing connections take ports:
        # a base chosen there can be taken between this check and the bind.
        base = rng.randrange(20000, 32700)
        if all(_free(base + offset, host) for offset in RUN_PORT_OFFSETS):
            return base
    raise RuntimeError("no free port range for a certification network")


class ReferenceProcess:
    """`ubc-cert reference bpp` (or `bap`, with `role="bap"`) in its own process, certified by
    `ubc-cert run` on demand.

    `program` runs another participant in its place: any server that takes the options of
    `ubc-cert reference` (--host, --port, --registry-url, --cds-url, --write-candidate) and
    writes its candidate file once it listens, as tests/minimal_bap.py does; it has no fault
    switches. With `preloaded`, each `ubc-cert run` is a child of a process that imported the
    harness once (harness/forked_cli.py) rather than a fresh process: the same run, without
    the 0.4 s of CPU its imports cost."""

    def __init__(self, workdir: Path, faults: tuple[str, ...] = (), *, hooks: bool = True,
                 placement: Placement | None = None, options: tuple[str, ...] = (),
                 role: str = "bpp", program: tuple[str, ...] | None = None,
                 preloaded: bool = False) -> None:
        self.role = role
        self.preloaded = preloaded
        self.program = program or (sys.executable, "-m", "harness.cli", "reference", role)
        self.workdir = workdir
        self.faults = tuple(faults)
        self.hooks = hooks
        self.placement = placement or Placement()
        self.options = options  # more `ubc-cert reference` arguments
        self.base = free_port_base(host=self.placement.harness_host)
        self.candidate = workdir / "candidate.toml"
        self.process: subprocess.Popen[str] | None = None
        self.control = ""
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The harness's keys, kept across this reference's runs; None: the harness's default.
        self.state_dir: Path | None = workdir / "harness-state"

    def start(self) -> ReferenceProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        where = self.placement
        self.control = f"{local_url(where.reference_host, port)}/_control"
        self.candidate.unlink(missing_ok=True)
        command = [*where.launcher, *self.program,
                   "--host", where.reference_host, "--port", str(port),
                   "--registry-url", where.harness("registry", self.base),
                   "--cds-url", where.harness("cds", self.base + 1) + "/beckn",
                   "--write-candidate", str(self.candidate), *self.options]
        for fault in self.faults:
            command += ["--fault", fault]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=self.env)
        self._wait_ready(START_BOUND_S)
        if not self.hooks and self.role == "bpp":  # certify it as a BPP that offers no test hooks
            lines = self.candidate.read_text().splitlines(keepends=True)
            self.candidate.write_text("".join(x for x in lines
                                              if not x.startswith("control_url")))
        return self

    def _wait_ready(self, bound: float) -> None:
        """The reference writes its candidate file once it serves: wait for that, bounded."""
        assert self.process is not None
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"reference {self.role} exited with {self.process.returncode}")
            if self.candidate.exists() and self.candidate.stat().st_size:
                return
            time.sleep(0.05)  # another process writes the file: there is nothing to wait on
        raise TimeoutError(f"reference {self.role} not ready within {bound} s")

    def switch_faults(self, faults: tuple[str, ...]) -> None:
        """Exactly these fault switches on, from now on."""
        answer = httpx.put(f"{self.control}/faults", json={"faults": list(faults)}, timeout=5,
                           verify=tls.context())
        answer.raise_for_status()
        self.faults = tuple(faults)

    def certify(self, *, ttl: str = "PT2S", tags: str | None = None, timeout: float = 180.0,
                report_dir: Path | None = None, ack_bound: float | None = None,
                options: tuple[str, ...] = ()) -> SelfTestResult:
        """One `ubc-cert run` against this reference; `options` are more arguments of it."""
        report_dir = report_dir or self.workdir / "reports"
        already = set(report_dir.glob("*/report.json"))
        run = ["run", "--role", self.role, "--candidate",
               str(self.candidate), "--report-dir", str(report_dir), "--ttl", ttl,
               "--port-base", str(self.base), "--wait", "10",
               *self.placement.run_options(), *options]
        if self.state_dir is not None:
            run += ["--state-dir", str(self.state_dir)]
        if tags:
            run += ["--tags", tags]
        if ack_bound is not None:
            run += ["--ack-bound", str(ack_bound)]
        started = time.monotonic()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if self.preloaded:
                done = forked_cli.run(run, self.env, timeout)
            else:
                done = subprocess.run([sys.executable, "-m", "harness.cli", *run],
                                      capture_output=True, text=True, timeout=timeout,
                                      env=self.env, check=False)
            # The runs' ports are free between runs, and another test on this machine may
            # hold one of them for a moment: then this run could not start at all (exit 2,
            # nothing judged). Run it again, a few times; its report of that is set aside.
            if done.returncode != exitcodes.COULD_NOT_RUN or PORT_TAKEN not in \
                    done.stdout + done.stderr or attempt == PORT_ATTEMPTS:
                break
            for set_aside in set(report_dir.glob("*/report.json")) - already:
                shutil.rmtree(set_aside.parent, ignore_errors=True)
            time.sleep(PORT_RETRY_S)  # until the other test lets the port go
        reports = sorted(set(report_dir.glob("*/report.json")) - already)
        # Every report the self-test makes is held to the published schema, and its junit.xml
        # must parse: a report that breaks either is a harness bug, raised as one.
        report = report_schema.load_checked(reports[-1]) if reports else {}
        if reports:
            ElementTree.parse(reports[-1].parent / "junit.xml")
        result = SelfTestResult(self.faults, done.returncode, report,
                                time.monotonic() - started, done.stdout + done.stderr)
        result.report_path = reports[-1] if reports else None
        return result

    def load(self, report_dir: Path, *options: str, timeout: float = 120.0
             ) -> subprocess.CompletedProcess[str]:
        """One `ubc-cert load --format json` against this reference BPP, on its runs' ports and
        harness state: load.json on stdout, the text on stderr; `options` are more arguments."""
        command = [sys.executable, "-m", "harness.cli", "load", "--role", "bpp",
                   "--candidate", str(self.candidate), "--port-base", str(self.base),
                   "--report-dir", str(report_dir), "--format", "json", "--wait", "10",
                   *self.placement.run_options(), *options]
        if self.state_dir is not None:
            command += ["--state-dir", str(self.state_dir)]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=self.env, check=False)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def __enter__(self) -> ReferenceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def certify_reference(workdir: Path, faults: tuple[str, ...] = (), *, ttl: str = "PT2S",
                      tags: str | None = None, timeout: float = 180.0,
                      report_dir: Path | None = None, hooks: bool = True,
                      role: str = "bpp") -> SelfTestResult:
    """Start `ubc-cert reference bpp` (or `bap`, with `faults`), certify it with `ubc-cert
    run`, stop it. Reports go to `report_dir` (default: `workdir/reports`); the wall time
    counts the start."""
    started = time.monotonic()
    with ReferenceProcess(workdir, faults, hooks=hooks, role=role) as reference:
        result = reference.certify(ttl=ttl, tags=tags, timeout=timeout, report_dir=report_dir)
    result.wall_s = time.monotonic() - started
    return result
