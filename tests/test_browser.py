"""The browser the page tests look through (tests/browser.py): it sees what a page's script
renders, also from a stream of server-sent events, and it catches a page that reaches outside
itself or logs an error, over http:// and file:// alike; without Chromium it says how to
install it. The pages of real runs (report.html, certificate.html, Allure's single file) are
opened beside the fault matrix that makes them (tests/test_fault_matrix.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests import browser as browser_module
from tests.browser import BrowserPage

PAGE = b"""<!doctype html><title>live</title>
<p id="fetched">waiting</p><ul id="events"></ul>
<script>
fetch('/data').then(r => r.text())
  .then(t => { document.getElementById('fetched').textContent = t; });
const source = new EventSource('/events');
source.onmessage = (e) => {
  const item = document.createElement('li'); item.textContent = e.data;
  document.getElementById('events').appendChild(item);
  if (e.data === 'second event') source.close();
};
</script>"""
LEAKY = b"""<!doctype html><title>leaky</title><p>a page that reaches out</p>
<img src="http://192.0.2.1/pixel.png"><script>console.error('broken on purpose');</script>"""


class Site(ThreadingHTTPServer):
    """A page, what its script fetches, and a stream of two server-sent events."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        # Set by the test once the page shows the first event: the second is sent only then,
        # so the page showed the first while the stream was still open, not buffered.
        self.first_seen = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: Site

    def do_GET(self) -> None:
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(b"data: first event\n\n")
            self.wfile.flush()
            if self.server.first_seen.wait(timeout=10):
                self.wfile.write(b"data: second event\n\n")
                self.wfile.flush()
            return
        body = {"/": PAGE, "/leaky": LEAKY, "/data": b"fetched from the server"}.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain" if self.path == "/data" else "text/html")
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test's output is not the place for an access log


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.first_seen.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.network
def test_an_http_page_renders_what_its_script_fetches_and_streams(
        browser_page: BrowserPage, site: Site) -> None:
    browser_page.open(f"{site.url}/")
    browser_page.wait_for_text("fetched from the server")
    browser_page.wait_for_text("first event")
    site.first_seen.set()
    browser_page.wait_for_text("second event")
    assert browser_page.text() == "fetched from the server first event second event"
    assert set(browser_page.requests) == {f"{site.url}/", f"{site.url}/data",
                                          f"{site.url}/events"}
    browser_page.assert_offline_and_quiet()


@pytest.mark.network
def test_a_page_reaching_outside_its_origin_or_logging_an_error_is_caught(
        browser_page: BrowserPage, site: Site) -> None:
    browser_page.open(f"{site.url}/leaky")
    assert browser_page.foreign_requests() == ["http://192.0.2.1/pixel.png"]
    assert browser_page.refused == ["http://192.0.2.1/pixel.png"]  # never sent
    assert "broken on purpose" in browser_page.console_errors
    with pytest.raises(AssertionError):
        browser_page.assert_offline_and_quiet()


@pytest.mark.network
def test_a_file_page_may_load_only_itself(browser_page: BrowserPage, tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text('<p>one file</p><img src="beside.png">')
    browser_page.open(str(tmp_path / "page.html"))
    assert browser_page.text() == "one file"
    assert browser_page.foreign_requests() == [(tmp_path / "beside.png").as_uri()]
    with pytest.raises(AssertionError, match=r"'two files' not shown .* shows 'one file'"):
        browser_page.wait_for_text("two files", timeout_s=0.3)


@pytest.mark.network
def test_a_blank_screenshot_is_refused(browser_page: BrowserPage, tmp_path: Path) -> None:
    browser_page.open("about:blank")
    with pytest.raises(AssertionError, match="blank"):
        browser_page.screenshot(tmp_path / "blank.png")


def test_without_chromium_the_skip_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser_module, "SYSTEM_CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(browser_module.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match=r"`apt-get install chromium`"):
        browser_module.chromium_or_skip()
