"""bench/all.py, the table of every benchmark: each bench runs as a process of its own and
hands back its numbers; a piece that is not installed is skipped with how to install it, a
bench that fails is shown as failed while the others still run, and the table ends with the
machine. The benches here are stand-ins (small scripts writing a result), so that what is
judged is the table, not this machine's speed."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
from pathlib import Path
from types import ModuleType

import pytest

ALL = Path(__file__).resolve().parent.parent / "bench" / "all.py"

MOCK_RESULT = {"levels": [], "bap_in_flight": 16, "bap_exchanges": 500,
               "bap_exchanges_s": 612.0, "bap_failed": 0,
               "goals": {"ratio": 0.15, "bap_exchanges_s": 500}}
VALIDATE_RESULT = {"messages": 100, "rounds": 1, "raw_msg_s": 1000.0, "validate_msg_s": 420.0,
                   "ratio": 0.42, "goal_ratio": 0.5, "error_findings": 0}


@pytest.fixture
def bench_all(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_all", ALL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_all", module)  # its dataclasses look it up there
    spec.loader.exec_module(module)
    return module


def stand_in(folder: Path, name: str, result: dict[str, object] | None, exit_code: int = 0
             ) -> Path:
    """A bench that records its arguments and PYTHONPATH, prints a line and writes `result`
    to --json."""
    script = folder / f"{name}.py"
    script.write_text(
        "import json, os, sys\n"
        f"open({str(folder / (name + '.argv'))!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"open({str(folder / (name + '.path'))!r}, 'w').write(os.environ['PYTHONPATH'])\n"
        f"print('output of {name}')\n"
        f"result = {result!r}\n"
        "if result is not None:\n"
        "    open(sys.argv[sys.argv.index('--json') + 1], 'w').write(json.dumps(result))\n"
        f"sys.exit({exit_code})\n")
    return script


def run_all(bench_all: ModuleType, benches: tuple[object, ...], *options: str,
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
            ) -> tuple[int, str, str]:
    monkeypatch.setattr(bench_all, "BENCHES", benches)
    monkeypatch.setattr(sys, "argv", ["all.py", *options])
    code = bench_all.main()
    out, err = capsys.readouterr()
    return code, out, err


def rows(table: str) -> dict[str, list[str]]:
    """The table's rows by measure: [value, goal, met?]."""
    found = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        found[cells[0]] = cells[1:]
    return found


def test_without_wrk_the_mock_rows_say_how_to_install_it_and_the_bap_rate_is_measured(
        bench_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no wrk there
    mock = bench_all.Bench("mock", str(stand_in(tmp_path, "mock", MOCK_RESULT)),
                           ("--duration", "5"), ("--duration", "2"))
    code, out, err = run_all(bench_all, (mock,), "--quick", monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code == 0, out + err
    argv = json.loads((tmp_path / "mock.argv").read_text())
    assert argv[:2] == ["--duration", "2"] and "--client-only" in argv
    # it measures this checkout, whichever one the environment has installed
    assert (tmp_path / "mock.path").read_text().split(os.pathsep)[0] == str(ALL.parent.parent)
    table = rows(out)
    ratio = table["mock: reference BPP / bare endpoint (wrk)"]
    assert ratio == ["skipped: wrk is not installed (apt-get install wrk)", ">= 15%", "skipped"]
    assert table["mock: callback p99 growth with concurrency"][2] == "skipped"
    assert table["harness BAP: exchanges/s, 16 in flight"] == ["612/s (0 failed)", ">= 500",
                                                               "yes"]


def test_a_missing_piece_is_skipped_a_failed_bench_shown_and_the_others_still_run(
        bench_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    broken = bench_all.Bench("bpp", str(stand_in(tmp_path, "broken", None, exit_code=3)),
                             (), ())
    absent = bench_all.Bench("load", str(tmp_path / "never-run.py"), (), (),
                             lambda: "Locust is not installed (pip install 'x[load]')")
    validate = bench_all.Bench("validate", str(stand_in(tmp_path, "validate", VALIDATE_RESULT)),
                               (), ())
    code, out, err = run_all(bench_all, (broken, absent, validate), "--json",
                             str(tmp_path / "all.json"), monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code == 1  # a bench failed
    table = rows(out)
    assert table["bpp"] == ["failed: exit 3, no result", "-", "FAILED"]
    assert table["load"] == ["skipped: Locust is not installed (pip install 'x[load]')", "-",
                             "skipped"]
    assert table["validate: share of the raw limit"] == ["42% (420 of 1,000 msg/s)", ">= 50%",
                                                         "NO"]
    assert "output of broken" in err  # the failed bench's output, to see why
    assert not (tmp_path / "never-run.argv").exists()
    written = json.loads((tmp_path / "all.json").read_text())
    assert written["benches"]["validate"]["result"] == VALIDATE_RESULT
    assert written["benches"]["bpp"]["failed"] == "exit 3, no result"
    assert [row[0] for row in written["rows"]] == list(table)


def test_the_table_ends_with_the_machine(bench_all: ModuleType, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    validate = bench_all.Bench("validate", str(stand_in(tmp_path, "validate", VALIDATE_RESULT)),
                               (), ())
    code, out, _ = run_all(bench_all, (validate,), monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("machine: ")]
    about = bench_all.machine(None)
    assert about["cores"] >= 1 and about["python"] == platform.python_version()
    assert f"{about['cores']} cores" in line and f"Python {platform.python_version()}" in line
    if Path("/proc/meminfo").exists():
        assert "GiB RAM" in line and "load average" in line
