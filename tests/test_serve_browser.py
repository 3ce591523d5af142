"""`cnn-tui serve` in a real browser: Playwright driving Debian's chromium (never a browser Playwright downloads).

Skipped where chromium or Playwright is missing, except in CI, which installs both (.ci/run) and must run them.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _need(ok: bool, what: str) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {what}")
        pytest.skip(what)


_need(CHROMIUM.exists(), "no /usr/bin/chromium (apt-get install chromium)")
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    _need(False, "Playwright is not installed (pip install playwright)")
pytest.importorskip("textual_serve", reason="the [web] extra (textual-serve) is not installed")

from PIL import Image, ImageChops  # noqa: E402 - after the skips above
from served import Served, alive, screen_text, wait_until  # noqa: E402


@pytest.fixture
def browser():
    """A fresh Chromium profile; closed by the test that opened it."""
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 760})
        try:
            yield context
        finally:
            context.close()


class Page:
    """A browser tab on the served app, with the screen stream its page receives."""

    def __init__(self, context, url: str) -> None:
        self.page = context.new_page()
        self.chunks: list[str] = []
        self.page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda frame: self.chunks.append(
                frame if isinstance(frame, str) else frame.decode("utf-8", "replace"))))
        self.page.goto(url)

    def wait_for(self, needle: str, timeout: float = 120) -> None:
        def seen() -> bool:
            self.page.wait_for_timeout(50)  # Playwright's sync API delivers the page's events while it waits
            return needle in screen_text(self.chunks)
        wait_until(seen, timeout, f"{needle!r} in the browser")

    def screenshot(self) -> Image.Image:
        return Image.open(io.BytesIO(self.page.screenshot())).convert("RGB")


def changed_fraction(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 24 else 0)
    return diff.histogram()[255] / (a.width * a.height)


def test_the_page_shows_the_set_up_F5_trains_and_each_tab_has_its_own_app(tmp_path, browser):
    server = Served(tmp_path / "runs", "--set", "training.epochs=100000", "--set", "dataset.train_size=200")
    try:
        first = Page(browser, server.url)
        first.wait_for("Start training")  # the set-up screen, painted in the page
        first.page.wait_for_selector("body.-first-byte")
        first.page.wait_for_timeout(1000)  # let the set-up finish painting its side panel
        set_up = first.screenshot()
        first.page.click("#terminal")
        first.page.keyboard.press("F5")  # xterm.js sends it to the app; the page does not reload
        first.wait_for("Pause/resume")  # the training screen
        first.page.wait_for_timeout(1000)
        training = first.screenshot()
        assert changed_fraction(set_up, training) > 0.05
        assert first.page.title() == "cnn-tui"

        second = Page(browser, server.url)
        second.wait_for(" parameters")  # its set-up, with the model summary (TensorFlow loaded)
        one, two = server.app_pids()
        assert one != two and alive(one) and alive(two) and server.running_apps() >= {one, two}
        assert "Pause/resume" not in screen_text(second.chunks)  # its own app, on its own set-up

        second.page.close()  # closing one tab ends its app only
        wait_until(lambda: not alive(two), 120, "the second tab's app to end")
        assert alive(one)

        server.stop()  # Ctrl+C / SIGTERM: the first tab's app quits too, stopping and summarising its run
        assert server.proc.returncode == 0 and not alive(one)
        [summary] = (tmp_path / "runs").glob("*/summary.json")
        assert json.loads(summary.read_text())["status"] == "stopped"
    finally:
        server.stop()


class ForeignSite(BaseHTTPRequestHandler):
    """Another web site on this machine whose page tries to open the app's websocket, token included."""

    target = ""

    def do_GET(self) -> None:
        page = (f"<script>const ws = new WebSocket({self.target!r});"
                "ws.onopen = () => { document.title = 'opened'; };"
                "ws.onclose = () => { document.title = 'refused'; };</script>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *args) -> None:
        pass


def test_the_browser_is_refused_without_the_token_or_from_a_foreign_page(tmp_path, browser):
    server = Served(tmp_path / "runs")
    ForeignSite.target = server.ws_url()
    site = ThreadingHTTPServer(("127.0.0.1", 0), ForeignSite)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        assert page.goto(server.base + "/").status == 403
        assert "token" in page.inner_text("body")
        assert page.goto(server.url.replace("token=", "token=x")).status == 403
        page.goto(f"http://127.0.0.1:{site.server_address[1]}/")
        page.wait_for_function("document.title !== ''", timeout=30_000)
        assert page.title() == "refused"
        assert f"Origin 'http://127.0.0.1:{site.server_address[1]}' is not a page of this server" in server.log
        assert server.app_pids() == [] and server.running_apps() == set()
    finally:
        site.shutdown()
        server.stop()
