"""`ubc-cert report RUN_DIR --allure`: a run's allure-results as Allure 3's single-file HTML.

Allure 3 is the npm package `allure`; it is installed on first use into the harness's cache
(`$XDG_CACHE_HOME/ubc-cert/allure`, else `~/.cache/ubc-cert/allure`), never globally, and
reused after. The HTML is written beside the run's folder, not in it: a sealed run's folder
must stay as it was signed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.state import default_state_dir

ALLURE_PACKAGE = "allure@3"
INSTALL_TIMEOUT_S = 600
GENERATE_TIMEOUT_S = 300


class AllureError(Exception):
    """Why the HTML could not be made, in words for the operator."""


def default_output(run_dir: Path) -> Path:
    return run_dir.parent / f"{run_dir.name}-allure.html"


def _allure_command(cache: Path) -> Path:
    """The cached Allure 3 command line, installed with npm when it is not there yet."""
    command = cache / "node_modules" / ".bin" / "allure"
    if command.exists():
        return command
    npm = shutil.which("npm")
    if npm is None:
        raise AllureError("npm is not installed: Allure's HTML report needs Node.js and npm "
                          "(https://nodejs.org); the run's allure-results/ can also be read by "
                          "any Allure installation (`allure serve RUN_DIR/allure-results`)")
    cache.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund",
                               ALLURE_PACKAGE], capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AllureError(f"npm install {ALLURE_PACKAGE} into {cache} took over "
                          f"{INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0 or not command.exists():
        raise AllureError(f"npm install {ALLURE_PACKAGE} into {cache} failed: "
                          f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return command


def build(run_dir: Path, output: Path | None = None, cache: Path | None = None) -> Path:
    """Write RUN_DIR's allure-results as one self-contained HTML file; its path."""
    results = run_dir / "allure-results"
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise AllureError(f"{run_dir}: no allure-results/ with results in it (is it a run's "
                          "report folder, and did its scenarios begin?)")
    output = output or default_output(run_dir)
    command = _allure_command(cache or default_state_dir() / "allure")
    with tempfile.TemporaryDirectory(prefix="ubc-allure-") as work:
        config = Path(work) / "allurerc.json"
        config.write_text(json.dumps({
            "name": f"ubc-cert {run_dir.name}", "output": str(Path(work) / "report"),
            "plugins": {"awesome": {"options": {"singleFile": True}}}}), encoding="utf-8")
        try:
            done = subprocess.run([str(command), "generate", "--config", str(config),
                                   str(results.resolve())], capture_output=True, text=True,
                                  timeout=GENERATE_TIMEOUT_S, check=False, cwd=work)
        except subprocess.TimeoutExpired:
            raise AllureError(f"allure generate took over {GENERATE_TIMEOUT_S} s") from None
        page = Path(work) / "report" / "index.html"
        if done.returncode != 0 or not page.exists():
            raise AllureError(f"allure generate failed: "
                              f"{(done.stderr or done.stdout).strip()[-2000:]}")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, output)
    return output
