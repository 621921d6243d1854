"""`ubc-cert report RUN_DIR --allure` says clearly why it cannot build Allure's HTML: no
allure-results in the folder, or no npm to install Allure 3 with. (Building the HTML itself
needs npm and the network: tried by hand, see README.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import cli
from harness.report import allure_html


def _results(run_dir: Path) -> None:
    (run_dir / "allure-results").mkdir(parents=True)
    (run_dir / "allure-results" / "a-result.json").write_text(json.dumps({"name": "a"}))


def test_a_folder_without_allure_results_is_refused(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", str(tmp_path), "--allure"]) == 2
    assert "no allure-results/" in capsys.readouterr().err


def test_without_npm_the_error_says_what_to_install(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _results(tmp_path / "run")
    monkeypatch.setattr(allure_html.shutil, "which", lambda name: None)
    with pytest.raises(allure_html.AllureError, match=r"npm is not installed.*Node\.js"):
        allure_html.build(tmp_path / "run", cache=tmp_path / "cache")
    assert not (tmp_path / "run-allure.html").exists()


def test_report_needs_a_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "--allure" in capsys.readouterr().err


def test_the_html_goes_beside_the_run_not_into_its_sealed_folder(tmp_path: Path) -> None:
    assert allure_html.default_output(tmp_path / "run1") == tmp_path / "run1-allure.html"
