"""The live view of `ubc-cert run`: the plan, one line per scenario as it ends, while a step
waits a status saying what is awaited and for how long, then the summary — and nothing of
pytest's own output unless asked for (`-v`).

`Display` writes to its own duplicate of the process's standard output (or error, when stdout
carries report.json): pytest captures the process's streams while the features run, down to
the file descriptors, and the live lines must reach the operator all the same. On a terminal
the status redraws in place (rich's Live); anywhere else (CI, a pipe) every line is printed
once, plainly, and a wait still going after a few seconds is said once, so a silent candidate
is seen being waited for. Colours follow rich's rules: a terminal gets them, a pipe none, and
FORCE_COLOR / NO_COLOR decide over both.

`Progress` is what the engine is given (engine.py): the pytest arguments of the output asked
for, the plugin that feeds the display, and where pytest's own terminal output goes — kept in
memory by default (`text`, shown when pytest itself failed), the operator's stream with `-v`.
Failures of the candidate reach junit.xml and Allure as their finding lines, not as
tracebacks of the harness's steps.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO

import pytest
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.certify.journey import CheckFailed, NotEvaluated
from harness.certify.listing import display_name
from harness.certify.plugin import ScenarioResult
from harness.certify.waits import Awaited
from harness.paths import ROOT
from harness.report import terminal

QUIET, NORMAL, VERBOSE = -1, 0, 1
NOTICE_AFTER_S = 3.0  # without a live status, a wait still going after this is said once
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _own_stream(stream: TextIO) -> tuple[TextIO, bool]:
    """A duplicate of the stream's descriptor that no capture touches, and whether it is ours
    to close; the stream itself when it has no descriptor (a test's StringIO)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stream, False
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return os.fdopen(os.dup(fd), "w", encoding=encoding, errors="replace", buffering=1), True


class Display:
    """Where a run's human text goes, at the verbosity asked for."""

    def __init__(self, stream: TextIO, *, verbosity: int = NORMAL, live: bool | None = None,
                 owned: bool = False) -> None:
        tty = bool(getattr(stream, "isatty", lambda: False)()) and \
            os.environ.get("TERM") != "dumb"
        self.stream, self._owned = stream, owned
        self.verbosity = verbosity
        # A pipe gets whole lines, never wrapped nor cut: one per scenario, grep-able.
        self.console = Console(file=stream, highlight=False, markup=False, emoji=False,
                               soft_wrap=not tty)
        self.symbols = terminal.symbols_for(getattr(stream, "encoding", None))
        self.live = (tty and verbosity == NORMAL) if live is None else live
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._awaited: Awaited | None = None
        self._notice: threading.Timer | None = None
        self._scenario: tuple[str, float] | None = None  # title, started (monotonic)
        self.total = self.done = 0

    @classmethod
    def of_this_process(cls, *, to_stderr: bool = False, verbosity: int = NORMAL,
                        live: bool | None = None) -> Display:
        """The process's standard output (or error) as it is now, before pytest captures it."""
        stream, owned = _own_stream(sys.stderr if to_stderr else sys.stdout)
        return cls(stream, verbosity=verbosity, live=live, owned=owned)

    # -- printing -------------------------------------------------------------------------------

    def say(self, *lines: Text | str, at: int = NORMAL) -> None:
        """Print lines when the verbosity is at least `at` (QUIET: always)."""
        if self.verbosity < at:
            return
        with self._lock:
            terminal.print_lines(self.console, lines)
            self.stream.flush()

    def close(self) -> None:
        self.end_scenarios()
        self._cancel_notice()
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()
        if self._owned:
            with contextlib.suppress(OSError, ValueError):
                self.stream.close()

    # -- waiting ------------------------------------------------------------------------------

    def awaiting(self, awaited: Awaited | None) -> None:
        """A waits.Listener: the innermost wait now, or None."""
        with self._lock:
            self._awaited = awaited
            self._cancel_notice()
            if awaited is not None and not self._live and self.verbosity == NORMAL:
                self._notice = threading.Timer(NOTICE_AFTER_S, self._say_notice, (awaited,))
                self._notice.daemon = True
                self._notice.start()

    @contextlib.contextmanager
    def waiting(self, what: str, within_s: float) -> Iterator[None]:
        """A wait outside the scenarios (the candidate to come up, its catalog to arrive)."""
        started = self._start_live()
        self.awaiting(Awaited(what, within_s))
        try:
            yield
        finally:
            self.awaiting(None)
            if started:
                self._stop_live()

    def _say_notice(self, awaited: Awaited) -> None:
        with self._lock:
            if self._awaited is awaited:
                self.say(Text(f"  {self.symbols.running} waiting for "
                              f"{terminal.printable(awaited.what)} (up to "
                              f"{awaited.within_s:.0f} s)", style="dim"))

    def _cancel_notice(self) -> None:
        if self._notice is not None:
            self._notice.cancel()
            self._notice = None

    # -- scenarios ------------------------------------------------------------------------------

    def begin_scenarios(self, total: int) -> None:
        self.total, self.done = total, 0
        self._start_live()

    def scenario_started(self, title: str) -> None:
        with self._lock:
            self._scenario = (title, time.monotonic())

    def scenario_finished(self, status: str, title: str, duration_s: float,
                          message: str) -> None:
        with self._lock:
            self._scenario = None
            self.done += 1
            if self.verbosity != NORMAL:
                return
            mark, name, tail = terminal.scenario_cells(status, title, duration_s, message,
                                                       self.symbols)
            if not self.live:
                self.say(Text.assemble(mark, " ", name, "  ", tail))
                return
            row = Table.grid(padding=(0, 1), expand=True)
            row.add_column(no_wrap=True)
            row.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
            row.add_column(no_wrap=True, justify="right")
            row.add_row(mark, name, tail)
            if self._live is not None:  # printing redraws the status: not a stale one
                self._live.refresh()
            self.console.print(row)

    def end_scenarios(self) -> None:
        self._stop_live()

    # -- the live status ------------------------------------------------------------------------

    def _start_live(self) -> bool:
        with self._lock:
            if not self.live or self._live is not None:
                return False
            self._live = Live(console=self.console, get_renderable=self._status,
                              transient=True, refresh_per_second=8, redirect_stdout=False,
                              redirect_stderr=False)
            self._live.start()
            return True

    def _stop_live(self) -> None:
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.stop()

    def _status(self) -> RenderableType:
        now = time.monotonic()
        lines = []
        frame = SPINNER[int(now * 10) % len(SPINNER)] if self.symbols is terminal.UNICODE \
            else "*"
        scenario, awaited = self._scenario, self._awaited
        if scenario is not None:
            title, started = scenario
            line = Text(f"{frame} [{self.done + 1}/{self.total}] {now - started:4.1f} s  ",
                        style="cyan")
            line.append(terminal.printable(title), style="default")
            lines.append(line)
        if awaited is not None:
            lead = "  " if scenario is not None else f"{frame} "
            # The clock first: a long `what` is cut at the screen's edge, never the time.
            lines.append(Text(f"{lead}waiting {now - awaited.since:.0f} s of up to "
                              f"{awaited.within_s:.0f} s for "
                              f"{terminal.printable(awaited.what)}", style="dim"))
        for line in lines:
            line.no_wrap, line.overflow = True, "ellipsis"
        return Group(*lines)


@dataclass
class Progress:
    """The run's output, as the engine needs it: pytest's arguments, the display's plugin,
    and where pytest's own terminal output goes."""

    display: Display | None = None
    verbose: bool = False
    pytest_stream: TextIO | None = None  # with -v: where pytest prints (None: stdout)
    text: str = ""  # pytest's own output of a run that was not verbose
    _buffer: io.StringIO = field(default_factory=io.StringIO)
    _plugin: ProgressPlugin | None = None

    def pytest_args(self) -> list[str]:
        # Not verbose: tracebacks, if any, short (junit.xml and Allure carry them).
        return ["-v"] if self.verbose else ["-q", "--tb=short"]

    def plugin(self, results: dict[str, ScenarioResult]) -> ProgressPlugin:
        self._plugin = ProgressPlugin(self.display, results, clean_failures=not self.verbose)
        return self._plugin

    def revised(self) -> list[ScenarioResult]:
        """The scenarios whose outcome changed after their line was shown: the sweeps at the
        end of a scenario and of the run fail a scenario whose steps passed."""
        if self._plugin is None:
            return []
        shown = self._plugin.shown
        return [r for r in self._plugin.results.values()
                if r.nodeid in shown and shown[r.nodeid] != r.status]

    @contextlib.contextmanager
    def pytest_output(self) -> Iterator[None]:
        """pytest's terminal output for the block: to the operator with -v, else kept."""
        target = (self.pytest_stream or sys.stdout) if self.verbose else self._buffer
        try:
            with contextlib.redirect_stdout(target):
                yield
        finally:
            self.text = self._buffer.getvalue()
            if self.display is not None:
                self.display.end_scenarios()


def _finding_or_traceback(traceback: Callable[[pytest.ExceptionInfo[BaseException]], Any],
                          excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
    """A scenario failed by a finding, or by a step that could not be evaluated: its message;
    by anything else (a harness bug): the traceback pytest renders."""
    if excinfo.errisinstance((CheckFailed, NotEvaluated)):
        return str(excinfo.value)
    return traceback(excinfo)


class ProgressPlugin:
    """pytest hooks feeding the display, and the candidate's failures written as findings."""

    def __init__(self, display: Display | None, results: dict[str, ScenarioResult], *,
                 clean_failures: bool = True) -> None:
        self.display = display
        self.results = results
        self.clean_failures = clean_failures
        self._examples: dict[str, dict[str, Any]] = {}
        self._failed_step: dict[str, str] = {}
        self.shown: dict[str, str] = {}  # node id -> the status its line showed
        self._where: dict[str, tuple[str, int]] = {}  # node id -> its feature file and line

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Without -v a scenario fails with its finding (pytest_runtest_makereport below): pytest
        need not first render the traceback that replaces, parsing every source file in it,
        for each scenario that failed (most of what a fault run spent in its scenarios)."""
        if self.clean_failures:
            for item in items:
                item.repr_failure = partial(  # type: ignore[method-assign]
                    _finding_or_traceback, item.repr_failure)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            callspec = getattr(item, "callspec", None)
            example = callspec.params.get("_pytest_bdd_example") if callspec else None
            self._examples[item.nodeid] = dict(example) if isinstance(example, dict) else {}
        if self.display is not None:
            self.display.begin_scenarios(len(session.items))

    def title(self, nodeid: str) -> str:
        result = self.results.get(nodeid)
        if result is None or not result.name:
            return nodeid.rpartition("::")[2].removeprefix("test_").replace("_", " ")
        return f"{result.feature}: {display_name(result.name, self._examples.get(nodeid, {}))}"

    @pytest.hookimpl(tryfirst=True)  # before a scenario that cannot be evaluated is skipped
    def pytest_bdd_before_scenario(self, request: Any, feature: Any, scenario: Any) -> None:
        nodeid = request.node.nodeid
        self._where[nodeid] = (os.path.relpath(feature.filename, ROOT),
                               int(scenario.line_number))
        if self.display is not None:
            self.display.scenario_started(
                f"{feature.name}: {display_name(scenario.name, self._examples.get(nodeid, {}))}")

    def pytest_bdd_step_error(self, request: Any, feature: Any, scenario: Any, step: Any,
                              step_func: Any, step_func_args: Any, exception: Any) -> None:
        self._failed_step[request.node.nodeid] = f"{step.keyword} {step.name}"

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
        outcome = yield
        report = outcome.get_result()
        if not self.clean_failures or call.excinfo is None:
            return
        # The innermost wrapper: junit.xml, Allure and the certification plugin all read the
        # outcome after this, as the findings that failed it (or why it was not evaluated, at
        # its place in the feature) rather than a traceback of the harness's steps.
        where = self._where.get(item.nodeid)
        if report.skipped and isinstance(report.longrepr, tuple) and where is not None:
            report.longrepr = (*where, report.longrepr[2])
        if not report.failed:
            return
        if call.excinfo.errisinstance(CheckFailed):
            step = self._failed_step.get(item.nodeid)
            report.longrepr = (f"{step}\n" if step else "") + str(call.excinfo.value)
        elif call.excinfo.errisinstance(NotEvaluated):
            report.longrepr = f"not evaluated: {call.excinfo.value}"

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        result = self.results.get(nodeid)
        if self.display is not None and result is not None:
            self.shown[nodeid] = result.status
            self.display.scenario_finished(result.status, self.title(nodeid),
                                           result.duration_s, result.message)
