"""`ubc-cert` commands run in children of one process that imported the harness once.

A fresh `python -m harness.cli run` spends some 0.4 s of CPU importing the harness, pytest and
their libraries before it does anything; the fault matrix makes forty runs. Here the command runs
in a child forked from multiprocessing's fork server, which imported those modules once (they
are its preload): the child takes the environment it is given, writes its standard output and
error to files, runs harness/cli.py as `python -m harness.cli` does, and exits with its
code. What the caller gets back is what `subprocess.run(..., capture_output=True, text=True)`
would have given it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from multiprocessing.context import ForkServerContext
from pathlib import Path

# What every `ubc-cert run` imports before its first scenario; not harness/cli.py itself,
# which each child runs as __main__ (imported already, it would be a second copy).
PRELOAD = ["harness.run", "pytest_bdd.plugin", "allure_pytest_bdd.plugin"]
KILL_BOUND_S = 10.0  # for a child killed at its timeout to be gone


@cache
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _command(argv: list[str], env: dict[str, str], stdout: str, stderr: str) -> None:
    """In the child: the command's environment and output files, then its main()."""
    gc.freeze()  # the preloaded modules live as long as the child: no collection goes over them
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, stdout), (2, stderr)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv[1:] = argv
    # As `python -m harness.cli` runs it: the module as __main__, its main() ending in
    # SystemExit, which multiprocessing turns into the exit code once stdout and stderr are
    # flushed.
    runpy.run_module("harness.cli", run_name="__main__", alter_sys=True)


def run(argv: Sequence[str], env: Mapping[str, str],
        timeout: float) -> subprocess.CompletedProcess[str]:
    """`ubc-cert ARGV` with `env`, its output captured, as text; TimeoutExpired (the child
    killed) when it is not done within `timeout` seconds."""
    command = ["ubc-cert", *argv]
    with tempfile.TemporaryDirectory(prefix="ubc-forked-cli-") as folder:
        stdout, stderr = Path(folder, "stdout"), Path(folder, "stderr")
        stdout.touch()
        stderr.touch()  # there to read even if the child dies before it opens them
        child = _context().Process(target=_command,
                                   args=(list(argv), dict(env), str(stdout), str(stderr)))
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join(KILL_BOUND_S)
            raise subprocess.TimeoutExpired(command, timeout, stdout.read_bytes(),
                                            stderr.read_bytes())
        return subprocess.CompletedProcess(command, child.exitcode,
                                           stdout.read_text(encoding="utf-8"),
                                           stderr.read_text(encoding="utf-8"))
