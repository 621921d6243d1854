"""`ubc-cert report RUN_DIR --allure` says clearly why it cannot build Allure's HTML: no
allure-results in the folder, or no npm to install Allure 3 with; it installs the pinned version
where the operator says, and writes a page that loads nothing from the network. (Building the
HTML itself needs npm and the network: tests/test_fault_matrix.py builds it from a real run and
opens it in Chromium, or skips saying what is missing.)"""

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
    with pytest.raises(allure_html.AllureUnavailable, match=r"npm is not installed.*Node\.js"):
        allure_html.build(tmp_path / "run", cache=tmp_path / "cache")
    assert not (tmp_path / "run-allure.html").exists()


def test_report_needs_a_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "--allure" in capsys.readouterr().err


def test_the_html_goes_beside_the_run_not_into_its_sealed_folder(tmp_path: Path) -> None:
    assert allure_html.default_output(tmp_path / "run1") == tmp_path / "run1-allure.html"


def _installed(cache: Path, version: str) -> None:
    (cache / "node_modules" / ".bin").mkdir(parents=True)
    (cache / "node_modules" / ".bin" / "allure").write_text("#!/bin/sh\n")
    (cache / "node_modules" / "allure").mkdir()
    (cache / "node_modules" / "allure" / "package.json").write_text(
        json.dumps({"name": "allure", "version": version}))


def test_the_pinned_version_in_the_cache_is_used_and_another_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allure_html.shutil, "which", lambda name: None)  # no install possible
    _installed(tmp_path / "pinned", allure_html.ALLURE_VERSION)
    assert allure_html._allure_command(tmp_path / "pinned").name == "allure"
    _installed(tmp_path / "older", "3.0.0")
    with pytest.raises(allure_html.AllureUnavailable, match="npm is not installed"):
        allure_html._allure_command(tmp_path / "older")


def test_the_cache_is_where_the_operator_says(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(allure_html.CACHE_VARIABLE, raising=False)
    assert allure_html.default_cache() == tmp_path / "xdg" / "ubc-cert" / "allure"
    monkeypatch.setenv(allure_html.CACHE_VARIABLE, str(tmp_path / "shared"))
    assert allure_html.default_cache() == tmp_path / "shared"


# The tail of Allure 3.18.0's page, as its template writes it.
ANALYTICS = """    <script async src="https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0"></script>
    <script>
        window.dataLayer = window.dataLayer || [];
        function gtag(){dataLayer.push(arguments);}
        gtag('js', new Date());
        gtag('config', 'G-LNDJ3J7WT0', {"report": "awesome"});
    </script>
"""


def test_the_page_is_written_without_allure_analytics() -> None:
    app = '<script src="data:text/javascript;base64,QQ=="></script>\n'
    page = f"<body>{app}{ANALYTICS}<script>window.allureReportData = 1;</script></body>"
    assert allure_html.offline(page) == \
        f"<body>{app}    \n<script>window.allureReportData = 1;</script></body>"


def test_a_page_that_would_still_reach_the_network_is_not_written() -> None:
    with pytest.raises(allure_html.AllureError, match=r"cdn\.example\.com.*offline"):
        allure_html.offline('<link rel="stylesheet" href="https://cdn.example.com/a.css">')
