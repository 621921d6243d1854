"""A headless Chromium for the tests that look at a page as a person's browser shows it.

The system's Chromium (Debian's `chromium` package) driven by Playwright, never a browser
Playwright downloads: `browser` is one Chromium per test process, `browser_page` a fresh page
(its own context: no cookies or storage shared between tests) that records every request the
page makes, refuses those that leave the page's own origin, and keeps its console errors and
uncaught exceptions. It opens `file://` reports and `http://` pages served by a test alike.
Without Chromium or Playwright the tests that ask for it skip, saying what to install.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = ("no Chromium: install it with `apt-get install chromium` (Debian/Ubuntu; the "
                "tests drive /usr/bin/chromium, or `chromium`/`chromium-browser` on PATH)")
VIEWPORT = {"width": 1280, "height": 900}
# Chromium's PNG of a blank 1280x900 page is ~5 KB; a page of text is tens of KB.
MIN_SCREENSHOT_BYTES = 20_000


def chromium_path() -> Path | None:
    """The system's Chromium: /usr/bin/chromium, else `chromium` or `chromium-browser` on
    PATH."""
    if SYSTEM_CHROMIUM.exists() and os.access(SYSTEM_CHROMIUM, os.X_OK):
        return SYSTEM_CHROMIUM
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def chromium_or_skip() -> Path:
    """The system's Chromium, or the test skips saying how to install it."""
    found = chromium_path()
    if found is None:
        pytest.skip(INSTALL_HINT)
    return found


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class BrowserPage:
    """One page, and what it did: `requests` (every URL it asked for), `refused` (those
    outside the opened page, answered with a network error), `console_errors` (console.error
    messages and uncaught exceptions)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.url = ""
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))
        page.context.route("**/*", self._route)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _own(self, url: str) -> bool:
        """A file:// page may load only itself (a report is one file); an http:// page may
        load what its own server serves."""
        if url.startswith(("data:", "blob:")):
            return True
        if self.url.startswith("file:"):
            return url.split("#")[0] == self.url.split("#")[0]
        return _origin(url) == _origin(self.url)

    def _route(self, route: Route, request: Request) -> None:
        if self._own(request.url):
            route.continue_()
        else:
            self.refused.append(request.url)
            route.abort("blockedbyclient")

    def open(self, url: str, timeout_s: float = 10) -> float:
        """Load `url` (a path is opened as file://) until its load event; the seconds it took."""
        self.url = url if urlsplit(url).scheme else Path(url).resolve().as_uri()
        started = time.monotonic()
        self.page.goto(self.url, wait_until="load", timeout=timeout_s * 1000)
        return time.monotonic() - started

    def text(self) -> str:
        """The page's rendered text (what CSS hides is not in it), whitespace folded."""
        return " ".join(self.page.inner_text("body").split())

    def wait_for_text(self, text: str, timeout_s: float = 10) -> None:
        """Wait, bounded, until `text` is visible on the page (a page a script renders); on
        timeout, fail with what the page shows and logged instead."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.get_by_text(text, exact=False).first.wait_for(state="visible",
                                                                    timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            raise AssertionError(f"{text!r} not shown within {timeout_s} s; the page shows "
                                 f"{self.text()[:1500]!r}; console errors "
                                 f"{self.console_errors}") from None

    def foreign_requests(self) -> list[str]:
        """Every request for anything but the page itself (file://) or its origin (http://)."""
        return [url for url in self.requests if not self._own(url)]

    def screenshot(self, path: Path) -> bytes:
        """The viewport as a PNG, written to `path`; fails if it is blank."""
        png = self.page.screenshot(path=str(path), type="png")
        assert_not_blank(png)
        return png

    def assert_offline_and_quiet(self) -> None:
        """It asked for nothing outside itself and logged no error."""
        assert self.foreign_requests() == [], self.foreign_requests()
        assert self.console_errors == [], self.console_errors


def assert_not_blank(png: bytes) -> None:
    """A PNG of the whole viewport with something drawn in it: its size beyond a blank page's,
    and its pixel bytes far from one or two colours."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:8]
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"]), (width, height)
    assert len(png) > MIN_SCREENSHOT_BYTES, f"{len(png)} bytes: a blank page?"
    pixels, position = b"", 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position:position + 4])
        if png[position + 4:position + 8] == b"IDAT":
            pixels += png[position + 8:position + 8 + length]
        position += 12 + length
    assert len(set(zlib.decompress(pixels))) > 64, "a page of one or two colours"


# Per module, not per session: Playwright's sync API holds an event loop of its own while it
# runs, which the asyncio tests of a later module in the same process must not meet.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module (launched in ~0.3 s); skips, saying how to
    install what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no Playwright: `pip install -e '.[test]'` installs it (never "
                    "`playwright install`: the tests use the system's Chromium)")
    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        started = time.monotonic()
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True)
        launched_in = time.monotonic() - started
        print(f"\nChromium {launched.version} launched in {launched_in:.2f} s")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[BrowserPage]:
    """A fresh page in a context of its own, recording its requests and console errors."""
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    try:
        yield BrowserPage(context.new_page())
    finally:
        context.close()

