"""Fixtures shared by the network tests."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.fault_matrix import Row, run_matrix, table
from harness.network import MockNetwork, NetworkConfig
from harness.report import allure_html
from mocks.bpp import FAULTS
from tests.browser import browser, browser_page
from tests.mock_fuzz import REQUESTS_SENT

__all__ = ["browser", "browser_page"]  # fixtures of tests/browser.py, for every test module

# Read at import, before `harness_cache` points XDG_CACHE_HOME at the session's folder: where
# the user's own `ubc-cert report --allure` keeps Allure 3 ($UBC_CERT_ALLURE_CACHE, else
# ~/.cache/ubc-cert/allure). Its npm install (50 MB, ~10 s) is then made once per machine,
# not once per session; it is a download, not state a test could leave behind.
USER_ALLURE_CACHE = allure_html.default_cache()

# The files that take longest under `make test`, longest first. `--dist loadfile` hands each
# file whole to the next free worker, in collection order (`--no-loadscope-reorder` keeps
# ours): these start first and the many short files fill in behind them, instead of one of
# these starting last while the other workers have nothing left to do. The long fuzz's signed
# requests are slowest to draw: under `make test-long` they start first.
LONGEST_FIRST = ("test_long_signed.py", "test_fault_matrix.py", "test_bap_certification.py",
                 "test_openapi.py", "test_hostile_candidates.py", "test_bap_client_api.py",
                 "test_bpp.py",
                 "test_cds.py", "test_registry_compat.py", "test_run_output.py",
                 "test_interrupted_run.py", "test_catalog_flow.py", "test_doctor.py",
                 "test_stable_identity.py", "test_bap_interactive.py", "test_run.py")


# The long fuzz (marker `long`, `make test-long`) sends at least this many generated requests to
# the mocks in all (issue 12); fewer fail the run (pytest_sessionfinish).
LONG_FUZZ_REQUESTS = 10_000
_LONG = re.compile(r"(?<!not )\blong\b")
requests_sent: list[int] = []  # what each long test reported, in this process


def long_selected(config: pytest.Config) -> bool:
    """Whether `-m` asks for the long tests: without it they are not even collected."""
    return _LONG.search(config.option.markexpr or "") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    place = {name: rank for rank, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: place.get(item.path.name, len(place)))  # stable: files stay whole
    if not long_selected(config):
        long = [item for item in items if item.get_closest_marker("long")]
        if long:
            config.hook.pytest_deselected(items=long)
            items[:] = [item for item in items if not item.get_closest_marker("long")]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Tally the requests the long tests sent (an xdist worker's reports reach the controller
    with their user properties)."""
    if report.when == "call":
        requests_sent.extend(int(value) for name, value in report.user_properties
                             if name == REQUESTS_SENT)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A long run that sent fewer than LONG_FUZZ_REQUESTS requests fails, whatever the tests
    said: a test skipped, deselected or drawing less cannot shrink the fuzz unseen."""
    if hasattr(session.config, "workerinput") or not long_selected(session.config):
        return
    total = sum(requests_sent)
    short = total < LONG_FUZZ_REQUESTS
    line = (f"long fuzz: {total:,} generated requests sent by {len(requests_sent)} tests "
            f"({'FEWER than' if short else 'at least'} {LONG_FUZZ_REQUESTS:,})")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line, red=short, bold=True)
    if short:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def network() -> Iterator[MockNetwork]:
    """The whole mock network as `ubc-cert serve` runs it, on free loopback ports."""
    net = MockNetwork(NetworkConfig(ttl="PT5S"))
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="session", autouse=True)
def harness_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`ubc-cert run` keeps the harness's keys under $XDG_CACHE_HOME by default: in the tests
    that is the session's own folder (inherited by every process a test starts), never the
    user's ~/.cache."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def allure_cache() -> Path:
    """Where the tests install and find Allure 3 (npm package): the user's own cache."""
    return USER_ALLURE_CACHE


@pytest.fixture(scope="session")
def fault_matrix() -> dict[str, Row]:
    """The reference BPP certified once clean (every scenario) and once per fault switch (the
    scenarios where it shows), three runs at a time (they mostly wait on sockets); built once,
    read by the self-test and by the audit tests, which audit the same runs' transcripts."""
    rows = run_matrix({name: fault.rule for name, fault in FAULTS.items()}, workers=3)
    print("\n" + table(rows))
    return {row.fault: row for row in rows}
