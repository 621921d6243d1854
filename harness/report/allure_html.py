"""`ubc-cert report RUN_DIR --allure`: a run's allure-results as Allure 3's single-file HTML.

Allure 3 is the npm package `allure`, at the version pinned below; it is installed on first use
into the harness's cache (`$UBC_CERT_ALLURE_CACHE`, else `$XDG_CACHE_HOME/ubc-cert/allure`,
else `~/.cache/ubc-cert/allure`), never globally, and reused after. The HTML is written beside
the run's folder, not in it: a sealed run's folder must stay as it was signed. The page is one
file that loads nothing from the network: Allure's own analytics tag is taken out of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.state import default_state_dir

# Pinned, not `allure@3`: the page's analytics tag is removed by its exact shape, and the page
# was checked to render from file:// in a browser (tests/test_fault_matrix.py) at this version.
ALLURE_VERSION = "3.18.0"
ALLURE_PACKAGE = f"allure@{ALLURE_VERSION}"
CACHE_VARIABLE = "UBC_CERT_ALLURE_CACHE"
INSTALL_TIMEOUT_S = 600
GENERATE_TIMEOUT_S = 300
# Allure 3's report template adds Google Analytics (the awesome plugin ignores
# ALLURE_NO_ANALYTICS): a certification report must not tell a third party it was opened.
ANALYTICS = re.compile(r'<script async src="https://www\.googletagmanager\.com/[^"]*"></script>'
                       r"\s*<script>\s*window\.dataLayer.*?</script>", re.DOTALL)
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?"""
                      r"""(?:https?:)?//[^"'\s>]*""", re.IGNORECASE)


class AllureError(Exception):
    """Why the HTML could not be made, in words for the operator."""


class AllureUnavailable(AllureError):
    """Allure 3 could not be installed: no npm, or npm could not fetch it."""


def default_output(run_dir: Path) -> Path:
    return run_dir.parent / f"{run_dir.name}-allure.html"


def default_cache() -> Path:
    """Where Allure 3 is installed: $UBC_CERT_ALLURE_CACHE, else the harness's cache."""
    chosen = os.environ.get(CACHE_VARIABLE, "")
    return Path(chosen) if chosen else default_state_dir() / "allure"


def _installed_version(cache: Path) -> str | None:
    try:
        manifest = json.loads((cache / "node_modules" / "allure" / "package.json").read_text(
            encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("version") if isinstance(manifest, dict) else None


def _allure_command(cache: Path) -> Path:
    """The cached Allure 3 command line, installed with npm when it is not there yet (or is
    another version)."""
    command = cache / "node_modules" / ".bin" / "allure"
    if command.exists() and _installed_version(cache) == ALLURE_VERSION:
        return command
    npm = shutil.which("npm")
    if npm is None:
        raise AllureUnavailable(
            "npm is not installed: Allure's HTML report needs Node.js and npm "
            "(https://nodejs.org); the run's allure-results/ can also be read by any Allure "
            "installation (`allure serve RUN_DIR/allure-results`)")
    cache.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund",
                               ALLURE_PACKAGE], capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise AllureUnavailable(f"npm install {ALLURE_PACKAGE} into {cache} took over "
                                f"{INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0 or not command.exists():
        raise AllureUnavailable(f"npm install {ALLURE_PACKAGE} into {cache} failed: "
                                f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return command


def offline(page: str) -> str:
    """The page without Allure's analytics tag; AllureError if it would still load anything
    from the network (another Allure version shaped differently)."""
    page = ANALYTICS.sub("", page)
    found = EXTERNAL.search(page)
    if found:
        raise AllureError(f"Allure {ALLURE_VERSION}'s page loads {found.group(0)!r} from the "
                          "network: not written (a report must open offline)")
    return page


def build(run_dir: Path, output: Path | None = None, cache: Path | None = None) -> Path:
    """Write RUN_DIR's allure-results as one self-contained HTML file; its path."""
    results = run_dir / "allure-results"
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise AllureError(f"{run_dir}: no allure-results/ with results in it (is it a run's "
                          "report folder, and did its scenarios begin?)")
    output = output or default_output(run_dir)
    command = _allure_command(cache or default_cache())
    with tempfile.TemporaryDirectory(prefix="ubc-allure-") as work:
        config = Path(work) / "allurerc.json"
        # One file (singleFile), its tree of tests by Gherkin feature: the results carry no
        # suite labels, so Allure's default tree would be one folder holding every scenario.
        config.write_text(json.dumps({
            "name": f"ubc-cert {run_dir.name}", "output": str(Path(work) / "report"),
            "plugins": {"awesome": {"options": {"singleFile": True, "groupBy": ["feature"]}}}}),
            encoding="utf-8")
        try:
            done = subprocess.run([str(command), "generate", "--config", str(config),
                                   str(results.resolve())], capture_output=True, text=True,
                                  timeout=GENERATE_TIMEOUT_S, check=False, cwd=work,
                                  env={**os.environ, "ALLURE_NO_ANALYTICS": "true"})
        except subprocess.TimeoutExpired:
            raise AllureError(f"allure generate took over {GENERATE_TIMEOUT_S} s") from None
        page = Path(work) / "report" / "index.html"
        if done.returncode != 0 or not page.exists():
            raise AllureError(f"allure generate failed: "
                              f"{(done.stderr or done.stdout).strip()[-2000:]}")
        html = offline(page.read_text(encoding="utf-8"))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(html, encoding="utf-8")
    return output
