"""`ubc-cert serve` as a child process of a test: started, its banner read up to the line that
says it is ready, stopped by SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

READY_BOUND_S = 30.0


@dataclass
class Served:
    process: subprocess.Popen[str]
    banner: list[str] = field(default_factory=list)  # up to "Ctrl-C or SIGTERM ..."
    rest: str = ""  # what it printed after, once stopped

    @property
    def text(self) -> str:
        return "".join(self.banner)


@contextlib.contextmanager
def serving(*args: str, cwd: Path | None = None) -> Iterator[Served]:
    """Serve with `args`; on leaving, SIGTERM and wait (bounded) for the whole output."""
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", *args], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = Served(process)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + READY_BOUND_S
        while time.monotonic() < deadline and not (
                served.banner and "Ctrl-C" in served.banner[-1]):
            line = process.stdout.readline()
            if not line:
                break
            served.banner.append(line)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        served.rest, _ = process.communicate(timeout=30)
